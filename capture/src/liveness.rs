//! Liveness (R-ID-2, R-ST-3): is a live person in front of this device's camera?
//!
//! Two layers, both running on the device that plays the course, offline:
//!
//! * **Passive anti-replay**, at every capture, over a burst of frames spread over about
//!   a second: a frozen picture (the same pixels again and again) fails
//!   ([`Reason::FrozenFrame`]); earlier pictures coming back later in the burst fail
//!   ([`Reason::ReplayedFrames`], a short loop); a face that does not move at all fails
//!   ([`Reason::NoMotion`], a still photo or a paused video). Natural head motion of a few
//!   percent of the face width passes. Motion is measured by aligning the face region
//!   between frames (sub-pixel block matching on the face scaled to 64 px) and by the
//!   detector's box position and size.
//! * **Active challenge**, before each study login: a randomly chosen movement
//!   ([`Challenge`]) checked by tracking the face across a short burst. A recording cannot
//!   answer a prompt it did not know. Head turns are measured by how far the middle of
//!   the face (nose, mouth) moves sideways beyond its sides ([`strip_flow`]): a turning
//!   head does that, a photo slid sideways or swung about its vertical axis does not.
//!
//! Virtual-camera device names are flagged separately
//! ([`crate::source::virtual_camera`]).
//!
//! Limits, stated plainly: a printed photo *moved by hand* shows motion and can pass
//! the passive check; it cannot turn its head, so it fails the turn challenges. A live
//! video relayed from another device can pass both; the virtual-camera flag, the kept
//! photo (R-ST-3) and platform-side review (R-SV-3) are the answers there.

use image::GrayImage;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::detect::{BBox, Face};
use crate::imgops;
use crate::reason::Reason;

/// A movement the learner is asked to make before a study login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Challenge {
    /// Turn the head to the learner's own left.
    TurnLeft,
    /// Turn the head to the learner's own right.
    TurnRight,
    /// Move the face closer to the camera.
    MoveCloser,
}

impl Challenge {
    /// Every challenge.
    pub const ALL: [Challenge; 3] = [
        Challenge::TurnLeft,
        Challenge::TurnRight,
        Challenge::MoveCloser,
    ];

    /// Picks one uniformly at random with the caller's RNG.
    pub fn pick<R: Rng + ?Sized>(rng: &mut R) -> Challenge {
        Challenge::ALL[rng.random_range(0..Challenge::ALL.len())]
    }

    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            Challenge::TurnLeft => "turn_left",
            Challenge::TurnRight => "turn_right",
            Challenge::MoveCloser => "move_closer",
        }
    }

    /// Prompt in Simplified Chinese.
    pub fn prompt_zh(self) -> &'static str {
        match self {
            Challenge::TurnLeft => "请慢慢向左转头，再转回来。",
            Challenge::TurnRight => "请慢慢向右转头，再转回来。",
            Challenge::MoveCloser => "请慢慢靠近摄像头。",
        }
    }

    /// Prompt in English.
    pub fn prompt_en(self) -> &'static str {
        match self {
            Challenge::TurnLeft => "Slowly turn your head to your left, then back.",
            Challenge::TurnRight => "Slowly turn your head to your right, then back.",
            Challenge::MoveCloser => "Slowly move closer to the camera.",
        }
    }
}

/// Liveness thresholds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LivenessConfig {
    /// Two frames sharing at least this share of identical pixels are the same picture.
    /// A live sensor's noise makes this practically impossible.
    pub identical_fraction: f32,
    /// Smallest face motion (share of the face width) counted as natural motion.
    pub min_motion: f32,
    /// Frames in a burst allowed to miss the face.
    pub max_missing_faces: usize,
    /// Turn challenges: flow of the middle of the face beyond its sides (share of face
    /// width).
    pub min_turn: f32,
    /// Move-closer challenge: growth of the face width.
    pub min_closer_ratio: f32,
    /// A face jumping more than this (share of its width) between frames breaks the track.
    pub max_jump: f32,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        LivenessConfig {
            identical_fraction: 0.98,
            min_motion: 0.02,
            max_missing_faces: 1,
            min_turn: 0.02,
            min_closer_ratio: 1.2,
            max_jump: 0.6,
        }
    }
}

/// One frame of a burst, after detection.
#[derive(Debug, Clone, Copy)]
pub struct BurstFrame<'a> {
    /// Grey pixels.
    pub gray: &'a GrayImage,
    /// Source timestamp.
    pub t_ms: u64,
    /// The main face (best score), if any.
    pub face: Option<Face>,
}

