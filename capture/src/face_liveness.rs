//! Liveness from face landmarks (issue 14, R-ID-2): challenges a photo cannot answer,
//! and a 3-D consistency check that a flat picture fails.
//!
//! * **Active challenges** ([`LandmarkChallenge`]), in a random order the caller draws
//!   with its own RNG ([`LandmarkChallenge::pick_sequence`]): blink (the eye aspect ratio
//!   drops and recovers), open the mouth (inner-lip gap over mouth width rises), turn the
//!   head left or right (yaw from the 3-D mesh moves from where it started). A printed
//!   photo, held still or moved by hand, can do none of them; a recording cannot know the
//!   order.
//! * **3-D consistency** ([`planarity`]): a flat picture, however it is moved, tilted or
//!   swung in front of the camera, maps its points from one frame to the next by a single
//!   homography. A head does not: as it turns, the nose moves against the cheeks
//!   (parallax), and blinking or speaking moves points on their own. Between the first
//!   frame and the most deformed one, we fit both a similarity (the part of the motion
//!   any picture can show) and a homography (the most a plane can show) to the 468 points:
//!   when the motion goes well beyond a similarity and a homography still explains it,
//!   the face is flat ([`Reason::PlanarMotion`]).
//!
//! Pure functions on landmark sequences (the landmarks come from
//! `verify::FaceVerifier`, feature `face-verify`); thresholds in
//! [`FaceLivenessConfig`], measured in `tests/face_liveness.rs` on real photographs moved
//! as a head (a 2.5-D warp with the photo's own mesh depth), and as a print (affine and
//! perspective warps of the same photo). The older pixel-based checks
//! ([`crate::liveness`]: frozen, looped, still frames; turn and move-closer without
//! landmarks) stay as they are and still run on every capture.
//!
//! Limits, stated plainly: a live video relayed from another device shows a real head
//! and passes the 3-D check; only the random order of the challenges stands against a
//! recording, and a real-time face swap would pass. A print bent while it is moved is
//! not a plane; it still cannot blink or open its mouth.

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::align;
use crate::landmarks::{self, Landmarks};
use crate::reason::Reason;

/// A movement the learner is asked to make, checked from landmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LandmarkChallenge {
    /// Close both eyes and open them again.
    Blink,
    /// Open the mouth.
    OpenMouth,
    /// Turn the head to the learner's own left.
    TurnLeft,
    /// Turn the head to the learner's own right.
    TurnRight,
}

impl LandmarkChallenge {
    /// Every landmark challenge.
    pub const ALL: [LandmarkChallenge; 4] = [
        LandmarkChallenge::Blink,
        LandmarkChallenge::OpenMouth,
        LandmarkChallenge::TurnLeft,
        LandmarkChallenge::TurnRight,
    ];

    /// `n` different challenges (at most 4) in a random order, drawn with the caller's
    /// RNG; at most one of the two turns, so that the sequence stays short.
    pub fn pick_sequence<R: Rng + ?Sized>(rng: &mut R, n: usize) -> Vec<LandmarkChallenge> {
        let turn = if rng.random_bool(0.5) {
            LandmarkChallenge::TurnLeft
        } else {
            LandmarkChallenge::TurnRight
        };
        let mut all = vec![LandmarkChallenge::Blink, LandmarkChallenge::OpenMouth, turn];
        all.shuffle(rng);
        all.truncate(n.min(3));
        all
    }

    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            LandmarkChallenge::Blink => "blink",
            LandmarkChallenge::OpenMouth => "open_mouth",
            LandmarkChallenge::TurnLeft => "turn_left",
            LandmarkChallenge::TurnRight => "turn_right",
        }
    }

    /// Prompt in Simplified Chinese.
    pub fn prompt_zh(self) -> &'static str {
        match self {
            LandmarkChallenge::Blink => "请眨眨眼。",
            LandmarkChallenge::OpenMouth => "请张开嘴，再合上。",
            LandmarkChallenge::TurnLeft => "请慢慢向左转头，再转回来。",
            LandmarkChallenge::TurnRight => "请慢慢向右转头，再转回来。",
        }
    }

    /// Prompt in English.
    pub fn prompt_en(self) -> &'static str {
        match self {
            LandmarkChallenge::Blink => "Please blink.",
            LandmarkChallenge::OpenMouth => "Open your mouth, then close it.",
            LandmarkChallenge::TurnLeft => "Slowly turn your head to your left, then back.",
            LandmarkChallenge::TurnRight => "Slowly turn your head to your right, then back.",
        }
    }
}

