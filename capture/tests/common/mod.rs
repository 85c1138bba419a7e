//! Shared helpers for the integration tests: real photographs from scikit-image's
//! bundled data (found through `KESHI_TEST_IMAGES`, see `tests/test-images.sh`) and
//! sequences built from them by cropping, shifting and scaling.
#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use std::path::PathBuf;

pub mod faces;

// The sequence generators live in the library (feature `test-camera`, which the
// crate's dev-dependency on itself turns on), so that the acted-learner source and
// these tests share one copy. Not every test file uses every one.
#[allow(unused_imports)]
pub use capture::source::acted::{bilinear, closer_sequence, noisy, turn_sequence, webcam};
use image::{imageops, GrayImage, Luma, Rgb, RgbImage};

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
                bilinear(frame, sx, y as f32)
            });
            noisy(&img, 2.0, 1200 + i as u64)
        })
        .collect()
}
