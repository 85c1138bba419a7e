//! Frames handed in as encoded images (JPEG or PNG) by something else: the web view's
//! `getUserMedia` stream drawn to a canvas, or the native camera plugin on Android/iOS.
//!
//! The bytes are untrusted: size, dimensions and decoder memory are bounded, and only
//! JPEG and PNG are accepted. Frames are queued (oldest dropped when full, since only
//! recent frames matter) and decoded when read.

use std::collections::VecDeque;
use std::io::Cursor;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use image::{ImageFormat, RgbImage};

use super::{FrameSource, SourceInfo, SourceKind};
use crate::error::CaptureError;
use crate::frame::Frame;

/// Bounds on handed-in frames.
#[derive(Debug, Clone)]
pub struct PushLimits {
    /// Largest encoded frame accepted.
    pub max_bytes: usize,
    /// Largest width accepted.
    pub max_width: u32,
    /// Largest height accepted.
    pub max_height: u32,
    /// Frames kept waiting; the oldest is dropped beyond this.
    pub queue: usize,
    /// How long `next_frame` waits.
    pub timeout_ms: u64,
}

impl Default for PushLimits {
    fn default() -> Self {
        PushLimits {
            max_bytes: 4 * 1024 * 1024,
            max_width: 3840,
            max_height: 3840,
            queue: 8,
            timeout_ms: 3000,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<(Vec<u8>, u64)>,
    feeders: usize,
    dropped: u64,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    ready: Condvar,
}

/// The reading end: a [`FrameSource`].
#[derive(Debug)]
pub struct PushSource {
    info: SourceInfo,
    limits: PushLimits,
    shared: Arc<Shared>,
}

/// The writing end, handed to the web view bridge or the mobile plugin. Cloneable; the
/// source closes when every feeder is dropped.
#[derive(Debug)]
pub struct FrameFeeder {
    max_bytes: usize,
    queue: usize,
    shared: Arc<Shared>,
}

/// Creates a connected source and feeder. `device_name` is the camera label reported by
/// the web view (`MediaDeviceInfo.label`) or the plugin, used to flag virtual cameras.
pub fn push_source(
    device_name: impl Into<String>,
    mirrored: bool,
    limits: PushLimits,
) -> (PushSource, FrameFeeder) {
    let shared = Arc::new(Shared::default());
    shared
        .state
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .feeders = 1;
    let feeder = FrameFeeder {
        max_bytes: limits.max_bytes,
        queue: limits.queue.max(1),
        shared: shared.clone(),
    };
    let source = PushSource {
        info: SourceInfo {
            kind: SourceKind::Pushed,
            device_name: device_name.into(),
            mirrored,
        },
        limits,
        shared,
    };
    (source, feeder)
}

impl FrameFeeder {
    /// Queues one encoded frame stamped `t_ms` (the sender's monotonic milliseconds).
    /// Refuses frames over the byte limit; drops the oldest queued frame when full.
    pub fn feed(&self, bytes: Vec<u8>, t_ms: u64) -> Result<(), CaptureError> {
        if bytes.len() > self.max_bytes {
            return Err(CaptureError::BadFrame(format!(
                "{} bytes is over the {} byte limit",
                bytes.len(),
                self.max_bytes
            )));
        }
        let mut st = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while st.frames.len() >= self.queue {
            st.frames.pop_front();
            st.dropped += 1;
        }
        st.frames.push_back((bytes, t_ms));
        drop(st);
        self.shared.ready.notify_one();
        Ok(())
    }
}

impl Clone for FrameFeeder {
    fn clone(&self) -> Self {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .feeders += 1;
        FrameFeeder {
            max_bytes: self.max_bytes,
            queue: self.queue,
            shared: self.shared.clone(),
        }
    }
}

impl Drop for FrameFeeder {
    fn drop(&mut self) {
        let mut st = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        st.feeders = st.feeders.saturating_sub(1);
        drop(st);
        self.shared.ready.notify_all();
    }
}

impl PushSource {
    /// Frames dropped so far because the reader fell behind.
    pub fn dropped(&self) -> u64 {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .dropped
    }
}

impl FrameSource for PushSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Frame, CaptureError> {
        let timeout = Duration::from_millis(self.limits.timeout_ms);
        let st = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (mut st, _) = self
            .shared
            .ready
            .wait_timeout_while(st, timeout, |s| s.frames.is_empty() && s.feeders > 0)
            .unwrap_or_else(PoisonError::into_inner);
        let Some((bytes, t_ms)) = st.frames.pop_front() else {
            return Err(if st.feeders == 0 {
                CaptureError::Closed
            } else {
                CaptureError::Timeout(self.limits.timeout_ms)
            });
        };
        drop(st);
        let rgb = decode_frame(&bytes, &self.limits)?;
        Ok(Frame::new(rgb, t_ms))
    }
}

/// Decodes an untrusted JPEG or PNG frame within `limits`.
pub fn decode_frame(bytes: &[u8], limits: &PushLimits) -> Result<RgbImage, CaptureError> {
    if bytes.len() > limits.max_bytes {
        return Err(CaptureError::BadFrame(format!(
            "{} bytes is over the {} byte limit",
            bytes.len(),
            limits.max_bytes
        )));
    }
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| CaptureError::BadFrame(e.to_string()))?;
    match reader.format() {
        Some(ImageFormat::Jpeg) | Some(ImageFormat::Png) => {}
        other => {
            return Err(CaptureError::BadFrame(format!(
                "format {other:?} is not accepted (JPEG or PNG only)"
            )))
        }
    }
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_width);
    l.max_image_height = Some(limits.max_height);
    // RGBA at the largest size, plus decoder scratch.
    l.max_alloc = Some(u64::from(limits.max_width) * u64::from(limits.max_height) * 8);
    reader.limits(l);
    let img = reader
        .decode()
        .map_err(|e| CaptureError::BadFrame(e.to_string()))?;
    if img.width() == 0 || img.height() == 0 {
        return Err(CaptureError::BadFrame("empty image".into()));
    }
    Ok(img.to_rgb8())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_pixel(w, h, image::Rgb([10, 200, 30]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn frames_flow_in_order_and_close() {
        let (mut src, feeder) = push_source("Integrated Camera", false, PushLimits::default());
        feeder.feed(png(8, 6), 100).unwrap();
        feeder.feed(png(8, 6), 200).unwrap();
        assert_eq!(src.next_frame().unwrap().t_ms, 100);
        assert_eq!(src.next_frame().unwrap().t_ms, 200);
        assert_eq!(src.info().kind, SourceKind::Pushed);
        let f2 = feeder.clone();
        drop(feeder);
        f2.feed(png(4, 4), 300).unwrap();
        drop(f2);
        assert_eq!(src.next_frame().unwrap().dimensions(), (4, 4));
        assert!(matches!(src.next_frame(), Err(CaptureError::Closed)));
    }

    #[test]
    fn full_queue_drops_oldest_and_waits_time_out() {
        let limits = PushLimits {
            queue: 2,
            timeout_ms: 20,
            ..Default::default()
        };
        let (mut src, feeder) = push_source("cam", false, limits);
        for t in 0..5 {
            feeder.feed(png(2, 2), t).unwrap();
        }
        assert_eq!(src.dropped(), 3);
        assert_eq!(src.next_frame().unwrap().t_ms, 3);
        assert_eq!(src.next_frame().unwrap().t_ms, 4);
        assert!(matches!(src.next_frame(), Err(CaptureError::Timeout(20))));
    }

    #[test]
    fn hostile_bytes_are_refused() {
        let limits = PushLimits {
            max_bytes: 1000,
            max_width: 100,
            max_height: 100,
            ..Default::default()
        };
        assert!(decode_frame(b"not an image at all", &limits).is_err());
        assert!(decode_frame(&[], &limits).is_err());
        assert!(decode_frame(&png(200, 10), &limits).is_err(), "too wide");
        let big = vec![0u8; 2000];
        assert!(decode_frame(&big, &limits).is_err(), "too many bytes");
        // A GIF header is not accepted even if it would decode.
        assert!(decode_frame(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", &limits).is_err());
        let mut truncated = png(50, 50);
        truncated.truncate(truncated.len() / 2);
        assert!(decode_frame(&truncated, &limits).is_err());
        let (_, feeder) = push_source("cam", false, limits);
        assert!(feeder.feed(big, 0).is_err());
    }
}
