//! The read side of a journal: one API ([`Records`]) for a journal opened to append
//! and one opened read-only.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::error::classify;
use super::{JournalError, JOURNAL_FORMAT, SCHEMA_VERSION};
use crate::record::{DeviceId, Hash, Record, RecordHeader};

/// What the read side needs from `meta`.
pub(super) struct Meta {
    pub(super) public_key: [u8; 32],
    pub(super) device_id: DeviceId,
}

pub(super) fn read_meta(conn: &Connection, path: &Path) -> Result<Option<Meta>, JournalError> {
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

pub(super) fn load_head(
    conn: &Connection,
    path: &Path,
) -> Result<Option<(u64, Hash)>, JournalError> {
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

pub(super) fn count(conn: &Connection, path: &Path) -> Result<u64, JournalError> {
    conn.query_row("SELECT COUNT(*) FROM records", [], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
        .map_err(|e| classify(path, "count records", e))
}

/// The records of a journal and what `meta` says about them: the read API of both
/// [`super::Journal`] and [`JournalReader`].
pub struct Records {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
    pub(super) public_key: [u8; 32],
    pub(super) device_id: DeviceId,
    pub(super) head: Option<(u64, Hash)>,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("path", &self.path)
            .field("device_id", &self.device_id)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl Records {
    /// Read a key of the `sync_state` table.
    pub fn sync_state(&self, key: &str) -> Result<Option<String>, JournalError> {
        self.conn
            .query_row("SELECT value FROM sync_state WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| classify(&self.path, "read sync state", e))
    }

    /// The platform's public key as learnt at login (`None` before the first
    /// login, or when what is stored is not a key).
    pub fn platform_key(&self) -> Result<Option<[u8; 32]>, JournalError> {
        Ok(self
            .sync_state(crate::sync::KEY_PLATFORM_PUBLIC_KEY)?
            .and_then(|h| hex::decode(h.trim()).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok()))
    }

    /// The learner's quiz draw seed as learnt at login (`None` before it, or when
    /// what is stored is not hex).
    pub fn draw_seed(&self) -> Result<Option<Vec<u8>>, JournalError> {
        Ok(self
            .sync_state(crate::sync::KEY_DRAW_SEED)?
            .and_then(|h| hex::decode(h.trim()).ok())
            .filter(|b| !b.is_empty()))
    }

    /// Whether this journal was created before progress snapshots were
    /// countersigned by the platform (issue 11): only such a journal believes its
    /// own unsigned snapshots (written by those builds before they erased
    /// payloads). `meta` is insert-only, so a journal cannot be made older.
    pub fn legacy_snapshots(&self) -> Result<bool, JournalError> {
        let v: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'snapshots'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| classify(&self.path, "read meta", e))?;
        Ok(v.as_deref() != Some(super::SNAPSHOTS_COUNTERSIGNED))
    }

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
}

/// A journal opened read-only, without a signer. Head and length are those at
/// open time; record reads see the current database.
pub struct JournalReader {
    read: Records,
}

impl std::ops::Deref for JournalReader {
    type Target = Records;
    fn deref(&self) -> &Records {
        &self.read
    }
}

impl std::fmt::Debug for JournalReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalReader")
            .field("path", &self.read.path)
            .field("device_id", &self.read.device_id)
            .field("head", &self.read.head)
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
            read: Records {
                conn,
                path: path.to_owned(),
                public_key: meta.public_key,
                device_id: meta.device_id,
                head,
            },
        })
    }

    /// The path of this journal's head checkpoint file.
    pub fn head_checkpoint_path(&self) -> PathBuf {
        super::head_checkpoint_path(&self.read.path)
    }

    /// The underlying connection (for the verifier's raw row walk).
    pub(crate) fn connection(&self) -> &Connection {
        &self.read.conn
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
