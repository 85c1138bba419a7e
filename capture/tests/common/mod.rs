//! Shared helpers for the integration tests: real photographs from scikit-image's
//! bundled data (found through `KESHI_TEST_IMAGES`, see `tests/test-images.sh`) and
//! sequences built from them by cropping, shifting and scaling.
#![allow(dead_code)]

use std::path::PathBuf;

use image::{imageops, GrayImage, Luma, Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Directory of scikit-image's data files. Fails the test (never skips it) when the
/// images are not there.
pub fn images_dir() -> PathBuf {
    let dir = std::env::var_os("KESHI_TEST_IMAGES").unwrap_or_else(|| {
        panic!(
            "KESHI_TEST_IMAGES is not set. These tests need scikit-image's sample photos: \
             run `export KESHI_TEST_IMAGES=\"$(capture/tests/test-images.sh)\"` first"
        )
    });
    let dir = PathBuf::from(dir);
    assert!(
        dir.join("astronaut.png").is_file(),
        "KESHI_TEST_IMAGES={} does not hold astronaut.png; point it at skimage/data \
         (capture/tests/test-images.sh prints it)",
        dir.display()
    );
    dir
}

/// A photo from the data directory, as RGB.
pub fn rgb(name: &str) -> RgbImage {
    let path = images_dir().join(name);
    image::open(&path)
        .unwrap_or_else(|e| panic!("cannot read test image {}: {e}", path.display()))
        .to_rgb8()
}

/// The faces with faces, for detector tests: (file, expected face count).
pub const FACE_PHOTOS: [(&str, usize); 2] = [("astronaut.png", 1), ("camera.png", 1)];
/// Photos with no face.
pub const NON_FACE_PHOTOS: [&str; 5] = [
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "brick.png",
    "grass.png",
];

/// `lfw_subset.npy`: 200 grey 25x25 crops, the first 100 faces, the rest not.
/// Parses the .npy format (version 1/2 header, little-endian f8 or u1 data).
pub fn lfw_subset() -> Vec<GrayImage> {
    let path = images_dir().join("lfw_subset.npy");
    let b = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&b[..6], b"\x93NUMPY", "not a .npy file");
    let (hlen, start) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        _ => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
    };
    let header = std::str::from_utf8(&b[start..start + hlen]).expect("ascii header");
    assert!(header.contains("'fortran_order': False"), "{header}");
    assert!(header.contains("(200, 25, 25)"), "{header}");
    let data = &b[start + hlen..];
    let px: Vec<u8> = if header.contains("'<f8'") {
        data.chunks_exact(8)
            .map(|c| {
                let v = f64::from_le_bytes(c.try_into().expect("8 bytes"));
                (v * 255.0).round().clamp(0.0, 255.0) as u8
            })
            .collect()
    } else if header.contains("'|u1'") {
        data.to_vec()
    } else {
        panic!("unexpected dtype in {header}");
    };
    assert_eq!(px.len(), 200 * 625);
    px.chunks_exact(625)
        .map(|c| GrayImage::from_raw(25, 25, c.to_vec()).expect("25x25"))
        .collect()
}

/// A 640x480 "webcam frame" cut from a photo: the window `(x, y, w, h)` of `src`
/// (w:h = 4:3) resized to 640x480. Windows may reach outside the photo (filled grey).
pub fn webcam(src: &RgbImage, x: f32, y: f32, w: f32) -> RgbImage {
    let h = w * 0.75;
    let (sw, sh) = src.dimensions();
    RgbImage::from_fn(640, 480, |ox, oy| {
        let fx = x + (ox as f32 + 0.5) * w / 640.0 - 0.5;
        let fy = y + (oy as f32 + 0.5) * h / 480.0 - 0.5;
        bilinear(src, fx, fy, sw, sh)
    })
}

fn bilinear(src: &RgbImage, fx: f32, fy: f32, sw: u32, sh: u32) -> Rgb<u8> {
    if fx < 0.0 || fy < 0.0 || fx > (sw - 1) as f32 || fy > (sh - 1) as f32 {
        return Rgb([120, 120, 120]);
    }
    let x0 = fx as u32;
    let y0 = fy as u32;
    let x1 = (x0 + 1).min(sw - 1);
    let y1 = (y0 + 1).min(sh - 1);
    let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
    let mut out = [0u8; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let p = |x, y| src.get_pixel(x, y).0[c] as f32;
        let v = (p(x0, y0) * (1.0 - ax) + p(x1, y0) * ax) * (1.0 - ay)
            + (p(x0, y1) * (1.0 - ax) + p(x1, y1) * ax) * ay;
        *o = v.round().clamp(0.0, 255.0) as u8;
    }
    Rgb(out)
}

