//! Verification of an uploaded batch against what the platform holds for the
//! device (R-ST-6, R-SV-3). Pure: the caller loads the device head and the stored
//! hashes, this module decides, the caller stores.
//!
//! Every record is checked with `player_core::record::{check_header,
//! check_payload, verify_signature}` — the same functions the client's own
//! verifier uses — against the chain position it must take. Signatures of the new
//! records are verified in parallel after the (cheap) chain checks.
//!
//! Architecture invariant: records before the first refusal are accepted (they
//! extend a verified chain); the refused record is reported with a stable code and
//! quarantined by the caller; records after it are not looked at.

use std::collections::HashMap;

use keshi_platform_codes::Code;
use player_core::record::{
    check_header, check_payload, verify_signature, DeviceId, Hash, Record, RecordError,
};
use player_core::sync::wire::WireRecord;

/// Stable refusal codes (documented in `docs/platform-api.md`).
pub mod keshi_platform_codes {
    /// A record-level refusal code.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[non_exhaustive]
    pub enum Code {
        /// The record does not decode (hex, header layout, signature length).
        MalformedRecord,
        /// Header fields invalid (version, kind, seq 0).
        BadHeader,
        /// The stated hash is not SHA-256 of the header: edited header.
        HashMismatch,
        /// The record's seq is beyond the next one expected: records are missing.
        SequenceGap,
        /// The record's seq is below the expected one where no record is held.
        Reordered,
        /// Signed by another enrolled device than the lease's (replay).
        WrongDevice,
        /// Signed by a device the platform has never enrolled.
        UnknownDevice,
        /// `prev_hash` is not the hash of the record before it.
        BrokenLink,
        /// Payload length or SHA-256 differs from the header: edited payload.
        PayloadMismatch,
        /// Ed25519 signature does not verify with the enrolled key: forged.
        BadSignature,
        /// The platform holds a different record at this seq (fork / rewrite).
        ConflictingRecord,
    }

    impl Code {
        /// The wire code.
        pub fn as_str(self) -> &'static str {
            match self {
                Code::MalformedRecord => "malformed_record",
                Code::BadHeader => "bad_header",
                Code::HashMismatch => "hash_mismatch",
                Code::SequenceGap => "sequence_gap",
                Code::Reordered => "reordered",
                Code::WrongDevice => "wrong_device",
                Code::UnknownDevice => "unknown_device",
                Code::BrokenLink => "broken_link",
                Code::PayloadMismatch => "payload_mismatch",
                Code::BadSignature => "bad_signature",
                Code::ConflictingRecord => "conflicting_record",
            }
        }
    }
}

/// A refused record.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// Index in the batch.
    pub index: usize,
    /// Stable code.
    pub code: Code,
    /// Explanation.
    pub message: String,
    /// The record's seq, when known.
    pub seq: Option<u64>,
    /// The refused record's device (from its header, when it decoded).
    pub device_id: Option<DeviceId>,
}

/// The decision on one batch.
#[derive(Debug, Default)]
pub struct Verdict {
    /// New records, contiguous after the device head, all verified.
    pub accepted: Vec<(Record, WireRecord)>,
    /// Batch index of each accepted record.
    pub accepted_index: Vec<usize>,
    /// Records already held with the same hash.
    pub duplicates: u64,
    /// The first refused record, if any.
    pub refusal: Option<Refusal>,
}

/// Decode the batch (malformed records stay as errors for [`check_batch`]).
pub fn decode(records: &[WireRecord]) -> Vec<Result<Record, String>> {
    records
        .iter()
        .map(|w| w.to_record().map_err(|e| e.to_string()))
        .collect()
}

/// Seqs at or below `head_seq` that appear in the batch (their stored hashes are
/// needed to tell duplicates from conflicts).
pub fn seqs_to_compare(decoded: &[Result<Record, String>], head_seq: u64) -> Vec<u64> {
    decoded
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(Record::seq)
        .filter(|s| *s <= head_seq)
        .collect()
}

fn code_of(e: &RecordError) -> Code {
    match e {
        RecordError::BadHeader { .. } => Code::BadHeader,
        RecordError::HashMismatch { .. } => Code::HashMismatch,
        RecordError::SequenceGap { .. } => Code::SequenceGap,
        RecordError::Reordered { .. } => Code::Reordered,
        RecordError::WrongDevice { .. } => Code::WrongDevice,
        RecordError::BrokenLink { .. } => Code::BrokenLink,
        RecordError::PayloadLengthMismatch { .. } | RecordError::PayloadHashMismatch { .. } => {
            Code::PayloadMismatch
        }
        RecordError::BadSignature { .. } => Code::BadSignature,
        _ => Code::MalformedRecord,
    }
}

