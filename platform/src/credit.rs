//! Platform-side re-derivation of credit and class hours from the signed records
//! (R-ST-5, R-AS-4, R-SV-3), with the same fold the client runs
//! (`keshi_protocol::fold`). The client's own totals (`total_credited_ms`,
//! `class_hour_completed` records, `credited_seconds`) are never read.
//!
//! Credit per course is the union of the `covered` ranges of the segments that pass
//! every check, across the learner's devices (a minute watched twice counts once,
//! on two devices too). A class hour completes when credit reaches its end and its
//! captures and its quiz passed (the fold derives it).
//!
//! Flags (each excludes the segment from credit):
//! - `credit_faster_than_clock`: a segment covers more course time than its own
//!   clock (`t1_ms - t0_ms`) allows (+1 s tolerance), or `credited_ms` disagrees
//!   with its `covered` ranges.
//! - `bad_ranges`: its ranges are empty, unordered, overlapping, or outside the
//!   course or its own start and end positions.
//! - `malformed_payload`: the payload does not fit its record kind.
//! - `outside_lease`: the segment's wall-clock interval is not inside a lease of
//!   that device (issued .. min(revoked, offline lease end)) — study while logged
//!   out, after a revocation (R-ID-3) or beyond the signed offline lease.
//! - `concurrent_devices`: a credited segment overlaps in wall time a credited
//!   segment of another device of the same learner (R-ID-3); the one that started
//!   later is excluded, both are flagged.
//!
//! Pure: no I/O, no clock.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use keshi_protocol::fact::Fact;
use keshi_protocol::fold::{
    check_segment, Anomaly, ClaimedRules, DeviceEvidence, HourRules, Rules, StreamFold,
};
use serde::Serialize;

/// One stored record, as credit derivation needs it.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    /// Device id (hex).
    pub device_id: String,
    /// Seq.
    pub seq: u64,
    /// Kind.
    pub kind: String,
    /// Header wall clock, Unix ms.
    pub wall_ms: i64,
    /// Payload bytes as stored.
    pub payload: String,
}

/// A lease interval of one device: `[from_ms, until_ms]`.
#[derive(Debug, Clone)]
pub struct LeaseWindow {
    /// Device id (hex).
    pub device_id: String,
    /// Issued.
    pub from_ms: i64,
    /// End: revocation or offline-lease end, whichever first.
    pub until_ms: i64,
}

/// A finding about a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    /// `credit_faster_than_clock`, `bad_ranges`, `malformed_payload`,
    /// `outside_lease` or `concurrent_devices`.
    pub kind: &'static str,
    /// Device (hex).
    pub device_id: String,
    /// The record.
    pub seq: u64,
    /// Details.
    pub detail: String,
}

/// One course as the platform derives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CourseCredit {
    /// Credited ms.
    pub credited_ms: u64,
    /// Class hours completed (credit, captures and quiz).
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

struct Seg {
    device: String,
    seq: u64,
    start_ms: i64,
    end_ms: i64,
}

/// Re-derive credit from `records` (any order; grouped by device and sorted by
/// seq here) and the learner's lease windows, with the rules the records' sessions
/// claim (`rules`: the catalogue's, when the platform has one).
pub fn derive(records: &[StoredRecord], leases: &[LeaseWindow]) -> CreditReport {
    derive_with(records, leases, &ClaimedRules)
}

