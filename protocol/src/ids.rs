//! Identifiers and digests that cross every seam: [`struct@Hash`] (SHA-256) and
//! [`DeviceId`] (first 16 bytes of SHA-256 of a device's Ed25519 public key).
//! Both display, debug and serialize as lowercase hex.

use std::fmt;
use std::str::FromStr;

use ring::digest;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash: the `prev_hash` of record 1.
    pub const ZERO: Hash = Hash([0; 32]);

    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Hash {
        let d = digest::digest(&digest::SHA256, bytes);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Hash(out)
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// A device identifier: the first 16 bytes of SHA-256 of the device's 32-byte
/// Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct DeviceId(pub [u8; 16]);

impl DeviceId {
    /// The device id of an Ed25519 public key.
    pub fn from_public_key(public_key: &[u8; 32]) -> DeviceId {
        let h = Hash::of(public_key);
        let mut out = [0u8; 16];
        out.copy_from_slice(&h.0[..16]);
        DeviceId(out)
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// A hex string that does not decode to the expected number of bytes (or is not
/// lowercase: hex is lowercase wherever text is used).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: expected {expected_bytes} bytes as lowercase hex")]
pub struct HexError {
    what: &'static str,
    expected_bytes: usize,
}

/// Decodes exactly `N` bytes of lowercase hex.
pub fn decode_hex<const N: usize>(s: &str, what: &'static str) -> Result<[u8; N], HexError> {
    let err = HexError {
        what,
        expected_bytes: N,
    };
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(err);
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|_| err)?;
    Ok(out)
}

macro_rules! hex_newtype {
    ($ty:ident, $n:expr, $what:expr) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($ty), hex::encode(self.0))
            }
        }
        impl FromStr for $ty {
            type Err = HexError;
            fn from_str(s: &str) -> Result<Self, HexError> {
                decode_hex::<$n>(s, $what).map($ty)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&hex::encode(self.0))
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_newtype!(Hash, 32, "hash");
hex_newtype!(DeviceId, 16, "device id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_types_serde() {
        let h = Hash([0xab; 32]);
        let s = serde_json::to_string(&h).unwrap_or_default();
        assert_eq!(s, format!("\"{}\"", "ab".repeat(32)));
        assert_eq!(serde_json::from_str::<Hash>(&s).ok(), Some(h));
        assert!(serde_json::from_str::<DeviceId>("\"abc\"").is_err());
        // Upper case is refused: one spelling per value.
        assert!("AB".repeat(32).parse::<Hash>().is_err());
    }
}
