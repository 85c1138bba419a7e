//! Walk a journal file and name the first bad record (R-ST-6: records true and
//! valid; R-SV-3: the platform's compliance check gets evidence it can trust).
//!
//! Rows are read in physical (rowid) order. For each row, in this order:
//! row seq contiguous from 1 (a jump is a *gap* naming the first missing seq),
//! header decodes strictly, stored hash = SHA-256(header bytes), header seq = row
//! seq (else the row holds another record: *reordered*), device id = the key's,
//! prev-hash link, `kind` column = header kind, payload length and SHA-256 (a NULL
//! payload is an *erased* payload: reported in [`VerifyReport::erased_payloads`],
//! not an error), and the Ed25519 signature with the public key stored in `meta`
//! (or the one the caller expects). Then the signed head checkpoint
//! (`<journal>.head`): valid signature, and its seq must not be past the last record
//! ([`VerifyError::Truncated`]) and its hash must equal that record's hash.
//!
//! A missing head checkpoint is a warning, not an error: a truncated tail cannot
//! then be detected locally; the platform's acknowledged sequence covers it.
//!
//! Signatures are checked off the reading thread, in chunks of 1,024, on all
//! cores, each one alone under the protocol's one strict rule
//! ([`keshi_protocol::sig`]: the rule the platform applies on upload, so a journal
//! that verifies here is never refused upstream for its signatures). There is no
//! batch verification: a cofactored batch accepts signatures the strict rule
//! refuses (see `keshi_protocol::sig`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};

use serde::Serialize;

use crate::journal::{head_checkpoint_path, JournalError, JournalReader};
use crate::record::{
    check_header, check_payload, CheckpointError, DeviceId, Hash, HeadCheckpoint, RecordError,
    RecordHeader,
};
use keshi_protocol::sig::{KeyError, PublicKey};

/// Records per signature-verification chunk.
const CHUNK: usize = 1024;

/// Options of [`verify_journal_with`].
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The key the journal must belong to (e.g. the enrolled key); `None` trusts
    /// the key stored in the journal's `meta` table.
    pub expected_public_key: Option<[u8; 32]>,
    /// Signature-checking threads; `None` uses every core.
    pub threads: Option<usize>,
}

/// What the head checkpoint file said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CheckpointStatus {
    /// No (or an empty) `<journal>.head`: a truncated tail cannot be detected
    /// locally.
    Missing,
    /// The checkpoint names the last record.
    Matches {
        /// Its seq.
        seq: u64,
    },
    /// The checkpoint names an earlier record (written before a crash); still
    /// consistent.
    Behind {
        /// Its seq.
        checkpoint_seq: u64,
    },
}

/// The result of a successful verification.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The journal file.
    pub path: PathBuf,
    /// Records verified.
    pub records: u64,
    /// Last seq (0 when empty).
    pub head_seq: u64,
    /// Last record's hash.
    pub head_hash: Option<Hash>,
    /// The journal's device.
    pub device_id: DeviceId,
    /// The public key the signatures were checked with (hex).
    pub public_key: String,
    /// The head checkpoint's status.
    pub head_checkpoint: CheckpointStatus,
    /// Records whose payload was erased (header and signature still verified).
    pub erased_payloads: Vec<u64>,
    /// Human-readable warnings (missing checkpoint, erased payloads).
    pub warnings: Vec<String>,
}

