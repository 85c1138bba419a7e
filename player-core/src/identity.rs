//! The device key pair (R-ID-1, R-ST-6).
//!
//! Each installation has one Ed25519 key pair, generated with `ring`. Its public
//! key is exported at enrolment (R-ID-1: the platform binds it to the registered
//! learner) and every study record and head checkpoint is signed with it.
//!
//! The PKCS#8 secret is kept in the operating system's credential store through
//! the `keyring` crate (Keychain on macOS/iOS, Credential Manager on Windows, the
//! Secret Service on Linux/BSD), or in a `0600` file when no persistent OS store is
//! available (a headless Linux box without a D-Bus session, CI). [`KeyStore::from_choice`]
//! makes that choice and logs why.
//!
//! Architecture invariant: the secret never leaves this module in clear text. It
//! is not part of any `Debug` output or log line, and buffers holding it are
//! zeroized on drop.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use zeroize::Zeroizing;

use crate::record::{DeviceId, Signer};

/// Environment variable that forces the key store: `os` or `file`.
pub const KEYSTORE_ENV: &str = "KESHI_KEYSTORE";
/// Service name of the OS store entry.
pub const DEFAULT_SERVICE: &str = "keshi";
/// Account name of the OS store entry.
pub const DEFAULT_ACCOUNT: &str = "device-key";
/// File name of the fallback key file inside the app's home directory.
pub const KEY_FILE_NAME: &str = "device-key.pk8";

/// Errors while loading, creating or storing the device key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Reading or writing the key file failed.
    #[error("device key file {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The key file can be read by other users; it is not used.
    #[error("device key file {path} is readable by group or others (mode {mode:04o}); run `chmod 600 {path}` if this is your key, or delete it")]
    InsecureKeyFile {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The stored bytes are not an Ed25519 PKCS#8 key.
    #[error("device key in {location} is not a valid Ed25519 PKCS#8 key: {reason}")]
    CorruptKey {
        /// Where it was read from.
        location: String,
        /// ring's reason.
        reason: String,
    },
    /// The system random generator failed.
    #[error("could not generate a device key: system random generator failed")]
    Generate,
    /// The OS credential store failed.
    #[error("OS key store ({service}/{account}) failed to {op}: {source}")]
    OsStore {
        /// Entry service.
        service: String,
        /// Entry account.
        account: String,
        /// What was attempted.
        op: &'static str,
        /// keyring's error.
        #[source]
        source: keyring::Error,
    },
    /// The OS store offers no persistent storage on this platform.
    #[error("no persistent OS key store on this platform ({reason}); use KESHI_KEYSTORE=file")]
    OsStoreUnavailable {
        /// Why.
        reason: String,
    },
    /// `KESHI_KEYSTORE` holds an unknown value.
    #[error("KESHI_KEYSTORE={value:?} is not one of \"os\", \"file\"")]
    UnknownKeystoreChoice {
        /// The value.
        value: String,
    },
}

/// Where the device key is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStore {
    /// The OS credential store, entry (`service`, `account`).
    Os {
        /// Service name.
        service: String,
        /// Account name.
        account: String,
    },
    /// A PKCS#8 file, mode 0600 on Unix.
    File(PathBuf),
}

/// What probing the OS store found.
enum OsProbe {
    HasKey,
    Empty,
    Unavailable(String),
}

impl KeyStore {
    /// The default OS store entry (`keshi` / `device-key`).
    pub fn os_default() -> KeyStore {
        KeyStore::Os {
            service: DEFAULT_SERVICE.to_owned(),
            account: DEFAULT_ACCOUNT.to_owned(),
        }
    }

    /// Choose the store: the OS store, falling back to `home_dir/device-key.pk8`
    /// only when the OS store is unavailable (no D-Bus session, no platform store),
    /// logged with the reason. The binaries may pass a forced choice (`os`, `file`)
    /// through [`KeyStore::from_choice`]; the core reads no environment.
    pub fn auto(home_dir: &Path) -> Result<KeyStore, IdentityError> {
        KeyStore::from_choice(home_dir, None)
    }

