//! The models behind [`super`]: MediaPipe's face landmark network and dlib's
//! face-recognition ResNet, as ONNX compiled into the binary and run by `tract-onnx`
//! (pure Rust, one thread). Feature `face-verify`.

use std::sync::Arc;

use image::RgbImage;
use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;

use super::{
    chip_sharpness, fuse, Comparison, Embedding, FaceMetrics, FaceQualityConfig, Template,
    VerifyError, DEFAULT_THRESHOLD, EMBEDDING_DIM, MAX_ENROLMENT_PHOTOS,
};
use crate::align;
use crate::detect::{DetectorConfig, Face, FaceDetector};
use crate::landmarks::{self, Landmarks, Roi, POINTS};
use crate::reason::Reason;

/// dlib's face-recognition ResNet v1 as ONNX (`scripts/models/convert.py`).
const RECOGNITION_MODEL: &[u8] =
    include_bytes!("../../models/dlib_face_recognition_resnet_v1.onnx");
/// MediaPipe's face landmark model as ONNX.
const LANDMARK_MODEL: &[u8] = include_bytes!("../../models/mediapipe_face_landmark.onnx");

/// SHA-256 of the shipped recognition model (as in `scripts/models/MANIFEST`).
pub const RECOGNITION_MODEL_SHA256: &str =
    "ac39da2a2064caac147f5e4c045575cb4f3f73c51b5d14494366e7e58b94709a";
/// SHA-256 of the shipped landmark model (as in `scripts/models/MANIFEST`).
pub const LANDMARK_MODEL_SHA256: &str =
    "b0a87423a33e06a349a9cc063c4be245ee2cb5f22cca786365a6738bbd26fcf7";

/// Side of the landmark model's input.
const MESH_INPUT: u32 = 192;

type Plan = Arc<TypedRunnableModel>;

fn load(bytes: &[u8]) -> Result<Plan, VerifyError> {
    let model = tract_onnx::onnx()
        .model_for_read(&mut std::io::Cursor::new(bytes))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(|e| VerifyError::Model(format!("{e:#}")))?;
    Ok(model)
}

fn run(plan: &Plan, shape: &[usize], data: &[f32]) -> Result<Vec<Vec<f32>>, VerifyError> {
    let err = |e: TractError| VerifyError::Inference(format!("{e:#}"));
    let input = Tensor::from_shape(shape, data).map_err(err)?;
    let out = plan.run(tvec!(input.into())).map_err(err)?;
    out.iter()
        .map(|t| {
            t.to_plain_array_view::<f32>()
                .map(|v| v.iter().copied().collect())
                .map_err(err)
        })
        .collect()
}

/// One face in a picture, analysed for verification.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaceAnalysis {
    /// The detector's face (the largest one), `None` when the face was tracked from
    /// earlier landmarks.
    pub face: Option<Face>,
    /// Its landmarks, frame pixels.
    pub landmarks: Landmarks,
    /// What the quality gate measured.
    pub metrics: FaceMetrics,
    /// Why it cannot be used (empty = usable).
    pub reasons: Vec<Reason>,
    /// The embedding of the aligned face (present even when `reasons` is not empty, for
    /// diagnostics; callers use it only when the face is usable).
    pub embedding: Embedding,
}

impl FaceAnalysis {
    /// True if the quality gate passed.
    pub fn usable(&self) -> bool {
        self.reasons.is_empty()
    }
}

/// Verification of a burst against a template.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verification {
    /// Distance, threshold and verdict on the fused embedding; `None` when no frame had
    /// a usable face.
    pub comparison: Option<Comparison>,
    /// Frames whose face was usable and went into the fused embedding.
    pub frames_used: usize,
    /// Per frame: the quality gate's reasons (empty = used).
    pub frame_reasons: Vec<Vec<Reason>>,
}

