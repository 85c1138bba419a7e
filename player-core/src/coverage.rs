//! The set of course time already credited: sorted, disjoint, half-open ranges in
//! milliseconds of course position.
//!
//! Credit is coverage: watching the same minute twice counts once, so a course can
//! never yield more class hours than its courseware holds (R-ST-5).

use serde::{Deserialize, Serialize};

/// Credited ranges of course time, `[start, end)` in ms, sorted and disjoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    ranges: Vec<(u64, u64)>,
}

impl Coverage {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The ranges, sorted and disjoint.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    /// Total credited milliseconds.
    pub fn total(&self) -> u64 {
        self.ranges.iter().map(|(a, b)| b - a).sum()
    }

    /// Adds `[a, b)`; returns the parts that were not covered before.
    pub fn insert(&mut self, a: u64, b: u64) -> Vec<(u64, u64)> {
        if b <= a {
            return Vec::new();
        }
        let new = self.gaps(a, b);
        // Merge: keep ranges entirely before or after, fuse the rest with [a, b).
        let mut lo = a;
        let mut hi = b;
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        let mut placed = false;
        for &(s, e) in &self.ranges {
            if e < lo {
                out.push((s, e));
            } else if s > hi {
                if !placed {
                    out.push((lo, hi));
                    placed = true;
                }
                out.push((s, e));
            } else {
                lo = lo.min(s);
                hi = hi.max(e);
            }
        }
        if !placed {
            out.push((lo, hi));
        }
        self.ranges = out;
        new
    }

    /// The uncovered parts of `[a, b)`.
    pub fn gaps(&self, a: u64, b: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut cur = a;
        for &(s, e) in &self.ranges {
            if e <= cur {
                continue;
            }
            if s >= b {
                break;
            }
            if s > cur {
                out.push((cur, s.min(b)));
            }
            cur = cur.max(e);
            if cur >= b {
                break;
            }
        }
        if cur < b {
            out.push((cur, b));
        }
        out
    }

    /// How far playback must travel from `pos` (not beyond `limit`) to gain `need` ms of
    /// new credit; `None` if fewer than `need` uncovered ms lie in `[pos, limit)`.
    pub fn travel_for(&self, pos: u64, need: u64, limit: u64) -> Option<u64> {
        if need == 0 {
            return Some(0);
        }
        let mut left = need;
        for (s, e) in self.gaps(pos, limit) {
            let len = e - s;
            if len >= left {
                return Some(s + left - pos);
            }
            left -= len;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_merges_and_reports_new_parts() {
        let mut c = Coverage::new();
        assert_eq!(c.insert(10, 20), vec![(10, 20)]);
        assert_eq!(c.insert(30, 40), vec![(30, 40)]);
        assert_eq!(c.insert(15, 35), vec![(20, 30)]);
        assert_eq!(c.ranges(), &[(10, 40)]);
        assert_eq!(c.insert(0, 50), vec![(0, 10), (40, 50)]);
        assert_eq!(c.total(), 50);
        assert_eq!(c.insert(50, 60), vec![(50, 60)]);
        assert_eq!(c.ranges(), &[(0, 60)]);
    }

    #[test]
    fn travel_skips_covered_parts() {
        let mut c = Coverage::new();
        c.insert(100, 200);
        assert_eq!(c.travel_for(50, 50, 1000), Some(50));
        assert_eq!(c.travel_for(50, 60, 1000), Some(160));
        assert_eq!(c.travel_for(150, 10, 1000), Some(60));
        assert_eq!(c.travel_for(900, 200, 1000), None);
    }
}
