//! Errors cross to the web view as `{code, message}`: a code from the typed enums
//! ([`player_core::study::AppCode`], the platform's `ApiCode`) the UI maps to
//! Chinese/English text, and the technical message for the log.

pub use player_core::study::{AppCode, AppError, AppResult};

/// A capture failure in the app's codes.
pub fn from_capture(e: capture::CaptureError) -> AppError {
    let code = match &e {
        capture::CaptureError::Camera { kind, .. } => camera_code(*kind),
        _ => AppCode::CaptureFailed,
    };
    AppError::new(code, e.to_string())
}

/// The app code of a camera failure.
pub fn camera_code(kind: capture::CameraErrorKind) -> AppCode {
    use capture::CameraErrorKind as K;
    match kind {
        K::NoCamera => AppCode::CameraNotFound,
        K::PermissionDenied => AppCode::CameraPermissionDenied,
        K::Busy => AppCode::CameraBusy,
        K::Disconnected => AppCode::CameraDisconnected,
        K::NoUsableMode => AppCode::CameraNoUsableMode,
        _ => AppCode::CameraError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The camera's own codes and the app's agree (the UI keys on them).
    #[test]
    fn camera_codes_match_the_capture_crate() {
        use capture::CameraErrorKind as K;
        for k in [
            K::NoCamera,
            K::PermissionDenied,
            K::Busy,
            K::Disconnected,
            K::NoUsableMode,
            K::Other,
        ] {
            assert_eq!(camera_code(k).as_str(), k.code(), "{k:?}");
        }
    }
}
