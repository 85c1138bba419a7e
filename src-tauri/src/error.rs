//! Errors that cross to the web view as `{code, message}`: a stable code the UI
//! maps to Chinese/English text, and the technical message for the log.

use serde::Serialize;
use ts_rs::TS;

/// A command's error.
#[derive(Debug, Clone, Serialize, TS, thiserror::Error)]
#[ts(export, export_to = "../../ui/src/bindings/")]
#[error("{code}: {message}")]
pub struct AppError {
    /// Stable code (`not_signed_in`, `login_refused`, `platform_unreachable`,
    /// `course_not_found`, `no_session`, `journal_failed`, `camera_not_found`…).
    pub code: String,
    /// What happened, technically.
    pub message: String,
}

impl AppError {
    /// An error with this code.
    pub fn new(code: &str, message: impl Into<String>) -> AppError {
        AppError {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// Command result.
pub type AppResult<T> = Result<T, AppError>;

impl From<player_core::session::SessionError> for AppError {
    fn from(e: player_core::session::SessionError) -> Self {
        use player_core::session::SessionError as E;
        let code = match &e {
            E::Manifest(_) => "course_invalid",
            E::Poisoned => "session_stopped",
            _ => "journal_failed",
        };
        AppError::new(code, e.to_string())
    }
}

impl From<player_core::journal::JournalError> for AppError {
    fn from(e: player_core::journal::JournalError) -> Self {
        AppError::new("journal_failed", e.to_string())
    }
}

impl From<player_core::manifest::ManifestError> for AppError {
    fn from(e: player_core::manifest::ManifestError) -> Self {
        AppError::new("course_invalid", e.to_string())
    }
}

impl From<capture::CaptureError> for AppError {
    fn from(e: capture::CaptureError) -> Self {
        let code = match &e {
            capture::CaptureError::Camera { kind, .. } => kind.code(),
            _ => "capture_failed",
        };
        AppError::new(code, e.to_string())
    }
}

impl From<player_core::http::LoginError> for AppError {
    fn from(e: player_core::http::LoginError) -> Self {
        use player_core::http::LoginError as E;
        match &e {
            E::Refused(api) => AppError::new(
                if api.code == "bad_credentials" || api.code.is_empty() {
                    "login_refused"
                } else {
                    &api.code
                },
                api.message.clone(),
            ),
            E::Unreachable(_) => AppError::new("platform_unreachable", e.to_string()),
            E::Untrusted(_) => AppError::new("platform_untrusted", e.to_string()),
            _ => AppError::new("journal_failed", e.to_string()),
        }
    }
}
