//! Frame sources behind one trait (issue 5, part 1).
//!
//! * [`desktop::DesktopCamera`]: the desktop camera through nokhwa (feature
//!   `desktop-camera`, on by default).
//! * [`push::PushSource`]: encoded frames (JPEG/PNG) handed in from elsewhere: the web
//!   view's `getUserMedia` or the native camera plugin on phones.
//! * [`files::FileSource`]: plays image files; compiled only with the `test-camera`
//!   feature so that no release build can be fed files.
//! * [`acted::acted_source`]: a learner acted out from one photo (natural sway, or a
//!   login challenge's movement) for end-to-end tests; `test-camera` only as well.
//!
//! Every source names its device so that virtual cameras can be flagged
//! ([`virtual_camera::virtual_camera_match`], R-ID-2).

use serde::{Deserialize, Serialize};

use crate::error::CaptureError;
use crate::frame::Frame;

#[cfg(feature = "test-camera")]
pub mod acted;
#[cfg(feature = "desktop-camera")]
pub mod desktop;
#[cfg(feature = "test-camera")]
pub mod files;
pub mod negotiate;
pub mod push;
pub mod virtual_camera;

/// What kind of source produced the frames (recorded with every capture).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// The desktop camera, read by this crate.
    DesktopCamera,
    /// Frames handed in by the web view or a native plugin.
    Pushed,
    /// Image files (test builds only).
    TestFiles,
}

/// Describes a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Kind of source.
    pub kind: SourceKind,
    /// The device name the system reports (e.g. "Integrated Camera", "OBS Virtual Camera").
    pub device_name: String,
    /// True if frames arrive mirrored left-right (as a selfie preview shows them);
    /// the liveness checks need to know which way is the learner's left.
    pub mirrored: bool,
}

/// Something that yields camera frames.
///
/// Not `Send`: desktop camera handles (AVFoundation, Media Foundation) belong to the
/// thread that opened them, so open the camera on the thread that reads it.
pub trait FrameSource {
    /// Which device this is.
    fn info(&self) -> &SourceInfo;
    /// The next frame, waiting for it if needed.
    fn next_frame(&mut self) -> Result<Frame, CaptureError>;
}

impl<T: FrameSource + ?Sized> FrameSource for Box<T> {
    fn info(&self) -> &SourceInfo {
        (**self).info()
    }
    fn next_frame(&mut self) -> Result<Frame, CaptureError> {
        (**self).next_frame()
    }
}
