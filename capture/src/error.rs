//! Errors of the capture crate.
//!
//! Camera failures carry a [`CameraErrorKind`] so that the UI can tell the learner what
//! to do (grant permission, close the other program, plug the camera back in) without
//! matching on English strings.

use serde::{Deserialize, Serialize};

/// Why a camera could not be used.
///
/// Serialized as its [`code`](CameraErrorKind::code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CameraErrorKind {
    /// The system reports no camera at all, or none with the requested index.
    #[serde(rename = "camera_not_found")]
    NoCamera,
    /// The operating system or the learner refused access to the camera.
    #[serde(rename = "camera_permission_denied")]
    PermissionDenied,
    /// Another program holds the camera.
    #[serde(rename = "camera_busy")]
    Busy,
    /// The camera went away while it was in use (unplugged, driver reset).
    #[serde(rename = "camera_disconnected")]
    Disconnected,
    /// The camera offers no mode we can decode.
    #[serde(rename = "camera_no_usable_mode")]
    NoUsableMode,
    /// Anything else the backend reported.
    #[serde(rename = "camera_error")]
    Other,
}

impl CameraErrorKind {
    /// Stable code for logs and the UI.
    pub fn code(self) -> &'static str {
        match self {
            CameraErrorKind::NoCamera => "camera_not_found",
            CameraErrorKind::PermissionDenied => "camera_permission_denied",
            CameraErrorKind::Busy => "camera_busy",
            CameraErrorKind::Disconnected => "camera_disconnected",
            CameraErrorKind::NoUsableMode => "camera_no_usable_mode",
            CameraErrorKind::Other => "camera_error",
        }
    }

    /// What the learner should do, in English.
    pub fn text_en(self) -> &'static str {
        match self {
            CameraErrorKind::NoCamera => "No camera was found. Connect a camera and try again.",
            CameraErrorKind::PermissionDenied => {
                "Keshi is not allowed to use the camera. Allow camera access in the system settings."
            }
            CameraErrorKind::Busy => {
                "The camera is being used by another program. Close it and try again."
            }
            CameraErrorKind::Disconnected => {
                "The camera was disconnected. Plug it back in and try again."
            }
            CameraErrorKind::NoUsableMode => "This camera offers no picture format Keshi can use.",
            CameraErrorKind::Other => "The camera could not be used. Try again.",
        }
    }

    /// What the learner should do, in Simplified Chinese.
    pub fn text_zh(self) -> &'static str {
        match self {
            CameraErrorKind::NoCamera => "未检测到摄像头，请连接摄像头后重试。",
            CameraErrorKind::PermissionDenied => {
                "课时没有使用摄像头的权限，请在系统设置中允许访问摄像头。"
            }
            CameraErrorKind::Busy => "摄像头正被其他程序占用，请关闭该程序后重试。",
            CameraErrorKind::Disconnected => "摄像头已断开，请重新连接后重试。",
            CameraErrorKind::NoUsableMode => "该摄像头没有可用的画面格式。",
            CameraErrorKind::Other => "无法使用摄像头，请重试。",
        }
    }
}

/// Errors returned by this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// A camera could not be listed, opened or read.
    #[error("camera {kind:?}: {detail}")]
    Camera {
        /// What went wrong, for the learner.
        kind: CameraErrorKind,
        /// The backend's own message, for logs.
        detail: String,
    },
    /// Bytes handed in as a frame could not be decoded, or were refused.
    #[error("bad frame: {0}")]
    BadFrame(String),
    /// No frame arrived in time.
    #[error("no frame within {0} ms")]
    Timeout(u64),
    /// The frame source has ended (all feeders dropped, files played).
    #[error("frame source closed")]
    Closed,
    /// The face model could not be loaded (a corrupt build).
    #[error("face model: {0}")]
    Model(String),
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An image could not be encoded.
    #[error("encoding: {0}")]
    Encode(String),
    /// Blob store I/O failed.
    #[error("blob store {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Stored bytes no longer match their hash.
    #[error("blob {0} is corrupt")]
    Corrupt(String),
    /// The detector failed internally (it panicked on an unusual frame).
    #[error("face detector failed: {0}")]
    Detector(String),
}

impl CaptureError {
    /// A camera error of this kind with the backend's message.
    pub fn camera(kind: CameraErrorKind, detail: impl Into<String>) -> Self {
        CaptureError::Camera {
            kind,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_error_codes_match_serde_and_have_texts() {
        for k in [
            CameraErrorKind::NoCamera,
            CameraErrorKind::PermissionDenied,
            CameraErrorKind::Busy,
            CameraErrorKind::Disconnected,
            CameraErrorKind::NoUsableMode,
            CameraErrorKind::Other,
        ] {
            let json = serde_json::to_string(&k).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", k.code()));
            let back: CameraErrorKind =
                serde_json::from_str(&json).unwrap_or(CameraErrorKind::Other);
            assert_eq!(back, k);
            assert!(k.text_zh().contains("摄像头") && !k.text_en().is_empty());
        }
    }
}
