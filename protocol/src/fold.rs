//! The progress fold: what a stream of study records adds up to. The client (to
//! resume and to show progress) and the platform (to decide what it credits) run
//! this same code.
//!
//! - Credit is the union of the `covered` ranges of `segment` records (a minute
//!   watched twice counts once, R-ST-5). Ranges that are not sorted, disjoint,
//!   inside the course, inside the segment's own positions and no longer than its
//!   own clock are refused and counted as [`Anomaly`]s.
//! - A class hour `h` is complete when credit reaches `h` class hours, the hour's
//!   captures passed (R-ST-3) and its quiz passed (R-AS-1). Completion is derived
//!   here, never read from `class_hour_completed` records (those are
//!   informational). What a passed capture or a quiz grade is worth is asked of an
//!   [`Evidence`] judge: the device believes its own checks ([`DeviceEvidence`]); the
//!   platform believes only photos it received and quizzes it graded.
//! - Positions: every fact that reports a position moves the breakpoint (R-ST-2).
//! - Violations are counted per kind.
//!
//! [`Progress`] is also the payload of `progress_snapshot` records: its JSON shape is
//! part of the frozen vocabulary.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::coverage::Coverage;
use crate::fact::{
    CaptureResult, Fact, ProgressSnapshot, QuizAnswered, QuizGraded, Segment, SessionStart,
    ViolationKind,
};
use crate::policy::Policy;

/// How long a segment's credit may exceed its own clock (rounding of the
/// millisecond clocks at both ends).
pub const SEGMENT_CLOCK_SLACK_MS: u64 = 1_000;

/// Progress of one class hour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HourProgress {
    /// Captures passed.
    pub captures_passed: u32,
    /// Quiz passed.
    pub quiz_passed: bool,
    /// Class hour completed.
    pub completed: bool,
    /// Quiz attempts made.
    pub quiz_attempts: u32,
    /// The highest attempt graded (by a grade the fold's [`Evidence`] believes); an
    /// attempt above it awaits the platform's grade.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub quiz_graded: u32,
    /// Server time (Unix ms) of the latest failing grade: a round of failed attempts
    /// pauses the quiz from here ([`crate::draw::AttemptLimit`]).
    #[serde(default, skip_serializing_if = "is_zero_ms")]
    pub quiz_failed_ms: i64,
    /// Failing grades of the quiz so far (the platform's own, or those it signed):
    /// every [`crate::draw::AttemptLimit::per_round`] of them pause the quiz.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub quiz_failures: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_ms(n: &i64) -> bool {
    *n == 0
}

impl HourProgress {
    /// Whether the last attempt waits for the platform's grade.
    pub fn awaiting_grade(&self) -> bool {
        self.takes_grade(self.quiz_attempts)
    }

    /// Whether a grade of `attempt` would be news: the quiz is not passed and no
    /// later attempt is graded yet.
    pub fn takes_grade(&self, attempt: u32) -> bool {
        !self.quiz_passed && attempt > self.quiz_graded
    }
}

/// Durable progress on one course.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Progress {
    /// Credited course time.
    pub coverage: Coverage,
    /// Last good position (the breakpoint, R-ST-2).
    pub position_ms: u64,
    /// Furthest position reached by normal playback.
    pub frontier_ms: u64,
    /// Class hours by number (1-based).
    pub hours: BTreeMap<u32, HourProgress>,
    /// A capture failed or went overdue and no later one passed.
    pub capture_blocked: bool,
    /// Sessions so far on this course.
    pub sessions: u32,
}

/// What makes a class hour, for a course under a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourRules {
    /// Credited courseware per class hour, ms (R-ST-5).
    pub hour_ms: u64,
    /// Captures that must pass per class hour (R-ST-3).
    pub captures_per_hour: u32,
    /// Class hours the course offers.
    pub class_hours: u32,
    /// Course length, ms.
    pub course_ms: u64,
}

impl HourRules {
    /// The rules of a course of `course_ms` under `policy`.
    pub fn new(policy: &Policy, course_ms: u64) -> HourRules {
        let hour_ms = policy.class_hour_ms();
        HourRules {
            hour_ms,
            captures_per_hour: policy.captures_per_class_hour.value,
            class_hours: u32::try_from(course_ms / hour_ms.max(1)).unwrap_or(u32::MAX),
            course_ms,
        }
    }

    /// The rules a `session_start` record claims (its profile and course length).
    /// A device's claim: the platform takes the rules from its own catalogue.
    pub fn claimed_by(start: &SessionStart) -> Option<HourRules> {
        let policy = Policy::by_id(&start.profile).ok()?;
        Some(HourRules::new(&policy, start.course_ms))
    }

