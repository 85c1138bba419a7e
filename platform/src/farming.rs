//! Course-farming checks (刷课, issue 13 item 3, R-SV-3): a versioned rule set run
//! over the learning trails the platform derived from signed records, each finding
//! citing its evidence (device, seq range, record hashes) and the value it was
//! judged against, so a learner can appeal and a reviewer can check; a review
//! workflow (confirm or dismiss with a reason, audit-logged); confirmed findings
//! take the affected study out of credit and settlement (`results.rs`).
//!
//! The checks are pure functions over a [`Trail`] (one learner) and over all trails
//! (rules across learners); [`run`] loads the trails, runs them and stores new
//! findings (one per rule, learner and key: running again adds nothing twice).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::catalogue::Catalogue;
pub use crate::observation::Observation;
use crate::store::u;
use crate::store::{Store, StoreError};

/// Learners whose trails the nightly job holds at once.
pub const TRAIL_SLICE: usize = 500;

/// The version of the rule set; stored with every finding.
pub const RULES_VERSION: &str = "farming-rules/1";

pub use crate::calendar::CHINA_OFFSET_MS;
use crate::calendar::{day_label, day_of, time_of_day_ms};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Likely farming: review before paying.
    Medium,
    /// The records contradict themselves or the platform's clock.
    High,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// One rule of the set.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rule {
    /// Stable id.
    pub id: &'static str,
    /// Severity of its findings.
    pub severity: Severity,
    /// The value it judges by (a profile parameter, or this rule set's constant).
    pub reads: &'static str,
    /// What it finds.
    pub finds: &'static str,
    /// Whether it runs (a rule waiting for a capability says so).
    pub active: bool,
}

/// Sessions on at least this many days make a regularity check meaningful.
pub const REGULAR_MIN_SESSIONS: usize = 5;
/// Session lengths this close (standard deviation, ms) across days look scripted.
pub const REGULAR_LENGTH_STDDEV_MS: f64 = 60_000.0;
/// Session start times of day this close (standard deviation, ms) look scripted.
pub const REGULAR_START_STDDEV_MS: f64 = 10.0 * 60_000.0;
/// Fewer seconds than this per question between a quiz's questions and its answers.
pub const QUIZ_MIN_SECONDS_PER_QUESTION: i64 = 2;
/// This many learners credited at the same moment from one network address.
pub const SHARED_ADDRESS_LEARNERS: usize = 3;
/// More devices than this enrolled within [`DEVICE_WINDOW_MS`].
pub const DEVICE_CHANGES: usize = 3;
/// The window of [`DEVICE_CHANGES`].
pub const DEVICE_WINDOW_MS: i64 = 30 * 24 * 3_600_000;
/// A passed capture whose photo has not arrived after this long is missing.
pub const PHOTO_GRACE_MS: i64 = 24 * 3_600_000;
/// Study sessions: credited intervals less than this apart are one session.
pub const SESSION_GAP_MS: i64 = 5 * 60_000;

/// The rule set.
pub const RULES: &[Rule] = &[
    Rule { id: "credit_faster_than_clock", severity: Severity::High, reads: "the platform's clock and the records' own clocks (serve --skew-secs)", finds: "credit claimed faster than time passed, future-stamped or backdated records", active: true },
    Rule { id: "overlapping_devices", severity: Severity::High, reads: "R-ID-3 (one account, one place)", finds: "study credited on two devices at the same time", active: true },
    Rule { id: "shared_address", severity: Severity::Medium, reads: "SHARED_ADDRESS_LEARNERS = 3", finds: "one network address with several learners credited at the same moment", active: true },
    Rule { id: "daily_cap", severity: Severity::Medium, reads: "profile daily_study_cap_minutes", finds: "credited study in one day (China time) above the cap", active: true },
    Rule { id: "study_window", severity: Severity::Low, reads: "profile study_window_hours", finds: "credited study outside the hours of the day study is expected in", active: true },
    Rule { id: "regular_sessions", severity: Severity::Medium, reads: "REGULAR_MIN_SESSIONS = 5, REGULAR_LENGTH_STDDEV_MS = 60 s, REGULAR_START_STDDEV_MS = 10 min", finds: "sessions of near-identical length starting at near-identical times on many days", active: true },
    Rule { id: "fast_quiz", severity: Severity::Medium, reads: "QUIZ_MIN_SECONDS_PER_QUESTION = 2", finds: "quiz answers given faster than the questions can be read", active: true },
    Rule { id: "identical_answers", severity: Severity::Medium, reads: "identical answer sequences with a wrong answer", finds: "the same questions answered the same way, wrong answers included, by different learners", active: true },
    Rule { id: "capture_missing", severity: Severity::High, reads: "R-ST-3; PHOTO_GRACE_MS = 24 h", finds: "passed captures without a photo, photos reused, photos that never arrived", active: true },
    Rule { id: "face_mismatch", severity: Severity::High, reads: "the platform's face check (capture::verify, DEFAULT_THRESHOLD; faces::COPY_DISTANCE)", finds: "capture photos that do not match the enrolment photo, or are a copy of it", active: true },
    Rule { id: "outside_lease", severity: Severity::High, reads: "the offline lease (serve --offline-hours)", finds: "study outside a lease of the device, offline beyond it", active: true },
    Rule { id: "device_changes", severity: Severity::Low, reads: "DEVICE_CHANGES = 3 in DEVICE_WINDOW_MS = 30 days", finds: "frequent new devices", active: true },
];

/// A record range of one device cited as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Device (hex).
    pub device: String,
    /// First seq.
    pub seq_from: u64,
    /// Last seq.
    pub seq_to: u64,
    /// Record hashes in the range (at most [`MAX_HASHES`]).
    pub hashes: Vec<String>,
}

/// Hashes cited per evidence range at most.
pub const MAX_HASHES: usize = 20;

/// A finding of one rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Rule id.
    pub rule: String,
    /// Severity.
    pub severity: Severity,
    /// Learner id.
    pub learner_id: String,
    /// Course, when the finding is about one.
    pub course: Option<String>,
    /// What distinguishes it from the rule's other findings for the learner (a
    /// day, a seq): running the checks again does not add it twice.
    pub key: String,
    /// What was observed and the limit, as figures (the console words them).
    pub detail: Observation,
    /// What was observed (English, [`Observation::observed_en`]).
    pub observed: String,
    /// What it was judged against (English, [`Observation::limit_en`]).
    pub limit: String,
    /// The clause or constant the limit comes from.
    pub clause: String,
    /// The records.
    pub evidence: Vec<Evidence>,
    /// Credited ms of the study the finding cites (all of it leaves credit once the
    /// finding is confirmed; 0 when it cites records that earned nothing).
    pub affected_ms: u64,
}

/// A credited interval with its record.
#[derive(Debug, Clone)]
pub struct Credited {
    /// Device.
    pub device: String,
    /// Seq of the segment.
    pub seq: u64,
    /// Course.
    pub course: String,
    /// Start, platform time (ms).
    pub start_ms: i64,
    /// End.
    pub end_ms: i64,
    /// Record hash.
    pub hash: String,
}

