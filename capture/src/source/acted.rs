//! An "acted learner" for end-to-end tests: one still photo played as a camera that
//! shows a person moving (feature `test-camera` only, like [`super::files`]).
//!
//! [`acted_source`] finds the face in the photo with the crate's own [`FaceDetector`],
//! frames it like a webcam would (640x480, the face about 140 px wide) and renders a
//! burst from the real pixels: small natural head sway for a class-hour capture, or the
//! asked [`Challenge`]'s movement at login (a head turn modelled on a cylinder, or the
//! face coming closer). Every frame gets fresh sensor noise, so the real checks
//! ([`crate::liveness`], [`crate::quality`]) run unchanged and no threshold is loosened
//! for it. A photo without a face plays a gently moving view of the whole scene, so its
//! captures fail for "no face", not for liveness.
//!
//! The sequence generators ([`webcam`], [`noisy`], [`yaw_warp`], [`turn_sequence`],
//! [`closer_sequence`], …) are the same ones the crate's own liveness tests use.
//!
//! Timing follows [`CaptureConfig::default`]: frames are stamped 200 ms apart for a
//! class-hour source (each frame one of the 5-frame burst) and 150 ms apart for a
//! challenge source (each frame one of the 15-frame burst). The source loops, so it
//! never runs out. A challenge is measured against the first frame of its burst, so a
//! challenge burst must start where the movement starts: the loop is exactly one burst
//! long, and any frame read before the burst (a preview) would shift it; make one
//! source per capture. The class-hour sway passes from any starting frame.

use std::f32::consts::{FRAC_PI_2, PI};
use std::path::Path;

use image::{imageops, Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::files::FileSource;
use crate::capture::CaptureConfig;
use crate::detect::{BBox, DetectorConfig, Face, FaceDetector};
use crate::error::CaptureError;
use crate::liveness::Challenge;

/// Width of the frames an acted source plays.
pub const FRAME_WIDTH: u32 = 640;
/// Height of the frames an acted source plays.
pub const FRAME_HEIGHT: u32 = 480;
/// The device name an acted source reports (it matches no virtual-camera pattern).
pub const DEVICE_NAME: &str = "keshi test camera (acted learner)";

/// Width of the face in the played frames, in pixels (about 0.29 of the frame height, as
/// a learner sitting at a laptop).
const FACE_PX: f32 = 140.0;
/// Height of the face centre in the played frames, as a share of the frame height.
const FACE_ROW: f32 = 0.36;
/// Head turn of the turn challenges, in degrees.
const TURN_DEG: f32 = 25.0;
/// Growth of the face for the move-closer challenge.
const CLOSER: f32 = 1.4;
/// Frames of one period of the class-hour sway (2 s at 200 ms).
const SWAY_FRAMES: usize = 10;
/// Sway amplitude as a share of the window width (about 6 px in the played frame).
const SWAY: f32 = 0.01;
/// Sensor noise added to every frame (standard deviation, grey levels).
const NOISE: f32 = 2.0;

/// The window `(x, y, w)` of a photo seen by the virtual webcam. `w:h` is 4:3; it may
/// reach outside the photo (filled grey).
pub type Window = (f32, f32, f32);

/// A 640x480 "webcam frame" cut from a photo: the window `(x, y, w, h)` of `src`
/// (w:h = 4:3) resized to 640x480. Windows may reach outside the photo (filled grey).
pub fn webcam(src: &RgbImage, x: f32, y: f32, w: f32) -> RgbImage {
    let h = w * 0.75;
    let cols: Vec<f32> = (0..FRAME_WIDTH)
        .map(|ox| x + (ox as f32 + 0.5) * w / FRAME_WIDTH as f32 - 0.5)
        .collect();
    let mut out = Vec::with_capacity((FRAME_WIDTH * FRAME_HEIGHT * 3) as usize);
    for oy in 0..FRAME_HEIGHT {
        let fy = y + (oy as f32 + 0.5) * h / FRAME_HEIGHT as f32 - 0.5;
        for &fx in &cols {
            out.extend_from_slice(&bilinear(src, fx, fy).0);
        }
    }
    RgbImage::from_raw(FRAME_WIDTH, FRAME_HEIGHT, out).unwrap_or_default()
}

/// Bilinear sample of `src` at `(fx, fy)`; mid-grey outside the picture.
pub fn bilinear(src: &RgbImage, fx: f32, fy: f32) -> Rgb<u8> {
    let (sw, sh) = src.dimensions();
    if sw == 0 || sh == 0 || fx < 0.0 || fy < 0.0 || fx > (sw - 1) as f32 || fy > (sh - 1) as f32 {
        return Rgb([120, 120, 120]);
    }
    let x0 = fx as usize;
    let y0 = fy as usize;
    let x1 = (x0 + 1).min(sw as usize - 1);
    let y1 = (y0 + 1).min(sh as usize - 1);
    let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
    let raw = src.as_raw();
    let stride = sw as usize * 3;
    let (r0, r1) = (y0 * stride, y1 * stride);
    let (c0, c1) = (x0 * 3, x1 * 3);
    let mut out = [0u8; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let (p00, p10) = (raw[r0 + c0 + c] as f32, raw[r0 + c1 + c] as f32);
        let (p01, p11) = (raw[r1 + c0 + c] as f32, raw[r1 + c1 + c] as f32);
        let v = (p00 * (1.0 - ax) + p10 * ax) * (1.0 - ay) + (p01 * (1.0 - ax) + p11 * ax) * ay;
        *o = v.round().clamp(0.0, 255.0) as u8;
    }
    Rgb(out)
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
            let theta = ((dx / radius).asin() - phi).clamp(-FRAC_PI_2, FRAC_PI_2);
            let sx = cx + radius * theta.sin() - 0.5;
            out.put_pixel(
                x,
                y,
                bilinear(frame, sx.clamp(0.0, w.saturating_sub(1) as f32), y as f32),
            );
        }
    }
    out
}

