//! The codes the learner app's commands fail with: the app's own ([`AppCode`]) and
//! the platform's ([`ApiCode`]), one type ([`ErrorCode`]) so the UI can show every
//! one in the learner's words (a UI test enumerates them against the i18n files).

use serde::{Deserialize, Serialize};

pub use keshi_protocol::codes::ApiCode;

macro_rules! app_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, )*) => {
        /// Why a command of the learner app failed, on this device.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, export_to = "../../ui/src/bindings/"))]
        pub enum AppCode {
            $( $(#[$doc])* #[serde(rename = $code)] $variant, )*
        }

        impl AppCode {
            /// Every code.
            pub const ALL: &'static [AppCode] = &[ $( AppCode::$variant, )* ];

            /// The stable code.
            pub fn as_str(self) -> &'static str {
                match self { $( AppCode::$variant => $code, )* }
            }

            /// The code named `s`, if any.
            pub fn parse(s: &str) -> Option<AppCode> {
                match s { $( $code => Some(AppCode::$variant), )* _ => None }
            }
        }
    };
}

app_codes! {
    /// Sign in first.
    NotSignedIn = "not_signed_in",
    /// Pass the face check first (R-ID-2).
    NotVerified = "not_verified",
    /// The platform cannot be reached.
    PlatformUnreachable = "platform_unreachable",
    /// The platform's answer cannot be trusted (bad signature, wrong device, key).
    PlatformUntrusted = "platform_untrusted",
    /// No such course on this device.
    CourseNotFound = "course_not_found",
    /// The course manifest is invalid or does not fit the profile.
    CourseInvalid = "course_invalid",
    /// No course is open.
    NoSession = "no_session",
    /// Close the course first.
    SessionOpen = "session_open",
    /// The session stopped after a journal failure; reopen the course.
    SessionStopped = "session_stopped",
    /// The study journal failed (disk full, I/O error…).
    JournalFailed = "journal_failed",
    /// No such lesson file.
    MediaNotFound = "media_not_found",
    /// A lesson file lies outside its course folder.
    MediaOutsideStore = "media_outside_store",
    /// The brand configuration is broken (an installation error).
    BrandInvalid = "brand_invalid",
    /// The app's data folder cannot be used.
    HomeUnavailable = "home_unavailable",
    /// The device key store failed.
    KeyStore = "key_store",
    /// Start the face check first.
    NoChallenge = "no_challenge",
    /// A sync round failed on this device.
    SyncFailed = "sync_failed",
    /// No camera was found.
    CameraNotFound = "camera_not_found",
    /// Camera access is not allowed.
    CameraPermissionDenied = "camera_permission_denied",
    /// Another program uses the camera.
    CameraBusy = "camera_busy",
    /// The camera was disconnected.
    CameraDisconnected = "camera_disconnected",
    /// The camera offers no usable picture format.
    CameraNoUsableMode = "camera_no_usable_mode",
    /// The camera could not be used.
    CameraError = "camera_error",
    /// The camera thread failed.
    CameraFailed = "camera_failed",
    /// The capture could not be taken.
    CaptureFailed = "capture_failed",
    /// A course download stopped (what arrived is kept; try again to resume).
    DownloadFailed = "download_failed",
    /// A downloaded file did not match the course's manifest: it was deleted and
    /// is never played.
    DownloadCorrupt = "download_corrupt",
    /// An unexpected failure of the app (a bug): nothing recorded is lost.
    Unexpected = "unexpected",
}

/// A command's error code: the app's own or the platform's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, export_to = "../../ui/src/bindings/")
)]
#[serde(untagged)]
pub enum ErrorCode {
    /// This device's.
    App(AppCode),
    /// The platform's.
    Api(ApiCode),
}

impl ErrorCode {
    /// The stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::App(c) => c.as_str(),
            ErrorCode::Api(c) => c.as_str(),
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<AppCode> for ErrorCode {
    fn from(c: AppCode) -> Self {
        ErrorCode::App(c)
    }
}

impl From<ApiCode> for ErrorCode {
    fn from(c: ApiCode) -> Self {
        ErrorCode::Api(c)
    }
}

/// An error a command of the learner app answers with: `{code, message}` (the UI
/// shows the code in the learner's words; the message is for the log).
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, export_to = "../../ui/src/bindings/")
)]
#[error("{}: {message}", code.as_str())]
pub struct AppError {
    /// Stable code.
    pub code: ErrorCode,
    /// What happened, technically.
    pub message: String,
}

impl AppError {
    /// An error with this code.
    pub fn new(code: impl Into<ErrorCode>, message: impl Into<String>) -> AppError {
        AppError {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// A command's result.
pub type AppResult<T> = Result<T, AppError>;

impl From<crate::session::SessionError> for AppError {
    fn from(e: crate::session::SessionError) -> Self {
        use crate::session::SessionError as E;
        let code = match &e {
            E::Manifest(_) => AppCode::CourseInvalid,
            E::Poisoned => AppCode::SessionStopped,
            _ => AppCode::JournalFailed,
        };
        AppError::new(code, e.to_string())
    }
}

impl From<crate::journal::JournalError> for AppError {
    fn from(e: crate::journal::JournalError) -> Self {
        AppError::new(AppCode::JournalFailed, e.to_string())
    }
}

impl From<keshi_protocol::manifest::ManifestError> for AppError {
    fn from(e: keshi_protocol::manifest::ManifestError) -> Self {
        AppError::new(AppCode::CourseInvalid, e.to_string())
    }
}

#[cfg(feature = "http")]
impl From<crate::http::LoginError> for AppError {
    fn from(e: crate::http::LoginError) -> Self {
        use crate::http::LoginError as E;
        match &e {
            E::Refused(api) => AppError::new(api.code, api.message.clone()),
            E::Unreachable(_) => AppError::new(AppCode::PlatformUnreachable, e.to_string()),
            E::Untrusted(_) => AppError::new(AppCode::PlatformUntrusted, e.to_string()),
            _ => AppError::new(AppCode::JournalFailed, e.to_string()),
        }
    }
}

#[cfg(feature = "http")]
impl From<crate::fetch::FetchError> for AppError {
    fn from(e: crate::fetch::FetchError) -> Self {
        use crate::fetch::FetchError as E;
        match &e {
            E::Refused(api) => AppError::new(api.code, api.message.clone()),
            E::Unreachable(_) => AppError::new(AppCode::PlatformUnreachable, e.to_string()),
            E::MediaMismatch { .. } | E::BadManifest { .. } => {
                AppError::new(AppCode::DownloadCorrupt, e.to_string())
            }
            E::NotEnrolled(_) => AppError::new(AppCode::CourseNotFound, e.to_string()),
            _ => AppError::new(AppCode::DownloadFailed, e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_serialize_as_their_string() {
        let mut seen = std::collections::BTreeSet::new();
        for c in AppCode::ALL {
            assert!(seen.insert(c.as_str()), "{c:?} twice");
            assert_eq!(AppCode::parse(c.as_str()), Some(*c));
            let e = AppError::new(*c, "m");
            let v = serde_json::to_value(&e).unwrap();
            assert_eq!(v["code"], c.as_str());
        }
        // App and platform codes never share a spelling (the UI keys on it).
        for c in ApiCode::ALL {
            assert!(!seen.contains(c.as_str()), "{c:?} is also an app code");
        }
    }
}
