//! The signed head checkpoint file beside the database (`<journal>.head`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use rusqlite::OptionalExtension;

use super::error::classify;
use super::{Journal, JournalError};
use crate::record::{Hash, HeadCheckpoint};

/// Size of the head checkpoint file: the JSON line padded with spaces, so that
/// rewriting it never changes its size (see [`replace_file`]).
const HEAD_FILE_LEN: usize = 384;

/// The path of the head checkpoint of the journal at `journal_path`:
/// the same name with `.head` appended (`J.db` → `J.db.head`).
pub fn head_checkpoint_path(journal_path: &Path) -> PathBuf {
    let mut s = OsString::from(journal_path.as_os_str());
    s.push(".head");
    PathBuf::from(s)
}

impl Journal {
    /// Compare the head checkpoint with the database; rewrite it when it lags.
    pub(super) fn check_checkpoint_on_open(&self) -> Result<(), JournalError> {
        let bytes = match std::fs::read(&self.head_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.write_checkpoint();
                return Ok(());
            }
            Err(source) => {
                return Err(JournalError::CheckpointIo {
                    path: self.head_path.clone(),
                    source,
                })
            }
        };
        if bytes.is_empty() {
            tracing::warn!(path = %self.head_path.display(), "empty head checkpoint (interrupted write?); rewriting it");
            self.write_checkpoint();
            return Ok(());
        }
        let invalid = |source| JournalError::CheckpointInvalid {
            path: self.head_path.clone(),
            source,
        };
        let cp = HeadCheckpoint::from_json(&bytes).map_err(invalid)?;
        cp.verify(&self.read.public_key).map_err(invalid)?;
        let last_seq = self.read.len();
        if cp.seq > last_seq {
            return Err(JournalError::CheckpointAhead {
                path: self.read.path.clone(),
                checkpoint_seq: cp.seq,
                last_seq,
            });
        }
        if cp.seq > 0 {
            let hash: Option<Vec<u8>> = self
                .conn
                .query_row(
                    "SELECT hash FROM records WHERE seq = ?1",
                    [cp.seq as i64],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| classify(&self.read.path, "read the checkpoint record", e))?;
            if hash.as_deref() != Some(&cp.hash.0[..]) {
                return Err(JournalError::CheckpointMismatch {
                    path: self.read.path.clone(),
                    seq: cp.seq,
                });
            }
        }
        if cp.seq < last_seq {
            tracing::info!(
                checkpoint_seq = cp.seq,
                last_seq,
                "head checkpoint lagged the database (crash after commit?); rewriting it"
            );
            self.write_checkpoint();
        }
        Ok(())
    }

    /// Write `<journal>.head` for the current head (see the module docs: spare
    /// file + rename, no fsync). A failure is logged, not returned: the records
    /// are already durable and the next commit or open rewrites the checkpoint.
    pub(super) fn write_checkpoint(&self) {
        let (seq, hash) = self.read.head.unwrap_or((0, Hash::ZERO));
        let mut bytes = HeadCheckpoint::sign(&*self.signer, seq, hash).to_json();
        if bytes.len() < HEAD_FILE_LEN {
            // Pad with spaces (JSON whitespace) so the file size never changes.
            bytes.pop();
            bytes.resize(HEAD_FILE_LEN - 1, b' ');
            bytes.push(b'\n');
        }
        if let Err(e) = replace_file(&self.head_path, &bytes) {
            tracing::warn!(path = %self.head_path.display(), error = %e, seq, "could not write the head checkpoint");
        }
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(suffix);
    PathBuf::from(s)
}

/// Atomically replace `path` with `bytes`: overwrite the spare file
/// (`<path>.spare`, the inode of the previous version) in place, then rename it
/// over `path`; the replaced inode becomes the next spare (via a hard link made
/// just before the rename). Readers see the old or the new file, never half of
/// one. Reusing an inode whose blocks are already allocated keeps the rename from
/// forcing a data flush (ext4 `auto_da_alloc`), which a fresh temp file would:
/// that flush cost ~1-2 ms per append, half a disk sync. Where hard links fail,
/// the spare is simply recreated next time.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let spare = sibling(path, ".spare");
    let old = sibling(path, ".old");
    match std::fs::remove_file(&old) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&spare)?;
        f.write_all(bytes)?;
        if f.metadata()?.len() != bytes.len() as u64 {
            f.set_len(bytes.len() as u64)?;
        }
    }
    let linked = std::fs::hard_link(path, &old).is_ok();
    std::fs::rename(&spare, path)?;
    if linked {
        std::fs::rename(&old, &spare)?;
    }
    Ok(())
}