/// A replay flag with its record.
#[derive(Debug, Clone)]
pub struct Flagged {
    /// Device.
    pub device: String,
    /// Seq.
    pub seq: u64,
    /// Replay flag kind (`credit::FLAG_KINDS`).
    pub kind: String,
    /// Record hash.
    pub hash: String,
    /// When the platform raised the flag (its clock).
    pub at_ms: i64,
}

/// A quiz attempt: when its questions were shown and when answered (the device's
/// signed clock), and what was answered.
#[derive(Debug, Clone)]
pub struct QuizAttempt {
    /// Device.
    pub device: String,
    /// Course.
    pub course: String,
    /// Class hour.
    pub class_hour: u32,
    /// Attempt.
    pub attempt: u32,
    /// `quiz_due` record: seq, wall ms, hash.
    pub due: Option<(u64, i64, String)>,
    /// `quiz_answered` record: seq, wall ms, hash.
    pub answered: (u64, i64, String),
    /// Questions answered.
    pub questions: Vec<String>,
    /// The answers (JSON, compact).
    pub answers: String,
    /// Graded with a wrong answer.
    pub wrong: bool,
}

/// Everything the checks read of one learner.
#[derive(Debug, Clone, Default)]
pub struct Trail {
    /// Learner id.
    pub learner_id: String,
    /// Credited intervals, by start.
    pub credited: Vec<Credited>,
    /// Replay flags.
    pub flags: Vec<Flagged>,
    /// Quiz attempts.
    pub quizzes: Vec<QuizAttempt>,
    /// Devices: (device, enrolled ms).
    pub devices: Vec<(String, i64)>,
    /// Passed captures still waiting for their photo: (device, seq, hash, since ms).
    pub photos_waiting: Vec<(String, u64, String, i64)>,
    /// Lease addresses: (address, from ms, until ms).
    pub addresses: Vec<(String, i64, i64)>,
    /// Capture photos the platform's face check found not to be the learner, or
    /// to be a copy of the enrolment photo.
    pub face_mismatches: Vec<FaceMismatch>,
}

/// A capture photo that is not the registered learner (`faces.rs`), with the
/// capture record that cited it.
#[derive(Debug, Clone)]
pub struct FaceMismatch {
    /// Device of the capture record.
    pub device: String,
    /// Its seq.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
    /// Embedding distance to the enrolment template.
    pub distance: f64,
    /// The threshold.
    pub threshold: f64,
    /// A copy of the enrolment photo rather than someone else.
    pub copy: bool,
}

/// What a course's profile limits (by course id).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Daily cap, ms, and its clause.
    pub daily_cap_ms: i64,
    /// Its clause.
    pub daily_cap_clause: String,
    /// `[from, to)` hours of the day.
    pub window: [u32; 2],
    /// Its clause.
    pub window_clause: String,
}

impl Limits {
    /// The limits of a course's profile.
    pub fn of(catalogue: &Catalogue, course: &str) -> Limits {
        match catalogue.get(course) {
            Some(p) => Limits {
                daily_cap_ms: i64::from(p.policy.daily_study_cap_minutes.value) * 60_000,
                daily_cap_clause: p.policy.daily_study_cap_minutes.clause.clone(),
                window: p.policy.study_window_hours.value,
                window_clause: p.policy.study_window_hours.clause.clone(),
            },
            None => Limits {
                daily_cap_ms: 480 * 60_000,
                daily_cap_clause: "Keshi default (course not in the catalogue)".into(),
                window: [6, 23],
                window_clause: "Keshi default (course not in the catalogue)".into(),
            },
        }
    }
}

fn rule(id: &str) -> Rule {
    RULES
        .iter()
        .copied()
        .find(|r| r.id == id)
        .unwrap_or(RULES[0])
}

/// Evidence ranges of a set of `(device, seq, hash)`: one per device, seq range and
/// the first hashes.
pub fn evidence_of<'a>(items: impl IntoIterator<Item = (&'a str, u64, &'a str)>) -> Vec<Evidence> {
    let mut by: BTreeMap<&str, Vec<(u64, &str)>> = BTreeMap::new();
    for (d, s, h) in items {
        by.entry(d).or_default().push((s, h));
    }
    by.into_iter()
        .map(|(d, mut v)| {
            v.sort_unstable();
            v.dedup();
            Evidence {
                device: d.to_owned(),
                seq_from: v.first().map_or(0, |x| x.0),
                seq_to: v.last().map_or(0, |x| x.0),
                hashes: v.iter().take(MAX_HASHES).map(|x| x.1.to_owned()).collect(),
            }
        })
        .collect()
}

fn stddev(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt()
}

fn minutes(ms: i64) -> f64 {
    ms as f64 / 60_000.0
}

