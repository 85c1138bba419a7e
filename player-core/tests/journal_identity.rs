//! Device key storage (R-ID-1): file store, permissions, reload, store choice.
#![allow(clippy::disallowed_methods)] // a test reads its environment
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use std::path::Path;

use player_core::identity::{DeviceKey, IdentityError, KeyStore, KEY_FILE_NAME};
use player_core::record::{verify_signature, DeviceId, Hash, Signer};

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn file_store_creates_private_key_and_reloads_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join(KEY_FILE_NAME);
    let store = KeyStore::File(path.clone());

    let first = DeviceKey::load_or_create(&store).unwrap();
    assert!(path.exists());
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600, "key file must be created 0600");

    let again = DeviceKey::load_or_create(&store).unwrap();
    assert_eq!(first.public_key(), again.public_key());
    assert_eq!(first.device_id(), again.device_id());

    // No temp files are left beside the key.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from(KEY_FILE_NAME)]);
}

#[test]
fn device_id_and_hex_export() {
    let key = DeviceKey::generate().unwrap();
    let pk = key.public_key();
    let h = Hash::of(&pk);
    assert_eq!(key.device_id(), DeviceId(h.0[..16].try_into().unwrap()));
    assert_eq!(key.public_key_hex(), hex::encode(pk));
    assert_eq!(key.public_key_hex().len(), 64);
    assert_eq!(Signer::public_key(&key), pk);
}

#[test]
fn signatures_verify_with_the_public_key() {
    let key = DeviceKey::generate().unwrap();
    let sig = key.sign(b"hello");
    assert!(verify_signature(&key.public_key(), b"hello", &sig));
    assert!(!verify_signature(&key.public_key(), b"hellO", &sig));
}

#[cfg(unix)]
#[test]
fn refuses_key_file_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(KEY_FILE_NAME);
    let store = KeyStore::File(path.clone());
    DeviceKey::load_or_create(&store).unwrap();

    for bad in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(bad)).unwrap();
        let err = DeviceKey::load_or_create(&store).unwrap_err();
        match &err {
            IdentityError::InsecureKeyFile { mode, .. } => assert_eq!(*mode, bad),
            other => panic!("expected InsecureKeyFile, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("readable by group or others"), "{msg}");
        assert!(msg.contains("chmod 600"), "{msg}");
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    DeviceKey::load_or_create(&store).unwrap();
}

#[cfg(unix)]
#[test]
fn corrupt_key_file_is_a_clear_error_not_a_new_identity() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(KEY_FILE_NAME);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .unwrap();
    std::fs::write(&path, b"not a key").unwrap();
    let err = DeviceKey::load_or_create(&KeyStore::File(path.clone())).unwrap_err();
    assert!(matches!(err, IdentityError::CorruptKey { .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), b"not a key");
}

#[test]
fn secret_never_in_debug_output() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(KEY_FILE_NAME);
    let key = DeviceKey::load_or_create(&KeyStore::File(path.clone())).unwrap();
    let pkcs8 = std::fs::read(&path).unwrap();
    // ring's Ed25519 PKCS#8 v2 document: the 32-byte seed follows a 16-byte prefix.
    let seed_hex = hex::encode(&pkcs8[16..48]);
    let debug = format!("{key:?} {key:#?}");
    assert!(!debug.contains(&seed_hex), "{debug}");
    assert!(!debug.to_lowercase().contains(&hex::encode(&pkcs8)));
    assert!(debug.contains(&key.public_key_hex()));
}

#[test]
fn keystore_choice_from_environment_value() {
    let dir = tempfile::tempdir().unwrap();
    let file = KeyStore::File(dir.path().join(KEY_FILE_NAME));
    assert_eq!(
        KeyStore::from_choice(dir.path(), Some("file")).unwrap(),
        file
    );
    assert_eq!(
        KeyStore::from_choice(dir.path(), Some("os")).unwrap(),
        KeyStore::os_default()
    );
    let err = KeyStore::from_choice(dir.path(), Some("vault")).unwrap_err();
    assert!(
        matches!(&err, IdentityError::UnknownKeystoreChoice { value } if value == "vault"),
        "{err:?}"
    );
}

/// Without a D-Bus session bus (headless CI) the OS store is unavailable and
/// `auto` falls back to the key file. Skipped where a session bus exists, so the
/// test never writes to a developer's real keyring.
#[cfg(target_os = "linux")]
#[test]
fn auto_falls_back_to_file_without_a_session_bus() {
    let has_bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some()
        || std::env::var_os("XDG_RUNTIME_DIR")
            .map(|d| Path::new(&d).join("bus").exists())
            .unwrap_or(false);
    if has_bus {
        eprintln!("skipped: a D-Bus session bus is available");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::from_choice(dir.path(), None).unwrap();
    assert_eq!(store, KeyStore::File(dir.path().join(KEY_FILE_NAME)));
    let key = DeviceKey::load_or_create(&store).unwrap();
    let again =
        DeviceKey::load_or_create(&KeyStore::from_choice(dir.path(), None).unwrap()).unwrap();
    assert_eq!(key.public_key(), again.public_key());
}
