//! A camera frame: RGB pixels plus the time the source stamped it with.

use image::{GrayImage, RgbImage};

/// One picture from a [`FrameSource`](crate::source::FrameSource).
#[derive(Debug, Clone)]
pub struct Frame {
    /// The pixels, as the camera saw them (not mirrored for display).
    pub rgb: RgbImage,
    /// Milliseconds on the source's monotonic clock. Only differences matter.
    pub t_ms: u64,
}

impl Frame {
    /// Wraps pixels and a timestamp.
    pub fn new(rgb: RgbImage, t_ms: u64) -> Self {
        Frame { rgb, t_ms }
    }

    /// Grey-level copy (ITU-R BT.601 luma), what the detector and the checks use.
    pub fn gray(&self) -> GrayImage {
        image::imageops::grayscale(&self.rgb)
    }

    /// Width and height in pixels.
    pub fn dimensions(&self) -> (u32, u32) {
        self.rgb.dimensions()
    }
}
