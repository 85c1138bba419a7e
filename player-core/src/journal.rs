//! The append-only SQLite store of signed study records (R-ST-6, R-SV-4).
//!
//! One SQLite file per device:
//!
//! - `meta(key, value)`: `format` = `keshi-journal-v1`, `schema_version` = 1,
//!   `public_key` (32 bytes), `device_id` (16 bytes).
//! - `records(seq, kind, header, payload, hash, signature)`: one row per record;
//!   `header` holds the canonical v1 bytes ([`crate::record`]), `kind` is a copy for
//!   queries, `payload` the JSON bytes (NULL once erased). Triggers abort every
//!   UPDATE and DELETE.
//! - `sync_state(key, value)`: the outbox's bookkeeping. Sync state never goes in
//!   `records`, so uploading changes nothing that is signed.
//!
//! Durability: WAL with `synchronous=FULL`, so [`Journal::append`] returns only
//! after the commit is on disk. A failed append rolls back and leaves the journal
//! as it was (and verifiable).
//!
//! Beside the database, `<journal>.head` holds a signed head checkpoint
//! ([`HeadCheckpoint`], one JSON line padded with spaces to a fixed size),
//! rewritten after each commit by writing a spare file and renaming it over the
//! checkpoint, so readers see a whole old or a whole new file. It is not fsynced:
//! the database commit is durable before the checkpoint is written, so after a
//! crash the checkpoint is the new one or an older one, never ahead of the
//! database. An older checkpoint is accepted by verification (it only flags a
//! checkpoint *ahead* of the database: cut records) and is rewritten at the next
//! open or commit. An fsync here would double the cost of every append for no
//! gain in what can be proven.
//!
//! Architecture invariant: this module does not read the clock and does not verify
//! the chain on every read (that is [`crate::verify`]); it refuses to open a journal
//! whose checkpoint proves records were cut, so opening can never erase evidence.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::record::{
    prepare, CheckpointError, DeviceId, Hash, HeadCheckpoint, NewRecord, Record, RecordError,
    RecordHeader, Signer, UnsignedRecord,
};