/// A head turn: `n` frames from 0 to `deg` degrees and back, around the face box
/// `(x, y, w)` of `frame`.
pub fn turn_sequence(frame: &RgbImage, face: (i32, i32, u32), n: usize, deg: f32) -> Vec<RgbImage> {
    (0..n).map(|i| turn_frame(frame, face, i, n, deg)).collect()
}

/// Frame `i` of [`turn_sequence`].
pub fn turn_frame(
    frame: &RgbImage,
    (fx, fy, fw): (i32, i32, u32),
    i: usize,
    n: usize,
    deg: f32,
) -> RgbImage {
    let cx = fx as f32 + fw as f32 / 2.0;
    let radius = fw as f32 * 0.75;
    let y0 = (fy - fw as i32 / 2).max(0) as u32;
    let y1 = (fy + fw as i32 * 3 / 2).max(0) as u32;
    let t = i as f32 / (n - 1).max(1) as f32;
    let a = deg * (PI * t).sin();
    noisy(
        &yaw_warp(frame, cx, radius, y0, y1, a),
        NOISE,
        500 + i as u64,
    )
}

/// Moving closer: over `n` frames the webcam window `(x, y, w)` narrows by `total`
/// about its `anchor` point, given in shares of the window width from its top-left
/// corner (`(0.5, 0.375)` is the centre; the face's position keeps the face in place).
pub fn zoom_sequence(
    src: &RgbImage,
    window: Window,
    anchor: (f32, f32),
    n: usize,
    total: f32,
) -> Vec<RgbImage> {
    (0..n)
        .map(|i| zoom_frame(src, window, anchor, i, n, total))
        .collect()
}

/// Frame `i` of [`zoom_sequence`].
pub fn zoom_frame(
    src: &RgbImage,
    (x, y, w): Window,
    anchor: (f32, f32),
    i: usize,
    n: usize,
    total: f32,
) -> RgbImage {
    let (px, py) = (x + anchor.0 * w, y + anchor.1 * w);
    let k = i as f32 / (n - 1).max(1) as f32;
    let ww = w / (1.0 + (total - 1.0) * k);
    noisy(
        &webcam(src, px - ww * anchor.0, py - ww * anchor.1, ww),
        NOISE,
        700 + i as u64,
    )
}

/// Moving closer: the webcam window shrinks by `total` over `n` frames about its centre.
pub fn closer_sequence(
    src: &RgbImage,
    x: f32,
    y: f32,
    w: f32,
    n: usize,
    total: f32,
) -> Vec<RgbImage> {
    zoom_sequence(src, (x, y, w), (0.5, 0.375), n, total)
}

