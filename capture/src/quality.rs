//! Quality gate: is this frame good enough to keep as the class-hour photo (R-ST-3) or
//! to check liveness on (R-ID-2)?
//!
//! Rules, each with its own [`Reason`] (thresholds in [`QualityConfig`], measured on
//! scikit-image's photographs, see `README.md` and `tests/quality.rs`):
//!
//! | rule | metric | default |
//! |---|---|---|
//! | exactly one face | detector faces | 1 |
//! | big enough | face box width / shorter frame side | >= 0.18 |
//! | inside the picture | box area outside the frame | <= 0.15 |
//! | not too dark | mean luma of the inner face | >= 50 |
//! | not too bright | mean luma of the inner face, share of clipped pixels | <= 210, <= 0.25 |
//! | not too blurry | Laplacian variance / (luma variance + 25) on the face scaled to 64x64 | >= 0.04 |
//!
//! The blur metric is taken on the face scaled to a fixed size so that it does not depend
//! on how far the learner sits, and divided by the contrast so that it does not depend on
//! the light.

use image::GrayImage;
use serde::{Deserialize, Serialize};

use crate::detect::Face;
use crate::imgops;
use crate::reason::Reason;

/// Accept or reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every rule passed.
    Accept,
    /// At least one rule failed; see the reasons.
    Reject,
}

/// Quality thresholds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QualityConfig {
    /// Smallest face box width as a share of the frame's shorter side.
    pub min_face_fraction: f32,
    /// Largest share of the face box that may lie outside the frame.
    pub max_outside_fraction: f32,
    /// Darkest acceptable mean luma of the inner face (0..255).
    pub min_brightness: f32,
    /// Brightest acceptable mean luma of the inner face (0..255).
    pub max_brightness: f32,
    /// Largest share of inner-face pixels at 250 or above.
    pub max_clipped_fraction: f32,
    /// Smallest sharpness (Laplacian variance / (luma variance + 25), face at 64x64).
    pub min_sharpness: f32,
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            min_face_fraction: 0.18,
            max_outside_fraction: 0.15,
            min_brightness: 50.0,
            max_brightness: 210.0,
            max_clipped_fraction: 0.25,
            min_sharpness: 0.04,
        }
    }
}

/// Measurements behind a verdict (of the best face when there are several).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QualityMetrics {
    /// Face box width / shorter frame side.
    pub face_fraction: f32,
    /// Share of the face box outside the frame.
    pub outside_fraction: f32,
    /// Mean luma of the inner face.
    pub brightness: f32,
    /// Share of inner-face pixels at 250 or above.
    pub clipped_fraction: f32,
    /// Laplacian variance / (luma variance + 25) of the face at 64x64.
    pub sharpness: f32,
}

/// Result of the gate on one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    /// Accept or reject.
    pub verdict: Verdict,
    /// Failed rules, in the order of the table above; empty on accept.
    pub reasons: Vec<Reason>,
    /// Number of faces found.
    pub faces: usize,
    /// Measurements of the best face, if any.
    pub metrics: Option<QualityMetrics>,
}

/// Side of the square the face is scaled to for the blur metric.
const NORM: u32 = 64;

/// Applies [`QualityConfig`] to a frame and the faces found in it.
#[derive(Debug, Clone, Default)]
pub struct QualityGate {
    cfg: QualityConfig,
}

impl QualityGate {
    /// A gate with these thresholds.
    pub fn new(cfg: QualityConfig) -> Self {
        QualityGate { cfg }
    }

    /// The thresholds in use.
    pub fn config(&self) -> &QualityConfig {
        &self.cfg
    }

