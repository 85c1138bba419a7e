//! Liveness on sequences built from real photographs: moving sequences (crop, shift,
//! scale) pass, still (same photo, fresh sensor noise) and frozen (identical frames)
//! sequences fail, a short loop is caught, and each active challenge passes only when
//! its movement is made.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code
mod common;

use capture::detect::{DetectorConfig, Face, FaceDetector};
use capture::liveness::{
    check_challenge, passive_check, BurstFrame, Challenge, LivenessConfig, PassiveReport,
};
use capture::Reason;
use common::*;
use image::{GrayImage, RgbImage};

struct Burst {
    grays: Vec<GrayImage>,
    faces: Vec<Option<Face>>,
}

impl Burst {
    fn new(seq: &[RgbImage]) -> Self {
        let det = FaceDetector::new(DetectorConfig::default()).unwrap();
        let grays: Vec<GrayImage> = seq.iter().map(gray).collect();
        let faces = grays
            .iter()
            .map(|g| det.detect(g).unwrap().first().copied())
            .collect();
        Burst { grays, faces }
    }

    fn frames(&self) -> Vec<BurstFrame<'_>> {
        self.grays
            .iter()
            .zip(&self.faces)
            .enumerate()
            .map(|(i, (g, f))| BurstFrame {
                gray: g,
                t_ms: 1000 + i as u64 * 200,
                face: *f,
            })
            .collect()
    }

    fn passive(&self) -> PassiveReport {
        passive_check(&self.frames(), &LivenessConfig::default())
    }

    fn passes(&self, c: Challenge) -> bool {
        check_challenge(c, &self.frames(), false, &LivenessConfig::default()).passed
    }
}

fn astronaut() -> RgbImage {
    rgb("astronaut.png")
}

fn base_face() -> (i32, i32, u32) {
    let det = FaceDetector::new(DetectorConfig::default()).unwrap();
    let f = det.detect(&gray(&astronaut_frame())).unwrap()[0].bbox;
    (f.x, f.y, f.w)
}

#[test]
fn natural_motion_passes_the_passive_check() {
    for step in [0.002, 0.005, 0.01] {
        let b = Burst::new(&moving_sequence(&astronaut(), 32.0, 0.0, 448.0, 5, step));
        let r = b.passive();
        assert!(r.reasons.is_empty(), "step {step}: {r:?}");
        assert!(r.metrics.motion >= 0.02, "{r:?}");
    }
    let cam = rgb("camera.png");
    let b = Burst::new(&moving_sequence(&cam, 110.0, 40.0, 320.0, 5, 0.005));
    assert!(b.passive().reasons.is_empty(), "{:?}", b.passive());
}

#[test]
fn still_photos_fail_with_no_motion() {
    for (name, frame, sigma) in [
        ("astronaut", astronaut_frame(), 2.0),
        ("astronaut noisy", astronaut_frame(), 6.0),
        ("camera", camera_frame(), 3.0),
    ] {
        let r = Burst::new(&still_sequence(&frame, 5, sigma)).passive();
        assert_eq!(r.reasons, vec![Reason::NoMotion], "{name}: {r:?}");
        assert_eq!(
            r.metrics.frozen_pairs, 0,
            "{name}: noise makes frames differ"
        );
    }
}

#[test]
fn frozen_frames_fail() {
    let r = Burst::new(&frozen_sequence(&astronaut_frame(), 5)).passive();
    assert_eq!(r.reasons, vec![Reason::FrozenFrame], "{r:?}");
    assert_eq!(r.metrics.frozen_pairs, 4);
}

#[test]
fn a_short_loop_is_caught() {
    let mut seq = moving_sequence(&astronaut(), 32.0, 0.0, 448.0, 3, 0.01);
    seq.extend(seq.clone());
    let r = Burst::new(&seq).passive();
    assert_eq!(r.reasons, vec![Reason::ReplayedFrames], "{r:?}");
}

#[test]
fn frames_without_a_face_fail_as_face_lost() {
    let mut seq = still_sequence(&scene_frame("coffee.png"), 3, 2.0);
    seq.extend(moving_sequence(&astronaut(), 32.0, 0.0, 448.0, 2, 0.01));
    let r = Burst::new(&seq).passive();
    assert!(r.reasons.contains(&Reason::FaceLost), "{r:?}");
}

#[test]
fn turning_left_passes_turn_left_only() {
    let b = Burst::new(&turn_sequence(&astronaut_frame(), base_face(), 9, 25.0));
    assert!(b.passive().reasons.is_empty(), "{:?}", b.passive());
    assert!(b.passes(Challenge::TurnLeft));
    assert!(!b.passes(Challenge::TurnRight));
    assert!(!b.passes(Challenge::MoveCloser));
    // The same frames from a mirrored source: the learner turned the other way.
    let mirrored = check_challenge(
        Challenge::TurnRight,
        &b.frames(),
        true,
        &LivenessConfig::default(),
    );
    assert!(mirrored.passed, "{mirrored:?}");
}

#[test]
fn turning_right_passes_turn_right_only() {
    let b = Burst::new(&turn_sequence(&astronaut_frame(), base_face(), 9, -25.0));
    assert!(b.passes(Challenge::TurnRight));
    assert!(!b.passes(Challenge::TurnLeft));
    // A smaller turn (15 degrees) still counts.
    let b = Burst::new(&turn_sequence(&astronaut_frame(), base_face(), 9, -15.0));
    assert!(b.passes(Challenge::TurnRight));
}

#[test]
fn moving_closer_passes_move_closer_only() {
    let b = Burst::new(&closer_sequence(&astronaut(), 32.0, 0.0, 448.0, 9, 1.35));
    assert!(b.passes(Challenge::MoveCloser));
    assert!(!b.passes(Challenge::TurnLeft));
    assert!(!b.passes(Challenge::TurnRight));
}

#[test]
fn a_photo_slid_or_swung_does_not_turn_its_head() {
    let slid = Burst::new(&slide_sequence(&astronaut(), 32.0, 0.0, 448.0, 9, 0.15));
    let (x, _, w) = base_face();
    let swung = Burst::new(&swung_photo_sequence(
        &astronaut_frame(),
        x as f32 + w as f32 / 2.0,
        9,
        40.0,
    ));
    for (name, b) in [("slid", &slid), ("swung", &swung)] {
        assert!(
            b.passive().reasons.is_empty(),
            "{name} moves: {:?}",
            b.passive()
        );
        assert!(!b.passes(Challenge::TurnLeft), "{name}");
        assert!(!b.passes(Challenge::TurnRight), "{name}");
    }
}

#[test]
fn still_and_frozen_sequences_fail_every_challenge() {
    for seq in [
        still_sequence(&astronaut_frame(), 9, 2.0),
        frozen_sequence(&astronaut_frame(), 9),
    ] {
        let b = Burst::new(&seq);
        for c in Challenge::ALL {
            let r = check_challenge(c, &b.frames(), false, &LivenessConfig::default());
            assert!(!r.passed, "{c:?}");
            assert_eq!(r.reasons, vec![Reason::ChallengeNotDone]);
        }
    }
}
