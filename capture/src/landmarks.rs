//! Face landmarks (MediaPipe's 468-point mesh) and the geometry read from them: the
//! 5-point alignment, head pose, eye and mouth opening, and the region the landmark model
//! looks at next (issue 14; R-ID-2, R-ST-3).
//!
//! Pure functions, no model: the points come from [`crate::verify`] (feature
//! `face-verify`), which runs the network. Everything here is in frame pixels.
//!
//! Point numbers are MediaPipe's canonical face mesh indices. "Left" and "right" in
//! names below are the *subject's*: the subject's left eye is on the image's right in a
//! camera (not mirrored) picture.

use serde::{Deserialize, Serialize};

use crate::detect::BBox;

/// Number of points in the mesh.
pub const POINTS: usize = 468;

/// Subject's left eye, outer corner.
pub const LEFT_EYE_OUTER: usize = 263;
/// Subject's left eye, inner corner.
pub const LEFT_EYE_INNER: usize = 362;
/// Subject's right eye, outer corner.
pub const RIGHT_EYE_OUTER: usize = 33;
/// Subject's right eye, inner corner.
pub const RIGHT_EYE_INNER: usize = 133;
/// Bottom of the nose (subnasale).
pub const NOSE_BASE: usize = 2;
/// Tip of the nose.
pub const NOSE_TIP: usize = 1;
/// Middle of the forehead, top of the mesh.
pub const FOREHEAD: usize = 10;
/// Chin, bottom of the mesh.
pub const CHIN: usize = 152;
/// Face contour at the subject's right cheek (image left).
pub const RIGHT_CHEEK: usize = 234;
/// Face contour at the subject's left cheek (image right).
pub const LEFT_CHEEK: usize = 454;
/// Mouth corners (outer lip line), subject's right then left.
pub const MOUTH_CORNERS: [usize; 2] = [61, 291];
/// Inner lips, upper then lower (middle of the mouth).
pub const INNER_LIPS: [usize; 2] = [13, 14];
/// The subject's right eye for the eye aspect ratio: outer, inner, then upper and lower
/// lid pairs.
pub const RIGHT_EYE_EAR: [usize; 6] = [33, 133, 160, 144, 158, 153];
/// The subject's left eye for the eye aspect ratio.
pub const LEFT_EYE_EAR: [usize; 6] = [263, 362, 387, 373, 385, 380];

/// The five points of dlib's 5-point alignment, in dlib's order: subject's left eye
/// outer and inner corners, right eye outer and inner corners, bottom of the nose
/// (mesh points 263, 362, 33, 133, 2).
pub const FIVE_POINTS: [usize; 5] = [
    LEFT_EYE_OUTER,
    LEFT_EYE_INNER,
    RIGHT_EYE_OUTER,
    RIGHT_EYE_INNER,
    NOSE_BASE,
];

/// 468 face points in frame pixels; `z` is MediaPipe's relative depth in the same scale
/// as `x` (smaller is nearer the camera).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Landmarks {
    /// `[x, y, z]` per mesh point.
    pub points: Vec<[f32; 3]>,
    /// The landmark model's own face presence score, 0..1.
    pub presence: f32,
}

/// A square region of a frame, possibly rotated: what the landmark model looks at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Roi {
    /// Centre, frame pixels.
    pub cx: f32,
    /// Centre, frame pixels.
    pub cy: f32,
    /// Side, frame pixels.
    pub side: f32,
    /// Rotation in radians (the region's x axis is the frame's x axis turned by this).
    pub angle: f32,
}

/// Head pose read from the landmarks, in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    /// Turn about the vertical axis; positive = towards the image's right (the subject's
    /// left in a camera picture).
    pub yaw: f32,
    /// Nod; positive = chin down.
    pub pitch: f32,
    /// In-plane tilt of the eye line; positive = clockwise in the image.
    pub roll: f32,
}

/// How much larger than the face the landmark region is (MediaPipe uses 1.5).
pub const ROI_SCALE: f32 = 1.5;

