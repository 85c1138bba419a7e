//! Errors of the record layer: one variant per validation rule, each naming the
//! record (by `seq`) it is about (p2panda's `operation/errors.rs` shape).

use crate::ids::{DeviceId, Hash};

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