/// Why a journal does not verify. Each record-level variant names the record
/// (`seq`, and the SQLite `rowid` of the row).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The journal cannot be opened or is not a journal.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Reading rows failed.
    #[error("cannot read journal {path}: {source}")]
    Read {
        /// The journal.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The journal's key is not one any signature can be trusted under (small order,
    /// non-canonical): the strict rule refuses it.
    #[error("journal of device {device_id} has an unacceptable public key: {reason}")]
    WeakKey {
        /// The journal's device.
        device_id: DeviceId,
        /// Why.
        reason: KeyError,
    },
    /// The journal's key is not the expected (enrolled) key.
    #[error("journal belongs to device {found}, expected device {expected}")]
    UnexpectedKey {
        /// Device of the expected key.
        expected: DeviceId,
        /// Device of the journal's key.
        found: DeviceId,
    },
    /// A record fails a validation rule (see [`RecordError`]).
    #[error("{}", record_message(*seq, source))]
    Record {
        /// The record.
        seq: u64,
        /// Its row.
        rowid: i64,
        /// The rule it fails.
        #[source]
        source: RecordError,
    },
    /// A column has the wrong type or length.
    #[error("record {seq}: column {column} {problem}")]
    BadColumn {
        /// The record.
        seq: u64,
        /// Its row.
        rowid: i64,
        /// The column.
        column: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The `kind` column differs from the signed header's kind.
    #[error("record {seq}: kind column {column:?} differs from the signed kind {header:?} (kind column was edited)")]
    KindColumnMismatch {
        /// The record.
        seq: u64,
        /// Its row.
        rowid: i64,
        /// The column value.
        column: String,
        /// The header's kind.
        header: String,
    },
    /// The signed head checkpoint is past the last record: records were cut.
    #[error("journal truncated: the signed head checkpoint is at record {checkpoint_seq} but the last record is {last_seq} (records after {last_seq} were removed)")]
    Truncated {
        /// Seq in the checkpoint.
        checkpoint_seq: u64,
        /// Last seq in the database.
        last_seq: u64,
    },
    /// The head checkpoint file is not valid.
    #[error("head checkpoint {path}: {source}")]
    BadCheckpoint {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: CheckpointError,
    },
    /// The head checkpoint file cannot be read.
    #[error("head checkpoint {path}: {source}")]
    CheckpointIo {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The record named by the head checkpoint has another hash.
    #[error("record {seq}: hash {record_hash} differs from the signed head checkpoint's {checkpoint_hash} (record was replaced)")]
    CheckpointMismatch {
        /// The record.
        seq: u64,
        /// Hash in the checkpoint.
        checkpoint_hash: Hash,
        /// Hash of the record.
        record_hash: Hash,
    },
}

fn record_message(seq: u64, source: &RecordError) -> String {
    match source.seq() {
        Some(_) => source.to_string(),
        None => format!("record {seq}: {source}"),
    }
}

impl VerifyError {
    /// The record this error names, if it names one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            VerifyError::Record { seq, .. }
            | VerifyError::BadColumn { seq, .. }
            | VerifyError::KindColumnMismatch { seq, .. }
            | VerifyError::CheckpointMismatch { seq, .. } => Some(*seq),
            VerifyError::Truncated { last_seq, .. } => Some(last_seq + 1),
            _ => None,
        }
    }
}

/// Verify the journal at `path` against the public key stored in it.
pub fn verify_journal(path: &Path) -> Result<VerifyReport, VerifyError> {
    verify_journal_with(path, &VerifyOptions::default())
}

/// Verify the journal at `path`, which must belong to `expected_public_key`.
pub fn verify_journal_expecting(
    path: &Path,
    expected_public_key: &[u8; 32],
) -> Result<VerifyReport, VerifyError> {
    verify_journal_with(
        path,
        &VerifyOptions {
            expected_public_key: Some(*expected_public_key),
            ..VerifyOptions::default()
        },
    )
}

/// One signature to check: the record and its header bytes within a chunk buffer.
struct SigJob {
    seq: u64,
    rowid: i64,
    start: usize,
    end: usize,
    signature: [u8; 64],
}

/// Signatures of consecutive records, with their header bytes in one buffer.
#[derive(Default)]
struct Chunk {
    bytes: Vec<u8>,
    jobs: Vec<SigJob>,
}

impl Chunk {
    fn msg(&self, job: &SigJob) -> &[u8] {
        &self.bytes[job.start..job.end]
    }

    /// The first job whose signature does not verify, if any.
    fn first_bad(&self, key: &PublicKey) -> Option<(u64, i64)> {
        self.jobs
            .iter()
            .find(|j| !key.verify(self.msg(j), &j.signature))
            .map(|j| (j.seq, j.rowid))
    }
}

/// Checks signatures of chunks on worker threads; remembers the first bad one.
struct SigPool<'a> {
    sender: Option<mpsc::SyncSender<Chunk>>,
    inline: Option<&'a PublicKey>,
    first_bad: &'a Mutex<Option<(u64, i64)>>,
    failed: &'a AtomicBool,
}

