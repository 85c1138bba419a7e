//! Face alignment: the 5-point similarity warp to dlib's 150x150 template, and the
//! square (possibly rotated) crops the landmark model reads (issue 14).
//!
//! Pure functions on RGB images, no model, no I/O. Coordinates are continuous frame
//! coordinates in which pixel `i` covers `[i, i + 1)`; the sampler handles the half-pixel
//! shift. Shrinking by 2x or more first averages blocks of pixels, as dlib's
//! `extract_image_chip` does with its pyramid, so chips of large photos do not alias.

use image::{Rgb, RgbImage};

/// Side of dlib's aligned face chip.
pub const CHIP_SIZE: u32 = 150;
/// dlib's padding around the 5-point template (`compute_face_descriptor`'s default).
pub const CHIP_PADDING: f32 = 0.25;

/// dlib's 5-point template (`get_face_chip_details`), unpadded, in the order of
/// [`crate::landmarks::FIVE_POINTS`].
const DLIB_TEMPLATE: [[f32; 2]; 5] = [
    [0.859_567_46, 0.213_498_15],
    [0.646_060_5, 0.228_967_44],
    [0.120_575_06, 0.213_727_45],
    [0.334_085_06, 0.229_064_24],
    [0.490_112_3, 0.627_797_5],
];

/// The template points in chip pixels (pixel-centre coordinates, as dlib uses).
pub fn template_points() -> [[f32; 2]; 5] {
    let mut out = [[0f32; 2]; 5];
    for (o, t) in out.iter_mut().zip(DLIB_TEMPLATE.iter()) {
        for k in 0..2 {
            o[k] = (CHIP_PADDING + t[k]) / (2.0 * CHIP_PADDING + 1.0) * CHIP_SIZE as f32;
        }
    }
    out
}

/// An affine map `[a, b, tx, c, d, ty]`: `x' = a x + b y + tx`, `y' = c x + d y + ty`.
pub type Affine = [f32; 6];

/// Applies an affine map to a point.
pub fn apply(m: &Affine, x: f32, y: f32) -> (f32, f32) {
    (m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5])
}

/// Inverse of an affine map; `None` if it is singular.
pub fn invert(m: &Affine) -> Option<Affine> {
    let det = m[0] * m[4] - m[1] * m[3];
    if !det.is_finite() || det.abs() < 1e-12 {
        return None;
    }
    let (a, b, c, d) = (m[4] / det, -m[1] / det, -m[3] / det, m[0] / det);
    Some([a, b, -(a * m[2] + b * m[5]), c, d, -(c * m[2] + d * m[5])])
}

/// Least-squares similarity transform (rotation, uniform scale, translation) taking
/// `from` onto `to` (Umeyama without reflection). `None` for fewer than two distinct
/// points.
pub fn similarity(from: &[[f32; 2]], to: &[[f32; 2]]) -> Option<Affine> {
    let n = from.len().min(to.len());
    if n < 2 {
        return None;
    }
    let mean = |p: &[[f32; 2]]| {
        let (sx, sy) = p[..n]
            .iter()
            .fold((0f64, 0f64), |a, q| (a.0 + q[0] as f64, a.1 + q[1] as f64));
        (sx / n as f64, sy / n as f64)
    };
    let (fx, fy) = mean(from);
    let (tx, ty) = mean(to);
    let (mut sa, mut sb, mut norm) = (0f64, 0f64, 0f64);
    for (f, t) in from[..n].iter().zip(&to[..n]) {
        let (ux, uy) = (f[0] as f64 - fx, f[1] as f64 - fy);
        let (vx, vy) = (t[0] as f64 - tx, t[1] as f64 - ty);
        sa += ux * vx + uy * vy;
        sb += ux * vy - uy * vx;
        norm += ux * ux + uy * uy;
    }
    if norm < 1e-9 {
        return None;
    }
    let (a, b) = (sa / norm, sb / norm);
    Some([
        a as f32,
        -b as f32,
        (tx - a * fx + b * fy) as f32,
        b as f32,
        a as f32,
        (ty - b * fx - a * fy) as f32,
    ])
}

/// Bilinear sample at continuous pixel-centre coordinates; black outside the image.
fn sample(img: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let (x0f, y0f) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0f, y - y0f);
    let (x0, y0) = (x0f as i64, y0f as i64);
    let px = |xx: i64, yy: i64| -> [f32; 3] {
        if xx < 0 || yy < 0 || xx >= w || yy >= h {
            [0.0; 3]
        } else {
            let Rgb(p) = *img.get_pixel(xx as u32, yy as u32);
            [p[0] as f32, p[1] as f32, p[2] as f32]
        }
    };
    let (a, b, c, d) = (
        px(x0, y0),
        px(x0 + 1, y0),
        px(x0, y0 + 1),
        px(x0 + 1, y0 + 1),
    );
    let mut out = [0f32; 3];
    for k in 0..3 {
        let top = a[k] + (b[k] - a[k]) * fx;
        let bot = c[k] + (d[k] - c[k]) * fx;
        out[k] = top + (bot - top) * fy;
    }
    out
}

