//! One capture, end to end: a burst of frames, face detection, the quality gate,
//! liveness, the kept photo and its hash (R-ST-3, R-ID-2).
//!
//! [`Capturer::analyse`] is pure (frames in, result out); [`Capturer::capture`] adds
//! reading the source and storing the photo. Either way the caller gets a
//! [`CaptureOutcome`] to put into the study journal: every attempt produces one, even
//! when the camera fails, so the record of the learning process is complete (R-ST-6).

use image::GrayImage;
use serde::{Deserialize, Serialize};

use crate::blob::BlobStore;
use crate::detect::{DetectorConfig, Face, FaceDetector};
use crate::error::{CameraErrorKind, CaptureError};
use crate::frame::Frame;
use crate::liveness::{
    check_challenge, passive_check, BurstFrame, Challenge, ChallengeReport, LivenessConfig,
    PassiveReport,
};
use crate::quality::{QualityConfig, QualityGate, QualityReport, Verdict};
use crate::reason::Reason;
use crate::snapshot::{encode_snapshot, CapturePurpose, Snapshot, SnapshotConfig, SnapshotMeta};
use crate::source::virtual_camera::virtual_camera_match;
use crate::source::{FrameSource, SourceInfo, SourceKind};

/// What the study journal records about one capture (R-ST-3, R-ID-2). Serialized
/// field names are stable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureOutcome {
    /// Login liveness or class-hour capture.
    pub purpose: CapturePurpose,
    /// When, Unix milliseconds UTC (passed in).
    pub captured_at_ms: i64,
    /// Accept or reject.
    pub verdict: Verdict,
    /// Why it was rejected (stable codes); empty on accept.
    pub reasons: Vec<Reason>,
    /// SHA-256 of the kept JPEG; the bytes live in the blob store and may be erased
    /// after the retention period.
    pub image_sha256: Option<String>,
    /// Size of the kept JPEG.
    pub image_bytes: Option<u64>,
    /// Faces in the kept frame.
    pub faces: u32,
    /// Detector score of the main face in the kept frame.
    pub face_score: Option<f64>,
    /// The active challenge asked, for a login check.
    pub challenge: Option<Challenge>,
    /// Kind of frame source.
    pub source: SourceKind,
    /// Camera name as the system reports it.
    pub device_name: String,
    /// Frames analysed.
    pub frames: u32,
    /// Largest face motion in the burst (share of face width).
    pub motion: Option<f32>,
    /// The camera failure that cut the burst short, if any.
    pub camera_error: Option<CameraErrorKind>,
}

/// Burst settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaptureConfig {
    /// Frames in a class-hour burst.
    pub burst_frames: usize,
    /// Smallest gap between kept frames of a class-hour burst (frames in between are
    /// read and dropped). 5 frames 200 ms apart span 0.8 s.
    pub burst_interval_ms: u64,
    /// Frames in a login challenge burst.
    pub challenge_frames: usize,
    /// Gap between challenge frames (15 x 150 ms = 2.1 s to do the movement).
    pub challenge_interval_ms: u64,
    /// Most frames read from the source for one burst (guards against a source that
    /// stamps frames too close together).
    pub max_reads: usize,
    /// Keep the photo of a rejected capture too (evidence of who, or nobody, was there).
    pub keep_rejected: bool,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            burst_frames: 5,
            burst_interval_ms: 200,
            challenge_frames: 15,
            challenge_interval_ms: 150,
            max_reads: 400,
            keep_rejected: true,
        }
    }
}

/// Everything a capture found out.
#[derive(Debug, Clone)]
pub struct CaptureResult {
    /// The journal record.
    pub outcome: CaptureOutcome,
    /// The kept photo (already in the store when [`Capturer::capture`] made it).
    pub snapshot: Option<Snapshot>,
    /// Quality of the kept frame.
    pub quality: Option<QualityReport>,
    /// Passive liveness over the burst.
    pub passive: Option<PassiveReport>,
    /// The active challenge, for a login check.
    pub challenge: Option<ChallengeReport>,
}

