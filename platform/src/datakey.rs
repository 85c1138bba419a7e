//! Personal data at rest (R-ID-1, R-SV-2): a learner's ID number and phone are
//! stored encrypted with AES-256-GCM (`ring::aead`) under a 32-byte data key held
//! in a key file — never in the database — as `v1:<nonce-hex>:<ciphertext-hex>`.
//! The additional data binds a value to its column and learner, so a ciphertext
//! copied to another row or column does not decrypt. Duplicate checks use a blind
//! index: HMAC-SHA256 of the ID number under a key derived from the data key
//! (HKDF-SHA256), so equal ID numbers can be found without decrypting.
//!
//! The key file holds 64 hex characters (32 raw bytes are also read). When it is
//! missing it is created, mode 0600, atomically (a second process starting at the
//! same time reads the first one's key). Values without the `v1:` prefix are
//! plaintext from an older database: they are read as they are and encrypted when
//! the store connects ([`crate::Store::connect_with_key`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{hkdf, hmac};

/// The environment variable naming the key file (the `--data-key` flag's).
pub const DATA_KEY_ENV: &str = "KESHI_DATA_KEY";

/// The prefix of an encrypted value.
const PREFIX: &str = "v1:";

/// Errors of the data key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataKeyError {
    /// The key file cannot be read or written.
    #[error("data key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key file does not hold 32 bytes (64 hex characters).
    #[error("data key file {0}: not a 32-byte key (64 hex characters)")]
    Malformed(PathBuf),
    /// A cryptographic operation failed (no randomness, a bad key).
    #[error("data key: {0}")]
    Crypto(&'static str),
    /// A stored value does not decrypt: a different key, or tampering.
    #[error("an encrypted {0} does not decrypt under this data key (wrong key file, or the value was altered)")]
    Decrypt(String),
}

