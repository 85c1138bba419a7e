//! Certificates (R-AS-2, R-AS-6): a real PDF issued with the real CJK font, read
//! back by poppler (`pdftotext` finds the learner's Chinese name and the course
//! title; `pdftoppm` renders the page and its QR code decodes to the statement),
//! checked by `qpdf --check`, and verified — or refused, one altered byte at a time.
//!
//! Needs the Debian packages `fonts-wqy-microhei` (`scripts/deps.sh` installs it)
//! and `poppler-utils`; `qpdf` is optional. A missing tool skips its assertion
//! with a message on stderr, never silently.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use keshi_platform::certificate::{
    bulk_zip, file_name, issue, render, CertificateError, FontData, DEFAULT_FONT,
};
use keshi_protocol::certificate::{
    verify_pdf, verify_qr, AlteredPart, CertError, CertificateStatement,
};
use ring::signature::{Ed25519KeyPair, KeyPair};

fn key(seed: u8) -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap()
}

fn public(k: &Ed25519KeyPair) -> [u8; 32] {
    k.public_key().as_ref().try_into().unwrap()
}

fn font() -> &'static FontData {
    static FONT: OnceLock<FontData> = OnceLock::new();
    FONT.get_or_init(|| {
        FontData::load(DEFAULT_FONT).unwrap_or_else(|e| panic!("{e} (needed by this test)"))
    })
}

fn statement(k: &Ed25519KeyPair) -> CertificateStatement {
    CertificateStatement {
        v: 1,
        serial: "KC-2026-000042".into(),
        learner: "wangxm".into(),
        name: "王晓明".into(),
        id_number_masked: "140105********301X".into(),
        institution: "太原市职业技能培训中心".into(),
        course_id: "elec-safety-2026".into(),
        course_title: "低压电工安全操作规程".into(),
        level: "初级（五级）".into(),
        class_hours: 48,
        credited_seconds: 48 * 45 * 60 + 125,
        score: 87,
        journal_head: "3f".repeat(32),
        checkpoint_size: 18_204,
        checkpoint_root: "9c".repeat(32),
        issued_date: "2026-12-02".into(),
        platform_key: hex::encode(public(k)),
    }
}

fn issued() -> &'static (Vec<u8>, CertificateStatement) {
    static PDF: OnceLock<(Vec<u8>, CertificateStatement)> = OnceLock::new();
    PDF.get_or_init(|| {
        let k = key(3);
        let stmt = statement(&k);
        (issue(&k, &stmt, font()).unwrap(), stmt)
    })
}

fn tool(name: &str) -> bool {
    let found = Command::new(name).arg("-v").output().is_ok();
    if !found {
        eprintln!(
            "SKIPPED: `{name}` is not installed (Debian: apt-get install poppler-utils qpdf)"
        );
    }
    found
}

fn write_temp(dir: &Path, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join("certificate.pdf");
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn an_issued_certificate_verifies_and_is_deterministic() {
    let (pdf, stmt) = issued();
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(&verify_pdf(pdf, &public(&key(3))).unwrap(), stmt);
    // The same statement, font and key: the same bytes.
    assert_eq!(&issue(&key(3), stmt, font()).unwrap(), pdf);
    // The QR text in the PDF verifies on its own.
    let text = String::from_utf8_lossy(pdf);
    let qr = text
        .lines()
        .find_map(|l| l.strip_prefix("%KESHI-CERT "))
        .unwrap();
    assert_eq!(&verify_qr(qr, &public(&key(3))).unwrap(), stmt);
    eprintln!("certificate: {} bytes", pdf.len());
    // To look at it: KESHI_CERT_OUT=/tmp/certificate.pdf cargo test … --test certificate
    if let Some(out) = std::env::var_os("KESHI_CERT_OUT") {
        std::fs::write(out, pdf).unwrap();
    }
}

#[test]
fn pdftotext_reads_the_chinese_name_and_course() {
    if !tool("pdftotext") {
        return;
    }
    let (pdf, stmt) = issued();
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(dir.path(), pdf);
    let out = Command::new("pdftotext")
        .args(["-enc", "UTF-8"])
        .arg(&path)
        .arg("-")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "培训合格证明",
        &stmt.name,
        &stmt.course_title,
        &stmt.institution,
        &stmt.id_number_masked,
        &stmt.serial,
        "扫码验证",
        "2026-12-02",
        "87",
    ] {
        assert!(
            text.contains(needle),
            "{needle:?} not in pdftotext output:\n{text}"
        );
    }
}