/// The astronaut (Eileen Collins) framed like a learner at a webcam: face about 1/4
/// of the frame height.
pub fn astronaut_frame() -> RgbImage {
    webcam(&rgb("astronaut.png"), 32.0, 0.0, 448.0)
}

/// The cameraman (camera.png, grey) framed like a webcam.
pub fn camera_frame() -> RgbImage {
    webcam(&rgb("camera.png"), 110.0, 40.0, 320.0)
}

/// Every pixel times `k` (under- or overexposure).
pub fn exposure(img: &RgbImage, k: f32, add: f32) -> RgbImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        for c in p.0.iter_mut() {
            *c = (*c as f32 * k + add).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Gaussian blur with standard deviation `sigma` pixels.
pub fn blur(img: &RgbImage, sigma: f32) -> RgbImage {
    imageops::blur(img, sigma)
}

/// Adds Gaussian-ish sensor noise (sum of uniforms), deterministic per `seed`.
pub fn noisy(img: &RgbImage, sigma: f32, seed: u64) -> RgbImage {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = img.clone();
    for p in out.pixels_mut() {
        let n: f32 = (0..4).map(|_| rng.random::<f32>() - 0.5).sum::<f32>() * sigma * 1.732;
        for c in p.0.iter_mut() {
            *c = (*c as f32 + n).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Grey copy.
pub fn gray(img: &RgbImage) -> GrayImage {
    imageops::grayscale(img)
}

/// Two real photos side by side in one 640x480 frame: the astronaut and the cameraman.
pub fn two_faces_frame() -> RgbImage {
    let a = webcam(&rgb("astronaut.png"), 60.0, 0.0, 400.0);
    let c = webcam(&rgb("camera.png"), 100.0, 40.0, 340.0);
    let mut out = RgbImage::from_pixel(640, 480, Rgb([120, 120, 120]));
    let a = imageops::crop_imm(&a, 160, 0, 320, 480).to_image();
    let c = imageops::crop_imm(&c, 160, 0, 320, 480).to_image();
    imageops::overlay(&mut out, &a, 0, 0);
    imageops::overlay(&mut out, &c, 320, 0);
    out
}

/// The astronaut small in the frame (learner far away): face about 1/10 of the height.
pub fn tiny_face_frame() -> RgbImage {
    webcam(&rgb("astronaut.png"), -300.0, -150.0, 1100.0)
}

/// A non-face photo as a 640x480 frame.
pub fn scene_frame(name: &str) -> RgbImage {
    let img = rgb(name);
    let (w, h) = img.dimensions();
    let ww = (w as f32).min(h as f32 * 4.0 / 3.0);
    webcam(&img, (w as f32 - ww) / 2.0, 0.0, ww)
}

/// A grey 25x25 LFW crop enlarged to 80x80 and centred on a 160x160 mid-grey canvas.
pub fn lfw_canvas(img: &GrayImage) -> GrayImage {
    let up = imageops::resize(img, 80, 80, imageops::FilterType::CatmullRom);
    let mut c = GrayImage::from_pixel(160, 160, Luma([128]));
    imageops::overlay(&mut c, &up, 40, 40);
    c
}

/// Frames of a face moving naturally: the webcam window drifts by `step` (share of the
/// window width) per frame to the left and up (the face moves right and down in the
/// picture) while zooming in slightly about its centre.
pub fn moving_sequence(
    src: &RgbImage,
    x: f32,
    y: f32,
    w: f32,
    n: usize,
    step: f32,
) -> Vec<RgbImage> {
    let (cx, cy) = (x + w / 2.0, y + w * 0.375);
    (0..n)
        .map(|i| {
            let k = i as f32;
            let ww = w * (1.0 - 0.003 * k);
            let (ccx, ccy) = (cx - k * step * w, cy - k * step * w * 0.5);
            noisy(
                &webcam(src, ccx - ww / 2.0, ccy - ww * 0.375, ww),
                2.0,
                100 + i as u64,
            )
        })
        .collect()
}

/// A still picture seen by a live sensor: the same frame with fresh noise each time.
pub fn still_sequence(frame: &RgbImage, n: usize, sigma: f32) -> Vec<RgbImage> {
    (0..n)
        .map(|i| noisy(frame, sigma, 1000 + i as u64))
        .collect()
}

/// A frozen feed: the very same pixels every time.
pub fn frozen_sequence(frame: &RgbImage, n: usize) -> Vec<RgbImage> {
    vec![frame.clone(); n]
}

/// The head turned by `deg` degrees about a vertical axis, approximated on a real photo
/// with a cylinder model: columns within `radius` of `cx` are remapped with
/// x = cx + r·sin(asin((x'-cx)/r) - phi). Positive degrees move the nose towards the
/// image's right (the learner's left in a camera image). Rows outside `[y0, y1)` are
/// left alone.
pub fn yaw_warp(frame: &RgbImage, cx: f32, radius: f32, y0: u32, y1: u32, deg: f32) -> RgbImage {
    let phi = deg.to_radians();
    let (w, h) = frame.dimensions();
    let mut out = frame.clone();
    for y in y0.min(h)..y1.min(h) {
        for x in 0..w {
            let dx = x as f32 + 0.5 - cx;
            if dx.abs() >= radius {
                continue;
            }
            let theta = (dx / radius).asin() - phi;
            let theta = theta.clamp(-std::f32::consts::FRAC_PI_2, std::f32::consts::FRAC_PI_2);
            let sx = cx + radius * theta.sin() - 0.5;
            out.put_pixel(
                x,
                y,
                bilinear(frame, sx.clamp(0.0, (w - 1) as f32), y as f32, w, h),
            );
        }
    }
    out
}

/// A head turn: `n` frames from 0 to `deg` degrees and back, around the face box
/// `(x, y, w)` of `frame`.
pub fn turn_sequence(frame: &RgbImage, face: (i32, i32, u32), n: usize, deg: f32) -> Vec<RgbImage> {
    let (fx, fy, fw) = face;
    let cx = fx as f32 + fw as f32 / 2.0;
    let radius = fw as f32 * 0.75;
    let y0 = (fy - fw as i32 / 2).max(0) as u32;
    let y1 = (fy + fw as i32 * 3 / 2).max(0) as u32;
    (0..n)
        .map(|i| {
            let t = i as f32 / (n - 1).max(1) as f32;
            let a = deg * (std::f32::consts::PI * t).sin();
            noisy(&yaw_warp(frame, cx, radius, y0, y1, a), 2.0, 500 + i as u64)
        })
        .collect()
}

/// Moving closer: the webcam window shrinks around the face by `total` over `n` frames.
pub fn closer_sequence(
    src: &RgbImage,
    x: f32,
    y: f32,
    w: f32,
    n: usize,
    total: f32,
) -> Vec<RgbImage> {
    // Keep the centre of the window fixed while it narrows.
    let (cx, cy) = (x + w / 2.0, y + w * 0.375);
    (0..n)
        .map(|i| {
            let k = i as f32 / (n - 1).max(1) as f32;
            let ww = w / (1.0 + (total - 1.0) * k);
            noisy(
                &webcam(src, cx - ww / 2.0, cy - ww * 0.375, ww),
                2.0,
                700 + i as u64,
            )
        })
        .collect()
}

/// Slid sideways without turning (a photo moved across the camera): shifts only.
pub fn slide_sequence(
    src: &RgbImage,
    x: f32,
    y: f32,
    w: f32,
    n: usize,
    total: f32,
) -> Vec<RgbImage> {
    (0..n)
        .map(|i| {
            let k = i as f32 / (n - 1).max(1) as f32;
            noisy(&webcam(src, x - total * w * k, y, w), 2.0, 900 + i as u64)
        })
        .collect()
}

/// A printed photo swung about a vertical axis through `cx` (weak perspective: a
/// horizontal squeeze by cos(angle)), from 0 to `deg` degrees and back over `n` frames.
pub fn swung_photo_sequence(frame: &RgbImage, cx: f32, n: usize, deg: f32) -> Vec<RgbImage> {
    let (w, h) = frame.dimensions();
    (0..n)
        .map(|i| {
            let t = i as f32 / (n - 1).max(1) as f32;
            let c = (deg * (std::f32::consts::PI * t).sin()).to_radians().cos();
            let img = RgbImage::from_fn(w, h, |x, y| {
                let sx = cx + (x as f32 - cx) / c;
                bilinear(frame, sx, y as f32, w, h)
            });
            noisy(&img, 2.0, 1200 + i as u64)
        })
        .collect()
}
