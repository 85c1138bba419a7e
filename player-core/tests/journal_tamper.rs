//! Tampering with a journal file is detected and the first bad record is named
//! (R-ST-6). Real SQLite files in temp dirs; the "attacker" uses a separate raw
//! connection and drops the append-only triggers first, as a real one would.
#![allow(clippy::disallowed_methods)] // tests and benches read clocks and environment
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use std::path::{Path, PathBuf};
use std::sync::Arc;

use player_core::identity::DeviceKey;
use player_core::journal::{head_checkpoint_path, Journal};
use player_core::record::{NewRecord, RecordError};
use player_core::verify::{
    verify_journal, verify_journal_expecting, verify_journal_with, CheckpointStatus, VerifyError,
    VerifyOptions,
};
use proptest::prelude::*;
use rusqlite::{params, Connection};
use serde_json::json;

const N: u64 = 50;
const COLUMNS: [&str; 6] = ["seq", "kind", "header", "payload", "hash", "signature"];

struct Fixture {
    _dir: tempfile::TempDir,
    db: PathBuf,
    key: Arc<DeviceKey>,
}

/// A pristine 50-record journal: 20 single appends, then a batch of 30.
fn pristine() -> &'static Fixture {
    static F: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("journal.db");
        let key = Arc::new(DeviceKey::generate().unwrap());
        let mut j = Journal::open(&db, key.clone()).unwrap();
        for i in 0..20u64 {
            j.append(record(i)).unwrap();
        }
        j.append_batch((20..N).map(record).collect()).unwrap();
        drop(j);
        Fixture { _dir: dir, db, key }
    })
}

fn record(i: u64) -> NewRecord {
    let kinds = ["session_start", "playback_tick", "capture", "quiz_answer"];
    NewRecord::new(
        kinds[(i % 4) as usize],
        json!({"i": i, "position_ms": i * 1000, "note": format!("record number {i}"), "ok": i % 3 == 0}),
        1_700_000_000_000 + i as i64 * 1000,
        i * 1000,
    )
}

/// A fresh copy of the pristine journal (database + head checkpoint).
fn copy() -> (tempfile::TempDir, PathBuf) {
    let f = pristine();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    std::fs::copy(&f.db, &db).unwrap();
    std::fs::copy(head_checkpoint_path(&f.db), head_checkpoint_path(&db)).unwrap();
    (dir, db)
}

fn attacker(db: &Path) -> Connection {
    let c = Connection::open(db).unwrap();
    c.execute_batch(
        "DROP TRIGGER IF EXISTS records_no_update; DROP TRIGGER IF EXISTS records_no_delete;",
    )
    .unwrap();
    c
}

fn expect_fail_at(db: &Path, seq: u64, what: &str) -> VerifyError {
    let err = match verify_journal(db) {
        Ok(report) => panic!("{what}: tampering not detected: {report:?}"),
        Err(e) => e,
    };
    assert_eq!(err.seq(), Some(seq), "{what}: wrong record named: {err}");
    assert!(
        err.to_string().starts_with(&format!("record {seq}:")),
        "{what}: message should name record {seq}: {err}"
    );
    err
}

/// Change one byte of one column of one row: `xor` at `pos` for blobs and text;
/// for the integer seq, `xor` on byte `pos % 8` of its 64-bit value. Returns false
/// when SQLite refuses the edit (a seq that collides with another row's).
fn tamper(c: &Connection, seq: u64, column: &str, pos: usize, xor: u8) -> bool {
    let seq = seq as i64;
    match column {
        "seq" => {
            let new = seq ^ ((xor as i64) << (8 * (pos % 8)));
            c.execute(
                "UPDATE records SET seq = ?1 WHERE seq = ?2",
                params![new, seq],
            )
            .is_ok()
        }
        "kind" => {
            let mut v: Vec<u8> = c
                .query_row(
                    "SELECT CAST(kind AS BLOB) FROM records WHERE seq = ?1",
                    [seq],
                    |r| r.get(0),
                )
                .unwrap();
            let p = pos % v.len();
            v[p] ^= xor;
            c.execute(
                "UPDATE records SET kind = CAST(?1 AS TEXT) WHERE seq = ?2",
                params![v, seq],
            )
            .unwrap();
            true
        }
        col => {
            let mut v: Vec<u8> = c
                .query_row(
                    &format!("SELECT {col} FROM records WHERE seq = ?1"),
                    [seq],
                    |r| r.get(0),
                )
                .unwrap();
            let p = pos % v.len();
            v[p] ^= xor;
            c.execute(
                &format!("UPDATE records SET {col} = ?1 WHERE seq = ?2"),
                params![v, seq],
            )
            .unwrap();
            true
        }
    }
}