/// Thresholds of the landmark liveness checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaceLivenessConfig {
    /// Blink: the eye aspect ratio must fall to this share of the open eyes' ratio ...
    pub blink_closed_share: f32,
    /// ... with open eyes (at least this share) before and after.
    pub blink_open_share: f32,
    /// Open mouth: rise of the mouth ratio (inner-lip gap / mouth width) over the burst.
    pub mouth_rise: f32,
    /// Turns: change of yaw from the first frame, degrees.
    pub turn_degrees: f32,
    /// Frames allowed without landmarks.
    pub max_missing: usize,
    /// 3-D check: motion beyond a similarity (RMS residual over the eye span) needed
    /// before the check can conclude.
    pub min_deformation: f32,
    /// 3-D check: the nose's parallax (what a homography fitted to the rest of the face
    /// leaves unexplained of the nose, RMS over the eye span) above which the face is
    /// not flat ...
    pub min_parallax: f32,
    /// ... and at least this multiple of the deformation. The landmark model's own
    /// errors on a distorted print grow with the distortion (parallax 0.1–0.85 of the
    /// deformation on the acted prints); a turning head shows 1.4–1.6.
    pub min_parallax_ratio: f32,
}

impl Default for FaceLivenessConfig {
    fn default() -> Self {
        FaceLivenessConfig {
            blink_closed_share: 0.8,
            blink_open_share: 0.9,
            mouth_rise: 0.15,
            turn_degrees: 12.0,
            max_missing: 1,
            min_deformation: 0.02,
            min_parallax: 0.012,
            min_parallax_ratio: 1.1,
        }
    }
}

/// What was measured on a challenge burst.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LandmarkChallengeMetrics {
    /// Largest eye aspect ratio.
    pub eyes_open_max: f32,
    /// Smallest eye aspect ratio.
    pub eyes_open_min: f32,
    /// Mouth ratio: largest minus smallest.
    pub mouth_rise: f32,
    /// Largest yaw change towards the learner's left, degrees.
    pub turn_left: f32,
    /// Largest yaw change towards the learner's right, degrees.
    pub turn_right: f32,
    /// Frames without landmarks.
    pub missing: usize,
}

/// Result of a landmark challenge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LandmarkChallengeReport {
    /// The challenge asked.
    pub challenge: LandmarkChallenge,
    /// True if it was done.
    pub passed: bool,
    /// Failed rules.
    pub reasons: Vec<Reason>,
    /// Measurements.
    pub metrics: LandmarkChallengeMetrics,
}

