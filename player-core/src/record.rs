//! The frozen canonical encoding of a study record, version 1 (R-ST-6).
//!
//! A record is a signed, hash-chained *header* plus a separately stored JSON
//! *payload*. The header commits to the payload by length and SHA-256, so a
//! payload that carries personal data (a face image, R-ST-3) can be erased once
//! its retention period is over while the chain still verifies (R-SV-4).
//!
//! The byte layout is specified in `docs/record-format-v1.md`. It is frozen:
//! any change is version 2, and verifiers keep accepting version 1.
//!
//! ```text
//! magic "KSR1" | version u8 = 1 | device_id [16] | seq u64 | kind_len u8 | kind
//! | wall_ms i64 | mono_ms u64 | prev_hash [32] | payload_len u32 | payload_sha256 [32]
//! ```
//! (all integers big-endian). `hash = SHA-256(header)`, `signature = Ed25519(header)`.
//!
//! Architecture invariant: this module is pure. It does no I/O, reads no clock and
//! keeps no state; the journal, the verifier and the platform service all call the
//! same functions ([`seal`], [`check_record`], [`HeadCheckpoint::verify`]).

use std::fmt;
use std::str::FromStr;

use ring::digest;
use ring::signature::{UnparsedPublicKey, ED25519};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Magic bytes opening every v1 header.
pub const MAGIC: [u8; 4] = *b"KSR1";
/// The only header version this module writes.
pub const VERSION: u8 = 1;
/// Longest allowed record kind, in bytes.
pub const MAX_KIND_LEN: usize = 48;
/// Size of a v1 header without the kind bytes.
pub const HEADER_FIXED_LEN: usize = 4 + 1 + 16 + 8 + 1 + 8 + 8 + 32 + 4 + 32;
/// Domain-separation prefix of the signed head checkpoint message.
pub const HEAD_CHECKPOINT_DOMAIN: &[u8] = b"KESHI-HEAD-v1";
/// The `format` field of a head checkpoint file.
pub const HEAD_CHECKPOINT_FORMAT: &str = "keshi-head-v1";

/// A SHA-256 digest. Displays, debugs and serializes as lowercase hex.
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
/// Ed25519 public key. Displays, debugs and serializes as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct DeviceId(pub [u8; 16]);

impl DeviceId {
    /// Derive the device id of an Ed25519 public key.
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
                let mut out = [0u8; $n];
                hex::decode_to_slice(s, &mut out).map_err(|_| HexError {
                    what: $what,
                    expected_bytes: $n,
                })?;
                Ok($ty(out))
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&hex::encode(self.0))
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_newtype!(Hash, 32, "hash");
hex_newtype!(DeviceId, 16, "device id");

/// A hex string that does not decode to the expected number of bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: expected {expected_bytes} bytes as hex")]
pub struct HexError {
    what: &'static str,
    expected_bytes: usize,
}

/// Why a header's bytes are not a valid v1 header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The bytes end before the header does.
    #[error("header truncated: {len} bytes")]
    Truncated {
        /// Length of the bytes given.
        len: usize,
    },
    /// Bytes are left over after the header.
    #[error("header has {extra} trailing bytes")]
    TrailingBytes {
        /// Count of unexpected bytes.
        extra: usize,
    },
    /// The header does not start with `KSR1`.
    #[error("bad magic {found:02x?}")]
    BadMagic {
        /// The first four bytes.
        found: [u8; 4],
    },
    /// A version this build does not read.
    #[error("unsupported header version {found}")]
    UnsupportedVersion {
        /// The version byte.
        found: u8,
    },
    /// The kind is empty, too long, or uses characters outside `[a-z0-9_]`.
    #[error("invalid kind {kind:?}: 1..=48 characters of [a-z0-9_]")]
    BadKind {
        /// The kind, lossily decoded.
        kind: String,
    },
    /// seq 0 does not exist; the first record is 1.
    #[error("seq 0 is not a valid record number")]
    ZeroSeq,
}