#[test]
fn pristine_journal_verifies() {
    let f = pristine();
    let (_d, db) = copy();
    let report = verify_journal(&db).unwrap();
    assert_eq!(report.records, N);
    assert_eq!(report.head_seq, N);
    assert_eq!(report.device_id, f.key.device_id());
    assert_eq!(report.head_checkpoint, CheckpointStatus::Matches { seq: N });
    assert!(report.erased_payloads.is_empty());
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let reader = Journal::read_only(&db).unwrap();
    assert_eq!(report.head_hash, reader.head().map(|h| h.1));
    verify_journal_expecting(&db, &f.key.public_key()).unwrap();
    for threads in [1, 2, 3] {
        let opts = VerifyOptions {
            threads: Some(threads),
            ..VerifyOptions::default()
        };
        assert_eq!(verify_journal_with(&db, &opts).unwrap().records, N);
    }
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["head_checkpoint"]["status"], "matches");
}

#[test]
fn another_devices_key_is_rejected() {
    let (_d, db) = copy();
    let other = DeviceKey::generate().unwrap();
    let err = verify_journal_expecting(&db, &other.public_key()).unwrap_err();
    assert!(matches!(err, VerifyError::UnexpectedKey { .. }), "{err}");
}

#[test]
fn every_byte_column_of_every_row_is_covered() {
    for seq in 1..=N {
        for column in COLUMNS {
            let (_d, db) = copy();
            let c = attacker(&db);
            let pos = if column == "seq" {
                1
            } else {
                seq as usize * 7 + 3
            };
            assert!(tamper(&c, seq, column, pos, 0x01));
            drop(c);
            let what = format!("row {seq} column {column}");
            let err = expect_fail_at(&db, seq, &what);
            match column {
                "seq" => assert!(
                    matches!(
                        err,
                        VerifyError::Record {
                            source: RecordError::SequenceGap { .. },
                            ..
                        }
                    ),
                    "{what}: {err}"
                ),
                "kind" => assert!(
                    matches!(err, VerifyError::KindColumnMismatch { .. }),
                    "{what}: {err}"
                ),
                "payload" => assert!(
                    matches!(
                        err,
                        VerifyError::Record {
                            source: RecordError::PayloadHashMismatch { .. },
                            ..
                        }
                    ),
                    "{what}: {err}"
                ),
                "hash" => assert!(
                    matches!(
                        err,
                        VerifyError::Record {
                            source: RecordError::HashMismatch { .. },
                            ..
                        }
                    ),
                    "{what}: {err}"
                ),
                "signature" => assert!(
                    matches!(
                        err,
                        VerifyError::Record {
                            source: RecordError::BadSignature { .. },
                            ..
                        }
                    ),
                    "{what}: {err}"
                ),
                _ => {}
            }
        }
    }
}

#[test]
fn payload_edit_message_is_explicit() {
    let (_d, db) = copy();
    let c = attacker(&db);
    tamper(&c, 17, "payload", 5, 0x01);
    drop(c);
    let err = expect_fail_at(&db, 17, "payload");
    assert_eq!(
        err.to_string(),
        "record 17: payload hash mismatch (stored payload was edited)"
    );
}