/// Frame `i` of a natural head sway that loops every `n` frames: the webcam window
/// `(x, y, w)` goes round a small ellipse (`amplitude` of its width sideways, half that
/// up and down) and narrows by up to `amplitude` (leaning in). Any `n / 2` consecutive
/// frames show the face moving by about `amplitude` of the window width or more.
pub fn sway_frame(
    src: &RgbImage,
    (x, y, w): Window,
    i: usize,
    n: usize,
    amplitude: f32,
) -> RgbImage {
    let (cx, cy) = (x + w / 2.0, y + w * 0.375);
    let a = 2.0 * PI * (i % n.max(1)) as f32 / n.max(1) as f32;
    let ww = w * (1.0 - amplitude * (1.0 - a.cos()) / 2.0);
    let (ccx, ccy) = (
        cx + amplitude * w * a.sin(),
        cy + amplitude * w * 0.5 * (1.0 - a.cos()),
    );
    noisy(
        &webcam(src, ccx - ww / 2.0, ccy - ww * 0.375, ww),
        NOISE,
        300 + i as u64,
    )
}

/// The best face in `photo`: looked for in the whole photo first, then in overlapping
/// square windows of half, a quarter… of its shorter side (the default detector does
/// not enlarge, so a face smaller than a sixth of the photo is found only in a smaller
/// window). The box is in photo pixels.
pub fn find_face(detector: &FaceDetector, photo: &RgbImage) -> Result<Option<Face>, CaptureError> {
    let gray = imageops::grayscale(photo);
    let (w, h) = gray.dimensions();
    if let Some(f) = detector.detect(&gray)?.first() {
        return Ok(Some(*f));
    }
    let mut side = w.min(h) / 2;
    // Below this a window holds only faces too small for the quality gate anyway.
    while side >= 120 {
        let mut best: Option<Face> = None;
        for y in offsets(h, side, side / 2) {
            for x in offsets(w, side, side / 2) {
                let window = imageops::crop_imm(&gray, x, y, side, side).to_image();
                if let Some(f) = detector.detect(&window)?.first() {
                    if best.is_none_or(|b| f.score > b.score) {
                        let mut f = *f;
                        f.bbox.x += x as i32;
                        f.bbox.y += y as i32;
                        best = Some(f);
                    }
                }
            }
        }
        if best.is_some() {
            return Ok(best);
        }
        side /= 2;
    }
    Ok(None)
}

/// Left edges of windows `side` wide, `step` apart, covering `0..len` (the last one flush
/// with the end).
fn offsets(len: u32, side: u32, step: u32) -> Vec<u32> {
    if side >= len {
        return vec![0];
    }
    let mut v: Vec<u32> = (0..=len - side).step_by(step as usize).collect();
    if v.last() != Some(&(len - side)) {
        v.push(len - side);
    }
    v
}

/// The webcam window around `face`: the face [`FACE_PX`] wide, centred across, its
/// centre at [`FACE_ROW`] of the height; moved back inside the photo where it fits.
fn face_window(photo: &RgbImage, face: &BBox) -> Window {
    let (sw, sh) = photo.dimensions();
    let (fx, fy) = face.centre();
    let w = face.w.max(1) as f32 * FRAME_WIDTH as f32 / FACE_PX;
    let h = w * 0.75;
    let margin = SWAY * 2.0 * w;
    let fit = |start: f32, size: f32, len: u32| {
        let room = len as f32 - size - 2.0 * margin;
        if room >= 0.0 {
            start.clamp(margin, margin + room)
        } else {
            start
        }
    };
    (fit(fx - w / 2.0, w, sw), fit(fy - FACE_ROW * h, h, sh), w)
}

/// The webcam window of a whole scene: the widest centred 4:3 window, less a margin for
/// the sway.
fn scene_window(photo: &RgbImage) -> Window {
    let (sw, sh) = photo.dimensions();
    let w = (sw as f32).min(sh as f32 * 4.0 / 3.0) * (1.0 - 4.0 * SWAY);
    ((sw as f32 - w) / 2.0, (sh as f32 - w * 0.75) / 2.0, w)
}

