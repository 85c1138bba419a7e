//! Capture benchmarks (issue 5 targets: detection <= 30 ms on a 640x480 frame on one
//! core; a whole capture <= 300 ms; presence watch < 2% of one core).
//!
//! Needs scikit-image's sample photos:
//! `KESHI_TEST_IMAGES="$(capture/tests/test-images.sh)" cargo bench -p keshi-capture --bench capture`
#![allow(missing_docs)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Cursor;

use capture::blob::BlobStore;
use capture::capture::Capturer;
use capture::detect::{DetectorConfig, FaceDetector};
use capture::frame::Frame;
use capture::liveness::{passive_check, BurstFrame, Challenge, LivenessConfig};
use capture::quality::QualityGate;
use capture::snapshot::{encode_snapshot, CapturePurpose, SnapshotConfig, SnapshotMeta};
use capture::source::push::{push_source, PushLimits};
use capture::source::{SourceInfo, SourceKind};
use common::*;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use image::ImageFormat;

fn meta() -> SnapshotMeta {
    SnapshotMeta {
        captured_at_ms: 1_767_225_600_000,
        learner_id: "learner-7".into(),
        course_id: "course-3".into(),
        class_hour: Some(2),
        purpose: CapturePurpose::ClassHour,
    }
}

fn detection(c: &mut Criterion) {
    let face = gray(&astronaut_frame());
    let empty = gray(&scene_frame("coffee.png"));
    let mut g = c.benchmark_group("detect_640x480");
    for (name, cfg) in [
        ("live_step4", DetectorConfig::default()),
        ("presence_step8", DetectorConfig::presence()),
        ("thorough", DetectorConfig::thorough()),
        (
            "full_res_step4",
            DetectorConfig {
                work_short_side: 480,
                max_upscale: 1.0,
                ..DetectorConfig::default()
            },
        ),
    ] {
        let det = FaceDetector::new(cfg).expect("model");
        g.bench_function(format!("{name}/face"), |b| {
            b.iter(|| det.detect(&face).expect("detect"))
        });
        g.bench_function(format!("{name}/no_face"), |b| {
            b.iter(|| det.detect(&empty).expect("detect"))
        });
    }
    g.finish();
    c.bench_function("model_load", |b| {
        b.iter(|| FaceDetector::new(DetectorConfig::default()).expect("model"))
    });
}

fn checks(c: &mut Criterion) {
    let det = FaceDetector::new(DetectorConfig::default()).expect("model");
    let frame = astronaut_frame();
    let g0 = gray(&frame);
    let faces = det.detect(&g0).expect("detect");
    let gate = QualityGate::default();
    c.bench_function("quality_gate", |b| b.iter(|| gate.assess(&g0, &faces)));

    let seq = moving_sequence(&rgb("astronaut.png"), 32.0, 0.0, 448.0, 5, 0.005);
    let grays: Vec<_> = seq.iter().map(gray).collect();
    let fs: Vec<_> = grays
        .iter()
        .map(|g| det.detect(g).expect("detect").first().copied())
        .collect();
    let burst: Vec<BurstFrame> = grays
        .iter()
        .zip(&fs)
        .enumerate()
        .map(|(i, (g, f))| BurstFrame {
            gray: g,
            t_ms: i as u64 * 200,
            face: *f,
        })
        .collect();
    let cfg = LivenessConfig::default();
    c.bench_function("passive_liveness_5_frames", |b| {
        b.iter(|| passive_check(&burst, &cfg))
    });
    c.bench_function("snapshot_jpeg_sha256", |b| {
        b.iter(|| encode_snapshot(&frame, &meta(), &SnapshotConfig::default()).expect("jpeg"))
    });
}

fn whole_capture(c: &mut Criterion) {
    let capturer = Capturer::with_defaults().expect("capturer");
    let seq = moving_sequence(&rgb("astronaut.png"), 32.0, 0.0, 448.0, 5, 0.005);
    let frames: Vec<Frame> = seq
        .iter()
        .enumerate()
        .map(|(i, f)| Frame::new(f.clone(), i as u64 * 200))
        .collect();
    let info = SourceInfo {
        kind: SourceKind::DesktopCamera,
        device_name: "Integrated Camera".into(),
        mirrored: false,
    };
    c.bench_function("capture_analyse_5_frames", |b| {
        b.iter(|| {
            capturer
                .analyse(&frames, &info, None, &meta())
                .expect("capture")
        })
    });

    // Login liveness: a 15-frame head-turn burst with the turn-left challenge.
    let det = FaceDetector::new(DetectorConfig::default()).expect("model");
    let f0 = det.detect(&gray(&astronaut_frame())).expect("detect")[0].bbox;
    let turn: Vec<Frame> = turn_sequence(&astronaut_frame(), (f0.x, f0.y, f0.w), 15, 25.0)
        .into_iter()
        .enumerate()
        .map(|(i, f)| Frame::new(f, i as u64 * 150))
        .collect();
    let mut login = meta();
    login.purpose = CapturePurpose::Login;
    c.bench_function("login_analyse_15_frames_turn_left", |b| {
        b.iter(|| {
            capturer
                .analyse(&turn, &info, Some(Challenge::TurnLeft), &login)
                .expect("login")
        })
    });

    // Pushed JPEG frames (the web view / mobile path): decode + analyse + JPEG + hash +
    // fsync'd write into the blob store.
    let jpegs: Vec<Vec<u8>> = seq
        .iter()
        .map(|f| {
            let mut buf = Vec::new();
            f.write_to(&mut Cursor::new(&mut buf), ImageFormat::Jpeg)
                .expect("jpeg");
            buf
        })
        .collect();
    let dir = tempfile::tempdir().expect("tmp");
    let store = BlobStore::open(dir.path()).expect("store");
    let mut n = 0u64;
    c.bench_function("capture_pushed_5_frames_to_store", |b| {
        b.iter_batched(
            || {
                let (src, feeder) = push_source("Integrated Camera", false, PushLimits::default());
                for (i, j) in jpegs.iter().enumerate() {
                    feeder.feed(j.clone(), i as u64 * 200).expect("feed");
                }
                n += 1;
                (src, feeder, n)
            },
            |(mut src, _feeder, n)| {
                let mut m = meta();
                // A new time each run, so each photo is new to the store.
                m.captured_at_ms += n as i64;
                capturer
                    .capture(&mut src, None, &m, &store)
                    .expect("capture")
            },
            BatchSize::PerIteration,
        )
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = detection, checks, whole_capture
}
criterion_main!(benches);
