//! Optional presence watch while a course plays (R-ST-4, "人离线断"): a low-rate
//! on-device face check that reports when the learner has gone and when they are back.
//!
//! Off by default ([`PresenceConfig::enabled`]). Frames are processed in memory and
//! dropped; nothing is stored. Cost: one detection with the cheap setting
//! ([`DetectorConfig::presence`], 8–10 ms on a 640x480 frame) every
//! [`PresenceConfig::interval_ms`] (10 s), about 0.1% of one core; see
//! the root `BENCHMARKS.md` (Capture section). The camera itself must stay open between checks
//! (reopening takes up to a second); its driver's cost is not counted here.

use serde::{Deserialize, Serialize};

use crate::detect::{DetectorConfig, FaceDetector};
use crate::error::{CameraErrorKind, CaptureError};
use crate::frame::Frame;
use crate::source::FrameSource;

/// Presence watch settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PresenceConfig {
    /// Off unless the policy asks for it.
    pub enabled: bool,
    /// Time between checks.
    pub interval_ms: u64,
    /// Consecutive checks without a face before the learner counts as gone.
    pub absent_after_misses: u32,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        PresenceConfig {
            enabled: false,
            interval_ms: 10_000,
            absent_after_misses: 3,
        }
    }
}

/// Why the learner counts as gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AbsenceCause {
    /// No face in the last checks.
    NoFace,
    /// The camera failed (unplugged, taken by another program, ...).
    Camera {
        /// What failed.
        error: CameraErrorKind,
    },
}

/// A change of presence, for the player to stop or resume study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum PresenceEvent {
    /// The learner has gone: stop study (R-ST-4).
    Left {
        /// Check time at which it was decided.
        at_ms: u64,
        /// Last check that saw a face.
        last_seen_ms: Option<u64>,
        /// Why.
        cause: AbsenceCause,
    },
    /// A face is back after a [`PresenceEvent::Left`].
    Returned {
        /// Check time.
        at_ms: u64,
    },
}

/// The watch: a small state machine fed with frames and times.
#[derive(Debug)]
pub struct PresenceWatch {
    cfg: PresenceConfig,
    detector: FaceDetector,
    next_due_ms: u64,
    misses: u32,
    absent: bool,
    last_seen_ms: Option<u64>,
    checks: u64,
}

impl PresenceWatch {
    /// A watch with the cheap detector setting.
    pub fn new(cfg: PresenceConfig) -> Result<Self, CaptureError> {
        Ok(PresenceWatch {
            cfg,
            detector: FaceDetector::new(DetectorConfig::presence())?,
            next_due_ms: 0,
            misses: 0,
            absent: false,
            last_seen_ms: None,
            checks: 0,
        })
    }

    /// Settings in use.
    pub fn config(&self) -> &PresenceConfig {
        &self.cfg
    }

    /// Whether a check is due at `now_ms` (never when disabled).
    pub fn is_due(&self, now_ms: u64) -> bool {
        self.cfg.enabled && now_ms >= self.next_due_ms
    }

    /// Checks done so far.
    pub fn checks(&self) -> u64 {
        self.checks
    }

    /// True while the learner counts as gone.
    pub fn is_absent(&self) -> bool {
        self.absent
    }

    fn record(&mut self, seen: bool, now_ms: u64, cause: AbsenceCause) -> Option<PresenceEvent> {
        self.checks += 1;
        self.next_due_ms = now_ms.saturating_add(self.cfg.interval_ms);
        if seen {
            self.misses = 0;
            self.last_seen_ms = Some(now_ms);
            if self.absent {
                self.absent = false;
                return Some(PresenceEvent::Returned { at_ms: now_ms });
            }
            return None;
        }
        self.misses += 1;
        if !self.absent && self.misses >= self.cfg.absent_after_misses.max(1) {
            self.absent = true;
            return Some(PresenceEvent::Left {
                at_ms: now_ms,
                last_seen_ms: self.last_seen_ms,
                cause,
            });
        }
        None
    }

    /// Checks one frame (taken by value and dropped here).
    pub fn observe(
        &mut self,
        frame: Frame,
        now_ms: u64,
    ) -> Result<Option<PresenceEvent>, CaptureError> {
        let seen = !self.detector.detect(&frame.gray())?.is_empty();
        drop(frame);
        Ok(self.record(seen, now_ms, AbsenceCause::NoFace))
    }

    /// If a check is due, reads one frame from `source` and checks it. A camera failure
    /// counts as a miss (unplugging the camera must not keep study running).
    pub fn tick(
        &mut self,
        source: &mut dyn FrameSource,
        now_ms: u64,
    ) -> Result<Option<PresenceEvent>, CaptureError> {
        if !self.is_due(now_ms) {
            return Ok(None);
        }
        match source.next_frame() {
            Ok(frame) => self.observe(frame, now_ms),
            Err(CaptureError::Camera { kind, detail }) => {
                tracing::warn!(?kind, %detail, "presence: camera failed");
                Ok(self.record(false, now_ms, AbsenceCause::Camera { error: kind }))
            }
            Err(e) => Err(e),
        }
    }
}
