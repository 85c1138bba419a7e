//! On-device face detection with the SeetaFace frontal model, shipped inside the binary.
//!
//! The model (`model/seeta_fd_frontal_v1.0.bin`, 1.2 MB, BSD-2-Clause, from the
//! `rustface` 0.1.7 crate; see `NOTICE.md`) is compiled in with `include_bytes!`, so
//! nothing is downloaded at run time (issue 5, R-ST-3, R-ID-2).
//!
//! Speed: rustface's image pyramid always starts at scale 1 (its `min_face_size` setting
//! has no effect in 0.1.7), so the cost grows with the frame area and the smallest face
//! it finds is 40 px at the size it is given. We therefore scale every frame so that its
//! shorter side is [`DetectorConfig::work_short_side`] (240 by default): a 640x480 webcam
//! frame becomes 320x240, faces from 1/6 of the frame height up are found, and detection
//! takes 12–19 ms on one core (see the root `BENCHMARKS.md` (Capture section)).
//!
//! Architecture invariant: this module never sees the network or the file system.

use std::panic::{catch_unwind, AssertUnwindSafe};

use image::GrayImage;
use serde::{Deserialize, Serialize};

use crate::error::CaptureError;
use crate::imgops;

/// The SeetaFace frontal face model (FuSt cascade), BSD-2-Clause.
pub const MODEL_BYTES: &[u8] = include_bytes!("../model/seeta_fd_frontal_v1.0.bin");

/// SHA-256 of [`MODEL_BYTES`], as recorded in `NOTICE.md`.
pub const MODEL_SHA256: &str = "c4619d066ed35e84d9a8e842860b0dff567aba0cbb139881075538761db3ff5d";

/// rustface's sliding window; also the smallest face (in working pixels) it can find.
const WINDOW: u32 = 40;

/// A rectangle in frame pixels. May reach outside the frame (the detector extrapolates
/// faces cut by the border).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

impl BBox {
    /// Centre point.
    pub fn centre(&self) -> (f32, f32) {
        (
            self.x as f32 + self.w as f32 / 2.0,
            self.y as f32 + self.h as f32 / 2.0,
        )
    }

    /// The part of the box inside a `width` x `height` frame, as `(x, y, w, h)`;
    /// `None` if nothing is inside.
    pub fn clamp_to(&self, width: u32, height: u32) -> Option<(u32, u32, u32, u32)> {
        let x0 = self.x.max(0) as i64;
        let y0 = self.y.max(0) as i64;
        let x1 = (self.x as i64 + self.w as i64).min(width as i64);
        let y1 = (self.y as i64 + self.h as i64).min(height as i64);
        if x1 <= x0 || y1 <= y0 {
            return None;
        }
        Some((x0 as u32, y0 as u32, (x1 - x0) as u32, (y1 - y0) as u32))
    }

    /// Fraction of the box area outside a `width` x `height` frame (0 = fully inside).
    pub fn outside_fraction(&self, width: u32, height: u32) -> f32 {
        let area = self.w as f32 * self.h as f32;
        if area <= 0.0 {
            return 1.0;
        }
        let inside = self
            .clamp_to(width, height)
            .map(|(_, _, w, h)| w as f32 * h as f32)
            .unwrap_or(0.0);
        1.0 - inside / area
    }

    /// Shrinks (or grows) the box around its centre by `fx` horizontally and `fy` vertically.
    pub fn scaled(&self, fx: f32, fy: f32) -> BBox {
        let (cx, cy) = self.centre();
        let w = (self.w as f32 * fx).round().max(1.0);
        let h = (self.h as f32 * fy).round().max(1.0);
        BBox {
            x: (cx - w / 2.0).round() as i32,
            y: (cy - h / 2.0).round() as i32,
            w: w as u32,
            h: h as u32,
        }
    }

