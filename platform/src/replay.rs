//! The platform's replay of a device's new records, incremental: each push folds
//! only the records it brings into the state kept from earlier pushes (the
//! device's routing and contacts, the learner's per-course progress), with the
//! shared fold (`keshi_protocol::fold`) and evidence the platform can check
//! (R-ST-3, R-ST-5, R-AS-1, R-SV-3):
//!
//! - **rules** from the catalogue, never from the record: a course not published
//!   earns nothing;
//! - **time anchored to the platform's clock**: a record's wall time may not be
//!   after its arrival (beyond [`Anchor::skew_ms`]), nor before the last contact at
//!   which the device's journal did not yet hold it, nor after the first contact at
//!   which it did (contacts carry the device's journal head); a device's credited
//!   segments are strictly increasing and never overlap in wall time; a credited
//!   segment lies inside a lease of its device (server times: issued, revoked,
//!   offline end) and overlaps no credited segment of the learner's other devices.
//!   With credit never faster than a segment's own clock, credit never exceeds the
//!   wall time the platform saw pass;
//! - **captures** count only once their photo reached the platform (a capture whose
//!   photo is still on its way is kept pending and counted when it arrives), for the
//!   class hour the platform's own credit is filling;
//! - **quizzes** are graded by the platform from its bank; the device's grade is
//!   ignored.
//!
//! Pure: the store loads the state and the context, this module decides, the store
//! writes the result in the same transaction as the records.

use std::collections::BTreeMap;

use keshi_protocol::draw::{draw, AttemptLimit};
use keshi_protocol::fact::{CaptureResult, Fact, QuizAnswered, ViolationKind};
use keshi_protocol::fold::{check_segment, Anomaly, Evidence, Progress};
use serde::{Deserialize, Serialize};

use crate::catalogue::Catalogue;

/// How long contacts are remembered per device (older ones are folded into the
/// floor).
const MAX_CONTACTS: usize = 256;

/// A moment the device talked to the platform, with its journal head then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Server time, Unix ms.
    pub at_ms: i64,
    /// The device's journal head (highest seq it held).
    pub head: u64,
    /// The hash the device committed to for the record at `head` (hex), while that
    /// record has not arrived: checked when it does ([`DeviceFold::check_commitments`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

/// What the platform keeps about one device between pushes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceFold {
    /// Course of the session the device's next records belong to, and its session
    /// number (`None`: no session yet, or a course not in the catalogue).
    pub active: Option<(String, u32)>,
    /// End of the device's last credited segment (wall ms, bounded by server time).
    pub last_end_ms: i64,
    /// Server time before which no record the platform has not yet seen can have
    /// been written (contacts whose head it has since received, folded).
    pub floor_ms: i64,
    /// Contacts whose reported head is above what the platform holds.
    pub contacts: Vec<Contact>,
    /// The device's last segment as the platform judged it (the live view: where
    /// the learner is and whether it counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_segment: Option<LastSegment>,
}

/// The platform's verdict on a device's newest segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSegment {
    /// Course position at its end, ms.
    pub pos_ms: u64,
    /// Its end (the device's wall time, bounded by the platform's clock), Unix ms.
    pub end_ms: i64,
    /// Course time it credited on the platform, ms.
    pub credited_ms: u64,
    /// Why it earned nothing: the platform's finding, or `not_credited_on_device`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
}

impl DeviceFold {
    /// Records a contact (login, heartbeat, push) at server time `at_ms`.
    pub fn contact(&mut self, at_ms: i64, head: u64) {
        self.commit(at_ms, head, None);
    }

    /// Records a contact whose head the device committed to with `hash` (the
    /// record at `head`, not yet received).
    pub fn commit(&mut self, at_ms: i64, head: u64, hash: Option<String>) {
        self.contacts.push(Contact { at_ms, head, hash });
        if self.contacts.len() > MAX_CONTACTS {
            let drop = self.contacts.len() - MAX_CONTACTS;
            // Forgetting a contact only weakens the bounds (fails open).
            self.contacts.drain(..drop);
        }
    }

