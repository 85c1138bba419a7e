//! Journal durability and failure behaviour (R-ST-6, R-SV-4): records survive a
//! reopen, failed appends leave the journal unchanged and verifiable, and the
//! journal refuses another device's key. Real SQLite files in temp dirs.
#![allow(clippy::disallowed_methods)] // tests and benches read clocks and environment
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use player_core::identity::DeviceKey;
use player_core::journal::{head_checkpoint_path, Journal, JournalError};
use player_core::record::{check_record, Hash, HeadCheckpoint, NewRecord, Record};
use player_core::verify::{verify_journal, CheckpointStatus};
use rusqlite::Connection;
use serde_json::json;

fn rec(i: u64) -> NewRecord {
    NewRecord::new(
        "playback_tick",
        json!({"position_ms": i * 1000, "z": [1, 2], "a": "x"}),
        1_700_000_000_000 + i as i64,
        i,
    )
}

fn key() -> Arc<DeviceKey> {
    Arc::new(DeviceKey::generate().unwrap())
}

#[test]
fn records_survive_reopen_and_chain_continues() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    let k = key();
    let mut appended: Vec<Record> = Vec::new();
    {
        let mut j = Journal::open(&db, k.clone()).unwrap();
        assert!(j.is_empty());
        assert_eq!(j.head(), None);
        for i in 0..5 {
            appended.push(j.append(rec(i)).unwrap());
        }
        assert_eq!(j.len(), 5);
        assert_eq!(j.head(), Some((5, appended[4].hash)));
    }
    let mut j = Journal::open(&db, k.clone()).unwrap();
    assert_eq!(j.head(), Some((5, appended[4].hash)));
    assert_eq!(j.records_from(1).unwrap(), appended);
    assert_eq!(j.records_from(4).unwrap(), appended[3..].to_vec());
    assert_eq!(j.count_rows().unwrap(), 5);
    let sixth = j.append(rec(5)).unwrap();
    assert_eq!(sixth.header.seq, 6);
    assert_eq!(sixth.header.prev_hash, appended[4].hash);

    // Payload is compact JSON with sorted keys, read back byte for byte.
    assert_eq!(
        std::str::from_utf8(&sixth.payload).unwrap(),
        r#"{"a":"x","position_ms":5000,"z":[1,2]}"#
    );
    assert_eq!(j.get(6).unwrap().unwrap().payload_json().unwrap()["a"], "x");

    // Every record passes the platform's pure check.
    let mut prev = Hash::ZERO;
    for (i, r) in j.records_from(1).unwrap().iter().enumerate() {
        check_record(r, &k.public_key(), i as u64 + 1, &prev).unwrap();
        prev = r.hash;
    }

    let mut streamed = 0;
    j.for_each_from(2, |r| {
        streamed += 1;
        assert!(r.header.seq >= 2);
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(streamed, 5);
    drop(j);
    let report = verify_journal(&db).unwrap();
    assert_eq!(report.records, 6);
    assert_eq!(report.head_checkpoint, CheckpointStatus::Matches { seq: 6 });
}

#[test]
fn read_only_reader_sees_the_same_journal() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    let k = key();
    let mut j = Journal::open(&db, k.clone()).unwrap();
    let recs = j.append_batch((0..10).map(rec).collect()).unwrap();
    let reader = Journal::read_only(&db).unwrap();
    assert_eq!(reader.public_key(), k.public_key());
    assert_eq!(reader.device_id(), k.device_id());
    assert_eq!(reader.head(), Some((10, recs[9].hash)));
    assert_eq!(reader.len(), 10);
    assert_eq!(reader.records_from(1).unwrap(), recs);
    assert!(Journal::read_only(&dir.path().join("missing.db")).is_err());
}

#[test]
fn head_checkpoint_file_format() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    let k = key();
    let mut j = Journal::open(&db, k.clone()).unwrap();
    let r = j.append(rec(0)).unwrap();
    let text = std::fs::read_to_string(dir.path().join("j.db.head")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["format"], "keshi-head-v1");
    assert_eq!(v["device_id"], k.device_id().to_hex());
    assert_eq!(v["seq"], 1);
    assert_eq!(v["hash"], r.hash.to_hex());
    assert_eq!(v["signature"].as_str().unwrap().len(), 128);
    HeadCheckpoint::from_json(text.as_bytes())
        .unwrap()
        .verify(&k.public_key())
        .unwrap();
    // Fixed size (padded JSON line), rewritten in place of a spare file.
    assert_eq!(text.len(), 384);
    assert!(text.ends_with(" \n"));
    for i in 1..5 {
        j.append(rec(i)).unwrap();
        let text = std::fs::read_to_string(dir.path().join("j.db.head")).unwrap();
        assert_eq!(text.len(), 384);
        let cp = HeadCheckpoint::from_json(text.as_bytes()).unwrap();
        assert_eq!(cp.seq, i + 1);
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("j.db.head"))
        .collect();
    names.sort();
    assert_eq!(names, ["j.db.head", "j.db.head.spare"]);
}

#[test]
fn another_devices_journal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    Journal::open(&db, key()).unwrap().append(rec(0)).unwrap();
    let err = Journal::open(&db, key()).unwrap_err();
    assert!(matches!(err, JournalError::ForeignJournal { .. }), "{err}");
    assert!(err.to_string().contains("refusing to write"), "{err}");
    verify_journal(&db).unwrap();
}

