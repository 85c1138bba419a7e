//! `keshi verify-certificate` on real certificates (R-AS-6): a PDF issued by the
//! platform crate with the real CJK font verifies (exit 0), as does its QR text;
//! one altered byte, another platform's key or a forged QR text exit 1 naming what
//! failed.
//!
//! Needs the Debian package `fonts-wqy-microhei` (`scripts/deps.sh` installs it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

mod common;

use std::process::Output;
use std::sync::OnceLock;

use common::Env;
use keshi_platform::certificate::{issue, FontData, DEFAULT_FONT};
use keshi_protocol::certificate::CertificateStatement;
use ring::signature::{Ed25519KeyPair, KeyPair};

fn key(seed: u8) -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap()
}

fn key_hex(k: &Ed25519KeyPair) -> String {
    hex::encode(k.public_key().as_ref())
}

fn statement() -> CertificateStatement {
    CertificateStatement {
        v: 1,
        serial: "KC-2026-000007".into(),
        learner: "lisi".into(),
        name: "李四".into(),
        id_number_masked: "110105********002X".into(),
        institution: "重庆市沙坪坝区职业技能培训学校".into(),
        course_id: "cook-basic".into(),
        course_title: "中式烹调师（初级）".into(),
        level: "五级".into(),
        class_hours: 24,
        credited_seconds: 24 * 45 * 60,
        score: 78,
        journal_head: "0f".repeat(32),
        checkpoint_size: 9_001,
        checkpoint_root: "e1".repeat(32),
        issued_date: "2026-12-02".into(),
        platform_key: key_hex(&key(5)),
    }
}

/// The issued PDF (issued once for all tests of this file).
fn pdf() -> &'static [u8] {
    static PDF: OnceLock<Vec<u8>> = OnceLock::new();
    PDF.get_or_init(|| {
        let font = FontData::load(DEFAULT_FONT).unwrap_or_else(|e| panic!("{e}"));
        issue(&key(5), &statement(), &font).unwrap()
    })
}

fn qr_text() -> String {
    String::from_utf8_lossy(pdf())
        .lines()
        .find_map(|l| l.strip_prefix("%KESHI-CERT "))
        .unwrap()
        .to_owned()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_valid_certificate_pdf_exits_0_with_its_statement() {
    let env = Env::new();
    let file = env.path("cert.pdf");
    std::fs::write(&file, pdf()).unwrap();
    let key = key_hex(&key(5));
    let out = env.run(&[
        "verify-certificate",
        file.to_str().unwrap(),
        "--platform-key",
        &key,
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    for needle in [
        "证书有效",
        "KC-2026-000007",
        "李四",
        "中式烹调师（初级）",
        "78/100",
    ] {
        assert!(stdout.contains(needle), "{needle:?} not in:\n{stdout}");
    }

    let out = env.run(&[
        "verify-certificate",
        file.to_str().unwrap(),
        "--platform-key",
        &key,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["source"], "pdf");
    let stmt: CertificateStatement = serde_json::from_value(v["statement"].clone()).unwrap();
    assert_eq!(stmt, statement());
}

#[test]
fn the_qr_text_verifies_on_its_own() {
    let env = Env::new();
    let key = key_hex(&key(5));
    let out = env.run(&[
        "verify-certificate",
        &qr_text(),
        "--platform-key",
        &key,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["valid"].clone(), v["source"].clone()),
        (true.into(), "qr".into())
    );

    // One character of the statement changed: forged.
    let mut forged = qr_text().into_bytes();
    let i = forged.len() / 3;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let out = env.run(&[
        "verify-certificate",
        std::str::from_utf8(&forged).unwrap(),
        "--platform-key",
        &key,
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("INVALID"), "{stderr}");
}

#[test]
fn an_altered_byte_exits_1_naming_it() {
    let env = Env::new();
    let mut bad = pdf().to_vec();
    let middle = bad.len() / 2;
    bad[middle] ^= 0x01;
    let file = env.path("altered.pdf");
    std::fs::write(&file, &bad).unwrap();
    let key = key_hex(&key(5));
    let out = env.run(&[
        "verify-certificate",
        file.to_str().unwrap(),
        "--platform-key",
        &key,
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("altered"), "{stderr}");
    assert!(!stdout.contains("证书有效"));

    let out = env.run(&[
        "verify-certificate",
        file.to_str().unwrap(),
        "--platform-key",
        &key,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["code"], "altered");

    // Truncated.
    std::fs::write(&file, &pdf()[..pdf().len() - 40]).unwrap();
    let out = env.run(&[
        "verify-certificate",
        file.to_str().unwrap(),
        "--platform-key",
        &key,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("truncated"), "{:?}", text(&out));
}

#[test]
fn another_platforms_key_exits_1() {
    let env = Env::new();
    let file = env.path("cert.pdf");
    std::fs::write(&file, pdf()).unwrap();
    let wrong = key_hex(&key(6));
    let out = env.run(&[
        "verify-certificate",
        file.to_str().unwrap(),
        "--platform-key",
        &wrong,
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("another platform key"), "{stderr}");
    let out = env.run(&["verify-certificate", &qr_text(), "--platform-key", &wrong]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn unusable_arguments_exit_2_or_name_the_file() {
    let env = Env::new();
    // Not a key: the command cannot run.
    let out = env.run(&["verify-certificate", "x.pdf", "--platform-key", "abc"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("64 hex digits"));
    // 64 hex digits, but no point of the curve: no signature verifies under it.
    let out = env.run(&[
        "verify-certificate",
        "x.pdf",
        "--platform-key",
        &"ab".repeat(32),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("not usable"), "{:?}", text(&out));
    // Neither a file nor QR text.
    let key = key_hex(&key(5));
    let out = env.run(&["verify-certificate", "missing.pdf", "--platform-key", &key]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("no such file"), "{:?}", text(&out));
}
