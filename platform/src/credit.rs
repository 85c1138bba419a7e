//! Credit and class hours as the platform derives them (R-ST-5, R-AS-4, R-SV-3):
//! the flags it raises, and the batch re-derivation of a learner's credit from the
//! stored records alone ([`derive()`]: the same replay as ingest, from empty state,
//! in arrival order — for audits and tests; the service itself folds each push
//! incrementally, see [`crate::replay`]).
//!
//! Flags (each keeps the record's credit out):
//! - `credit_faster_than_clock`: a segment covers more course time than its own
//!   clock allows (+1 s), or its `credited_ms` disagrees with its ranges;
//! - `bad_ranges`: its ranges are empty, unordered, overlapping, or outside the
//!   course or its own start and end positions;
//! - `malformed_payload`: a payload that does not fit its kind;
//! - `unknown_course`: a session of a course the catalogue does not hold;
//! - `future_stamped`: a record stamped after it reached the platform (beyond the
//!   clock skew allowed), or after a contact at which the device already held it;
//! - `backdated`: stamped before a contact at which the device did not hold it yet;
//! - `overlap_same_device`: a segment overlapping the device's earlier credited
//!   study in wall time;
//! - `outside_lease`: a segment not inside a lease of its device (server times);
//! - `concurrent_devices`: a segment overlapping a credited segment of another of
//!   the learner's devices (R-ID-3); the one that arrived later earns nothing;
//! - `capture_without_photo`: a passed capture that names no image.
//!
//! Pure: no I/O, no clock.

use std::collections::BTreeMap;

use keshi_protocol::fold::Progress;
use serde::Serialize;

use crate::catalogue::Catalogue;
pub use crate::replay::DeviceFold;
pub use crate::replay::Flag;
use crate::replay::{replay, Anchor, Context, Interval, Row, Window};

/// Every flag kind, as stored.
pub const FLAG_KINDS: &[&str] = &[
    "credit_faster_than_clock",
    "bad_ranges",
    "malformed_payload",
    "unknown_course",
    "future_stamped",
    "backdated",
    "overlap_same_device",
    "outside_lease",
    "concurrent_devices",
    "capture_without_photo",
    "photo_reused",
    "quiz_cooldown",
    "quiz_not_drawn",
    "commitment_broken",
];

/// The static name of a stored flag kind (`unknown` for a kind this build does not
/// know).
pub fn flag_kind(s: &str) -> &'static str {
    FLAG_KINDS
        .iter()
        .find(|k| **k == s)
        .copied()
        .unwrap_or("unknown")
}

/// One stored record, as a re-derivation needs it.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    /// Device (hex).
    pub device_id: String,
    /// Seq.
    pub seq: u64,
    /// Kind.
    pub kind: String,
    /// Header wall clock, Unix ms (the device's claim).
    pub wall_ms: i64,
    /// When the platform received it (its own clock).
    pub received_ms: i64,
    /// Payload bytes as stored.
    pub payload: String,
}

/// A lease interval of one device: `[from_ms, until_ms]`, server times.
#[derive(Debug, Clone)]
pub struct LeaseWindow {
    /// Device (hex).
    pub device_id: String,
    /// Issued.
    pub from_ms: i64,
    /// End: revocation or offline-lease end, whichever first.
    pub until_ms: i64,
}

/// One course as the platform derives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CourseCredit {
    /// Credited ms.
    pub credited_ms: u64,
    /// Class hours completed (credit, captures with photos, quiz graded here).
    pub class_hours_completed: u32,
    /// Class hours the course offers.
    pub class_hours_total: u32,
}

/// The re-derived credit of one learner.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CreditReport {
    /// Total credited ms over all courses.
    pub credited_ms: u64,
    /// Per course id.
    pub courses: BTreeMap<String, CourseCredit>,
    /// Segment records considered.
    pub segments: u64,
    /// Findings.
    pub flags: Vec<Flag>,
}