    /// Folds contacts that no longer separate new records (their head is at most
    /// what the platform now holds) into the floor.
    pub fn held_up_to(&mut self, head: u64) {
        let mut floor = self.floor_ms;
        self.contacts.retain(|c| {
            if c.head <= head {
                floor = floor.max(c.at_ms);
                false
            } else {
                true
            }
        });
        self.floor_ms = floor;
    }

    /// Checks the commitments of earlier contacts against records arriving now
    /// (`(seq, hash hex)`): a contact whose committed record arrives with another
    /// hash claimed records the device wrote afterwards, so it no longer vouches
    /// for them (its head falls back to `held`, what the platform held before this
    /// push, and its time becomes a lower bound for them). Returns the contacts
    /// broken, as `(at_ms, head)`.
    pub fn check_commitments(&mut self, arriving: &[(u64, &str)], held: u64) -> Vec<(i64, u64)> {
        let mut broken = Vec::new();
        for c in &mut self.contacts {
            let Some(want) = c.hash.as_deref() else {
                continue;
            };
            if let Some((_, got)) = arriving.iter().find(|(seq, _)| *seq == c.head) {
                if *got == want {
                    c.hash = None;
                } else {
                    broken.push((c.at_ms, c.head));
                    c.head = held;
                    c.hash = None;
                }
            }
        }
        broken
    }

    /// Server-time bounds of record `seq`'s creation: after the last contact whose
    /// head was below it, before the first contact whose head reached it.
    pub fn bounds(&self, seq: u64) -> (i64, Option<i64>) {
        let mut lower = self.floor_ms;
        let mut upper: Option<i64> = None;
        for c in &self.contacts {
            if c.head < seq {
                lower = lower.max(c.at_ms);
            } else {
                upper = Some(upper.map_or(c.at_ms, |u| u.min(c.at_ms)));
            }
        }
        (lower, upper)
    }
}

/// A credited stretch of wall time of one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interval {
    /// Device (hex).
    pub device_id: String,
    /// The segment record.
    pub seq: u64,
    /// Course.
    pub course: String,
    /// Start, wall ms.
    pub start_ms: i64,
    /// End, wall ms.
    pub end_ms: i64,
}

/// A lease window of a device: `[from_ms, until_ms]`, server times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Issued.
    pub from_ms: i64,
    /// Revoked, or the end of the offline lease, whichever first.
    pub until_ms: i64,
}

/// A finding about a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    /// The rule (`credit_faster_than_clock`, `bad_ranges`, `malformed_payload`,
    /// `unknown_course`, `future_stamped`, `backdated`, `overlap_same_device`,
    /// `outside_lease`, `concurrent_devices`, `capture_without_photo`).
    pub kind: &'static str,
    /// Device (hex).
    pub device_id: String,
    /// The record.
    pub seq: u64,
    /// Details.
    pub detail: String,
}

/// A passed capture whose photo has not arrived yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPhoto {
    /// Course.
    pub course: String,
    /// Class hour it counts for once the photo arrives.
    pub class_hour: u32,
    /// The photo's SHA-256 (lowercase hex).
    pub sha256: String,
}

/// How time is anchored.
#[derive(Debug, Clone, Copy)]
pub struct Anchor {
    /// Server time the records arrived.
    pub received_ms: i64,
    /// Clock difference tolerated between a device and the platform.
    pub skew_ms: i64,
    /// `false` for a simulated device (its time is compressed): only the catalogue
    /// and evidence rules apply.
    pub enforced: bool,
}

/// One record to replay.
#[derive(Debug, Clone)]
pub struct Row<'a> {
    /// Seq.
    pub seq: u64,
    /// Kind.
    pub kind: &'a str,
    /// Header wall time (the device's claim).
    pub wall_ms: i64,
    /// Payload bytes.
    pub payload: &'a [u8],
}