/// The key file used when none is named: `KESHI_DATA_KEY` if set, else beside a
/// SQLite database (`<file>.datakey`), else `./keshi-data.key`.
pub fn default_key_path(db_url: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(DATA_KEY_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    match db_url.strip_prefix("sqlite:") {
        Some(p) => {
            let path = p.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            PathBuf::from(format!("{path}.datakey"))
        }
        None => PathBuf::from("keshi-data.key"),
    }
}

/// The data key: an AEAD key for values and an HMAC key for the blind index.
pub struct DataKey {
    aead: LessSafeKey,
    index: hmac::Key,
    check: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey").finish_non_exhaustive()
    }
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl DataKey {
    /// The key from 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<DataKey, DataKeyError> {
        let aead = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| DataKeyError::Crypto("AES-256-GCM key"))?;
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"keshi data key v1").extract(bytes);
        let derive = |label: &[u8]| -> Result<[u8; 32], DataKeyError> {
            let mut out = [0u8; 32];
            prk.expand(&[label], Len(32))
                .and_then(|okm| okm.fill(&mut out))
                .map_err(|_| DataKeyError::Crypto("HKDF"))?;
            Ok(out)
        };
        let index = hmac::Key::new(hmac::HMAC_SHA256, &derive(b"blind index")?);
        let check = hex::encode(derive(b"key check")?);
        Ok(DataKey {
            aead: LessSafeKey::new(aead),
            index,
            check,
            rng: SystemRandom::new(),
        })
    }

    /// Reads the key file at `path`, creating it (mode 0600, 32 random bytes as
    /// hex) when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<DataKey, DataKeyError> {
        let io = |source| DataKeyError::Io {
            path: path.to_owned(),
            source,
        };
        match std::fs::read(path) {
            Ok(bytes) => return Self::parse(path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let rng = SystemRandom::new();
        let mut key = [0u8; 32];
        rng.fill(&mut key)
            .map_err(|_| DataKeyError::Crypto("no randomness"))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        // Written whole to a private temp file, then linked into place: a linking
        // fails when another process created the key meanwhile (then theirs counts),
        // and nobody ever reads half a key.
        let tmp = path.with_extension(format!(
            "tmp-{}-{}",
            std::process::id(),
            hex::encode(&key[..4])
        ));
        {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp).map_err(io)?;
            f.write_all(format!("{}\n", hex::encode(key)).as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(io)?;
        }
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                tracing::warn!(path = %path.display(), "created a new data key: keep it with the database's backups, without it ID numbers and phones cannot be read");
                Self::from_bytes(&key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let bytes = std::fs::read(path).map_err(io)?;
                Self::parse(path, &bytes)
            }
            Err(e) => Err(io(e)),
        }
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<DataKey, DataKeyError> {
        let mut key = [0u8; 32];
        if bytes.len() == 32 {
            key.copy_from_slice(bytes);
        } else {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| DataKeyError::Malformed(path.to_owned()))?
                .trim();
            hex::decode_to_slice(text, &mut key)
                .map_err(|_| DataKeyError::Malformed(path.to_owned()))?;
        }
        Self::from_bytes(&key)
    }

    /// A value derived from the key that says which key it is (stored in the
    /// database, so a wrong key file is refused before anything is written).
    pub fn check_value(&self) -> &str {
        &self.check
    }

    fn aad(column: &str, learner_id: &str) -> String {
        format!("keshi:{column}:{learner_id}")
    }

    /// Encrypts `value` of `column` for learner `learner_id`. An empty value stays
    /// empty (nothing to hide but its absence).
    pub fn encrypt(
        &self,
        column: &str,
        learner_id: &str,
        value: &str,
    ) -> Result<String, DataKeyError> {
        if value.is_empty() {
            return Ok(String::new());
        }
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| DataKeyError::Crypto("no randomness"))?;
        let mut buf = value.as_bytes().to_vec();
        let aad = Self::aad(column, learner_id);
        self.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut buf,
            )
            .map_err(|_| DataKeyError::Crypto("seal"))?;
        Ok(format!(
            "{PREFIX}{}:{}",
            hex::encode(nonce),
            hex::encode(buf)
        ))
    }

    /// Decrypts a stored value of `column`; a value without the `v1:` prefix is
    /// plaintext from an older database and is answered as it is.
    pub fn decrypt(
        &self,
        column: &str,
        learner_id: &str,
        stored: &str,
    ) -> Result<String, DataKeyError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let bad = || DataKeyError::Decrypt(column.to_owned());
        let (nonce_hex, ct_hex) = rest.split_once(':').ok_or_else(bad)?;
        let mut nonce = [0u8; NONCE_LEN];
        hex::decode_to_slice(nonce_hex, &mut nonce).map_err(|_| bad())?;
        let mut buf = hex::decode(ct_hex).map_err(|_| bad())?;
        let aad = Self::aad(column, learner_id);
        let plain = self
            .aead
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut buf,
            )
            .map_err(|_| bad())?;
        String::from_utf8(plain.to_vec()).map_err(|_| bad())
    }

    /// The blind index of an ID number (upper-case check character): HMAC-SHA256
    /// hex under the derived index key.
    pub fn blind_index(&self, id_number: &str) -> String {
        hex::encode(hmac::sign(&self.index, id_number.trim().to_uppercase().as_bytes()).as_ref())
    }

    /// Whether `stored` is an encrypted value (not legacy plaintext).
    pub fn is_encrypted(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;

    #[test]
    fn values_round_trip_and_are_bound_to_their_row() {
        let k = DataKey::from_bytes(&[7u8; 32]).unwrap();
        let c = k.encrypt("id_number", "L1", "11010519491231002X").unwrap();
        assert!(c.starts_with("v1:") && !c.contains("1101051949"));
        assert_eq!(
            k.decrypt("id_number", "L1", &c).unwrap(),
            "11010519491231002X"
        );
        assert!(k.decrypt("id_number", "L2", &c).is_err(), "another row");
        assert!(k.decrypt("phone", "L1", &c).is_err(), "another column");
        assert_ne!(
            c,
            k.encrypt("id_number", "L1", "11010519491231002X").unwrap()
        );
        assert_eq!(
            k.decrypt("phone", "L1", "13800138000").unwrap(),
            "13800138000"
        );
        assert_eq!(k.encrypt("phone", "L1", "").unwrap(), "");
        let other = DataKey::from_bytes(&[8u8; 32]).unwrap();
        assert!(other.decrypt("id_number", "L1", &c).is_err());
        assert_eq!(
            k.blind_index("11010519491231002x"),
            k.blind_index("11010519491231002X")
        );
        assert_ne!(k.blind_index("x"), other.blind_index("x"));
        assert_ne!(k.check_value(), other.check_value());
    }

    #[test]
    fn a_key_file_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k/data.key");
        let a = DataKey::load_or_create(&path).unwrap();
        let b = DataKey::load_or_create(&path).unwrap();
        assert_eq!(a.check_value(), b.check_value());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "nonsense").unwrap();
        assert!(matches!(
            DataKey::load_or_create(&path),
            Err(DataKeyError::Malformed(_))
        ));
        assert!(
            default_key_path("sqlite:/tmp/x.db").ends_with("x.db.datakey")
                || std::env::var_os(DATA_KEY_ENV).is_some()
        );
    }
}
