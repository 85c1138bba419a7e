//! The kept photo (R-ST-3): the chosen frame as a size-bounded JPEG whose metadata
//! carries the capture time, learner and course, and its SHA-256.
//!
//! Metadata goes into a JPEG comment (COM) segment as one line of JSON, right after the
//! JFIF header, the way the driving-school timing standard JT/T 1302.1 asks its photos
//! to carry time and identity. The hash covers the whole file, comment included; the
//! journal record keeps the hash so the photo can be erased after its retention period
//! while the journal still verifies.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::error::CaptureError;

/// Why a capture was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapturePurpose {
    /// Liveness check before a study login (R-ID-2).
    Login,
    /// Random capture during a class hour (R-ST-3).
    ClassHour,
}

/// What the photo's metadata says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// Capture time, Unix milliseconds (UTC), passed in by the caller.
    pub captured_at_ms: i64,
    /// Learner identifier.
    pub learner_id: String,
    /// Course identifier.
    pub course_id: String,
    /// Class hour number within the course, when capturing during study.
    pub class_hour: Option<u32>,
    /// Why it was taken.
    pub purpose: CapturePurpose,
}

/// JPEG encoding bounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotConfig {
    /// Frames are scaled down so neither side exceeds this.
    pub max_side: u32,
    /// Largest file accepted; quality (then size) is lowered until it fits.
    pub max_bytes: usize,
    /// First JPEG quality tried.
    pub quality: u8,
    /// Lowest quality before the picture is made smaller instead.
    pub min_quality: u8,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        SnapshotConfig {
            max_side: 640,
            max_bytes: 96 * 1024,
            quality: 85,
            min_quality: 50,
        }
    }
}

/// An encoded photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The JPEG file, metadata included.
    pub jpeg: Vec<u8>,
    /// Lower-case hex SHA-256 of `jpeg`.
    pub sha256: String,
    /// Width of the encoded picture.
    pub width: u32,
    /// Height of the encoded picture.
    pub height: u32,
    /// JPEG quality used.
    pub quality: u8,
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// The JSON line written into the comment segment.
pub fn comment_json(meta: &SnapshotMeta) -> String {
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(meta.captured_at_ms) * 1_000_000,
    )
    .ok()
    .and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
    .unwrap_or_default();
    serde_json::json!({
        "keshi": "capture/1",
        "time": time,
        "time_ms": meta.captured_at_ms,
        "learner": meta.learner_id,
        "course": meta.course_id,
        "class_hour": meta.class_hour,
        "purpose": meta.purpose,
    })
    .to_string()
}

/// Encodes `rgb` as a JPEG within `cfg`'s bounds with `meta` in a COM segment.
pub fn encode_snapshot(
    rgb: &RgbImage,
    meta: &SnapshotMeta,
    cfg: &SnapshotConfig,
) -> Result<Snapshot, CaptureError> {
    let comment = comment_json(meta);
    if comment.len() > 60_000 {
        return Err(CaptureError::Encode("metadata too long".into()));
    }
    let (w, h) = rgb.dimensions();
    if w == 0 || h == 0 {
        return Err(CaptureError::Encode("empty frame".into()));
    }
    let mut side = cfg.max_side.max(16);
    loop {
        let scale = (side as f32 / w.max(h) as f32).min(1.0);
        let (tw, th) = (
            ((w as f32 * scale).round() as u32).max(1),
            ((h as f32 * scale).round() as u32).max(1),
        );
        let img;
        let src = if (tw, th) == (w, h) {
            rgb
        } else {
            img = image::imageops::resize(rgb, tw, th, image::imageops::FilterType::Triangle);
            &img
        };
        let mut q = cfg.quality.clamp(1, 100);
        loop {
            let mut buf = Vec::new();
            JpegEncoder::new_with_quality(&mut Cursor::new(&mut buf), q)
                .encode_image(src)
                .map_err(|e| CaptureError::Encode(e.to_string()))?;
            let jpeg = insert_comment(&buf, comment.as_bytes())?;
            if jpeg.len() <= cfg.max_bytes {
                let sha256 = sha256_hex(&jpeg);
                return Ok(Snapshot {
                    jpeg,
                    sha256,
                    width: tw,
                    height: th,
                    quality: q,
                });
            }
            if q <= cfg.min_quality {
                break;
            }
            q = q.saturating_sub(10).max(cfg.min_quality);
        }
        if side <= 64 {
            return Err(CaptureError::Encode(format!(
                "cannot fit the photo in {} bytes",
                cfg.max_bytes
            )));
        }
        side = side * 3 / 4;
    }
}

