//! Whole captures through the production frame path (encoded frames pushed in, as the
//! web view and the mobile plugin do): burst, checks, JPEG, hash, blob store, outcome.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code
mod common;

use std::io::Cursor;

use capture::blob::BlobStore;
use capture::capture::{CaptureOutcome, Capturer};
use capture::error::{CameraErrorKind, CaptureError};
use capture::frame::Frame;
use capture::liveness::Challenge;
use capture::snapshot::{read_comment, sha256_hex, CapturePurpose, SnapshotMeta};
use capture::source::push::{push_source, PushLimits};
use capture::source::{FrameSource, SourceInfo, SourceKind};
use capture::{Reason, Verdict};
use common::*;
use image::{ImageFormat, RgbImage};
use rand::SeedableRng;

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn meta(purpose: CapturePurpose) -> SnapshotMeta {
    SnapshotMeta {
        captured_at_ms: T0,
        learner_id: "learner-7".into(),
        course_id: "course-3".into(),
        class_hour: Some(2),
        purpose,
    }
}

/// Pushes each frame as a JPEG, 100 ms apart, like the web view would.
fn pushed(seq: &[RgbImage], device: &str) -> impl FrameSource {
    let (src, feeder) = push_source(
        device,
        false,
        PushLimits {
            queue: 64,
            timeout_ms: 50,
            ..Default::default()
        },
    );
    for (i, f) in seq.iter().enumerate() {
        let mut buf = Vec::new();
        f.write_to(&mut Cursor::new(&mut buf), ImageFormat::Jpeg)
            .expect("encode");
        feeder.feed(buf, 10_000 + i as u64 * 100).expect("feed");
    }
    src
}

/// Every other frame pushed is skipped by a 200 ms burst interval, so a sequence of
/// `n` burst frames needs `2n - 1` pushed frames.
fn doubled(seq: Vec<RgbImage>) -> Vec<RgbImage> {
    seq.into_iter().flat_map(|f| [f.clone(), f]).collect()
}

#[test]
fn a_live_learner_is_accepted_and_the_photo_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let capturer = Capturer::with_defaults().unwrap();
    let seq = moving_sequence(&rgb("astronaut.png"), 32.0, 0.0, 448.0, 5, 0.005);
    let mut src = pushed(&doubled(seq), "Integrated Camera");
    let r = capturer
        .capture(&mut src, None, &meta(CapturePurpose::ClassHour), &store)
        .unwrap();
    let o = &r.outcome;
    assert_eq!(o.verdict, Verdict::Accept, "{o:?}");
    assert!(o.reasons.is_empty());
    assert_eq!((o.faces, o.frames), (1, 5));
    assert_eq!(o.source, SourceKind::Pushed);
    assert_eq!(o.captured_at_ms, T0);

    // The photo: in the store under its hash, bounded, with its metadata.
    let hash = o.image_sha256.clone().unwrap();
    let jpeg = store.get(&hash).unwrap().unwrap();
    assert_eq!(sha256_hex(&jpeg), hash);
    assert_eq!(o.image_bytes, Some(jpeg.len() as u64));
    assert!(jpeg.len() <= 96 * 1024);
    let c: serde_json::Value = serde_json::from_str(&read_comment(&jpeg).unwrap()).unwrap();
    assert_eq!(c["time"], "2026-01-01T00:00:00Z");
    assert_eq!(c["learner"], "learner-7");
    assert_eq!(c["course"], "course-3");
    assert_eq!(c["class_hour"], 2);

    // The journal record round-trips and keeps verifying after the photo is erased.
    let json = serde_json::to_string(o).unwrap();
    let back: CaptureOutcome = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, o);
    assert!(json.contains("\"verdict\":\"accept\""), "{json}");
    assert!(store.erase(&hash).unwrap());
    assert_eq!(store.get(&hash).unwrap(), None);
    assert_eq!(back.image_sha256.as_deref(), Some(hash.as_str()));
}

