//! Build script: Tauri's code generation, the app's command permissions (every
//! command must be granted by a capability), and a guard that keeps the test camera
//! out of release builds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

const COMMANDS: &[&str] = &[
    "app_info",
    "sign_in",
    "sign_out",
    "camera_status",
    "camera_preview",
    "liveness_start",
    "liveness_check",
    "courses",
    "course_open",
    "player_report",
    "quiz_submit",
    "course_close",
    "sync_now",
    "sync_status",
    "learning_proof",
    "platform_courses",
    "course_fetch",
    "set_first_password",
];

fn main() {
    if std::env::var_os("CARGO_FEATURE_TEST_CAMERA").is_some()
        && std::env::var("PROFILE").as_deref() == Ok("release")
    {
        panic!("the `test-camera` feature plays photos as a camera: never in a release build");
    }
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build step");
}