/// The rules about one learner.
pub fn check_learner(t: &Trail, limits: &dyn Fn(&str) -> Limits, now: i64) -> Vec<Finding> {
    let mut out = Vec::new();
    let mk = |id: &str,
              course: Option<&str>,
              key: String,
              detail: Observation,
              clause: String,
              evidence: Vec<Evidence>,
              affected_ms: u64| Finding {
        rule: id.to_owned(),
        severity: rule(id).severity,
        learner_id: t.learner_id.clone(),
        course: course.map(str::to_owned),
        key,
        observed: detail.observed_en(),
        limit: detail.limit_en(),
        detail,
        clause,
        evidence,
        affected_ms,
    };
    // Replay flags, grouped by rule.
    let by_rule: [(&str, &[&str]); 4] = [
        (
            "credit_faster_than_clock",
            &[
                "credit_faster_than_clock",
                "future_stamped",
                "backdated",
                "commitment_broken",
            ],
        ),
        (
            "overlapping_devices",
            &["concurrent_devices", "overlap_same_device"],
        ),
        (
            "capture_missing",
            &["capture_without_photo", "photo_reused"],
        ),
        ("outside_lease", &["outside_lease"]),
    ];
    for (id, kinds) in by_rule {
        // One finding per rule and day the flags were raised (China time): a
        // dismissed finding does not hide later days.
        let mut per_day: BTreeMap<i64, Vec<&Flagged>> = BTreeMap::new();
        for f in t.flags.iter().filter(|f| kinds.contains(&f.kind.as_str())) {
            per_day.entry(day_of(f.at_ms)).or_default().push(f);
        }
        for (day, hits) in per_day {
            let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
            for f in &hits {
                *counts.entry(f.kind.as_str()).or_default() += 1;
            }
            out.push(mk(
                id,
                None,
                day_label(day),
                Observation::Flags {
                    counts: counts.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect(),
                },
                rule(id).reads.into(),
                evidence_of(
                    hits.iter()
                        .map(|f| (f.device.as_str(), f.seq, f.hash.as_str())),
                ),
                0,
            ));
        }
    }
    // Capture photos that are not the learner: one finding per photo.
    for m in &t.face_mismatches {
        out.push(mk(
            "face_mismatch",
            None,
            format!("face:{}:{}", m.device, m.seq),
            if m.copy {
                Observation::EnrolmentCopy {
                    distance: m.distance,
                }
            } else {
                Observation::FaceMismatch {
                    distance: m.distance,
                    threshold: m.threshold,
                }
            },
            rule("face_mismatch").reads.into(),
            evidence_of([(m.device.as_str(), m.seq, m.hash.as_str())]),
            0,
        ));
    }
    // Photos that never arrived.
    let late: Vec<_> = t
        .photos_waiting
        .iter()
        .filter(|p| now - p.3 > PHOTO_GRACE_MS)
        .collect();
    if !late.is_empty() {
        let first = late
            .iter()
            .map(|p| (p.0.as_str(), p.1))
            .min()
            .unwrap_or(("", 0));
        out.push(mk(
            "capture_missing",
            None,
            format!("waiting:{}:{}", first.0, first.1),
            Observation::PhotosWaiting {
                captures: u32::try_from(late.len()).unwrap_or(u32::MAX),
                grace_hours: u32::try_from(PHOTO_GRACE_MS / 3_600_000).unwrap_or(0),
            },
            rule("capture_missing").reads.into(),
            evidence_of(late.iter().map(|p| (p.0.as_str(), p.1, p.2.as_str()))),
            0,
        ));
    }
    // Per day (China time), all courses together: the daily cap (the strictest of
    // the courses studied that day).
    let mut by_day: BTreeMap<i64, Vec<&Credited>> = BTreeMap::new();
    for c in &t.credited {
        by_day.entry(day_of(c.start_ms)).or_default().push(c);
    }
    for (day, list) in &by_day {
        let courses: BTreeSet<&str> = list.iter().map(|c| c.course.as_str()).collect();
        let Some(l) = courses
            .iter()
            .map(|c| limits(c))
            .min_by_key(|l| l.daily_cap_ms)
        else {
            continue;
        };
        let total: i64 = list.iter().map(|c| (c.end_ms - c.start_ms).max(0)).sum();
        if total > l.daily_cap_ms {
            let course = (courses.len() == 1)
                .then(|| courses.iter().next().copied())
                .flatten();
            out.push(mk(
                "daily_cap",
                course,
                day_label(*day),
                Observation::DailyCap {
                    minutes: minutes(total),
                    day: day_label(*day),
                    cap_minutes: minutes(l.daily_cap_ms),
                },
                l.daily_cap_clause.clone(),
                evidence_of(
                    list.iter()
                        .map(|c| (c.device.as_str(), c.seq, c.hash.as_str())),
                ),
                // Confirmed, the whole day's cited study is taken out.
                u64::try_from(total).unwrap_or(0),
            ));
        }
    }
    // Per course and day: the study window of the course's profile.
    let mut days: BTreeMap<(String, i64), Vec<&Credited>> = BTreeMap::new();
    for c in &t.credited {
        days.entry((c.course.clone(), day_of(c.start_ms)))
            .or_default()
            .push(c);
    }
    for ((course, day), list) in &days {
        let l = limits(course);
        let [from, to] = l.window;
        let outside: Vec<&&Credited> = list
            .iter()
            .filter(|c| {
                // Outside if it starts or ends outside the window.
                [c.start_ms, (c.end_ms - 1).max(c.start_ms)]
                    .iter()
                    .any(|&ms| {
                        let h = u32::try_from(time_of_day_ms(ms) / 3_600_000).unwrap_or(0);
                        h < from || h >= to
                    })
            })
            .collect();
        if !outside.is_empty() {
            let ms: i64 = outside.iter().map(|c| (c.end_ms - c.start_ms).max(0)).sum();
            out.push(mk(
                "study_window",
                Some(course),
                day_label(*day),
                Observation::StudyWindow {
                    minutes: minutes(ms),
                    day: day_label(*day),
                    from,
                    to,
                },
                l.window_clause.clone(),
                evidence_of(
                    outside
                        .iter()
                        .map(|c| (c.device.as_str(), c.seq, c.hash.as_str())),
                ),
                u64::try_from(ms).unwrap_or(0),
            ));
        }
    }
    // Sessions: too regular across days.
    let mut by_course: BTreeMap<&str, Vec<&Credited>> = BTreeMap::new();
    for c in &t.credited {
        by_course.entry(c.course.as_str()).or_default().push(c);
    }
    for (course, mut list) in by_course {
        list.sort_by_key(|c| c.start_ms);
        let mut sessions: Vec<Vec<&Credited>> = Vec::new();
        for c in list {
            match sessions.last_mut() {
                Some(s) if c.start_ms - s.last().map_or(0, |l| l.end_ms) <= SESSION_GAP_MS => {
                    s.push(c)
                }
                _ => sessions.push(vec![c]),
            }
        }
        let days: BTreeSet<i64> = sessions
            .iter()
            .filter_map(|s| s.first())
            .map(|c| day_of(c.start_ms))
            .collect();
        if sessions.len() >= REGULAR_MIN_SESSIONS && days.len() >= REGULAR_MIN_SESSIONS {
            let lengths: Vec<f64> = sessions
                .iter()
                .map(|s| {
                    (s.last().map_or(0, |l| l.end_ms) - s.first().map_or(0, |f| f.start_ms)) as f64
                })
                .collect();
            let starts: Vec<f64> = sessions
                .iter()
                .filter_map(|s| s.first())
                .map(|c| time_of_day_ms(c.start_ms) as f64)
                .collect();
            let (sl, ss) = (stddev(&lengths), stddev(&starts));
            if sl < REGULAR_LENGTH_STDDEV_MS && ss < REGULAR_START_STDDEV_MS {
                let all: Vec<&Credited> = sessions.iter().flatten().copied().collect();
                let ms: i64 = all.iter().map(|c| (c.end_ms - c.start_ms).max(0)).sum();
                out.push(mk(
                    "regular_sessions",
                    Some(course),
                    // Keyed by the first day: the same streak, growing, is one finding.
                    day_label(*days.first().unwrap_or(&0)),
                    Observation::RegularSessions {
                        sessions: u32::try_from(sessions.len()).unwrap_or(u32::MAX),
                        days: u32::try_from(days.len()).unwrap_or(u32::MAX),
                        length_sd_s: sl / 1000.0,
                        start_sd_s: ss / 1000.0,
                        length_floor_s: REGULAR_LENGTH_STDDEV_MS / 1000.0,
                        start_floor_s: REGULAR_START_STDDEV_MS / 1000.0,
                    },
                    rule("regular_sessions").reads.into(),
                    evidence_of(
                        all.iter()
                            .map(|c| (c.device.as_str(), c.seq, c.hash.as_str())),
                    ),
                    u64::try_from(ms).unwrap_or(0),
                ));
            }
        }
    }
    // Quizzes answered faster than they can be read.
    for q in &t.quizzes {
        let Some((due_seq, due_ms, due_hash)) = &q.due else {
            continue;
        };
        let took = q.answered.1 - due_ms;
        let min =
            QUIZ_MIN_SECONDS_PER_QUESTION * i64::try_from(q.questions.len()).unwrap_or(0) * 1000;
        if took < min {
            out.push(mk(
                "fast_quiz",
                Some(&q.course),
                format!("{}:{}", q.device, q.answered.0),
                Observation::FastQuiz {
                    questions: u32::try_from(q.questions.len()).unwrap_or(u32::MAX),
                    seconds: took as f64 / 1000.0,
                    class_hour: q.class_hour,
                    attempt: q.attempt,
                    min_seconds: u32::try_from(min / 1000).unwrap_or(0),
                },
                rule("fast_quiz").reads.into(),
                evidence_of([
                    (q.device.as_str(), *due_seq, due_hash.as_str()),
                    (q.device.as_str(), q.answered.0, q.answered.2.as_str()),
                ]),
                0,
            ));
        }
    }
    // Devices enrolled in a short time.
    let mut enrolled: Vec<&(String, i64)> = t.devices.iter().collect();
    enrolled.sort_by_key(|d| d.1);
    for (i, d) in enrolled.iter().enumerate() {
        let within: Vec<&&(String, i64)> = enrolled[i..]
            .iter()
            .take_while(|e| e.1 - d.1 <= DEVICE_WINDOW_MS)
            .collect();
        if within.len() > DEVICE_CHANGES {
            out.push(mk(
                "device_changes",
                None,
                format!("{}", d.1),
                Observation::DeviceChanges {
                    devices: u32::try_from(within.len()).unwrap_or(u32::MAX),
                    max: u32::try_from(DEVICE_CHANGES).unwrap_or(u32::MAX),
                    window_days: u32::try_from(DEVICE_WINDOW_MS / 86_400_000).unwrap_or(0),
                },
                rule("device_changes").reads.into(),
                within
                    .iter()
                    .map(|e| Evidence {
                        device: e.0.clone(),
                        seq_from: 0,
                        seq_to: 0,
                        hashes: Vec::new(),
                    })
                    .collect(),
                0,
            ));
            break;
        }
    }
    out
}