/// What the replay of a push needs besides the records.
#[allow(missing_debug_implementations)] // holds a closure
pub struct Context<'a> {
    /// Device (hex).
    pub device_id: &'a str,
    /// The catalogue.
    pub catalogue: &'a Catalogue,
    /// Time anchoring.
    pub anchor: Anchor,
    /// This device's lease windows.
    pub leases: &'a [Window],
    /// The learner's credited intervals on other devices (any that could overlap).
    pub others: &'a [Interval],
    /// Whether a photo with this hash has reached the platform for this learner.
    pub photo_received: &'a dyn Fn(&str) -> bool,
    /// Whether a capture already claimed this photo as its evidence.
    pub photo_claimed: &'a dyn Fn(&str) -> bool,
    /// The learner's quiz draw seed ([`keshi_protocol::draw`]): an attempt must
    /// answer the questions drawn from it.
    pub draw_seed: &'a [u8],
}

/// The result of a replay.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Courses whose progress changed, with the new progress.
    pub courses: BTreeMap<String, Progress>,
    /// Segments credited.
    pub intervals: Vec<Interval>,
    /// Findings.
    pub flags: Vec<Flag>,
    /// Captures waiting for their photo.
    pub pending: Vec<PendingPhoto>,
    /// Photos claimed as a capture's evidence by this replay: `(sha256, seq)`.
    pub claims: Vec<(String, u64)>,
    /// Violations by course and kind (added to the counts).
    pub violations: BTreeMap<(String, ViolationKind), u32>,
    /// Quiz attempts graded by this replay (the device fetches them signed).
    pub grades: Vec<GradeRow>,
}

/// The platform's grade of one `quiz_answered` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GradeRow {
    /// Seq of the `quiz_answered` record.
    pub seq: u64,
    /// Course.
    pub course: String,
    /// Class hour.
    pub class_hour: u32,
    /// Attempt (as the device numbered it).
    pub attempt: u32,
    /// The grade by the published bank.
    pub grade: crate::catalogue::Grade,
}

/// The platform's evidence: its own grading; captures handled by [`replay`].
struct Platform<'a> {
    catalogue: &'a Catalogue,
    course: &'a str,
    /// The attempt at hand broke the attempt rules: failed whatever it answered.
    refused: bool,
}

impl Evidence for Platform<'_> {
    fn capture_passed(&self, _: &CaptureResult) -> bool {
        // Counted by `replay` itself, once the photo is there.
        false
    }
    fn quiz_passed(&self, q: &QuizAnswered) -> Option<bool> {
        if self.refused {
            return Some(false);
        }
        self.catalogue
            .get(self.course)
            .map(|p| p.grade(q.class_hour, &q.questions, &q.answers).passed)
    }
    fn grade_believed(&self, _: &keshi_protocol::fact::QuizGraded) -> bool {
        // The platform grades the answers themselves; a grade in a device's
        // stream is only a copy of one it signed.
        false
    }
}