/// The landmark region for a detector box: the box grown 1.7x and moved down by 8% of
/// its side (SeetaFace's box is tighter and higher than MediaPipe's face rectangle). A
/// first guess: `verify::FaceVerifier::landmarks_for_face` (feature `face-verify`) runs
/// the model once more on the landmarks' own region ([`Roi::from_landmarks`]) when this
/// one was off.
pub fn roi_from_bbox(b: &BBox) -> Roi {
    let (cx, cy) = b.centre();
    let side = b.w.max(b.h) as f32;
    Roi {
        cx,
        cy: cy + BBOX_CENTRE_SHIFT * side,
        side: side * BBOX_ROI_SCALE,
        angle: 0.0,
    }
}

/// The SeetaFace box sits higher and is tighter than MediaPipe's face rectangle.
const BBOX_CENTRE_SHIFT: f32 = 0.08;
const BBOX_ROI_SCALE: f32 = 1.7;

impl Roi {
    /// MediaPipe's tracking region: the bounding box of the landmarks in the frame of the
    /// eye line, grown by [`ROI_SCALE`] and squared.
    pub fn from_landmarks(lm: &Landmarks) -> Option<Roi> {
        if lm.points.len() != POINTS {
            return None;
        }
        let a = eye_line_angle(lm);
        let (s, c) = a.sin_cos();
        let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for p in &lm.points {
            // Rotate into the eye-line frame.
            let u = c * p[0] + s * p[1];
            let v = -s * p[0] + c * p[1];
            x0 = x0.min(u);
            x1 = x1.max(u);
            y0 = y0.min(v);
            y1 = y1.max(v);
        }
        let (mu, mv) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        let side = (x1 - x0).max(y1 - y0) * ROI_SCALE;
        if !(side.is_finite() && side > 1.0) {
            return None;
        }
        Some(Roi {
            cx: c * mu - s * mv,
            cy: s * mu + c * mv,
            side,
            angle: a,
        })
    }

    /// The affine map from region pixels of an `n` x `n` crop to frame pixels,
    /// `[a, b, tx, c, d, ty]`: `x = a u + b v + tx`, `y = c u + d v + ty`.
    pub fn to_frame(&self, n: u32) -> [f32; 6] {
        let k = self.side / n as f32;
        let (s, c) = self.angle.sin_cos();
        let (a, b, cc, d) = (c * k, -s * k, s * k, c * k);
        let h = n as f32 / 2.0;
        [
            a,
            b,
            self.cx - a * h - b * h,
            cc,
            d,
            self.cy - cc * h - d * h,
        ]
    }

    /// True if two regions differ by more than `frac` of the side in position or size,
    /// or by more than `max_angle` radians.
    pub fn differs(&self, o: &Roi, frac: f32, max_angle: f32) -> bool {
        let d = ((self.cx - o.cx).powi(2) + (self.cy - o.cy).powi(2)).sqrt();
        d > frac * self.side
            || (self.side - o.side).abs() > frac * self.side
            || (self.angle - o.angle).abs() > max_angle
    }
}

fn p2(lm: &Landmarks, i: usize) -> (f32, f32) {
    lm.points.get(i).map_or((0.0, 0.0), |p| (p[0], p[1]))
}

fn dist(a: (f32, f32), b: (f32, f32)) -> f32 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

/// Angle of the line from the subject's right eye outer corner to the left one (radians).
pub fn eye_line_angle(lm: &Landmarks) -> f32 {
    let (r, l) = (p2(lm, RIGHT_EYE_OUTER), p2(lm, LEFT_EYE_OUTER));
    (l.1 - r.1).atan2(l.0 - r.0)
}

/// Distance between the outer eye corners, frame pixels (the face's scale).
pub fn eye_span(lm: &Landmarks) -> f32 {
    dist(p2(lm, RIGHT_EYE_OUTER), p2(lm, LEFT_EYE_OUTER))
}