    /// Measures one face. `None` if the face box is entirely outside the frame.
    pub fn measure(&self, gray: &GrayImage, face: &Face) -> Option<QualityMetrics> {
        let (w, h) = gray.dimensions();
        let short = w.min(h).max(1) as f32;
        // Inner face: skip hair, ears and background at the box edges.
        let inner = face.bbox.scaled(0.6, 0.7);
        let (ix, iy, iw, ih) = inner.clamp_to(w, h)?;
        let crop = imgops::crop_gray(gray, ix, iy, iw, ih);
        let (brightness, _) = imgops::mean_var(&crop);
        let clipped = crop.as_raw().iter().filter(|&&v| v >= 250).count() as f32
            / crop.as_raw().len().max(1) as f32;
        // Blur on the whole face box scaled to NORM x NORM.
        let (fx, fy, fw, fh) = face.bbox.clamp_to(w, h)?;
        let face_img = imgops::resize_gray(&imgops::crop_gray(gray, fx, fy, fw, fh), NORM, NORM);
        let (_, var) = imgops::mean_var(&face_img);
        let sharpness = imgops::laplacian_var(&face_img) / (var + 25.0);
        Some(QualityMetrics {
            face_fraction: face.bbox.w as f32 / short,
            outside_fraction: face.bbox.outside_fraction(w, h),
            brightness,
            clipped_fraction: clipped,
            sharpness,
        })
    }

    /// Judges a frame given the detector's faces (best first).
    pub fn assess(&self, gray: &GrayImage, faces: &[Face]) -> QualityReport {
        let mut reasons = Vec::new();
        let best = faces.first();
        let metrics = best.and_then(|f| self.measure(gray, f));
        match faces.len() {
            0 => reasons.push(Reason::NoFace),
            1 => {}
            _ => reasons.push(Reason::MultipleFaces),
        }
        if let Some(m) = metrics {
            let c = &self.cfg;
            if m.face_fraction < c.min_face_fraction {
                reasons.push(Reason::FaceTooSmall);
            }
            if m.outside_fraction > c.max_outside_fraction {
                reasons.push(Reason::FaceCutOff);
            }
            if m.brightness < c.min_brightness {
                reasons.push(Reason::TooDark);
            }
            if m.brightness > c.max_brightness || m.clipped_fraction > c.max_clipped_fraction {
                reasons.push(Reason::TooBright);
            }
            if m.sharpness < c.min_sharpness {
                reasons.push(Reason::TooBlurry);
            }
        } else if !faces.is_empty() {
            reasons.push(Reason::FaceCutOff);
        }
        QualityReport {
            verdict: if reasons.is_empty() {
                Verdict::Accept
            } else {
                Verdict::Reject
            },
            reasons,
            faces: faces.len(),
            metrics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::BBox;
    use image::Luma;

    fn face(x: i32, y: i32, w: u32) -> Face {
        Face {
            bbox: BBox { x, y, w, h: w },
            score: 10.0,
        }
    }

    #[test]
    fn no_face_and_two_faces_are_named() {
        let g = QualityGate::default();
        let img = GrayImage::from_pixel(640, 480, Luma([128]));
        let r = g.assess(&img, &[]);
        assert_eq!(r.verdict, Verdict::Reject);
        assert_eq!(r.reasons, vec![Reason::NoFace]);
        let r = g.assess(&img, &[face(100, 100, 150), face(400, 100, 150)]);
        assert!(r.reasons.contains(&Reason::MultipleFaces));
    }

    #[test]
    fn flat_grey_face_is_blurry_and_thresholds_apply() {
        let g = QualityGate::default();
        let img = GrayImage::from_pixel(640, 480, Luma([128]));
        let r = g.assess(&img, &[face(200, 100, 200)]);
        assert_eq!(r.reasons, vec![Reason::TooBlurry]);
        let dark = GrayImage::from_pixel(640, 480, Luma([20]));
        assert!(g
            .assess(&dark, &[face(200, 100, 200)])
            .reasons
            .contains(&Reason::TooDark));
        let bright = GrayImage::from_pixel(640, 480, Luma([255]));
        assert!(g
            .assess(&bright, &[face(200, 100, 200)])
            .reasons
            .contains(&Reason::TooBright));
        let r = g.assess(&img, &[face(600, 100, 200)]);
        assert!(r.reasons.contains(&Reason::FaceCutOff));
        let r = g.assess(&img, &[face(10, 10, 50)]);
        assert!(r.reasons.contains(&Reason::FaceTooSmall));
        let r = g.assess(&img, &[face(5000, 10, 50)]);
        assert!(r.reasons.contains(&Reason::FaceCutOff));
    }
}