/// A [`FrameSource`](super::FrameSource) that plays a learner acted out from one still
/// photo: small natural head motion for a class-hour burst, or the asked challenge's
/// movement at login.
///
/// With `challenge: None` it loops a 2 s sway, frames 200 ms apart (the class-hour
/// burst of [`CaptureConfig::default`]); with a challenge it loops that movement over
/// the 15 frames of a challenge burst, 150 ms apart: the head turned 25° to the
/// learner's left or right and back, or the face growing by 40%. Timestamps start at
/// `start_ms`; the source is not mirrored; frames are drawn when read, and the same
/// arguments give the same frames. A photo with no face plays the whole scene, gently
/// moving, so a capture fails for the missing face. Errors only if the face model
/// cannot be loaded.
pub fn acted_source(
    photo: &RgbImage,
    challenge: Option<Challenge>,
    start_ms: u64,
) -> Result<FileSource, CaptureError> {
    act(photo.clone(), challenge, start_ms)
}

/// [`acted_source`] for a photo file (JPEG or PNG); errors if it cannot be read or
/// decoded.
pub fn acted_source_from_file(
    path: &Path,
    challenge: Option<Challenge>,
    start_ms: u64,
) -> Result<FileSource, CaptureError> {
    let bytes = std::fs::read(path).map_err(|e| CaptureError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let photo = image::load_from_memory(&bytes)
        .map_err(|e| CaptureError::BadFrame(format!("{}: {e}", path.display())))?
        .to_rgb8();
    act(photo, challenge, start_ms)
}

fn act(
    photo: RgbImage,
    challenge: Option<Challenge>,
    start_ms: u64,
) -> Result<FileSource, CaptureError> {
    let cfg = CaptureConfig::default();
    let detector = FaceDetector::new(DetectorConfig::default())?;
    let (n, interval) = match challenge {
        Some(_) => (cfg.challenge_frames, cfg.challenge_interval_ms),
        None => (SWAY_FRAMES.max(cfg.burst_frames), cfg.burst_interval_ms),
    };
    let play = |draw: Box<dyn Fn(usize) -> RgbImage + Send>| {
        FileSource::from_fn(n, draw, start_ms, interval, true).with_device_name(DEVICE_NAME)
    };
    let Some(face) = find_face(&detector, &photo)? else {
        let window = scene_window(&photo);
        return Ok(play(Box::new(move |i| {
            sway_frame(&photo, window, i, n, SWAY)
        })));
    };
    let window = face_window(&photo, &face.bbox);
    Ok(match challenge {
        None => play(Box::new(move |i| sway_frame(&photo, window, i, n, SWAY))),
        Some(Challenge::MoveCloser) => {
            let (fx, fy) = face.bbox.centre();
            let anchor = ((fx - window.0) / window.2, (fy - window.1) / window.2);
            play(Box::new(move |i| {
                zoom_frame(&photo, window, anchor, i, n, CLOSER)
            }))
        }
        Some(turn) => {
            let deg = if turn == Challenge::TurnLeft {
                TURN_DEG
            } else {
                -TURN_DEG
            };
            let base = webcam(&photo, window.0, window.1, window.2);
            let b = frame_box(&detector, &base, &face.bbox, window)?;
            play(Box::new(move |i| {
                turn_frame(&base, (b.x, b.y, b.w), i, n, deg)
            }))
        }
    })
}

/// The face box in the rendered frame `base`: detected again there (the box the capture
/// will see), else the photo's box mapped through the window.
fn frame_box(
    detector: &FaceDetector,
    base: &RgbImage,
    photo_box: &BBox,
    (x, y, w): Window,
) -> Result<BBox, CaptureError> {
    if let Some(f) = detector.detect(&imageops::grayscale(base))?.first() {
        return Ok(f.bbox);
    }
    let k = FRAME_WIDTH as f32 / w;
    Ok(BBox {
        x: ((photo_box.x as f32 - x) * k).round() as i32,
        y: ((photo_box.y as f32 - y) * k).round() as i32,
        w: (photo_box.w as f32 * k).round() as u32,
        h: (photo_box.h as f32 * k).round() as u32,
    })
}
