//! The camera, on a thread of its own (desktop camera handles belong to the thread
//! that opened them). The worker opens the source on demand for a preview or a
//! capture and closes it after a few idle seconds, so the camera light is on only
//! while the learner sees why.
//!
//! Sources: the desktop camera through `capture` (nokhwa) in every normal build;
//! with the `test-camera` feature (end-to-end tests only, refused in release builds
//! by `build.rs`) and `KESHI_TEST_CAMERA` set, a learner acted out from the photo named
//! in that control file (re-read at every capture, so a test can swap photos).

use std::io::Cursor;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use capture::blob::BlobStore;
use capture::source::FrameSource;
use capture::{CaptureError, CaptureResult, Capturer, Challenge, SnapshotMeta};

use crate::error::{AppCode, AppError, AppResult};
use player_core::study::view::CameraStatus;

/// Closes the camera after this long without requests.
const IDLE_CLOSE: Duration = Duration::from_secs(8);

enum Request {
    Status(Sender<CameraStatus>),
    Preview(Sender<AppResult<Vec<u8>>>),
    Capture {
        challenge: Option<Challenge>,
        meta: Box<SnapshotMeta>,
        reply: Sender<AppResult<CaptureResult>>,
    },
}

/// Handle to the camera thread.
#[derive(Debug, Clone)]
pub struct Camera {
    tx: Sender<Request>,
}

/// Where frames come from.
trait Provider {
    fn status(&self) -> CameraStatus;
    /// Opens a source; `challenge` is a hint only the acted test source uses.
    fn open(&self, challenge: Option<Challenge>) -> Result<Box<dyn FrameSource>, CaptureError>;
    /// Whether an open source may serve the next request too.
    fn reusable(&self) -> bool;
}

impl Camera {
    /// Starts the camera thread. Photos go to `blobs`.
    pub fn start(blobs: BlobStore) -> AppResult<Camera> {
        let capturer = Capturer::with_defaults().map_err(crate::error::from_capture)?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("keshi-camera".into())
            .spawn(move || worker(rx, capturer, blobs, provider()))
            .map_err(|e| AppError::new(AppCode::CameraFailed, e.to_string()))?;
        Ok(Camera { tx })
    }

    fn ask<T>(&self, make: impl FnOnce(Sender<T>) -> Request) -> AppResult<T> {
        let (reply, rx) = mpsc::channel();
        self.tx
            .send(make(reply))
            .map_err(|_| AppError::new(AppCode::CameraFailed, "the camera thread stopped"))?;
        rx.recv()
            .map_err(|_| AppError::new(AppCode::CameraFailed, "the camera thread stopped"))
    }

    /// Is there a camera?
    pub fn status(&self) -> AppResult<CameraStatus> {
        self.ask(Request::Status)
    }

    /// One preview frame as JPEG.
    pub fn preview(&self) -> AppResult<Vec<u8>> {
        self.ask(Request::Preview)?
    }

    /// A capture burst (with a challenge: the login liveness check).
    pub fn capture(
        &self,
        challenge: Option<Challenge>,
        meta: SnapshotMeta,
    ) -> AppResult<CaptureResult> {
        self.ask(|reply| Request::Capture {
            challenge,
            meta: Box::new(meta),
            reply,
        })?
    }
}

fn worker(
    rx: Receiver<Request>,
    capturer: Capturer,
    blobs: BlobStore,
    provider: Box<dyn Provider>,
) {
    let mut open: Option<Box<dyn FrameSource>> = None;
    loop {
        let req = match rx.recv_timeout(IDLE_CLOSE) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => {
                open = None;
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        match req {
            Request::Status(reply) => {
                let _ = reply.send(provider.status());
            }
            Request::Preview(reply) => {
                let r = (|| {
                    let src = match &mut open {
                        Some(src) if provider.reusable() => src,
                        _ => open.insert(provider.open(None).map_err(crate::error::from_capture)?),
                    };
                    let frame = src.next_frame().map_err(crate::error::from_capture)?;
                    preview_jpeg(&frame.rgb)
                })();
                if r.is_err() {
                    open = None;
                }
                let _ = reply.send(r);
            }
            Request::Capture {
                challenge,
                meta,
                reply,
            } => {
                let r = (|| {
                    let src = match &mut open {
                        Some(src) if provider.reusable() => src,
                        _ => open.insert(
                            provider
                                .open(challenge)
                                .map_err(crate::error::from_capture)?,
                        ),
                    };
                    capturer
                        .capture(src.as_mut(), challenge, &meta, &blobs)
                        .map_err(crate::error::from_capture)
                })();
                if !provider.reusable() {
                    open = None;
                }
                let _ = reply.send(r);
            }
        }
    }
}

fn preview_jpeg(rgb: &image::RgbImage) -> AppResult<Vec<u8>> {
    let (w, h) = rgb.dimensions();
    let scale = 320.0 / w.max(1) as f32;
    let small = image::imageops::resize(
        rgb,
        320,
        ((h as f32 * scale) as u32).max(1),
        image::imageops::FilterType::Triangle,
    );
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(small)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)
        .map_err(|e| AppError::new(AppCode::CameraFailed, e.to_string()))?;
    Ok(out)
}

