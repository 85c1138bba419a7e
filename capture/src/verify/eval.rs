//! Evaluation figures for a labelled set of faces (`keshi capture verify-eval`): every
//! pair of usable images is scored; pairs of one identity are genuine, the others
//! impostors. Pure functions.
//!
//! Conventions: a pair is accepted when its distance is *under* the threshold (as
//! [`super::compare`]). FAR = accepted impostor pairs / impostor pairs; FRR = refused
//! genuine pairs / genuine pairs; TAR = 1 − FRR. TAR at a FAR target `f` uses the
//! threshold at the `⌊f · n⌋`-th smallest impostor distance, so that at most `f · n`
//! impostors are accepted; it is `null` when there are fewer than `1 / f` impostor pairs
//! (the target cannot be resolved).

use serde::{Deserialize, Serialize};

use super::Embedding;

/// Distances of the genuine and impostor pairs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PairScores {
    /// Same-identity pair distances.
    pub genuine: Vec<f32>,
    /// Different-identity pair distances.
    pub impostor: Vec<f32>,
}

/// Scores every unordered pair of `(identity, embedding)`.
pub fn pair_scores<S: AsRef<str>>(items: &[(S, Embedding)]) -> PairScores {
    let mut s = PairScores::default();
    for i in 0..items.len() {
        for j in i + 1..items.len() {
            let d = items[i].1.distance(&items[j].1);
            if items[i].0.as_ref() == items[j].0.as_ref() {
                s.genuine.push(d);
            } else {
                s.impostor.push(d);
            }
        }
    }
    s
}

/// TAR at the three FAR targets of the report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TarAtFar {
    /// At FAR 1%.
    #[serde(rename = "0.01")]
    pub far_1e2: Option<f64>,
    /// At FAR 0.1%.
    #[serde(rename = "0.001")]
    pub far_1e3: Option<f64>,
    /// At FAR 0.01% (JT/T 1302.1's bar).
    #[serde(rename = "0.0001")]
    pub far_1e4: Option<f64>,
}

/// The JSON object `keshi capture verify-eval --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Same-identity pairs scored.
    pub genuine_pairs: usize,
    /// Different-identity pairs scored.
    pub impostor_pairs: usize,
    /// Images without a usable face (not scored).
    pub skipped: usize,
    /// TAR at FAR 1%, 0.1%, 0.01%; `null` where the impostor pairs are too few.
    pub tar_at_far: TarAtFar,
    /// Equal error rate; `null` without both kinds of pairs.
    pub eer: Option<f64>,
    /// The shipped threshold the next two figures use.
    pub threshold: f32,
    /// False accept rate at `threshold`; `null` without impostor pairs.
    pub far: Option<f64>,
    /// False reject rate at `threshold`; `null` without genuine pairs.
    pub frr: Option<f64>,
}

fn rate(count: usize, of: usize) -> Option<f64> {
    (of > 0).then(|| count as f64 / of as f64)
}

/// Share of `xs` under `t`.
fn under(xs: &[f32], t: f32) -> usize {
    xs.iter().filter(|&&d| d < t).count()
}

/// TAR at FAR `f`, `None` if fewer than `1 / f` impostor pairs (or no genuine pairs).
pub fn tar_at_far(s: &PairScores, f: f64) -> Option<f64> {
    let n = s.impostor.len();
    if s.genuine.is_empty() || (n as f64) * f < 1.0 - 1e-9 {
        return None;
    }
    let mut imp = s.impostor.clone();
    imp.sort_by(f32::total_cmp);
    let k = ((n as f64) * f).floor() as usize;
    let t = imp.get(k).copied().unwrap_or(f32::INFINITY);
    rate(under(&s.genuine, t), s.genuine.len())
}

/// Equal error rate: at the threshold (among the observed distances) where FAR and FRR
/// are closest, their mean.
pub fn eer(s: &PairScores) -> Option<f64> {
    if s.genuine.is_empty() || s.impostor.is_empty() {
        return None;
    }
    let mut ts: Vec<f32> = s.genuine.iter().chain(&s.impostor).copied().collect();
    ts.push(f32::INFINITY);
    ts.sort_by(f32::total_cmp);
    let mut best = (f64::MAX, 0.0);
    for t in ts {
        let far = under(&s.impostor, t) as f64 / s.impostor.len() as f64;
        let frr = 1.0 - under(&s.genuine, t) as f64 / s.genuine.len() as f64;
        let gap = (far - frr).abs();
        if gap < best.0 {
            best = (gap, (far + frr) / 2.0);
        }
    }
    Some(best.1)
}

/// The report for these scores at `threshold`.
pub fn evaluate(s: &PairScores, threshold: f32, skipped: usize) -> EvalReport {
    EvalReport {
        genuine_pairs: s.genuine.len(),
        impostor_pairs: s.impostor.len(),
        skipped,
        tar_at_far: TarAtFar {
            far_1e2: tar_at_far(s, 0.01),
            far_1e3: tar_at_far(s, 0.001),
            far_1e4: tar_at_far(s, 0.0001),
        },
        eer: eer(s),
        threshold,
        far: rate(under(&s.impostor, threshold), s.impostor.len()),
        frr: rate(
            s.genuine.len() - under(&s.genuine, threshold),
            s.genuine.len(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_scores_give_full_tar_and_zero_eer() {
        let s = PairScores {
            genuine: vec![0.3, 0.35, 0.4],
            impostor: (0..200).map(|i| 0.6 + i as f32 * 0.001).collect(),
        };
        let r = evaluate(&s, 0.5, 2);
        assert_eq!((r.genuine_pairs, r.impostor_pairs, r.skipped), (3, 200, 2));
        assert_eq!(r.tar_at_far.far_1e2, Some(1.0));
        assert_eq!(
            r.tar_at_far.far_1e3, None,
            "200 impostor pairs cannot resolve 0.1%"
        );
        assert_eq!(r.tar_at_far.far_1e4, None);
        assert_eq!(r.eer, Some(0.0));
        assert_eq!((r.far, r.frr), (Some(0.0), Some(0.0)));
        let json = serde_json::to_value(&r).unwrap_or_default();
        assert_eq!(json["tar_at_far"]["0.01"], 1.0);
        assert!(json["tar_at_far"]["0.0001"].is_null());
    }

    #[test]
    fn overlapping_scores() {
        // One impostor (of 100) under every genuine pair; one genuine pair over 0.5.
        let mut impostor: Vec<f32> = (0..99).map(|i| 0.7 + i as f32 * 0.001).collect();
        impostor.push(0.2);
        let s = PairScores {
            genuine: vec![0.3, 0.4, 0.45, 0.55],
            impostor,
        };
        let r = evaluate(&s, 0.5, 0);
        // At FAR 1% the threshold is the 2nd smallest impostor (0.7): all genuine pass.
        assert_eq!(r.tar_at_far.far_1e2, Some(1.0));
        assert_eq!(r.far, Some(0.01));
        assert_eq!(r.frr, Some(0.25));
        let e = r.eer.unwrap_or(1.0);
        assert!(e > 0.0 && e < 0.2, "{e}");
        assert_eq!(evaluate(&PairScores::default(), 0.5, 4).eer, None);
    }

    #[test]
    fn pairs_split_by_identity() {
        let e = |v: f32| Embedding::new(vec![v; 128]).unwrap_or_else(|_| unreachable!());
        let items = vec![("a", e(0.0)), ("a", e(0.01)), ("b", e(0.1))];
        let s = pair_scores(&items);
        assert_eq!((s.genuine.len(), s.impostor.len()), (1, 2));
    }
}
