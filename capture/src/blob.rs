//! A content-addressed directory for capture photos (R-ST-3).
//!
//! `root/sha256/ab/<64 hex>` holds the bytes whose SHA-256 is that hex. Writes go to a
//! temporary file, are synced, then renamed, so a reader never sees half a photo and a
//! journal record written after [`BlobStore::put`] returns always finds its photo until
//! it is erased. [`BlobStore::erase`] removes a photo after its retention period; the
//! journal keeps the hash and still verifies.
//!
//! Architecture invariant: the store knows nothing about journals or policies.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::CaptureError;
use crate::snapshot::sha256_hex;

/// A blob directory.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

fn io(path: &Path, source: std::io::Error) -> CaptureError {
    CaptureError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn valid_hash(h: &str) -> bool {
    h.len() == 64
        && h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl BlobStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, CaptureError> {
        let root = root.into();
        let dir = root.join("sha256");
        fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        Ok(BlobStore { root })
    }

    /// Where the blob with this hash lives; `None` for a malformed hash.
    pub fn path_for(&self, sha256: &str) -> Option<PathBuf> {
        valid_hash(sha256).then(|| self.root.join("sha256").join(&sha256[..2]).join(sha256))
    }

    /// Stores bytes; returns their hash and whether they were new. Idempotent.
    pub fn put(&self, bytes: &[u8]) -> Result<(String, bool), CaptureError> {
        let hash = sha256_hex(bytes);
        let path = self
            .path_for(&hash)
            .ok_or_else(|| CaptureError::Corrupt(hash.clone()))?;
        if path.is_file() {
            return Ok((hash, false));
        }
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let tmp = dir.join(format!(".{hash}.{}.tmp", std::process::id()));
        {
            let mut f = fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
            f.write_all(bytes).map_err(|e| io(&tmp, e))?;
            f.sync_all().map_err(|e| io(&tmp, e))?;
        }
        fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        tracing::debug!(%hash, bytes = bytes.len(), "blob stored");
        Ok((hash, true))
    }

    /// Reads a blob and checks its hash; `None` if absent (never stored, or erased).
    pub fn get(&self, sha256: &str) -> Result<Option<Vec<u8>>, CaptureError> {
        let Some(path) = self.path_for(sha256) else {
            return Ok(None);
        };
        match fs::read(&path) {
            Ok(bytes) => {
                if sha256_hex(&bytes) != sha256 {
                    return Err(CaptureError::Corrupt(sha256.to_string()));
                }
                Ok(Some(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path, e)),
        }
    }

    /// Erases a blob (end of retention). Returns whether it existed.
    pub fn erase(&self, sha256: &str) -> Result<bool, CaptureError> {
        let Some(path) = self.path_for(sha256) else {
            return Ok(false);
        };
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io(&path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_erase() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let (h, new) = store.put(b"photo bytes").unwrap();
        assert!(new);
        assert_eq!(h, sha256_hex(b"photo bytes"));
        assert!(!store.put(b"photo bytes").unwrap().1, "idempotent");
        assert_eq!(store.get(&h).unwrap().as_deref(), Some(&b"photo bytes"[..]));
        let p = store.path_for(&h).unwrap();
        assert!(p.starts_with(dir.path().join("sha256").join(&h[..2])));
        assert!(store.erase(&h).unwrap());
        assert!(!store.erase(&h).unwrap());
        assert_eq!(store.get(&h).unwrap(), None);
        // No temporary files left behind.
        let left: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert!(left.is_empty());
    }

    #[test]
    fn tampering_and_bad_hashes_are_caught() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let (h, _) = store.put(b"original").unwrap();
        std::fs::write(store.path_for(&h).unwrap(), b"changed").unwrap();
        assert!(matches!(store.get(&h), Err(CaptureError::Corrupt(_))));
        assert_eq!(store.path_for("../../etc/passwd"), None);
        assert_eq!(store.path_for(&h.to_uppercase()), None);
        assert_eq!(store.get("zz").unwrap(), None);
        assert!(!store.erase("../x").unwrap());
    }
}
