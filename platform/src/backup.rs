//! Backup and restore (issue 13, R-SV-4: data kept at least three years, with
//! disaster-recovery backup). A backup is a directory:
//!
//! - `database.sqlite` — SQLite's own online copy (`VACUUM INTO`: one read
//!   transaction, so a consistent snapshot while the service keeps writing), or
//!   `database.pgdump` — `pg_dump --format=custom` of a PostgreSQL database (one
//!   snapshot too);
//! - `blobs/` — the capture photos, media and enrolment photos, file for file;
//! - `manifest.json` — what it holds: the kind of database, the SHA-256 and size of
//!   every file, and a checkpoint of the log signed just before the copy.
//!
//! Restoring checks every file against the manifest, refuses a target that already
//! holds data, loads the copy, then runs the auditor ([`crate::ledger::audit`])
//! from the manifest's checkpoint: a restored platform is accepted only if its log
//! extends the one signed at backup time and every record still matches its leaf.
//!
//! The data key of ID numbers and phones (`datakey.rs`) is never in a backup: it is
//! a secret kept apart (R-SV-2). A restore opens the database with the key it is
//! given, and the database's key check refuses the wrong one.

use std::io::Read;
use std::path::{Path, PathBuf};

use keshi_protocol::merkle::Checkpoint;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::store::{Store, StoreError};

/// The manifest's format.
pub const FORMAT: &str = "keshi-backup/1";

/// A file in a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupFile {
    /// Path inside the backup directory (`/`-separated).
    pub path: String,
    /// Size, bytes.
    pub bytes: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// When the copy was made (platform ms).
    pub created_ms: i64,
    /// The log's checkpoint signed just before the copy: the restored platform
    /// must extend it.
    pub checkpoint: Checkpoint,
    /// The database copy, then the blobs.
    pub files: Vec<BackupFile>,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    /// The backup's manifest.
    pub manifest: Manifest,
    /// Files checked against it.
    pub files_checked: usize,
    /// The auditor's report on the restored database, from the manifest's
    /// checkpoint.
    pub audit: crate::ledger::AuditReport,
}

/// Why a backup or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Files.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// `pg_dump` or `pg_restore` failed (or is not installed).
    #[error("{tool} failed: {why}")]
    Tool {
        /// Which.
        tool: &'static str,
        /// Its error output.
        why: String,
    },
    /// The backup directory is not a backup, or a file in it changed.
    #[error("not a usable backup: {0}")]
    Bad(String),
    /// The target already holds data.
    #[error("{0} already holds a platform: restore into an empty database")]
    NotEmpty(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = what.into();
    move |source| BackupError::Io { what, source }
}