#[test]
fn deleted_middle_row_is_a_gap() {
    let (_d, db) = copy();
    attacker(&db)
        .execute("DELETE FROM records WHERE seq = 25", [])
        .unwrap();
    let err = expect_fail_at(&db, 25, "delete 25");
    assert!(
        matches!(
            err,
            VerifyError::Record {
                source: RecordError::SequenceGap {
                    expected: 25,
                    found: 26
                },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn swapped_rows_are_reordered() {
    let (_d, db) = copy();
    let c = attacker(&db);
    c.execute_batch(
        "CREATE TEMP TABLE t AS SELECT * FROM records WHERE seq IN (10, 20);
         UPDATE records SET (kind, header, payload, hash, signature) =
           (SELECT kind, header, payload, hash, signature FROM t WHERE t.seq = 30 - records.seq)
         WHERE seq IN (10, 20);",
    )
    .unwrap();
    drop(c);
    let err = expect_fail_at(&db, 10, "swap 10/20");
    assert!(
        matches!(
            err,
            VerifyError::Record {
                source: RecordError::Reordered {
                    expected: 10,
                    found: 20
                },
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("out of order"), "{err}");
}

#[test]
fn deleted_tail_with_checkpoint_is_truncated() {
    let (_d, db) = copy();
    attacker(&db)
        .execute("DELETE FROM records WHERE seq > 40", [])
        .unwrap();
    let err = verify_journal(&db).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Truncated {
                checkpoint_seq: 50,
                last_seq: 40
            }
        ),
        "{err}"
    );
    // The journal is not reopened for writing (that would erase the evidence).
    let f = pristine();
    let open = Journal::open(&db, f.key.clone()).unwrap_err();
    assert!(
        open.to_string().contains("truncated"),
        "unexpected error: {open}"
    );
    assert!(matches!(
        verify_journal(&db).unwrap_err(),
        VerifyError::Truncated { .. }
    ));
}

#[test]
fn deleted_tail_without_checkpoint_is_only_a_warning() {
    let (_d, db) = copy();
    attacker(&db)
        .execute("DELETE FROM records WHERE seq > 40", [])
        .unwrap();
    std::fs::remove_file(head_checkpoint_path(&db)).unwrap();
    let report = verify_journal(&db).unwrap();
    assert_eq!(report.records, 40);
    assert_eq!(report.head_checkpoint, CheckpointStatus::Missing);
    assert!(report.warnings[0].contains("truncated tail cannot be detected"));
}

#[test]
fn every_byte_of_the_head_checkpoint_is_covered() {
    let (_d, db) = copy();
    let head = head_checkpoint_path(&db);
    let original = std::fs::read(&head).unwrap();
    for pos in 0..original.len() {
        let mut bytes = original.clone();
        bytes[pos] ^= 0x01;
        std::fs::write(&head, &bytes).unwrap();
        let err = verify_journal(&db).expect_err(&format!("byte {pos} of .head"));
        assert!(
            matches!(err, VerifyError::BadCheckpoint { .. }),
            "byte {pos}: {err}"
        );
    }
    std::fs::write(&head, &original).unwrap();
    verify_journal(&db).unwrap();
}

#[test]
fn replaced_checkpoint_record_is_named() {
    // A checkpoint signed by the right key for another hash at seq 50 (e.g. a
    // checkpoint from a journal that was later rewritten) contradicts record 50.
    let f = pristine();
    let (_d, db) = copy();
    let cp =
        player_core::record::HeadCheckpoint::sign(&*f.key, 50, player_core::record::Hash([7; 32]));
    std::fs::write(head_checkpoint_path(&db), cp.to_json()).unwrap();
    let err = expect_fail_at(&db, 50, "checkpoint hash");
    assert!(
        matches!(err, VerifyError::CheckpointMismatch { .. }),
        "{err}"
    );
}

#[test]
fn erased_payload_is_reported_not_an_error() {
    let (_d, db) = copy();
    attacker(&db)
        .execute("UPDATE records SET payload = NULL WHERE seq = 3", [])
        .unwrap();
    let report = verify_journal(&db).unwrap();
    assert_eq!(report.erased_payloads, vec![3]);
    let reader = Journal::read_only(&db).unwrap();
    let r = reader.get(3).unwrap().unwrap();
    assert!(r.payload_erased());
    assert!(!reader.get(4).unwrap().unwrap().payload_erased());
}

#[test]
fn triggers_block_updates_and_deletes() {
    let (_d, db) = copy();
    let c = Connection::open(&db).unwrap();
    let err = c
        .execute("UPDATE records SET kind = 'x' WHERE seq = 1", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = c
        .execute("DELETE FROM records WHERE seq = 1", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    drop(c);
    verify_journal(&db).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_single_byte_edits_name_the_row(
        seq in 1..=N,
        column in 0..COLUMNS.len(),
        pos in 0usize..512,
        xor in 1u8..=255,
    ) {
        let column = COLUMNS[column];
        if column == "seq" {
            let new = (seq as i64) ^ ((xor as i64) << (8 * (pos % 8)));
            prop_assume!(!(1..=N as i64).contains(&new));
        }
        let (_d, db) = copy();
        let c = attacker(&db);
        prop_assume!(tamper(&c, seq, column, pos, xor));
        drop(c);
        let result = verify_journal(&db);
        prop_assert!(result.is_err(), "row {} column {} not detected", seq, column);
        let err = result.unwrap_err();
        prop_assert_eq!(err.seq(), Some(seq), "row {} column {}: {}", seq, column, err);
    }
}