/// `meta.format` of a v1 journal.
pub const JOURNAL_FORMAT: &str = "keshi-journal-v1";
/// `meta.schema_version` written by this build.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    header BLOB NOT NULL,
    payload BLOB,
    hash BLOB NOT NULL,
    signature BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS sync_state (key TEXT PRIMARY KEY, value TEXT);
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
    WHEN NOT (NEW.payload IS NULL AND OLD.payload IS NOT NULL AND NEW.seq = OLD.seq
              AND NEW.kind = OLD.kind AND NEW.header = OLD.header AND NEW.hash = OLD.hash
              AND NEW.signature = OLD.signature)
    BEGIN SELECT RAISE(ABORT, 'journal records are append-only (only a payload may be erased)'); END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
    BEGIN SELECT RAISE(ABORT, 'journal records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS meta_no_update BEFORE UPDATE ON meta
    BEGIN SELECT RAISE(ABORT, 'journal meta is immutable'); END;
CREATE TRIGGER IF NOT EXISTS meta_no_delete BEFORE DELETE ON meta
    BEGIN SELECT RAISE(ABORT, 'journal meta is immutable'); END;
";

/// Batches at least this large are signed on several threads.
const PARALLEL_SIGN_MIN: usize = 64;
/// Records per signing chunk of a large batch.
const SIGN_CHUNK: usize = 128;
/// Size of the head checkpoint file: the JSON line padded with spaces, so that
/// rewriting it never changes its size (see [`replace_file`]).
const HEAD_FILE_LEN: usize = 384;

/// Errors of the journal store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The database file could not be opened or created.
    #[error("cannot open journal {path}: {source}")]
    Open {
        /// The journal.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The disk is full; nothing was written.
    #[error("journal {path}: disk full, the record was not saved (free some space and retry)")]
    DiskFull {
        /// The journal.
        path: PathBuf,
    },
    /// The file or its directory is read-only; nothing was written.
    #[error("journal {path} is read-only, the record was not saved")]
    ReadOnly {
        /// The journal.
        path: PathBuf,
    },
    /// Another process holds the write lock.
    #[error("journal {path} is locked by another process (is Keshi already running?)")]
    Busy {
        /// The journal.
        path: PathBuf,
    },
    /// The disk reported an I/O error.
    #[error("journal {path}: disk I/O error during {op}: {source}")]
    DiskIo {
        /// The journal.
        path: PathBuf,
        /// What was attempted.
        op: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// Any other SQLite failure.
    #[error("journal {path}: {op} failed: {source}")]
    Sqlite {
        /// The journal.
        path: PathBuf,
        /// What was attempted.
        op: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The head checkpoint file could not be written or read.
    #[error("journal head checkpoint {path}: {source}")]
    CheckpointIo {
        /// The checkpoint file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a Keshi journal (or a newer schema).
    #[error("{path} is not a Keshi v1 journal: {reason}")]
    NotAJournal {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The journal belongs to another device key.
    #[error("journal {path} belongs to device {journal_device}, not to this device ({signer_device}); refusing to write to it")]
    ForeignJournal {
        /// The journal.
        path: PathBuf,
        /// Device id stored in the journal.
        journal_device: DeviceId,
        /// Device id of the signer given.
        signer_device: DeviceId,
    },
    /// A stored record does not decode.
    #[error("journal record {seq} is corrupt: {source} (run `keshi journal verify`)")]
    CorruptRecord {
        /// The row's seq.
        seq: u64,
        /// Why.
        #[source]
        source: RecordError,
    },
    /// A stored hash or signature has the wrong length.
    #[error("journal record {seq} is corrupt: column {column} has {len} bytes, expected {expected} (run `keshi journal verify`)")]
    CorruptColumn {
        /// The row's seq.
        seq: u64,
        /// The column.
        column: &'static str,
        /// Its length.
        len: usize,
        /// The expected length.
        expected: usize,
    },
    /// A record to append is invalid (kind, size); nothing was written.
    #[error("record not appended: {0}")]
    InvalidRecord(#[source] RecordError),
    /// Another writer appended behind this handle's back; nothing was written.
    #[error("journal {path} was appended to by another writer (expected head {expected:?}, found {found:?}); reopen it")]
    ConcurrentWriter {
        /// The journal.
        path: PathBuf,
        /// Head seq this handle knew.
        expected: Option<u64>,
        /// Head seq in the database.
        found: Option<u64>,
    },
    /// The signed head checkpoint is ahead of the database: records were cut from
    /// the tail. The journal is not opened for writing so the evidence is kept.
    #[error("journal {path} is truncated: its head checkpoint is at record {checkpoint_seq} but the last record is {last_seq}; not opening it for writing")]
    CheckpointAhead {
        /// The journal.
        path: PathBuf,
        /// Seq in the checkpoint.
        checkpoint_seq: u64,
        /// Last seq in the database.
        last_seq: u64,
    },
    /// The head checkpoint file exists but is not valid; not opened for writing.
    #[error(
        "journal head checkpoint {path} is invalid: {source}; not opening the journal for writing"
    )]
    CheckpointInvalid {
        /// The checkpoint file.
        path: PathBuf,
        /// Why.
        #[source]
        source: CheckpointError,
    },
    /// The checkpoint's seq exists but its hash differs from the record's.
    #[error("journal {path}: record {seq} differs from the signed head checkpoint; not opening it for writing")]
    CheckpointMismatch {
        /// The journal.
        path: PathBuf,
        /// The record.
        seq: u64,
    },
}

fn classify(path: &Path, op: &'static str, source: rusqlite::Error) -> JournalError {
    let code = match &source {
        rusqlite::Error::SqliteFailure(e, _) => Some(e.code),
        _ => None,
    };
    match code {
        Some(ErrorCode::DiskFull) => JournalError::DiskFull {
            path: path.to_owned(),
        },
        Some(ErrorCode::ReadOnly) => JournalError::ReadOnly {
            path: path.to_owned(),
        },
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => JournalError::Busy {
            path: path.to_owned(),
        },
        Some(ErrorCode::SystemIoFailure) => JournalError::DiskIo {
            path: path.to_owned(),
            op,
            source,
        },
        _ => JournalError::Sqlite {
            path: path.to_owned(),
            op,
            source,
        },
    }
}

/// The path of the head checkpoint of the journal at `journal_path`:
/// the same name with `.head` appended (`J.db` → `J.db.head`).
pub fn head_checkpoint_path(journal_path: &Path) -> PathBuf {
    let mut s = OsString::from(journal_path.as_os_str());
    s.push(".head");
    PathBuf::from(s)
}

/// What the read side needs from `meta`.
struct Meta {
    public_key: [u8; 32],
    device_id: DeviceId,
}

fn read_meta(conn: &Connection, path: &Path) -> Result<Option<Meta>, JournalError> {
    let not_journal = |reason: String| JournalError::NotAJournal {
        path: path.to_owned(),
        reason,
    };
    let has_meta: bool = conn
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| classify(path, "read the schema", e))?;
    if !has_meta {
        return Ok(None);
    }
    let get = |key: &str| -> Result<Option<rusqlite::types::Value>, JournalError> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| classify(path, "read meta", e))
    };
    use rusqlite::types::Value;
    let Some(pk) = get("public_key")? else {
        return Ok(None);
    };
    match get("format")? {
        Some(Value::Text(f)) if f == JOURNAL_FORMAT => {}
        other => return Err(not_journal(format!("meta.format is {other:?}"))),
    }
    match get("schema_version")? {
        Some(Value::Integer(SCHEMA_VERSION)) => {}
        other => {
            return Err(not_journal(format!(
                "unsupported meta.schema_version {other:?}"
            )))
        }
    }
    let public_key: [u8; 32] = match pk {
        Value::Blob(b) => b
            .as_slice()
            .try_into()
            .map_err(|_| not_journal(format!("meta.public_key has {} bytes", b.len())))?,
        other => return Err(not_journal(format!("meta.public_key is {other:?}"))),
    };
    let device_id = DeviceId::from_public_key(&public_key);
    match get("device_id")? {
        Some(Value::Blob(b)) if b.as_slice() == device_id.0 => {}
        _ => {
            return Err(not_journal(
                "meta.device_id does not match meta.public_key".into(),
            ))
        }
    }
    Ok(Some(Meta {
        public_key,
        device_id,
    }))
}

fn fixed<const N: usize>(
    seq: u64,
    column: &'static str,
    bytes: &[u8],
) -> Result<[u8; N], JournalError> {
    bytes.try_into().map_err(|_| JournalError::CorruptColumn {
        seq,
        column,
        len: bytes.len(),
        expected: N,
    })
}

fn load_head(conn: &Connection, path: &Path) -> Result<Option<(u64, Hash)>, JournalError> {
    let row: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(|e| classify(path, "read the head", e))?;
    match row {
        None => Ok(None),
        Some((seq, hash)) => {
            let seq = seq as u64;
            Ok(Some((seq, Hash(fixed(seq, "hash", &hash)?))))
        }
    }
}

fn row_to_record(row: &rusqlite::Row<'_>) -> Result<Result<Record, JournalError>, rusqlite::Error> {
    let seq = row.get::<_, i64>(0)? as u64;
    let header = row.get_ref(1)?.as_blob()?;
    let payload = row.get_ref(2)?.as_blob_or_null()?;
    let hash = row.get_ref(3)?.as_blob()?;
    let signature = row.get_ref(4)?.as_blob()?;
    Ok((|| {
        let header = RecordHeader::decode(header)
            .map_err(|source| JournalError::CorruptRecord { seq, source })?;
        Ok(Record {
            header,
            payload: payload.map(<[u8]>::to_vec).unwrap_or_default(),
            hash: Hash(fixed(seq, "hash", hash)?),
            signature: fixed(seq, "signature", signature)?,
        })
    })())
}

fn for_each_from<F>(
    conn: &Connection,
    path: &Path,
    from_seq: u64,
    mut f: F,
) -> Result<(), JournalError>
where
    F: FnMut(Record) -> ControlFlow<()>,
{
    let from = i64::try_from(from_seq).unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, header, payload, hash, signature FROM records WHERE seq >= ?1 ORDER BY seq",
        )
        .map_err(|e| classify(path, "read records", e))?;
    let mut rows = stmt
        .query([from])
        .map_err(|e| classify(path, "read records", e))?;
    while let Some(row) = rows.next().map_err(|e| classify(path, "read records", e))? {
        let record = row_to_record(row).map_err(|e| classify(path, "read records", e))??;
        if f(record).is_break() {
            break;
        }
    }
    Ok(())
}