    /// Intersection over union with another box.
    pub fn iou(&self, o: &BBox) -> f32 {
        let x0 = self.x.max(o.x) as i64;
        let y0 = self.y.max(o.y) as i64;
        let x1 = (self.x as i64 + self.w as i64).min(o.x as i64 + o.w as i64);
        let y1 = (self.y as i64 + self.h as i64).min(o.y as i64 + o.h as i64);
        if x1 <= x0 || y1 <= y0 {
            return 0.0;
        }
        let inter = ((x1 - x0) * (y1 - y0)) as f32;
        let union = self.w as f32 * self.h as f32 + o.w as f32 * o.h as f32 - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
}

/// A detected face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Face {
    /// Where it is, in pixels of the frame that was passed in.
    pub bbox: BBox,
    /// Detector confidence (SeetaFace cascade score; higher is surer).
    pub score: f64,
}

/// Detector settings. The defaults are the ones measured in the root `BENCHMARKS.md` (Capture section).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DetectorConfig {
    /// Frames are scaled so that their shorter side has this many pixels before
    /// detection. Faces smaller than `40 / work_short_side` of the shorter side are not
    /// found. Default 240.
    pub work_short_side: u32,
    /// Small images are enlarged at most this much. Default 1 (never enlarge).
    pub max_upscale: f32,
    /// Sliding-window step in working pixels. Default 4.
    pub window_step: u32,
    /// Faces scoring below this are dropped. Default 3.0 (see `README.md`).
    pub score_threshold: f64,
    /// Ratio between pyramid levels, in (0.1, 0.99). Default 0.8.
    pub pyramid_scale: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            work_short_side: 240,
            max_upscale: 1.0,
            window_step: 4,
            score_threshold: 3.0,
            pyramid_scale: 0.8,
        }
    }
}

impl DetectorConfig {
    /// For image files and other offline checks, where accuracy matters more than
    /// speed: shorter side scaled to 480 (enlarging up to 2x), so faces from 1/12 of the
    /// shorter side up are found. About 4x the cost of the default.
    pub fn thorough() -> Self {
        DetectorConfig {
            work_short_side: 480,
            max_upscale: 2.0,
            ..DetectorConfig::default()
        }
    }

    /// The cheaper setting used by the presence watch (R-ST-4): window step 8.
    pub fn presence() -> Self {
        DetectorConfig {
            window_step: 8,
            score_threshold: 2.0,
            ..DetectorConfig::default()
        }
    }

    fn validate(&self) -> Result<(), CaptureError> {
        let bad = |m: &str| Err(CaptureError::Config(m.to_string()));
        if self.work_short_side < WINDOW + 1 || self.work_short_side > 2160 {
            return bad("work_short_side must be in 41..=2160");
        }
        if !(self.max_upscale >= 1.0 && self.max_upscale <= 8.0) {
            return bad("max_upscale must be in 1..=8");
        }
        if self.window_step == 0 || self.window_step > 32 {
            return bad("window_step must be in 1..=32");
        }
        if !(self.score_threshold > 0.0 && self.score_threshold.is_finite()) {
            return bad("score_threshold must be > 0");
        }
        if !(self.pyramid_scale >= 0.1 && self.pyramid_scale <= 0.99) {
            return bad("pyramid_scale must be in 0.1..=0.99");
        }
        Ok(())
    }
}

/// Face detector. Cheap to share: `detect` takes `&self`, and the type is `Send + Sync`.
pub struct FaceDetector {
    model: rustface::Model,
    cfg: DetectorConfig,
}