/// Checks that a burst (landmarks per frame, `None` where the face was lost) shows the
/// challenge being done. `mirrored`: frames arrive mirrored (the learner's left is then
/// the image's left).
pub fn check_landmark_challenge(
    challenge: LandmarkChallenge,
    frames: &[Option<Landmarks>],
    mirrored: bool,
    cfg: &FaceLivenessConfig,
) -> LandmarkChallengeReport {
    let present: Vec<&Landmarks> = frames.iter().flatten().collect();
    let missing = frames.len() - present.len();
    let ears: Vec<f32> = present.iter().map(|l| landmarks::eye_opening(l)).collect();
    let mouths: Vec<f32> = present
        .iter()
        .map(|l| landmarks::mouth_opening(l))
        .collect();
    let yaws: Vec<f32> = present.iter().map(|l| landmarks::pose(l).yaw).collect();
    let max = |v: &[f32]| v.iter().copied().fold(f32::MIN, f32::max);
    let min = |v: &[f32]| v.iter().copied().fold(f32::MAX, f32::min);
    let (ear_max, ear_min) = if ears.is_empty() {
        (0.0, 0.0)
    } else {
        (max(&ears), min(&ears))
    };
    let mouth_rise = if mouths.is_empty() {
        0.0
    } else {
        // Rise after the lowest point so far (opening, not closing).
        let mut lowest = f32::MAX;
        let mut rise = 0f32;
        for &m in &mouths {
            lowest = lowest.min(m);
            rise = rise.max(m - lowest);
        }
        rise
    };
    let yaw0 = yaws.first().copied().unwrap_or(0.0);
    // Positive yaw = towards the image's right = the learner's left in a camera image.
    let sign = if mirrored { -1.0 } else { 1.0 };
    let turn_left = yaws.iter().map(|y| sign * (y - yaw0)).fold(0f32, f32::max);
    let turn_right = yaws.iter().map(|y| -sign * (y - yaw0)).fold(0f32, f32::max);
    let blinked = {
        // Open, then closed, then open again.
        let open = cfg.blink_open_share * ear_max;
        let closed = cfg.blink_closed_share * ear_max;
        let mut state = 0;
        for &e in &ears {
            state = match state {
                0 if e >= open => 1,
                1 if e <= closed => 2,
                2 if e >= open => 3,
                s => s,
            };
        }
        state == 3 && ear_max > 0.0
    };
    let done = match challenge {
        LandmarkChallenge::Blink => blinked,
        LandmarkChallenge::OpenMouth => mouth_rise >= cfg.mouth_rise,
        LandmarkChallenge::TurnLeft => turn_left >= cfg.turn_degrees,
        LandmarkChallenge::TurnRight => turn_right >= cfg.turn_degrees,
    };
    let mut reasons = Vec::new();
    let lost = missing > cfg.max_missing || present.is_empty();
    if lost {
        reasons.push(Reason::FaceLost);
    }
    if !done || lost {
        reasons.push(Reason::ChallengeNotDone);
    }
    LandmarkChallengeReport {
        challenge,
        passed: reasons.is_empty(),
        reasons,
        metrics: LandmarkChallengeMetrics {
            eyes_open_max: ear_max,
            eyes_open_min: ear_min,
            mouth_rise,
            turn_left,
            turn_right,
            missing,
        },
    }
}

/// Verdict of the 3-D consistency check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Planarity {
    /// The motion is not that of a plane: a head.
    NotPlanar,
    /// A homography explains the motion: a flat picture.
    Planar,
    /// Too little motion beyond a similarity to tell.
    Inconclusive,
}

/// Result of [`planarity`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlanarityReport {
    /// The verdict.
    pub verdict: Planarity,
    /// Largest motion beyond a similarity (RMS residual over the eye span).
    pub deformation: f32,
    /// What a homography leaves unexplained in that frame (RMS over the eye span).
    pub parallax: f32,
    /// Frames compared.
    pub frames: usize,
}

impl PlanarityReport {
    /// The reason a liveness check fails on this report, if any: a plane is
    /// [`Reason::PlanarMotion`], too little motion to tell is [`Reason::NoMotion`].
    pub fn reason(&self) -> Option<Reason> {
        match self.verdict {
            Planarity::NotPlanar => None,
            Planarity::Planar => Some(Reason::PlanarMotion),
            Planarity::Inconclusive => Some(Reason::NoMotion),
        }
    }
}