/// The first capture record of `learner` naming photo `sha`: (device, seq, hash,
/// received ms).
async fn capture_record(
    pool: &sqlx::AnyPool,
    learner: &str,
    sha: &str,
) -> Result<Option<(String, u64, String, i64)>, StoreError> {
    let Some(c) = sqlx::query(
        "SELECT device_id, seq, hash, received_ms FROM records WHERE learner_id = $1 AND kind = 'capture_result' \
         AND payload LIKE $2 ORDER BY received_ms LIMIT 1",
    )
    .bind(learner)
    .bind(format!("%{sha}%"))
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some((
        c.try_get(0)?,
        u(c.try_get(1)?),
        c.try_get(2)?,
        c.try_get(3)?,
    )))
}

/// The rules across learners: shared network addresses, identical answers.
pub fn check_across(trails: &[Trail]) -> Vec<Finding> {
    let mut out = Vec::new();
    // Identical answer sequences with a wrong answer.
    /// (course, class hour, questions, answers).
    type Sheet = (String, u32, Vec<String>, String);
    let mut same: HashMap<Sheet, Vec<(&Trail, &QuizAttempt)>> = HashMap::new();
    for t in trails {
        for q in t.quizzes.iter().filter(|q| q.wrong) {
            same.entry((
                q.course.clone(),
                q.class_hour,
                q.questions.clone(),
                q.answers.clone(),
            ))
            .or_default()
            .push((t, q));
        }
    }
    for ((course, hour, _, _), list) in same {
        let learners: BTreeSet<&str> = list.iter().map(|(t, _)| t.learner_id.as_str()).collect();
        if learners.len() < 2 {
            continue;
        }
        for (t, q) in &list {
            let others: Vec<&str> = learners
                .iter()
                .copied()
                .filter(|l| *l != t.learner_id)
                .collect();
            let detail = Observation::IdenticalAnswers {
                class_hour: hour,
                others: others.iter().map(|o| (*o).to_owned()).collect(),
            };
            out.push(Finding {
                rule: "identical_answers".into(),
                severity: rule("identical_answers").severity,
                learner_id: t.learner_id.clone(),
                course: Some(course.clone()),
                key: format!("{}:{}", q.device, q.answered.0),
                observed: detail.observed_en(),
                limit: detail.limit_en(),
                detail,
                clause: rule("identical_answers").reads.into(),
                evidence: evidence_of([(q.device.as_str(), q.answered.0, q.answered.2.as_str())]),
                affected_ms: 0,
            });
        }
    }
    // One address, several learners credited at the same moment.
    let mut by_address: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    for (i, t) in trails.iter().enumerate() {
        for (a, _, _) in &t.addresses {
            by_address.entry(a.as_str()).or_default().insert(i);
        }
    }
    for (address, idx) in by_address {
        if idx.len() < SHARED_ADDRESS_LEARNERS {
            continue;
        }
        // Credited intervals of these learners while their lease came from here.
        let mut events: Vec<(i64, i32, usize, &Credited)> = Vec::new();
        for &i in &idx {
            let t = &trails[i];
            for c in &t.credited {
                if t.addresses
                    .iter()
                    .any(|(a, f, u)| a == address && c.start_ms >= *f && c.start_ms <= *u)
                {
                    events.push((c.start_ms, 1, i, c));
                    events.push((c.end_ms, -1, i, c));
                }
            }
        }
        events.sort_by_key(|e| (e.0, e.1));
        let mut open: BTreeMap<usize, u32> = BTreeMap::new();
        let mut hit: BTreeSet<usize> = BTreeSet::new();
        for (_, d, i, _) in &events {
            let n = open.entry(*i).or_default();
            if *d > 0 {
                *n += 1;
            } else {
                *n = n.saturating_sub(1);
            }
            let at_once = open.values().filter(|n| **n > 0).count();
            if at_once >= SHARED_ADDRESS_LEARNERS {
                hit.extend(open.iter().filter(|(_, n)| **n > 0).map(|(i, _)| *i));
            }
        }
        for &i in &hit {
            let t = &trails[i];
            let mine: Vec<&Credited> = events
                .iter()
                .filter(|e| e.2 == i && e.1 > 0)
                .map(|e| e.3)
                .collect();
            let detail = Observation::SharedAddress {
                learners: u32::try_from(hit.len()).unwrap_or(u32::MAX),
                address: address.to_owned(),
                min: u32::try_from(SHARED_ADDRESS_LEARNERS).unwrap_or(u32::MAX),
            };
            out.push(Finding {
                rule: "shared_address".into(),
                severity: rule("shared_address").severity,
                learner_id: t.learner_id.clone(),
                course: None,
                key: format!(
                    "{address}:{}",
                    day_label(day_of(mine.iter().map(|c| c.start_ms).min().unwrap_or(0)))
                ),
                observed: detail.observed_en(),
                limit: detail.limit_en(),
                detail,
                clause: rule("shared_address").reads.into(),
                evidence: evidence_of(
                    mine.iter()
                        .map(|c| (c.device.as_str(), c.seq, c.hash.as_str())),
                ),
                affected_ms: 0,
            });
        }
    }
    out
}

// ---- Loading trails, storing findings, the review workflow. ----

/// Loads the trails of every learner with devices of the kind asked for (real, or
/// enrolled by `keshi simulate`).
pub async fn load_trails(store: &Store, simulated: bool) -> Result<Vec<Trail>, StoreError> {
    load_trails_in(store, simulated, None).await
}