    /// The 1-based class hour that credit `credited_ms` is filling.
    pub fn hour_of(&self, credited_ms: u64) -> u32 {
        let h = u32::try_from(credited_ms / self.hour_ms.max(1))
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        h.min(self.class_hours.max(1))
    }
}

/// Whom a fold believes about captures and quizzes.
pub trait Evidence {
    /// Whether a capture result counts as passed.
    fn capture_passed(&self, capture: &CaptureResult) -> bool;
    /// Whether a quiz attempt passed; `None` while it awaits grading.
    fn quiz_passed(&self, quiz: &QuizAnswered) -> Option<bool>;
    /// Whether a platform grade journaled on the device is believed.
    fn grade_believed(&self, grade: &QuizGraded) -> bool;
    /// Whether a countersigned progress snapshot is believed (the platform, which
    /// holds every record, believes none).
    fn snapshot_believed(&self, _snapshot: &ProgressSnapshot) -> bool {
        false
    }
}

/// The device's own view: its face checks, and the platform's grades that verify
/// under `platform_key` (the device holds no answer keys; a grade it cannot verify,
/// e.g. one its owner wrote into the journal, counts for nothing). Journals from
/// before issue 11 carry the device's own grade in `quiz_answered`, which is read
/// for their display only.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeviceEvidence {
    /// The platform's public key (pinned by the brand, else learnt at login).
    pub platform_key: Option<[u8; 32]>,
}

impl Evidence for DeviceEvidence {
    fn capture_passed(&self, capture: &CaptureResult) -> bool {
        capture.ok
    }
    fn quiz_passed(&self, quiz: &QuizAnswered) -> Option<bool> {
        quiz.passed
    }
    fn grade_believed(&self, grade: &QuizGraded) -> bool {
        self.platform_key.is_some_and(|k| grade.verify(&k))
    }
    fn snapshot_believed(&self, snapshot: &ProgressSnapshot) -> bool {
        self.platform_key.is_some_and(|k| snapshot.verify(&k))
    }
}

/// Why part of a record was not taken into the fold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "anomaly", rename_all = "snake_case")]
pub enum Anomaly {
    /// A payload that does not fit its kind.
    Malformed {
        /// Why.
        error: String,
    },
    /// A segment's ranges are empty, unordered, overlapping or outside the course
    /// or the segment's own positions.
    BadRanges {
        /// Why.
        error: String,
    },
    /// A segment credits more course time than its own clock allows.
    FasterThanClock {
        /// Credited.
        covered_ms: u64,
        /// Its clock.
        clock_ms: u64,
    },
    /// `credited_ms` disagrees with the sum of `covered`.
    CreditMismatch {
        /// Claimed.
        claimed_ms: u64,
        /// Sum of the ranges.
        covered_ms: u64,
    },
}

/// Checks a segment against its course length: ranges sorted, disjoint, non-empty,
/// inside `[pos0_ms, pos_ms]` and the course, no more credit than its clock, and the
/// `credited_ms` sum. Returns the ranges to credit.
pub fn check_segment(seg: &Segment, course_ms: u64) -> Result<Vec<(u64, u64)>, Anomaly> {
    let ranges: Vec<(u64, u64)> = seg.covered.iter().map(|r| (r[0], r[1])).collect();
    let limit = seg.pos_ms.min(course_ms);
    crate::coverage::check_ranges(&ranges, limit).map_err(|e| Anomaly::BadRanges {
        error: e.to_string(),
    })?;
    if ranges.first().is_some_and(|r| r.0 < seg.pos0_ms) {
        return Err(Anomaly::BadRanges {
            error: format!(
                "credited range starts before the segment's start position {}",
                seg.pos0_ms
            ),
        });
    }
    // Disjoint and bounded by the course: the sum cannot overflow.
    let covered_ms: u64 = ranges.iter().map(|(a, b)| b - a).sum();
    let clock_ms = seg.t1_ms.saturating_sub(seg.t0_ms);
    if covered_ms > clock_ms.saturating_add(SEGMENT_CLOCK_SLACK_MS) {
        return Err(Anomaly::FasterThanClock {
            covered_ms,
            clock_ms,
        });
    }
    if covered_ms != seg.credited_ms {
        return Err(Anomaly::CreditMismatch {
            claimed_ms: seg.credited_ms,
            covered_ms,
        });
    }
    Ok(ranges)
}

impl Progress {
    /// Credited milliseconds.
    pub fn credited_ms(&self) -> u64 {
        self.coverage.total()
    }

    /// Completed class hours.
    pub fn class_hours_completed(&self) -> u32 {
        u32::try_from(self.hours.values().filter(|h| h.completed).count()).unwrap_or(u32::MAX)
    }