/// Runs captures.
#[derive(Debug)]
pub struct Capturer {
    detector: FaceDetector,
    gate: QualityGate,
    liveness: LivenessConfig,
    snapshot: SnapshotConfig,
    cfg: CaptureConfig,
}

fn push_unique(v: &mut Vec<Reason>, r: Reason) {
    if !v.contains(&r) {
        v.push(r);
    }
}

impl Capturer {
    /// A capturer with these parts.
    pub fn new(
        detector: FaceDetector,
        gate: QualityGate,
        liveness: LivenessConfig,
        snapshot: SnapshotConfig,
        cfg: CaptureConfig,
    ) -> Self {
        Capturer {
            detector,
            gate,
            liveness,
            snapshot,
            cfg,
        }
    }

    /// A capturer with every default.
    pub fn with_defaults() -> Result<Self, CaptureError> {
        Ok(Self::new(
            FaceDetector::new(DetectorConfig::default())?,
            QualityGate::new(QualityConfig::default()),
            LivenessConfig::default(),
            SnapshotConfig::default(),
            CaptureConfig::default(),
        ))
    }

    /// Burst settings in use.
    pub fn config(&self) -> &CaptureConfig {
        &self.cfg
    }

    /// Reads `n` frames at least `min_interval_ms` apart (by their timestamps). Stops
    /// early on a source error, returning the frames so far and the error.
    pub fn collect_burst(
        &self,
        source: &mut dyn FrameSource,
        n: usize,
        min_interval_ms: u64,
    ) -> (Vec<Frame>, Option<CaptureError>) {
        let mut frames: Vec<Frame> = Vec::with_capacity(n);
        let mut reads = 0;
        while frames.len() < n && reads < self.cfg.max_reads {
            reads += 1;
            match source.next_frame() {
                Ok(f) => {
                    let far_enough = frames
                        .last()
                        .is_none_or(|last| f.t_ms >= last.t_ms.saturating_add(min_interval_ms));
                    if far_enough {
                        frames.push(f);
                    }
                }
                Err(e) => return (frames, Some(e)),
            }
        }
        (frames, None)
    }

    /// Reads a burst from `source`, analyses it and stores the kept photo in `store`.
    /// With a `challenge`, this is the login liveness check (R-ID-2); without, the
    /// class-hour capture (R-ST-3). Errors only for blob-store or encoding failures;
    /// camera failures become a rejected outcome.
    pub fn capture(
        &self,
        source: &mut dyn FrameSource,
        challenge: Option<Challenge>,
        meta: &SnapshotMeta,
        store: &BlobStore,
    ) -> Result<CaptureResult, CaptureError> {
        let (n, gap) = match challenge {
            Some(_) => (self.cfg.challenge_frames, self.cfg.challenge_interval_ms),
            None => (self.cfg.burst_frames, self.cfg.burst_interval_ms),
        };
        let (frames, err) = self.collect_burst(source, n, gap);
        if let Some(e) = &err {
            tracing::warn!(error = %e, frames = frames.len(), "burst cut short");
        }
        let camera_error = match &err {
            Some(CaptureError::Camera { kind, .. }) => Some(*kind),
            _ => None,
        };
        let mut result = self.analyse(&frames, source.info(), challenge, meta)?;
        if result.outcome.camera_error.is_none() {
            result.outcome.camera_error = camera_error;
        }
        if let Some(s) = &result.snapshot {
            store.put(&s.jpeg)?;
        }
        Ok(result)
    }