/// The summary of a learner's progress per course under `catalogue`.
pub fn course_credit(p: &Progress, course: &str, catalogue: &Catalogue) -> CourseCredit {
    CourseCredit {
        credited_ms: p.credited_ms(),
        class_hours_completed: p.class_hours_completed(),
        class_hours_total: catalogue.get(course).map_or(0, |c| c.rules.class_hours),
    }
}

/// Everything ingest derives for one learner, derived again from the stored records
/// alone ([`rederive`]): what `keshi-platform admin rederive` writes back (a
/// database from before the derived tables, a course published after its records
/// arrived).
#[derive(Debug, Default)]
pub struct Rederived {
    /// What each device's pushes derived, as ingest writes it beside them.
    pub devices: BTreeMap<String, DeviceRederived>,
    /// Progress per `(course, simulated)`, with violation counts by code.
    pub progress: BTreeMap<(String, bool), (Progress, BTreeMap<String, u32>)>,
    /// Segment records considered.
    pub segments: u64,
}

/// What one device's pushes derived ([`Rederived::devices`]).
#[derive(Debug, Default)]
pub struct DeviceRederived {
    /// The device's fold state.
    pub fold: DeviceFold,
    /// Enrolled by `keshi simulate`.
    pub simulated: bool,
    /// Credited intervals.
    pub intervals: Vec<Interval>,
    /// Findings raised by its pushes.
    pub flags: Vec<Flag>,
    /// Passed captures whose photo has not arrived.
    pub pending: Vec<crate::replay::PendingPhoto>,
    /// Photos claimed as a capture's evidence: `(sha256, seq)`.
    pub claims: Vec<(String, u64)>,
    /// Quiz answers graded.
    pub grades: Vec<crate::replay::GradeRow>,
}

/// Replays a learner's stored records in the order they arrived (each device's runs
/// of one arrival time as one push), from empty state, exactly as ingest does:
/// `simulated` says which devices `keshi simulate` enrolled (their time is not
/// anchored and their credit is kept apart), `photo_received` whether a capture
/// image reached the platform, `skew_ms` the clock skew allowed. Contacts other
/// than the pushes themselves are not stored, so their bounds are not re-applied:
/// the result is at least what ingest credited.
pub fn rederive(
    records: &[StoredRecord],
    simulated: &dyn Fn(&str) -> bool,
    leases: &[LeaseWindow],
    catalogue: &Catalogue,
    photo_received: &dyn Fn(&str) -> bool,
    skew_ms: i64,
    draw_seed: &[u8],
) -> Rederived {
    let mut sorted: Vec<&StoredRecord> = records.iter().collect();
    sorted.sort_by(|a, b| {
        (a.received_ms, &a.device_id, a.seq).cmp(&(b.received_ms, &b.device_id, b.seq))
    });
    let mut out = Rederived::default();
    let mut intervals: Vec<Interval> = Vec::new();
    let mut claimed: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut i = 0;
    while i < sorted.len() {
        let first = sorted[i];
        let mut j = i;
        while j < sorted.len()
            && sorted[j].device_id == first.device_id
            && sorted[j].received_ms == first.received_ms
        {
            j += 1;
        }
        let run = &sorted[i..j];
        out.segments += run.iter().filter(|r| r.kind == "segment").count() as u64;
        let rows: Vec<Row<'_>> = run
            .iter()
            .map(|r| Row {
                seq: r.seq,
                kind: &r.kind,
                wall_ms: r.wall_ms,
                payload: r.payload.as_bytes(),
            })
            .collect();
        let windows: Vec<Window> = leases
            .iter()
            .filter(|l| l.device_id == first.device_id)
            .map(|l| Window {
                from_ms: l.from_ms,
                until_ms: l.until_ms,
            })
            .collect();
        let sim = simulated(&first.device_id);
        let progress: BTreeMap<String, Progress> = out
            .progress
            .iter()
            .filter(|((_, s), _)| *s == sim)
            .map(|((c, _), (p, _))| (c.clone(), p.clone()))
            .collect();
        let device = out
            .devices
            .entry(first.device_id.clone())
            .or_insert_with(|| DeviceRederived {
                simulated: sim,
                ..DeviceRederived::default()
            });
        let already = |sha: &str| claimed.contains(sha);
        let o = replay(
            &mut device.fold,
            &progress,
            &rows,
            &Context {
                device_id: &first.device_id,
                catalogue,
                anchor: Anchor {
                    received_ms: first.received_ms,
                    skew_ms,
                    enforced: !sim,
                },
                leases: &windows,
                others: &intervals,
                photo_received,
                photo_claimed: &already,
                draw_seed,
            },
        );
        // A push's last record is not the device's head then (a journal goes up in
        // batches; the head it stated is not stored): it bounds no later record.
        let head = run.last().map_or(0, |r| r.seq);
        device.fold.held_up_to(head);
        claimed.extend(o.claims.iter().map(|(sha, _)| sha.clone()));
        intervals.extend(o.intervals.iter().cloned());
        device.claims.extend(o.claims);
        device.intervals.extend(o.intervals);
        device.flags.extend(o.flags);
        device.pending.extend(o.pending);
        device.grades.extend(o.grades);
        for (course, p) in o.courses {
            out.progress.entry((course, sim)).or_default().0 = p;
        }
        for ((course, kind), n) in o.violations {
            let v = &mut out.progress.entry((course, sim)).or_default().1;
            *v.entry(kind.code().to_owned()).or_default() += n;
        }
        i = j;
    }
    out
}

