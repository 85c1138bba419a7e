//! `check_image_file`, behind `keshi capture check IMAGE...`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code
mod common;

use capture::check::{check_image_file, Checker};
use capture::{Reason, Verdict};
use common::*;

#[test]
fn reports_faces_verdict_and_reasons_per_image() {
    let dir = images_dir();
    let checker = Checker::for_files().unwrap();

    let r = check_image_file(&dir.join("astronaut.png"), &checker);
    assert_eq!((r.faces, r.verdict), (1, Verdict::Accept), "{r:?}");
    assert_eq!(r.boxes.len(), 1);
    assert_eq!(r.scores.len(), 1);

    // The cameraman stands back: one face, too small for a class-hour photo.
    let r = check_image_file(&dir.join("camera.png"), &checker);
    assert_eq!(r.faces, 1, "{r:?}");
    assert_eq!(r.reasons, vec![Reason::FaceTooSmall]);

    for name in NON_FACE_PHOTOS {
        let r = check_image_file(&dir.join(name), &checker);
        assert_eq!(r.faces, 0, "{name}");
        assert_eq!(r.reasons, vec![Reason::NoFace], "{name}");
    }

    let tmp = tempfile::tempdir().unwrap();
    let two = tmp.path().join("two.png");
    two_faces_frame().save(&two).unwrap();
    let r = check_image_file(&two, &checker);
    assert_eq!(
        (r.faces, r.reasons.clone()),
        (2, vec![Reason::MultipleFaces])
    );

    // One JSON line with the fields the CLI promises.
    let line = serde_json::to_string(&r).unwrap();
    assert!(!line.contains('\n'));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["image"], two.display().to_string());
    assert_eq!(v["faces"], 2);
    assert_eq!(v["verdict"], "reject");
    assert_eq!(v["reasons"][0], "multiple_faces");
    assert_eq!(v["messages"][0]["code"], "multiple_faces");
    assert!(v["messages"][0]["zh_cn"].as_str().unwrap().contains("人脸"));
    assert!(v["boxes"][0]["w"].as_u64().unwrap() > 50);
}

#[test]
fn unreadable_files_are_reported_not_fatal() {
    let checker = Checker::for_files().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.jpg");
    std::fs::write(&junk, b"\xFF\xD8 not really").unwrap();
    for p in [junk, tmp.path().join("missing.png")] {
        let r = check_image_file(&p, &checker);
        assert_eq!(r.verdict, Verdict::Reject);
        assert_eq!(r.reasons, vec![Reason::UnreadableImage]);
        assert!(r.error.is_some());
    }
}
