//! A source that plays image files, in-memory pictures or pictures drawn on demand, for
//! tests and demos.
//!
//! Compiled only with the `test-camera` feature: a release build must never be able to
//! feed the face check with files (issue 5).

use std::path::PathBuf;

use image::RgbImage;

use super::push::{decode_frame, PushLimits};
use super::{FrameSource, SourceInfo, SourceKind};
use crate::error::CaptureError;
use crate::frame::Frame;

/// Draws frame `i` of a generated sequence.
type Draw = Box<dyn Fn(usize) -> RgbImage + Send>;

enum Item {
    Path(PathBuf),
    Image(RgbImage),
    /// Frame `i` of `FileSource::draw`, drawn when read.
    Drawn(usize),
}

/// Plays a list of pictures, one per `next_frame`, stamped `start_ms + i * interval_ms`.
pub struct FileSource {
    info: SourceInfo,
    items: Vec<Item>,
    draw: Option<Draw>,
    next: usize,
    start_ms: u64,
    interval_ms: u64,
    looped: bool,
    count: u64,
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("info", &self.info)
            .field("items", &self.items.len())
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl FileSource {
    /// Plays image files (JPEG or PNG), decoded when read.
    pub fn from_paths(paths: Vec<PathBuf>, start_ms: u64, interval_ms: u64, looped: bool) -> Self {
        Self::new(
            paths.into_iter().map(Item::Path).collect(),
            start_ms,
            interval_ms,
            looped,
        )
    }

    /// Plays pictures already in memory.
    pub fn from_images(
        images: Vec<RgbImage>,
        start_ms: u64,
        interval_ms: u64,
        looped: bool,
    ) -> Self {
        Self::new(
            images.into_iter().map(Item::Image).collect(),
            start_ms,
            interval_ms,
            looped,
        )
    }

    /// Plays `count` pictures drawn when they are read: frame `i` is `draw(i)` (so a
    /// long or looping sequence costs only the frames actually read).
    pub fn from_fn(
        count: usize,
        draw: impl Fn(usize) -> RgbImage + Send + 'static,
        start_ms: u64,
        interval_ms: u64,
        looped: bool,
    ) -> Self {
        let mut s = Self::new(
            (0..count).map(Item::Drawn).collect(),
            start_ms,
            interval_ms,
            looped,
        );
        s.draw = Some(Box::new(draw));
        s
    }

    fn new(items: Vec<Item>, start_ms: u64, interval_ms: u64, looped: bool) -> Self {
        FileSource {
            info: SourceInfo {
                kind: SourceKind::TestFiles,
                device_name: "keshi test camera (files)".into(),
                mirrored: false,
            },
            items,
            draw: None,
            next: 0,
            start_ms,
            interval_ms,
            looped,
            count: 0,
        }
    }

    /// Pretends to be a device with this name (to test virtual-camera flagging).
    pub fn with_device_name(mut self, name: impl Into<String>) -> Self {
        self.info.device_name = name.into();
        self
    }
}

impl FrameSource for FileSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Frame, CaptureError> {
        if self.next >= self.items.len() {
            if self.looped && !self.items.is_empty() {
                self.next = 0;
            } else {
                return Err(CaptureError::Closed);
            }
        }
        let rgb = match &self.items[self.next] {
            Item::Image(img) => img.clone(),
            Item::Path(p) => {
                let bytes = std::fs::read(p).map_err(|e| CaptureError::Io {
                    path: p.clone(),
                    source: e,
                })?;
                decode_frame(&bytes, &PushLimits::default())?
            }
            Item::Drawn(i) => match &self.draw {
                Some(draw) => draw(*i),
                None => return Err(CaptureError::Closed),
            },
        };
        let t = self.start_ms + self.count * self.interval_ms;
        self.next += 1;
        self.count += 1;
        Ok(Frame::new(rgb, t))
    }
}