    /// [`KeyStore::auto`] with a forced choice (the binaries read it from
    /// `KESHI_KEYSTORE`).
    ///
    /// With no choice: an existing OS entry wins; else an existing key file is kept
    /// (a device that fell back once keeps its identity even if an OS store appears
    /// later); else the OS store if it is reachable; else a new key file.
    pub fn from_choice(home_dir: &Path, choice: Option<&str>) -> Result<KeyStore, IdentityError> {
        let file = KeyStore::File(home_dir.join(KEY_FILE_NAME));
        match choice.map(str::trim) {
            Some("os") => {
                tracing::info!("{KEYSTORE_ENV}=os: using the OS key store");
                return Ok(KeyStore::os_default());
            }
            Some("file") => {
                tracing::info!("{KEYSTORE_ENV}=file: using the key file");
                return Ok(file);
            }
            Some("") | None => {}
            Some(other) => {
                return Err(IdentityError::UnknownKeystoreChoice {
                    value: other.to_owned(),
                })
            }
        }
        let file_exists = home_dir.join(KEY_FILE_NAME).exists();
        match probe_os(DEFAULT_SERVICE, DEFAULT_ACCOUNT) {
            OsProbe::HasKey => Ok(KeyStore::os_default()),
            OsProbe::Empty if file_exists => {
                tracing::info!(
                    "OS key store is empty but a key file exists; keeping the key file so the device id does not change"
                );
                Ok(file)
            }
            OsProbe::Empty => Ok(KeyStore::os_default()),
            OsProbe::Unavailable(reason) => {
                tracing::warn!(%reason, "OS key store unavailable; falling back to the key file");
                Ok(file)
            }
        }
    }
}

fn probe_os(service: &str, account: &str) -> OsProbe {
    use keyring::credential::CredentialPersistence;
    let persistence = keyring::default::default_credential_builder().persistence();
    let lifetime = match persistence {
        CredentialPersistence::UntilDelete => None,
        CredentialPersistence::UntilReboot => Some("until reboot"),
        CredentialPersistence::ProcessOnly => Some("for this process only"),
        CredentialPersistence::EntryOnly => Some("in memory only"),
        _ => Some("with an unknown lifetime"),
    };
    if let Some(lifetime) = lifetime {
        return OsProbe::Unavailable(format!(
            "this build's platform store keeps secrets {lifetime}"
        ));
    }
    let entry = match keyring::Entry::new(service, account) {
        Ok(e) => e,
        Err(e) => return OsProbe::Unavailable(e.to_string()),
    };
    match entry.get_secret() {
        Ok(mut secret) => {
            zeroize::Zeroize::zeroize(&mut secret);
            OsProbe::HasKey
        }
        Err(keyring::Error::NoEntry) => OsProbe::Empty,
        Err(keyring::Error::Ambiguous(_)) => OsProbe::HasKey,
        Err(e) => OsProbe::Unavailable(e.to_string()),
    }
}

/// The device's Ed25519 key pair. Implements [`Signer`].
pub struct DeviceKey {
    pair: Ed25519KeyPair,
    public: [u8; 32],
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceKey")
            .field("device_id", &self.device_id())
            .field("public_key", &self.public_key_hex())
            .finish_non_exhaustive()
    }
}

impl DeviceKey {
    /// A new key that is not stored anywhere (tests, benchmarks).
    pub fn generate() -> Result<DeviceKey, IdentityError> {
        let pkcs8 = generate_pkcs8()?;
        DeviceKey::from_pkcs8(&pkcs8, "a new key")
    }

    /// Parse a PKCS#8 document (v1 or v2, as written by ring).
    fn from_pkcs8(pkcs8: &[u8], location: &str) -> Result<DeviceKey, IdentityError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(|e| {
            IdentityError::CorruptKey {
                location: location.to_owned(),
                reason: e.to_string(),
            }
        })?;
        let mut public = [0u8; 32];
        public.copy_from_slice(pair.public_key().as_ref());
        Ok(DeviceKey { pair, public })
    }

    /// Load the key from `store`, creating and storing a new one if there is none.
    pub fn load_or_create(store: &KeyStore) -> Result<DeviceKey, IdentityError> {
        match store {
            KeyStore::File(path) => load_or_create_file(path),
            KeyStore::Os { service, account } => load_or_create_os(service, account),
        }
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// The device id (first 16 bytes of SHA-256 of the public key).
    pub fn device_id(&self) -> DeviceId {
        DeviceId::from_public_key(&self.public)
    }

    /// The public key as lowercase hex, for enrolment export (R-ID-1).
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public)
    }
}