/// Measurements of the passive check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PassiveMetrics {
    /// Frames looked at.
    pub frames: usize,
    /// Consecutive pairs that were the same picture.
    pub frozen_pairs: usize,
    /// Non-adjacent pairs that were the same picture while frames between differed.
    pub repeated_pairs: usize,
    /// Frames without a face.
    pub missing_faces: usize,
    /// Largest face motion against the first face, as a share of its width.
    pub motion: f32,
    /// Time spanned by the burst.
    pub span_ms: u64,
}

/// Result of the passive check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassiveReport {
    /// Failed rules; empty when the burst looks live.
    pub reasons: Vec<Reason>,
    /// Measurements.
    pub metrics: PassiveMetrics,
}

/// Measurements of a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChallengeMetrics {
    /// Largest turn towards the learner's left: horizontal flow of the middle of the face
    /// minus that of its sides, as a share of the face width.
    pub turn_left: f32,
    /// Largest turn towards the learner's right, likewise.
    pub turn_right: f32,
    /// Largest face width over the first face width.
    pub closer_ratio: f32,
    /// The track of the face broke (a jump or too many frames without a face).
    pub track_broken: bool,
}

/// Result of an active challenge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChallengeReport {
    /// The challenge asked.
    pub challenge: Challenge,
    /// True if it was done.
    pub passed: bool,
    /// Failed rules.
    pub reasons: Vec<Reason>,
    /// Measurements.
    pub metrics: ChallengeMetrics,
}

/// Share of pixels that are exactly equal in two same-sized images (0 if sizes differ).
pub fn identical_fraction(a: &GrayImage, b: &GrayImage) -> f32 {
    if a.dimensions() != b.dimensions() || a.as_raw().is_empty() {
        return 0.0;
    }
    let same = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .filter(|(x, y)| x == y)
        .count();
    same as f32 / a.as_raw().len() as f32
}

/// Side of the normalised face patch used for alignment and symmetry.
const PATCH: u32 = 64;
/// Block-matching search radius in patch pixels.
const SEARCH: i32 = 6;

/// The face region `b` grown by `margin` patch pixels on each side, scaled so that the
/// face is `PATCH` wide. `None` if it is not fully inside the frame.
fn patch_with_margin(gray: &GrayImage, b: &BBox, margin: i32) -> Option<GrayImage> {
    let scale = b.w as f32 / PATCH as f32;
    let m = (margin as f32 * scale).round() as i32;
    let side = PATCH as i32 + 2 * margin;
    let bb = BBox {
        x: b.x - m,
        y: b.y - m,
        w: b.w + 2 * m as u32,
        h: b.w + 2 * m as u32,
    };
    let (x, y, w, h) = bb.clamp_to(gray.width(), gray.height())?;
    if (w, h) != (bb.w, bb.h) || w < 8 {
        return None;
    }
    let crop = imgops::crop_gray(gray, x, y, w, h);
    Some(imgops::resize_gray(&crop, side as u32, side as u32))
}

/// Mean absolute difference between `r` (PATCH x PATCH) and the window of `s` (which has
/// a SEARCH margin) shifted by (dx, dy), after removing the mean difference (exposure).
fn shifted_mad(r: &GrayImage, s: &GrayImage, dx: i32, dy: i32) -> f32 {
    let n = PATCH as i32;
    let sw = s.width() as i32;
    let (rd, sd) = (r.as_raw(), s.as_raw());
    let mut diff_sum = 0i64;
    let mut cnt = 0i64;
    // Subsample every other pixel: plenty for a 64 px patch.
    for y in (4..n - 4).step_by(2) {
        for x in (4..n - 4).step_by(2) {
            let a = rd[(y * n + x) as usize] as i64;
            let b = sd[((y + SEARCH + dy) * sw + x + SEARCH + dx) as usize] as i64;
            diff_sum += b - a;
            cnt += 1;
        }
    }
    let mean = diff_sum as f32 / cnt as f32;
    let mut acc = 0f32;
    for y in (4..n - 4).step_by(2) {
        for x in (4..n - 4).step_by(2) {
            let a = rd[(y * n + x) as usize] as f32;
            let b = sd[((y + SEARCH + dy) * sw + x + SEARCH + dx) as usize] as f32;
            acc += (b - a - mean).abs();
        }
    }
    acc / cnt as f32
}

/// Sub-pixel offset of the minimum of three costs at -1, 0, +1.
fn parabola(cm: f32, c0: f32, cp: f32) -> f32 {
    let den = cm - 2.0 * c0 + cp;
    if den <= 1e-6 {
        0.0
    } else {
        (0.5 * (cm - cp) / den).clamp(-0.5, 0.5)
    }
}