/// Replays `rows` (the device's next records, in seq order) onto `device` and the
/// learner's `progress` (per course; courses missing from it start empty).
pub fn replay(
    device: &mut DeviceFold,
    progress: &BTreeMap<String, Progress>,
    rows: &[Row<'_>],
    cx: &Context<'_>,
) -> Outcome {
    let mut out = Outcome::default();
    let mut courses: BTreeMap<String, Progress> = BTreeMap::new();
    for row in rows {
        let fact = Fact::decode(row.kind, row.payload);
        let flag = |kind: &'static str, detail: String| Flag {
            kind,
            device_id: cx.device_id.to_owned(),
            seq: row.seq,
            detail,
        };
        if let Fact::Malformed { kind, error } = &fact {
            out.flags.push(flag(
                "malformed_payload",
                format!("{} payload does not fit its kind: {error}", kind.as_str()),
            ));
            continue;
        }
        if let Fact::SessionStart(s) = &fact {
            device.active = if cx.catalogue.get(&s.course).is_some() {
                Some((s.course.clone(), s.session))
            } else {
                out.flags.push(flag(
                    "unknown_course",
                    format!(
                        "course {:?} is not in the catalogue: its records earn nothing",
                        s.course
                    ),
                ));
                None
            };
        }
        let Some((course, _)) = device.active.clone() else {
            continue;
        };
        let Some(published) = cx.catalogue.get(&course) else {
            continue;
        };
        let rules = published.rules;
        let mut evidence = Platform {
            catalogue: cx.catalogue,
            course: &course,
            refused: false,
        };
        let p = courses
            .entry(course.clone())
            .or_insert_with(|| progress.get(&course).cloned().unwrap_or_default());
        match &fact {
            Fact::Segment(seg) => {
                let ranges = match check_segment(seg, rules.course_ms) {
                    Ok(r) => r,
                    Err(a) => {
                        let (kind, detail) = match a {
                            Anomaly::FasterThanClock { covered_ms, clock_ms } => (
                                "credit_faster_than_clock",
                                format!("covers {covered_ms} ms of course in {clock_ms} ms of its own clock"),
                            ),
                            Anomaly::CreditMismatch { claimed_ms, covered_ms } => (
                                "credit_faster_than_clock",
                                format!("claims credited_ms {claimed_ms} but its ranges cover {covered_ms} ms"),
                            ),
                            Anomaly::BadRanges { error } => ("bad_ranges", error),
                            Anomaly::Malformed { error } => ("malformed_payload", error),
                        };
                        device.last_segment = Some(LastSegment {
                            pos_ms: seg.pos_ms,
                            end_ms: row.wall_ms,
                            credited_ms: 0,
                            why_not: Some(kind.to_owned()),
                        });
                        out.flags.push(flag(kind, detail));
                        continue;
                    }
                };
                if ranges.is_empty() {
                    device.last_segment = Some(LastSegment {
                        pos_ms: seg.pos_ms,
                        end_ms: row.wall_ms,
                        credited_ms: 0,
                        why_not: Some("not_credited_on_device".to_owned()),
                    });
                    p.apply(&fact, &rules, &evidence);
                    continue;
                }
                // The wall time a segment occupies is its own clock, or what it
                // covers when that is more (the clock slack): every credited
                // millisecond takes a millisecond of the device's wall time, so
                // many short segments cannot each add the slack for free.
                let covered: u64 = ranges.iter().map(|(a, b)| b - a).sum();
                let span = seg.t1_ms.saturating_sub(seg.t0_ms).max(covered);
                let clock = i64::try_from(span).unwrap_or(i64::MAX);
                let end = row.wall_ms;
                let start = end.saturating_sub(clock);
                if let Some((kind, detail, other)) = time_check(device, row.seq, start, end, cx) {
                    device.last_segment = Some(LastSegment {
                        pos_ms: seg.pos_ms,
                        end_ms: end,
                        credited_ms: 0,
                        why_not: Some(kind.to_owned()),
                    });
                    out.flags.push(flag(kind, detail));
                    if let Some(o) = other {
                        // Both sides of a concurrent overlap are flagged; the one that
                        // arrived first keeps its credit.
                        out.flags.push(Flag {
                            kind,
                            device_id: o.device_id.clone(),
                            seq: o.seq,
                            detail: format!(
                                "overlaps device {} record {} in wall time (R-ID-3)",
                                cx.device_id, row.seq
                            ),
                        });
                    }
                    continue;
                }
                device.last_end_ms = device.last_end_ms.max(end);
                device.last_segment = Some(LastSegment {
                    pos_ms: seg.pos_ms,
                    end_ms: end,
                    credited_ms: covered,
                    why_not: None,
                });
                out.intervals.push(Interval {
                    device_id: cx.device_id.to_owned(),
                    seq: row.seq,
                    course: course.clone(),
                    start_ms: start,
                    end_ms: end,
                });
                p.apply(&fact, &rules, &evidence);
            }
            Fact::CaptureResult(c) => {
                if c.ok {
                    // The hour the platform's own credit is filling (never the claim).
                    let hour = rules.hour_of(p.credited_ms());
                    match c.image() {
                        // One photo is the evidence of one capture: a photo cited
                        // again (any device, any hour) earns nothing.
                        Some(sha)
                            if (cx.photo_claimed)(sha)
                                || out.claims.iter().any(|(s, _)| s == sha) =>
                        {
                            out.flags.push(flag(
                                "photo_reused",
                                format!("photo {sha} is already the evidence of another capture"),
                            ));
                        }
                        Some(sha) if (cx.photo_received)(sha) => {
                            out.claims.push((sha.to_owned(), row.seq));
                            let h = p.hours.entry(hour).or_default();
                            h.captures_passed = h.captures_passed.saturating_add(1);
                        }
                        Some(sha) => {
                            out.claims.push((sha.to_owned(), row.seq));
                            out.pending.push(PendingPhoto {
                                course: course.clone(),
                                class_hour: hour,
                                sha256: sha.to_owned(),
                            });
                        }
                        None => out.flags.push(flag(
                            "capture_without_photo",
                            "a passed capture without an image earns nothing".into(),
                        )),
                    }
                }
                p.apply(&fact, &rules, &evidence);
            }
            Fact::Violation(v) => {
                *out.violations.entry((course.clone(), v.kind)).or_default() += 1;
                p.apply(&fact, &rules, &evidence);
            }
            Fact::QuizAnswered(q) => {
                // Graded here against the published bank; the device learns the
                // grade from `GET /v1/quiz/grades`, signed. An attempt made during
                // the pause after a round of failures, or answering questions the
                // learner's draw did not ask, fails whatever it answered.
                let refusal = if cx.anchor.enforced {
                    attempt_refusal(p, q, row, cx, published)
                } else {
                    None
                };
                let grade = match &refusal {
                    Some((kind, detail)) => {
                        out.flags.push(flag(kind, detail.clone()));
                        crate::catalogue::Grade {
                            correct: 0,
                            total: u32::try_from(q.questions.len()).unwrap_or(u32::MAX),
                            passed: false,
                        }
                    }
                    None => published.grade(q.class_hour, &q.questions, &q.answers),
                };
                evidence.refused = refusal.is_some();
                p.apply(&fact, &rules, &evidence);
                if !grade.passed && (1..=rules.class_hours).contains(&q.class_hour) {
                    let h = p.hours.entry(q.class_hour).or_default();
                    h.quiz_failed_ms = h.quiz_failed_ms.max(cx.anchor.received_ms);
                    h.quiz_failures = h.quiz_failures.saturating_add(1);
                }
                out.grades.push(GradeRow {
                    seq: row.seq,
                    course: course.clone(),
                    class_hour: q.class_hour,
                    attempt: q.attempt,
                    grade,
                });
            }
            _ => {
                p.apply(&fact, &rules, &evidence);
            }
        }
        p.complete_hours(&rules);
    }
    out.courses = courses;
    out
}

