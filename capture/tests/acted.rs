//! The acted-learner test camera (feature `test-camera`): real photos played as a person
//! moving, through the real capture pipeline with default settings.
#![cfg(feature = "test-camera")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code
mod common;

use capture::blob::BlobStore;
use capture::capture::{CaptureResult, Capturer};
use capture::detect::{DetectorConfig, FaceDetector};
use capture::error::CaptureError;
use capture::liveness::Challenge;
use capture::snapshot::{CapturePurpose, SnapshotMeta};
use capture::source::acted::{
    acted_source, acted_source_from_file, find_face, DEVICE_NAME, FRAME_HEIGHT, FRAME_WIDTH,
};
use capture::source::files::FileSource;
use capture::source::virtual_camera::virtual_camera_match;
use capture::source::{FrameSource, SourceKind};
use capture::{CaptureConfig, Reason, Verdict};
use common::*;

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// Every way a burst is asked for: the class-hour capture and the three login challenges.
const ASKED: [Option<Challenge>; 4] = [
    None,
    Some(Challenge::TurnLeft),
    Some(Challenge::TurnRight),
    Some(Challenge::MoveCloser),
];

/// One capture with every default, as the app runs it.
fn run(src: &mut FileSource, challenge: Option<Challenge>) -> CaptureResult {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let meta = SnapshotMeta {
        captured_at_ms: T0,
        learner_id: "learner-7".into(),
        course_id: "course-3".into(),
        class_hour: challenge.is_none().then_some(2),
        purpose: match challenge {
            Some(_) => CapturePurpose::Login,
            None => CapturePurpose::ClassHour,
        },
    };
    Capturer::with_defaults()
        .unwrap()
        .capture(src, challenge, &meta, &store)
        .unwrap()
}

fn assert_accepted(photo: &str, src: &mut FileSource, challenge: Option<Challenge>) {
    let r = run(src, challenge);
    let o = &r.outcome;
    assert_eq!(o.verdict, Verdict::Accept, "{photo} {challenge:?}: {o:?}");
    assert!(o.reasons.is_empty());
    assert_eq!(o.challenge, challenge);
    assert_eq!(o.faces, 1);
    assert_eq!(o.source, SourceKind::TestFiles);
    let cfg = CaptureConfig::default();
    let frames = match challenge {
        Some(_) => cfg.challenge_frames,
        None => cfg.burst_frames,
    };
    assert_eq!(o.frames as usize, frames, "a full burst, never cut short");
    assert!(o.image_sha256.is_some());
}

#[test]
fn the_astronaut_passes_class_hours_and_every_challenge() {
    let photo = rgb("astronaut.png");
    for asked in ASKED {
        let mut src = acted_source(&photo, asked, 5_000).unwrap();
        assert_accepted("astronaut", &mut src, asked);
    }
}

#[test]
fn the_cameraman_passes_class_hours_and_every_challenge() {
    // A grey photo whose face is too small for the detector in the whole photo: found
    // in a smaller window, then framed like a webcam.
    let path = images_dir().join("camera.png");
    for asked in ASKED {
        let mut src = acted_source_from_file(&path, asked, 5_000).unwrap();
        assert_accepted("camera", &mut src, asked);
    }
}

#[test]
fn a_movement_other_than_the_one_asked_is_rejected() {
    let photo = rgb("astronaut.png");
    for acted in Challenge::ALL {
        let mut src = acted_source(&photo, Some(acted), 5_000).unwrap();
        for asked in Challenge::ALL.into_iter().filter(|&c| c != acted) {
            let r = run(&mut src, Some(asked));
            let o = &r.outcome;
            assert_eq!(
                o.verdict,
                Verdict::Reject,
                "acted {acted:?}, asked {asked:?}"
            );
            assert_eq!(o.reasons, vec![Reason::ChallengeNotDone], "{o:?}");
            assert_eq!(o.challenge, Some(asked));
        }
    }
    // The class-hour sway is no answer to a challenge either: a login burst is longer
    // than its loop, so it also shows the same frames twice.
    let mut src = acted_source(&photo, None, 5_000).unwrap();
    let r = run(&mut src, Some(Challenge::TurnLeft));
    assert_eq!(r.outcome.verdict, Verdict::Reject);
    assert!(
        r.outcome.reasons.contains(&Reason::ChallengeNotDone),
        "{:?}",
        r.outcome
    );
}