/// Errors of the record layer. Each validation rule is its own variant and names
/// the record (by `seq`) it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Header bytes that do not decode (no record identity is known yet).
    #[error("malformed record header: {0}")]
    Malformed(HeaderError),
    /// A record to be written has an invalid kind.
    #[error("invalid record kind {kind:?}: 1..=48 characters of [a-z0-9_]")]
    InvalidKind {
        /// The kind given.
        kind: String,
    },
    /// A payload larger than `u32::MAX` bytes.
    #[error("payload of {len} bytes is too large for a v1 record")]
    PayloadTooLarge {
        /// Its length.
        len: usize,
    },
    /// The payload bytes are not JSON.
    #[error("record payload is not valid JSON: {0}")]
    PayloadJson(#[source] serde_json::Error),
    /// The journal has reached `u64::MAX` records.
    #[error("record sequence number overflow")]
    SequenceOverflow,
    /// A header whose fields are invalid (version, kind, seq 0).
    #[error("record {seq}: bad header ({reason})")]
    BadHeader {
        /// The record.
        seq: u64,
        /// What is wrong.
        reason: HeaderError,
    },
    /// The header names another device than the key that is checking it.
    #[error("record {seq}: written by device {found}, expected device {expected}")]
    WrongDevice {
        /// The record.
        seq: u64,
        /// Device id of the verifying key.
        expected: DeviceId,
        /// Device id in the header.
        found: DeviceId,
    },
    /// The stored hash is not SHA-256 of the header bytes.
    #[error("record {seq}: header hash mismatch (header or stored hash was edited)")]
    HashMismatch {
        /// The record.
        seq: u64,
        /// The hash stored with the record.
        stored: Hash,
        /// SHA-256 of the header bytes.
        computed: Hash,
    },
    /// A record number is missing: the next record present has a higher seq.
    #[error("record {expected}: missing (sequence gap; next record present is {found})")]
    SequenceGap {
        /// The record that should come next.
        expected: u64,
        /// The seq found instead.
        found: u64,
    },
    /// A record is not where its seq says it belongs (lower seq than expected, or a
    /// row holding another row's record).
    #[error("record {expected}: out of order (found record {found} in its place)")]
    Reordered {
        /// The record that should be here.
        expected: u64,
        /// The seq found instead.
        found: u64,
    },
    /// `prev_hash` does not equal the hash of the previous record.
    #[error("record {seq}: broken chain link (prev hash {found} is not the hash of record {prev_seq}, {expected})", prev_seq = seq.saturating_sub(1))]
    BrokenLink {
        /// The record.
        seq: u64,
        /// Hash of the previous record (zero for record 1).
        expected: Hash,
        /// `prev_hash` in the header.
        found: Hash,
    },
    /// The stored payload length differs from the length the header commits to.
    #[error("record {seq}: payload length mismatch (header says {header_len} bytes, stored payload has {stored_len})")]
    PayloadLengthMismatch {
        /// The record.
        seq: u64,
        /// Length in the header.
        header_len: u32,
        /// Length of the stored payload.
        stored_len: usize,
    },
    /// The stored payload's SHA-256 differs from the header's.
    #[error("record {seq}: payload hash mismatch (stored payload was edited)")]
    PayloadHashMismatch {
        /// The record.
        seq: u64,
    },
    /// The Ed25519 signature does not verify with the device key.
    #[error("record {seq}: bad signature (not signed by this device's key)")]
    BadSignature {
        /// The record.
        seq: u64,
    },
}

impl RecordError {
    /// The record this error names, when it names one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            RecordError::BadHeader { seq, .. }
            | RecordError::WrongDevice { seq, .. }
            | RecordError::HashMismatch { seq, .. }
            | RecordError::BrokenLink { seq, .. }
            | RecordError::PayloadLengthMismatch { seq, .. }
            | RecordError::PayloadHashMismatch { seq }
            | RecordError::BadSignature { seq } => Some(*seq),
            RecordError::SequenceGap { expected, .. } | RecordError::Reordered { expected, .. } => {
                Some(*expected)
            }
            RecordError::Malformed(_)
            | RecordError::InvalidKind { .. }
            | RecordError::PayloadTooLarge { .. }
            | RecordError::PayloadJson(_)
            | RecordError::SequenceOverflow => None,
        }
    }
}

