//! The desktop camera through nokhwa (V4L2 on Linux, AVFoundation on macOS, Media
//! Foundation on Windows). Feature `desktop-camera`.
//!
//! On macOS the app must ask for camera permission first ([`request_permission`]).
//! Errors are named ([`CameraErrorKind`]): no camera, permission denied, busy, and
//! disconnected mid-session.

use std::sync::Arc;

use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    Resolution,
};
use nokhwa::{Camera, NokhwaError};
use serde::Serialize;

use super::negotiate::{
    choose_mode, classify_backend_error, CameraMode, ModePreference, PixelFormat,
};
use super::virtual_camera::virtual_camera_match;
use super::{FrameSource, SourceInfo, SourceKind};
use crate::clock::Clock;
use crate::error::{CameraErrorKind, CaptureError};
use crate::frame::Frame;

/// A camera the system lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CameraDevice {
    /// Index to pass to [`DesktopCamera::open`].
    pub index: u32,
    /// Name shown to the learner.
    pub name: String,
    /// Backend description (e.g. the V4L2 device path).
    pub description: String,
    /// The virtual-camera pattern the name matches, if any (R-ID-2).
    pub virtual_match: Option<&'static str>,
}

fn backend_error(e: &NokhwaError, streaming: bool) -> CaptureError {
    let detail = e.to_string();
    let kind = match e {
        NokhwaError::UnsupportedOperationError(_) | NokhwaError::NotImplementedError(_) => {
            CameraErrorKind::NoCamera
        }
        _ => classify_backend_error(&detail, streaming),
    };
    CaptureError::camera(kind, detail)
}

/// Asks the system for camera permission where it must be asked (macOS); calls
/// `on_done(granted)`. Elsewhere it reports `true` at once.
pub fn request_permission(on_done: impl Fn(bool) + Send + Sync + 'static) {
    nokhwa::nokhwa_initialize(on_done);
}

/// Lists the cameras. An empty list is not an error.
pub fn list_cameras() -> Result<Vec<CameraDevice>, CaptureError> {
    let infos = nokhwa::query(ApiBackend::Auto).map_err(|e| backend_error(&e, false))?;
    let devices = infos
        .into_iter()
        .filter_map(|i| {
            let index = i.index().as_index().ok()?;
            let name = i.human_name();
            let description = i.description().to_string();
            let virtual_match =
                virtual_camera_match(&name).or_else(|| virtual_camera_match(&description));
            Some(CameraDevice {
                index,
                name,
                description,
                virtual_match,
            })
        })
        .collect();
    Ok(devices)
}

fn to_mode(f: &CameraFormat) -> Option<CameraMode> {
    let format = match f.format() {
        FrameFormat::MJPEG => PixelFormat::Mjpeg,
        FrameFormat::YUYV => PixelFormat::Yuyv,
        FrameFormat::NV12 => PixelFormat::Nv12,
        FrameFormat::GRAY => PixelFormat::Gray,
        FrameFormat::RAWRGB => PixelFormat::Rgb,
        FrameFormat::RAWBGR => PixelFormat::Bgr,
    };
    Some(CameraMode {
        width: f.width(),
        height: f.height(),
        fps: f.frame_rate(),
        format,
    })
}

fn to_format(m: &CameraMode) -> CameraFormat {
    let ff = match m.format {
        PixelFormat::Mjpeg => FrameFormat::MJPEG,
        PixelFormat::Yuyv => FrameFormat::YUYV,
        PixelFormat::Nv12 => FrameFormat::NV12,
        PixelFormat::Gray => FrameFormat::GRAY,
        PixelFormat::Rgb => FrameFormat::RAWRGB,
        PixelFormat::Bgr => FrameFormat::RAWBGR,
    };
    CameraFormat::new(Resolution::new(m.width, m.height), ff, m.fps)
}

/// An open desktop camera, streaming.
pub struct DesktopCamera {
    cam: Camera,
    info: SourceInfo,
    mode: CameraMode,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for DesktopCamera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesktopCamera")
            .field("info", &self.info)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl DesktopCamera {
    /// Opens camera `index`, negotiates the mode closest to `pref` and starts streaming.
    /// Frames are stamped with `clock`.
    pub fn open(
        index: u32,
        pref: &ModePreference,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CaptureError> {
        if !nokhwa::nokhwa_check() {
            return Err(CaptureError::camera(
                CameraErrorKind::PermissionDenied,
                "camera access not authorised",
            ));
        }
        let mut cam = Camera::new(
            CameraIndex::Index(index),
            RequestedFormat::new::<RgbFormat>(RequestedFormatType::None),
        )
        .map_err(|e| backend_error(&e, false))?;
        let name = cam.info().human_name();
        let modes: Vec<CameraMode> = cam
            .compatible_camera_formats()
            .map_err(|e| backend_error(&e, false))?
            .iter()
            .filter_map(to_mode)
            .collect();
        let mode = choose_mode(&modes, pref).ok_or_else(|| {
            CaptureError::camera(
                CameraErrorKind::NoUsableMode,
                format!("{} modes offered, none usable", modes.len()),
            )
        })?;
        cam.set_camera_requset(RequestedFormat::new::<RgbFormat>(
            RequestedFormatType::Exact(to_format(&mode)),
        ))
        .map_err(|e| backend_error(&e, false))?;
        cam.open_stream().map_err(|e| backend_error(&e, false))?;
        tracing::info!(index, %name, ?mode, "camera open");
        Ok(DesktopCamera {
            cam,
            info: SourceInfo {
                kind: SourceKind::DesktopCamera,
                device_name: name,
                mirrored: false,
            },
            mode,
            clock,
        })
    }

    /// The negotiated mode.
    pub fn mode(&self) -> CameraMode {
        self.mode
    }
}

impl FrameSource for DesktopCamera {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Frame, CaptureError> {
        let buf = self.cam.frame().map_err(|e| {
            let err = backend_error(&e, true);
            tracing::warn!(error = %err, "camera frame");
            err
        })?;
        let t_ms = self.clock.now_ms();
        let rgb = buf
            .decode_image::<RgbFormat>()
            .map_err(|e| CaptureError::BadFrame(e.to_string()))?;
        Ok(Frame::new(rgb, t_ms))
    }
}

impl Drop for DesktopCamera {
    fn drop(&mut self) {
        if let Err(e) = self.cam.stop_stream() {
            tracing::debug!(error = %e, "camera stop");
        }
    }
}