/// Backs the platform on `db_url` (whose store is `store`) and its `blobs`
/// directory up into the new directory `out`.
pub async fn backup(
    store: &Store,
    key: &ring::signature::Ed25519KeyPair,
    db_url: &str,
    blobs: Option<&Path>,
    out: &Path,
    now: i64,
) -> Result<Manifest, BackupError> {
    if out.exists() {
        return Err(BackupError::Bad(format!(
            "{} exists: a backup goes into a new directory",
            out.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(io(format!("creating {}", out.display())))?;
    // Sequence what has arrived, then sign: the copy holds at least this.
    let checkpoint = crate::ledger::checkpoint(store, key, now).await?;
    let sqlite = db_url.starts_with("sqlite:");
    let (database, file) = if sqlite {
        let path = out.join("database.sqlite");
        sqlx::query("VACUUM INTO $1")
            .bind(path.to_string_lossy().into_owned())
            .execute(&store.pool)
            .await
            .map_err(StoreError::from)?;
        ("sqlite", path)
    } else {
        let path = out.join("database.pgdump");
        let (url, password) = split_password(db_url);
        let mut dump = tokio::process::Command::new("pg_dump");
        if let Some(p) = password {
            dump.env("PGPASSWORD", p);
        }
        let dump = dump
            .args(["--format=custom", "--no-owner", "--no-privileges", "--file"])
            .arg(&path)
            .arg("--dbname")
            .arg(url)
            .output()
            .await
            .map_err(|e| BackupError::Tool {
                tool: "pg_dump",
                why: format!("{e} (install postgresql-client)"),
            })?;
        if !dump.status.success() {
            return Err(BackupError::Tool {
                tool: "pg_dump",
                why: String::from_utf8_lossy(&dump.stderr).trim().to_owned(),
            });
        }
        ("postgres", path)
    };
    let mut files = vec![describe(out, &file)?];
    if let Some(blobs) = blobs.filter(|b| b.exists()) {
        let target = out.join("blobs");
        for f in walk(blobs)? {
            let rel = f.strip_prefix(blobs).unwrap_or(&f);
            let to = target.join(rel);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(io(format!("creating {}", parent.display())))?;
            }
            std::fs::copy(&f, &to).map_err(io(format!("copying {}", f.display())))?;
            files.push(describe(out, &to)?);
        }
    }
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        database: database.to_owned(),
        created_ms: now,
        checkpoint,
        files,
    };
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| BackupError::Bad(format!("manifest: {e}")))?;
    std::fs::write(out.join("manifest.json"), text).map_err(io("writing manifest.json"))?;
    tracing::info!(out = %out.display(), files = manifest.files.len(), size = manifest.checkpoint.size, "backup written");
    Ok(manifest)
}

/// Restores the backup in `from` into the empty database `db_url` (a SQLite path
/// that does not exist yet, or an empty PostgreSQL database) and `blobs`, then
/// audits the result from the backup's checkpoint. `data_key` is the key file the
/// restored database is opened with (see [`Store::connect_with_key`]).
pub async fn restore(
    from: &Path,
    db_url: &str,
    blobs: Option<&Path>,
    data_key: Option<&Path>,
    platform_key: Option<[u8; 32]>,
) -> Result<Restored, BackupError> {
    let text = std::fs::read_to_string(from.join("manifest.json"))
        .map_err(io(format!("reading {}/manifest.json", from.display())))?;
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| BackupError::Bad(format!("manifest.json: {e}")))?;
    // The manifest is as trustworthy as the directory it sits in: with the
    // platform's key as you know it, a backup signed by another is refused.
    if let Some(k) = platform_key {
        if manifest.checkpoint.key != hex::encode(k) {
            return Err(BackupError::Bad(
                "its checkpoint is signed by another key than the platform key given".into(),
            ));
        }
    }
    if manifest.format != FORMAT {
        return Err(BackupError::Bad(format!(
            "format {:?}, this build reads {FORMAT}",
            manifest.format
        )));
    }
    // Every file as the manifest says, before anything is written.
    for f in &manifest.files {
        if f.path
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
        {
            return Err(BackupError::Bad(format!("a file named {:?}", f.path)));
        }
        let got = describe(from, &from.join(&f.path))?;
        if got != *f {
            return Err(BackupError::Bad(format!(
                "{} changed since the backup (SHA-256 {} , expected {})",
                f.path, got.sha256, f.sha256
            )));
        }
    }
    let sqlite = db_url.starts_with("sqlite:");
    match (manifest.database.as_str(), sqlite) {
        ("sqlite", true) => {
            let target = PathBuf::from(
                db_url
                    .trim_start_matches("sqlite:")
                    .trim_start_matches("//")
                    .split('?')
                    .next()
                    .unwrap_or_default(),
            );
            if target.exists() {
                return Err(BackupError::NotEmpty(target.display().to_string()));
            }
            std::fs::copy(from.join("database.sqlite"), &target)
                .map_err(io(format!("writing {}", target.display())))?;
        }
        ("postgres", false) => {
            let probe = sqlx::AnyPool::connect(&crate::store::sqlx_url(db_url)?)
                .await
                .map_err(StoreError::from)?;
            let tables: i64 = sqlx::query_scalar(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM information_schema.tables WHERE table_schema = 'public'",
            )
            .fetch_one(&probe)
            .await
            .map_err(StoreError::from)?;
            probe.close().await;
            if tables > 0 {
                return Err(BackupError::NotEmpty("the database".into()));
            }
            let (url, password) = split_password(db_url);
            let mut restore = tokio::process::Command::new("pg_restore");
            if let Some(p) = password {
                restore.env("PGPASSWORD", p);
            }
            let out = restore
                .args([
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--dbname",
                ])
                .arg(url)
                .arg(from.join("database.pgdump"))
                .output()
                .await
                .map_err(|e| BackupError::Tool {
                    tool: "pg_restore",
                    why: format!("{e} (install postgresql-client)"),
                })?;
            if !out.status.success() {
                return Err(BackupError::Tool {
                    tool: "pg_restore",
                    why: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                });
            }
        }
        (kind, _) => {
            return Err(BackupError::Bad(format!(
                "a {kind} backup cannot be restored into {}",
                if sqlite { "SQLite" } else { "PostgreSQL" }
            )))
        }
    }
    if let Some(blobs) = blobs {
        for f in manifest
            .files
            .iter()
            .filter(|f| f.path.starts_with("blobs/"))
        {
            let to = blobs.join(f.path.trim_start_matches("blobs/"));
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(io(format!("creating {}", parent.display())))?;
            }
            std::fs::copy(from.join(&f.path), &to)
                .map_err(io(format!("writing {}", to.display())))?;
        }
    }
    let store = Store::connect_with_key(db_url, data_key).await?;
    let key = keshi_protocol::merkle::parse_digest(&manifest.checkpoint.key)
        .ok_or_else(|| BackupError::Bad("the checkpoint's key is not 32 bytes of hex".into()))?;
    let audit =
        crate::ledger::audit(&store, Some(&manifest.checkpoint), Some(key), None, None).await?;
    Ok(Restored {
        files_checked: manifest.files.len(),
        manifest,
        audit,
    })
}

