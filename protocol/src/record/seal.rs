//! Sealing: a new record's header is built, chained, hashed and signed.

use std::fmt;

use super::canonical::canonical_json;
use super::{is_valid_kind, RecordError, RecordHeader, VERSION};
use crate::ids::{DeviceId, Hash};

/// A sealed record: header, payload bytes, header hash and signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    /// The signed header.
    pub header: RecordHeader,
    /// The payload bytes (compact JSON, sorted keys). Empty when the payload has
    /// been erased (see [`Record::payload_erased`]).
    pub payload: Vec<u8>,
    /// SHA-256 of the header bytes.
    pub hash: Hash,
    /// Ed25519 signature over the header bytes.
    pub signature: [u8; 64],
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("header", &self.header)
            .field("payload", &String::from_utf8_lossy(&self.payload))
            .field("hash", &self.hash)
            .field("signature", &hex::encode(self.signature))
            .finish()
    }
}

impl Record {
    /// The record's sequence number.
    pub fn seq(&self) -> u64 {
        self.header.seq
    }

    /// The payload parsed as JSON.
    pub fn payload_json(&self) -> Result<serde_json::Value, RecordError> {
        serde_json::from_slice(&self.payload).map_err(RecordError::PayloadJson)
    }

    /// Whether the payload was erased after its retention period: the header
    /// commits to a payload (every v1 payload is non-empty JSON) but none is
    /// stored. Such a record still verifies as a chain link; its content is gone.
    pub fn payload_erased(&self) -> bool {
        self.payload.is_empty() && self.header.payload_len != 0
    }
}

/// A record to be appended: the caller passes both clocks in.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    /// Record kind, `[a-z0-9_]{1,48}`.
    pub kind: String,
    /// Payload; stored as compact JSON with sorted object keys.
    pub payload: serde_json::Value,
    /// Wall clock, Unix milliseconds.
    pub wall_ms: i64,
    /// Session monotonic clock, milliseconds.
    pub mono_ms: u64,
}

impl NewRecord {
    /// Convenience constructor.
    pub fn new(
        kind: impl Into<String>,
        payload: serde_json::Value,
        wall_ms: i64,
        mono_ms: u64,
    ) -> Self {
        NewRecord {
            kind: kind.into(),
            payload,
            wall_ms,
            mono_ms,
        }
    }
}

/// Something that signs with a device's Ed25519 key.
pub trait Signer: Send + Sync {
    /// The 32-byte Ed25519 public key.
    fn public_key(&self) -> [u8; 32];
    /// Ed25519 signature of `msg`.
    fn sign(&self, msg: &[u8]) -> [u8; 64];
}

/// A record whose header is built and hashed but not yet signed. Chaining needs
/// only header hashes, so a batch can be prepared in order and signed in parallel.
#[derive(Debug, Clone)]
pub struct UnsignedRecord {
    /// The header.
    pub header: RecordHeader,
    /// Its canonical bytes (the message to sign).
    pub header_bytes: Vec<u8>,
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// SHA-256 of `header_bytes`.
    pub hash: Hash,
}

impl UnsignedRecord {
    /// Sign the header bytes.
    pub fn sign(self, signer: &dyn Signer) -> Record {
        let signature = signer.sign(&self.header_bytes);
        Record {
            header: self.header,
            payload: self.payload,
            hash: self.hash,
            signature,
        }
    }
}

/// Build and hash the header of the record following `prev` (`None`: the first
/// record, seq 1 with a zero `prev_hash`).
pub fn prepare(
    device_id: DeviceId,
    prev: Option<(u64, Hash)>,
    new: &NewRecord,
) -> Result<UnsignedRecord, RecordError> {
    if !is_valid_kind(&new.kind) {
        return Err(RecordError::InvalidKind {
            kind: new.kind.clone(),
        });
    }
    let (seq, prev_hash) = match prev {
        None => (1, Hash::ZERO),
        Some((s, h)) => (s.checked_add(1).ok_or(RecordError::SequenceOverflow)?, h),
    };
    let payload = canonical_json(&new.payload);
    let payload_len = u32::try_from(payload.len())
        .map_err(|_| RecordError::PayloadTooLarge { len: payload.len() })?;
    let header = RecordHeader {
        version: VERSION,
        device_id,
        seq,
        kind: new.kind.clone(),
        wall_ms: new.wall_ms,
        mono_ms: new.mono_ms,
        prev_hash,
        payload_len,
        payload_hash: Hash::of(&payload),
    };
    let header_bytes = header.encode();
    let hash = Hash::of(&header_bytes);
    Ok(UnsignedRecord {
        header,
        header_bytes,
        payload,
        hash,
    })
}

/// Seal a new record after `prev` (seq + 1, previous hash, payload hash, header
/// hash, signature).
pub fn seal(
    signer: &dyn Signer,
    prev: Option<(u64, Hash)>,
    new: &NewRecord,
) -> Result<Record, RecordError> {
    let device_id = DeviceId::from_public_key(&signer.public_key());
    Ok(prepare(device_id, prev, new)?.sign(signer))
}