/// An enrolment: the template and what happened to each photo.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Enrolment {
    /// The template, from the usable photos.
    pub template: Template,
    /// Per photo: the quality gate's reasons (empty = used).
    pub photo_reasons: Vec<Vec<Reason>>,
}

/// The face verifier: detector, landmark model and embedding model. Loading takes a
/// few hundred milliseconds; share one (it is `Send + Sync`, methods take `&self`).
pub struct FaceVerifier {
    detector: FaceDetector,
    landmark: Plan,
    recognition: Plan,
    quality: FaceQualityConfig,
    threshold: f32,
}

impl std::fmt::Debug for FaceVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceVerifier")
            .field("detector", &self.detector)
            .field("quality", &self.quality)
            .field("threshold", &self.threshold)
            .finish_non_exhaustive()
    }
}

impl FaceVerifier {
    /// Loads the models with the default quality gate and [`DEFAULT_THRESHOLD`].
    pub fn new(detector: DetectorConfig) -> Result<Self, VerifyError> {
        Self::with_config(detector, FaceQualityConfig::default(), DEFAULT_THRESHOLD)
    }

    /// For photos (enrolment, the CLI): the thorough detector setting.
    pub fn for_photos() -> Result<Self, VerifyError> {
        Self::new(DetectorConfig::thorough())
    }

    /// Loads the models with explicit settings.
    pub fn with_config(
        detector: DetectorConfig,
        quality: FaceQualityConfig,
        threshold: f32,
    ) -> Result<Self, VerifyError> {
        if !(threshold.is_finite() && threshold > 0.0) {
            return Err(VerifyError::Template(format!("bad threshold {threshold}")));
        }
        let t0 = std::time::Instant::now();
        let v = FaceVerifier {
            detector: FaceDetector::new(detector)?,
            landmark: load(LANDMARK_MODEL)?,
            recognition: load(RECOGNITION_MODEL)?,
            quality,
            threshold,
        };
        tracing::debug!(ms = t0.elapsed().as_millis() as u64, "face models loaded");
        Ok(v)
    }

    /// The threshold in use.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The detector in use.
    pub fn detector(&self) -> &FaceDetector {
        &self.detector
    }

    /// Runs the landmark model on one region.
    pub fn landmarks_in(&self, rgb: &RgbImage, roi: &Roi) -> Result<Landmarks, VerifyError> {
        let m = roi.to_frame(MESH_INPUT);
        let input = align::crop_planar(rgb, &m, MESH_INPUT, 1.0 / 255.0);
        let n = MESH_INPUT as usize;
        let out = run(&self.landmark, &[1, 3, n, n], &input)?;
        let (pts, flag) = match out.as_slice() {
            [a, b] if a.len() == POINTS * 3 => (a, b),
            [a, b] if b.len() == POINTS * 3 => (b, a),
            _ => return Err(VerifyError::Inference("unexpected landmark outputs".into())),
        };
        let k = roi.side / MESH_INPUT as f32;
        let points = pts
            .chunks_exact(3)
            .map(|p| {
                let (x, y) = align::apply(&m, p[0], p[1]);
                [x, y, p[2] * k]
            })
            .collect();
        let logit = flag.first().copied().unwrap_or(f32::NEG_INFINITY);
        Ok(Landmarks {
            points,
            presence: 1.0 / (1.0 + (-logit).exp()),
        })
    }

    /// Landmarks of a detected face: the region from the detector's box, then once more
    /// from the landmarks' own region if the first one was off (size or place by more
    /// than 10% of its side, or turned by more than 10°).
    pub fn landmarks_for_face(
        &self,
        rgb: &RgbImage,
        face: &Face,
    ) -> Result<Landmarks, VerifyError> {
        let roi = landmarks::roi_from_bbox(&face.bbox);
        let lm = self.landmarks_in(rgb, &roi)?;
        match Roi::from_landmarks(&lm) {
            Some(next) if lm.presence >= 0.5 && roi.differs(&next, 0.1, 10f32.to_radians()) => {
                tracing::trace!(?roi, ?next, "landmark region refined");
                self.landmarks_in(rgb, &next)
            }
            _ => Ok(lm),
        }
    }