impl SigPool<'_> {
    fn submit(&self, chunk: Chunk) {
        if chunk.jobs.is_empty() {
            return;
        }
        match (&self.sender, self.inline) {
            (Some(tx), _) => {
                // A send fails only if every worker is gone, which happens only
                // after a worker panicked; the scope then re-raises that panic.
                let _ = tx.send(chunk);
            }
            (None, Some(key)) => {
                if let Some(bad) = chunk.first_bad(key) {
                    record_bad(self.first_bad, self.failed, bad);
                }
            }
            (None, None) => {}
        }
    }
}

fn record_bad(slot: &Mutex<Option<(u64, i64)>>, failed: &AtomicBool, bad: (u64, i64)) {
    let mut guard = match slot.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    if guard.is_none_or(|cur| bad.0 < cur.0) {
        *guard = Some(bad);
    }
    failed.store(true, Ordering::Relaxed);
}

/// The chain state carried across rows.
struct Walk {
    expected_seq: u64,
    prev: Hash,
    erased: Vec<u64>,
    checkpoint_seq: Option<u64>,
    checkpoint_record_hash: Option<Hash>,
}

/// Verify with options (expected key, threads, method).
pub fn verify_journal_with(
    path: &Path,
    options: &VerifyOptions,
) -> Result<VerifyReport, VerifyError> {
    let reader = JournalReader::open(path)?;
    let public_key = reader.public_key();
    let device_id = reader.device_id();
    if let Some(expected) = options.expected_public_key {
        if expected != public_key {
            return Err(VerifyError::UnexpectedKey {
                expected: DeviceId::from_public_key(&expected),
                found: device_id,
            });
        }
    }
    let key = PublicKey::parse(&public_key)
        .map_err(|reason| VerifyError::WeakKey { device_id, reason })?;
    let cp_path = head_checkpoint_path(path);
    let checkpoint = read_checkpoint(&cp_path, &public_key)?;

    let threads = options
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let first_bad = Mutex::new(None);
    let failed = AtomicBool::new(false);
    let mut walk = Walk {
        expected_seq: 1,
        prev: Hash::ZERO,
        erased: Vec::new(),
        checkpoint_seq: checkpoint.as_ref().map(|c| c.seq),
        checkpoint_record_hash: None,
    };

    let structural: Result<(), VerifyError> = if threads == 1 {
        let pool = SigPool {
            sender: None,
            inline: Some(&key),
            first_bad: &first_bad,
            failed: &failed,
        };
        walk_rows(&reader, path, &public_key, &mut walk, &pool)
    } else {
        let (tx, rx) = mpsc::sync_channel::<Chunk>(threads * 2);
        let rx = Mutex::new(rx);
        std::thread::scope(|s| {
            for _ in 0..threads {
                let rx = &rx;
                let (first_bad, failed, key) = (&first_bad, &failed, &key);
                s.spawn(move || loop {
                    let next = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(poisoned) => poisoned.into_inner().recv(),
                    };
                    let Ok(chunk) = next else { break };
                    if let Some(bad) = chunk.first_bad(key) {
                        record_bad(first_bad, failed, bad);
                    }
                });
            }
            let pool = SigPool {
                sender: Some(tx),
                inline: None,
                first_bad: &first_bad,
                failed: &failed,
            };
            let result = walk_rows(&reader, path, &public_key, &mut walk, &pool);
            drop(pool); // closes the channel; workers drain it and exit
            result
        })
    };

    let bad_sig = match first_bad.into_inner() {
        Ok(v) => v,
        Err(poisoned) => poisoned.into_inner(),
    };
    let structural_seq = structural.as_ref().err().and_then(VerifyError::seq);
    if let Some((seq, rowid)) = bad_sig {
        if structural_seq.is_none_or(|s| seq < s) {
            return Err(VerifyError::Record {
                seq,
                rowid,
                source: RecordError::BadSignature { seq },
            });
        }
    }
    structural?;

    let last_seq = walk.expected_seq - 1;
    let head_hash = (last_seq > 0).then_some(walk.prev);
    let mut warnings = Vec::new();
    let head_checkpoint = match checkpoint {
        None => {
            warnings.push(format!(
                "no head checkpoint ({}): a truncated tail cannot be detected locally",
                cp_path.display()
            ));
            CheckpointStatus::Missing
        }
        Some(cp) if cp.seq > last_seq => {
            return Err(VerifyError::Truncated {
                checkpoint_seq: cp.seq,
                last_seq,
            })
        }
        Some(cp) => {
            let record_hash = if cp.seq == 0 {
                Hash::ZERO
            } else {
                walk.checkpoint_record_hash.unwrap_or(Hash::ZERO)
            };
            if cp.hash != record_hash {
                return Err(VerifyError::CheckpointMismatch {
                    seq: cp.seq,
                    checkpoint_hash: cp.hash,
                    record_hash,
                });
            }
            if cp.seq == last_seq {
                CheckpointStatus::Matches { seq: cp.seq }
            } else {
                warnings.push(format!(
                    "head checkpoint is at record {} of {last_seq} (written before a crash?)",
                    cp.seq
                ));
                CheckpointStatus::Behind {
                    checkpoint_seq: cp.seq,
                }
            }
        }
    };
    if !walk.erased.is_empty() {
        warnings.push(format!(
            "{} record(s) have erased payloads",
            walk.erased.len()
        ));
    }
    tracing::debug!(path = %path.display(), records = last_seq, "journal verified");
    Ok(VerifyReport {
        path: path.to_owned(),
        records: last_seq,
        head_seq: last_seq,
        head_hash,
        device_id,
        public_key: hex::encode(public_key),
        head_checkpoint,
        erased_payloads: walk.erased,
        warnings,
    })
}