fn count(conn: &Connection, path: &Path) -> Result<u64, JournalError> {
    conn.query_row("SELECT COUNT(*) FROM records", [], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
        .map_err(|e| classify(path, "count records", e))
}

/// Read side shared by [`Journal`] and [`JournalReader`].
macro_rules! read_methods {
    () => {
        /// The journal's database file.
        pub fn path(&self) -> &Path {
            &self.path
        }

        /// The device's Ed25519 public key (stored in `meta`).
        pub fn public_key(&self) -> [u8; 32] {
            self.public_key
        }

        /// The device id (stored in `meta`).
        pub fn device_id(&self) -> DeviceId {
            self.device_id
        }

        /// Last record's (seq, hash), `None` when empty.
        pub fn head(&self) -> Option<(u64, Hash)> {
            self.head
        }

        /// Number of records (the head seq: records are contiguous from 1).
        pub fn len(&self) -> u64 {
            self.head.map_or(0, |(seq, _)| seq)
        }

        /// Whether the journal has no records.
        pub fn is_empty(&self) -> bool {
            self.head.is_none()
        }

        /// Count rows in the database (unlike [`Self::len`], reads the table).
        pub fn count_rows(&self) -> Result<u64, JournalError> {
            count(&self.conn, &self.path)
        }

        /// All records with `seq >= from_seq`, in order. Loads them all in memory;
        /// use [`Self::for_each_from`] for large journals.
        pub fn records_from(&self, from_seq: u64) -> Result<Vec<Record>, JournalError> {
            let mut out = Vec::new();
            for_each_from(&self.conn, &self.path, from_seq, |r| {
                out.push(r);
                ControlFlow::Continue(())
            })?;
            Ok(out)
        }

        /// Stream records with `seq >= from_seq` in order to `f` until it breaks.
        pub fn for_each_from<F>(&self, from_seq: u64, f: F) -> Result<(), JournalError>
        where
            F: FnMut(Record) -> ControlFlow<()>,
        {
            for_each_from(&self.conn, &self.path, from_seq, f)
        }

        /// The record `seq`, if present.
        pub fn get(&self, seq: u64) -> Result<Option<Record>, JournalError> {
            let mut found = None;
            for_each_from(&self.conn, &self.path, seq, |r| {
                if r.header.seq == seq {
                    found = Some(r);
                }
                ControlFlow::Break(())
            })?;
            Ok(found)
        }
    };
}

/// A journal opened for appending, bound to one device's signer.
pub struct Journal {
    conn: Connection,
    path: PathBuf,
    head_path: PathBuf,
    signer: Arc<dyn Signer>,
    public_key: [u8; 32],
    device_id: DeviceId,
    head: Option<(u64, Hash)>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("device_id", &self.device_id)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Open (or create) the journal at `path` for the device of `signer`.
    ///
    /// Creates the schema when new. Refuses a journal of another device key, and a
    /// journal whose signed head checkpoint is ahead of it, invalid, or contradicts
    /// it (tamper evidence is never overwritten). Loads the head from the database
    /// and brings a lagging checkpoint up to date.
    pub fn open(path: &Path, signer: Arc<dyn Signer>) -> Result<Journal, JournalError> {
        let open_err = |source| JournalError::Open {
            path: path.to_owned(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| classify(path, "set busy timeout", e))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(|e| classify(path, "enable WAL", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(JournalError::NotAJournal {
                path: path.to_owned(),
                reason: format!("cannot use WAL journal mode (got {mode})"),
            });
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| classify(path, "set synchronous=FULL", e))?;

        let public_key = signer.public_key();
        let device_id = DeviceId::from_public_key(&public_key);
        let meta = match read_meta(&conn, path)? {
            Some(meta) => meta,
            None => {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(|e| classify(path, "create the schema", e))?;
                tx.execute_batch(SCHEMA)
                    .map_err(|e| classify(path, "create the schema", e))?;
                let meta = match read_meta(&tx, path)? {
                    Some(meta) => meta,
                    None => {
                        if count(&tx, path)? != 0 {
                            return Err(JournalError::NotAJournal {
                                path: path.to_owned(),
                                reason: "records without meta.public_key".into(),
                            });
                        }
                        tx.execute(
                            "INSERT INTO meta(key, value) VALUES ('format', ?1), ('schema_version', ?2), ('public_key', ?3), ('device_id', ?4)",
                            params![JOURNAL_FORMAT, SCHEMA_VERSION, &public_key[..], &device_id.0[..]],
                        )
                        .map_err(|e| classify(path, "write meta", e))?;
                        tracing::info!(path = %path.display(), %device_id, "new journal created");
                        Meta {
                            public_key,
                            device_id,
                        }
                    }
                };
                tx.commit()
                    .map_err(|e| classify(path, "create the schema", e))?;
                meta
            }
        };
        if meta.public_key != public_key {
            return Err(JournalError::ForeignJournal {
                path: path.to_owned(),
                journal_device: meta.device_id,
                signer_device: device_id,
            });
        }
        let head = load_head(&conn, path)?;
        let journal = Journal {
            conn,
            path: path.to_owned(),
            head_path: head_checkpoint_path(path),
            signer,
            public_key,
            device_id,
            head,
        };
        journal.check_checkpoint_on_open()?;
        tracing::debug!(path = %path.display(), head = ?journal.head, "journal opened");
        Ok(journal)
    }

    /// Compare the head checkpoint with the database; rewrite it when it lags.
    fn check_checkpoint_on_open(&self) -> Result<(), JournalError> {
        let bytes = match std::fs::read(&self.head_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.write_checkpoint();
                return Ok(());
            }
            Err(source) => {
                return Err(JournalError::CheckpointIo {
                    path: self.head_path.clone(),
                    source,
                })
            }
        };
        if bytes.is_empty() {
            tracing::warn!(path = %self.head_path.display(), "empty head checkpoint (interrupted write?); rewriting it");
            self.write_checkpoint();
            return Ok(());
        }
        let invalid = |source| JournalError::CheckpointInvalid {
            path: self.head_path.clone(),
            source,
        };
        let cp = HeadCheckpoint::from_json(&bytes).map_err(invalid)?;
        cp.verify(&self.public_key).map_err(invalid)?;
        let last_seq = self.len();
        if cp.seq > last_seq {
            return Err(JournalError::CheckpointAhead {
                path: self.path.clone(),
                checkpoint_seq: cp.seq,
                last_seq,
            });
        }
        if cp.seq > 0 {
            let hash: Option<Vec<u8>> = self
                .conn
                .query_row(
                    "SELECT hash FROM records WHERE seq = ?1",
                    [cp.seq as i64],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| classify(&self.path, "read the checkpoint record", e))?;
            if hash.as_deref() != Some(&cp.hash.0[..]) {
                return Err(JournalError::CheckpointMismatch {
                    path: self.path.clone(),
                    seq: cp.seq,
                });
            }
        }
        if cp.seq < last_seq {
            tracing::info!(
                checkpoint_seq = cp.seq,
                last_seq,
                "head checkpoint lagged the database (crash after commit?); rewriting it"
            );
            self.write_checkpoint();
        }
        Ok(())
    }

    /// Write `<journal>.head` for the current head (see the module docs: spare
    /// file + rename, no fsync). A failure is logged, not returned: the records
    /// are already durable and the next commit or open rewrites the checkpoint.
    fn write_checkpoint(&self) {
        let (seq, hash) = self.head.unwrap_or((0, Hash::ZERO));
        let mut bytes = HeadCheckpoint::sign(&*self.signer, seq, hash).to_json();
        if bytes.len() < HEAD_FILE_LEN {
            // Pad with spaces (JSON whitespace) so the file size never changes.
            bytes.pop();
            bytes.resize(HEAD_FILE_LEN - 1, b' ');
            bytes.push(b'\n');
        }
        if let Err(e) = replace_file(&self.head_path, &bytes) {
            tracing::warn!(path = %self.head_path.display(), error = %e, seq, "could not write the head checkpoint");
        }
    }

    read_methods!();

    /// Set how long a write waits for another connection's lock (default 5 s).
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<(), JournalError> {
        self.conn
            .busy_timeout(timeout)
            .map_err(|e| classify(&self.path, "set busy timeout", e))
    }

    /// Seal `new` as the next record and commit it durably (one transaction,
    /// fsynced) before returning it. On error nothing was written.
    pub fn append(&mut self, new: NewRecord) -> Result<Record, JournalError> {
        let unsigned =
            prepare(self.device_id, self.head, &new).map_err(JournalError::InvalidRecord)?;
        let mut records = self.commit(vec![unsigned])?;
        records
            .pop()
            .ok_or(JournalError::InvalidRecord(RecordError::SequenceOverflow))
    }

    /// Seal and commit several records in one transaction (group commit: one
    /// fsync). Headers are chained in order first; then worker threads sign chunks
    /// (the chain covers headers, not signatures) while this thread inserts the
    /// chunks already signed. All or nothing.
    pub fn append_batch(&mut self, batch: Vec<NewRecord>) -> Result<Vec<Record>, JournalError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut prev = self.head;
        let mut unsigned = Vec::with_capacity(batch.len());
        for new in &batch {
            let u = prepare(self.device_id, prev, new).map_err(JournalError::InvalidRecord)?;
            prev = Some((u.header.seq, u.hash));
            unsigned.push(u);
        }
        self.commit(unsigned)
    }

    /// Sign and insert `records` in one IMMEDIATE transaction, commit (fsync),
    /// then move the head and rewrite the checkpoint. Nothing changes on error.
    fn commit(&mut self, records: Vec<UnsignedRecord>) -> Result<Vec<Record>, JournalError> {
        let path = self.path.as_path();
        let signer = &*self.signer;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| classify(path, "begin append", e))?;
        let db_head = load_head(&tx, path)?;
        if db_head.map(|h| h.0) != self.head.map(|h| h.0) {
            return Err(JournalError::ConcurrentWriter {
                path: path.to_owned(),
                expected: self.head.map(|h| h.0),
                found: db_head.map(|h| h.0),
            });
        }
        let signatures = {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO records(seq, kind, header, payload, hash, signature) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(|e| classify(path, "append", e))?;
            sign_pipelined(signer, &records, |part, sigs| {
                for (u, sig) in part.iter().zip(sigs) {
                    let seq = i64::try_from(u.header.seq)
                        .map_err(|_| JournalError::InvalidRecord(RecordError::SequenceOverflow))?;
                    stmt.execute(params![
                        seq,
                        u.header.kind,
                        u.header_bytes,
                        u.payload,
                        &u.hash.0[..],
                        &sig[..]
                    ])
                    .map_err(|e| classify(path, "append", e))?;
                }
                Ok(())
            })?
        };
        tx.commit().map_err(|e| classify(path, "commit", e))?;
        let out: Vec<Record> = records
            .into_iter()
            .zip(signatures)
            .map(|(u, signature)| Record {
                header: u.header,
                payload: u.payload,
                hash: u.hash,
                signature,
            })
            .collect();
        if let Some(last) = out.last() {
            self.head = Some((last.header.seq, last.hash));
        }
        self.write_checkpoint();
        tracing::trace!(count = out.len(), head = ?self.head, "records committed");
        Ok(out)
    }

    /// Set a key of the outbox's `sync_state` table (never touches `records`).
    pub fn set_sync_state(&mut self, key: &str, value: &str) -> Result<(), JournalError> {
        self.conn
            .execute(
                "INSERT INTO sync_state(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(|e| classify(&self.path, "write sync state", e))
    }

    /// Erases the payloads of records `seqs` (sets them to NULL) in one transaction;
    /// headers, hashes and signatures stay, so the chain still verifies and the
    /// erasure shows in [`crate::verify`]'s report. The only change to a stored record
    /// the schema allows. Callers erase only what the platform acknowledged and what
    /// a signed progress snapshot supersedes ([`crate::retention`]). Returns how many
    /// payloads were erased.
    pub fn erase_payloads(&mut self, seqs: &[u64]) -> Result<u64, JournalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| classify(&self.path, "erase payloads", e))?;
        let mut n = 0u64;
        {
            let mut st = tx
                .prepare("UPDATE records SET payload = NULL WHERE seq = ?1 AND payload IS NOT NULL")
                .map_err(|e| classify(&self.path, "erase payloads", e))?;
            for &seq in seqs {
                let seq = i64::try_from(seq).unwrap_or(i64::MAX);
                n += st
                    .execute(params![seq])
                    .map_err(|e| classify(&self.path, "erase payloads", e))?
                    as u64;
            }
        }
        tx.commit()
            .map_err(|e| classify(&self.path, "erase payloads", e))?;
        Ok(n)
    }

    /// Read a key of the `sync_state` table.
    pub fn sync_state(&self, key: &str) -> Result<Option<String>, JournalError> {
        self.conn
            .query_row("SELECT value FROM sync_state WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| classify(&self.path, "read sync state", e))
    }

    /// Open a journal read-only, without a signer (`keshi journal show/verify`).
    pub fn read_only(path: &Path) -> Result<JournalReader, JournalError> {
        JournalReader::open(path)
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(suffix);
    PathBuf::from(s)
}

/// Atomically replace `path` with `bytes`: overwrite the spare file
/// (`<path>.spare`, the inode of the previous version) in place, then rename it
/// over `path`; the replaced inode becomes the next spare (via a hard link made
/// just before the rename). Readers see the old or the new file, never half of
/// one. Reusing an inode whose blocks are already allocated keeps the rename from
/// forcing a data flush (ext4 `auto_da_alloc`), which a fresh temp file would:
/// that flush cost ~1-2 ms per append, half a disk sync. Where hard links fail,
/// the spare is simply recreated next time.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let spare = sibling(path, ".spare");
    let old = sibling(path, ".old");
    match std::fs::remove_file(&old) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&spare)?;
        f.write_all(bytes)?;
        if f.metadata()?.len() != bytes.len() as u64 {
            f.set_len(bytes.len() as u64)?;
        }
    }
    let linked = std::fs::hard_link(path, &old).is_ok();
    std::fs::rename(&spare, path)?;
    if linked {
        std::fs::rename(&old, &spare)?;
    }
    Ok(())
}

