//! The set of course time already credited: sorted, disjoint, half-open ranges in
//! milliseconds of course position.
//!
//! Credit is coverage: watching the same minute twice counts once, so a course can
//! never yield more class hours than its courseware holds (R-ST-5).

use serde::{Deserialize, Serialize};

/// Credited ranges of course time, `[start, end)` in ms, sorted and disjoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

    /// Total credited milliseconds (the ranges are disjoint, so the sum fits in a
    /// `u64`; it saturates anyway).
    pub fn total(&self) -> u64 {
        self.ranges
            .iter()
            .fold(0u64, |acc, (a, b)| acc.saturating_add(b.saturating_sub(*a)))
    }

    /// Builds a set from ranges that must be sorted, disjoint, non-empty `[a, b)` and
    /// end at most at `limit` (what a stored snapshot or a segment must satisfy).
    pub fn from_ranges(ranges: &[(u64, u64)], limit: u64) -> Result<Coverage, RangeError> {
        check_ranges(ranges, limit)?;
        Ok(Coverage {
            ranges: ranges.to_vec(),
        })
    }

    /// Whether the set lies inside `[0, limit)` and is well-formed.
    pub fn check(&self, limit: u64) -> Result<(), RangeError> {
        check_ranges(&self.ranges, limit)
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

/// Why a list of ranges is not a valid coverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RangeError {
    /// `[a, b)` with `b <= a`.
    #[error("range {index} is empty or reversed ({from}..{to})")]
    Empty {
        /// Index in the list.
        index: usize,
        /// Start.
        from: u64,
        /// End.
        to: u64,
    },
    /// A range starts before the previous one ended (overlap or disorder).
    #[error("range {index} overlaps or precedes range {prev}")]
    Unordered {
        /// Index in the list.
        index: usize,
        /// The range before it.
        prev: usize,
    },
    /// A range ends beyond the limit (the course, the segment's positions).
    #[error("range {index} ends at {to}, beyond {limit}")]
    OutOfBounds {
        /// Index in the list.
        index: usize,
        /// Its end.
        to: u64,
        /// The limit.
        limit: u64,
    },
}

/// Checks that `ranges` are non-empty, sorted, disjoint and end at most at `limit`.
pub fn check_ranges(ranges: &[(u64, u64)], limit: u64) -> Result<(), RangeError> {
    let mut prev_end: Option<u64> = None;
    for (index, &(from, to)) in ranges.iter().enumerate() {
        if to <= from {
            return Err(RangeError::Empty { index, from, to });
        }
        if prev_end.is_some_and(|e| from < e) {
            return Err(RangeError::Unordered {
                index,
                prev: index.saturating_sub(1),
            });
        }
        if to > limit {
            return Err(RangeError::OutOfBounds { index, to, limit });
        }
        prev_end = Some(to);
    }
    Ok(())
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

    #[test]
    fn ranges_are_checked() {
        assert!(Coverage::from_ranges(&[(0, 10), (10, 20)], 20).is_ok());
        assert_eq!(
            Coverage::from_ranges(&[(5, 5)], 20),
            Err(RangeError::Empty {
                index: 0,
                from: 5,
                to: 5
            })
        );
        assert!(matches!(
            Coverage::from_ranges(&[(0, 10), (5, 15)], 20),
            Err(RangeError::Unordered { index: 1, .. })
        ));
        assert!(matches!(
            Coverage::from_ranges(&[(0, u64::MAX)], 1000),
            Err(RangeError::OutOfBounds { .. })
        ));
        let mut c = Coverage::new();
        c.insert(0, u64::MAX);
        c.insert(5, 7);
        assert_eq!(c.total(), u64::MAX);
    }
}