/// Averages `f` x `f` blocks of the region `(x0, y0, w, h)` (clamped to the image).
fn bin_region(img: &RgbImage, x0: u32, y0: u32, w: u32, h: u32, f: u32) -> RgbImage {
    let (bw, bh) = ((w / f).max(1), (h / f).max(1));
    let mut out = RgbImage::new(bw, bh);
    let n = f * f;
    for by in 0..bh {
        for bx in 0..bw {
            let mut acc = [0u32; 3];
            for dy in 0..f {
                for dx in 0..f {
                    let x = (x0 + bx * f + dx).min(img.width() - 1);
                    let y = (y0 + by * f + dy).min(img.height() - 1);
                    let Rgb(p) = *img.get_pixel(x, y);
                    for k in 0..3 {
                        acc[k] += p[k] as u32;
                    }
                }
            }
            out.put_pixel(
                bx,
                by,
                Rgb([
                    ((acc[0] + n / 2) / n) as u8,
                    ((acc[1] + n / 2) / n) as u8,
                    ((acc[2] + n / 2) / n) as u8,
                ]),
            );
        }
    }
    out
}

/// Renders a `w` x `h` image whose pixel centres `(u + 0.5, v + 0.5)` come from frame
/// coordinates `out_to_frame(u + 0.5, v + 0.5)` (continuous frame coordinates). Calls
/// `put(u, v, rgb)` for every output pixel.
fn render(
    src: &RgbImage,
    out_to_frame: &Affine,
    w: u32,
    h: u32,
    mut put: impl FnMut(u32, u32, [f32; 3]),
) {
    if src.width() == 0 || src.height() == 0 {
        for v in 0..h {
            for u in 0..w {
                put(u, v, [0.0; 3]);
            }
        }
        return;
    }
    let m = *out_to_frame;
    let scale = (m[0] * m[4] - m[1] * m[3]).abs().sqrt();
    // Shrinking by 2x or more: average blocks of the source region first.
    let f = if scale >= 2.0 {
        scale.floor() as u32
    } else {
        1
    };
    let corners = [
        (0.0, 0.0),
        (w as f32, 0.0),
        (0.0, h as f32),
        (w as f32, h as f32),
    ];
    let (mut minx, mut miny, mut maxx, mut maxy) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for (u, v) in corners {
        let (x, y) = apply(&m, u, v);
        minx = minx.min(x);
        miny = miny.min(y);
        maxx = maxx.max(x);
        maxy = maxy.max(y);
    }
    let binned;
    let (img, m2) = if f > 1 {
        let x0 = (minx.floor() as i64 - f as i64).clamp(0, src.width() as i64 - 1) as u32;
        let y0 = (miny.floor() as i64 - f as i64).clamp(0, src.height() as i64 - 1) as u32;
        let x1 = (maxx.ceil() as i64 + f as i64).clamp(x0 as i64 + 1, src.width() as i64) as u32;
        let y1 = (maxy.ceil() as i64 + f as i64).clamp(y0 as i64 + 1, src.height() as i64) as u32;
        binned = bin_region(src, x0, y0, x1 - x0, y1 - y0, f);
        // Binned pixel j covers frame [x0 + j f, x0 + (j + 1) f).
        let ff = f as f32;
        let m2 = [
            m[0] / ff,
            m[1] / ff,
            (m[2] - x0 as f32) / ff,
            m[3] / ff,
            m[4] / ff,
            (m[5] - y0 as f32) / ff,
        ];
        (&binned, m2)
    } else {
        (src, m)
    };
    for v in 0..h {
        for u in 0..w {
            let (x, y) = apply(&m2, u as f32 + 0.5, v as f32 + 0.5);
            put(u, v, sample(img, x - 0.5, y - 0.5));
        }
    }
}