/// The 3-D consistency check over landmark frames (see the module documentation). The
/// first frame is the reference; frames without landmarks are skipped.
pub fn planarity(frames: &[Option<Landmarks>], cfg: &FaceLivenessConfig) -> PlanarityReport {
    let present: Vec<&Landmarks> = frames
        .iter()
        .flatten()
        .filter(|l| l.points.len() == landmarks::POINTS)
        .collect();
    let pick = |l: &Landmarks, idx: &[usize]| -> Vec<[f32; 2]> {
        idx.iter()
            .map(|&i| [l.points[i][0], l.points[i][1]])
            .collect()
    };
    let mut best = (0f32, 0f32);
    if let Some(reference) = present.first() {
        let span = landmarks::eye_span(reference).max(1.0);
        let surface0 = pick(reference, &landmarks::SURFACE_POINTS);
        let relief0 = pick(reference, &landmarks::RELIEF_POINTS);
        let mut all0 = surface0.clone();
        all0.extend_from_slice(&relief0);
        for l in present.iter().skip(1) {
            let surface = pick(l, &landmarks::SURFACE_POINTS);
            let relief = pick(l, &landmarks::RELIEF_POINTS);
            let mut all = surface.clone();
            all.extend_from_slice(&relief);
            // Motion beyond what any picture shows when moved without tilting.
            let Some(sim) = align::similarity(&all0, &all) else {
                continue;
            };
            let deformation = rms_residual(&all0, &all, |x, y| align::apply(&sim, x, y)) / span;
            if deformation <= best.0 {
                continue;
            }
            // The most a plane can show, fitted to the surface points; the nose's
            // residual is the parallax.
            let parallax = match fit_homography(&surface0, &surface) {
                Some(h) => rms_residual(&relief0, &relief, |x, y| apply_h(&h, x, y)) / span,
                None => deformation,
            };
            best = (deformation, parallax);
        }
    }
    let (deformation, parallax) = best;
    let verdict = if deformation < cfg.min_deformation {
        Planarity::Inconclusive
    } else if parallax >= cfg.min_parallax && parallax >= cfg.min_parallax_ratio * deformation {
        Planarity::NotPlanar
    } else {
        Planarity::Planar
    };
    PlanarityReport {
        verdict,
        deformation,
        parallax,
        frames: present.len(),
    }
}

/// Result of a whole login liveness check: every challenge of the sequence, then the 3-D
/// check over all their frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessSessionReport {
    /// True if every challenge was done and the face was not flat.
    pub passed: bool,
    /// Failed rules, without repeats.
    pub reasons: Vec<Reason>,
    /// One report per challenge, in the order asked.
    pub challenges: Vec<LandmarkChallengeReport>,
    /// The 3-D check over the frames of all the challenges.
    pub planarity: PlanarityReport,
}

/// Checks a login liveness session (R-ID-2): `bursts[i]` holds the landmarks of the
/// frames recorded after prompting `sequence[i]`. A missing burst fails its challenge.
pub fn check_liveness_session(
    sequence: &[LandmarkChallenge],
    bursts: &[Vec<Option<Landmarks>>],
    mirrored: bool,
    cfg: &FaceLivenessConfig,
) -> LivenessSessionReport {
    let mut reasons = Vec::new();
    let mut all = Vec::new();
    let challenges: Vec<LandmarkChallengeReport> = sequence
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let frames = bursts.get(i).map(Vec::as_slice).unwrap_or(&[]);
            all.extend_from_slice(frames);
            check_landmark_challenge(c, frames, mirrored, cfg)
        })
        .collect();
    for r in challenges.iter().flat_map(|c| &c.reasons) {
        if !reasons.contains(r) {
            reasons.push(*r);
        }
    }
    let planarity = planarity(&all, cfg);
    if let Some(r) = planarity.reason() {
        if !reasons.contains(&r) {
            reasons.push(r);
        }
    }
    LivenessSessionReport {
        passed: reasons.is_empty() && !sequence.is_empty(),
        reasons,
        challenges,
        planarity,
    }
}

fn rms_residual(from: &[[f32; 2]], to: &[[f32; 2]], f: impl Fn(f32, f32) -> (f32, f32)) -> f32 {
    if from.is_empty() {
        return 0.0;
    }
    let s: f64 = from
        .iter()
        .zip(to)
        .map(|(a, b)| {
            let (x, y) = f(a[0], a[1]);
            ((x - b[0]) as f64).powi(2) + ((y - b[1]) as f64).powi(2)
        })
        .sum();
    (s / from.len() as f64).sqrt() as f32
}

/// A 3x3 homography, row-major, `h[8] = 1`.
type Homography = [f64; 9];

fn apply_h(h: &Homography, x: f32, y: f32) -> (f32, f32) {
    let (x, y) = (x as f64, y as f64);
    let w = h[6] * x + h[7] * y + h[8];
    if w.abs() < 1e-12 {
        return (f32::MAX, f32::MAX);
    }
    (
        ((h[0] * x + h[1] * y + h[2]) / w) as f32,
        ((h[3] * x + h[4] * y + h[5]) / w) as f32,
    )
}