fn status_from_error(e: &CaptureError) -> CameraStatus {
    let kind = match e {
        CaptureError::Camera { kind, .. } => *kind,
        _ => capture::CameraErrorKind::NoCamera,
    };
    CameraStatus {
        available: false,
        devices: Vec::new(),
        error_code: Some(crate::error::camera_code(kind).into()),
        error_zh: Some(kind.text_zh().to_owned()),
        error_en: Some(kind.text_en().to_owned()),
    }
}

fn provider() -> Box<dyn Provider> {
    #[cfg(feature = "test-camera")]
    if let Some(control) = std::env::var_os("KESHI_TEST_CAMERA") {
        tracing::warn!("test camera in use: frames come from photos (test build)");
        return Box::new(acted::Acted {
            control: control.into(),
        });
    }
    desktop_provider()
}

#[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
fn desktop_provider() -> Box<dyn Provider> {
    Box::new(desktop::Desktop)
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
fn desktop_provider() -> Box<dyn Provider> {
    Box::new(NoCamera)
}

/// Phones: frames come from the web view's camera through `push_source` (mobile
/// plugin, see `android/`, `ios/`); until it is wired, no camera.
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
struct NoCamera;

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
impl Provider for NoCamera {
    fn status(&self) -> CameraStatus {
        status_from_error(&CaptureError::camera(
            capture::CameraErrorKind::NoCamera,
            "no camera source on this platform yet",
        ))
    }
    fn open(&self, _: Option<Challenge>) -> Result<Box<dyn FrameSource>, CaptureError> {
        Err(CaptureError::camera(
            capture::CameraErrorKind::NoCamera,
            "no camera source on this platform yet",
        ))
    }
    fn reusable(&self) -> bool {
        false
    }
}

#[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
mod desktop {
    use std::sync::Arc;

    use capture::clock::MonotonicClock;
    use capture::source::desktop::{list_cameras, DesktopCamera};
    use capture::source::negotiate::ModePreference;
    use capture::source::FrameSource;
    use capture::{CaptureError, Challenge};

    use super::{status_from_error, Provider};
    use player_core::study::view::CameraStatus;

    pub(super) struct Desktop;

    impl Provider for Desktop {
        fn status(&self) -> CameraStatus {
            // macOS asks the learner once; elsewhere this answers at once.
            capture::source::desktop::request_permission(|granted| {
                tracing::info!(granted, "camera permission");
            });
            match list_cameras() {
                Ok(list) if !list.is_empty() => CameraStatus {
                    available: true,
                    devices: list.into_iter().map(|d| d.name).collect(),
                    error_code: None,
                    error_zh: None,
                    error_en: None,
                },
                Ok(_) => status_from_error(&CaptureError::camera(
                    capture::CameraErrorKind::NoCamera,
                    "no camera found",
                )),
                Err(e) => status_from_error(&e),
            }
        }

        fn open(&self, _: Option<Challenge>) -> Result<Box<dyn FrameSource>, CaptureError> {
            let first = list_cameras()?.into_iter().next().ok_or_else(|| {
                CaptureError::camera(capture::CameraErrorKind::NoCamera, "no camera found")
            })?;
            Ok(Box::new(DesktopCamera::open(
                first.index,
                &ModePreference::default(),
                Arc::new(MonotonicClock::new()),
            )?))
        }

        fn reusable(&self) -> bool {
            true
        }
    }
}

#[cfg(feature = "test-camera")]
mod acted {
    use std::path::PathBuf;

    use capture::source::acted::acted_source_from_file;
    use capture::source::FrameSource;
    use capture::{CaptureError, Challenge};

    use super::Provider;
    use player_core::study::view::CameraStatus;

    pub(super) struct Acted {
        pub(super) control: PathBuf,
    }

    impl Acted {
        fn photo(&self) -> Result<PathBuf, CaptureError> {
            let text = std::fs::read_to_string(&self.control).map_err(|e| {
                CaptureError::camera(capture::CameraErrorKind::NoCamera, e.to_string())
            })?;
            Ok(PathBuf::from(text.trim()))
        }
    }

    impl Provider for Acted {
        fn status(&self) -> CameraStatus {
            CameraStatus {
                available: true,
                devices: vec!["keshi test camera (photos)".into()],
                error_code: None,
                error_zh: None,
                error_en: None,
            }
        }

        fn open(&self, challenge: Option<Challenge>) -> Result<Box<dyn FrameSource>, CaptureError> {
            let t0 = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            Ok(Box::new(acted_source_from_file(
                &self.photo()?,
                challenge,
                t0,
            )?))
        }

        fn reusable(&self) -> bool {
            false
        }
    }
}