/// Poppler renders the page; the QR code on it decodes to the certificate's QR text.
#[test]
fn the_printed_qr_code_scans_to_the_statement() {
    if !tool("pdftoppm") {
        return;
    }
    let (pdf, stmt) = issued();
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(dir.path(), pdf);
    let out = Command::new("pdftoppm")
        .args(["-gray", "-r", "300", "-singlefile"])
        .arg(&path)
        .arg(dir.path().join("page"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pgm = std::fs::read(dir.path().join("page.pgm")).unwrap();
    // Binary PGM: "P5\n<w> <h>\n<max>\n" then one byte per pixel.
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while pgm[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while !pgm[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(std::str::from_utf8(&pgm[start..i]).unwrap().to_owned());
    }
    assert_eq!(fields[0], "P5");
    let (w, h): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let pixels = &pgm[i + 1..];
    assert_eq!(pixels.len(), w * h);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the page");
    let (_, content) = grids[0].decode().unwrap();
    assert!(content.starts_with("KESHI-CERT1."));
    assert_eq!(&verify_qr(&content, &public(&key(3))).unwrap(), stmt);
}

#[test]
fn qpdf_finds_the_pdf_well_formed() {
    if !tool("qpdf") {
        return;
    }
    let (pdf, _) = issued();
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(dir.path(), pdf);
    let out = Command::new("qpdf")
        .arg("--check")
        .arg(&path)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Exit 0: no errors and no warnings (3 would be warnings).
    assert_eq!(out.status.code(), Some(0), "qpdf --check:\n{report}");
    assert!(
        report.contains("No syntax or stream encoding errors"),
        "{report}"
    );
}

#[test]
fn any_altered_byte_of_the_document_is_named() {
    let (pdf, _) = issued();
    let k = public(&key(3));
    // Every 61st byte and the edges of the document (a sweep of every byte is in
    // the protocol's tests, on a small file: each check hashes the whole PDF).
    let cert_start = {
        let needle = b"\n%KESHI-CERT ";
        pdf.windows(needle.len())
            .rposition(|w| w == needle)
            .unwrap()
            + 1
    };
    let mut positions: Vec<usize> = (5..cert_start - 1).step_by(61).collect();
    positions.extend([5, 6, cert_start / 2, cert_start - 7, cert_start - 2]);
    for i in positions {
        let mut bad = pdf.clone();
        bad[i] ^= 0x20;
        let err = verify_pdf(&bad, &k).unwrap_err();
        assert_eq!(
            err,
            CertError::Altered {
                part: AlteredPart::Document
            },
            "byte {i}"
        );
        assert!(err.to_string().contains("altered"));
    }
    // A byte of the statement.
    let mut bad = pdf.clone();
    bad[cert_start + 40] ^= 0x01;
    assert_eq!(
        verify_pdf(&bad, &k).unwrap_err(),
        CertError::Altered {
            part: AlteredPart::CertificateLine
        }
    );
    // The header is what makes it a PDF at all.
    let mut bad = pdf.clone();
    bad[0] = b'#';
    assert_eq!(verify_pdf(&bad, &k).unwrap_err(), CertError::NotPdf);
    // Truncated.
    assert_eq!(
        verify_pdf(&pdf[..pdf.len() / 2], &k).unwrap_err(),
        CertError::Unsealed
    );
    // Under another platform's key.
    assert_eq!(
        verify_pdf(pdf, &public(&key(4))).unwrap_err().code(),
        "other_platform_key"
    );
}

#[test]
fn a_statement_naming_another_key_is_not_issued() {
    let stmt = statement(&key(4));
    let err = issue(&key(3), &stmt, font()).unwrap_err();
    assert!(
        matches!(
            err,
            CertificateError::Statement(CertError::KeyMismatch { .. })
        ),
        "{err}"
    );
    let mut bad = statement(&key(3));
    bad.score = 101;
    assert!(matches!(
        issue(&key(3), &bad, font()).unwrap_err(),
        CertificateError::Statement(CertError::Malformed(_))
    ));
}

#[test]
fn text_the_font_cannot_draw_is_refused() {
    let k = key(3);
    let mut stmt = statement(&k);
    stmt.name = "王🙂".into();
    let err = issue(&k, &stmt, font()).unwrap_err();
    assert!(
        matches!(
            err,
            CertificateError::MissingGlyph {
                ch: '🙂',
                field: "name",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("U+1F642"), "{err}");
}

#[test]
fn long_values_still_render() {
    let k = key(3);
    let mut stmt = statement(&k);
    stmt.course_title = "建筑施工特种作业人员安全技术考核与继续教育".repeat(4);
    stmt.institution = "某某省某某市某某区职业技能公共实训基地（高技能人才培养基地）".into();
    let pdf = issue(&k, &stmt, font()).unwrap();
    assert_eq!(verify_pdf(&pdf, &public(&k)).unwrap(), stmt);
    // render alone gives the unsealed page.
    let page = render(&stmt, "KESHI-CERT1.x.y", font()).unwrap();
    assert_eq!(
        verify_pdf(&page, &public(&k)).unwrap_err(),
        CertError::Unsealed
    );
}

#[test]
fn bulk_download_holds_every_certificate() {
    let k = key(3);
    let mut pdfs = Vec::new();
    for n in 1..=3 {
        let mut stmt = statement(&k);
        stmt.serial = format!("KC-2026-{n:06}");
        stmt.name = ["张三", "李四", "王五"][n - 1].into();
        pdfs.push((file_name(&stmt), issue(&k, &stmt, font()).unwrap(), stmt));
    }
    let zip = bulk_zip(pdfs.iter().map(|(n, p, _)| (n.as_str(), p.as_slice()))).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    assert_eq!(archive.len(), 3);
    for (name, pdf, stmt) in &pdfs {
        let mut entry = archive.by_name(name).unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        assert_eq!(&bytes, pdf);
        assert_eq!(&verify_pdf(&bytes, &public(&k)).unwrap(), stmt);
    }
}
