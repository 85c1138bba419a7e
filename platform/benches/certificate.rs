//! Certificates (R-AS-6): how many PDFs a core issues per second (sign, render with
//! krilla and subset the CJK font, seal), how large one is, how fast one verifies,
//! and a bulk ZIP of them. Prints one JSON line per figure; `BENCHMARKS.md` quotes
//! them with the command.
//!
//! ```text
//! cargo bench -p keshi-platform --bench certificate
//! ```
//!
//! Environment: `KESHI_BENCH_CERTS` (default 200 certificates), `KESHI_CERT_FONT`
//! (default the Debian package's WenQuanYi Micro Hei). One thread: a platform
//! issuing in bulk would run one per core.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss
)] // bench code

use std::time::Instant;

use keshi_platform::certificate::{bulk_zip, file_name, issue, FontData, DEFAULT_FONT};
use keshi_protocol::certificate::{verify_pdf, CertificateStatement};
use ring::signature::{Ed25519KeyPair, KeyPair};

mod common;
use common::load;

const SURNAMES: [&str; 8] = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄"];
const GIVEN: [&str; 8] = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强"];
const COURSES: [&str; 4] = [
    "低压电工安全操作规程",
    "中式烹调师（初级）",
    "养老护理员职业技能培训",
    "电子商务运营实务",
];

fn statement(k: usize, key: &Ed25519KeyPair) -> CertificateStatement {
    CertificateStatement {
        v: 1,
        serial: format!("KC-2026-{k:06}"),
        learner: format!("u{k:06}"),
        name: format!("{}{}", SURNAMES[k % 8], GIVEN[k / 8 % 8]),
        id_number_masked: "140105********301X".into(),
        institution: "太原市职业技能培训中心".into(),
        course_id: format!("course-{}", k % 4),
        course_title: COURSES[k % 4].into(),
        level: "初级（五级）".into(),
        class_hours: 48,
        credited_seconds: 48 * 45 * 60,
        score: 60 + (k % 41) as u32,
        journal_head: format!("{:064x}", k * 7919),
        checkpoint_size: 10_000 + k as u64,
        checkpoint_root: format!("{:064x}", k * 104_729),
        issued_date: "2026-12-02".into(),
        platform_key: hex::encode(key.public_key().as_ref()),
    }
}

fn main() {
    let n: usize = std::env::var("KESHI_BENCH_CERTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let font_path = std::env::var("KESHI_CERT_FONT").unwrap_or_else(|_| DEFAULT_FONT.to_owned());
    let t = Instant::now();
    let font = FontData::load(&font_path).unwrap_or_else(|e| panic!("{e}"));
    let font_load_ms = t.elapsed().as_secs_f64() * 1000.0;
    let key = Ed25519KeyPair::from_seed_unchecked(&[42; 32]).unwrap();
    let public: [u8; 32] = key.public_key().as_ref().try_into().unwrap();
    let statements: Vec<_> = (0..n).map(|k| statement(k, &key)).collect();

    // One alone first: the latency of a single certificate asked for on request.
    let t = Instant::now();
    let first = issue(&key, &statements[0], &font).unwrap();
    let first_ms = t.elapsed().as_secs_f64() * 1000.0;

    let t = Instant::now();
    let pdfs: Vec<Vec<u8>> = statements
        .iter()
        .map(|s| issue(&key, s, &font).unwrap())
        .collect();
    let issue_s = t.elapsed().as_secs_f64();
    assert_eq!(pdfs[0], first);
    let bytes: usize = pdfs.iter().map(Vec::len).sum();
    println!(
        "{}",
        serde_json::json!({
            "bench": "certificate_issue", "certificates": n, "threads": 1,
            "font": font_path, "font_load_ms": (font_load_ms * 10.0).round() / 10.0,
            "first_ms": (first_ms * 10.0).round() / 10.0,
            "seconds": (issue_s * 100.0).round() / 100.0,
            "pdfs_per_s": (n as f64 / issue_s * 10.0).round() / 10.0,
            "ms_per_pdf": (issue_s * 1000.0 / n as f64 * 10.0).round() / 10.0,
            "bytes_per_pdf": bytes / n,
            "min_bytes": pdfs.iter().map(Vec::len).min(),
            "max_bytes": pdfs.iter().map(Vec::len).max(),
            "load": load(),
        })
    );

    let t = Instant::now();
    for (pdf, s) in pdfs.iter().zip(&statements) {
        assert_eq!(&verify_pdf(pdf, &public).unwrap(), s);
    }
    let verify_s = t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "bench": "certificate_verify", "certificates": n,
            "verifications_per_s": (n as f64 / verify_s).round(),
            "us_per_pdf": (verify_s * 1e6 / n as f64).round(),
            "load": load(),
        })
    );

    let names: Vec<String> = statements.iter().map(file_name).collect();
    let t = Instant::now();
    let zip = bulk_zip(
        names
            .iter()
            .zip(&pdfs)
            .map(|(name, pdf)| (name.as_str(), pdf.as_slice())),
    )
    .unwrap();
    let zip_s = t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "bench": "certificate_bulk_zip", "certificates": n, "zip_bytes": zip.len(),
            "ms": (zip_s * 1000.0 * 10.0).round() / 10.0,
            "load": load(),
        })
    );
}
