//! Local retention (issue 4, R-SV-4): acknowledged records older than the retention
//! period lose their payloads, after the platform's countersigned progress snapshot
//! (issue 11); the journal still verifies, progress and the breakpoint survive,
//! unacknowledged records are kept, and a snapshot the device wrote itself counts
//! for nothing.
#![allow(clippy::disallowed_methods)] // tests and benches read clocks and environment
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use std::sync::Arc;

use player_core::demo;
use player_core::fact::{Fact, ProgressSnapshot};
use player_core::identity::DeviceKey;
use player_core::journal::Journal;
use player_core::manifest::Course;
use player_core::playback::Input;
use player_core::policy::Policy;
use player_core::retention::retain;
use player_core::session::{progress_of_journal, Session};
use player_core::sync::{KEY_ACKNOWLEDGED, KEY_PLATFORM_PUBLIC_KEY};
use player_core::verify::verify_journal;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const DAY_MS: i64 = 86_400_000;
const NOW: i64 = 1_790_000_000_000;

fn course() -> Course {
    let text = serde_json::to_string(&demo::course(1)).unwrap();
    Course::parse(std::path::Path::new("demo.json"), &text).unwrap()
}

/// One session of `secs` seconds of play, its wall clock starting at `wall_origin`.
fn study(journal: Journal, wall_origin: i64, secs: u64) -> Journal {
    let policy = Policy::by_id("shanxi").unwrap();
    let (mut s, _) = Session::open(
        journal,
        &course(),
        &policy,
        ChaCha20Rng::seed_from_u64(5),
        wall_origin,
    )
    .unwrap();
    s.handle(0, Input::Play).unwrap();
    let mut t = 0;
    while t < secs {
        t += 30;
        s.handle(t * 1000, Input::Activity).unwrap();
    }
    s.handle(t * 1000, Input::Close).unwrap();
    let path = s.journal().path().to_owned();
    drop(s);
    Journal::open(&path, Arc::new(key(&path))).unwrap()
}

/// The test device's key, kept beside the journal.
fn key(path: &std::path::Path) -> DeviceKey {
    let store = player_core::identity::KeyStore::File(path.with_extension("key"));
    DeviceKey::load_or_create(&store).unwrap()
}

/// The platform's part: its progress of the learner (here: what the journal
/// folds to), countersigned for this device at the journal's head.
fn countersigned(journal: &mut Journal, platform: &DeviceKey) -> ProgressSnapshot {
    use player_core::record::Signer;
    journal
        .set_sync_state(KEY_PLATFORM_PUBLIC_KEY, &platform.public_key_hex())
        .unwrap();
    let mut s = ProgressSnapshot {
        course: course().id,
        up_to_seq: journal.len(),
        progress: progress_of_journal(journal, &course().id).unwrap(),
        device_id: Some(journal.device_id().to_hex()),
        signed_ms: Some(NOW),
        signature: None,
    };
    s.signature = Some(hex::encode(platform.sign(&s.message())));
    s
}