/// How far the face region of `reference` (box `b`) moved in `other`, in patch pixels.
/// `None` if the region is not fully inside both frames.
fn patch_shift(reference: &GrayImage, other: &GrayImage, b: &BBox) -> Option<f32> {
    let r = patch_with_margin(reference, b, 0)?;
    let s = patch_with_margin(other, b, SEARCH)?;
    let mut best = (f32::MAX, 0, 0);
    let mut costs = [[0f32; (2 * SEARCH + 1) as usize]; (2 * SEARCH + 1) as usize];
    for dy in -SEARCH..=SEARCH {
        for dx in -SEARCH..=SEARCH {
            let c = shifted_mad(&r, &s, dx, dy);
            costs[(dy + SEARCH) as usize][(dx + SEARCH) as usize] = c;
            if c < best.0 {
                best = (c, dx, dy);
            }
        }
    }
    let (_, bx, by) = best;
    let at = |dx: i32, dy: i32| costs[(dy + SEARCH) as usize][(dx + SEARCH) as usize];
    let fx = if bx.abs() < SEARCH {
        bx as f32 + parabola(at(bx - 1, by), at(bx, by), at(bx + 1, by))
    } else {
        bx as f32
    };
    let fy = if by.abs() < SEARCH {
        by as f32 + parabola(at(bx, by - 1), at(bx, by), at(bx, by + 1))
    } else {
        by as f32
    };
    Some((fx * fx + fy * fy).sqrt())
}

/// Horizontal flow of three vertical strips of the face between a baseline frame (face
/// box `b0`) and another frame (face box `b1`), in shares of the face width:
/// `(left, centre, right)` in image terms, after scaling both faces to the same width.
///
/// Each face is cut out around its own box, which takes out most of the translation
/// and zoom; what the differential `centre - (left + right) / 2` keeps is the
/// non-rigid part: a head turning about its vertical axis moves the middle of the face
/// (nose, mouth) further than its sides, which stay near the head's outline. A photo
/// slid sideways or zoomed moves the strips alike (or the sides symmetrically), and a
/// photo swung about its vertical axis moves the sides in opposite directions and the
/// middle not at all. `None` if a region is not inside its frame.
pub fn strip_flow(
    baseline: &GrayImage,
    b0: &BBox,
    other: &GrayImage,
    b1: &BBox,
) -> Option<(f32, f32, f32)> {
    let p0 = flow_patch(baseline, b0)?;
    let p1 = flow_patch(other, b1)?;
    let n = PATCH as i32;
    // Strips in face coordinates (0..PATCH): x range; rows from the eyes to the chin.
    let strips = [
        (n * 4 / 100, n * 24 / 100),
        (n * 38 / 100, n * 62 / 100),
        (n * 76 / 100, n * 96 / 100),
    ];
    let (r0, r1) = (n * 30 / 100, n * 90 / 100);
    let mut out = [0f32; 3];
    for (k, &(x0, x1)) in strips.iter().enumerate() {
        let mut costs = vec![f32::MAX; (2 * FLOW_X + 1) as usize];
        let mut best = (f32::MAX, 0i32);
        for dx in -FLOW_X..=FLOW_X {
            let mut c = f32::MAX;
            for dy in -FLOW_DY..=FLOW_DY {
                c = c.min(region_mad(
                    &p0,
                    &p1,
                    (x0 + FLOW_X, x1 + FLOW_X),
                    (r0 + FLOW_Y, r1 + FLOW_Y),
                    (dx, dy),
                ));
            }
            costs[(dx + FLOW_X) as usize] = c;
            if c < best.0 {
                best = (c, dx);
            }
        }
        let i = (best.1 + FLOW_X) as usize;
        let frac = if i > 0 && i + 1 < costs.len() {
            parabola(costs[i - 1], costs[i], costs[i + 1])
        } else {
            0.0
        };
        out[k] = (best.1 as f32 + frac) / PATCH as f32;
    }
    Some((out[0], out[1], out[2]))
}