/// The five alignment points (see [`FIVE_POINTS`]) as `[x, y]`.
pub fn five_points(lm: &Landmarks) -> [[f32; 2]; 5] {
    let mut out = [[0f32; 2]; 5];
    for (o, &i) in out.iter_mut().zip(FIVE_POINTS.iter()) {
        let (x, y) = p2(lm, i);
        *o = [x, y];
    }
    out
}

/// Eye aspect ratio of one eye (Soukupová and Čech 2016): mean lid distance over eye
/// width. About 0.25–0.35 open, under 0.12 closed.
pub fn eye_aspect_ratio(lm: &Landmarks, eye: &[usize; 6]) -> f32 {
    let w = dist(p2(lm, eye[0]), p2(lm, eye[1]));
    if w <= f32::EPSILON {
        return 0.0;
    }
    (dist(p2(lm, eye[2]), p2(lm, eye[3])) + dist(p2(lm, eye[4]), p2(lm, eye[5]))) / (2.0 * w)
}

/// Mean eye aspect ratio of both eyes.
pub fn eyes_open(lm: &Landmarks) -> f32 {
    (eye_aspect_ratio(lm, &RIGHT_EYE_EAR) + eye_aspect_ratio(lm, &LEFT_EYE_EAR)) / 2.0
}

/// Mouth opening: inner-lip gap over mouth width (0 closed, 0.3+ wide open).
pub fn mouth_open(lm: &Landmarks) -> f32 {
    let w = dist(p2(lm, MOUTH_CORNERS[0]), p2(lm, MOUTH_CORNERS[1]));
    if w <= f32::EPSILON {
        return 0.0;
    }
    dist(p2(lm, INNER_LIPS[0]), p2(lm, INNER_LIPS[1])) / w
}

/// The face's vertical scale: distance from the middle of the four eye corners to the
/// bottom of the nose. Neither blinking nor opening the mouth changes it, and it shrinks
/// with the lid and lip gaps when a picture is tilted or squeezed, so ratios to it do not.
pub fn eye_to_nose(lm: &Landmarks) -> f32 {
    let corners = [
        RIGHT_EYE_OUTER,
        RIGHT_EYE_INNER,
        LEFT_EYE_INNER,
        LEFT_EYE_OUTER,
    ];
    let (sx, sy) = corners.iter().fold((0.0, 0.0), |a, &i| {
        let p = p2(lm, i);
        (a.0 + p.0, a.1 + p.1)
    });
    dist((sx / 4.0, sy / 4.0), p2(lm, NOSE_BASE))
}

/// Eye opening for the blink challenge: the mean of the four lid gaps (two per eye) over
/// [`eye_to_nose`]. Unlike the eye aspect ratio it does not change when a photo is
/// squeezed sideways or tilted back.
pub fn eye_opening(lm: &Landmarks) -> f32 {
    let r = eye_to_nose(lm);
    if r <= f32::EPSILON {
        return 0.0;
    }
    let gaps: f32 = [RIGHT_EYE_EAR, LEFT_EYE_EAR]
        .iter()
        .map(|e| dist(p2(lm, e[2]), p2(lm, e[3])) + dist(p2(lm, e[4]), p2(lm, e[5])))
        .sum();
    gaps / 4.0 / r
}

/// Mouth opening for the open-mouth challenge: inner-lip gap over [`eye_to_nose`].
pub fn mouth_opening(lm: &Landmarks) -> f32 {
    let r = eye_to_nose(lm);
    if r <= f32::EPSILON {
        return 0.0;
    }
    dist(p2(lm, INNER_LIPS[0]), p2(lm, INNER_LIPS[1])) / r
}

/// Points of the face that lie near one surface (eye corners, brows, mouth, chin,
/// cheeks): what a homography is fitted to in the 3-D check.
pub const SURFACE_POINTS: [usize; 24] = [
    33, 133, 362, 263, 70, 105, 107, 336, 334, 300, 61, 291, 0, 17, 152, 50, 280, 10, 234, 454,
    159, 145, 386, 374,
];