/// How early (ms) an attempt may come before the pause after a round of failures
/// ends: the error of a device's estimate of the platform's clock.
pub const COOLDOWN_TOLERANCE_MS: i64 = 30_000;

/// Why an attempt breaks the attempt rules (R-AS-1), if it does: made before the
/// pause after a round of failed attempts ended (server time of arrival, and the
/// record's own time), or answering other questions than the learner's draw.
fn attempt_refusal(
    p: &Progress,
    q: &QuizAnswered,
    row: &Row<'_>,
    cx: &Context<'_>,
    published: &crate::catalogue::Published,
) -> Option<(&'static str, String)> {
    let limit = AttemptLimit::of(&published.policy);
    if let Some(until) = p
        .hours
        .get(&q.class_hour)
        .and_then(|h| limit.cooldown_until(h))
    {
        // Both are the platform's times (the device stamps in them after its clock
        // offset), so only the offset's error is tolerated, not the clock skew.
        let opens = until.saturating_sub(COOLDOWN_TOLERANCE_MS);
        if cx.anchor.received_ms < opens || row.wall_ms < opens {
            return Some((
                "quiz_cooldown",
                format!(
                    "attempt {} of class hour {} made before the pause after {} failed attempts ended at {until} (R-AS-1)",
                    q.attempt, q.class_hour, limit.per_round
                ),
            ));
        }
    }
    // Attempts come one after another: a number out of turn would pick another
    // draw (and, with rounds counted by number, dodge the pause).
    let next = p
        .hours
        .get(&q.class_hour)
        .map_or(0, |h| h.quiz_attempts)
        .saturating_add(1);
    if q.attempt != next {
        return Some((
            "quiz_not_drawn",
            format!(
                "attempt {} of class hour {} is out of turn: the next attempt is {next}",
                q.attempt, q.class_hour
            ),
        ));
    }
    let bank: Vec<String> = published
        .course
        .quiz(q.class_hour)
        .map(|b| b.questions.iter().map(|x| x.id.clone()).collect())
        .unwrap_or_default();
    let k = published.policy.quiz_questions_per_class_hour.value as usize;
    let drawn = draw(
        cx.draw_seed,
        &published.course.id,
        q.class_hour,
        q.attempt,
        &bank,
        k,
    );
    if q.questions != drawn {
        return Some((
            "quiz_not_drawn",
            format!(
                "attempt {} of class hour {} answers questions {:?}, not the learner's draw {:?}",
                q.attempt, q.class_hour, q.questions, drawn
            ),
        ));
    }
    None
}

