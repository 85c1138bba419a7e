//! Face detection on real photographs (scikit-image's bundled data, see
//! `tests/test-images.sh`): every face found, no face in the non-face photos.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code
mod common;

use capture::detect::{DetectorConfig, FaceDetector};
use common::*;

fn live() -> FaceDetector {
    FaceDetector::new(DetectorConfig::default()).expect("model loads")
}

fn thorough() -> FaceDetector {
    FaceDetector::new(DetectorConfig::thorough()).expect("model loads")
}

#[test]
fn finds_the_face_in_each_face_photo() {
    let det = thorough();
    for (name, n) in FACE_PHOTOS {
        let faces = det.detect(&gray(&rgb(name))).unwrap();
        assert_eq!(faces.len(), n, "{name}: {faces:?}");
    }
    // Where the faces are: Eileen Collins' face and the cameraman's head.
    let a = det.detect(&gray(&rgb("astronaut.png"))).unwrap()[0].bbox;
    assert!(
        (150..230).contains(&a.x) && (40..110).contains(&a.y) && (80..130).contains(&a.w),
        "{a:?}"
    );
    let c = det.detect(&gray(&rgb("camera.png"))).unwrap()[0].bbox;
    assert!(
        (170..240).contains(&c.x) && (90..150).contains(&c.y),
        "{c:?}"
    );
}

#[test]
fn finds_the_face_in_webcam_framed_photos_with_the_live_setting() {
    let det = live();
    for (name, frame) in [("astronaut", astronaut_frame()), ("camera", camera_frame())] {
        let faces = det.detect(&gray(&frame)).unwrap();
        assert_eq!(faces.len(), 1, "{name}: {faces:?}");
        assert!(faces[0].score > 10.0, "{name}: {faces:?}");
    }
    let two = det.detect(&gray(&two_faces_frame())).unwrap();
    assert_eq!(two.len(), 2, "{two:?}");
}

#[test]
fn finds_no_face_in_the_non_face_photos() {
    for det in [live(), thorough()] {
        for name in NON_FACE_PHOTOS {
            let faces = det.detect(&gray(&rgb(name))).unwrap();
            assert!(
                faces.is_empty(),
                "{name} with {:?}: {faces:?}",
                det.config()
            );
            let faces = det.detect(&gray(&scene_frame(name))).unwrap();
            assert!(faces.is_empty(), "{name} framed: {faces:?}");
        }
    }
}

/// LFW subset: 100 face crops and 100 background crops, 25x25. Each crop is enlarged
/// to 80x80 on a grey canvas. Two faces are missed by every setting tried (#4, a tight
/// crop with glasses; #30, a strongly tilted head); the live setting also misses #82.
#[test]
fn lfw_subset_faces_found_and_backgrounds_not() {
    let lfw = lfw_subset();
    for (det, min_found) in [(live(), 97), (thorough(), 97)] {
        let hits: Vec<bool> = lfw
            .iter()
            .map(|im| !det.detect(&lfw_canvas(im)).unwrap().is_empty())
            .collect();
        let found = hits[..100].iter().filter(|h| **h).count();
        let false_hits = hits[100..].iter().filter(|h| **h).count();
        let missed: Vec<usize> = (0..100).filter(|i| !hits[*i]).collect();
        assert!(
            found >= min_found,
            "{:?}: found {found}/100, missed {missed:?}",
            det.config()
        );
        assert_eq!(false_hits, 0, "{:?}", det.config());
    }
}