/// Points that stand out of that surface: the nose tip and ridge. A turning head moves
/// them against [`SURFACE_POINTS`] (parallax); on a flat picture they follow the rest.
pub const RELIEF_POINTS: [usize; 3] = [NOSE_TIP, 4, 5];

/// Head pose from the 3-D landmarks: yaw from the depth difference of the two cheek
/// contour points, pitch from that of forehead and chin, roll from the eye line.
pub fn pose(lm: &Landmarks) -> Pose {
    let roll = eye_line_angle(lm);
    let (s, c) = roll.sin_cos();
    let get = |i: usize| lm.points.get(i).copied().unwrap_or([0.0; 3]);
    // In the eye-line frame.
    let rot = |p: [f32; 3]| (c * p[0] + s * p[1], -s * p[0] + c * p[1], p[2]);
    let (rx, _, rz) = rot(get(RIGHT_CHEEK));
    let (lx, _, lz) = rot(get(LEFT_CHEEK));
    let (_, fy, fz) = rot(get(FOREHEAD));
    let (_, cy, cz) = rot(get(CHIN));
    // Turning towards the image's right takes the image-right cheek away from the camera
    // (larger z) and brings the other one nearer; nodding down takes the chin away.
    let yaw = (lz - rz).atan2(lx - rx).to_degrees();
    let pitch = (cz - fz).atan2(cy - fy).to_degrees();
    Pose {
        yaw,
        pitch,
        roll: roll.to_degrees(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frontal() -> Landmarks {
        let mut points = vec![[100.0f32, 100.0, 0.0]; POINTS];
        points[RIGHT_EYE_OUTER] = [70.0, 90.0, 0.0];
        points[LEFT_EYE_OUTER] = [130.0, 90.0, 0.0];
        points[RIGHT_CHEEK] = [50.0, 110.0, 5.0];
        points[LEFT_CHEEK] = [150.0, 110.0, 5.0];
        points[FOREHEAD] = [100.0, 40.0, 0.0];
        points[CHIN] = [100.0, 180.0, 0.0];
        Landmarks {
            points,
            presence: 1.0,
        }
    }

    #[test]
    fn frontal_pose_is_zero_and_turns_have_the_right_sign() {
        let lm = frontal();
        let p = pose(&lm);
        assert!(p.yaw.abs() < 1e-3 && p.pitch.abs() < 1e-3 && p.roll.abs() < 1e-3);
        let mut turned = lm.clone();
        turned.points[LEFT_CHEEK][2] = 40.0; // left cheek further away
        assert!(pose(&turned).yaw > 10.0);
    }

    #[test]
    fn roi_round_trips_through_to_frame() {
        let roi = Roi {
            cx: 50.0,
            cy: 60.0,
            side: 96.0,
            angle: 0.3,
        };
        let m = roi.to_frame(192);
        // The crop's centre lands on the region's centre.
        let (u, v) = (96.0, 96.0);
        let x = m[0] * u + m[1] * v + m[2];
        let y = m[3] * u + m[4] * v + m[5];
        assert!((x - 50.0).abs() < 1e-3 && (y - 60.0).abs() < 1e-3);
        assert!(!roi.differs(&roi, 0.01, 0.01));
        let lm = frontal();
        let r = Roi::from_landmarks(&lm).unwrap_or(roi);
        assert!((r.side - 140.0 * ROI_SCALE).abs() < 1e-3, "{r:?}");
    }

    #[test]
    fn ratios_are_zero_on_degenerate_points() {
        let lm = Landmarks {
            points: vec![[0.0; 3]; POINTS],
            presence: 0.0,
        };
        assert_eq!(eyes_open(&lm), 0.0);
        assert_eq!(mouth_open(&lm), 0.0);
        assert!(Roi::from_landmarks(&lm).is_none());
    }
}
