//! Local retention of acknowledged records (R-SV-4: the platform keeps records for
//! years; the device needs them only until they are safely there).
//!
//! The journal is the only state, so pruning must not lose progress. Retention
//! therefore works in two steps:
//! 1. append a signed `progress_snapshot` record per course, carrying the
//!    [`Progress`](crate::playback::Progress) folded from the whole journal (so a later fold can start from it);
//! 2. erase the *payloads* of records that the platform acknowledged and that are
//!    older than the retention period. Headers, hashes and signatures stay: the chain
//!    still verifies from genesis, and `keshi journal verify` lists the erased
//!    payloads.
//!
//! Never erased: anything above the platform's acknowledged sequence, anything
//! younger than the retention period, and the snapshots just written. Run it
//! between sessions (as `keshi sync --retain-days` does), not while one is open.

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
}

/// Erases payloads of acknowledged records older than `keep_ms` (wall clock, as of
/// `now_wall_ms`), after snapshotting progress. See the module docs.
pub fn retain(
    journal: &mut Journal,
    keep_ms: u64,
    now_wall_ms: i64,
) -> Result<RetentionReport, SessionError> {
    let acked = sync::acknowledged(journal)?;
    let cutoff = now_wall_ms.saturating_sub(i64::try_from(keep_ms).unwrap_or(i64::MAX));
    let mut erasable = Vec::new();
    // One pass: the progress of every course (as the records claim their rules) and
    // the payloads that may go.
    let mut index =
        ProgressIndex::new(KnownRules::default()).with_platform_key(journal.platform_key()?);
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
    let snapshots: Vec<_> = index
        .courses()
        .map(|course| {
            Fact::ProgressSnapshot(ProgressSnapshot {
                course: course.to_owned(),
                up_to_seq,
                progress: index.progress(course),
            })
            .to_new_record(now_wall_ms, 0)
        })
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
    })
}
