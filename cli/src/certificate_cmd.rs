//! `keshi verify-certificate`: checks an issued certificate (R-AS-6) — the PDF's
//! seal and statement, or the text of its QR code — under the platform's public
//! key, with `keshi_protocol::certificate`. Exit 0 valid, 1 forged or altered
//! (what failed is printed), 2 when the command itself cannot run.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use keshi_protocol::certificate::{
    verify_pdf, verify_qr, CertError, CertificateStatement, QR_PREFIX,
};

/// `keshi verify-certificate`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// An issued certificate PDF, or the text of its QR code (KESHI-CERT1.…): an
    /// existing file is read as a PDF, anything else as QR text.
    certificate: OsString,
    /// The issuing platform's Ed25519 public key (64 hex digits).
    #[arg(long)]
    platform_key: String,
    /// Print the result as one JSON object: `{"valid": true, "statement": …}` or
    /// `{"valid": false, "code": …, "error": …}`.
    #[arg(long)]
    json: bool,
}

/// Runs `keshi verify-certificate`.
pub fn verify(args: VerifyArgs) -> Result<ExitCode> {
    let key = hex::decode(args.platform_key.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .context("--platform-key must be 64 hex digits (the platform's Ed25519 public key)")?;
    keshi_protocol::sig::PublicKey::parse(&key)
        .map_err(|e| anyhow::anyhow!("--platform-key is not usable: {e}"))?;
    let path = Path::new(&args.certificate);
    let (source, result) = if path.is_file() {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        ("pdf", verify_pdf(&bytes, &key))
    } else {
        let text = args.certificate.to_string_lossy();
        ("qr", verify_qr(&text, &key))
    };
    match result {
        Ok(stmt) => {
            if args.json {
                crate::print_json(&serde_json::json!({
                    "valid": true, "source": source, "statement": stmt,
                }))?;
            } else {
                print_summary(&stmt, source);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let mut message = e.to_string();
            if source == "qr"
                && matches!(e, CertError::NotKeshi)
                && !looks_like_qr(&args.certificate)
            {
                message = format!(
                    "{}: no such file, and not a certificate's QR text ({QR_PREFIX}…)",
                    path.display()
                );
            }
            if args.json {
                crate::print_json(&serde_json::json!({
                    "valid": false, "source": source, "code": e.code(), "error": message,
                }))?;
            }
            eprintln!("keshi: certificate INVALID 证书无效: {message}");
            Ok(ExitCode::from(1))
        }
    }
}

fn looks_like_qr(arg: &OsString) -> bool {
    arg.to_string_lossy().trim_start().starts_with("KESHI-")
}

fn abbreviate(hex: &str) -> String {
    match (hex.get(..8), hex.get(hex.len().saturating_sub(8)..)) {
        (Some(a), Some(b)) if hex.len() > 20 => format!("{a}…{b}"),
        _ => hex.to_owned(),
    }
}

fn print_summary(s: &CertificateStatement, source: &str) {
    let what = if source == "pdf" {
        "PDF sealed and statement signed"
    } else {
        "QR statement signed"
    };
    println!(
        "valid certificate 证书有效: {} — {what} by platform key {}",
        s.serial,
        abbreviate(&s.platform_key)
    );
    println!(
        "  学员 learner      {} ({}), ID {}",
        s.name, s.learner, s.id_number_masked
    );
    println!("  机构 institution  {}", s.institution);
    let level = if s.level.is_empty() {
        String::new()
    } else {
        format!(", level 等级 {}", s.level)
    };
    println!(
        "  课程 course       {} ({}){level}",
        s.course_title, s.course_id
    );
    println!(
        "  学时 class hours  {} (credited {} h {} min), score 成绩 {}/100",
        s.class_hours,
        s.credited_seconds / 3600,
        s.credited_seconds % 3600 / 60,
        s.score
    );
    println!("  发证 issued       {}", s.issued_date);
    println!(
        "  记录 record       checkpoint {} records, root {}; journal head {}",
        s.checkpoint_size,
        abbreviate(&s.checkpoint_root),
        abbreviate(&s.journal_head)
    );
}

/// `keshi verify-archive`.
#[derive(clap::Args, Debug)]
pub struct VerifyArchiveArgs {
    /// A learner's archive (`keshi-platform admin archive`, a ZIP).
    archive: std::path::PathBuf,
    /// The issuing platform's Ed25519 public key (64 hex digits).
    #[arg(long)]
    platform_key: String,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs `keshi verify-archive` (R-SV-5): every record's signature and chain, its
/// inclusion in the signed checkpoint, every photo's hash and every certificate,
/// with nothing but the archive and the key. Exit 0 valid, 1 not (each problem
/// named), 2 when the command itself cannot run.
pub fn verify_archive(args: VerifyArchiveArgs) -> Result<ExitCode> {
    use keshi_protocol::archive::{verify, ArchiveManifest, ArchiveRecord};
    use std::io::Read;
    let key = hex::decode(args.platform_key.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .context("--platform-key must be 64 hex digits (the platform's Ed25519 public key)")?;
    let file = std::fs::File::open(&args.archive)
        .with_context(|| format!("cannot read {}", args.archive.display()))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .with_context(|| format!("{} is not an archive (ZIP)", args.archive.display()))?;
    let mut manifest = None;
    let mut records = Vec::new();
    let mut photos = Vec::new();
    let mut certificates = Vec::new();
    let mut results = Vec::new();
    // An archive comes from outside: only the parts an archive has are read, each
    // at most MAX_PART bytes (a ZIP bomb is refused, not unpacked).
    const MAX_PART: u64 = 1 << 30;
    for i in 0..zip.len() {
        let entry = zip.by_index(i)?;
        let name = entry.name().to_owned();
        let known = name == "manifest.json"
            || name == "records.jsonl"
            || name == "results.json"
            || name.starts_with("photos/")
            || name.starts_with("certificates/");
        if !known {
            continue;
        }
        let mut bytes = Vec::new();
        entry
            .take(MAX_PART + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {name} in the archive"))?;
        anyhow::ensure!(
            bytes.len() as u64 <= MAX_PART,
            "{name} in the archive unpacks to more than {MAX_PART} bytes: not an archive this tool reads"
        );
        if name == "manifest.json" {
            let v: serde_json::Value = serde_json::from_slice(&bytes)
                .context("manifest.json is not JSON: not an archive manifest")?;
            let format = v["format"].as_str().unwrap_or("none");
            anyhow::ensure!(
                format == keshi_protocol::archive::FORMAT,
                "the archive's format is {format:?}; this build reads {} (a signed manifest): ask the platform for the archive again",
                keshi_protocol::archive::FORMAT
            );
            manifest = Some(
                serde_json::from_value::<ArchiveManifest>(v)
                    .context("manifest.json is not an archive manifest")?,
            );
        } else if name == "results.json" {
            results = bytes;
        } else if name == "records.jsonl" {
            for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if line.is_empty() {
                    continue;
                }
                records.push(
                    serde_json::from_slice::<ArchiveRecord>(line)
                        .with_context(|| format!("records.jsonl line {}", n + 1))?,
                );
            }
        } else if let Some(p) = name.strip_prefix("photos/") {
            photos.push((p.to_owned(), bytes));
        } else if let Some(c) = name.strip_prefix("certificates/") {
            certificates.push((c.to_owned(), bytes));
        }
    }
    let manifest = manifest.context("the archive has no manifest.json")?;
    let report = verify(&manifest, &records, &photos, &certificates, &results, &key);
    if args.json {
        crate::print_json(&serde_json::json!({
            "valid": report.ok, "learner": manifest.learner, "checkpoint": manifest.checkpoint,
            "report": report,
        }))?;
    } else {
        println!(
            "archive of {} ({}), {}: {} records ({} proven in the checkpoint of {} records), {} photos, {} certificates",
            manifest.learner.real_name,
            manifest.learner.user,
            manifest.learner.institution,
            report.records,
            report.proven,
            manifest.checkpoint.size,
            report.photos,
            report.certificates
        );
        for p in &report.problems {
            println!("PROBLEM {p}");
        }
    }
    if report.ok {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "keshi: archive INVALID 档案无效: {} problem(s)",
            report.problems.len()
        );
        Ok(ExitCode::from(1))
    }
}