/// [`load_trails`] of the learners whose ids lie in `[first, last]` (all when
/// `None`): the nightly job reads the platform a slice at a time.
pub async fn load_trails_in(
    store: &Store,
    simulated: bool,
    range: Option<(&str, &str)>,
) -> Result<Vec<Trail>, StoreError> {
    let sim = i64::from(simulated);
    let (first, last) = range.unwrap_or(("", "\u{10ffff}"));
    let mut trails: BTreeMap<String, Trail> = BTreeMap::new();
    let pool = &store.pool;
    for r in
        sqlx::query("SELECT learner_id, device_id, enrolled_ms FROM devices WHERE simulated = $1 AND learner_id >= $2 AND learner_id <= $3")
            .bind(sim)
            .bind(first)
            .bind(last)
            .fetch_all(pool)
            .await?
    {
        let learner: String = r.try_get(0)?;
        let t = trails.entry(learner.clone()).or_insert_with(|| Trail {
            learner_id: learner,
            ..Trail::default()
        });
        t.devices.push((r.try_get(1)?, r.try_get(2)?));
    }
    for r in sqlx::query(
        "SELECT ci.learner_id, ci.device_id, ci.seq, ci.course, ci.start_ms, ci.end_ms, r.hash \
         FROM credit_intervals ci JOIN devices d ON d.device_id = ci.device_id \
         JOIN records r ON r.device_id = ci.device_id AND r.seq = ci.seq \
         WHERE d.simulated = $1 AND ci.learner_id >= $2 AND ci.learner_id <= $3 ORDER BY ci.learner_id, ci.start_ms",
    )
    .bind(sim)
    .bind(first)
    .bind(last)
    .fetch_all(pool)
    .await?
    {
        let learner: String = r.try_get(0)?;
        if let Some(t) = trails.get_mut(&learner) {
            t.credited.push(Credited {
                device: r.try_get(1)?,
                seq: u(r.try_get(2)?),
                course: r.try_get(3)?,
                start_ms: r.try_get(4)?,
                end_ms: r.try_get(5)?,
                hash: r.try_get(6)?,
            });
        }
    }
    for r in sqlx::query(
        "SELECT f.learner_id, f.device_id, f.seq, f.kind, COALESCE(r.hash, ''), f.created_ms FROM flags f \
         JOIN devices d ON d.device_id = f.device_id \
         LEFT JOIN records r ON r.device_id = f.device_id AND r.seq = f.seq WHERE d.simulated = $1 \
         AND f.learner_id >= $2 AND f.learner_id <= $3",
    )
    .bind(sim)
    .bind(first)
    .bind(last)
    .fetch_all(pool)
    .await?
    {
        let learner: String = r.try_get(0)?;
        if let Some(t) = trails.get_mut(&learner) {
            t.flags.push(Flagged {
                device: r.try_get(1)?,
                seq: u(r.try_get(2)?),
                kind: r.try_get(3)?,
                hash: r.try_get(4)?,
                at_ms: r.try_get(5)?,
            });
        }
    }
    // Quizzes: each answer with the questions shown before it on the device.
    let wrong: BTreeSet<(String, u64)> =
        sqlx::query("SELECT device_id, seq FROM quiz_grades WHERE correct < total AND learner_id >= $1 AND learner_id <= $2")
            .bind(first)
            .bind(last)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, u(r.try_get(1)?))))
            .collect::<Result<_, sqlx::Error>>()?;
    let mut due: HashMap<(String, u32, u32), (u64, i64, String)> = HashMap::new();
    let mut course_of: HashMap<String, String> = HashMap::new();
    for r in sqlx::query(
        "SELECT r.learner_id, r.device_id, r.seq, r.kind, r.wall_ms, r.payload, r.hash FROM records r \
         JOIN devices d ON d.device_id = r.device_id \
         WHERE d.simulated = $1 AND r.learner_id >= $2 AND r.learner_id <= $3 \
         AND r.kind IN ('session_start', 'quiz_due', 'quiz_answered') ORDER BY r.device_id, r.seq",
    )
    .bind(sim)
    .bind(first)
    .bind(last)
    .fetch_all(pool)
    .await?
    {
        let learner: String = r.try_get(0)?;
        let device: String = r.try_get(1)?;
        let seq = u(r.try_get(2)?);
        let kind: String = r.try_get(3)?;
        let wall: i64 = r.try_get(4)?;
        let payload: String = r.try_get(5)?;
        let hash: String = r.try_get(6)?;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&payload) else { continue };
        let hour = v["class_hour"].as_u64().and_then(|h| u32::try_from(h).ok()).unwrap_or(0);
        let attempt = v["attempt"].as_u64().and_then(|h| u32::try_from(h).ok()).unwrap_or(0);
        match kind.as_str() {
            "session_start" => {
                if let Some(c) = v["course"].as_str() {
                    course_of.insert(device.clone(), c.to_owned());
                }
            }
            "quiz_due" => {
                due.insert((device.clone(), hour, attempt), (seq, wall, hash));
            }
            _ => {
                let Some(t) = trails.get_mut(&learner) else { continue };
                let questions: Vec<String> = v["questions"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|q| q.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                t.quizzes.push(QuizAttempt {
                    course: course_of.get(&device).cloned().unwrap_or_default(),
                    due: due.remove(&(device.clone(), hour, attempt)),
                    wrong: wrong.contains(&(device.clone(), seq)),
                    device,
                    class_hour: hour,
                    attempt,
                    answered: (seq, wall, hash),
                    questions,
                    answers: v["answers"].to_string(),
                });
            }
        }
    }
    // Capture photos that are not the learner (real study only: simulated photos are
    // a demo's).
    if !simulated {
        for r in sqlx::query(
            "SELECT c.learner_id, c.sha256, k.distance_micro, k.threshold_micro, k.verdict FROM capture_checks k \
             JOIN captures c ON c.sha256 = k.sha256 \
             WHERE k.verdict IN ('mismatch', 'enrolment_copy') AND c.learner_id >= $1 AND c.learner_id <= $2",
        )
        .bind(first)
        .bind(last)
        .fetch_all(pool)
        .await?
        {
            let learner: String = r.try_get(0)?;
            let sha: String = r.try_get(1)?;
            let distance = r.try_get::<Option<i64>, _>(2)?.unwrap_or(0) as f64 / 1e6;
            let threshold = r.try_get::<i64, _>(3)? as f64 / 1e6;
            let copy = r.try_get::<String, _>(4)? == "enrolment_copy";
            let Some(t) = trails.get_mut(&learner) else {
                continue;
            };
            if let Some((device, seq, hash, _)) = capture_record(pool, &learner, &sha).await? {
                t.face_mismatches.push(FaceMismatch {
                    device,
                    seq,
                    hash,
                    distance,
                    threshold,
                    copy,
                });
            }
        }
    }
    // Passed captures whose photo has not arrived: the capture record naming it.
    for r in sqlx::query("SELECT sha256, learner_id FROM pending_photos WHERE simulated = $1 AND learner_id >= $2 AND learner_id <= $3")
        .bind(sim)
        .bind(first)
        .bind(last)
        .fetch_all(pool)
        .await?
    {
        let sha: String = r.try_get(0)?;
        let learner: String = r.try_get(1)?;
        let Some(t) = trails.get_mut(&learner) else {
            continue;
        };
        if let Some(c) = capture_record(pool, &learner, &sha).await? {
            t.photos_waiting.push(c);
        }
    }
    for r in sqlx::query(
        "SELECT learner_id, address, issued_ms, COALESCE(revoked_ms, offline_until_ms) FROM leases \
         WHERE address IS NOT NULL AND learner_id >= $1 AND learner_id <= $2",
    )
    .bind(first)
    .bind(last)
    .fetch_all(pool)
    .await?
    {
        let learner: String = r.try_get(0)?;
        if let Some(t) = trails.get_mut(&learner) {
            t.addresses.push((r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
        }
    }
    Ok(trails.into_values().collect())
}

/// Runs every active rule over every learner and stores the new findings;
/// returns how many were new.
pub async fn run(
    store: &Store,
    catalogue: &Catalogue,
    simulated: bool,
    now: i64,
) -> Result<u64, StoreError> {
    // A slice of learners at a time (memory bounded by the slice, not the
    // platform); what the checks across learners need is kept from each slice: the
    // wrongly answered quizzes, and the credit of learners whose leases came from an
    // address several learners used.
    let sim = i64::from(simulated);
    let shared: HashSet<String> = sqlx::query(
        "SELECT address FROM leases WHERE address IS NOT NULL GROUP BY address \
         HAVING COUNT(DISTINCT learner_id) >= $1",
    )
    .bind(i64::try_from(SHARED_ADDRESS_LEARNERS).unwrap_or(i64::MAX))
    .fetch_all(&store.pool)
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<Result<_, _>>()?;
    let ids: Vec<String> = sqlx::query(
        "SELECT DISTINCT learner_id FROM devices WHERE simulated = $1 ORDER BY learner_id",
    )
    .bind(sim)
    .fetch_all(&store.pool)
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<Result<_, _>>()?;
    let limits = |course: &str| Limits::of(catalogue, course);
    let mut found = Vec::new();
    let mut across = Vec::new();
    for slice in ids.chunks(TRAIL_SLICE) {
        let (Some(first), Some(last)) = (slice.first(), slice.last()) else {
            continue;
        };
        for mut t in load_trails_in(store, simulated, Some((first, last))).await? {
            found.extend(check_learner(&t, &limits, now));
            // (`retain` keeps the allocation: shrink, or every slice stays resident.)
            t.quizzes.retain(|q| q.wrong);
            t.quizzes.shrink_to_fit();
            if !t.addresses.iter().any(|(a, _, _)| shared.contains(a)) {
                t.credited = Vec::new();
            }
            t.flags = Vec::new();
            t.photos_waiting = Vec::new();
            t.face_mismatches = Vec::new();
            t.devices = Vec::new();
            across.push(t);
        }
    }
    found.extend(check_across(&across));
    let mut tx = store.begin_write().await?;
    let mut new = 0;
    for f in &found {
        new += sqlx::query(
            "INSERT INTO findings(id, rules_version, rule, severity, learner_id, course, dedupe, observed, limit_value, \
             clause, evidence, affected_ms, status, created_ms, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'open', $13, $14) \
             ON CONFLICT (rule, learner_id, dedupe) DO NOTHING",
        )
        .bind(crate::store::random_id())
        .bind(RULES_VERSION)
        .bind(&f.rule)
        .bind(f.severity.as_str())
        .bind(&f.learner_id)
        .bind(&f.course)
        .bind(&f.key)
        .bind(&f.observed)
        .bind(&f.limit)
        .bind(&f.clause)
        .bind(serde_json::to_string(&f.evidence).unwrap_or_default())
        .bind(i64::try_from(f.affected_ms).unwrap_or(i64::MAX))
        .bind(now)
        .bind(serde_json::to_string(&f.detail).unwrap_or_default())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    tx.commit().await?;
    Ok(new)
}

/// A stored finding, as `admin flags` and the console show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredFinding {
    /// Id (for the review).
    pub id: String,
    /// Rule id.
    pub rule: String,
    /// The rule set's version.
    pub rules_version: String,
    /// Severity.
    pub severity: String,
    /// Learner login name.
    pub learner: String,
    /// Course.
    pub course: Option<String>,
    /// Observed.
    pub observed: String,
    /// Judged against.
    pub limit: String,
    /// Where the limit comes from.
    pub clause: String,
    /// The records.
    pub evidence: Vec<Evidence>,
    /// Credited ms taken out once confirmed.
    pub affected_ms: u64,
    /// `open`, `confirmed` or `dismissed`.
    pub status: String,
    /// Who reviewed.
    pub reviewer: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// Found at (platform ms).
    pub created_ms: i64,
    /// The figures of `observed` and `limit`, for wording them in the reader's
    /// language (none for findings stored before they were kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Observation>,
}

/// The findings in `scope`, of one learner (login name) or all, newest first.
pub async fn list(
    store: &Store,
    scope: &crate::staff::Scope,
    learner: Option<&str>,
) -> Result<Vec<StoredFinding>, StoreError> {
    select(store, scope, learner, None).await
}

/// One finding by id, if in `scope`.
pub async fn find(
    store: &Store,
    scope: &crate::staff::Scope,
    id: &str,
) -> Result<Option<StoredFinding>, StoreError> {
    Ok(select(store, scope, None, Some(id))
        .await?
        .into_iter()
        .next())
}

async fn select(
    store: &Store,
    scope: &crate::staff::Scope,
    learner: Option<&str>,
    id: Option<&str>,
) -> Result<Vec<StoredFinding>, StoreError> {
    let (cond, values) = scope.condition(3);
    let sql = format!(
        "SELECT f.id, f.rule, f.rules_version, f.severity, l.username, f.course, f.observed, f.limit_value, \
         f.clause, f.evidence, f.affected_ms, f.status, f.reviewer, f.reason, f.created_ms, f.detail \
         FROM findings f JOIN learners l ON l.id = f.learner_id JOIN institutions i ON i.id = l.institution_id \
         WHERE ($1 = '' OR l.username = $1) AND ($2 = '' OR f.id = $2) AND {cond} \
         ORDER BY f.created_ms DESC, f.rule, f.id LIMIT 5000"
    );
    let mut q = sqlx::query(&sql)
        .bind(learner.unwrap_or(""))
        .bind(id.unwrap_or(""));
    for v in &values {
        q = q.bind(v);
    }
    q.fetch_all(&store.pool)
        .await?
        .iter()
        .map(|r| {
            let evidence: String = r.try_get(9)?;
            Ok(StoredFinding {
                id: r.try_get(0)?,
                rule: r.try_get(1)?,
                rules_version: r.try_get(2)?,
                severity: r.try_get(3)?,
                learner: r.try_get(4)?,
                course: r.try_get(5)?,
                observed: r.try_get(6)?,
                limit: r.try_get(7)?,
                clause: r.try_get(8)?,
                evidence: serde_json::from_str(&evidence)
                    .map_err(|e| StoreError::Corrupt(format!("finding evidence: {e}")))?,
                affected_ms: u(r.try_get(10)?),
                status: r.try_get(11)?,
                reviewer: r.try_get(12)?,
                reason: r.try_get(13)?,
                created_ms: r.try_get(14)?,
                // Findings stored before the column have their English text only.
                detail: r
                    .try_get::<Option<String>, _>(15)?
                    .and_then(|d| serde_json::from_str(&d).ok()),
            })
        })
        .collect()
}

/// A reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Farming: the affected study leaves credit and settlement.
    Confirm,
    /// Not farming.
    Dismiss,
}

