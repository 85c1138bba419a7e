//! Platform-side re-derivation of credited time from signed `segment` records
//! (R-ST-5, R-AS-4, R-SV-3). The client's own totals (`total_credited_ms`,
//! `credited_seconds`) are never read.
//!
//! Credit = the union, per course, of the `covered` ranges of segment records that
//! pass every check, folded the way `player_core::playback::Progress::apply`
//! folds them (a minute watched twice counts once, across devices too).
//!
//! Flags (each excludes the segment from credit):
//! - `credit_faster_than_clock`: a segment covers more course time than its own
//!   clock (`t1_ms - t0_ms`) allows (+1 s tolerance), or `credited_ms` disagrees
//!   with its `covered` ranges.
//! - `outside_lease`: the segment's wall-clock interval is not inside a lease of
//!   that device (issued .. min(revoked, offline lease end)) — study while logged
//!   out, after a revocation (R-ID-3) or beyond the signed offline lease.
//! - `concurrent_devices`: a credited segment overlaps in wall time a credited
//!   segment of another device of the same learner (R-ID-3); the one that started
//!   later is excluded, both are flagged.
//!
//! Pure: no I/O, no clock.

use std::collections::{BTreeMap, HashMap};

use player_core::coverage::Coverage;
use serde::Serialize;
use serde_json::Value;

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
    /// Payload (parsed JSON; `Null` when unreadable).
    pub payload: Value,
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

/// A finding about a segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    /// `credit_faster_than_clock`, `outside_lease` or `concurrent_devices`.
    pub kind: &'static str,
    /// Device (hex).
    pub device_id: String,
    /// The segment record.
    pub seq: u64,
    /// Details.
    pub detail: String,
}

/// The re-derived credit of one learner.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CreditReport {
    /// Total credited ms over all courses.
    pub credited_ms: u64,
    /// Per course id.
    pub courses: BTreeMap<String, u64>,
    /// Segment records considered.
    pub segments: u64,
    /// Findings.
    pub flags: Vec<Flag>,
}

struct Seg {
    device: String,
    seq: u64,
    course: String,
    start_ms: i64,
    end_ms: i64,
    covered: Vec<(u64, u64)>,
    credited: u64,
}

fn ranges(p: &Value) -> Vec<(u64, u64)> {
    p.get("covered")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| Some((r.get(0)?.as_u64()?, r.get(1)?.as_u64()?)))
                .filter(|(a, b)| b > a)
                .collect()
        })
        .unwrap_or_default()
}

/// Re-derive credit from `records` (any order; grouped by device and sorted by
/// seq here) and the learner's lease windows.
pub fn derive(records: &[StoredRecord], leases: &[LeaseWindow]) -> CreditReport {
    let mut report = CreditReport::default();
    let mut by_device: BTreeMap<&str, Vec<&StoredRecord>> = BTreeMap::new();
    for r in records {
        by_device.entry(&r.device_id).or_default().push(r);
    }
    let mut segs = Vec::new();
    for (device, mut recs) in by_device {
        recs.sort_by_key(|r| r.seq);
        let mut course_of: HashMap<u64, String> = HashMap::new();
        for r in recs {
            let p = &r.payload;
            let session = p.get("session").and_then(Value::as_u64);
            if r.kind == "session_start" {
                if let (Some(s), Some(c)) = (session, p.get("course").and_then(Value::as_str)) {
                    course_of.insert(s, c.to_owned());
                }
                continue;
            }
            if r.kind != "segment" {
                continue;
            }
            report.segments += 1;
            let covered = ranges(p);
            let credited: u64 = covered.iter().map(|(a, b)| b - a).sum();
            if credited == 0 {
                continue;
            }
            let u = |k: &str| p.get(k).and_then(Value::as_u64).unwrap_or(0);
            let clock = u("t1_ms").saturating_sub(u("t0_ms"));
            let flag = |kind, detail: String| Flag {
                kind,
                device_id: device.to_owned(),
                seq: r.seq,
                detail,
            };
            if credited > clock + 1_000 || u("credited_ms") != credited {
                report.flags.push(flag(
                    "credit_faster_than_clock",
                    format!(
                        "covers {credited} ms of course in {clock} ms of its own clock (claims credited_ms {})",
                        u("credited_ms")
                    ),
                ));
                continue;
            }
            let end_ms = r.wall_ms;
            let start_ms = end_ms.saturating_sub(i64::try_from(clock).unwrap_or(i64::MAX));
            let in_lease = leases
                .iter()
                .any(|l| l.device_id == device && l.from_ms <= start_ms && end_ms <= l.until_ms);
            if !in_lease {
                report.flags.push(flag(
                    "outside_lease",
                    format!(
                        "wall time {start_ms}..{end_ms} is not inside a valid lease of this device"
                    ),
                ));
                continue;
            }
            let course = session
                .and_then(|s| course_of.get(&s).cloned())
                .unwrap_or_else(|| "unknown".to_owned());
            segs.push(Seg {
                device: device.to_owned(),
                seq: r.seq,
                course,
                start_ms,
                end_ms,
                covered,
                credited,
            });
        }
    }
    // Overlap in wall time between devices: sweep by start time.
    segs.sort_by_key(|s| (s.start_ms, s.end_ms));
    let mut excluded = vec![false; segs.len()];
    let mut active: Vec<usize> = Vec::new();
    for i in 0..segs.len() {
        active.retain(|&j| segs[j].end_ms > segs[i].start_ms);
        for &j in &active {
            if segs[j].device != segs[i].device && !excluded[j] {
                excluded[i] = true;
                for (k, other) in [(i, j), (j, i)] {
                    report.flags.push(Flag {
                        kind: "concurrent_devices",
                        device_id: segs[k].device.clone(),
                        seq: segs[k].seq,
                        detail: format!(
                            "overlaps device {} record {} in wall time",
                            segs[other].device, segs[other].seq
                        ),
                    });
                }
                break;
            }
        }
        active.push(i);
    }
    let mut coverage: BTreeMap<String, Coverage> = BTreeMap::new();
    for (s, ex) in segs.iter().zip(&excluded) {
        if *ex || s.credited == 0 {
            continue;
        }
        let cov = coverage.entry(s.course.clone()).or_default();
        for &(a, b) in &s.covered {
            cov.insert(a, b);
        }
    }
    for (course, cov) in coverage {
        report.credited_ms += cov.total();
        report.courses.insert(course, cov.total());
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seg(dev: &str, seq: u64, wall_end: i64, t0: u64, t1: u64, cov: &[[u64; 2]]) -> StoredRecord {
        let credited: u64 = cov.iter().map(|r| r[1] - r[0]).sum();
        StoredRecord {
            device_id: dev.into(),
            seq,
            kind: "segment".into(),
            wall_ms: wall_end,
            payload: json!({"session": 1, "t0_ms": t0, "t1_ms": t1, "covered": cov, "credited_ms": credited}),
        }
    }
    fn start(dev: &str) -> StoredRecord {
        StoredRecord {
            device_id: dev.into(),
            seq: 1,
            kind: "session_start".into(),
            wall_ms: 0,
            payload: json!({"session": 1, "course": "c1"}),
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
        assert_eq!(r.courses.get("c1"), Some(&60_000));
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
}
