//! The quality gate on real photographs and degraded copies of them: the originals
//! pass; dark, blurred, over-bright, tiny-face and two-face frames are rejected with
//! the right reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code
mod common;

use capture::detect::{DetectorConfig, FaceDetector};
use capture::quality::{QualityGate, Verdict};
use capture::Reason;
use common::*;
use image::RgbImage;

fn judge(det: &FaceDetector, img: &RgbImage) -> (Verdict, Vec<Reason>) {
    let g = gray(img);
    let faces = det.detect(&g).unwrap();
    let r = QualityGate::default().assess(&g, &faces);
    (r.verdict, r.reasons)
}

fn live() -> FaceDetector {
    FaceDetector::new(DetectorConfig::default()).unwrap()
}

#[test]
fn good_frames_pass() {
    let det = live();
    for (name, img) in [
        ("astronaut", astronaut_frame()),
        ("camera", camera_frame()),
        ("astronaut noisy", noisy(&astronaut_frame(), 4.0, 3)),
        ("astronaut slightly soft", blur(&astronaut_frame(), 1.0)),
        ("camera slightly soft", blur(&camera_frame(), 1.0)),
        ("camera dim", exposure(&camera_frame(), 0.4, 0.0)),
        ("astronaut dim", exposure(&astronaut_frame(), 0.5, 0.0)),
    ] {
        assert_eq!(judge(&det, &img), (Verdict::Accept, vec![]), "{name}");
    }
}

#[test]
fn dark_frames_are_rejected_as_too_dark() {
    let det = live();
    for img in [astronaut_frame(), camera_frame()] {
        let (v, r) = judge(&det, &exposure(&img, 0.2, 0.0));
        assert_eq!(v, Verdict::Reject);
        assert!(r.contains(&Reason::TooDark), "{r:?}");
        // Near black: no face can be seen at all.
        let (v, r) = judge(&det, &exposure(&img, 0.05, 0.0));
        assert_eq!((v, r), (Verdict::Reject, vec![Reason::NoFace]));
    }
}

#[test]
fn blurred_frames_are_rejected_as_too_blurry() {
    let det = live();
    for sigma in [3.0, 4.0, 6.0] {
        for img in [astronaut_frame(), camera_frame()] {
            let (v, r) = judge(&det, &blur(&img, sigma));
            assert_eq!(v, Verdict::Reject, "sigma {sigma}");
            assert_eq!(r, vec![Reason::TooBlurry], "sigma {sigma}");
        }
    }
}

#[test]
fn overexposed_frames_are_rejected_as_too_bright() {
    let det = live();
    let (v, r) = judge(&det, &exposure(&astronaut_frame(), 1.0, 70.0));
    assert_eq!(v, Verdict::Reject);
    assert!(r.contains(&Reason::TooBright), "{r:?}");
}

#[test]
fn tiny_faces_are_rejected() {
    let frame = tiny_face_frame();
    // The setting used for files sees the small face and names the problem.
    let det = FaceDetector::new(DetectorConfig::thorough()).unwrap();
    assert_eq!(
        judge(&det, &frame),
        (Verdict::Reject, vec![Reason::FaceTooSmall])
    );
    // The live setting does not look for faces that small; still a reject.
    let (v, r) = judge(&live(), &frame);
    assert_eq!(v, Verdict::Reject);
    assert!(
        r == vec![Reason::FaceTooSmall] || r == vec![Reason::NoFace],
        "{r:?}"
    );
}

#[test]
fn two_faces_from_two_photos_are_rejected() {
    let (v, r) = judge(&live(), &two_faces_frame());
    assert_eq!((v, r), (Verdict::Reject, vec![Reason::MultipleFaces]));
}

#[test]
fn non_face_frames_are_rejected_with_no_face() {
    let det = live();
    for name in NON_FACE_PHOTOS {
        assert_eq!(
            judge(&det, &scene_frame(name)),
            (Verdict::Reject, vec![Reason::NoFace]),
            "{name}"
        );
    }
}