/// A PostgreSQL URL without its password, and the password (percent-decoded): the
/// password goes to `pg_dump` and `pg_restore` through `PGPASSWORD`, never on a
/// command line other users can read (`/proc/*/cmdline`).
fn split_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return (url.to_owned(), None);
    };
    let Some((user, password)) = rest[..at].split_once(':') else {
        return (url.to_owned(), None);
    };
    let hex = |h: &[u8]| {
        std::str::from_utf8(h)
            .ok()
            .and_then(|h| u8::from_str_radix(h, 16).ok())
    };
    let mut decoded = Vec::new();
    let bytes = password.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3).and_then(hex)) {
            (b'%', Some(b)) => {
                decoded.push(b);
                i += 3;
            }
            (b, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    (
        format!("{scheme}://{user}{}", &rest[at..]),
        Some(String::from_utf8_lossy(&decoded).into_owned()),
    )
}

/// Every file under `dir`, sorted.
fn walk(dir: &Path) -> Result<Vec<PathBuf>, BackupError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(io(format!("reading {}", d.display())))? {
            let e = e.map_err(io(format!("reading {}", d.display())))?;
            let kind = e
                .file_type()
                .map_err(io(format!("reading {}", d.display())))?;
            if kind.is_dir() {
                stack.push(e.path());
            } else if kind.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A file's entry, relative to `root`.
fn describe(root: &Path, file: &Path) -> Result<BackupFile, BackupError> {
    let mut f = std::fs::File::open(file).map_err(io(format!("reading {}", file.display())))?;
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(io(format!("reading {}", file.display())))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        bytes += n as u64;
    }
    let rel = file.strip_prefix(root).unwrap_or(file);
    Ok(BackupFile {
        path: rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/"),
        bytes,
        sha256: hex::encode(hash.finalize()),
    })
}

#[cfg(test)]
mod tests {
    use super::split_password;

    #[test]
    fn the_password_leaves_the_url() {
        assert_eq!(
            split_password("postgres://keshi:s%40cr%3At@db.example:5432/keshi?sslmode=require"),
            (
                "postgres://keshi@db.example:5432/keshi?sslmode=require".to_owned(),
                Some("s@cr:t".to_owned())
            )
        );
        assert_eq!(
            split_password("postgres://postgres@127.0.0.1:55432/x"),
            ("postgres://postgres@127.0.0.1:55432/x".to_owned(), None)
        );
    }
}
