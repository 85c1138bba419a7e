//! Prints quality metrics on real photos and their degraded versions (run with
//! `--ignored --nocapture`); used to choose the thresholds in `quality.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code
mod common;
use capture::detect::{DetectorConfig, FaceDetector};
use capture::quality::QualityGate;
use common::*;

#[test]
#[ignore]
fn print_quality_metrics() {
    let det = FaceDetector::new(DetectorConfig::default()).unwrap();
    let gate = QualityGate::default();
    let a = astronaut_frame();
    let c = camera_frame();
    let mut cases: Vec<(String, image::RgbImage)> = vec![
        ("astronaut".into(), a.clone()),
        ("camera".into(), c.clone()),
        ("two".into(), two_faces_frame()),
        ("tiny".into(), tiny_face_frame()),
        ("astro noisy8".into(), noisy(&a, 8.0, 1)),
    ];
    for s in [1.0, 2.0, 3.0, 4.0, 6.0, 8.0] {
        cases.push((format!("astro blur{s}"), blur(&a, s)));
        cases.push((format!("camera blur{s}"), blur(&c, s)));
    }
    for k in [0.1, 0.2, 0.3, 0.4, 0.5] {
        cases.push((format!("astro dark{k}"), exposure(&a, k, 0.0)));
        cases.push((format!("camera dark{k}"), exposure(&c, k, 0.0)));
    }
    for add in [60.0, 100.0, 140.0] {
        cases.push((format!("astro bright+{add}"), exposure(&a, 1.0, add)));
        cases.push((format!("camera bright+{add}"), exposure(&c, 1.0, add)));
    }
    for n in NON_FACE_PHOTOS {
        cases.push((n.into(), scene_frame(n)));
    }
    for (name, img) in cases {
        let g = gray(&img);
        let t = std::time::Instant::now();
        let faces = det.detect(&g).unwrap();
        let el = t.elapsed();
        let r = gate.assess(&g, &faces);
        println!(
            "{name:20} {:?} faces={:?} {:?} {:?} {:?}",
            el,
            faces
                .iter()
                .map(|f| (
                    f.bbox.x,
                    f.bbox.y,
                    f.bbox.w,
                    (f.score * 10.0).round() / 10.0
                ))
                .collect::<Vec<_>>(),
            r.verdict,
            r.reasons,
            r.metrics
        );
    }
    let lfw = lfw_subset();
    let mut s: Vec<(usize, f64)> = lfw
        .iter()
        .enumerate()
        .map(|(i, im)| {
            let f = det.detect(&lfw_canvas(im)).unwrap();
            (i, f.first().map(|f| f.score).unwrap_or(0.0))
        })
        .collect();
    let found = s[..100].iter().filter(|x| x.1 > 0.0).count();
    let fp = s[100..].iter().filter(|x| x.1 > 0.0).count();
    println!("lfw found {found}/100, false {fp}/100");
    s.sort_by(|a, b| a.1.total_cmp(&b.1));
    println!("lowest {:?}", &s[..6]);
}

#[test]
#[ignore]
fn lfw_sweep() {
    let lfw = lfw_subset();
    for (side, up) in [(240u32, 1.0f32), (480, 2.0)] {
        for step in [2u32, 4, 8] {
            let det = FaceDetector::new(DetectorConfig {
                work_short_side: side,
                max_upscale: up,
                window_step: step,
                score_threshold: 0.1,
                ..Default::default()
            })
            .unwrap();
            let scores: Vec<f64> = lfw
                .iter()
                .map(|im| {
                    det.detect(&lfw_canvas(im))
                        .unwrap()
                        .first()
                        .map(|f| f.score)
                        .unwrap_or(0.0)
                })
                .collect();
            for thr in [2.0, 3.0, 4.0] {
                let found = scores[..100].iter().filter(|s| **s >= thr).count();
                let fp = scores[100..].iter().filter(|s| **s >= thr).count();
                println!("side{side} up{up} step{step} thr{thr}: {found}/100 faces, {fp} false");
            }
            let missed: Vec<usize> = (0..100).filter(|i| scores[*i] < 3.0).collect();
            println!("   missed at 3: {missed:?}");
        }
    }
}