/// Decide on a decoded batch for the device with `public_key`, whose platform
/// head is `head` (`(0, ZERO)` when it holds nothing). `stored` maps the seqs of
/// [`seqs_to_compare`] to the hashes the platform holds.
pub fn check_batch(
    public_key: &[u8; 32],
    head: (u64, Hash),
    decoded: Vec<Result<Record, String>>,
    wires: &[WireRecord],
    stored: &HashMap<u64, Hash>,
) -> Verdict {
    let device = DeviceId::from_public_key(public_key);
    let mut v = Verdict::default();
    let (mut next_seq, mut prev) = (head.0 + 1, head.1);
    let refuse =
        |index: usize, code: Code, message: String, seq: Option<u64>, dev: Option<DeviceId>| {
            Some(Refusal {
                index,
                code,
                message,
                seq,
                device_id: dev,
            })
        };
    for (i, (r, w)) in decoded.into_iter().zip(wires).enumerate() {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                v.refusal = refuse(i, Code::MalformedRecord, e, None, None);
                break;
            }
        };
        if r.header.device_id != device {
            v.refusal = refuse(
                i,
                Code::WrongDevice,
                format!(
                    "record {} is signed by device {}, not by this lease's device {device}",
                    r.seq(),
                    r.header.device_id
                ),
                Some(r.seq()),
                Some(r.header.device_id),
            );
            break;
        }
        if r.seq() < next_seq {
            let true_hash = Hash::of(&r.header.encode());
            match stored.get(&r.seq()) {
                Some(h) if *h == r.hash && true_hash == r.hash => {
                    v.duplicates += 1;
                    continue;
                }
                Some(_) => {
                    v.refusal = refuse(
                        i,
                        Code::ConflictingRecord,
                        format!(
                            "the platform holds a different record {} for this device",
                            r.seq()
                        ),
                        Some(r.seq()),
                        Some(device),
                    );
                }
                None => {
                    v.refusal = refuse(
                        i,
                        Code::Reordered,
                        format!("record {} is out of order", r.seq()),
                        Some(r.seq()),
                        Some(device),
                    );
                }
            }
            break;
        }
        let header_bytes = r.header.encode();
        let checked = check_header(
            &r.header,
            &header_bytes,
            &r.hash,
            public_key,
            next_seq,
            &prev,
        )
        .and_then(|()| check_payload(&r.header, &r.payload));
        if let Err(e) = checked {
            v.refusal = refuse(i, code_of(&e), e.to_string(), Some(r.seq()), Some(device));
            break;
        }
        next_seq += 1;
        prev = r.hash;
        v.accepted.push((r, w.clone()));
        v.accepted_index.push(i);
    }
    // Signatures of the accepted prefix, in parallel; the first bad one cuts it.
    if let Some(k) = first_bad_signature(public_key, &v.accepted) {
        let seq = v.accepted[k].0.seq();
        let index = v.accepted_index[k];
        v.accepted.truncate(k);
        v.accepted_index.truncate(k);
        v.refusal = Some(Refusal {
            index,
            code: Code::BadSignature,
            message: RecordError::BadSignature { seq }.to_string(),
            seq: Some(seq),
            device_id: Some(device),
        });
    }
    v
}

/// Index of the first record whose signature does not verify.
fn first_bad_signature(public_key: &[u8; 32], recs: &[(Record, WireRecord)]) -> Option<usize> {
    let check = |r: &Record| verify_signature(public_key, &r.header.encode(), &r.signature);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if recs.len() < 64 || threads < 2 {
        return recs.iter().position(|(r, _)| !check(r));
    }
    let chunk = recs.len().div_ceil(threads);
    let firsts: Vec<Option<usize>> = std::thread::scope(|s| {
        let handles: Vec<_> = recs
            .chunks(chunk)
            .enumerate()
            .map(|(ci, c)| {
                s.spawn(move || {
                    c.iter()
                        .position(|(r, _)| !check(r))
                        .map(|p| ci * chunk + p)
                })
            })
            .collect();
        handles
            .into_iter()
            // A panicked verifier thread counts as a failure at its chunk start.
            .enumerate()
            .map(|(ci, h)| h.join().unwrap_or(Some(ci * chunk)))
            .collect()
    });
    firsts.into_iter().flatten().min()
}
