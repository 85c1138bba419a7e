//! The desktop camera's error path, for real: on a machine without cameras (no
//! /dev/video* here) listing gives nothing, and opening goes to the backend (V4L2 on
//! Linux), whose failure comes back as a named error rather than a panic.
#![cfg(feature = "desktop-camera")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use std::sync::Arc;

use capture::clock::MonotonicClock;
use capture::error::{CameraErrorKind, CaptureError};
use capture::source::desktop::{list_cameras, DesktopCamera};
use capture::source::negotiate::ModePreference;

#[test]
fn missing_camera_is_a_named_error() {
    let cams = list_cameras().expect("listing never fails just because there is no camera");
    // Pick an index that is not there (all of them, on a machine without cameras).
    let missing = cams.iter().map(|c| c.index + 1).max().unwrap_or(0) + 100;
    let err = DesktopCamera::open(
        if cams.is_empty() { 0 } else { missing },
        &ModePreference::default(),
        Arc::new(MonotonicClock::new()),
    )
    .expect_err("no such camera");
    match err {
        CaptureError::Camera { kind, detail } => {
            assert_eq!(kind, CameraErrorKind::NoCamera, "{detail}");
            eprintln!("backend said: {detail}");
            assert_eq!(kind.code(), "camera_not_found");
            assert!(kind.text_zh().contains("摄像头"));
        }
        other => panic!("unexpected error {other:?}"),
    }
}