/// The face in box `b` scaled to PATCH px wide, with FLOW_X px of margin left and right
/// and FLOW_Y above and below.
fn flow_patch(gray: &GrayImage, b: &BBox) -> Option<GrayImage> {
    let scale = b.w.max(1) as f32 / PATCH as f32;
    let mx = (FLOW_X as f32 * scale).round() as i32;
    let my = (FLOW_Y as f32 * scale).round() as i32;
    let region = BBox {
        x: b.x - mx,
        y: b.y - my,
        w: b.w + 2 * mx as u32,
        h: b.w + 2 * my as u32,
    };
    let (x, y, w, h) = region.clamp_to(gray.width(), gray.height())?;
    if (w, h) != (region.w, region.h) || b.w < 16 {
        return None;
    }
    let (pw, ph) = (
        (PATCH as i32 + 2 * FLOW_X) as u32,
        (PATCH as i32 + 2 * FLOW_Y) as u32,
    );
    Some(imgops::resize_gray(
        &imgops::crop_gray(gray, x, y, w, h),
        pw,
        ph,
    ))
}

/// Horizontal search radius of [`strip_flow`] in patch pixels (a quarter of the face width).
const FLOW_X: i32 = 16;
/// Vertical margin of [`strip_flow`].
const FLOW_Y: i32 = 6;
/// Vertical search radius of [`strip_flow`].
const FLOW_DY: i32 = 4;

/// Mean absolute difference between the block `xs x ys` of `a` and the same block of
/// `b` shifted by `d`, after removing the mean difference (exposure). Blocks reaching
/// outside `b` cost `f32::MAX`.
fn region_mad(
    a: &GrayImage,
    b: &GrayImage,
    (x0, x1): (i32, i32),
    (y0, y1): (i32, i32),
    (dx, dy): (i32, i32),
) -> f32 {
    let (w, h) = (b.width() as i32, b.height() as i32);
    if x0 + dx < 0 || x1 + dx > w || y0 + dy < 0 || y1 + dy > h || x1 <= x0 || y1 <= y0 {
        return f32::MAX;
    }
    let (ad, bd) = (a.as_raw(), b.as_raw());
    let aw = a.width() as i32;
    let mut sum = 0i64;
    let mut cnt = 0i64;
    for y in y0..y1 {
        for x in x0..x1 {
            sum += bd[((y + dy) * w + x + dx) as usize] as i64 - ad[(y * aw + x) as usize] as i64;
            cnt += 1;
        }
    }
    let mean = sum as f32 / cnt as f32;
    let mut acc = 0f32;
    for y in y0..y1 {
        for x in x0..x1 {
            let d = bd[((y + dy) * w + x + dx) as usize] as f32 - ad[(y * aw + x) as usize] as f32;
            acc += (d - mean).abs();
        }
    }
    acc / cnt as f32
}

