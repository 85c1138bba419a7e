//! A learner's electronic training archive (issue 13, R-SV-5: 一人一档, linkable to
//! the provincial platform) and its check. The platform writes it
//! (`keshi-platform admin archive`); anyone verifies it on its own with the
//! platform's public key (`keshi verify-archive`), with no access to the platform:
//!
//! - the manifest is signed by the platform key, and with it what the archive
//!   holds: a digest chained over every record's hash in file order, the photos,
//!   the certificates and the SHA-256 of `results.json` (a record, photo or result
//!   left out or changed after the platform wrote the archive is named);
//! - the checkpoint is signed by the platform key;
//! - every record decodes, matches its hash and its device's signature, names the
//!   device and seq it is filed under, and links to the record before it on its
//!   device; each device's records run from seq 1 without a gap;
//! - every record is proven included in the checkpoint's tree (RFC 6962 path);
//! - every photo's bytes have the SHA-256 its name says;
//! - every certificate PDF verifies under the platform key and is the learner's.
//!
//! The container (a ZIP) is the caller's business: this module takes its parts.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::ids::Hash;
use crate::merkle::{self, Checkpoint};
use crate::wire::WireRecord;

/// The manifest's format (2: the manifest is signed; 1 was not, and is refused).
pub const FORMAT: &str = "keshi-archive/2";

/// The digest of an archive's records: chained over each record's hash in file
/// order, `d = SHA-256(d ‖ hash)` from 32 zero bytes, so it is computed in constant
/// memory while the records are written and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordsDigest([u8; 32]);

impl RecordsDigest {
    /// Adds the next record's hash.
    pub fn push(&mut self, record_hash: &Hash) {
        let mut both = [0u8; 64];
        both[..32].copy_from_slice(&self.0);
        both[32..].copy_from_slice(&record_hash.0);
        self.0 = Hash::of(&both).0;
    }

    /// Hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// Who the archive is of (as staff see them: the ID number masked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveLearner {
    /// Login name.
    pub user: String,
    /// Real name.
    pub real_name: String,
    /// ID number, masked.
    pub id_number_masked: String,
    /// Institution.
    pub institution: String,
    /// Class.
    pub class: String,
}

/// A device of the learner and its public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveDevice {
    /// Device id, hex.
    pub device_id: String,
    /// Ed25519 public key, hex.
    pub public_key: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveManifest {
    /// [`FORMAT`].
    pub format: String,
    /// Made at (platform ms).
    pub created_ms: i64,
    /// Whose.
    pub learner: ArchiveLearner,
    /// The platform's public key, hex (check it against the key you know).
    pub platform_key: String,
    /// The checkpoint every record is proven against.
    pub checkpoint: Checkpoint,
    /// The learner's devices.
    pub devices: Vec<ArchiveDevice>,
    /// Records in `records.jsonl`.
    pub records: u64,
    /// Photos in `photos/` (SHA-256, hex).
    pub photos: Vec<String>,
    /// Certificates in `certificates/` (serials).
    pub certificates: Vec<String>,
    /// [`RecordsDigest`] of `records.jsonl`, hex.
    pub records_digest: String,
    /// SHA-256 of `results.json`, hex.
    pub results_sha256: String,
    /// The platform's Ed25519 signature over [`ArchiveManifest::message`], hex.
    pub signature: String,
}

impl ArchiveManifest {
    /// The signed bytes: a domain line, then the manifest's canonical JSON with an
    /// empty `signature`.
    pub fn message(&self) -> Vec<u8> {
        let mut m = self.clone();
        m.signature = String::new();
        let mut out = b"keshi-archive-manifest-v2\n".to_vec();
        out.extend(crate::record::canonical_json(
            &serde_json::to_value(&m).unwrap_or_default(),
        ));
        out
    }
}

/// One line of `records.jsonl`: a record and its inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveRecord {
    /// Device id, hex.
    pub device: String,
    /// Sequence number on the device.
    pub seq: u64,
    /// Its leaf in the platform's log.
    pub leaf_index: u64,
    /// The record as signed.
    pub record: WireRecord,
    /// The inclusion path to the checkpoint's root, hex.
    pub path: Vec<String>,
}

/// What a check found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ArchiveReport {
    /// Nothing wrong.
    pub ok: bool,
    /// Records checked.
    pub records: u64,
    /// Of them, proven in the checkpoint.
    pub proven: u64,
    /// Photos whose bytes match their names.
    pub photos: u64,
    /// Certificates verified.
    pub certificates: u64,
    /// What is wrong, each naming where.
    pub problems: Vec<String>,
}