#[test]
fn photos_without_a_face_fail_for_the_missing_face_not_for_liveness() {
    for name in ["coffee.png", "chelsea.png", "brick.png"] {
        for asked in [None, Some(Challenge::TurnLeft)] {
            let mut src = acted_source(&rgb(name), asked, 5_000).unwrap();
            let r = run(&mut src, asked);
            let o = &r.outcome;
            assert_eq!(o.verdict, Verdict::Reject, "{name} {asked:?}");
            assert_eq!(o.faces, 0, "{name}: {o:?}");
            assert!(o.reasons.contains(&Reason::NoFace), "{name}: {o:?}");
            // The scene moves and every frame is new: the passive checks have nothing
            // to say about replay or stillness.
            for r in [
                Reason::FrozenFrame,
                Reason::ReplayedFrames,
                Reason::NoMotion,
            ] {
                assert!(!o.reasons.contains(&r), "{name} {asked:?}: {o:?}");
            }
        }
    }
}

#[test]
fn the_source_loops_on_burst_timestamps_and_never_runs_out() {
    let path = images_dir().join("astronaut.png");
    let cfg = CaptureConfig::default();
    for (asked, gap) in [
        (None, cfg.burst_interval_ms),
        (Some(Challenge::MoveCloser), cfg.challenge_interval_ms),
    ] {
        let mut src = acted_source_from_file(&path, asked, 7_000).unwrap();
        assert_eq!(src.info().kind, SourceKind::TestFiles);
        assert_eq!(src.info().device_name, DEVICE_NAME);
        assert!(!src.info().mirrored);
        assert_eq!(virtual_camera_match(DEVICE_NAME), None);
        let mut prev: Option<image::GrayImage> = None;
        // Longer than any burst and than the loop.
        for i in 0..(cfg.challenge_frames as u64 + 6) {
            let f = src.next_frame().unwrap();
            assert_eq!(f.t_ms, 7_000 + i * gap);
            assert_eq!(f.dimensions(), (FRAME_WIDTH, FRAME_HEIGHT));
            let g = f.gray();
            if let Some(p) = &prev {
                assert!(capture::liveness::identical_fraction(p, &g) < 0.5);
            }
            prev = Some(g);
        }
    }
}

#[test]
fn faces_are_found_in_the_photo_and_bad_files_are_errors() {
    let det = FaceDetector::new(DetectorConfig::default()).unwrap();
    // The astronaut's face is found in the whole photo; the cameraman's (about 70 px in
    // a 512 px photo) only in a smaller window.
    let a = find_face(&det, &rgb("astronaut.png")).unwrap().unwrap();
    assert!(a.bbox.w >= 80, "{a:?}");
    let camera = rgb("camera.png");
    assert!(det.detect(&gray(&camera)).unwrap().is_empty());
    let c = find_face(&det, &camera).unwrap().unwrap();
    let (cx, cy) = c.bbox.centre();
    assert!(
        (220.0..250.0).contains(&cx) && (140.0..170.0).contains(&cy),
        "{c:?}"
    );
    for name in ["coffee.png", "chelsea.png", "brick.png"] {
        assert!(find_face(&det, &rgb(name)).unwrap().is_none(), "{name}");
    }

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.png");
    assert!(matches!(
        acted_source_from_file(&missing, None, 0),
        Err(CaptureError::Io { .. })
    ));
    let garbage = dir.path().join("garbage.png");
    std::fs::write(&garbage, b"not a picture").unwrap();
    assert!(matches!(
        acted_source_from_file(&garbage, None, 0),
        Err(CaptureError::BadFrame(_))
    ));
}