    /// Whether class hour `hour` meets every condition (credit reached its end, its
    /// captures and its quiz passed).
    pub fn hour_done(&self, hour: u32, rules: &HourRules) -> bool {
        let end = u64::from(hour).saturating_mul(rules.hour_ms);
        self.hours
            .get(&hour)
            .is_some_and(|h| h.quiz_passed && h.captures_passed >= rules.captures_per_hour)
            && self.credited_ms() >= end
    }

    /// Marks every class hour that meets its conditions as completed; returns the
    /// hours that completed now.
    pub fn complete_hours(&mut self, rules: &HourRules) -> Vec<u32> {
        let candidates: Vec<u32> = self
            .hours
            .iter()
            .filter(|(_, h)| !h.completed)
            .map(|(n, _)| *n)
            .collect();
        let mut done = Vec::new();
        for h in candidates {
            if self.hour_done(h, rules) {
                if let Some(p) = self.hours.get_mut(&h) {
                    p.completed = true;
                }
                done.push(h);
            }
        }
        done
    }

    /// Folds one fact of this course in (completion is separate:
    /// [`Progress::complete_hours`], which folds call after every fact). Returns what
    /// was refused, if anything.
    pub fn apply(
        &mut self,
        fact: &Fact,
        rules: &HourRules,
        evidence: &dyn Evidence,
    ) -> Option<Anomaly> {
        let mut anomaly = None;
        match fact {
            Fact::SessionStart(_) => self.sessions = self.sessions.saturating_add(1),
            Fact::Segment(seg) => match check_segment(seg, rules.course_ms) {
                Ok(ranges) => {
                    for (a, b) in ranges {
                        self.coverage.insert(a, b);
                    }
                }
                Err(a) => anomaly = Some(a),
            },
            // Evidence for a class hour the course does not have is nobody's (and
            // would grow the progress without bound).
            Fact::CaptureResult(c) if !(1..=rules.class_hours).contains(&c.class_hour) => {}
            Fact::QuizAnswered(q) if !(1..=rules.class_hours).contains(&q.class_hour) => {}
            Fact::CaptureResult(c) => {
                if evidence.capture_passed(c) {
                    let h = self.hours.entry(c.class_hour).or_default();
                    h.captures_passed = h.captures_passed.saturating_add(1);
                    self.capture_blocked = false;
                } else {
                    self.capture_blocked = true;
                }
            }
            Fact::QuizGraded(g) if !(1..=rules.class_hours).contains(&g.class_hour) => {}
            Fact::QuizAnswered(q) => {
                let h = self.hours.entry(q.class_hour).or_default();
                h.quiz_attempts = h.quiz_attempts.max(q.attempt);
                if let Some(passed) = evidence.quiz_passed(q) {
                    h.quiz_graded = h.quiz_graded.max(q.attempt);
                    h.quiz_passed |= passed;
                }
            }
            Fact::QuizGraded(g) if evidence.grade_believed(g) => {
                let h = self.hours.entry(g.class_hour).or_default();
                h.quiz_attempts = h.quiz_attempts.max(g.attempt);
                h.quiz_graded = h.quiz_graded.max(g.attempt);
                h.quiz_passed |= g.passed;
                if !g.passed {
                    h.quiz_failed_ms = h.quiz_failed_ms.max(g.graded_ms);
                    h.quiz_failures = h.quiz_failures.saturating_add(1);
                }
            }
            Fact::Malformed { error, .. } => {
                anomaly = Some(Anomaly::Malformed {
                    error: error.clone(),
                })
            }
            _ => {}
        }
        if let Some(pos) = fact.pos_ms() {
            self.position_ms = pos.min(rules.course_ms);
            self.frontier_ms = self.frontier_ms.max(self.position_ms);
        }
        if let Some(f) = fact.frontier_ms() {
            self.frontier_ms = self.frontier_ms.max(f.min(rules.course_ms));
        }
        anomaly
    }
}

/// What a fold of a whole record stream found for one course.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CourseFold {
    /// The progress.
    pub progress: Progress,
    /// The rules it was folded with.
    pub rules: Option<HourRules>,
    /// Violations by kind.
    pub violations: BTreeMap<ViolationKind, u32>,
    /// Refused parts, by record seq.
    pub anomalies: Vec<(u64, Anomaly)>,
    /// Seq of the last record folded in.
    pub last_seq: u64,
}

/// Where a fold gets a course's rules.
pub trait Rules {
    /// The rules of the course a `session_start` opens, or `None` when the course
    /// is unknown (then its records earn nothing).
    fn rules_for(&self, start: &SessionStart) -> Option<HourRules>;
}

/// Takes the rules the `session_start` record claims.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClaimedRules;

impl Rules for ClaimedRules {
    fn rules_for(&self, start: &SessionStart) -> Option<HourRules> {
        HourRules::claimed_by(start)
    }
}

