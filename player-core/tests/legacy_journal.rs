//! A journal written by the build before `keshi-protocol` existed (commit 761f123,
//! `tests/fixtures/legacy-v1/make.sh`): three courses, five sessions, every
//! violation kind, failed/overdue/passed captures, failed and passed quizzes, a lease
//! revoked twice, a retention snapshot with erased payloads. It must verify and fold
//! to exactly the progress that build computed (`progress.json`), and every payload
//! must decode to a typed fact that writes back the same bytes.
#![allow(clippy::disallowed_methods)] // tests and benches read clocks and environment
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use std::path::PathBuf;

use player_core::fact::{Fact, FactKind};
use player_core::fold::Progress;
use player_core::journal::Journal;
use player_core::session::progress_of_journal;
use player_core::verify::verify_journal;

fn fixture() -> (tempfile::TempDir, PathBuf) {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/legacy-v1");
    let dir = tempfile::tempdir().unwrap();
    for f in ["journal.db", "journal.db.head"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let path = dir.path().join("journal.db");
    (dir, path)
}

fn expected() -> serde_json::Value {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/legacy-v1");
    serde_json::from_str(&std::fs::read_to_string(src.join("progress.json")).unwrap()).unwrap()
}

#[test]
fn legacy_journal_verifies_as_it_did() {
    let (_d, path) = fixture();
    let report = verify_journal(&path).unwrap();
    assert_eq!(report.records, 495);
    assert_eq!(
        report.head_hash.map(|h| h.to_hex()).as_deref(),
        Some("e7521f43128c5227ea8f395380531948a8857a336ace95a4686c7e3cde57750e")
    );
    assert_eq!(
        report.erased_payloads,
        vec![1, 2, 217, 218, 251, 252, 253, 254, 285, 286, 287, 386]
    );
}

#[test]
fn legacy_journal_folds_to_the_same_progress() {
    let (_d, path) = fixture();
    let journal = Journal::read_only(&path).unwrap();
    let expected = expected();
    let courses = expected.as_object().unwrap();
    assert_eq!(courses.len(), 3);
    for (course, want) in courses {
        let want: Progress = serde_json::from_value(want.clone()).unwrap();
        let got = progress_of_journal(&journal, course).unwrap();
        assert_eq!(got, want, "course {course}");
    }
}

#[test]
fn every_legacy_payload_is_a_typed_fact_that_writes_the_same_bytes() {
    let (_d, path) = fixture();
    let journal = Journal::read_only(&path).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for r in journal.records_from(1).unwrap() {
        if r.payload_erased() {
            continue;
        }
        let fact = Fact::decode(&r.header.kind, &r.payload);
        assert!(
            FactKind::parse(&r.header.kind).is_some(),
            "record {}: unknown kind {}",
            r.seq(),
            r.header.kind
        );
        assert!(
            !matches!(fact, Fact::Malformed { .. } | Fact::Unknown { .. }),
            "record {}: {fact:?}",
            r.seq()
        );
        assert_eq!(
            String::from_utf8(fact.payload_bytes()).unwrap(),
            String::from_utf8(r.payload.clone()).unwrap(),
            "record {} ({}) re-encodes differently",
            r.seq(),
            r.header.kind
        );
        seen.insert(r.header.kind.clone());
    }
    // The fixture exercises the vocabulary the core writes.
    for kind in [
        "session_start",
        "resume",
        "state",
        "segment",
        "seek",
        "violation",
        "capture_requested",
        "capture_result",
        "quiz_due",
        "quiz_answered",
        "class_hour_completed",
        "ended",
        "session_end",
        "progress_snapshot",
        "lease_revoked",
    ] {
        assert!(seen.contains(kind), "{kind} not in the fixture");
    }
}