impl Signer for DeviceKey {
    fn public_key(&self) -> [u8; 32] {
        self.public
    }

    fn sign(&self, msg: &[u8]) -> [u8; 64] {
        let sig = self.pair.sign(msg);
        let mut out = [0u8; 64];
        out.copy_from_slice(sig.as_ref());
        out
    }
}

fn generate_pkcs8() -> Result<Zeroizing<Vec<u8>>, IdentityError> {
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| IdentityError::Generate)?;
    Ok(Zeroizing::new(doc.as_ref().to_vec()))
}

fn load_or_create_os(service: &str, account: &str) -> Result<DeviceKey, IdentityError> {
    let os_err = |op: &'static str| {
        move |source| IdentityError::OsStore {
            service: service.to_owned(),
            account: account.to_owned(),
            op,
            source,
        }
    };
    let location = format!("the OS key store ({service}/{account})");
    let entry = keyring::Entry::new(service, account).map_err(os_err("open the entry"))?;
    match entry.get_secret() {
        Ok(secret) => {
            let secret = Zeroizing::new(secret);
            let key = DeviceKey::from_pkcs8(&secret, &location)?;
            tracing::debug!(device_id = %key.device_id(), "device key loaded from the OS key store");
            Ok(key)
        }
        Err(keyring::Error::NoEntry) => {
            let pkcs8 = generate_pkcs8()?;
            let key = DeviceKey::from_pkcs8(&pkcs8, &location)?;
            entry
                .set_secret(&pkcs8)
                .map_err(os_err("store the new key"))?;
            tracing::info!(device_id = %key.device_id(), "new device key created in the OS key store");
            Ok(key)
        }
        Err(e) => Err(os_err("read the key")(e)),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> IdentityError + '_ {
    move |source| IdentityError::Io {
        path: path.to_owned(),
        source,
    }
}

fn load_or_create_file(path: &Path) -> Result<DeviceKey, IdentityError> {
    match load_file(path) {
        Err(IdentityError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            create_file(path)
        }
        other => other,
    }
}

fn load_file(path: &Path) -> Result<DeviceKey, IdentityError> {
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    check_private(path, &file)?;
    let mut bytes = Zeroizing::new(Vec::new());
    std::io::Read::read_to_end(&mut &file, &mut bytes).map_err(io_err(path))?;
    let key = DeviceKey::from_pkcs8(&bytes, &path.display().to_string())?;
    tracing::debug!(device_id = %key.device_id(), path = %path.display(), "device key loaded from file");
    Ok(key)
}

#[cfg(unix)]
fn check_private(path: &Path, file: &std::fs::File) -> Result<(), IdentityError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = file.metadata().map_err(io_err(path))?.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(IdentityError::InsecureKeyFile {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _file: &std::fs::File) -> Result<(), IdentityError> {
    // On Windows the file inherits the ACL of the per-user app data directory.
    Ok(())
}

/// Create the key file atomically: write a private temp file, fsync it, then
/// hard-link it into place (fails if another process created the key first, in
/// which case that key is loaded), and fsync the directory.
fn create_file(path: &Path) -> Result<DeviceKey, IdentityError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir)?;
    let pkcs8 = generate_pkcs8()?;
    let key = DeviceKey::from_pkcs8(&pkcs8, &path.display().to_string())?;
    let tmp = dir.join(format!(
        ".{KEY_FILE_NAME}.tmp-{}-{}",
        std::process::id(),
        key.device_id()
    ));
    let result = (|| {
        let mut f = private_create_new(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&pkcs8).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        drop(f);
        std::fs::hard_link(&tmp, path).map_err(io_err(path))
    })();
    // Best effort: the temp name is unique and private, a leftover is harmless.
    let _ = std::fs::remove_file(&tmp);
    match result {
        Ok(()) => {
            sync_dir(&dir);
            tracing::info!(device_id = %key.device_id(), path = %path.display(), "new device key created in key file");
            Ok(key)
        }
        Err(IdentityError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            load_file(path)
        }
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn private_create_new(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_create_new(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

fn create_private_dir(dir: &Path) -> Result<(), IdentityError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(io_err(dir))
}

fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        tracing::warn!(dir = %dir.display(), error = %e, "could not fsync the key directory");
    }
    #[cfg(not(unix))]
    let _ = dir;
}
