//! `keshi capture check` on real photographs (scikit-image's bundled data, found via
//! `KESHI_TEST_IMAGES`; `./test.sh` sets it with `capture/tests/test-images.sh`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

mod common;

use std::path::PathBuf;

use common::Env;

fn images() -> PathBuf {
    let dir = std::env::var_os("KESHI_TEST_IMAGES").map(PathBuf::from).expect(
        "KESHI_TEST_IMAGES is not set: export KESHI_TEST_IMAGES=\"$(capture/tests/test-images.sh)\"",
    );
    assert!(
        dir.join("astronaut.png").is_file(),
        "no astronaut.png in {}",
        dir.display()
    );
    dir
}

#[test]
fn capture_check_prints_one_verdict_per_image() {
    let env = Env::new();
    let dir = images();
    let files = ["astronaut.png", "coffee.png", "chelsea.png"].map(|f| dir.join(f));
    let args: Vec<&str> = std::iter::once("capture")
        .chain(std::iter::once("check"))
        .chain(files.iter().map(|p| p.to_str().unwrap()))
        .collect();
    let out = env.ok(&args);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["faces"], 1, "{}", lines[0]);
    assert_eq!(lines[0]["verdict"], "accept", "{}", lines[0]);
    assert!(lines[0]["image"]
        .as_str()
        .unwrap()
        .ends_with("astronaut.png"));
    for l in &lines[1..] {
        assert_eq!(l["faces"], 0, "{l}");
        assert_eq!(l["verdict"], "reject");
        assert_eq!(l["reasons"][0], "no_face");
    }
}

#[test]
fn capture_check_names_unreadable_files_and_fails() {
    let env = Env::new();
    let junk = env.path("junk.jpg");
    std::fs::write(&junk, b"not a jpeg").unwrap();
    let out = env.run(&["capture", "check", junk.to_str().unwrap()]);
    assert!(!out.status.success());
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["verdict"], "reject");
    assert_eq!(line["reasons"][0], "unreadable_image");
}
