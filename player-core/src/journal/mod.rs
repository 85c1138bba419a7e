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
//! (`keshi_protocol::record::HeadCheckpoint`, one JSON line padded with spaces to a fixed size),
//! rewritten after each commit by writing a spare file and renaming it over the
//! checkpoint, so readers see a whole old or a whole new file. It is not fsynced:
//! the database commit is durable before the checkpoint is written, so after a
//! crash the checkpoint is the new one or an older one, never ahead of the
//! database. An older checkpoint is accepted by verification (it only flags a
//! checkpoint *ahead* of the database: cut records) and is rewritten at the next
//! open or commit. An fsync here would double the cost of every append for no
//! gain in what can be proven.
//!
//! Files: `read.rs` (the one read API, [`Records`], shared by [`Journal`] and
//! [`JournalReader`]), `checkpoint.rs` (the head file), `sign.rs` (parallel signing
//! while inserting), `error.rs`.
//!
//! Architecture invariant: this module does not read the clock and does not verify
//! the chain on every read (that is [`crate::verify`]); it refuses to open a journal
//! whose checkpoint proves records were cut, so opening can never erase evidence.

mod checkpoint;
mod error;
mod read;
mod sign;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection, TransactionBehavior};

pub use checkpoint::head_checkpoint_path;
use error::classify;
pub use error::JournalError;
use read::{count, load_head, read_meta, Meta};
pub use read::{JournalReader, Records};
use sign::sign_pipelined;

use crate::record::{prepare, DeviceId, NewRecord, Record, RecordError, Signer, UnsignedRecord};

/// `meta.snapshots` of a journal created since issue 11: it believes only progress
/// snapshots the platform countersigned (a journal without it is older, and
/// believes its own unsigned snapshots too).
pub const SNAPSHOTS_COUNTERSIGNED: &str = "countersigned";

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

/// A journal opened for appending, bound to one device's signer.
pub struct Journal {
    read: Records,
    head_path: PathBuf,
    signer: Arc<dyn Signer>,
}

/// The read side ([`Records`]) is the same for a journal opened for appending and
/// one opened read-only ([`JournalReader`]).
impl std::ops::Deref for Journal {
    type Target = Records;
    fn deref(&self) -> &Records {
        &self.read
    }
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.read.path)
            .field("device_id", &self.read.device_id)
            .field("head", &self.read.head)
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
                            "INSERT INTO meta(key, value) VALUES ('format', ?1), ('schema_version', ?2), ('public_key', ?3), ('device_id', ?4), ('snapshots', ?5)",
                            params![JOURNAL_FORMAT, SCHEMA_VERSION, &public_key[..], &device_id.0[..], SNAPSHOTS_COUNTERSIGNED],
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
            read: Records {
                conn,
                path: path.to_owned(),
                public_key,
                device_id,
                head,
            },
            head_path: head_checkpoint_path(path),
            signer,
        };
        journal.check_checkpoint_on_open()?;
        tracing::debug!(path = %path.display(), head = ?journal.head, "journal opened");
        Ok(journal)
    }

    /// Set how long a write waits for another connection's lock (default 5 s).
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<(), JournalError> {
        self.read
            .conn
            .busy_timeout(timeout)
            .map_err(|e| classify(&self.read.path, "set busy timeout", e))
    }

    /// Seal `new` as the next record and commit it durably (one transaction,
    /// fsynced) before returning it. On error nothing was written.
    pub fn append(&mut self, new: NewRecord) -> Result<Record, JournalError> {
        let unsigned = prepare(self.read.device_id, self.read.head, &new)
            .map_err(JournalError::InvalidRecord)?;
        within_kind_cap(&unsigned)?;
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
        let mut prev = self.read.head;
        let mut unsigned = Vec::with_capacity(batch.len());
        for new in &batch {
            let u = prepare(self.read.device_id, prev, new).map_err(JournalError::InvalidRecord)?;
            within_kind_cap(&u)?;
            prev = Some((u.header.seq, u.hash));
            unsigned.push(u);
        }
        self.commit(unsigned)
    }

    /// Sign and insert `records` in one IMMEDIATE transaction, commit (fsync),
    /// then move the head and rewrite the checkpoint. Nothing changes on error.
    fn commit(&mut self, records: Vec<UnsignedRecord>) -> Result<Vec<Record>, JournalError> {
        let path = self.read.path.as_path();
        let signer = &*self.signer;
        let tx = self
            .read
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| classify(path, "begin append", e))?;
        let db_head = load_head(&tx, path)?;
        if db_head.map(|h| h.0) != self.read.head.map(|h| h.0) {
            return Err(JournalError::ConcurrentWriter {
                path: path.to_owned(),
                expected: self.read.head.map(|h| h.0),
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
            self.read.head = Some((last.header.seq, last.hash));
        }
        self.write_checkpoint();
        tracing::trace!(count = out.len(), head = ?self.read.head, "records committed");
        Ok(out)
    }

    /// Set a key of the outbox's `sync_state` table (never touches `records`).
    pub fn set_sync_state(&mut self, key: &str, value: &str) -> Result<(), JournalError> {
        self.read.conn
            .execute(
                "INSERT INTO sync_state(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(|e| classify(&self.read.path, "write sync state", e))
    }

    /// Erases the payloads of records `seqs` (sets them to NULL) in one transaction;
    /// headers, hashes and signatures stay, so the chain still verifies and the
    /// erasure shows in [`crate::verify`]'s report. The only change to a stored record
    /// the schema allows. Callers erase only what the platform acknowledged and what
    /// a signed progress snapshot supersedes ([`crate::retention`]). Returns how many
    /// payloads were erased.
    pub fn erase_payloads(&mut self, seqs: &[u64]) -> Result<u64, JournalError> {
        let tx = self
            .read
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| classify(&self.read.path, "erase payloads", e))?;
        let mut n = 0u64;
        {
            let mut st = tx
                .prepare("UPDATE records SET payload = NULL WHERE seq = ?1 AND payload IS NOT NULL")
                .map_err(|e| classify(&self.read.path, "erase payloads", e))?;
            for &seq in seqs {
                let seq = i64::try_from(seq).unwrap_or(i64::MAX);
                n += st
                    .execute(params![seq])
                    .map_err(|e| classify(&self.read.path, "erase payloads", e))?
                    as u64;
            }
        }
        tx.commit()
            .map_err(|e| classify(&self.read.path, "erase payloads", e))?;
        Ok(n)
    }

    /// Open a journal read-only, without a signer (`keshi journal show/verify`).
    pub fn read_only(path: &Path) -> Result<JournalReader, JournalError> {
        JournalReader::open(path)
    }
}

/// A record the platform would refuse for its size (`payload_too_large`) is never
/// written: it would hold every later record back from sync for good.
fn within_kind_cap(u: &UnsignedRecord) -> Result<(), JournalError> {
    let len = u.header.payload_len as usize;
    if len > keshi_protocol::fact::max_payload_bytes(&u.header.kind) {
        return Err(JournalError::InvalidRecord(RecordError::PayloadTooLarge {
            len,
        }));
    }
    Ok(())
}