#[test]
fn acknowledged_old_payloads_are_erased_and_progress_survives() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let key = key(&path);
    let journal = Journal::open(&path, Arc::new(key)).unwrap();
    // 40 days ago: 10 minutes of study; 2 days ago: 5 more minutes.
    let journal = study(journal, NOW - 40 * DAY_MS, 600);
    let old_head = journal.head().unwrap().0;
    let mut journal = study(journal, NOW - 2 * DAY_MS, 300);
    let before = progress_of_journal(&journal, &course().id).unwrap();
    assert_eq!(before.credited_ms(), 900_000);

    // Nothing acknowledged: nothing erased, whatever the age.
    let r = retain(&mut journal, 30 * DAY_MS as u64, NOW, &[]).unwrap();
    assert_eq!(r.erased, 0);

    // The platform acknowledged everything.
    let head = journal.head().unwrap().0;
    journal
        .set_sync_state(KEY_ACKNOWLEDGED, &head.to_string())
        .unwrap();
    assert!(player_core::retention::due(&journal, 30 * DAY_MS as u64, NOW).unwrap());
    // Without the platform's snapshot nothing is erased.
    let r = retain(&mut journal, 30 * DAY_MS as u64, NOW, &[]).unwrap();
    assert_eq!(
        (r.erased, r.unsigned_courses.clone()),
        (0, vec![course().id])
    );
    // A snapshot signed by anyone else (the device's own key) is no better.
    let platform = DeviceKey::generate().unwrap();
    let mut forged = countersigned(&mut journal, &platform);
    forged.signature = Some(hex::encode(player_core::record::Signer::sign(
        &crate::key(&path),
        &forged.message(),
    )));
    let r = retain(&mut journal, 30 * DAY_MS as u64, NOW, &[forged]).unwrap();
    assert_eq!(r.erased, 0);
    let snapshot = countersigned(&mut journal, &platform);
    let r = retain(&mut journal, 30 * DAY_MS as u64, NOW, &[snapshot]).unwrap();
    assert_eq!(r.snapshots, 1);
    assert_eq!(
        r.up_to_seq, old_head,
        "only the 40-day-old session is past retention"
    );
    assert_eq!(r.erased, old_head);

    let report = verify_journal(&path).unwrap();
    assert_eq!(report.erased_payloads.len() as u64, old_head);
    let after = progress_of_journal(&journal, &course().id).unwrap();
    assert_eq!(after, before, "progress rebuilt from the snapshot");

    // A new session resumes exactly where the last one stopped and keeps counting.
    let journal = study(journal, NOW, 60);
    let resumed = progress_of_journal(&journal, &course().id).unwrap();
    assert_eq!(resumed.credited_ms(), 960_000);
    assert_eq!(resumed.sessions, 3);
    verify_journal(&path).unwrap();
}

#[test]
fn unacknowledged_records_are_never_erased() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let key = key(&path);
    let journal = Journal::open(&path, Arc::new(key)).unwrap();
    let mut journal = study(journal, NOW - 90 * DAY_MS, 600);
    let head = journal.head().unwrap().0;
    journal
        .set_sync_state(KEY_ACKNOWLEDGED, &(head / 2).to_string())
        .unwrap();
    // The platform does not hold everything: its snapshot cannot cover the journal.
    let platform = DeviceKey::generate().unwrap();
    let snapshot = countersigned(&mut journal, &platform);
    let r = retain(&mut journal, DAY_MS as u64, NOW, &[snapshot]).unwrap();
    assert_eq!(r.erased, 0);
    let report = verify_journal(&path).unwrap();
    assert!(report.erased_payloads.is_empty());
}

/// Issue 11: a `progress_snapshot` the key holder writes into a journal created
/// since snapshots are countersigned (ten class hours, the frontier at the end)
/// changes nothing the device shows; one the platform signed does.
#[test]
fn a_snapshot_the_device_wrote_itself_counts_for_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let journal = Journal::open(&path, Arc::new(key(&path))).unwrap();
    let mut journal = study(journal, NOW - DAY_MS, 120);
    let honest = progress_of_journal(&journal, &course().id).unwrap();
    assert!(!journal.legacy_snapshots().unwrap());
    let mut claimed = honest.clone();
    claimed.frontier_ms = 2_700_000;
    claimed.position_ms = 2_700_000;
    claimed.coverage.insert(0, 2_700_000);
    let forged = ProgressSnapshot {
        course: course().id,
        up_to_seq: journal.len(),
        progress: claimed.clone(),
        device_id: None,
        signed_ms: None,
        signature: None,
    };
    journal
        .append_batch(vec![Fact::ProgressSnapshot(forged).to_new_record(NOW, 0)])
        .unwrap();
    assert_eq!(progress_of_journal(&journal, &course().id).unwrap(), honest);
    // The platform's own word is believed.
    let platform = DeviceKey::generate().unwrap();
    let mut signed = countersigned(&mut journal, &platform);
    signed.progress = claimed.clone();
    signed.signature = Some(hex::encode(player_core::record::Signer::sign(
        &platform,
        &signed.message(),
    )));
    journal
        .append_batch(vec![Fact::ProgressSnapshot(signed).to_new_record(NOW, 0)])
        .unwrap();
    assert_eq!(
        progress_of_journal(&journal, &course().id)
            .unwrap()
            .frontier_ms,
        2_700_000
    );
}