impl std::fmt::Debug for FaceDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceDetector")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl FaceDetector {
    /// Loads the built-in model (about 1 ms).
    pub fn new(cfg: DetectorConfig) -> Result<Self, CaptureError> {
        cfg.validate()?;
        let model =
            rustface::read_model(MODEL_BYTES).map_err(|e| CaptureError::Model(e.to_string()))?;
        Ok(FaceDetector { model, cfg })
    }

    /// The settings in use.
    pub fn config(&self) -> &DetectorConfig {
        &self.cfg
    }

    /// Finds faces in a grey image; boxes are in `gray`'s pixels, best score first.
    pub fn detect(&self, gray: &GrayImage) -> Result<Vec<Face>, CaptureError> {
        let (w, h) = gray.dimensions();
        let short = w.min(h);
        if short == 0 {
            return Ok(Vec::new());
        }
        let scale = (self.cfg.work_short_side as f32 / short as f32).min(self.cfg.max_upscale);
        let (ww, wh) = if (scale - 1.0).abs() < 0.01 {
            (w, h)
        } else {
            (
                ((w as f32 * scale).round() as u32).max(1),
                ((h as f32 * scale).round() as u32).max(1),
            )
        };
        if ww.min(wh) <= WINDOW {
            return Ok(Vec::new());
        }
        let work;
        let img = if (ww, wh) == (w, h) {
            gray
        } else {
            work = imgops::resize_gray(gray, ww, wh);
            &work
        };
        let sx = w as f32 / ww as f32;
        let sy = h as f32 / wh as f32;

        let mut det = rustface::create_detector_with_model(self.model.clone());
        det.set_slide_window_step(self.cfg.window_step, self.cfg.window_step);
        det.set_score_thresh(self.cfg.score_threshold);
        det.set_pyramid_scale_factor(self.cfg.pyramid_scale);
        // Keeps the smallest pyramid level strictly above the 40 px window, so float
        // rounding cannot make rustface subtract past zero.
        det.set_max_face_size(ww.min(wh) - 1);
        let data = img.as_raw();
        let found = catch_unwind(AssertUnwindSafe(|| {
            det.detect(&rustface::ImageData::new(data, ww, wh))
        }))
        .map_err(|_| CaptureError::Detector(format!("panic on a {ww}x{wh} frame")))?;

        let mut faces: Vec<Face> = found
            .into_iter()
            .map(|f| {
                let b = f.bbox();
                Face {
                    bbox: BBox {
                        x: (b.x() as f32 * sx).round() as i32,
                        y: (b.y() as f32 * sy).round() as i32,
                        w: (b.width() as f32 * sx).round() as u32,
                        h: (b.height() as f32 * sy).round() as u32,
                    },
                    score: f.score(),
                }
            })
            .collect();
        faces.sort_by(|a, b| b.score.total_cmp(&a.score));
        tracing::trace!(width = w, height = h, faces = faces.len(), "detect");
        Ok(faces)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_bytes_match_the_recorded_hash() {
        let d = ring::digest::digest(&ring::digest::SHA256, MODEL_BYTES);
        assert_eq!(hex::encode(d.as_ref()), MODEL_SHA256);
    }

    #[test]
    fn tiny_and_empty_images_give_no_faces() {
        let det = FaceDetector::new(DetectorConfig::default()).unwrap();
        for (w, h) in [(0, 0), (1, 1), (10, 400), (41, 41), (60, 11)] {
            let img = GrayImage::new(w, h);
            assert!(det.detect(&img).unwrap().is_empty(), "{w}x{h}");
        }
    }

    #[test]
    fn bad_config_is_refused() {
        for cfg in [
            DetectorConfig {
                window_step: 0,
                ..Default::default()
            },
            DetectorConfig {
                work_short_side: 20,
                ..Default::default()
            },
            DetectorConfig {
                score_threshold: 0.0,
                ..Default::default()
            },
            DetectorConfig {
                pyramid_scale: 1.0,
                ..Default::default()
            },
        ] {
            assert!(matches!(
                FaceDetector::new(cfg),
                Err(CaptureError::Config(_))
            ));
        }
    }

    #[test]
    fn bbox_geometry() {
        let b = BBox {
            x: -10,
            y: 0,
            w: 20,
            h: 20,
        };
        assert_eq!(b.clamp_to(100, 100), Some((0, 0, 10, 20)));
        assert!((b.outside_fraction(100, 100) - 0.5).abs() < 1e-6);
        assert!((b.iou(&b) - 1.0).abs() < 1e-6);
        let far = BBox {
            x: 500,
            y: 500,
            w: 5,
            h: 5,
        };
        assert_eq!(far.clamp_to(100, 100), None);
        assert_eq!(b.iou(&far), 0.0);
    }
}
