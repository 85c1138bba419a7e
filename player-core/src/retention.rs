//! Local retention of acknowledged records (R-SV-4: the platform keeps records for
//! years; the device needs them only until they are safely there).
//!
//! The journal is the only state, so pruning must not lose progress. Retention
//! therefore works in two steps:
//! 1. append a `progress_snapshot` record per course, carrying the
//!    [`Progress`](crate::playback::Progress) folded from the whole journal
//!    ([`propose`]), countersigned by the platform, which folds the device's
//!    records it holds the same way and signs only what it finds too
//!    (`POST /v1/progress/snapshots`, asked by the caller:
//!    [`crate::http::countersign_snapshots`]). The device's fold believes only such
//!    snapshots (issue 11: a snapshot its owner wrote counts for nothing), so a
//!    later fold starts from them;
//! 2. erase the *payloads* of records that the platform acknowledged and that are
//!    older than the retention period. Headers, hashes and signatures stay: the chain
//!    still verifies from genesis, and `keshi journal verify` lists the erased
//!    payloads.
//!
//! Nothing is erased unless every course the journal studied has a countersigned
//! snapshot taken at the journal's head (the platform holds every record, so the
//! snapshot covers all of them). Never erased: anything above the platform's
//! acknowledged sequence, anything younger than the retention period, and the
//! snapshots just written. Run it between sessions (as `keshi sync --retain-days`
//! does), not while one is open.

use std::ops::ControlFlow;

use serde::Serialize;

use crate::fact::{Fact, ProgressSnapshot};
use crate::index::{KnownRules, ProgressIndex};
use crate::journal::Journal;
use crate::session::SessionError;
use crate::sync;

/// Record kind of a progress snapshot.
pub const SNAPSHOT_KIND: &str = "progress_snapshot";

/// What a retention pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    /// Payloads erased.
    pub erased: u64,
    /// Snapshots appended (one per course).
    pub snapshots: u64,
    /// Highest sequence whose payload may now be erased.
    pub up_to_seq: u64,
    /// Courses studied that have no countersigned snapshot at the journal's head
    /// (nothing is erased while any is missing).
    pub unsigned_courses: Vec<String>,
}

/// Whether a retention pass would erase anything: an acknowledged payload older than
/// `keep_ms` is still there (so the caller fetches the platform's snapshots only
/// then). Reads records in order up to the first payload still held.
pub fn due(journal: &Journal, keep_ms: u64, now_wall_ms: i64) -> Result<bool, SessionError> {
    let acked = sync::acknowledged(journal)?;
    let cutoff = now_wall_ms.saturating_sub(i64::try_from(keep_ms).unwrap_or(i64::MAX));
    let mut due = false;
    journal.for_each_from(1, |r| {
        if r.payload_erased() {
            return ControlFlow::Continue(());
        }
        due = r.seq() <= acked && r.header.wall_ms < cutoff;
        ControlFlow::Break(())
    })?;
    Ok(due)
}

/// The snapshots to propose for countersigning: the progress of every course the
/// journal studied, at its head (empty unless the platform acknowledged the whole
/// journal, and unless [`due`]).
pub fn propose(
    journal: &Journal,
    keep_ms: u64,
    now_wall_ms: i64,
) -> Result<Vec<ProgressSnapshot>, SessionError> {
    let head = journal.len();
    if head == 0 || sync::acknowledged(journal)? < head || !due(journal, keep_ms, now_wall_ms)? {
        return Ok(Vec::new());
    }
    let index = ProgressIndex::build(journal, KnownRules::default())?;
    Ok(index
        .courses()
        .map(|course| ProgressSnapshot {
            course: course.to_owned(),
            up_to_seq: head,
            progress: index.progress(course),
            device_id: None,
            signed_ms: None,
            signature: None,
        })
        .collect())
}

/// Erases payloads of acknowledged records older than `keep_ms` (wall clock, as of
/// `now_wall_ms`), after journaling the platform's `countersigned` snapshots. See
/// the module docs.
pub fn retain(
    journal: &mut Journal,
    keep_ms: u64,
    now_wall_ms: i64,
    countersigned: &[ProgressSnapshot],
) -> Result<RetentionReport, SessionError> {
    let acked = sync::acknowledged(journal)?;
    let head = journal.len();
    let cutoff = now_wall_ms.saturating_sub(i64::try_from(keep_ms).unwrap_or(i64::MAX));
    let mut erasable = Vec::new();
    // One pass: the courses studied and the payloads that may go.
    let mut index = ProgressIndex::new(KnownRules::default());
    journal.for_each_from(1, |r| {
        index.push(&r);
        if !r.payload_erased() && r.seq() <= acked && r.header.wall_ms < cutoff {
            erasable.push(r.seq());
        }
        ControlFlow::Continue(())
    })?;
    let Some(&up_to_seq) = erasable.last() else {
        return Ok(RetentionReport::default());
    };
    // The platform's snapshots for this device at its head (it holds every record).
    let key = journal.platform_key()?;
    let me = journal.device_id().to_hex();
    let signed = |course: &str| {
        countersigned.iter().find(|s| {
            s.course == course
                && s.up_to_seq == head
                && head <= acked
                && s.device_id.as_deref() == Some(me.as_str())
                && key.is_some_and(|k| s.verify(&k))
        })
    };
    let courses: Vec<String> = index.courses().map(str::to_owned).collect();
    let unsigned_courses: Vec<String> = courses
        .iter()
        .filter(|c| signed(c).is_none())
        .cloned()
        .collect();
    if !unsigned_courses.is_empty() {
        tracing::info!(
            ?unsigned_courses,
            "retention waits for the platform's snapshots"
        );
        return Ok(RetentionReport {
            unsigned_courses,
            ..RetentionReport::default()
        });
    }
    let snapshots: Vec<_> = courses
        .iter()
        .filter_map(|c| signed(c))
        .map(|s| Fact::ProgressSnapshot(s.clone()).to_new_record(now_wall_ms, 0))
        .collect();
    let n = snapshots.len() as u64;
    // Durable before anything is erased: a crash in between loses nothing.
    journal.append_batch(snapshots)?;
    let erased = journal.erase_payloads(&erasable)?;
    tracing::info!(erased, up_to_seq, "retention: erased acknowledged payloads");
    Ok(RetentionReport {
        erased,
        snapshots: n,
        up_to_seq,
        unsigned_courses: Vec::new(),
    })
}