/// A photo arrived: the pending capture now counts for its hour.
pub fn photo_arrived(p: &mut Progress, pending: &PendingPhoto, catalogue: &Catalogue) {
    let h = p.hours.entry(pending.class_hour).or_default();
    h.captures_passed = h.captures_passed.saturating_add(1);
    if let Some(published) = catalogue.get(&pending.course) {
        p.complete_hours(&published.rules);
    }
}

/// What a time rule found: the flag, its detail, and the other device's record it
/// collides with (concurrent study).
type Breach<'a> = (&'static str, String, Option<&'a Interval>);

/// The time rules of a credited segment `[start, end]` (see the module docs).
fn time_check<'a>(
    device: &DeviceFold,
    seq: u64,
    start: i64,
    end: i64,
    cx: &Context<'a>,
) -> Option<Breach<'a>> {
    let a = cx.anchor;
    if a.enforced {
        if end > a.received_ms.saturating_add(a.skew_ms) {
            return Some((
                "future_stamped",
                format!(
                    "ends at {end}, after it reached the platform ({})",
                    a.received_ms
                ),
                None,
            ));
        }
        let (lower, upper) = device.bounds(seq);
        if end < lower.saturating_sub(a.skew_ms) {
            return Some((
                "backdated",
                format!("ends at {end}, before the device's contact at {lower} when its journal did not hold it"),
                None,
            ));
        }
        if let Some(u) = upper {
            if end > u.saturating_add(a.skew_ms) {
                return Some((
                    "future_stamped",
                    format!("ends at {end}, after the contact at {u} when the device's journal already held it"),
                    None,
                ));
            }
        }
        if start < device.last_end_ms {
            return Some((
                "overlap_same_device",
                format!(
                    "wall time {start}..{end} overlaps this device's earlier credited study (until {})",
                    device.last_end_ms
                ),
                None,
            ));
        }
    }
    // Study on another of the learner's devices at the same moment is named as
    // such (R-ID-3), also when this device's lease had been superseded by the
    // other's sign-in meanwhile: the more telling of the two reasons.
    if let Some(o) = cx
        .others
        .iter()
        .find(|o| o.device_id != cx.device_id && o.start_ms < end && start < o.end_ms)
    {
        return Some((
            "concurrent_devices",
            format!(
                "overlaps device {} record {} in wall time (R-ID-3)",
                o.device_id, o.seq
            ),
            Some(o),
        ));
    }
    if !cx
        .leases
        .iter()
        .any(|l| l.from_ms <= start && end <= l.until_ms)
    {
        return Some((
            "outside_lease",
            format!("wall time {start}..{end} is not inside a valid lease of this device"),
            None,
        ));
    }
    None
}
