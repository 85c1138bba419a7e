//! The `keshi-app` binary refuses a broken brand configuration with a clear message
//! and exit code 2, before it opens a window or touches the journal. (Being an
//! integration test, this also makes `cargo test` build the binary the end-to-end
//! tests drive.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use std::process::Command;

fn app() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keshi-app"));
    c.env(
        "KESHI_HOME",
        std::env::temp_dir().join("keshi-app-binary-test"),
    );
    c
}

#[test]
fn a_missing_brand_file_is_named() {
    let out = app()
        .env("KESHI_BRAND", "/nonexistent/brand.json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("brand_invalid"), "{err}");
    assert!(err.contains("/nonexistent/brand.json"), "{err}");
}

#[test]
fn a_brand_with_an_unknown_profile_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("brand.json");
    std::fs::write(
        &path,
        r#"{"brand_zh":"机构","brand_en":"Institute","platform_url":"http://127.0.0.1:1","profile":"atlantis"}"#,
    )
    .unwrap();
    let out = app().env("KESHI_BRAND", &path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("atlantis"), "{err}");
}

#[test]
fn corrupt_brand_json_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("brand.json");
    std::fs::write(&path, b"{ not json").unwrap();
    let out = app().env("KESHI_BRAND", &path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("brand.json"), "{err}");
}