    /// Analyses a burst already read. Pure: no I/O, time comes from `meta`.
    pub fn analyse(
        &self,
        frames: &[Frame],
        info: &SourceInfo,
        challenge: Option<Challenge>,
        meta: &SnapshotMeta,
    ) -> Result<CaptureResult, CaptureError> {
        let mut outcome = CaptureOutcome {
            purpose: meta.purpose,
            captured_at_ms: meta.captured_at_ms,
            verdict: Verdict::Reject,
            reasons: Vec::new(),
            image_sha256: None,
            image_bytes: None,
            faces: 0,
            face_score: None,
            challenge,
            source: info.kind,
            device_name: info.device_name.clone(),
            frames: frames.len() as u32,
            motion: None,
            camera_error: None,
        };
        let min_frames = if challenge.is_some() { 3 } else { 2 };
        if frames.len() < min_frames {
            outcome.reasons.push(Reason::NoFrames);
            return Ok(CaptureResult {
                outcome,
                snapshot: None,
                quality: None,
                passive: None,
                challenge: None,
            });
        }

        let grays: Vec<GrayImage> = frames.iter().map(Frame::gray).collect();
        let mut faces: Vec<Vec<Face>> = Vec::with_capacity(frames.len());
        for g in &grays {
            faces.push(self.detector.detect(g)?);
        }
        let reports: Vec<QualityReport> = grays
            .iter()
            .zip(&faces)
            .map(|(g, f)| self.gate.assess(g, f))
            .collect();

        // The kept frame: the accepted one with the surest face, else the surest face,
        // else the middle of the burst.
        let score = |i: usize| faces[i].first().map(|f| f.score).unwrap_or(f64::MIN);
        let accepted: Vec<usize> = (0..frames.len())
            .filter(|&i| reports[i].verdict == Verdict::Accept)
            .collect();
        let pool: Vec<usize> = if accepted.is_empty() {
            (0..frames.len()).collect()
        } else {
            accepted.clone()
        };
        let chosen = pool
            .iter()
            .copied()
            .max_by(|&a, &b| score(a).total_cmp(&score(b)))
            .filter(|&i| !faces[i].is_empty())
            .unwrap_or(frames.len() / 2);

        let mut reasons = Vec::new();
        if accepted.is_empty() {
            for r in &reports[chosen].reasons {
                push_unique(&mut reasons, *r);
            }
        }
        let burst: Vec<BurstFrame<'_>> = grays
            .iter()
            .zip(frames)
            .zip(&faces)
            .map(|((g, f), fs)| BurstFrame {
                gray: g,
                t_ms: f.t_ms,
                face: fs.first().copied(),
            })
            .collect();
        let passive = passive_check(&burst, &self.liveness);
        for r in &passive.reasons {
            push_unique(&mut reasons, *r);
        }
        let challenge_report = challenge.map(|c| {
            let rep = check_challenge(c, &burst, info.mirrored, &self.liveness);
            for r in &rep.reasons {
                push_unique(&mut reasons, *r);
            }
            rep
        });
        if let Some(p) = virtual_camera_match(&info.device_name) {
            tracing::warn!(device = %info.device_name, pattern = p, "virtual camera");
            push_unique(&mut reasons, Reason::VirtualCamera);
        }

        outcome.verdict = if reasons.is_empty() {
            Verdict::Accept
        } else {
            Verdict::Reject
        };
        outcome.faces = faces[chosen].len() as u32;
        outcome.face_score = faces[chosen].first().map(|f| f.score);
        outcome.motion = Some(passive.metrics.motion);
        outcome.reasons = reasons;

        let snapshot = if outcome.verdict == Verdict::Accept || self.cfg.keep_rejected {
            let s = encode_snapshot(&frames[chosen].rgb, meta, &self.snapshot)?;
            outcome.image_sha256 = Some(s.sha256.clone());
            outcome.image_bytes = Some(s.jpeg.len() as u64);
            Some(s)
        } else {
            None
        };
        tracing::info!(
            purpose = ?outcome.purpose,
            verdict = ?outcome.verdict,
            reasons = ?outcome.reasons,
            "capture"
        );
        Ok(CaptureResult {
            outcome,
            snapshot,
            quality: Some(reports[chosen].clone()),
            passive: Some(passive),
            challenge: challenge_report,
        })
    }
}