/// dlib's aligned face chip: the similarity that takes the five points (continuous frame
/// coordinates, [`crate::landmarks::FIVE_POINTS`] order) onto the padded template,
/// rendered at 150x150. `None` if the points are degenerate.
pub fn align_face(src: &RgbImage, five: &[[f32; 2]; 5]) -> Option<RgbImage> {
    // dlib works in pixel-centre coordinates on both sides.
    let from: Vec<[f32; 2]> = five.iter().map(|p| [p[0] - 0.5, p[1] - 0.5]).collect();
    let frame_to_chip = similarity(&from, &template_points())?;
    let chip_to_frame = invert(&frame_to_chip)?;
    // render() works in continuous coordinates: shift half a pixel on both sides.
    let m = [
        chip_to_frame[0],
        chip_to_frame[1],
        chip_to_frame[2] + 0.5 - 0.5 * (chip_to_frame[0] + chip_to_frame[1]),
        chip_to_frame[3],
        chip_to_frame[4],
        chip_to_frame[5] + 0.5 - 0.5 * (chip_to_frame[3] + chip_to_frame[4]),
    ];
    let mut out = RgbImage::new(CHIP_SIZE, CHIP_SIZE);
    render(src, &m, CHIP_SIZE, CHIP_SIZE, |u, v, p| {
        out.put_pixel(
            u,
            v,
            Rgb([
                p[0].round().clamp(0.0, 255.0) as u8,
                p[1].round().clamp(0.0, 255.0) as u8,
                p[2].round().clamp(0.0, 255.0) as u8,
            ]),
        );
    });
    Some(out)
}

/// Planar (channel-major) float samples of an `n` x `n` crop whose pixels map to the
/// frame by `crop_to_frame` (continuous coordinates), each value multiplied by `scale`.
pub fn crop_planar(src: &RgbImage, crop_to_frame: &Affine, n: u32, scale: f32) -> Vec<f32> {
    let plane = (n * n) as usize;
    let mut out = vec![0f32; 3 * plane];
    render(src, crop_to_frame, n, n, |u, v, p| {
        let i = (v * n + u) as usize;
        out[i] = p[0] * scale;
        out[plane + i] = p[1] * scale;
        out[2 * plane + i] = p[2] * scale;
    });
    out
}

/// Planar float samples of a whole image (for the 150x150 chip), times `scale`.
pub fn planar(img: &RgbImage, scale: f32) -> Vec<f32> {
    let plane = (img.width() * img.height()) as usize;
    let mut out = vec![0f32; 3 * plane];
    for (i, Rgb(p)) in img.pixels().enumerate() {
        out[i] = p[0] as f32 * scale;
        out[plane + i] = p[1] as f32 * scale;
        out[2 * plane + i] = p[2] as f32 * scale;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_recovers_a_known_transform() {
        let m: Affine = [0.8, -0.6, 10.0, 0.6, 0.8, -5.0];
        let from = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [7.0, 3.0]];
        let to: Vec<[f32; 2]> = from
            .iter()
            .map(|p| {
                let (x, y) = apply(&m, p[0], p[1]);
                [x, y]
            })
            .collect();
        let got = similarity(&from, &to).unwrap_or([0.0; 6]);
        for (a, b) in got.iter().zip(m.iter()) {
            assert!((a - b).abs() < 1e-4, "{got:?}");
        }
        let inv = invert(&got).unwrap_or([0.0; 6]);
        let (x, y) = apply(&inv, to[3][0], to[3][1]);
        assert!((x - 7.0).abs() < 1e-3 && (y - 3.0).abs() < 1e-3);
        assert!(similarity(&[[1.0, 1.0], [1.0, 1.0]], &[[0.0, 0.0], [1.0, 1.0]]).is_none());
    }

    #[test]
    fn template_points_lie_inside_the_chip_eyes_above_nose() {
        let t = template_points();
        for p in t {
            assert!(p[0] > 0.0 && p[0] < 150.0 && p[1] > 0.0 && p[1] < 150.0);
        }
        assert!(t[4][1] > t[0][1] + 30.0);
    }

    #[test]
    fn aligning_the_template_itself_is_the_identity() {
        let img = RgbImage::from_fn(150, 150, |x, y| Rgb([x as u8, y as u8, 7]));
        let five = template_points().map(|p| [p[0] + 0.5, p[1] + 0.5]);
        let chip = align_face(&img, &five).unwrap_or_default();
        assert_eq!(chip.dimensions(), (150, 150));
        for (x, y) in [(10, 10), (75, 80), (140, 3)] {
            let Rgb(p) = *chip.get_pixel(x, y);
            assert!((p[0] as i32 - x as i32).abs() <= 1 && (p[1] as i32 - y as i32).abs() <= 1);
        }
    }

    #[test]
    fn shrinking_averages_instead_of_aliasing() {
        // A 1-pixel checkerboard shrunk 4x must come out mid-grey, not black or white.
        let img = RgbImage::from_fn(400, 400, |x, y| {
            let v = if (x + y) % 2 == 0 { 0 } else { 255 };
            Rgb([v, v, v])
        });
        let m: Affine = [4.0, 0.0, 0.0, 0.0, 4.0, 0.0];
        let out = crop_planar(&img, &m, 64, 1.0);
        let mid = out[32 * 64 + 32];
        assert!((mid - 127.5).abs() < 20.0, "{mid}");
    }
}
