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
    /// Deletes the blob under `key` (retention, R-SV-4); gone already is fine.
    fn delete(&self, key: &str) -> io::Result<()>;
    /// The file holding `key`, for streaming large media with ranges (stores that
    /// are not files answer `None` and media is read whole).
    fn file(&self, key: &str) -> Option<PathBuf> {
        let _ = key;
        None
    }
    /// Bytes of an unfinished upload of `key` (resumable media uploads, issue 12).
    fn part_size(&self, key: &str) -> u64 {
        let _ = key;
        0
    }
    /// Appends `bytes` at `offset` of the upload of `key`; `offset` must be what is
    /// held (else [`io::ErrorKind::InvalidInput`]). Answers the bytes now held.
    fn append_part(&self, key: &str, offset: u64, bytes: &[u8]) -> io::Result<u64> {
        let _ = (key, offset, bytes);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this store takes no uploads",
        ))
    }
    /// Ends the upload of `key`: when its bytes hash to `key` they become the blob
    /// (`Ok(true)`); otherwise the upload is dropped (`Ok(false)`).
    fn finish_part(&self, key: &str) -> io::Result<bool> {
        let _ = key;
        Ok(false)
    }
}

/// Blobs as files `<dir>/<aa>/<sha256>`, written to a temp file, fsynced, renamed.
#[derive(Debug, Clone)]
pub struct DiskBlobStore {
    dir: PathBuf,
    /// Serialises upload appends: the offset check and the write are one step (two
    /// retries of one chunk must not both append).
    uploads: std::sync::Arc<std::sync::Mutex<()>>,
}

impl DiskBlobStore {
    /// Store under `dir` (created when missing).
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<DiskBlobStore> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(DiskBlobStore {
            dir,
            uploads: std::sync::Arc::default(),
        })
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

    fn delete(&self, key: &str) -> io::Result<()> {
        match std::fs::remove_file(self.path(key)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn file(&self, key: &str) -> Option<PathBuf> {
        self.path(key).ok().filter(|p| p.is_file())
    }

    fn part_size(&self, key: &str) -> u64 {
        self.part(key)
            .ok()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len())
    }

    fn append_part(&self, key: &str, offset: u64, bytes: &[u8]) -> io::Result<u64> {
        use std::io::Write;
        let path = self.part(key)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let _one_at_a_time = self.uploads.lock().unwrap_or_else(|p| p.into_inner());
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let held = f.metadata()?.len();
        if held != offset {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the upload holds {held} bytes, not {offset}: resume from {held}"),
            ));
        }
        f.write_all(bytes)?;
        f.sync_data()?;
        Ok(held + bytes.len() as u64)
    }

    fn finish_part(&self, key: &str) -> io::Result<bool> {
        use sha2::Digest;
        use std::io::Read;
        let part = self.part(key)?;
        let _one_at_a_time = self.uploads.lock().unwrap_or_else(|p| p.into_inner());
        if !part.exists() && self.path(key)?.exists() {
            // Another request finished it.
            return Ok(true);
        }
        let mut f = std::fs::File::open(&part)?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        drop(f);
        if hex::encode(hasher.finalize()) != key {
            std::fs::remove_file(&part)?;
            return Ok(false);
        }
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(&part, &path)?;
        Ok(true)
    }
}

impl DiskBlobStore {
    /// An unfinished upload: `<dir>/parts/<sha256>.part`.
    fn part(&self, key: &str) -> io::Result<PathBuf> {
        self.path(key)?;
        Ok(self.dir.join("parts").join(format!("{key}.part")))
    }
}