/// Whether `kind` is 1..=48 characters of `[a-z0-9_]`.
pub fn is_valid_kind(kind: &str) -> bool {
    !kind.is_empty()
        && kind.len() <= MAX_KIND_LEN
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The v1 record header: everything that is hashed and signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordHeader {
    /// Header version, 1.
    pub version: u8,
    /// Device that wrote the record.
    pub device_id: DeviceId,
    /// Sequence number, 1 for the first record, contiguous.
    pub seq: u64,
    /// What the record says, e.g. `playback_tick` (`[a-z0-9_]{1,48}`).
    pub kind: String,
    /// Wall-clock time, Unix milliseconds (informational; clocks can be set).
    pub wall_ms: i64,
    /// Session monotonic clock, milliseconds.
    pub mono_ms: u64,
    /// Hash of the previous record's header; zero for record 1.
    pub prev_hash: Hash,
    /// Length of the payload bytes.
    pub payload_len: u32,
    /// SHA-256 of the payload bytes.
    pub payload_hash: Hash,
}

impl RecordHeader {
    /// The canonical v1 bytes of this header.
    ///
    /// The kind is written as given; [`RecordHeader::validate`] (called by
    /// [`seal`] and [`check_record`]) rejects kinds a v1 header cannot carry.
    pub fn encode(&self) -> Vec<u8> {
        let kind = self.kind.as_bytes();
        let kind_len = kind.len().min(u8::MAX as usize);
        let mut out = Vec::with_capacity(HEADER_FIXED_LEN + kind_len);
        out.extend_from_slice(&MAGIC);
        out.push(self.version);
        out.extend_from_slice(&self.device_id.0);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.push(kind_len as u8);
        out.extend_from_slice(&kind[..kind_len]);
        out.extend_from_slice(&self.wall_ms.to_be_bytes());
        out.extend_from_slice(&self.mono_ms.to_be_bytes());
        out.extend_from_slice(&self.prev_hash.0);
        out.extend_from_slice(&self.payload_len.to_be_bytes());
        out.extend_from_slice(&self.payload_hash.0);
        out
    }

    /// Decode canonical v1 bytes, strictly: exact length, magic, version, kind
    /// charset and a non-zero seq.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        Self::decode_inner(bytes).map_err(RecordError::Malformed)
    }

    fn decode_inner(bytes: &[u8]) -> Result<Self, HeaderError> {
        let mut r = Reader { bytes, pos: 0 };
        let magic: [u8; 4] = r.array()?;
        if magic != MAGIC {
            return Err(HeaderError::BadMagic { found: magic });
        }
        let [version] = r.array::<1>()?;
        if version != VERSION {
            return Err(HeaderError::UnsupportedVersion { found: version });
        }
        let device_id = DeviceId(r.array()?);
        let seq = u64::from_be_bytes(r.array()?);
        let [kind_len] = r.array::<1>()?;
        let kind_bytes = r.take(usize::from(kind_len))?;
        let kind = match std::str::from_utf8(kind_bytes) {
            Ok(k) if is_valid_kind(k) => k.to_owned(),
            _ => {
                return Err(HeaderError::BadKind {
                    kind: String::from_utf8_lossy(kind_bytes).into_owned(),
                })
            }
        };
        let wall_ms = i64::from_be_bytes(r.array()?);
        let mono_ms = u64::from_be_bytes(r.array()?);
        let prev_hash = Hash(r.array()?);
        let payload_len = u32::from_be_bytes(r.array()?);
        let payload_hash = Hash(r.array()?);
        if r.pos != bytes.len() {
            return Err(HeaderError::TrailingBytes {
                extra: bytes.len() - r.pos,
            });
        }
        if seq == 0 {
            return Err(HeaderError::ZeroSeq);
        }
        Ok(RecordHeader {
            version,
            device_id,
            seq,
            kind,
            wall_ms,
            mono_ms,
            prev_hash,
            payload_len,
            payload_hash,
        })
    }

    /// Field rules a v1 header must meet (those [`RecordHeader::decode`] enforces).
    pub fn validate(&self) -> Result<(), RecordError> {
        let reason = if self.version != VERSION {
            HeaderError::UnsupportedVersion {
                found: self.version,
            }
        } else if !is_valid_kind(&self.kind) {
            HeaderError::BadKind {
                kind: self.kind.clone(),
            }
        } else if self.seq == 0 {
            HeaderError::ZeroSeq
        } else {
            return Ok(());
        };
        Err(RecordError::BadHeader {
            seq: self.seq,
            reason,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], HeaderError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(HeaderError::Truncated {
                len: self.bytes.len(),
            }),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], HeaderError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}

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

/// Canonical payload bytes: compact JSON with object keys sorted by their UTF-8
/// bytes at every depth, independent of serde_json's `preserve_order` feature.
pub fn canonical_json(value: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(k.clone()), out);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(value: &serde_json::Value, out: &mut Vec<u8>) {
    // Serializing a scalar Value into a Vec cannot fail (no I/O, no map keys).
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"null");
    }
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