/// Inserts a COM segment after SOI and any APP0 (JFIF) segment.
fn insert_comment(jpeg: &[u8], comment: &[u8]) -> Result<Vec<u8>, CaptureError> {
    if jpeg.len() < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 {
        return Err(CaptureError::Encode("encoder output is not a JPEG".into()));
    }
    let mut at = 2;
    if jpeg[2] == 0xFF && jpeg[3] == 0xE0 && jpeg.len() >= 6 {
        let len = u16::from_be_bytes([jpeg[4], jpeg[5]]) as usize;
        at = (4 + len).min(jpeg.len());
    }
    let seg_len = u16::try_from(comment.len() + 2)
        .map_err(|_| CaptureError::Encode("comment too long".into()))?;
    let mut out = Vec::with_capacity(jpeg.len() + comment.len() + 4);
    out.extend_from_slice(&jpeg[..at]);
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&seg_len.to_be_bytes());
    out.extend_from_slice(comment);
    out.extend_from_slice(&jpeg[at..]);
    Ok(out)
}

/// The first COM segment of a JPEG, if any (stops at the start of scan).
pub fn read_comment(jpeg: &[u8]) -> Option<String> {
    if jpeg.len() < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 {
        return None;
    }
    let mut i = 2;
    while i + 4 <= jpeg.len() {
        if jpeg[i] != 0xFF {
            return None;
        }
        let marker = jpeg[i + 1];
        if marker == 0xDA || marker == 0xD9 {
            return None;
        }
        let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
        if len < 2 || i + 2 + len > jpeg.len() {
            return None;
        }
        if marker == 0xFE {
            return String::from_utf8(jpeg[i + 4..i + 2 + len].to_vec()).ok();
        }
        i += 2 + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> SnapshotMeta {
        SnapshotMeta {
            captured_at_ms: 1_700_000_000_123,
            learner_id: "学员-42".into(),
            course_id: "electrician-101".into(),
            class_hour: Some(3),
            purpose: CapturePurpose::ClassHour,
        }
    }

    fn textured(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let v = ((x * 7919 + y * 104_729) % 251) as u8;
            image::Rgb([v, v.wrapping_mul(3), v.wrapping_add(x as u8)])
        })
    }

    #[test]
    fn comment_round_trips_and_image_decodes() {
        let s = encode_snapshot(&textured(320, 240), &meta(), &SnapshotConfig::default()).unwrap();
        let c = read_comment(&s.jpeg).unwrap();
        let v: serde_json::Value = serde_json::from_str(&c).unwrap();
        assert_eq!(v["time"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["learner"], "学员-42");
        assert_eq!(v["course"], "electrician-101");
        assert_eq!(v["class_hour"], 3);
        assert_eq!(v["purpose"], "class_hour");
        assert_eq!(s.sha256, sha256_hex(&s.jpeg));
        let back = image::load_from_memory(&s.jpeg).unwrap();
        assert_eq!((back.width(), back.height()), (320, 240));
    }

    #[test]
    fn size_is_bounded_by_quality_then_scale() {
        // Noise compresses badly: forces lower quality, then a smaller picture.
        let cfg = SnapshotConfig {
            max_bytes: 30_000,
            ..Default::default()
        };
        let s = encode_snapshot(&textured(1280, 720), &meta(), &cfg).unwrap();
        assert!(s.jpeg.len() <= 30_000, "{}", s.jpeg.len());
        assert!(s.width <= 640 && s.height <= 360);
        let tiny = SnapshotConfig {
            max_bytes: 300,
            ..Default::default()
        };
        assert!(encode_snapshot(&textured(640, 480), &meta(), &tiny).is_err());
    }

    #[test]
    fn read_comment_rejects_garbage() {
        assert_eq!(read_comment(b""), None);
        assert_eq!(read_comment(b"\xFF\xD8\xFF\xFE\x00"), None);
        assert_eq!(read_comment(b"\xFF\xD8\xFF\xFE\xFF\xFFabc"), None);
        assert_eq!(
            read_comment(b"\xFF\xD8\xFF\xFE\x00\x05abc").as_deref(),
            Some("abc")
        );
    }
}