/// Hartley normalisation: centroid to the origin, mean distance √2. Returns the points
/// and the map `[s, tx, ty]` (x' = s x + tx).
fn normalise(p: &[[f32; 2]]) -> (Vec<[f64; 2]>, [f64; 3]) {
    let n = p.len().max(1) as f64;
    let (cx, cy) = p
        .iter()
        .fold((0.0, 0.0), |a, q| (a.0 + q[0] as f64, a.1 + q[1] as f64));
    let (cx, cy) = (cx / n, cy / n);
    let md = p
        .iter()
        .map(|q| ((q[0] as f64 - cx).powi(2) + (q[1] as f64 - cy).powi(2)).sqrt())
        .sum::<f64>()
        / n;
    let s = if md > 1e-12 { 2f64.sqrt() / md } else { 1.0 };
    let out = p
        .iter()
        .map(|q| [(q[0] as f64 - cx) * s, (q[1] as f64 - cy) * s])
        .collect();
    (out, [s, -cx * s, -cy * s])
}

/// Least-squares homography taking `from` onto `to` (normalised DLT with h33 = 1, normal
/// equations). `None` if the system is singular.
fn fit_homography(from: &[[f32; 2]], to: &[[f32; 2]]) -> Option<Homography> {
    if from.len() < 4 || from.len() != to.len() {
        return None;
    }
    let (a, ta) = normalise(from);
    let (b, tb) = normalise(to);
    let mut ata = [[0f64; 8]; 8];
    let mut atb = [0f64; 8];
    for (p, q) in a.iter().zip(&b) {
        let (x, y, u, v) = (p[0], p[1], q[0], q[1]);
        let rows = [
            ([x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y], u),
            ([0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y], v),
        ];
        for (r, rhs) in rows {
            for i in 0..8 {
                atb[i] += r[i] * rhs;
                for j in 0..8 {
                    ata[i][j] += r[i] * r[j];
                }
            }
        }
    }
    let hn = solve8(ata, atb)?;
    // Undo the normalisations: H = Tb^-1 Hn Ta.
    let hn = [hn[0], hn[1], hn[2], hn[3], hn[4], hn[5], hn[6], hn[7], 1.0];
    let ta_m = [ta[0], 0.0, ta[1], 0.0, ta[0], ta[2], 0.0, 0.0, 1.0];
    let tb_inv = [
        1.0 / tb[0],
        0.0,
        -tb[1] / tb[0],
        0.0,
        1.0 / tb[0],
        -tb[2] / tb[0],
        0.0,
        0.0,
        1.0,
    ];
    let h = mul3(&tb_inv, &mul3(&hn, &ta_m));
    if h[8].abs() < 1e-12 {
        return None;
    }
    Some(h.map(|v| v / h[8]))
}

fn mul3(a: &[f64; 9], b: &[f64; 9]) -> [f64; 9] {
    let mut c = [0f64; 9];
    for i in 0..3 {
        for j in 0..3 {
            c[i * 3 + j] = (0..3).map(|k| a[i * 3 + k] * b[k * 3 + j]).sum();
        }
    }
    c
}