/// [`derive`] with the rules given.
pub fn derive_with(
    records: &[StoredRecord],
    leases: &[LeaseWindow],
    rules: &dyn Rules,
) -> CreditReport {
    let mut report = CreditReport::default();
    let mut by_device: BTreeMap<&str, Vec<&StoredRecord>> = BTreeMap::new();
    for r in records {
        by_device.entry(&r.device_id).or_default().push(r);
    }
    // Pass 1, per device: decode, check each segment on its own, place it in wall time.
    let mut decoded: Vec<(&str, u64, Fact)> = Vec::with_capacity(records.len());
    let mut excluded: BTreeSet<(String, u64)> = BTreeSet::new();
    let mut credited_segs = Vec::new();
    for (device, mut recs) in by_device {
        recs.sort_by_key(|r| r.seq);
        let mut course_rules: HashMap<u32, Option<HourRules>> = HashMap::new();
        for r in recs {
            let fact = Fact::decode(&r.kind, r.payload.as_bytes());
            let flag = |kind, detail: String| Flag {
                kind,
                device_id: device.to_owned(),
                seq: r.seq,
                detail,
            };
            match &fact {
                Fact::SessionStart(start) => {
                    course_rules.insert(start.session, rules.rules_for(start));
                }
                Fact::Malformed { kind, error } => {
                    report.flags.push(flag(
                        "malformed_payload",
                        format!("{} payload does not fit its kind: {error}", kind.as_str()),
                    ));
                }
                Fact::Segment(seg) => {
                    report.segments += 1;
                    let course_ms = course_rules
                        .get(&seg.session)
                        .copied()
                        .flatten()
                        .map_or(0, |r| r.course_ms);
                    let checked = check_segment(seg, course_ms);
                    let covered: u64 = match checked {
                        Ok(ranges) => ranges.iter().map(|(a, b)| b - a).sum(),
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
                            report.flags.push(flag(kind, detail));
                            excluded.insert((device.to_owned(), r.seq));
                            continue;
                        }
                    };
                    if covered > 0 {
                        let clock = seg.t1_ms.saturating_sub(seg.t0_ms);
                        let end_ms = r.wall_ms;
                        let start_ms =
                            end_ms.saturating_sub(i64::try_from(clock).unwrap_or(i64::MAX));
                        let in_lease = leases.iter().any(|l| {
                            l.device_id == device && l.from_ms <= start_ms && end_ms <= l.until_ms
                        });
                        if !in_lease {
                            report.flags.push(flag(
                                "outside_lease",
                                format!(
                                    "wall time {start_ms}..{end_ms} is not inside a valid lease of this device"
                                ),
                            ));
                            excluded.insert((device.to_owned(), r.seq));
                            continue;
                        }
                        credited_segs.push(Seg {
                            device: device.to_owned(),
                            seq: r.seq,
                            start_ms,
                            end_ms,
                        });
                    }
                }
                _ => {}
            }
            decoded.push((device, r.seq, fact));
        }
    }
    // Overlap in wall time between devices: sweep by start time.
    credited_segs.sort_by_key(|s| (s.start_ms, s.end_ms));
    let mut active: Vec<usize> = Vec::new();
    let mut out = vec![false; credited_segs.len()];
    for i in 0..credited_segs.len() {
        active.retain(|&j| credited_segs[j].end_ms > credited_segs[i].start_ms);
        for &j in &active {
            if credited_segs[j].device != credited_segs[i].device && !out[j] {
                out[i] = true;
                for (k, other) in [(i, j), (j, i)] {
                    report.flags.push(Flag {
                        kind: "concurrent_devices",
                        device_id: credited_segs[k].device.clone(),
                        seq: credited_segs[k].seq,
                        detail: format!(
                            "overlaps device {} record {} in wall time",
                            credited_segs[other].device, credited_segs[other].seq
                        ),
                    });
                }
                break;
            }
        }
        active.push(i);
    }
    for (s, o) in credited_segs.iter().zip(&out) {
        if *o {
            excluded.insert((s.device.clone(), s.seq));
        }
    }
    // Pass 2: the shared fold over every device's facts, the excluded segments left out.
    let mut fold = StreamFold::new(false);
    for (device, seq, fact) in &decoded {
        if matches!(fact, Fact::Segment(_)) && excluded.contains(&(device.to_string(), *seq)) {
            continue;
        }
        fold.push_fact_from(device, *seq, fact, rules, &DeviceEvidence);
    }
    for (course, c) in fold.courses() {
        let credit = CourseCredit {
            credited_ms: c.progress.credited_ms(),
            class_hours_completed: c.progress.class_hours_completed(),
            class_hours_total: c.rules.map_or(0, |r| r.class_hours),
        };
        report.credited_ms = report.credited_ms.saturating_add(credit.credited_ms);
        report.courses.insert(course.clone(), credit);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A segment of session 1 that played `[pos0, pos1)` in `[t0, t1)` and credits
    /// `cov`.
    fn seg(dev: &str, seq: u64, wall_end: i64, t0: u64, t1: u64, cov: &[[u64; 2]]) -> StoredRecord {
        let credited: u64 = cov.iter().map(|r| r[1] - r[0]).sum();
        let pos0 = cov.first().map_or(0, |r| r[0]);
        let pos1 = cov.last().map_or(0, |r| r[1]);
        StoredRecord {
            device_id: dev.into(),
            seq,
            kind: "segment".into(),
            wall_ms: wall_end,
            payload: json!({"session": 1, "t0_ms": t0, "t1_ms": t1, "pos0_ms": pos0, "pos_ms": pos1,
                "frontier_ms": pos1, "covered": cov, "credited_ms": credited, "total_credited_ms": 0})
            .to_string(),
        }
    }
    fn start(dev: &str) -> StoredRecord {
        StoredRecord {
            device_id: dev.into(),
            seq: 1,
            kind: "session_start".into(),
            wall_ms: 0,
            payload: json!({"session": 1, "course": "c1", "profile": "shanxi", "class_hours": 2, "course_ms": 5_400_000})
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
        let r = derive(&recs, &[lease("a")]);
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
        let r = derive(&recs, &[lease("a"), lease("b")]);
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
        let r = derive(&recs, &[lease("a"), lease("b")]);
        assert_eq!(r.credited_ms, 120_000);
        assert!(r.flags.is_empty());
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
        let r = derive(&[start("a"), huge, overlap], &[lease("a")]);
        assert_eq!(r.credited_ms, 0);
        let kinds: Vec<_> = r.flags.iter().map(|f| (f.kind, f.seq)).collect();
        assert_eq!(kinds, vec![("bad_ranges", 2), ("bad_ranges", 3)]);
    }
}