/// Sign every header and hand each signed chunk, in order, to `insert`.
///
/// Small batches (or one core) are signed on this thread. Larger ones are signed
/// by one worker per core, chunk by chunk, while this thread inserts the chunks
/// that are ready: signing and SQLite work overlap. Stops at the first `insert`
/// error (workers see the stop flag and quit).
fn sign_pipelined<F>(
    signer: &dyn Signer,
    unsigned: &[UnsignedRecord],
    mut insert: F,
) -> Result<Vec<[u8; 64]>, JournalError>
where
    F: FnMut(&[UnsignedRecord], &[[u8; 64]]) -> Result<(), JournalError>,
{
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || unsigned.len() < PARALLEL_SIGN_MIN {
        let sigs: Vec<[u8; 64]> = unsigned
            .iter()
            .map(|u| signer.sign(&u.header_bytes))
            .collect();
        insert(unsigned, &sigs)?;
        return Ok(sigs);
    }
    let n_chunks = unsigned.len().div_ceil(SIGN_CHUNK);
    let chunk_range = |i: usize| i * SIGN_CHUNK..((i + 1) * SIGN_CHUNK).min(unsigned.len());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<(usize, Vec<[u8; 64]>)>();
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, stop) = (&next, &stop);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n_chunks || stop.load(Ordering::Relaxed) {
                    break;
                }
                let sigs = unsigned[chunk_range(i)]
                    .iter()
                    .map(|u| signer.sign(&u.header_bytes))
                    .collect();
                if tx.send((i, sigs)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut ready = BTreeMap::new();
        let mut all = Vec::with_capacity(unsigned.len());
        let mut want = 0;
        for (i, sigs) in rx {
            ready.insert(i, sigs);
            while let Some(sigs) = ready.remove(&want) {
                if let Err(e) = insert(&unsigned[chunk_range(want)], &sigs) {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                all.extend(sigs);
                want += 1;
            }
        }
        // Every chunk arrives unless a worker panicked; the scope re-raises that.
        Ok(all)
    })
}