/// Gaussian elimination with partial pivoting.
fn solve8(mut m: [[f64; 8]; 8], mut r: [f64; 8]) -> Option<[f64; 8]> {
    for col in 0..8 {
        let piv = (col..8).max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))?;
        if m[piv][col].abs() < 1e-12 {
            return None;
        }
        m.swap(col, piv);
        r.swap(col, piv);
        let (pivot_row, pivot_r) = (m[col], r[col]);
        for (row, rr) in m.iter_mut().zip(r.iter_mut()).skip(col + 1) {
            let f = row[col] / pivot_row[col];
            for (a, b) in row.iter_mut().zip(pivot_row.iter()).skip(col) {
                *a -= f * b;
            }
            *rr -= f * pivot_r;
        }
    }
    let mut x = [0f64; 8];
    for i in (0..8).rev() {
        let s: f64 = (i + 1..8).map(|k| m[i][k] * x[k]).sum();
        x[i] = (r[i] - s) / m[i][i];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// A synthetic 3-D point cloud shaped like a face (a half ellipsoid with a nose),
    /// projected after a yaw rotation: only for the geometry of the fit, the behaviour on
    /// real faces is tested in `tests/face_liveness.rs`.
    fn head(yaw_deg: f32, plane: bool) -> Landmarks {
        let (s, c) = yaw_deg.to_radians().sin_cos();
        let mut points = Vec::with_capacity(landmarks::POINTS);
        for i in 0..landmarks::POINTS {
            let a = i as f32 * 2.399_963; // golden angle spiral over the face
            let r = (i as f32 / landmarks::POINTS as f32).sqrt();
            let (x, y) = (r * a.cos() * 60.0, r * a.sin() * 75.0);
            let z = if plane {
                0.0
            } else {
                -40.0 * (1.0 - r * r).max(0.0).sqrt() - 25.0 * (-(x * x + y * y) / 300.0).exp()
            };
            points.push([200.0 + c * x - s * z, 200.0 + y, s * x + c * z]);
        }
        points[landmarks::RIGHT_EYE_OUTER] = [170.0, 180.0, 0.0];
        points[landmarks::LEFT_EYE_OUTER] = [230.0, 180.0, 0.0];
        Landmarks {
            points,
            presence: 1.0,
        }
    }

    #[test]
    fn a_turning_solid_is_not_planar_a_turning_plane_is() {
        let cfg = FaceLivenessConfig::default();
        let solid: Vec<Option<Landmarks>> = [0.0, 10.0, 20.0]
            .iter()
            .map(|&y| Some(head(y, false)))
            .collect();
        let r = planarity(&solid, &cfg);
        assert_eq!(r.verdict, Planarity::NotPlanar, "{r:?}");
        let flat: Vec<Option<Landmarks>> = [0.0, 20.0, 40.0]
            .iter()
            .map(|&y| Some(head(y, true)))
            .collect();
        let r = planarity(&flat, &cfg);
        assert_eq!(r.verdict, Planarity::Planar, "{r:?}");
        assert_eq!(r.reason(), Some(Reason::PlanarMotion));
        let still = vec![Some(head(0.0, false)), Some(head(0.0, false))];
        assert_eq!(planarity(&still, &cfg).verdict, Planarity::Inconclusive);
    }

    #[test]
    fn homography_fit_recovers_a_perspective_map() {
        let h: Homography = [1.1, 0.1, 5.0, -0.05, 0.9, 3.0, 0.0004, -0.0002, 1.0];
        let from: Vec<[f32; 2]> = (0..50)
            .map(|i| [(i % 7) as f32 * 20.0, (i / 7) as f32 * 15.0])
            .collect();
        let to: Vec<[f32; 2]> = from
            .iter()
            .map(|p| {
                let (x, y) = apply_h(&h, p[0], p[1]);
                [x, y]
            })
            .collect();
        let got = fit_homography(&from, &to);
        assert!(got.is_some());
        let got = got.unwrap_or([0.0; 9]);
        assert!(rms_residual(&from, &to, |x, y| apply_h(&got, x, y)) < 1e-2);
    }

    #[test]
    fn sequences_are_random_distinct_and_reproducible() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..40 {
            let s = LandmarkChallenge::pick_sequence(&mut rng, 3);
            assert_eq!(s.len(), 3);
            let turns = s
                .iter()
                .filter(|c| {
                    matches!(
                        c,
                        LandmarkChallenge::TurnLeft | LandmarkChallenge::TurnRight
                    )
                })
                .count();
            assert_eq!(turns, 1);
            seen.insert(s);
        }
        assert!(seen.len() > 6, "only {} orders", seen.len());
        let mut a = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let mut b = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        assert_eq!(
            LandmarkChallenge::pick_sequence(&mut a, 2),
            LandmarkChallenge::pick_sequence(&mut b, 2)
        );
        for c in LandmarkChallenge::ALL {
            assert_eq!(
                serde_json::to_string(&c).unwrap_or_default(),
                format!("\"{}\"", c.code())
            );
            assert!(!c.prompt_zh().is_empty() && !c.prompt_en().is_empty());
        }
    }

    #[test]
    fn an_empty_burst_fails_every_challenge() {
        for c in LandmarkChallenge::ALL {
            let r =
                check_landmark_challenge(c, &[None, None], false, &FaceLivenessConfig::default());
            assert!(!r.passed);
            assert!(r.reasons.contains(&Reason::FaceLost));
        }
    }
}
