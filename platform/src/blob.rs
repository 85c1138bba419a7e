//! Capture images by SHA-256 (R-ST-3), behind a storage trait: on disk by
//! default; an S3-compatible object store implements the same three calls.

use std::io;
use std::path::PathBuf;

/// Content-addressed blob storage. Keys are lowercase SHA-256 hex (checked by
/// the caller).
pub trait BlobStore: Send + Sync {
    /// Store `bytes` under `key` (idempotent).
    fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()>;
    /// The bytes under `key`, if any.
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>>;
    /// Size of the blob under `key`, if any.
    fn size(&self, key: &str) -> Option<u64>;
}

/// Blobs as files `<dir>/<aa>/<sha256>`, written to a temp file, fsynced, renamed.
#[derive(Debug, Clone)]
pub struct DiskBlobStore {
    dir: PathBuf,
}

impl DiskBlobStore {
    /// Store under `dir` (created when missing).
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<DiskBlobStore> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(DiskBlobStore { dir })
    }

    fn path(&self, key: &str) -> io::Result<PathBuf> {
        if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "blob key must be SHA-256 hex",
            ));
        }
        Ok(self.dir.join(&key[..2]).join(key))
    }
}

impl BlobStore for DiskBlobStore {
    fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let path = self.path(key)?;
        if path.exists() {
            return Ok(());
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    }

    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(key)?) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn size(&self, key: &str) -> Option<u64> {
        std::fs::metadata(self.path(key).ok()?)
            .ok()
            .map(|m| m.len())
    }
}
