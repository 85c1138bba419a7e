//! The per-learner draw of quiz questions, and the limit on attempts (R-AS-1,
//! issue 11).
//!
//! The platform dictates which questions a learner answers: at login it hands the
//! device a *draw seed*, its own Ed25519 signature over [`seed_message`] (a
//! deterministic function of its secret key and the learner id, so the platform
//! recomputes it at grading time and stores nothing). The questions of attempt `a`
//! of class hour `h` are [`draw`]`(seed, course, h, a, bank, k)`: the same on every
//! device of the learner and after every restart (leaving a quiz and opening it
//! again shows the same questions), different between learners. The platform grades
//! an attempt whose questions are not its draw as failed.
//!
//! Attempts come in rounds of [`AttemptLimit::per_round`]; after a round of failed
//! attempts the next one waits [`AttemptLimit::cooldown_ms`] from the grade that
//! ended the round ([`AttemptLimit::cooldown_until`]). The device waits; the platform
//! grades an attempt made earlier as failed.

use ring::digest;

use crate::fold::HourProgress;
use crate::policy::Policy;

/// What the platform signs to make a learner's draw seed.
pub fn seed_message(learner_id: &str) -> String {
    format!("KESHI-DRAW-v1|{learner_id}")
}

/// The ids drawn for one attempt: `k` of `bank` (question ids in bank order),
/// chosen by a partial Fisher–Yates shuffle driven by SHA-256 of the seed and the
/// attempt's coordinates, returned in bank order. All of `bank` when it has at most
/// `k` questions.
pub fn draw(
    seed: &[u8],
    course: &str,
    class_hour: u32,
    attempt: u32,
    bank: &[String],
    k: usize,
) -> Vec<String> {
    let n = bank.len();
    let k = k.min(n);
    let mut idx: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"KESHI-DRAW-STEP-v1");
        ctx.update(&(seed.len() as u64).to_be_bytes());
        ctx.update(seed);
        ctx.update(&(course.len() as u64).to_be_bytes());
        ctx.update(course.as_bytes());
        ctx.update(&class_hour.to_be_bytes());
        ctx.update(&attempt.to_be_bytes());
        ctx.update(&(i as u64).to_be_bytes());
        let d = ctx.finish();
        let mut word = [0u8; 8];
        word.copy_from_slice(&d.as_ref()[..8]);
        // A 64-bit value modulo a bank size: bias below 2^-40 for any real bank.
        let span = (n - i) as u64;
        let j = i + usize::try_from(u64::from_be_bytes(word) % span).unwrap_or(0);
        idx.swap(i, j);
    }
    idx.truncate(k);
    idx.sort_unstable();
    idx.into_iter()
        .filter_map(|i| bank.get(i).cloned())
        .collect()
}

/// How many attempts a quiz allows before a pause, and how long the pause is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptLimit {
    /// Attempts per round (at least 1).
    pub per_round: u32,
    /// The pause after a round of failed attempts, ms.
    pub cooldown_ms: i64,
}

impl AttemptLimit {
    /// The limit a profile sets.
    pub fn of(policy: &Policy) -> AttemptLimit {
        AttemptLimit {
            per_round: policy.quiz_attempts_per_round.value.max(1),
            cooldown_ms: i64::from(policy.quiz_cooldown_minutes.value).saturating_mul(60_000),
        }
    }

    /// When the next attempt of an hour may be made (server time, Unix ms), if it
    /// must wait: the quiz is not passed, every attempt is graded, and the failing
    /// grades so far fill whole rounds (3, 6, … with three per round). Failures are
    /// counted, not attempt numbers, so numbering attempts oddly buys nothing.
    pub fn cooldown_until(&self, h: &HourProgress) -> Option<i64> {
        let ended_round = h.quiz_failures > 0
            && h.quiz_graded >= h.quiz_attempts
            && h.quiz_failures % self.per_round.max(1) == 0;
        (!h.quiz_passed && ended_round && self.cooldown_ms > 0 && h.quiz_failed_ms > 0)
            .then(|| h.quiz_failed_ms.saturating_add(self.cooldown_ms))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
    use super::*;

    fn bank(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("q{i}")).collect()
    }

    #[test]
    fn a_draw_is_fixed_by_seed_and_attempt_and_differs_between_them() {
        let b = bank(20);
        let a = draw(b"seed-a", "c", 1, 1, &b, 5);
        assert_eq!(a.len(), 5);
        assert_eq!(
            a,
            draw(b"seed-a", "c", 1, 1, &b, 5),
            "same coordinates, same draw"
        );
        let mut sorted = a.clone();
        sorted.sort_by_key(|s| s[1..].parse::<u32>().unwrap());
        assert_eq!(a, sorted, "bank order");
        let others = [
            draw(b"seed-b", "c", 1, 1, &b, 5),
            draw(b"seed-a", "c", 1, 2, &b, 5),
            draw(b"seed-a", "c", 2, 1, &b, 5),
            draw(b"seed-a", "d", 1, 1, &b, 5),
        ];
        assert!(others.iter().all(|o| o != &a), "{a:?} vs {others:?}");
    }

    #[test]
    fn a_small_bank_is_drawn_whole_and_every_question_can_come() {
        assert_eq!(draw(b"s", "c", 1, 1, &bank(5), 5), bank(5));
        assert_eq!(draw(b"s", "c", 1, 1, &bank(3), 5), bank(3));
        let b = bank(10);
        let mut seen = std::collections::BTreeSet::new();
        for attempt in 1..200 {
            seen.extend(draw(b"s", "c", 1, attempt, &b, 5));
        }
        assert_eq!(seen.len(), 10);
    }

    #[test]
    fn a_round_of_failures_waits_from_its_last_grade() {
        let limit = AttemptLimit {
            per_round: 3,
            cooldown_ms: 600_000,
        };
        let mut h = HourProgress {
            quiz_attempts: 2,
            quiz_graded: 2,
            quiz_failed_ms: 1_000,
            quiz_failures: 2,
            ..HourProgress::default()
        };
        assert_eq!(limit.cooldown_until(&h), None, "two failures: no pause");
        h.quiz_attempts = 3;
        assert_eq!(limit.cooldown_until(&h), None, "third not graded yet");
        h.quiz_graded = 3;
        h.quiz_failures = 3;
        h.quiz_failed_ms = 5_000;
        assert_eq!(limit.cooldown_until(&h), Some(605_000));
        h.quiz_attempts = 4;
        assert_eq!(limit.cooldown_until(&h), None, "the next round began");
        h.quiz_attempts = 3;
        h.quiz_passed = true;
        assert_eq!(limit.cooldown_until(&h), None);
        // Attempt numbers do not matter, failures do (attempt 8 is the third).
        let h = HourProgress {
            quiz_attempts: 8,
            quiz_graded: 8,
            quiz_failed_ms: 5_000,
            quiz_failures: 3,
            ..HourProgress::default()
        };
        assert_eq!(limit.cooldown_until(&h), Some(605_000));
    }
}
