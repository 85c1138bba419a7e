//! The signed head checkpoint kept beside a journal (`<journal>.head`).

use serde::{Deserialize, Serialize};

use super::{Signer, HEAD_CHECKPOINT_DOMAIN, HEAD_CHECKPOINT_FORMAT};
use crate::ids::{DeviceId, Hash};
use crate::sig::verify_signature;

/// The signed head checkpoint kept beside a journal (`<journal>.head`): the last
/// committed seq and hash, signed by the device key. Lets a verifier notice that
/// records were cut from the tail of the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadCheckpoint {
    /// Always `keshi-head-v1`.
    pub format: String,
    /// Device id of the signing key.
    pub device_id: DeviceId,
    /// Last committed seq.
    pub seq: u64,
    /// Hash of that record.
    pub hash: Hash,
    /// Ed25519 over [`HeadCheckpoint::message`], hex.
    #[serde(with = "hex_sig")]
    pub signature: [u8; 64],
}

/// Why a head checkpoint is not valid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Not parseable JSON of the expected shape.
    #[error("head checkpoint is not valid keshi-head-v1 JSON: {0}")]
    Parse(#[source] serde_json::Error),
    /// Another `format` value.
    #[error("head checkpoint has unknown format {0:?}")]
    UnknownFormat(String),
    /// Written for another device.
    #[error("head checkpoint belongs to device {found}, expected {expected}")]
    WrongDevice {
        /// Device id of the verifying key.
        expected: DeviceId,
        /// Device id in the checkpoint.
        found: DeviceId,
    },
    /// The signature does not verify.
    #[error("head checkpoint signature is invalid (checkpoint was edited)")]
    BadSignature,
}

impl HeadCheckpoint {
    /// The signed message: `b"KESHI-HEAD-v1" | device_id | seq u64 BE | hash`.
    pub fn message(device_id: &DeviceId, seq: u64, hash: &Hash) -> Vec<u8> {
        let mut m = Vec::with_capacity(HEAD_CHECKPOINT_DOMAIN.len() + 16 + 8 + 32);
        m.extend_from_slice(HEAD_CHECKPOINT_DOMAIN);
        m.extend_from_slice(&device_id.0);
        m.extend_from_slice(&seq.to_be_bytes());
        m.extend_from_slice(&hash.0);
        m
    }

    /// Sign a checkpoint for (`seq`, `hash`).
    pub fn sign(signer: &dyn Signer, seq: u64, hash: Hash) -> HeadCheckpoint {
        let device_id = DeviceId::from_public_key(&signer.public_key());
        let signature = signer.sign(&Self::message(&device_id, seq, &hash));
        HeadCheckpoint {
            format: HEAD_CHECKPOINT_FORMAT.to_owned(),
            device_id,
            seq,
            hash,
            signature,
        }
    }

    /// Parse checkpoint JSON (strict: unknown fields are rejected).
    pub fn from_json(bytes: &[u8]) -> Result<HeadCheckpoint, CheckpointError> {
        serde_json::from_slice(bytes).map_err(CheckpointError::Parse)
    }

    /// Checkpoint JSON (one line, trailing newline).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Check format, device and signature against `public_key`.
    pub fn verify(&self, public_key: &[u8; 32]) -> Result<(), CheckpointError> {
        if self.format != HEAD_CHECKPOINT_FORMAT {
            return Err(CheckpointError::UnknownFormat(self.format.clone()));
        }
        let expected = DeviceId::from_public_key(public_key);
        if self.device_id != expected {
            return Err(CheckpointError::WrongDevice {
                expected,
                found: self.device_id,
            });
        }
        let msg = Self::message(&self.device_id, self.seq, &self.hash);
        if !verify_signature(public_key, &msg, &self.signature) {
            return Err(CheckpointError::BadSignature);
        }
        Ok(())
    }
}

mod hex_sig {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(sig: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(sig))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 64];
        hex::decode_to_slice(&s, &mut out)
            .map_err(|_| serde::de::Error::custom("signature: expected 64 bytes as hex"))?;
        Ok(out)
    }
}
