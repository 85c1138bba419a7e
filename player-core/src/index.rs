//! The progress index: every course's progress, folded from the journal in one pass
//! and then advanced record by record as the session appends (no screen re-reads
//! the journal). Courses, the learning proof, retention and sync read it.
//!
//! It is the protocol's fold ([`keshi_protocol::fold::StreamFold`]) run with the
//! device's own evidence and the rules of the courses this device knows (a course
//! no longer in the store keeps the rules its `session_start` records claimed).
//! Signed `progress_snapshot` records (written by [`crate::retention`] before it
//! erases old payloads) replace a course's progress.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use keshi_protocol::fact::{SessionStart, ViolationKind};
use keshi_protocol::fold::{CourseFold, DeviceEvidence, HourRules, Progress, Rules, StreamFold};

use crate::journal::{JournalError, Records};
use crate::record::Record;

/// Rules of the courses this device knows; the claim of the record otherwise.
#[derive(Debug, Clone, Default)]
pub struct KnownRules {
    rules: BTreeMap<String, HourRules>,
}

impl KnownRules {
    /// Rules for `course_id`.
    pub fn with(mut self, course_id: &str, rules: HourRules) -> KnownRules {
        self.rules.insert(course_id.to_owned(), rules);
        self
    }

    /// Adds rules for `course_id`.
    pub fn insert(&mut self, course_id: &str, rules: HourRules) {
        self.rules.insert(course_id.to_owned(), rules);
    }
}

impl Rules for KnownRules {
    fn rules_for(&self, start: &SessionStart) -> Option<HourRules> {
        self.rules
            .get(&start.course)
            .copied()
            .or_else(|| HourRules::claimed_by(start))
    }
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct ProgressIndex {
    fold: StreamFold,
    rules: KnownRules,
    evidence: DeviceEvidence,
}

impl ProgressIndex {
    /// An index of nothing yet.
    pub fn new(rules: KnownRules) -> ProgressIndex {
        ProgressIndex {
            fold: StreamFold::new(true),
            rules,
            evidence: DeviceEvidence::default(),
        }
    }

    /// Believe the platform grades that verify under `key` (see
    /// [`DeviceEvidence`]); for records folded from now on.
    pub fn with_platform_key(mut self, key: Option<[u8; 32]>) -> ProgressIndex {
        self.evidence = DeviceEvidence { platform_key: key };
        self
    }

    /// Believe the journal's own unsigned snapshots (a journal from before they were
    /// countersigned, [`Records::legacy_snapshots`]).
    pub fn with_legacy_snapshots(mut self, legacy: bool) -> ProgressIndex {
        self.fold = self.fold.with_legacy_snapshots(legacy);
        self
    }

    /// The platform key grades are checked with.
    pub fn platform_key(&self) -> Option<[u8; 32]> {
        self.evidence.platform_key
    }

    /// Folds `journal` from the start, in one pass, believing the grades signed by
    /// the platform key the journal learnt at login.
    pub fn build(journal: &Records, rules: KnownRules) -> Result<ProgressIndex, JournalError> {
        let mut index = ProgressIndex::new(rules)
            .with_platform_key(journal.platform_key()?)
            .with_legacy_snapshots(journal.legacy_snapshots()?);
        journal.for_each_from(1, |r| {
            index.push(&r);
            ControlFlow::Continue(())
        })?;
        Ok(index)
    }

    /// Folds in one record appended after the last one seen.
    pub fn push(&mut self, r: &Record) {
        let payload = (!r.payload_erased()).then_some(r.payload.as_slice());
        self.fold.push(
            r.seq(),
            &r.header.kind,
            payload,
            &self.rules,
            &self.evidence,
        );
    }

    /// Folds in records appended after the last one seen.
    pub fn extend<'a>(&mut self, records: impl IntoIterator<Item = &'a Record>) {
        for r in records {
            self.push(r);
        }
    }

    /// Learns the rules of a course (for records folded from now on; a course
    /// already folded under other rules keeps them until the index is rebuilt).
    pub fn learn(&mut self, course_id: &str, rules: HourRules) {
        self.rules.insert(course_id, rules);
    }

    /// Progress on a course (empty when never studied).
    pub fn progress(&self, course_id: &str) -> Progress {
        self.fold
            .course(course_id)
            .map(|c| c.progress.clone())
            .unwrap_or_default()
    }

    /// The whole fold of a course.
    pub fn course(&self, course_id: &str) -> Option<&CourseFold> {
        self.fold.course(course_id)
    }

    /// Violations on a course, by kind.
    pub fn violations(&self, course_id: &str) -> BTreeMap<ViolationKind, u32> {
        self.fold
            .course(course_id)
            .map(|c| c.violations.clone())
            .unwrap_or_default()
    }

    /// Every course met in the journal.
    pub fn courses(&self) -> impl Iterator<Item = &str> {
        self.fold.courses().keys().map(String::as_str)
    }

    /// Highest seq folded.
    pub fn last_seq(&self) -> u64 {
        self.fold.last_seq()
    }

    /// The rules in use.
    pub fn rules(&self) -> &KnownRules {
        &self.rules
    }
}