/// Why a review was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// No such finding in the reviewer's scope.
    #[error("no finding {0} in your scope")]
    NotFound(String),
    /// Already reviewed.
    #[error("finding {id} was already {status}")]
    Reviewed {
        /// Id.
        id: String,
        /// Its status.
        status: String,
    },
    /// A decision needs a reason.
    #[error("a review needs a reason")]
    NoReason,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Confirms or dismisses an open finding, with a reason, audit-logged
/// (`finding.confirm` / `finding.dismiss`, before and after).
pub async fn review(
    store: &Store,
    scope: &crate::staff::Scope,
    id: &str,
    decision: Decision,
    reason: &str,
    actor: &str,
    now: i64,
) -> Result<StoredFinding, ReviewError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ReviewError::NoReason);
    }
    let found = find(store, scope, id)
        .await?
        .ok_or_else(|| ReviewError::NotFound(id.to_owned()))?;
    if found.status != "open" {
        return Err(ReviewError::Reviewed {
            id: id.to_owned(),
            status: found.status,
        });
    }
    let status = match decision {
        Decision::Confirm => "confirmed",
        Decision::Dismiss => "dismissed",
    };
    let inst: Option<String> = sqlx::query(
        "SELECT l.institution_id FROM findings f JOIN learners l ON l.id = f.learner_id WHERE f.id = $1",
    )
    .bind(id)
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::from)?
    .map(|r| r.try_get(0))
    .transpose()
    .map_err(StoreError::from)?;
    let mut tx = store.begin_write().await.map_err(StoreError::from)?;
    let n = sqlx::query(
        "UPDATE findings SET status = $1, reviewer = $2, reason = $3, reviewed_ms = $4 WHERE id = $5 AND status = 'open'",
    )
    .bind(status)
    .bind(actor)
    .bind(reason)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?
    .rows_affected();
    if n != 1 {
        return Err(ReviewError::Reviewed {
            id: id.to_owned(),
            status: "reviewed meanwhile".into(),
        });
    }
    let before =
        serde_json::json!({"status": "open", "rule": found.rule, "learner": found.learner});
    let after = serde_json::json!({"status": status, "reason": reason});
    crate::staff::append_audit(
        &mut tx,
        &crate::staff::AuditRow {
            actor,
            action: match decision {
                Decision::Confirm => "finding.confirm",
                Decision::Dismiss => "finding.dismiss",
            },
            target: id,
            institution_id: inst.as_deref(),
            region: None,
            before: Some(&before),
            after: Some(&after),
        },
        now,
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(StoredFinding {
        status: status.to_owned(),
        reviewer: Some(actor.to_owned()),
        reason: Some(reason.to_owned()),
        ..found
    })
}

