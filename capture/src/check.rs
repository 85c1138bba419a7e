//! `keshi capture check IMAGE...`: the detector and the quality gate on image files,
//! one JSON line per image (issue 5 acceptance).

use std::path::Path;

use serde::Serialize;

use crate::detect::{BBox, DetectorConfig, FaceDetector};
use crate::error::CaptureError;
use crate::quality::{QualityConfig, QualityGate, QualityMetrics, Verdict};
use crate::reason::{Reason, ReasonMessage};
use crate::source::push::{decode_frame, PushLimits};

/// Detector plus gate, built once for many images.
#[derive(Debug)]
pub struct Checker {
    detector: FaceDetector,
    gate: QualityGate,
}

impl Checker {
    /// With explicit settings.
    pub fn new(detector: DetectorConfig, quality: QualityConfig) -> Result<Self, CaptureError> {
        Ok(Checker {
            detector: FaceDetector::new(detector)?,
            gate: QualityGate::new(quality),
        })
    }

    /// For files: the thorough detector setting (faces from 1/12 of the shorter side,
    /// so a too-small face is reported as such rather than missed) and the default gate.
    pub fn for_files() -> Result<Self, CaptureError> {
        Self::new(DetectorConfig::thorough(), QualityConfig::default())
    }
}

/// One line of `keshi capture check` output.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The path as given.
    pub image: String,
    /// Width in pixels (0 if unreadable).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Number of faces found.
    pub faces: usize,
    /// `accept` or `reject`.
    pub verdict: Verdict,
    /// Reason codes (empty on accept).
    pub reasons: Vec<Reason>,
    /// Reasons with their zh-CN and English texts.
    pub messages: Vec<ReasonMessage>,
    /// Face boxes, best first.
    pub boxes: Vec<BBox>,
    /// Detector scores, same order.
    pub scores: Vec<f64>,
    /// Quality measurements of the best face.
    pub metrics: Option<QualityMetrics>,
    /// Read or decode error, if any.
    pub error: Option<String>,
}

/// Reads and decodes an image file (JPEG or PNG) with the bounds used for files: at most
/// 64 MiB and 8192 px on a side.
pub fn read_image_file(path: &Path) -> Result<image::RgbImage, CaptureError> {
    let limits = PushLimits {
        max_bytes: 64 * 1024 * 1024,
        max_width: 8192,
        max_height: 8192,
        ..PushLimits::default()
    };
    let bytes = std::fs::read(path)
        .map_err(|e| CaptureError::BadFrame(format!("{}: {e}", path.display())))?;
    decode_frame(&bytes, &limits)
}

/// Runs the detector and the quality gate on one image file (JPEG or PNG).
pub fn check_image_file(path: &Path, checker: &Checker) -> CheckReport {
    let image = path.display().to_string();
    let unreadable = |error: String| CheckReport {
        image: image.clone(),
        width: 0,
        height: 0,
        faces: 0,
        verdict: Verdict::Reject,
        reasons: vec![Reason::UnreadableImage],
        messages: vec![Reason::UnreadableImage.message()],
        boxes: Vec::new(),
        scores: Vec::new(),
        metrics: None,
        error: Some(error),
    };
    let rgb = match read_image_file(path) {
        Ok(img) => img,
        Err(e) => return unreadable(e.to_string()),
    };
    let gray = image::imageops::grayscale(&rgb);
    let faces = match checker.detector.detect(&gray) {
        Ok(f) => f,
        Err(e) => return unreadable(e.to_string()),
    };
    let q = checker.gate.assess(&gray, &faces);
    CheckReport {
        image,
        width: gray.width(),
        height: gray.height(),
        faces: faces.len(),
        verdict: q.verdict,
        messages: q.reasons.iter().map(|r| r.message()).collect(),
        reasons: q.reasons,
        boxes: faces.iter().map(|f| f.bbox).collect(),
        scores: faces.iter().map(|f| f.score).collect(),
        metrics: q.metrics,
        error: None,
    }
}
