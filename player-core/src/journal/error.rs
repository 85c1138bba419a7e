//! Errors of the journal store, classified from SQLite's codes.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

use crate::record::{CheckpointError, DeviceId, RecordError};

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

pub(super) fn classify(path: &Path, op: &'static str, source: rusqlite::Error) -> JournalError {
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