/// Runs the passive anti-replay checks on a burst.
pub fn passive_check(frames: &[BurstFrame<'_>], cfg: &LivenessConfig) -> PassiveReport {
    let n = frames.len();
    let same = |i: usize, j: usize| {
        identical_fraction(frames[i].gray, frames[j].gray) >= cfg.identical_fraction
    };
    let mut frozen_pairs = 0;
    for i in 1..n {
        if same(i - 1, i) {
            frozen_pairs += 1;
        }
    }
    let mut repeated_pairs = 0;
    for i in 0..n {
        for j in i + 2..n {
            if same(i, j) && (i + 1..j).any(|k| !same(i, k)) {
                repeated_pairs += 1;
            }
        }
    }
    let missing_faces = frames.iter().filter(|f| f.face.is_none()).count();
    let mut motion = 0f32;
    if let Some((ri, reference)) = frames
        .iter()
        .enumerate()
        .find_map(|(i, f)| f.face.map(|face| (i, face)))
    {
        let rb = reference.bbox;
        let (rcx, rcy) = rb.centre();
        let rw = rb.w.max(1) as f32;
        for f in frames.iter().skip(ri + 1) {
            let Some(face) = f.face else { continue };
            let (cx, cy) = face.bbox.centre();
            let box_shift = ((cx - rcx).powi(2) + (cy - rcy).powi(2)).sqrt() / rw;
            let scale = (face.bbox.w as f32 / rw - 1.0).abs();
            // The detector's box alone jitters on noisy frames; trust it only for large
            // moves, and measure small ones by aligning the pixels.
            let fine = patch_shift(frames[ri].gray, f.gray, &rb)
                .map(|s| s / PATCH as f32)
                .unwrap_or(box_shift);
            let coarse = if box_shift > 0.1 || scale > 0.1 {
                box_shift.max(scale)
            } else {
                0.0
            };
            motion = motion.max(fine).max(coarse);
        }
    }
    let span_ms = match (frames.first(), frames.last()) {
        (Some(a), Some(b)) => b.t_ms.saturating_sub(a.t_ms),
        _ => 0,
    };
    let mut reasons = Vec::new();
    let pairs = n.saturating_sub(1);
    let frozen = pairs > 0 && frozen_pairs * 2 >= pairs;
    if frozen {
        reasons.push(Reason::FrozenFrame);
    } else if repeated_pairs > 0 {
        reasons.push(Reason::ReplayedFrames);
    }
    if missing_faces > cfg.max_missing_faces || missing_faces == n {
        reasons.push(Reason::FaceLost);
    } else if !frozen && motion < cfg.min_motion {
        reasons.push(Reason::NoMotion);
    }
    PassiveReport {
        reasons,
        metrics: PassiveMetrics {
            frames: n,
            frozen_pairs,
            repeated_pairs,
            missing_faces,
            motion,
            span_ms,
        },
    }
}

/// Checks that the burst shows `challenge` being done. `mirrored` says whether frames
/// arrive mirrored (then the learner's left is the image's left).
pub fn check_challenge(
    challenge: Challenge,
    frames: &[BurstFrame<'_>],
    mirrored: bool,
    cfg: &LivenessConfig,
) -> ChallengeReport {
    let mut track_broken = false;
    let mut missing = 0usize;
    let mut prev: Option<BBox> = None;
    let mut first: Option<(&GrayImage, BBox)> = None;
    let (mut turn_left, mut turn_right, mut closer) = (0f32, 0f32, 1f32);
    for f in frames {
        let Some(face) = f.face else {
            missing += 1;
            continue;
        };
        let b = face.bbox;
        if let Some(p) = prev {
            let (px, py) = p.centre();
            let (cx, cy) = b.centre();
            let jump = ((cx - px).powi(2) + (cy - py).powi(2)).sqrt() / p.w.max(1) as f32;
            if jump > cfg.max_jump {
                track_broken = true;
            }
        }
        prev = Some(b);
        let Some((g0, b0)) = first else {
            first = Some((f.gray, b));
            continue;
        };
        closer = closer.max(b.w as f32 / b0.w.max(1) as f32);
        if let Some((l, c, r)) = strip_flow(g0, &b0, f.gray, &b) {
            // The middle of the face moving right of its sides = the nose turning towards
            // the image's right = the learner's left in a camera (not mirrored) image.
            let towards_image_right = c - (l + r) / 2.0;
            let to_left = if mirrored {
                -towards_image_right
            } else {
                towards_image_right
            };
            turn_left = turn_left.max(to_left);
            turn_right = turn_right.max(-to_left);
        }
    }
    if missing > cfg.max_missing_faces || first.is_none() {
        track_broken = true;
    }
    let done = match challenge {
        Challenge::TurnLeft => turn_left >= cfg.min_turn,
        Challenge::TurnRight => turn_right >= cfg.min_turn,
        Challenge::MoveCloser => closer >= cfg.min_closer_ratio,
    };
    let mut reasons = Vec::new();
    if track_broken {
        reasons.push(Reason::FaceLost);
    }
    if !done || track_broken {
        reasons.push(Reason::ChallengeNotDone);
    }
    ChallengeReport {
        challenge,
        passed: reasons.is_empty(),
        reasons,
        metrics: ChallengeMetrics {
            turn_left,
            turn_right,
            closer_ratio: closer,
            track_broken,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn pick_is_deterministic_with_a_seeded_rng_and_covers_all() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let picks: Vec<Challenge> = (0..30).map(|_| Challenge::pick(&mut rng)).collect();
        let mut rng2 = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let again: Vec<Challenge> = (0..30).map(|_| Challenge::pick(&mut rng2)).collect();
        assert_eq!(picks, again);
        for c in Challenge::ALL {
            assert!(picks.contains(&c), "{c:?} never picked");
            assert!(!c.prompt_zh().is_empty() && !c.prompt_en().is_empty());
            assert_eq!(
                serde_json::to_string(&c).unwrap_or_default(),
                format!("\"{}\"", c.code())
            );
        }
    }

    #[test]
    fn identical_fraction_basics() {
        let a = GrayImage::from_pixel(10, 10, image::Luma([5]));
        let mut b = a.clone();
        assert_eq!(identical_fraction(&a, &b), 1.0);
        b.put_pixel(0, 0, image::Luma([6]));
        assert!((identical_fraction(&a, &b) - 0.99).abs() < 1e-6);
        assert_eq!(identical_fraction(&a, &GrayImage::new(3, 3)), 0.0);
    }

    #[test]
    fn empty_burst_reports_lost_face() {
        let r = passive_check(&[], &LivenessConfig::default());
        assert_eq!(r.reasons, vec![Reason::FaceLost]);
    }
}