#[test]
#[ignore]
fn scene_sweep() {
    let dir = images_dir();
    let det = FaceDetector::new(DetectorConfig {
        work_short_side: 480,
        max_upscale: 2.0,
        score_threshold: 0.1,
        ..Default::default()
    })
    .unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".png") || n.ends_with(".jpg"))
        .collect();
    names.sort();
    for n in names {
        let Ok(img) = image::open(dir.join(&n)) else {
            continue;
        };
        let g = img.to_luma8();
        let f = det.detect(&g).unwrap();
        println!(
            "{n:28} {:?}",
            f.iter()
                .map(|f| (f.bbox.w, (f.score * 100.0).round() / 100.0))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
#[ignore]
fn liveness_metrics() {
    use capture::liveness::*;
    let det = FaceDetector::new(DetectorConfig::default()).unwrap();
    let cfg = LivenessConfig::default();
    let a = rgb("astronaut.png");
    let base = astronaut_frame();
    let f0 = det.detect(&gray(&base)).unwrap()[0];
    let face = (f0.bbox.x, f0.bbox.y, f0.bbox.w);
    let mut seqs: Vec<(String, Vec<image::RgbImage>)> = vec![
        (
            "moving 1%".into(),
            moving_sequence(&a, 32.0, 0.0, 448.0, 6, 0.01),
        ),
        (
            "moving 0.5%".into(),
            moving_sequence(&a, 32.0, 0.0, 448.0, 6, 0.005),
        ),
        (
            "moving 0.2%".into(),
            moving_sequence(&a, 32.0, 0.0, 448.0, 6, 0.002),
        ),
        ("still s2".into(), still_sequence(&base, 6, 2.0)),
        ("still s6".into(), still_sequence(&base, 6, 6.0)),
        (
            "still camera s3".into(),
            still_sequence(&camera_frame(), 6, 3.0),
        ),
        ("frozen".into(), frozen_sequence(&base, 6)),
        ("turn +25".into(), turn_sequence(&base, face, 9, 25.0)),
        ("turn -25".into(), turn_sequence(&base, face, 9, -25.0)),
        ("turn +15".into(), turn_sequence(&base, face, 9, 15.0)),
        (
            "closer 1.35".into(),
            closer_sequence(&a, 32.0, 0.0, 448.0, 9, 1.35),
        ),
        (
            "slide 0.15".into(),
            slide_sequence(&a, 32.0, 0.0, 448.0, 9, 0.15),
        ),
        (
            "swung 40".into(),
            swung_photo_sequence(&base, f0.bbox.x as f32 + f0.bbox.w as f32 / 2.0, 9, 40.0),
        ),
    ];
    let mut loop_seq = moving_sequence(&a, 32.0, 0.0, 448.0, 3, 0.01);
    loop_seq.extend(loop_seq.clone());
    seqs.push(("loop 3+3".into(), loop_seq));
    for (name, seq) in seqs {
        let grays: Vec<_> = seq.iter().map(gray).collect();
        let faces: Vec<_> = grays
            .iter()
            .map(|g| det.detect(g).unwrap().first().copied())
            .collect();
        let frames: Vec<BurstFrame> = grays
            .iter()
            .zip(&faces)
            .enumerate()
            .map(|(i, (g, f))| BurstFrame {
                gray: g,
                t_ms: i as u64 * 200,
                face: *f,
            })
            .collect();
        let b0 = frames[0].face.unwrap().bbox;
        let axes: Vec<String> = frames
            .iter()
            .map(|f| {
                strip_flow(frames[0].gray, &b0, f.gray, &f.face.unwrap().bbox)
                    .map(|(l, c, r)| format!("{l:.3}/{c:.3}/{r:.3}"))
                    .unwrap_or("-".into())
            })
            .collect();
        let p = passive_check(&frames, &cfg);
        let l = check_challenge(Challenge::TurnLeft, &frames, false, &cfg);
        println!(
            "{name:14} {:?} {:?}\n      {:?}\n      axes {:?} boxes {:?}",
            p.reasons,
            p.metrics,
            l.metrics,
            axes,
            faces
                .iter()
                .map(|f| f.map(|f| (f.bbox.x, f.bbox.y, f.bbox.w)))
                .collect::<Vec<_>>()
        );
    }
}
