//! `keshi capture verify` and `keshi capture verify-eval` (issue 14): face verification
//! on image files, with `capture::verify`. The output keys are a contract: scripts read
//! them.
//!
//! * `keshi capture verify A.jpg B.jpg --json` prints
//!   `{"distance":…,"threshold":…,"same":true|false}`.
//! * `keshi capture verify-eval DIR --labels FILE.csv --json` prints one object with
//!   `genuine_pairs`, `impostor_pairs`, `skipped`, `tar_at_far`, `eer`, `threshold`,
//!   `far`, `frr` (see `capture::verify::eval`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

/// Arguments of `keshi capture verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// First photo (JPEG, PNG): the largest face in it is compared.
    pub a: PathBuf,
    /// Second photo.
    pub b: PathBuf,
    /// Print `{"distance":…,"threshold":…,"same":…}`.
    #[arg(long)]
    pub json: bool,
    /// Distance under which the faces are the same person (default: the shipped one).
    #[arg(long)]
    pub threshold: Option<f32>,
}

/// Arguments of `keshi capture verify-eval`.
#[derive(clap::Args, Debug)]
pub struct VerifyEvalArgs {
    /// Folder of face photos.
    pub dir: PathBuf,
    /// CSV `file,identity` (paths relative to DIR; an optional header line).
    #[arg(long)]
    pub labels: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Threshold for `far` and `frr` (default: the shipped one).
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Also print every pair's distance (`scores`) and the skipped files.
    #[arg(long)]
    pub with_scores: bool,
}

#[cfg(feature = "face-verify")]
mod imp {
    use super::*;
    use capture::verify::{self, eval, Embedding, FaceVerifier, VerifyError};