/// Re-derives a learner's credit from the stored records alone ([`rederive`], every
/// device taken as a real one): for audits and tests.
pub fn derive(
    records: &[StoredRecord],
    leases: &[LeaseWindow],
    catalogue: &Catalogue,
    photo_received: &dyn Fn(&str) -> bool,
    skew_ms: i64,
    draw_seed: &[u8],
) -> CreditReport {
    let r = rederive(
        records,
        &|_| false,
        leases,
        catalogue,
        photo_received,
        skew_ms,
        draw_seed,
    );
    let mut report = CreditReport {
        segments: r.segments,
        flags: r.devices.into_values().flat_map(|d| d.flags).collect(),
        ..CreditReport::default()
    };
    for ((course, _), (p, _)) in &r.progress {
        let c = course_credit(p, course, catalogue);
        report.credited_ms = report.credited_ms.saturating_add(c.credited_ms);
        report.courses.insert(course.clone(), c);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Published;
    use keshi_protocol::manifest::Course;
    use keshi_protocol::policy::Policy;
    use serde_json::json;

    /// The learner's draw seed in these tests.
    const SEED: &[u8] = b"test draw seed";

    /// The two-class-hour demo course published as `c1` (5,400,000 ms).
    fn catalogue() -> Catalogue {
        let mut v = keshi_protocol::demo::course(2);
        v["id"] = "c1".into();
        let course = Course::parse(std::path::Path::new("c1.json"), &v.to_string()).unwrap();
        Catalogue::new([
            Published::new(course, 1, "inst".into(), Policy::by_id("shanxi").unwrap()).unwrap(),
        ])
    }

    /// A segment of session 1 that played `[pos0, pos1)` in `[t0, t1)` and credits
    /// `cov`, received 1 s after it ended.
    fn seg(dev: &str, seq: u64, wall_end: i64, t0: u64, t1: u64, cov: &[[u64; 2]]) -> StoredRecord {
        let credited: u64 = cov.iter().map(|r| r[1] - r[0]).sum();
        let pos0 = cov.first().map_or(0, |r| r[0]);
        let pos1 = cov.last().map_or(0, |r| r[1]);
        StoredRecord {
            device_id: dev.into(),
            seq,
            kind: "segment".into(),
            wall_ms: wall_end,
            received_ms: wall_end + 1_000,
            payload: json!({"session": 1, "t0_ms": t0, "t1_ms": t1, "pos0_ms": pos0, "pos_ms": pos1,
                "frontier_ms": pos1, "covered": cov, "credited_ms": credited, "total_credited_ms": 0})
            .to_string(),
        }
    }
    fn start(dev: &str) -> StoredRecord {
        start_course(dev, "c1")
    }
    fn start_course(dev: &str, course: &str) -> StoredRecord {
        StoredRecord {
            device_id: dev.into(),
            seq: 1,
            kind: "session_start".into(),
            wall_ms: 0,
            received_ms: 0,
            payload: json!({"session": 1, "course": course, "profile": "shanxi", "class_hours": 2, "course_ms": 5_400_000})
                .to_string(),
        }
    }
    fn lease(dev: &str) -> LeaseWindow {
        LeaseWindow {
            device_id: dev.into(),
            from_ms: 0,
            until_ms: 1_000_000,
        }
    }
    fn run(recs: &[StoredRecord], leases: &[LeaseWindow]) -> CreditReport {
        derive(recs, leases, &catalogue(), &|_| true, 60_000, SEED)
    }

    #[test]
    fn union_counts_a_minute_once_and_flags_each_rule() {
        let recs = vec![
            start("a"),
            seg("a", 2, 60_000, 0, 60_000, &[[0, 60_000]]),
            // watched again: counts once
            seg("a", 3, 120_000, 60_000, 120_000, &[[0, 60_000]]),
            // faster than its clock
            seg("a", 4, 130_000, 120_000, 130_000, &[[60_000, 120_000]]),
            // outside the lease
            seg("a", 5, 2_000_000, 0, 10_000, &[[200_000, 210_000]]),
        ];
        let r = run(&recs, &[lease("a")]);
        assert_eq!(r.credited_ms, 60_000);
        assert_eq!(r.courses.get("c1").map(|c| c.credited_ms), Some(60_000));
        let kinds: Vec<_> = r.flags.iter().map(|f| (f.kind, f.seq)).collect();
        assert_eq!(
            kinds,
            vec![("credit_faster_than_clock", 4), ("outside_lease", 5)]
        );
    }

    #[test]
    fn two_devices_at_once_are_flagged_and_the_later_excluded() {
        let recs = vec![
            start("a"),
            seg("a", 2, 60_000, 0, 60_000, &[[0, 60_000]]),
            start("b"),
            seg("b", 2, 90_000, 0, 60_000, &[[60_000, 120_000]]),
        ];
        let r = run(&recs, &[lease("a"), lease("b")]);
        assert_eq!(r.credited_ms, 60_000);
        assert_eq!(
            r.flags
                .iter()
                .filter(|f| f.kind == "concurrent_devices")
                .count(),
            2
        );
        // Sequential use of two devices is fine.
        let recs = vec![
            start("a"),
            seg("a", 2, 60_000, 0, 60_000, &[[0, 60_000]]),
            start("b"),
            seg("b", 2, 130_000, 0, 60_000, &[[60_000, 120_000]]),
        ];
        let r = run(&recs, &[lease("a"), lease("b")]);
        assert_eq!(r.credited_ms, 120_000);
        assert!(r.flags.is_empty(), "{:?}", r.flags);
    }

    /// R-AS-1: an attempt numbered out of turn (to pick another draw, or to dodge
    /// the pause by number) fails, and counts towards the round: the next attempt
    /// waits out the pause.
    #[test]
    fn attempts_out_of_turn_fail_and_count_towards_the_pause() {
        let bank: Vec<String> = catalogue()
            .get("c1")
            .and_then(|p| p.course.quiz(1).cloned())
            .map(|b| b.questions.into_iter().map(|q| q.id).collect())
            .unwrap();
        let right = keshi_protocol::demo::answers(1);
        let quiz = |seq: u64, attempt: u32, answers: &[usize]| StoredRecord {
            device_id: "a".into(),
            seq,
            kind: "quiz_answered".into(),
            wall_ms: 61_000,
            received_ms: 62_000,
            payload: json!({"class_hour": 1, "attempt": attempt,
                "questions": keshi_protocol::draw::draw(SEED, "c1", 1, attempt, &bank, 5),
                "answers": answers})
            .to_string(),
        };
        let wrong = [3, 3, 3, 3, 3];
        let good = seg("a", 2, 60_000, 0, 60_000, &[[0, 60_000]]);
        let records = vec![
            start("a"),
            good,
            quiz(3, 1, &wrong),
            quiz(4, 2, &wrong),
            quiz(5, 4, &right),
            quiz(6, 5, &right),
        ];
        let r = run(&records, &[lease("a")]);
        let kinds: Vec<_> = r.flags.iter().map(|f| (f.kind, f.seq)).collect();
        assert_eq!(kinds, vec![("quiz_not_drawn", 5), ("quiz_cooldown", 6)]);
    }

    #[test]
    fn overflowing_and_overlapping_ranges_earn_nothing() {
        let mut huge = seg("a", 2, 60_000, 0, 0, &[[0, 1]]);
        huge.payload = json!({"session": 1, "t0_ms": 0, "t1_ms": 0, "pos0_ms": 0, "pos_ms": u64::MAX,
            "frontier_ms": 0, "covered": [[0, u64::MAX]], "credited_ms": u64::MAX, "total_credited_ms": 0})
        .to_string();
        let overlap = {
            let mut s = seg("a", 3, 60_000, 0, 60_000, &[[0, 30_000]]);
            s.payload = json!({"session": 1, "t0_ms": 0, "t1_ms": 60_000, "pos0_ms": 0, "pos_ms": 60_000,
                "frontier_ms": 60_000, "covered": [[0, 30_000], [10_000, 40_000]], "credited_ms": 60_000, "total_credited_ms": 0})
            .to_string();
            s
        };
        let r = run(&[start("a"), huge, overlap], &[lease("a")]);
        assert_eq!(r.credited_ms, 0);
        let kinds: Vec<_> = r.flags.iter().map(|f| (f.kind, f.seq)).collect();
        assert_eq!(kinds, vec![("bad_ranges", 2), ("bad_ranges", 3)]);
    }

    /// One row per flag the re-derivation can raise: records that raise exactly that
    /// flag, and the credit that remains (the flagged record earns nothing).
    #[test]
    fn every_flag_has_a_case_with_its_exact_credit() {
        let good = seg("a", 2, 60_000, 0, 60_000, &[[0, 60_000]]);
        let mut credit_mismatch = seg("a", 3, 70_000, 60_000, 70_000, &[[60_000, 70_000]]);
        credit_mismatch.payload = json!({"session": 1, "t0_ms": 60_000, "t1_ms": 70_000,
            "pos0_ms": 60_000, "pos_ms": 70_000, "frontier_ms": 70_000, "covered": [[60_000, 70_000]],
            "credited_ms": 9_000, "total_credited_ms": 0}).to_string();
        let mut behind_start = seg("a", 3, 70_000, 60_000, 70_000, &[[60_000, 70_000]]);
        behind_start.payload = json!({"session": 1, "t0_ms": 60_000, "t1_ms": 70_000,
            "pos0_ms": 65_000, "pos_ms": 70_000, "frontier_ms": 70_000, "covered": [[60_000, 70_000]],
            "credited_ms": 10_000, "total_credited_ms": 0}).to_string();
        let mut malformed = seg("a", 3, 70_000, 60_000, 70_000, &[[60_000, 70_000]]);
        malformed.payload = json!({"session": "one", "covered": "all"}).to_string();
        // Stamped to end at 200 s, arriving with `good` at 61 s: beyond the skew.
        let mut future = seg("a", 3, 200_000, 60_000, 70_000, &[[60_000, 70_000]]);
        future.received_ms = 61_000;
        let same_device = seg("a", 3, 90_000, 30_000, 90_000, &[[60_000, 120_000]]);
        let mut no_photo = StoredRecord {
            device_id: "a".into(),
            seq: 3,
            kind: "capture_result".into(),
            wall_ms: 61_000,
            received_ms: 62_000,
            payload: json!({"id": "s1-c1", "class_hour": 1, "ok": true, "image_sha256": null, "reasons": [], "pos_ms": 60_000}).to_string(),
        };
        no_photo.payload = no_photo.payload.clone();
        // A capture with a photo the platform received (every photo, in `run`).
        let photo = |seq: u64, sha: &str| {
            StoredRecord {
            device_id: "a".into(),
            seq,
            kind: "capture_result".into(),
            wall_ms: 61_000,
            received_ms: 62_000,
            payload: json!({"id": format!("s1-c{seq}"), "class_hour": 1, "ok": true, "image_sha256": sha, "reasons": [], "pos_ms": 60_000}).to_string(),
        }
        };
        let sha_a = "a".repeat(64);
        // Quiz attempts of class hour 1 with wrong answers: `drawn` asks the
        // learner's draw, otherwise the bank's first five questions backwards (the
        // demo bank has five: every draw is all of them, in bank order).
        let bank: Vec<String> = catalogue()
            .get("c1")
            .and_then(|p| p.course.quiz(1).cloned())
            .map(|b| b.questions.into_iter().map(|q| q.id).collect())
            .unwrap();
        let quiz = |seq: u64, attempt: u32, drawn: bool| {
            let ids = if drawn {
                keshi_protocol::draw::draw(SEED, "c1", 1, attempt, &bank, 5)
            } else {
                bank[..5].iter().rev().cloned().collect()
            };
            StoredRecord {
                device_id: "a".into(),
                seq,
                kind: "quiz_answered".into(),
                wall_ms: 61_000,
                received_ms: 62_000,
                payload: json!({"class_hour": 1, "attempt": attempt, "questions": ids,
                    "answers": [99, 99, 99, 99, 99]})
                .to_string(),
            }
        };
        let not_drawn = quiz(3, 1, false);
        type Case = (&'static str, Vec<StoredRecord>, Vec<LeaseWindow>, u64);
        let rows: Vec<Case> = vec![
            (
                "credit_faster_than_clock",
                vec![
                    start("a"),
                    good.clone(),
                    seg("a", 3, 70_000, 60_000, 61_000, &[[60_000, 70_000]]),
                ],
                vec![lease("a")],
                60_000,
            ),
            (
                "credit_faster_than_clock",
                vec![start("a"), good.clone(), credit_mismatch],
                vec![lease("a")],
                60_000,
            ),
            (
                "bad_ranges",
                vec![start("a"), good.clone(), behind_start],
                vec![lease("a")],
                60_000,
            ),
            (
                "malformed_payload",
                vec![start("a"), good.clone(), malformed],
                vec![lease("a")],
                60_000,
            ),
            (
                "unknown_course",
                vec![
                    start_course("a", "not-published"),
                    seg("a", 2, 60_000, 0, 60_000, &[[0, 60_000]]),
                ],
                vec![lease("a")],
                0,
            ),
            (
                "future_stamped",
                vec![start("a"), good.clone(), future],
                vec![lease("a")],
                60_000,
            ),
            (
                "overlap_same_device",
                vec![start("a"), good.clone(), same_device],
                vec![lease("a")],
                60_000,
            ),
            (
                "outside_lease",
                vec![
                    start("a"),
                    good.clone(),
                    seg("a", 3, 5_000_000, 60_000, 70_000, &[[60_000, 70_000]]),
                ],
                vec![lease("a")],
                60_000,
            ),
            (
                "concurrent_devices",
                vec![
                    start("a"),
                    good.clone(),
                    start("b"),
                    seg("b", 2, 90_000, 0, 60_000, &[[60_000, 120_000]]),
                ],
                vec![lease("a"), lease("b")],
                60_000,
            ),
            (
                "capture_without_photo",
                vec![start("a"), good.clone(), no_photo],
                vec![lease("a")],
                60_000,
            ),
            (
                "quiz_not_drawn",
                vec![start("a"), good.clone(), not_drawn],
                vec![lease("a")],
                60_000,
            ),
            (
                // Three failed attempts, then a fourth at once (the pause is 10 min).
                "quiz_cooldown",
                vec![
                    start("a"),
                    good.clone(),
                    quiz(3, 1, true),
                    quiz(4, 2, true),
                    quiz(5, 3, true),
                    quiz(6, 4, true),
                ],
                vec![lease("a")],
                60_000,
            ),
            (
                "photo_reused",
                vec![start("a"), good.clone(), photo(3, &sha_a), photo(4, &sha_a)],
                vec![lease("a")],
                60_000,
            ),
        ];
        for k in FLAG_KINDS {
            if *k == "backdated" || *k == "commitment_broken" {
                continue; // needs device contacts (tests/anchoring.rs, tests/attacks.rs)
            }
            assert!(rows.iter().any(|r| r.0 == *k), "no case for flag {k}");
        }
        for (flag, records, leases, credit) in rows {
            let r = run(&records, &leases);
            assert_eq!(r.credited_ms, credit, "{flag}: credit");
            assert!(
                !r.flags.is_empty() && r.flags.iter().all(|f| f.kind == flag),
                "{flag}: {:?}",
                r.flags
            );
        }
    }

    /// Captures count only with their photo; quizzes are graded by the platform.
    #[test]
    fn class_hours_need_photos_received_and_answers_right_by_the_bank() {
        let cat = catalogue();
        let bank = &cat.get("c1").unwrap().course.quizzes[0];
        let ids: Vec<String> = bank.questions.iter().map(|q| q.id.clone()).collect();
        let right: Vec<usize> = bank.questions.iter().map(|q| q.answer.unwrap()).collect();
        let hour: Vec<StoredRecord> = {
            let mut v = vec![start("a")];
            // 45 minutes in 45 one-minute segments.
            for m in 0..45u64 {
                v.push(seg(
                    "a",
                    m + 2,
                    ((m + 1) * 60_000) as i64,
                    m * 60_000,
                    (m + 1) * 60_000,
                    &[[m * 60_000, (m + 1) * 60_000]],
                ));
            }
            v
        };
        let capture = |seq: u64| {
            StoredRecord {
            device_id: "a".into(), seq, kind: "capture_result".into(), wall_ms: 2_000_000, received_ms: 2_000_000,
            payload: json!({"id": "s1-c1", "class_hour": 1, "ok": true, "image_sha256": "ab".repeat(32), "reasons": [], "pos_ms": 1_000_000}).to_string(),
        }
        };
        let quiz = |seq: u64, answers: &[usize], passed: bool| {
            StoredRecord {
            device_id: "a".into(), seq, kind: "quiz_answered".into(), wall_ms: 2_800_000, received_ms: 2_800_000,
            payload: json!({"class_hour": 1, "attempt": 1, "questions": ids, "answers": answers, "correct": 5, "total": 5, "passed": passed}).to_string(),
        }
        };
        let leases = [LeaseWindow {
            device_id: "a".into(),
            from_ms: 0,
            until_ms: 10_000_000,
        }];
        // The capture sits among the segments (credit at 20 minutes: hour 1).
        let mut recs = hour.clone();
        let cap = capture(22);
        recs.insert(22, cap);
        for (i, r) in recs.iter_mut().enumerate() {
            r.seq = i as u64 + 1;
        }
        let n = recs.len() as u64;
        // A wrong quiz the device calls "passed": the platform's grade is no.
        let mut lying = recs.clone();
        lying.push(quiz(n + 1, &[3, 3, 3, 3, 3], true));
        let r = derive(&lying, &leases, &cat, &|_| true, 60_000, SEED);
        assert_eq!(r.courses["c1"].credited_ms, 2_700_000);
        assert_eq!(r.courses["c1"].class_hours_completed, 0);
        // Right answers, photo received: the class hour completes.
        let mut honest = recs.clone();
        honest.push(quiz(n + 1, &right, false));
        let r = derive(&honest, &leases, &cat, &|_| true, 60_000, SEED);
        assert_eq!(r.courses["c1"].class_hours_completed, 1);
        // The same without the photo on the platform: not completed.
        let r = derive(&honest, &leases, &cat, &|_| false, 60_000, SEED);
        assert_eq!(r.courses["c1"].class_hours_completed, 0);
    }
}