/// The fold of record streams over every course they studied, advanced one record
/// at a time (built once, then kept current: the device's progress index; the
/// platform's replay of a learner's devices).
///
/// Records belong to the course of the session they follow on their own device
/// (the last `session_start` of that device); courses are shared, so a minute
/// watched on two devices counts once and a class hour's capture and quiz may come
/// from either. A `progress_snapshot` for a course replaces that course's progress
/// when `trust_snapshots` (the device's own journal, whose old payloads it erased)
/// and the snapshot is countersigned by the platform (the fold's [`Evidence`]
/// believes it) — or, in a journal written before snapshots were countersigned
/// ([`StreamFold::with_legacy_snapshots`]), carries no signature at all. It is
/// ignored otherwise (the platform holds every record).
#[derive(Debug, Clone, Default)]
pub struct StreamFold {
    courses: BTreeMap<String, CourseFold>,
    active: BTreeMap<String, String>,
    trust_snapshots: bool,
    legacy_snapshots: bool,
    last_seq: u64,
}

impl StreamFold {
    /// An empty fold. `trust_snapshots`: see the type docs.
    pub fn new(trust_snapshots: bool) -> StreamFold {
        StreamFold {
            trust_snapshots,
            ..StreamFold::default()
        }
    }

    /// Believes the unsigned snapshots of a journal written before snapshots were
    /// countersigned (the journal's meta says so; a journal created since never
    /// does).
    pub fn with_legacy_snapshots(mut self, legacy: bool) -> StreamFold {
        self.legacy_snapshots = legacy;
        self
    }

    /// Folds record `seq` (its kind and payload; `None` when the payload was erased).
    pub fn push(
        &mut self,
        seq: u64,
        kind: &str,
        payload: Option<&[u8]>,
        rules: &dyn Rules,
        evidence: &dyn Evidence,
    ) {
        self.last_seq = self.last_seq.max(seq);
        let Some(payload) = payload else { return };
        let fact = Fact::decode(kind, payload);
        self.push_fact(seq, &fact, rules, evidence);
    }

    /// Folds a decoded fact of the (one) device this fold follows.
    pub fn push_fact(&mut self, seq: u64, fact: &Fact, rules: &dyn Rules, evidence: &dyn Evidence) {
        self.push_fact_from("", seq, fact, rules, evidence);
    }

    /// Folds a decoded fact from `device`'s stream (`seq` is that device's).
    pub fn push_fact_from(
        &mut self,
        device: &str,
        seq: u64,
        fact: &Fact,
        rules: &dyn Rules,
        evidence: &dyn Evidence,
    ) {
        self.last_seq = self.last_seq.max(seq);
        match fact {
            Fact::ProgressSnapshot(s) => {
                let believed = match &s.signature {
                    Some(_) => evidence.snapshot_believed(s),
                    None => self.legacy_snapshots,
                };
                if self.trust_snapshots && believed {
                    let c = self.courses.entry(s.course.clone()).or_default();
                    c.progress = s.progress.clone();
                    c.last_seq = seq;
                }
                self.active.remove(device);
                return;
            }
            Fact::SessionStart(start) => {
                let c = self.courses.entry(start.course.clone()).or_default();
                if c.rules.is_none() {
                    c.rules = rules.rules_for(start);
                }
                self.active.insert(device.to_owned(), start.course.clone());
            }
            // A grade names its course (it may arrive between sessions).
            Fact::QuizGraded(g) => {
                if let Some(c) = self.courses.get_mut(&g.course) {
                    if let Some(r) = c.rules {
                        c.progress.apply(fact, &r, evidence);
                        c.progress.complete_hours(&r);
                        c.last_seq = seq;
                    }
                }
                return;
            }
            _ => {}
        }
        let Some(course) = self.active.get(device) else {
            return;
        };
        let Some(c) = self.courses.get_mut(course) else {
            return;
        };
        let Some(r) = c.rules else { return };
        if let Fact::Violation(v) = fact {
            *c.violations.entry(v.kind).or_default() += 1;
        }
        if let Some(a) = c.progress.apply(fact, &r, evidence) {
            c.anomalies.push((seq, a));
        }
        c.progress.complete_hours(&r);
        c.last_seq = seq;
    }

    /// The fold of one course (empty when it was never studied).
    pub fn course(&self, course_id: &str) -> Option<&CourseFold> {
        self.courses.get(course_id)
    }

    /// Every course met, by id.
    pub fn courses(&self) -> &BTreeMap<String, CourseFold> {
        &self.courses
    }

    /// The course of the session the last records of `device` belong to.
    pub fn active_course(&self, device: &str) -> Option<&str> {
        self.active.get(device).map(String::as_str)
    }

    /// Highest seq folded.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }
}