/// Checks an archive's parts with `platform_key` (the key the verifier knows);
/// `results` is `results.json` as read.
pub fn verify(
    manifest: &ArchiveManifest,
    records: &[ArchiveRecord],
    photos: &[(String, Vec<u8>)],
    certificates: &[(String, Vec<u8>)],
    results: &[u8],
    platform_key: &[u8; 32],
) -> ArchiveReport {
    let mut r = ArchiveReport::default();
    let mut problem = |p: String| r.problems.push(p);
    if manifest.format != FORMAT {
        problem(format!(
            "format {:?}, this build reads {FORMAT}",
            manifest.format
        ));
    }
    if manifest.platform_key != hex::encode(platform_key) {
        problem("the archive names another platform key than the one given".into());
    }
    if !crate::sig::verify_hex_signature(platform_key, &manifest.message(), &manifest.signature) {
        problem("the manifest's signature does not verify under the platform key: it was altered, or another key signed it".into());
    }
    if Hash::of(results).to_hex() != manifest.results_sha256 {
        problem("results.json is not the one the platform wrote (its SHA-256 differs)".into());
    }
    let checkpoint_ok = match manifest.checkpoint.verify(Some(platform_key)) {
        Ok(()) => true,
        Err(e) => {
            problem(format!("the checkpoint does not verify: {e}"));
            false
        }
    };
    let root = manifest.checkpoint.root_digest().ok();
    let keys: HashMap<&str, Option<[u8; 32]>> = manifest
        .devices
        .iter()
        .map(|d| (d.device_id.as_str(), merkle::parse_digest(&d.public_key)))
        .collect();
    let mut last: HashMap<&str, (u64, Hash)> = HashMap::new();
    let mut records_checked = 0u64;
    let mut proven = 0u64;
    let mut digest = RecordsDigest::default();
    let mut seen: HashMap<&str, u64> = HashMap::new();
    for a in records {
        records_checked += 1;
        let at = format!("device {} seq {}", a.device, a.seq);
        if let Ok(h) = crate::ids::decode_hex::<32>(&a.record.hash, "record hash") {
            digest.push(&Hash(h));
        }
        // Every record of the device, from its first: a gap is a record left out.
        let expected = seen.get(a.device.as_str()).map_or(1, |seq| seq + 1);
        seen.insert(a.device.as_str(), a.seq);
        if a.seq != expected {
            problem(format!(
                "device {}: records {expected}..{} are missing before seq {}",
                a.device,
                a.seq.saturating_sub(1),
                a.seq
            ));
        }
        let Some(Some(key)) = keys.get(a.device.as_str()) else {
            problem(format!("{at}: the device is not among the learner's"));
            continue;
        };
        let rec = match a.record.to_record() {
            Ok(rec) => rec,
            Err(e) => {
                problem(format!("{at}: the record does not decode: {e}"));
                continue;
            }
        };
        if rec.header.device_id.to_hex() != a.device || rec.header.seq != a.seq {
            problem(format!(
                "{at}: the signed header says device {} seq {}",
                rec.header.device_id.to_hex(),
                rec.header.seq
            ));
            continue;
        }
        // The link to the record before it on the device, when the archive holds it.
        let prev = match last.get(a.device.as_str()) {
            Some((seq, hash)) if *seq + 1 == a.seq => *hash,
            _ => rec.header.prev_hash,
        };
        if let Err(e) = crate::record::check_record(&rec, key, a.seq, &prev) {
            problem(format!("{at}: {e}"));
            continue;
        }
        last.insert(a.device.as_str(), (a.seq, rec.hash));
        let path: Option<Vec<merkle::Digest>> =
            a.path.iter().map(|h| merkle::parse_digest(h)).collect();
        let included = match (checkpoint_ok, root, path) {
            (true, Some(root), Some(path)) => merkle::verify_inclusion(
                &merkle::leaf_hash(&rec.hash.0),
                a.leaf_index,
                manifest.checkpoint.size,
                &path,
                &root,
            )
            .is_ok(),
            _ => false,
        };
        if included {
            proven += 1;
        } else {
            problem(format!(
                "{at}: not proven in the checkpoint of {} records (leaf {})",
                manifest.checkpoint.size, a.leaf_index
            ));
        }
    }
    if digest.to_hex() != manifest.records_digest {
        problem("the records are not the ones the platform archived (their digest differs from the manifest's)".into());
    }
    if records_checked != manifest.records {
        problem(format!(
            "the manifest lists {} records, the archive holds {records_checked}",
            manifest.records
        ));
    }
    let mut photos_ok = 0u64;
    for (name, bytes) in photos {
        let stem = name.split('.').next().unwrap_or_default();
        if Hash::of(bytes).to_hex() == stem {
            photos_ok += 1;
        } else {
            problem(format!(
                "photo {name}: its bytes do not have the SHA-256 its name says"
            ));
        }
    }
    if photos.len() != manifest.photos.len() {
        problem(format!(
            "the manifest lists {} photos, the archive holds {}",
            manifest.photos.len(),
            photos.len()
        ));
    }
    let mut certificates_ok = 0u64;
    for (name, pdf) in certificates {
        match crate::certificate::verify_pdf(pdf, platform_key) {
            Ok(s) if s.learner == manifest.learner.user => certificates_ok += 1,
            Ok(s) => problem(format!(
                "certificate {name} is {}'s, not this learner's",
                s.learner
            )),
            Err(e) => problem(format!("certificate {name}: {e}")),
        }
    }
    if certificates.len() != manifest.certificates.len() {
        problem(format!(
            "the manifest lists {} certificates, the archive holds {}",
            manifest.certificates.len(),
            certificates.len()
        ));
    }
    r.records = records_checked;
    r.proven = proven;
    r.photos = photos_ok;
    r.certificates = certificates_ok;
    r.ok = r.problems.is_empty();
    r
}