    fn embed(v: &FaceVerifier, path: &Path) -> Result<std::result::Result<Embedding, Vec<String>>> {
        let rgb = capture::check::read_image_file(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        match v.embed(&rgb) {
            Ok(e) => Ok(Ok(e)),
            Err(VerifyError::NoUsableFace(r)) => {
                Ok(Err(r.iter().map(|r| r.code().to_string()).collect()))
            }
            Err(e) => Err(e).with_context(|| format!("verifying {}", path.display())),
        }
    }

    fn verifier(threshold: Option<f32>) -> Result<FaceVerifier> {
        let t = threshold.unwrap_or(verify::DEFAULT_THRESHOLD);
        FaceVerifier::with_config(
            capture::DetectorConfig::thorough(),
            verify::FaceQualityConfig::default(),
            t,
        )
        .context("loading the face models")
    }

    pub fn verify(args: VerifyArgs) -> Result<ExitCode> {
        let v = verifier(args.threshold)?;
        let a = embed(&v, &args.a)?;
        let b = embed(&v, &args.b)?;
        match (a, b) {
            (Ok(a), Ok(b)) => {
                let c = verify::compare_embeddings(&a, &b, v.threshold());
                if args.json {
                    // `Comparison` serialises as {"distance","threshold","same"}, in that order.
                    crate::print_json(&c)?;
                } else {
                    println!(
                        "{} (distance {:.4}, threshold {})",
                        if c.same {
                            "same person"
                        } else {
                            "different people"
                        },
                        c.distance,
                        c.threshold
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            (a, b) => {
                let mut reasons = serde_json::Map::new();
                for (path, r) in [(&args.a, a.err()), (&args.b, b.err())] {
                    if let Some(r) = r {
                        reasons.insert(path.display().to_string(), r.into());
                    }
                }
                if args.json {
                    crate::print_json(&serde_json::json!({
                        "distance": null, "threshold": v.threshold(), "same": false,
                        "error": "no_usable_face", "reasons": reasons,
                    }))?;
                }
                eprintln!(
                    "keshi: no usable face: {}",
                    serde_json::Value::Object(reasons)
                );
                Ok(ExitCode::from(1))
            }
        }
    }

    pub fn verify_eval(args: VerifyEvalArgs) -> Result<ExitCode> {
        let rows = super::read_labels(&args.labels)?;
        if rows.is_empty() {
            bail!("{}: no labelled files", args.labels.display());
        }
        let v = verifier(args.threshold)?;
        let mut items = Vec::new();
        let mut skipped = Vec::new();
        for (file, identity) in &rows {
            let path = args.dir.join(file);
            match embed(&v, &path) {
                Ok(Ok(e)) => items.push((identity.clone(), e)),
                Ok(Err(reasons)) => {
                    tracing::info!(file = %file, ?reasons, "skipped");
                    skipped.push(serde_json::json!({ "file": file, "reasons": reasons }));
                }
                Err(e) => {
                    tracing::warn!(file = %file, error = %format!("{e:#}"), "skipped");
                    skipped
                        .push(serde_json::json!({ "file": file, "reasons": ["unreadable_image"] }));
                }
            }
        }
        let scores = eval::pair_scores(&items);
        let report = eval::evaluate(&scores, v.threshold(), skipped.len());
        if args.json {
            if args.with_scores {
                // The report's keys first, in their order, then the details.
                #[derive(serde::Serialize)]
                struct Detailed<'a> {
                    #[serde(flatten)]
                    report: &'a eval::EvalReport,
                    scores: &'a eval::PairScores,
                    skipped_files: &'a [serde_json::Value],
                }
                crate::print_json(&Detailed {
                    report: &report,
                    scores: &scores,
                    skipped_files: &skipped,
                })?;
            } else {
                crate::print_json(&report)?;
            }
        } else {
            let pct =
                |x: Option<f64>| x.map_or("n/a".to_string(), |x| format!("{:.2}%", x * 100.0));
            println!(
                "{} images ({} skipped), {} genuine and {} impostor pairs",
                rows.len(),
                report.skipped,
                report.genuine_pairs,
                report.impostor_pairs
            );
            println!(
                "at threshold {}: FAR {}, FRR {}; EER {}",
                report.threshold,
                pct(report.far),
                pct(report.frr),
                pct(report.eer)
            );
            println!(
                "TAR at FAR 1%: {}, 0.1%: {}, 0.01%: {}",
                pct(report.tar_at_far.far_1e2),
                pct(report.tar_at_far.far_1e3),
                pct(report.tar_at_far.far_1e4)
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(feature = "face-verify")]
pub use imp::{verify, verify_eval};

/// Without the `face-verify` feature the commands explain how to get them.
#[cfg(not(feature = "face-verify"))]
pub fn verify(_: VerifyArgs) -> Result<ExitCode> {
    bail!("this keshi was built without face verification (cargo feature `face-verify`)")
}

/// Without the `face-verify` feature the commands explain how to get them.
#[cfg(not(feature = "face-verify"))]
pub fn verify_eval(_: VerifyEvalArgs) -> Result<ExitCode> {
    bail!("this keshi was built without face verification (cargo feature `face-verify`)")
}

/// Reads `file,identity` rows; skips blank lines, `#` comments and a `file,identity`
/// header. Fields may be double-quoted.
#[cfg_attr(not(feature = "face-verify"), allow(dead_code))]
pub fn read_labels(path: &Path) -> Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let unquote = |s: &str| s.trim().trim_matches('"').to_string();
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((file, identity)) = line.rsplit_once(',') else {
            bail!("{}:{}: expected `file,identity`", path.display(), i + 1);
        };
        let (file, identity) = (unquote(file), unquote(identity));
        if i == 0 && file.eq_ignore_ascii_case("file") && identity.eq_ignore_ascii_case("identity")
        {
            continue;
        }
        if file.is_empty() || identity.is_empty() {
            bail!("{}:{}: empty file or identity", path.display(), i + 1);
        }
        rows.push((file, identity));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_with_header_quotes_and_comments() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.csv");
        std::fs::write(
            &p,
            "file,identity\n# comment\n\"a b.jpg\",alice\nx/y.png , bob \n\n",
        )
        .unwrap();
        let rows = read_labels(&p).unwrap();
        assert_eq!(
            rows,
            vec![
                ("a b.jpg".to_string(), "alice".to_string()),
                ("x/y.png".to_string(), "bob".to_string())
            ]
        );
        std::fs::write(&p, "just-a-name\n").unwrap();
        assert!(read_labels(&p).is_err());
    }
}