/// Hold the write lock from another connection (as another process would), so
/// appends fail with a real SQLite error.
fn lock(db: &Path) -> Connection {
    let c = Connection::open(db).unwrap();
    c.execute_batch("BEGIN IMMEDIATE").unwrap();
    c
}

#[test]
fn failed_append_leaves_journal_unchanged_and_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    let mut j = Journal::open(&db, key()).unwrap();
    j.append_batch((0..3).map(rec).collect()).unwrap();
    let head = j.head();
    let checkpoint = std::fs::read(head_checkpoint_path(&db)).unwrap();
    j.set_busy_timeout(Duration::from_millis(50)).unwrap();

    let locker = lock(&db);
    let err = j.append(rec(3)).unwrap_err();
    assert!(matches!(err, JournalError::Busy { .. }), "{err}");
    let err = j.append_batch((3..100).map(rec).collect()).unwrap_err();
    assert!(matches!(err, JournalError::Busy { .. }), "{err}");
    drop(locker);

    assert_eq!(j.head(), head);
    assert_eq!(j.count_rows().unwrap(), 3);
    assert_eq!(
        std::fs::read(head_checkpoint_path(&db)).unwrap(),
        checkpoint
    );
    assert_eq!(verify_journal(&db).unwrap().records, 3);

    // The journal keeps working and the chain has no hole.
    let r = j.append(rec(3)).unwrap();
    assert_eq!(r.header.seq, 4);
    assert_eq!(verify_journal(&db).unwrap().records, 4);
}

#[test]
fn invalid_record_in_a_batch_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    let mut j = Journal::open(&db, key()).unwrap();
    j.append(rec(0)).unwrap();
    let mut batch: Vec<NewRecord> = (1..10).map(rec).collect();
    batch[5].kind = "Not Valid".into();
    let err = j.append_batch(batch).unwrap_err();
    assert!(matches!(err, JournalError::InvalidRecord(_)), "{err}");
    assert_eq!(j.len(), 1);
    assert_eq!(j.count_rows().unwrap(), 1);
    assert!(j.append_batch(Vec::new()).unwrap().is_empty());
    verify_journal(&db).unwrap();
}

#[test]
fn second_writer_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    let k = key();
    let mut a = Journal::open(&db, k.clone()).unwrap();
    let mut b = Journal::open(&db, k.clone()).unwrap();
    a.append(rec(0)).unwrap();
    let err = b.append(rec(1)).unwrap_err();
    assert!(
        matches!(err, JournalError::ConcurrentWriter { .. }),
        "{err}"
    );
    drop((a, b));
    assert_eq!(verify_journal(&db).unwrap().records, 1);
}

#[test]
fn lagging_checkpoint_is_accepted_then_refreshed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    let k = key();
    let mut j = Journal::open(&db, k.clone()).unwrap();
    j.append_batch((0..5).map(rec).collect()).unwrap();
    let old = std::fs::read(head_checkpoint_path(&db)).unwrap();
    j.append_batch((5..8).map(rec).collect()).unwrap();
    drop(j);
    // As after a crash between the database commit and the checkpoint write.
    std::fs::write(head_checkpoint_path(&db), &old).unwrap();
    let report = verify_journal(&db).unwrap();
    assert_eq!(
        report.head_checkpoint,
        CheckpointStatus::Behind { checkpoint_seq: 5 }
    );
    drop(Journal::open(&db, k).unwrap());
    assert_eq!(
        verify_journal(&db).unwrap().head_checkpoint,
        CheckpointStatus::Matches { seq: 8 }
    );
}

#[test]
fn sync_state_is_kept_outside_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    let mut j = Journal::open(&db, key()).unwrap();
    j.append(rec(0)).unwrap();
    j.set_sync_state("acked_seq", "1").unwrap();
    j.set_sync_state("acked_seq", "2").unwrap();
    assert_eq!(j.sync_state("acked_seq").unwrap().as_deref(), Some("2"));
    assert_eq!(j.sync_state("other").unwrap(), None);
    assert_eq!(j.count_rows().unwrap(), 1);
    verify_journal(&db).unwrap();
}

#[test]
fn journal_database_is_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.db");
    let _j = Journal::open(&db, key()).unwrap();
    let c = Connection::open(&db).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

/// A record the platform would refuse for its size is never written (it would hold
/// every later record back from sync for good): the append fails, nothing changes.
#[test]
fn a_record_over_its_kinds_payload_cap_is_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(&dir.path().join("j.db"), key()).unwrap();
    j.append(rec(0)).unwrap();
    let padded = NewRecord::new("state", json!({"pad": "x".repeat(5_000)}), 1, 1);
    let err = j.append(padded.clone()).unwrap_err();
    assert!(matches!(err, JournalError::InvalidRecord(_)), "{err:?}");
    assert!(j.append_batch(vec![rec(1), padded]).is_err());
    assert_eq!(j.len(), 1);
    // The same bytes fit a kind that carries lists.
    j.append(NewRecord::new(
        "segment",
        json!({"pad": "x".repeat(5_000)}),
        1,
        1,
    ))
    .unwrap();
    assert_eq!(j.len(), 2);
}