/// The confirmed findings of a course: per learner id, the evidence ranges and the
/// credited ms they take out.
pub async fn confirmed(
    store: &Store,
    course: &str,
) -> Result<BTreeMap<String, (u32, Vec<Evidence>, u64)>, StoreError> {
    let mut out: BTreeMap<String, (u32, Vec<Evidence>, u64)> = BTreeMap::new();
    for r in sqlx::query(
        "SELECT learner_id, evidence, affected_ms FROM findings WHERE status = 'confirmed' AND (course = $1 OR course IS NULL)",
    )
    .bind(course)
    .fetch_all(&store.pool)
    .await?
    {
        let learner: String = r.try_get(0)?;
        let ev: String = r.try_get(1)?;
        let ev: Vec<Evidence> =
            serde_json::from_str(&ev).map_err(|e| StoreError::Corrupt(format!("finding evidence: {e}")))?;
        let e = out.entry(learner).or_default();
        e.0 += 1;
        e.1.extend(ev);
        e.2 += u(r.try_get(2)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-02 00:00 China time, in Unix ms.
    const DAY0: i64 = 1_793_577_600_000 - CHINA_OFFSET_MS;
    const H: i64 = 3_600_000;
    const M: i64 = 60_000;

    fn limits(_: &str) -> Limits {
        Limits {
            daily_cap_ms: 480 * M,
            daily_cap_clause: "cap clause".into(),
            window: [6, 23],
            window_clause: "window clause".into(),
        }
    }

    /// Credited 10-minute segments from `start` for `minutes`.
    fn study(dev: &str, seq0: u64, start: i64, minutes: i64) -> Vec<Credited> {
        (0..minutes / 10)
            .map(|k| Credited {
                device: dev.into(),
                seq: seq0 + u64::try_from(k).unwrap(),
                course: "c1".into(),
                start_ms: start + k * 10 * M,
                end_ms: start + (k + 1) * 10 * M,
                hash: format!("h{}", seq0 + u64::try_from(k).unwrap()),
            })
            .collect()
    }

    fn trail(id: &str, credited: Vec<Credited>) -> Trail {
        Trail {
            learner_id: id.into(),
            credited,
            ..Trail::default()
        }
    }

    fn rules_of(found: &[Finding]) -> Vec<&str> {
        found.iter().map(|f| f.rule.as_str()).collect()
    }

    #[test]
    fn the_calendar_is_china_time() {
        assert_eq!(day_label(day_of(DAY0)), "2026-11-02");
        assert_eq!(day_label(day_of(DAY0 - 1)), "2026-11-01");
        assert_eq!(time_of_day_ms(DAY0 + 21 * H), 21 * H);
    }

    #[test]
    fn an_honest_evening_raises_nothing() {
        // Three days, 90 minutes from 19:00, then 60 minutes from 20:30, then 45 at 12:10.
        let mut c = study("d1", 1, DAY0 + 19 * H, 90);
        c.extend(study("d1", 20, DAY0 + 24 * H + 20 * H + 30 * M, 60));
        c.extend(study("d1", 40, DAY0 + 48 * H + 12 * H + 10 * M, 40));
        assert!(check_learner(&trail("a", c), &limits, DAY0 + 72 * H).is_empty());
    }

    #[test]
    fn night_study_and_a_day_over_the_cap_are_cited_with_their_records() {
        // 23:30–00:30 crosses midnight: 30 min on each day, both outside 06–23.
        let mut c = study("d1", 1, DAY0 + 23 * H + 30 * M, 60);
        // 9 hours on day 2 (07:00–16:00).
        c.extend(study("d1", 100, DAY0 + 24 * H + 7 * H, 540));
        let found = check_learner(&trail("n", c), &limits, DAY0 + 72 * H);
        assert_eq!(
            rules_of(&found),
            ["daily_cap", "study_window", "study_window"],
            "{found:#?}"
        );
        let cap = &found[0];
        assert_eq!(cap.key, "2026-11-03");
        // The day's 9 h 30 min (the night's 30 min and the 9 hours), over 8 h: all of
        // it is cited, and all of it leaves credit if the finding is confirmed.
        assert_eq!(cap.affected_ms, u64::try_from(570 * M).unwrap());
        assert!(
            cap.observed.starts_with("570.0 min credited on 2026-11-03"),
            "{}",
            cap.observed
        );
        assert_eq!(cap.limit, "480.0 min");
        assert_eq!(cap.clause, "cap clause");
        assert_eq!((cap.evidence[0].seq_from, cap.evidence[0].seq_to), (4, 153));
        assert_eq!(cap.evidence[0].hashes.len(), MAX_HASHES);
        let night = &found[1];
        assert_eq!(
            (night.key.as_str(), night.affected_ms),
            ("2026-11-02", u64::try_from(30 * M).unwrap())
        );
        assert_eq!(
            (night.evidence[0].seq_from, night.evidence[0].seq_to),
            (1, 3)
        );
        let after_midnight = &found[2];
        assert_eq!(after_midnight.key, "2026-11-03");
        assert_eq!(
            (
                after_midnight.evidence[0].seq_from,
                after_midnight.evidence[0].seq_to
            ),
            (4, 6)
        );
    }

    #[test]
    fn a_bot_with_identical_sessions_every_day_is_too_regular() {
        let mut bot = Vec::new();
        let mut person = Vec::new();
        for day in 0..7 {
            bot.extend(study(
                "b",
                1 + day * 10,
                DAY0 + i64::try_from(day).unwrap() * 24 * H + 9 * H,
                50,
            ));
            // A person: other lengths, other times.
            let d = i64::try_from(day).unwrap();
            person.extend(study(
                "p",
                1 + day * 10,
                DAY0 + d * 24 * H + (8 + (d * 5) % 11) * H,
                30 + (d % 4) * 20,
            ));
        }
        let found = check_learner(&trail("bot", bot), &limits, DAY0);
        assert_eq!(rules_of(&found), ["regular_sessions"]);
        assert_eq!(found[0].key, "2026-11-02");
        assert!(
            found[0]
                .observed
                .starts_with("7 sessions on 7 days: length σ 0 s, start time σ 0 s"),
            "{}",
            found[0].observed
        );
        assert_eq!(found[0].affected_ms, u64::try_from(7 * 50 * M).unwrap());
        assert!(check_learner(&trail("p", person), &limits, DAY0).is_empty());
    }

    fn quiz(
        dev: &str,
        seq: u64,
        due_ms: i64,
        answered_ms: i64,
        answers: &str,
        wrong: bool,
    ) -> QuizAttempt {
        QuizAttempt {
            device: dev.into(),
            course: "c1".into(),
            class_hour: 1,
            attempt: 1,
            due: Some((seq - 1, due_ms, format!("due{seq}"))),
            answered: (seq, answered_ms, format!("ans{seq}")),
            questions: (1..=5).map(|q| format!("q{q}")).collect(),
            answers: answers.into(),
            wrong,
        }
    }

    #[test]
    fn quizzes_too_fast_and_wrong_answers_shared_are_found() {
        let mut fast = trail("fast", Vec::new());
        fast.quizzes
            .push(quiz("f", 9, DAY0, DAY0 + 4_000, "[1,1,1,1,1]", false));
        let mut slow = trail("slow", Vec::new());
        slow.quizzes
            .push(quiz("s", 9, DAY0, DAY0 + 60_000, "[1,2,1,1,1]", true));
        let mut copy = trail("copy", Vec::new());
        copy.quizzes
            .push(quiz("c", 7, DAY0, DAY0 + 50_000, "[1,2,1,1,1]", true));
        let mut right = trail("right", Vec::new());
        right
            .quizzes
            .push(quiz("r", 7, DAY0, DAY0 + 50_000, "[1,1,1,1,1]", false));
        let found = check_learner(&fast, &limits, DAY0);
        assert_eq!(rules_of(&found), ["fast_quiz"]);
        assert_eq!(
            found[0].observed,
            "5 questions answered in 4.0 s (class hour 1, attempt 1)"
        );
        assert_eq!(found[0].evidence[0].hashes, ["due9", "ans9"]);
        assert!(check_learner(&slow, &limits, DAY0).is_empty());
        let mut across = check_across(&[fast, slow, copy, right]);
        across.sort_by(|a, b| a.learner_id.cmp(&b.learner_id));
        assert_eq!(
            rules_of(&across),
            ["identical_answers", "identical_answers"]
        );
        assert_eq!(
            (across[0].learner_id.as_str(), across[1].learner_id.as_str()),
            ("copy", "slow")
        );
    }

    #[test]
    fn five_accounts_on_one_address_at_once_are_found_and_an_office_of_two_is_not() {
        let mut trails: Vec<Trail> = (0..5)
            .map(|i| {
                let mut t = trail(
                    &format!("acct{i}"),
                    study(&format!("d{i}"), 1, DAY0 + 10 * H, 60),
                );
                t.addresses
                    .push(("10.0.0.9".into(), DAY0 + 9 * H, DAY0 + 12 * H));
                t
            })
            .collect();
        for i in 0..2 {
            let mut t = trail(
                &format!("office{i}"),
                study(&format!("o{i}"), 1, DAY0 + 10 * H, 60),
            );
            t.addresses
                .push(("10.0.0.7".into(), DAY0 + 9 * H, DAY0 + 12 * H));
            trails.push(t);
        }
        let found = check_across(&trails);
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(found
            .iter()
            .all(|f| f.rule == "shared_address" && f.key == "10.0.0.9:2026-11-02"));
        assert_eq!(
            found[0].observed,
            "5 learners credited at the same moment from 10.0.0.9"
        );
    }

    #[test]
    fn replay_flags_become_findings_of_their_rule() {
        let mut t = trail("two", Vec::new());
        for (seq, kind) in [
            (5, "concurrent_devices"),
            (6, "concurrent_devices"),
            (9, "outside_lease"),
            (3, "capture_without_photo"),
        ] {
            t.flags.push(Flagged {
                device: "d2".into(),
                seq,
                kind: kind.into(),
                hash: format!("h{seq}"),
                at_ms: DAY0,
            });
        }
        let found = check_learner(&t, &limits, DAY0);
        assert_eq!(
            rules_of(&found),
            ["overlapping_devices", "capture_missing", "outside_lease"]
        );
        assert_eq!(found[0].observed, "2 × concurrent_devices");
        assert_eq!(
            (found[0].evidence[0].seq_from, found[0].evidence[0].seq_to),
            (5, 6)
        );
        assert!(RULES.iter().all(|r| !r.reads.is_empty() && r.active));
    }

    #[test]
    fn a_capture_photo_of_someone_else_is_a_finding_citing_its_record() {
        let mut t = trail("sub", Vec::new());
        t.face_mismatches.push(FaceMismatch {
            device: "d1".into(),
            seq: 42,
            hash: "h42".into(),
            distance: 0.71,
            threshold: 0.5,
            copy: false,
        });
        let found = check_learner(&t, &limits, DAY0);
        assert_eq!(rules_of(&found), ["face_mismatch"]);
        assert_eq!(
            found[0].observed,
            "the capture photo is not the enrolled learner (distance 0.710)"
        );
        assert_eq!(found[0].limit, "distance below 0.500");
        assert_eq!(found[0].evidence[0].hashes, ["h42"]);
    }

    #[test]
    fn four_devices_in_a_month_are_frequent_changes() {
        let mut t = trail("dev", Vec::new());
        for (i, day) in [0, 3, 9, 20].iter().enumerate() {
            t.devices.push((format!("d{i}"), DAY0 + day * 24 * H));
        }
        assert_eq!(
            rules_of(&check_learner(&t, &limits, DAY0)),
            ["device_changes"]
        );
        t.devices[3].1 = DAY0 + 40 * 24 * H;
        assert!(check_learner(&t, &limits, DAY0).is_empty());
    }
}
