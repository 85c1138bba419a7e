//! Labelled face photos for the face-verification tests (issue 14), found through
//! `KESHI_FACE_IMAGES` (`tests/face-images.sh` fetches them from PyPI and npm), and
//! sequences that act a head or a print out of one real photo.
#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use std::path::PathBuf;

use capture::landmarks::{self, Landmarks};
use capture::source::acted::{bilinear, noisy};
use image::RgbImage;

/// Directory of the labelled face photos. Fails the test (never skips it) when unset.
pub fn faces_dir() -> PathBuf {
    let dir = std::env::var_os("KESHI_FACE_IMAGES").unwrap_or_else(|| {
        panic!(
            "KESHI_FACE_IMAGES is not set. These tests need the face photos that PyPI \
             face_recognition and npm @vladmandic/face-api ship: run \
             `export KESHI_FACE_IMAGES=\"$(capture/tests/face-images.sh)\"` first"
        )
    });
    let dir = PathBuf::from(dir);
    assert!(
        dir.join("obama.jpg").is_file() && dir.join("labels.csv").is_file(),
        "KESHI_FACE_IMAGES={} does not hold obama.jpg and labels.csv; \
         capture/tests/face-images.sh prints the right directory",
        dir.display()
    );
    dir
}

/// A labelled face photo, as RGB.
pub fn face_photo(name: &str) -> RgbImage {
    let path = faces_dir().join(name);
    image::open(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .to_rgb8()
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Depth of the face at every pixel, from the photo's own 3-D mesh: each pixel takes the
/// Gaussian-weighted mean depth of the mesh points near it (σ = 1/6 of the eye span),
/// relative to the mean depth of the face contour. Computed on a 1/4 grid.
pub struct DepthMap {
    step: u32,
    gw: u32,
    gh: u32,
    z: Vec<f32>,
    /// Centre of the head (frame pixels) and its radius, for blending into the
    /// background.
    pub centre: (f32, f32),
    pub radius: f32,
}

impl DepthMap {
    pub fn new(lm: &Landmarks, width: u32, height: u32) -> DepthMap {
        let step = 4;
        let (gw, gh) = (width.div_ceil(step), height.div_ceil(step));
        let span = landmarks::eye_span(lm);
        let sigma = span / 6.0;
        let z_ref = {
            let contour = [
                landmarks::RIGHT_CHEEK,
                landmarks::LEFT_CHEEK,
                landmarks::FOREHEAD,
                landmarks::CHIN,
            ];
            contour.iter().map(|&i| lm.points[i][2]).sum::<f32>() / contour.len() as f32
        };
        let (cx, cy) = {
            let n = lm.points.len() as f32;
            let (sx, sy) = lm
                .points
                .iter()
                .fold((0.0, 0.0), |a, p| (a.0 + p[0], a.1 + p[1]));
            (sx / n, sy / n)
        };
        let radius = lm
            .points
            .iter()
            .map(|p| ((p[0] - cx).powi(2) + (p[1] - cy).powi(2)).sqrt())
            .fold(0f32, f32::max);
        let mut z = vec![0f32; (gw * gh) as usize];
        for gy in 0..gh {
            for gx in 0..gw {
                let (x, y) = ((gx * step) as f32, (gy * step) as f32);
                let r = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt();
                if r > radius * 1.3 {
                    continue;
                }
                let (mut sw, mut sz) = (0f32, 0f32);
                for p in &lm.points {
                    let d2 = (p[0] - x).powi(2) + (p[1] - y).powi(2);
                    let w = (-d2 / (2.0 * sigma * sigma)).exp();
                    sw += w;
                    sz += w * (p[2] - z_ref);
                }
                // Off the mesh the head curves back like a sphere.
                let sphere = radius * (1.0 - (1.0 - (r / radius).min(1.0).powi(2)).sqrt());
                let inside = if sw > 1e-3 { sz / sw } else { sphere };
                let k = smoothstep(0.85, 1.1, r / radius);
                z[(gy * gw + gx) as usize] = inside * (1.0 - k) + sphere * k;
            }
        }
        DepthMap {
            step,
            gw,
            gh,
            z,
            centre: (cx, cy),
            radius,
        }
    }

    /// Depth at a frame point (smaller = nearer the camera).
    pub fn at(&self, x: f32, y: f32) -> f32 {
        let gx = ((x / self.step as f32).round().max(0.0) as u32).min(self.gw - 1);
        let gy = ((y / self.step as f32).round().max(0.0) as u32).min(self.gh - 1);
        self.z[(gy * self.gw + gx) as usize]
    }
}

/// The head in `frame` turned by `deg` about its vertical axis (positive: the nose moves
/// towards the image's right), using the depth map: x' = xc + (x − xc)·cos θ − z·sin θ,
/// inverted by fixed-point iteration; the background stays put.
pub fn head_turn_frame(frame: &RgbImage, depth: &DepthMap, deg: f32) -> RgbImage {
    let (s, c) = deg.to_radians().sin_cos();
    let (xc, yc) = depth.centre;
    let (w, h) = frame.dimensions();
    RgbImage::from_fn(w, h, |ox, oy| {
        let (xo, yo) = (ox as f32, oy as f32);
        let r = ((xo - xc).powi(2) + (yo - yc).powi(2)).sqrt();
        let blend = 1.0 - smoothstep(1.0, 1.25, r / depth.radius);
        if blend <= 0.0 {
            return *frame.get_pixel(ox, oy);
        }
        let mut x = xo;
        for _ in 0..4 {
            let z = depth.at(x, yo);
            x = xc + ((xo - xc) + z * s) / c;
        }
        let sx = xo + (x - xo) * blend;
        bilinear(frame, sx, yo)
    })
}

/// A head turn acted from one photo: frames from 0 to `deg` degrees and back.
pub fn head_turn_sequence(frame: &RgbImage, lm: &Landmarks, n: usize, deg: f32) -> Vec<RgbImage> {
    let depth = DepthMap::new(lm, frame.width(), frame.height());
    (0..n)
        .map(|i| {
            let t = i as f32 / (n - 1).max(1) as f32;
            let a = deg * (std::f32::consts::PI * t).sin();
            noisy(&head_turn_frame(frame, &depth, a), 2.0, 3000 + i as u64)
        })
        .collect()
}

/// Vertical remap inside an ellipse around `(cx, cy)` (half axes `rx`, `ry`, in the
/// frame of the eye line at `angle`): output offset `dy` samples the source at `f(dy)`.
fn vertical_remap(
    frame: &RgbImage,
    (cx, cy): (f32, f32),
    (rx, ry): (f32, f32),
    angle: f32,
    f: impl Fn(f32, f32) -> f32,
) -> RgbImage {
    let (s, c) = angle.sin_cos();
    let mut out = frame.clone();
    let reach = rx.max(ry).ceil() as i64 + 2;
    let (w, h) = (frame.width() as i64, frame.height() as i64);
    for y in (cy as i64 - reach).max(0)..(cy as i64 + reach).min(h) {
        for x in (cx as i64 - reach).max(0)..(cx as i64 + reach).min(w) {
            let (dx0, dy0) = (x as f32 - cx, y as f32 - cy);
            let (u, v) = (c * dx0 + s * dy0, -s * dx0 + c * dy0);
            if u.abs() >= rx || v.abs() >= ry {
                continue;
            }
            let wx = 1.0 - smoothstep(0.5, 1.0, u.abs() / rx);
            let v2 = f(v, wx);
            let (sx, sy) = (cx + c * u - s * v2, cy + s * u + c * v2);
            out.put_pixel(x as u32, y as u32, bilinear(frame, sx, sy));
        }
    }
    out
}

fn centre_of(lm: &Landmarks, idx: &[usize]) -> (f32, f32) {
    let n = idx.len() as f32;
    let (sx, sy) = idx.iter().fold((0.0, 0.0), |a, &i| {
        (a.0 + lm.points[i][0], a.1 + lm.points[i][1])
    });
    (sx / n, sy / n)
}

/// The eyes closed by `amount` (0 open, 1 shut): inside each eye the lids are pulled to
/// the eye's middle line (pixels near the line sample the lids' skin).
pub fn blink_frame(frame: &RgbImage, lm: &Landmarks, amount: f32) -> RgbImage {
    let angle = landmarks::eye_line_angle(lm);
    let mut out = frame.clone();
    for eye in [landmarks::RIGHT_EYE_EAR, landmarks::LEFT_EYE_EAR] {
        let c = centre_of(lm, &eye);
        let p = |i: usize| (lm.points[i][0], lm.points[i][1]);
        let d = |a: (f32, f32), b: (f32, f32)| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
        let width = d(p(eye[0]), p(eye[1]));
        let open = (d(p(eye[2]), p(eye[3])) + d(p(eye[4]), p(eye[5]))) / 4.0; // half opening
        let reach = (open * 3.0).max(width * 0.35);
        let a = open * amount;
        out = vertical_remap(&out, c, (width * 0.75, reach), angle, |v, wx| {
            let t = (1.0 - v.abs() / reach).max(0.0);
            v + v.signum() * a * wx * t
        });
    }
    out
}

/// The mouth opened by `amount` (0 closed, 1 wide): the jaw drops (everything below
/// the lips moves down, fading out below the chin) and the gap samples the dark line
/// between the lips; the upper lip and the nose stay.
pub fn mouth_frame(frame: &RgbImage, lm: &Landmarks, amount: f32) -> RgbImage {
    let angle = landmarks::eye_line_angle(lm);
    let c = centre_of(lm, &landmarks::INNER_LIPS);
    let (l, r) = (
        lm.points[landmarks::MOUTH_CORNERS[0]],
        lm.points[landmarks::MOUTH_CORNERS[1]],
    );
    let width = ((l[0] - r[0]).powi(2) + (l[1] - r[1]).powi(2)).sqrt();
    let chin = lm.points[landmarks::CHIN];
    let to_chin = ((chin[0] - c.0).powi(2) + (chin[1] - c.1).powi(2)).sqrt();
    let reach = to_chin * 1.6;
    let drop = 0.45 * width * amount;
    vertical_remap(frame, c, (width * 0.8, reach), angle, |v, wx| {
        if v < 0.0 {
            v
        } else {
            (v - drop * wx * (1.0 - v / reach)).max(0.0)
        }
    })
}

/// A print of `frame` moved in front of the camera: each frame an affine map of the
/// whole picture (rotation, anisotropic scale and shear about the centre, plus a
/// shift), growing from the identity to `strength` and back.
pub fn affine_print_sequence(frame: &RgbImage, n: usize, strength: f32) -> Vec<RgbImage> {
    let (w, h) = frame.dimensions();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    (0..n)
        .map(|i| {
            let t = strength * (std::f32::consts::PI * i as f32 / (n - 1).max(1) as f32).sin();
            // Output -> source map: inverse of (rotate 8t°, squeeze x by 1-0.25t, shear 0.15t).
            let (s, c) = (8.0 * t).to_radians().sin_cos();
            let (a, b, cc, d) = (c / (1.0 - 0.25 * t), s + 0.15 * t, -s, c);
            let img = RgbImage::from_fn(w, h, |x, y| {
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                bilinear(
                    frame,
                    cx + a * dx + b * dy + 6.0 * t,
                    cy + cc * dx + d * dy - 4.0 * t,
                )
            });
            noisy(&img, 2.0, 4000 + i as u64)
        })
        .collect()
}

/// A print of `frame` tilted back about a horizontal axis and swung about a vertical one
/// with real perspective (a homography), from flat to `deg` and back.
pub fn perspective_print_sequence(frame: &RgbImage, n: usize, deg: f32) -> Vec<RgbImage> {
    let (w, h) = frame.dimensions();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let f = w as f32 * 1.2; // focal length, pixels
    (0..n)
        .map(|i| {
            let a = (deg * (std::f32::consts::PI * i as f32 / (n - 1).max(1) as f32).sin())
                .to_radians();
            let (sy, cyw) = a.sin_cos(); // swing about the vertical axis
            let (sx, cxw) = (0.5 * a).sin_cos(); // tilt about the horizontal axis
            let img = RgbImage::from_fn(w, h, |x, y| {
                // Ray through the output pixel meets the rotated plane; find the point on
                // the print (u, v) it hits.
                let (px, py) = (x as f32 - cx, y as f32 - cy);
                // Plane: points R (u, v, 0) + (0, 0, f). R = Ry(a) Rx(a/2).
                // Columns of R: e_u = (cyw, 0, -sy); e_v = (sy*sx, cxw, cyw*sx).
                let (eu, ev) = ([cyw, 0.0, -sy], [sy * sx, cxw, cyw * sx]);
                // Solve t*(px, py, f) = u*eu + v*ev + (0,0,f) for u, v, t.
                let m = [[eu[0], ev[0], -px], [eu[1], ev[1], -py], [eu[2], ev[2], -f]];
                let rhs = [0.0, 0.0, -f];
                let det = |m: [[f32; 3]; 3]| {
                    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
                        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
                };
                let d = det(m);
                let col = |k: usize| {
                    let mut mm = m;
                    for r in 0..3 {
                        mm[r][k] = rhs[r];
                    }
                    det(mm) / d
                };
                bilinear(frame, cx + col(0), cy + col(1))
            });
            noisy(&img, 2.0, 5000 + i as u64)
        })
        .collect()
}