fn read_checkpoint(
    cp_path: &Path,
    public_key: &[u8; 32],
) -> Result<Option<HeadCheckpoint>, VerifyError> {
    let bytes = match std::fs::read(cp_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(VerifyError::CheckpointIo {
                path: cp_path.to_owned(),
                source,
            })
        }
    };
    if bytes.is_empty() {
        return Ok(None);
    }
    let bad = |source| VerifyError::BadCheckpoint {
        path: cp_path.to_owned(),
        source,
    };
    let cp = HeadCheckpoint::from_json(&bytes).map_err(bad)?;
    cp.verify(public_key).map_err(bad)?;
    Ok(Some(cp))
}

fn blob<'r>(
    row: &'r rusqlite::Row<'_>,
    idx: usize,
    seq: u64,
    rowid: i64,
    column: &'static str,
) -> Result<Option<&'r [u8]>, VerifyError> {
    use rusqlite::types::ValueRef;
    match row.get_ref(idx) {
        Ok(ValueRef::Blob(b)) => Ok(Some(b)),
        Ok(ValueRef::Null) => Ok(None),
        Ok(other) => Err(VerifyError::BadColumn {
            seq,
            rowid,
            column,
            problem: format!("is {:?}, not a BLOB", other.data_type()),
        }),
        Err(e) => Err(VerifyError::BadColumn {
            seq,
            rowid,
            column,
            problem: e.to_string(),
        }),
    }
}

fn fixed<const N: usize>(
    bytes: Option<&[u8]>,
    seq: u64,
    rowid: i64,
    column: &'static str,
) -> Result<[u8; N], VerifyError> {
    match bytes {
        Some(b) => b.try_into().map_err(|_| VerifyError::BadColumn {
            seq,
            rowid,
            column,
            problem: format!("has {} bytes, expected {N}", b.len()),
        }),
        None => Err(VerifyError::BadColumn {
            seq,
            rowid,
            column,
            problem: "is NULL".into(),
        }),
    }
}

fn walk_rows(
    reader: &JournalReader,
    path: &Path,
    public_key: &[u8; 32],
    walk: &mut Walk,
    pool: &SigPool<'_>,
) -> Result<(), VerifyError> {
    let read_err = |source| VerifyError::Read {
        path: path.to_owned(),
        source,
    };
    let mut stmt = reader
        .connection()
        .prepare(
            "SELECT rowid, seq, kind, header, payload, hash, signature FROM records ORDER BY rowid",
        )
        .map_err(read_err)?;
    let mut rows = stmt.query([]).map_err(read_err)?;
    let mut chunk = Chunk::default();
    let result = loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break Ok(()),
            Err(e) => break Err(read_err(e)),
        };
        if let Err(e) = check_row(row, public_key, walk, &mut chunk) {
            break Err(e);
        }
        if chunk.jobs.len() >= CHUNK {
            pool.submit(std::mem::take(&mut chunk));
            if pool.failed.load(Ordering::Relaxed) {
                // A bad signature was found; later records cannot come first.
                break Ok(());
            }
        }
    };
    pool.submit(chunk);
    result
}