#[test]
fn frozen_still_and_virtual_feeds_are_rejected_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let capturer = Capturer::with_defaults().unwrap();
    let m = meta(CapturePurpose::ClassHour);
    let frame = astronaut_frame();
    let moving = moving_sequence(&rgb("astronaut.png"), 32.0, 0.0, 448.0, 5, 0.005);
    let cases: Vec<(Vec<RgbImage>, &str, Reason)> = vec![
        (
            frozen_sequence(&frame, 9),
            "Integrated Camera",
            Reason::FrozenFrame,
        ),
        (
            still_sequence(&frame, 9, 3.0),
            "Integrated Camera",
            Reason::NoMotion,
        ),
        (doubled(moving), "OBS Virtual Camera", Reason::VirtualCamera),
        (
            doubled(still_sequence(&two_faces_frame(), 5, 2.0)),
            "Integrated Camera",
            Reason::MultipleFaces,
        ),
    ];
    for (seq, device, want) in cases {
        let mut src = pushed(&seq, device);
        let r = capturer.capture(&mut src, None, &m, &store).unwrap();
        assert_eq!(r.outcome.verdict, Verdict::Reject, "{want:?}");
        assert!(
            r.outcome.reasons.contains(&want),
            "{want:?}: {:?}",
            r.outcome
        );
        // Rejected captures keep their photo as evidence.
        assert!(r.outcome.image_sha256.is_some());
    }
}

#[test]
fn login_challenge_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let capturer = Capturer::with_defaults().unwrap();
    let m = meta(CapturePurpose::Login);
    let det = capture::FaceDetector::new(Default::default()).unwrap();
    let f = det.detect(&gray(&astronaut_frame())).unwrap()[0].bbox;
    // 15 frames 150 ms apart: push every 100 ms, the burst keeps every other one (200 ms).
    let turn = turn_sequence(&astronaut_frame(), (f.x, f.y, f.w), 15, 25.0);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let challenge = Challenge::pick(&mut rng);
    let mut done_right = false;
    for c in Challenge::ALL {
        let mut src = pushed(&doubled(turn.clone()), "Integrated Camera");
        let r = capturer.capture(&mut src, Some(c), &m, &store).unwrap();
        assert_eq!(r.outcome.challenge, Some(c));
        if c == Challenge::TurnLeft {
            assert_eq!(r.outcome.verdict, Verdict::Accept, "{:?}", r.outcome);
            done_right = true;
        } else {
            assert_eq!(r.outcome.reasons, vec![Reason::ChallengeNotDone], "{c:?}");
        }
    }
    assert!(done_right);
    assert!(Challenge::ALL.contains(&challenge));
}

/// A source that fails like a camera unplugged after `ok` frames.
struct Unplugged {
    info: SourceInfo,
    frames: Vec<RgbImage>,
    ok: usize,
    served: usize,
}

impl FrameSource for Unplugged {
    fn info(&self) -> &SourceInfo {
        &self.info
    }
    fn next_frame(&mut self) -> Result<Frame, CaptureError> {
        if self.served >= self.ok {
            return Err(CaptureError::Camera {
                kind: CameraErrorKind::Disconnected,
                detail: "No such device (os error 19)".into(),
            });
        }
        self.served += 1;
        Ok(Frame::new(
            self.frames[self.served - 1].clone(),
            self.served as u64 * 250,
        ))
    }
}

#[test]
fn camera_failure_still_gives_an_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let capturer = Capturer::with_defaults().unwrap();
    let mut src = Unplugged {
        info: SourceInfo {
            kind: SourceKind::DesktopCamera,
            device_name: "USB Camera".into(),
            mirrored: false,
        },
        frames: vec![astronaut_frame()],
        ok: 1,
        served: 0,
    };
    let r = capturer
        .capture(&mut src, None, &meta(CapturePurpose::ClassHour), &store)
        .unwrap();
    assert_eq!(r.outcome.verdict, Verdict::Reject);
    assert_eq!(r.outcome.reasons, vec![Reason::NoFrames]);
    assert_eq!(r.outcome.camera_error, Some(CameraErrorKind::Disconnected));
    assert_eq!(r.outcome.image_sha256, None);
    let json = serde_json::to_value(&r.outcome).unwrap();
    assert_eq!(json["camera_error"], "camera_disconnected");
    assert_eq!(json["reasons"][0], "no_frames");
}
