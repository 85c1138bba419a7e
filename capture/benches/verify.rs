//! Face verification benchmarks (issue 14 targets: one verification — landmarks, warp,
//! embedding — <= 40 ms on one core; a 5-frame capture with verification <= 400 ms).
//!
//! Needs the feature and scikit-image's photos:
//! `KESHI_TEST_IMAGES="$(capture/tests/test-images.sh)" cargo bench -p keshi-capture
//! --features face-verify --bench verify`. Figures: `BENCHMARKS.md`, "Face verification".
#![allow(missing_docs)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

#[path = "../tests/common/mod.rs"]
mod common;

use capture::align;
use capture::detect::DetectorConfig;
use capture::landmarks;
use capture::liveness::{passive_check, BurstFrame, LivenessConfig};
use capture::verify::{FaceVerifier, Template};
use common::*;
use criterion::{criterion_group, criterion_main, Criterion};

fn verification(c: &mut Criterion) {
    let v = FaceVerifier::new(DetectorConfig::default()).expect("models");
    let frame = astronaut_frame();
    let gray = gray(&frame);
    let face = v.detector().detect(&gray).expect("detect")[0];
    let lm = v.landmarks_for_face(&frame, &face).expect("landmarks");
    let chip = align::align_face(&frame, &landmarks::five_points(&lm)).expect("chip");
    let mut g = c.benchmark_group("verify_640x480");
    g.sample_size(20);
    g.bench_function("landmarks", |b| {
        let roi = landmarks::roi_from_bbox(&face.bbox);
        b.iter(|| v.landmarks_in(&frame, &roi).expect("landmarks"))
    });
    g.bench_function("align", |b| {
        b.iter(|| align::align_face(&frame, &landmarks::five_points(&lm)).expect("chip"))
    });
    g.bench_function("embed", |b| b.iter(|| v.embed_chip(&chip).expect("embed")));
    // The "one verification": landmarks + warp + embedding of a detected face.
    g.bench_function("one_verification", |b| {
        b.iter(|| {
            let lm = v.landmarks_for_face(&frame, &face).expect("landmarks");
            v.analyse_landmarks(&frame, Some(face), lm)
                .expect("analyse")
        })
    });
    let template = Template::new(vec![v.embed(&frame).expect("embed")]).expect("template");
    let burst = moving_sequence(&rgb("astronaut.png"), 32.0, 0.0, 448.0, 5, 0.004);
    // A class-hour capture: 5 frames, detection on the first, landmarks tracked after,
    // passive liveness, verification of the fused embedding.
    g.bench_function("capture_5_frames_with_verification", |b| {
        b.iter(|| {
            let grays: Vec<_> = burst.iter().map(common::gray).collect();
            let faces: Vec<_> = grays
                .iter()
                .map(|g| v.detector().detect(g).expect("detect").first().copied())
                .collect();
            let frames: Vec<BurstFrame<'_>> = grays
                .iter()
                .zip(&faces)
                .enumerate()
                .map(|(i, (g, f))| BurstFrame {
                    gray: g,
                    t_ms: i as u64 * 200,
                    face: *f,
                })
                .collect();
            let passive = passive_check(&frames, &LivenessConfig::default());
            let verdict = v.verify_frames(&template, &burst).expect("verify");
            (passive, verdict)
        })
    });
    g.finish();
    c.bench_function("load_models", |b| {
        b.iter(|| FaceVerifier::new(DetectorConfig::default()).expect("models"))
    });
}

criterion_group!(benches, verification);
criterion_main!(benches);
