//! The checks every verifier runs: header fields, hash, chain position, device,
//! link, payload, signature. Pure; the platform and the client call the same ones.

use super::{Record, RecordError, RecordHeader};
use crate::ids::{DeviceId, Hash};
use crate::sig::verify_signature;

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