fn check_row(
    row: &rusqlite::Row<'_>,
    public_key: &[u8; 32],
    walk: &mut Walk,
    chunk: &mut Chunk,
) -> Result<(), VerifyError> {
    use rusqlite::types::ValueRef;
    let expected = walk.expected_seq;
    let rowid: i64 = row.get(0).map_err(|e| VerifyError::BadColumn {
        seq: expected,
        rowid: -1,
        column: "rowid",
        problem: e.to_string(),
    })?;
    let seq = match row.get_ref(1) {
        Ok(ValueRef::Integer(s)) if s > 0 => s as u64,
        other => {
            // Name the record by its signed header when it still decodes: the row
            // was moved to the front by editing its seq.
            let named = match row.get_ref(3) {
                Ok(ValueRef::Blob(b)) => RecordHeader::decode(b).map_or(expected, |h| h.seq),
                _ => expected,
            };
            return Err(VerifyError::BadColumn {
                seq: named,
                rowid,
                column: "seq",
                problem: format!("is {other:?}, not a positive integer"),
            });
        }
    };
    if seq > expected {
        return Err(VerifyError::Record {
            seq: expected,
            rowid,
            source: RecordError::SequenceGap {
                expected,
                found: seq,
            },
        });
    }
    if seq < expected {
        return Err(VerifyError::Record {
            seq: expected,
            rowid,
            source: RecordError::Reordered {
                expected,
                found: seq,
            },
        });
    }
    let rec_err = |source| VerifyError::Record { seq, rowid, source };
    let header_bytes = blob(row, 3, seq, rowid, "header")?.ok_or(VerifyError::BadColumn {
        seq,
        rowid,
        column: "header",
        problem: "is NULL".into(),
    })?;
    let header = RecordHeader::decode(header_bytes).map_err(rec_err)?;
    let hash = Hash(fixed(
        blob(row, 5, seq, rowid, "hash")?,
        seq,
        rowid,
        "hash",
    )?);
    let signature: [u8; 64] = fixed(
        blob(row, 6, seq, rowid, "signature")?,
        seq,
        rowid,
        "signature",
    )?;
    match check_header(&header, header_bytes, &hash, public_key, seq, &walk.prev) {
        Ok(()) => {}
        // The hash is consistent but the header is another record's: the row's
        // content was moved here.
        Err(RecordError::SequenceGap { found, .. } | RecordError::Reordered { found, .. }) => {
            return Err(rec_err(RecordError::Reordered {
                expected: seq,
                found,
            }))
        }
        Err(e) => return Err(rec_err(e)),
    }
    match row.get_ref(2) {
        Ok(ValueRef::Text(k)) if k == header.kind.as_bytes() => {}
        other => {
            return Err(VerifyError::KindColumnMismatch {
                seq,
                rowid,
                column: match other {
                    Ok(ValueRef::Text(k)) => String::from_utf8_lossy(k).into_owned(),
                    other => format!("{other:?}"),
                },
                header: header.kind,
            })
        }
    }
    match blob(row, 4, seq, rowid, "payload")? {
        Some(payload) => check_payload(&header, payload).map_err(rec_err)?,
        None => walk.erased.push(seq),
    }
    let start = chunk.bytes.len();
    chunk.bytes.extend_from_slice(header_bytes);
    chunk.jobs.push(SigJob {
        seq,
        rowid,
        start,
        end: chunk.bytes.len(),
        signature,
    });
    if walk.checkpoint_seq == Some(seq) {
        walk.checkpoint_record_hash = Some(hash);
    }
    walk.prev = hash;
    walk.expected_seq = seq + 1;
    Ok(())
}