/// Verify one Ed25519 signature (ring, strict RFC 8032 verification).
pub fn verify_signature(public_key: &[u8; 32], msg: &[u8], signature: &[u8; 64]) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(msg, signature)
        .is_ok()
}

/// Check everything about a header except its signature, against the chain
/// position it must take. `header_bytes` are the bytes the hash and signature
/// cover (for a record read from storage, the stored bytes).
///
/// Order: header fields, header hash, seq, device, link. The hash comes first so
/// an edited header is reported as edited rather than as whatever field moved.
/// Errors name `expected_seq`: until the seq check passes, the position is the
/// only trustworthy identity of the record.
pub fn check_header(
    header: &RecordHeader,
    header_bytes: &[u8],
    hash: &Hash,
    public_key: &[u8; 32],
    expected_seq: u64,
    expected_prev: &Hash,
) -> Result<(), RecordError> {
    header.validate().map_err(|e| match e {
        RecordError::BadHeader { reason, .. } => RecordError::BadHeader {
            seq: expected_seq,
            reason,
        },
        other => other,
    })?;
    let computed = Hash::of(header_bytes);
    if computed != *hash {
        return Err(RecordError::HashMismatch {
            seq: expected_seq,
            stored: *hash,
            computed,
        });
    }
    if header.seq > expected_seq {
        return Err(RecordError::SequenceGap {
            expected: expected_seq,
            found: header.seq,
        });
    }
    if header.seq < expected_seq {
        return Err(RecordError::Reordered {
            expected: expected_seq,
            found: header.seq,
        });
    }
    let expected_device = DeviceId::from_public_key(public_key);
    if header.device_id != expected_device {
        return Err(RecordError::WrongDevice {
            seq: header.seq,
            expected: expected_device,
            found: header.device_id,
        });
    }
    if header.prev_hash != *expected_prev {
        return Err(RecordError::BrokenLink {
            seq: header.seq,
            expected: *expected_prev,
            found: header.prev_hash,
        });
    }
    Ok(())
}

/// Check that `payload` is the payload the header commits to (length, then
/// SHA-256). The payload bytes are hashed as stored, never re-serialized.
pub fn check_payload(header: &RecordHeader, payload: &[u8]) -> Result<(), RecordError> {
    if payload.len() != header.payload_len as usize {
        return Err(RecordError::PayloadLengthMismatch {
            seq: header.seq,
            header_len: header.payload_len,
            stored_len: payload.len(),
        });
    }
    if Hash::of(payload) != header.payload_hash {
        return Err(RecordError::PayloadHashMismatch { seq: header.seq });
    }
    Ok(())
}