/// A journal opened read-only, without a signer. Head and length are those at
/// open time; record reads see the current database.
pub struct JournalReader {
    conn: Connection,
    path: PathBuf,
    public_key: [u8; 32],
    device_id: DeviceId,
    head: Option<(u64, Hash)>,
}

impl std::fmt::Debug for JournalReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalReader")
            .field("path", &self.path)
            .field("device_id", &self.device_id)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl JournalReader {
    /// Open read-only. Fails if the file does not exist or is not a journal.
    pub fn open(path: &Path) -> Result<JournalReader, JournalError> {
        let conn = open_read_only(path)?;
        let meta = read_meta(&conn, path)?.ok_or_else(|| JournalError::NotAJournal {
            path: path.to_owned(),
            reason: "no meta.public_key".into(),
        })?;
        let head = load_head(&conn, path)?;
        Ok(JournalReader {
            conn,
            path: path.to_owned(),
            public_key: meta.public_key,
            device_id: meta.device_id,
            head,
        })
    }

    read_methods!();

    /// The path of this journal's head checkpoint file.
    pub fn head_checkpoint_path(&self) -> PathBuf {
        head_checkpoint_path(&self.path)
    }

    /// The underlying connection (for the verifier's raw row walk).
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }
}

pub(crate) fn open_read_only(path: &Path) -> Result<Connection, JournalError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| JournalError::Open {
        path: path.to_owned(),
        source,
    })?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| classify(path, "set busy timeout", e))?;
    Ok(conn)
}