    /// Landmarks tracked from the previous frame's (MediaPipe's tracking mode: no
    /// detector). `None` if the face was lost.
    pub fn track(
        &self,
        rgb: &RgbImage,
        previous: &Landmarks,
    ) -> Result<Option<Landmarks>, VerifyError> {
        let Some(roi) = Roi::from_landmarks(previous) else {
            return Ok(None);
        };
        let lm = self.landmarks_in(rgb, &roi)?;
        Ok((lm.presence >= self.quality.min_presence).then_some(lm))
    }

    /// Landmarks of every frame of a burst, for the landmark liveness checks
    /// ([`crate::face_liveness`]): the detector finds the face in the first frame (and
    /// after a loss), the landmarks are tracked from frame to frame. `None` where no face
    /// was found.
    pub fn landmark_burst(
        &self,
        frames: &[RgbImage],
    ) -> Result<Vec<Option<Landmarks>>, VerifyError> {
        let mut out: Vec<Option<Landmarks>> = Vec::with_capacity(frames.len());
        for rgb in frames {
            let tracked = match out.last() {
                Some(Some(p)) => self.track(rgb, p)?,
                _ => None,
            };
            let lm = match tracked {
                Some(lm) => Some(lm),
                None => {
                    let gray = image::imageops::grayscale(rgb);
                    let faces = self.detector.detect(&gray)?;
                    match faces
                        .iter()
                        .max_by(|a, b| (a.bbox.w * a.bbox.h).cmp(&(b.bbox.w * b.bbox.h)))
                    {
                        Some(f) => {
                            let lm = self.landmarks_for_face(rgb, f)?;
                            (lm.presence >= self.quality.min_presence).then_some(lm)
                        }
                        None => None,
                    }
                }
            };
            out.push(lm);
        }
        Ok(out)
    }

    /// dlib's embedding of an aligned 150x150 chip.
    pub fn embed_chip(&self, chip: &RgbImage) -> Result<Embedding, VerifyError> {
        if chip.dimensions() != (align::CHIP_SIZE, align::CHIP_SIZE) {
            return Err(VerifyError::Inference("chip must be 150x150".into()));
        }
        let n = align::CHIP_SIZE as usize;
        let out = run(&self.recognition, &[1, 3, n, n], &align::planar(chip, 1.0))?;
        let v = out.into_iter().next().unwrap_or_default();
        if v.len() != EMBEDDING_DIM {
            return Err(VerifyError::Inference(format!("{} outputs", v.len())));
        }
        Embedding::new(v)
    }

    /// Aligns, measures and embeds the face whose landmarks are given.
    pub fn analyse_landmarks(
        &self,
        rgb: &RgbImage,
        face: Option<Face>,
        lm: Landmarks,
    ) -> Result<FaceAnalysis, VerifyError> {
        let chip = align::align_face(rgb, &landmarks::five_points(&lm))
            .ok_or(VerifyError::NoUsableFace(vec![Reason::NoFace]))?;
        let metrics = FaceMetrics {
            presence: lm.presence,
            eye_span_px: landmarks::eye_span(&lm),
            pose: landmarks::pose(&lm),
            sharpness: chip_sharpness(&chip),
        };
        let reasons = self.quality.assess(&metrics);
        let embedding = self.embed_chip(&chip)?;
        Ok(FaceAnalysis {
            face,
            landmarks: lm,
            metrics,
            reasons,
            embedding,
        })
    }