/// Check a record against the chain position it must take: header rules, header
/// hash, seq (`SequenceGap` when ahead, `Reordered` when behind), device, link to
/// `expected_prev`, payload length and hash, and finally the signature.
///
/// Pure; this is the function the platform service calls on uploaded records.
/// A record with an erased payload fails with `PayloadLengthMismatch`: a caller
/// that accepts erasure checks the header with [`check_header`] and
/// [`verify_signature`] instead.
pub fn check_record(
    record: &Record,
    public_key: &[u8; 32],
    expected_seq: u64,
    expected_prev: &Hash,
) -> Result<(), RecordError> {
    let header_bytes = record.header.encode();
    check_header(
        &record.header,
        &header_bytes,
        &record.hash,
        public_key,
        expected_seq,
        expected_prev,
    )?;
    check_payload(&record.header, &record.payload)?;
    if !verify_signature(public_key, &header_bytes, &record.signature) {
        return Err(RecordError::BadSignature {
            seq: record.header.seq,
        });
    }
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{Ed25519KeyPair, KeyPair};
    use serde_json::json;

    struct TestSigner(Ed25519KeyPair);

    impl Signer for TestSigner {
        fn public_key(&self) -> [u8; 32] {
            self.0.public_key().as_ref().try_into().unwrap()
        }
        fn sign(&self, msg: &[u8]) -> [u8; 64] {
            self.0.sign(msg).as_ref().try_into().unwrap()
        }
    }

    fn signer() -> TestSigner {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        TestSigner(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
    }

    #[test]
    fn header_layout_is_frozen() {
        let h = RecordHeader {
            version: 1,
            device_id: DeviceId([0x11; 16]),
            seq: 0x0102030405060708,
            kind: "tick".into(),
            wall_ms: -2,
            mono_ms: 3,
            prev_hash: Hash([0x22; 32]),
            payload_len: 0x0a0b0c0d,
            payload_hash: Hash([0x33; 32]),
        };
        let b = h.encode();
        assert_eq!(b.len(), HEADER_FIXED_LEN + 4);
        assert_eq!(&b[..5], b"KSR1\x01");
        assert_eq!(&b[5..21], &[0x11; 16]);
        assert_eq!(&b[21..29], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&b[29..34], b"\x04tick");
        assert_eq!(&b[34..42], &(-2i64).to_be_bytes());
        assert_eq!(&b[42..50], &3u64.to_be_bytes());
        assert_eq!(&b[50..82], &[0x22; 32]);
        assert_eq!(&b[82..86], &[0x0a, 0x0b, 0x0c, 0x0d]);
        assert_eq!(&b[86..118], &[0x33; 32]);
        assert_eq!(RecordHeader::decode(&b).unwrap(), h);
    }

    #[test]
    fn decode_is_strict() {
        let s = signer();
        let r = seal(&s, None, &NewRecord::new("a", json!(1), 0, 0)).unwrap();
        let b = r.header.encode();
        let mut long = b.clone();
        long.push(0);
        assert!(matches!(
            RecordHeader::decode(&long),
            Err(RecordError::Malformed(HeaderError::TrailingBytes { .. }))
        ));
        assert!(matches!(
            RecordHeader::decode(&b[..b.len() - 1]),
            Err(RecordError::Malformed(HeaderError::Truncated { .. }))
        ));
        let mut bad = b.clone();
        bad[0] = b'X';
        assert!(matches!(
            RecordHeader::decode(&bad),
            Err(RecordError::Malformed(HeaderError::BadMagic { .. }))
        ));
        let mut bad = b.clone();
        bad[4] = 2;
        assert!(matches!(
            RecordHeader::decode(&bad),
            Err(RecordError::Malformed(HeaderError::UnsupportedVersion {
                found: 2
            }))
        ));
        let mut bad = b;
        bad[30] = b'A';
        assert!(matches!(
            RecordHeader::decode(&bad),
            Err(RecordError::Malformed(HeaderError::BadKind { .. }))
        ));
    }

    #[test]
    fn canonical_json_sorts_keys_compactly() {
        let v = json!({"b": 1, "a": {"z": [1, {"y": null, "x": "é"}], "c": true}});
        assert_eq!(
            String::from_utf8(canonical_json(&v)).unwrap(),
            r#"{"a":{"c":true,"z":[1,{"x":"é","y":null}]},"b":1}"#
        );
    }

    #[test]
    fn seal_chains_and_checks() {
        let s = signer();
        let pk = s.public_key();
        let r1 = seal(&s, None, &NewRecord::new("start", json!({"k": 1}), 5, 0)).unwrap();
        assert_eq!(r1.header.seq, 1);
        assert_eq!(r1.header.prev_hash, Hash::ZERO);
        check_record(&r1, &pk, 1, &Hash::ZERO).unwrap();
        let r2 = seal(
            &s,
            Some((1, r1.hash)),
            &NewRecord::new("tick", json!([]), 6, 1),
        )
        .unwrap();
        check_record(&r2, &pk, 2, &r1.hash).unwrap();
        assert!(matches!(
            check_record(&r2, &pk, 3, &r1.hash),
            Err(RecordError::Reordered {
                expected: 3,
                found: 2
            })
        ));
        assert!(matches!(
            check_record(&r2, &pk, 1, &Hash::ZERO),
            Err(RecordError::SequenceGap {
                expected: 1,
                found: 2
            })
        ));
        assert!(matches!(
            check_record(&r2, &pk, 2, &Hash::ZERO),
            Err(RecordError::BrokenLink { seq: 2, .. })
        ));
        let other = signer();
        assert!(matches!(
            check_record(&r2, &other.public_key(), 2, &r1.hash),
            Err(RecordError::WrongDevice { seq: 2, .. })
        ));
        let mut bad = r2.clone();
        bad.payload = b"[ ]".to_vec();
        assert!(matches!(
            check_record(&bad, &pk, 2, &r1.hash),
            Err(RecordError::PayloadLengthMismatch { seq: 2, .. })
        ));
        bad.payload = b"{}".to_vec();
        assert!(matches!(
            check_record(&bad, &pk, 2, &r1.hash),
            Err(RecordError::PayloadHashMismatch { seq: 2 })
        ));
        let mut bad = r2.clone();
        bad.header.mono_ms += 1;
        assert!(matches!(
            check_record(&bad, &pk, 2, &r1.hash),
            Err(RecordError::HashMismatch { seq: 2, .. })
        ));
        let mut bad = r2.clone();
        bad.signature[10] ^= 1;
        assert!(matches!(
            check_record(&bad, &pk, 2, &r1.hash),
            Err(RecordError::BadSignature { seq: 2 })
        ));
        assert!(matches!(
            seal(&s, None, &NewRecord::new("Bad-Kind", json!(1), 0, 0)),
            Err(RecordError::InvalidKind { .. })
        ));
    }

    #[test]
    fn head_checkpoint_round_trip() {
        let s = signer();
        let cp = HeadCheckpoint::sign(&s, 7, Hash([9; 32]));
        let parsed = HeadCheckpoint::from_json(&cp.to_json()).unwrap();
        assert_eq!(parsed, cp);
        parsed.verify(&s.public_key()).unwrap();
        let mut bad = parsed.clone();
        bad.seq = 8;
        assert!(matches!(
            bad.verify(&s.public_key()),
            Err(CheckpointError::BadSignature)
        ));
    }

    /// The test vector of docs/record-format-v1.md (RFC 8032 test key 1).
    #[test]
    fn frozen_test_vector() {
        let seed = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap();
        let pk = hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
            .unwrap();
        let pair = Ed25519KeyPair::from_seed_and_public_key(&seed, &pk).unwrap();
        let s = TestSigner(pair);
        let new = NewRecord::new(
            "session_start",
            json!({"lesson": 1, "course": "safety-101"}),
            1_700_000_000_000,
            0,
        );
        let r1 = seal(&s, None, &new).unwrap();
        let r2 = seal(
            &s,
            Some((1, r1.hash)),
            &NewRecord::new(
                "playback_tick",
                json!({"position_ms": 1000}),
                1_700_000_001_000,
                1000,
            ),
        )
        .unwrap();
        assert_eq!(
            r1.payload,
            br#"{"course":"safety-101","lesson":1}"#.to_vec()
        );
        let cp = HeadCheckpoint::sign(&s, 2, r2.hash);
        assert_eq!(r1.header.device_id.to_hex(), EXPECTED_DEVICE_ID);
        assert_eq!(hex::encode(r1.header.encode()), EXPECTED_HEADER_1);
        assert_eq!(r1.hash.to_hex(), EXPECTED_HASH_1);
        assert_eq!(hex::encode(r1.signature), EXPECTED_SIGNATURE_1);
        assert_eq!(hex::encode(r2.header.encode()), EXPECTED_HEADER_2);
        assert_eq!(r2.hash.to_hex(), EXPECTED_HASH_2);
        assert_eq!(
            String::from_utf8(cp.to_json()).unwrap(),
            EXPECTED_CHECKPOINT
        );
    }

    const EXPECTED_DEVICE_ID: &str = "21fe31dfa154a261626bf854046fd227";
    const EXPECTED_HEADER_1: &str =
        "4b5352310121fe31dfa154a261626bf854046fd22700000000000000010d73657373696f6e5f73746172740000018bcfe568000000000000000000000000000000000000000000000000000000000000000000000000000000000000000022797ba8a7c15029063a14c0f917504416002e40eea43001246abcddd50c5c50b0";
    const EXPECTED_HASH_1: &str =
        "301f26f8b9faaa8519900536b4f4a69addcb69840f079babba3cac256f662ab0";
    const EXPECTED_SIGNATURE_1: &str =
        "af2e827f847be22b9e54b35cb2ed59e4d242a1987ad42c387f3a42357bf052c2a2208c6a570b1aeca82537273b155e8768314728b61b9140f834b5883aae6c04";
    const EXPECTED_HEADER_2: &str =
        "4b5352310121fe31dfa154a261626bf854046fd22700000000000000020d706c61796261636b5f7469636b0000018bcfe56be800000000000003e8301f26f8b9faaa8519900536b4f4a69addcb69840f079babba3cac256f662ab00000001432bc6ae350d16fe98bc473f94d6aef17c16481757f31094a7243295029f57dcd";
    const EXPECTED_HASH_2: &str =
        "8e819f557e073bbf57356c5ee3a38eb2dff7075b8749fae01b9dbab54a974ed0";
    const EXPECTED_CHECKPOINT: &str = concat!(
        r#"{"format":"keshi-head-v1","device_id":"21fe31dfa154a261626bf854046fd227","seq":2,"hash":"8e819f557e073bbf57356c5ee3a38eb2dff7075b8749fae01b9dbab54a974ed0","signature":"ae80f1f3bf58adc70e51fe7f2c035d7e33703c2c5735e82341e10a522bb6c5dd5f6f75ff6f370f85396b0904aa63d267859cabc682c05321eb1b4b6e2932570e"}"#,
        "\n"
    );

    #[test]
    fn hex_types_serde() {
        let h = Hash([0xab; 32]);
        let s = serde_json::to_string(&h).unwrap();
        assert_eq!(s, format!("\"{}\"", "ab".repeat(32)));
        assert_eq!(serde_json::from_str::<Hash>(&s).unwrap(), h);
        assert!(serde_json::from_str::<DeviceId>("\"abc\"").is_err());
    }
}
