//! Verification of an uploaded batch against what the platform holds for the
//! device (R-ST-6, R-SV-3). Pure: the caller loads the device head and the stored
//! hashes, this module decides, the caller stores.
//!
//! Every record is checked with `keshi_protocol::record::{check_header,
//! check_payload}` and the protocol's one strict signature rule
//! (`keshi_protocol::sig`) — the same code the client's own verifier runs —
//! against the chain position it must take. Signatures of the new
//! records are verified in parallel after the (cheap) chain checks.
//!
//! Architecture invariant: records before the first refusal are accepted (they
//! extend a verified chain); the refused record is reported with a stable code and
//! quarantined by the caller; records after it are not looked at.

use std::collections::HashMap;

use keshi_protocol::codes::RefusalCode as Code;
use keshi_protocol::record::{check_header, check_payload, DeviceId, Hash, Record, RecordError};
use keshi_protocol::sig::PublicKey;
use keshi_protocol::wire::WireRecord;

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

/// A record that does not decode: its refusal code and why.
pub type DecodeError = (Code, String);

/// Decode the batch (malformed records stay as errors for [`check_batch`]). A header
/// that has the v1 layout but invalid fields (version, kind, seq 0) is `bad_header`;
/// anything else that does not decode is `malformed_record`.
pub fn decode(records: &[WireRecord]) -> Vec<Result<Record, DecodeError>> {
    use keshi_protocol::record::HeaderError;
    use keshi_protocol::wire::WireError;
    records
        .iter()
        .map(|w| {
            w.to_record().map_err(|e| {
                let code = match &e {
                    WireError::Header(
                        HeaderError::UnsupportedVersion { .. }
                        | HeaderError::BadKind { .. }
                        | HeaderError::ZeroSeq,
                    ) => Code::BadHeader,
                    _ => Code::MalformedRecord,
                };
                (code, e.to_string())
            })
        })
        .collect()
}

/// Seqs at or below `head_seq` that appear in the batch (their stored hashes are
/// needed to tell duplicates from conflicts).
pub fn seqs_to_compare(decoded: &[Result<Record, DecodeError>], head_seq: u64) -> Vec<u64> {
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
    public_key: &PublicKey,
    head: (u64, Hash),
    decoded: Vec<Result<Record, DecodeError>>,
    wires: &[WireRecord],
    stored: &HashMap<u64, Hash>,
    max_payload: usize,
) -> Verdict {
    let device = DeviceId::from_public_key(public_key.bytes());
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
            Err((code, e)) => {
                v.refusal = refuse(i, code, e, None, None);
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
        // The platform's overall cap and the kind's own (issue 11: quotas per kind).
        let cap = max_payload.min(keshi_protocol::fact::max_payload_bytes(&r.header.kind));
        if r.payload.len() > cap {
            v.refusal = refuse(
                i,
                Code::PayloadTooLarge,
                format!(
                    "record {} ({}) has a payload of {} bytes; at most {cap} are accepted for its kind",
                    r.seq(),
                    r.header.kind,
                    r.payload.len()
                ),
                Some(r.seq()),
                Some(device),
            );
            break;
        }
        let header_bytes = r.header.encode();
        let checked = check_header(
            &r.header,
            &header_bytes,
            &r.hash,
            public_key.bytes(),
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

/// What quarantine keeps of a refused record: its SHA-256 and a bounded prefix of
/// its JSON (a refusal cannot be used to fill the database).
pub fn quarantine_excerpt(w: &WireRecord) -> String {
    const PREFIX: usize = 1024;
    let full = serde_json::to_string(w).unwrap_or_default();
    let mut end = full.len().min(PREFIX);
    while !full.is_char_boundary(end) {
        end -= 1;
    }
    serde_json::json!({
        "sha256": Hash::of(full.as_bytes()).to_hex(),
        "bytes": full.len(),
        "prefix": &full[..end],
    })
    .to_string()
}

/// Index of the first record whose signature does not verify.
fn first_bad_signature(public_key: &PublicKey, recs: &[(Record, WireRecord)]) -> Option<usize> {
    let check = |r: &Record| public_key.verify(&r.header.encode(), &r.signature);
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