    /// Detects the largest face in a picture and analyses it.
    /// [`VerifyError::NoUsableFace`] with [`Reason::NoFace`] if there is none.
    pub fn analyse(&self, rgb: &RgbImage) -> Result<FaceAnalysis, VerifyError> {
        let gray = image::imageops::grayscale(rgb);
        let faces = self.detector.detect(&gray)?;
        let Some(face) = faces
            .iter()
            .max_by(|a, b| (a.bbox.w * a.bbox.h).cmp(&(b.bbox.w * b.bbox.h)))
            .copied()
        else {
            return Err(VerifyError::NoUsableFace(vec![Reason::NoFace]));
        };
        let lm = self.landmarks_for_face(rgb, &face)?;
        self.analyse_landmarks(rgb, Some(face), lm)
    }

    /// The embedding of the largest face of a photo, if it passes the quality gate.
    pub fn embed(&self, rgb: &RgbImage) -> Result<Embedding, VerifyError> {
        let a = self.analyse(rgb)?;
        if a.usable() {
            Ok(a.embedding)
        } else {
            Err(VerifyError::NoUsableFace(a.reasons))
        }
    }

    /// A template from 1–5 enrolment photos; photos without a usable face are left out
    /// (their reasons are returned). Fails if none is usable.
    pub fn enrol(&self, photos: &[RgbImage]) -> Result<Enrolment, VerifyError> {
        if photos.is_empty() || photos.len() > MAX_ENROLMENT_PHOTOS {
            return Err(VerifyError::Template(format!(
                "{} enrolment photos, expected 1..={MAX_ENROLMENT_PHOTOS}",
                photos.len()
            )));
        }
        let mut embeddings = Vec::new();
        let mut photo_reasons = Vec::new();
        for p in photos {
            match self.embed(p) {
                Ok(e) => {
                    embeddings.push(e);
                    photo_reasons.push(Vec::new());
                }
                Err(VerifyError::NoUsableFace(r)) => photo_reasons.push(r),
                Err(e) => return Err(e),
            }
        }
        if embeddings.is_empty() {
            let first = photo_reasons.first().cloned().unwrap_or_default();
            return Err(VerifyError::NoUsableFace(first));
        }
        Ok(Enrolment {
            template: Template::new(embeddings)?,
            photo_reasons,
        })
    }

    /// Verifies the frames of a capture burst against a template: every frame with a
    /// usable face counts, their embeddings are averaged (multi-frame fusion), and the
    /// mean is compared with the template. Landmarks are tracked from frame to frame;
    /// the detector runs when there is nothing to track.
    pub fn verify_frames(
        &self,
        template: &Template,
        frames: &[RgbImage],
    ) -> Result<Verification, VerifyError> {
        template.validate()?;
        let mut used = Vec::new();
        let mut frame_reasons = Vec::new();
        let mut previous: Option<Landmarks> = None;
        for rgb in frames {
            let tracked = match &previous {
                Some(p) => self.track(rgb, p)?,
                None => None,
            };
            let analysis = match tracked {
                Some(lm) => self.analyse_landmarks(rgb, None, lm),
                None => self.analyse(rgb),
            };
            match analysis {
                Ok(a) => {
                    frame_reasons.push(a.reasons.clone());
                    if a.usable() {
                        used.push(a.embedding);
                    }
                    previous = Some(a.landmarks);
                }
                Err(VerifyError::NoUsableFace(r)) => {
                    frame_reasons.push(r);
                    previous = None;
                }
                Err(e) => return Err(e),
            }
        }
        let comparison = fuse(&used).map(|probe| super::compare(template, &probe, self.threshold));
        Ok(Verification {
            comparison,
            frames_used: used.len(),
            frame_reasons,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256(b: &[u8]) -> String {
        hex::encode(ring::digest::digest(&ring::digest::SHA256, b).as_ref())
    }

    #[test]
    fn shipped_models_match_their_recorded_hashes() {
        assert_eq!(sha256(RECOGNITION_MODEL), RECOGNITION_MODEL_SHA256);
        assert_eq!(sha256(LANDMARK_MODEL), LANDMARK_MODEL_SHA256);
    }
}
