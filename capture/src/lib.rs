//! Keshi capture: camera frames, on-device face detection, quality gate and liveness.
//!
//! Provinces require a random face capture in every class hour with the image kept
//! (R-ST-3), a liveness check before every study login (R-ID-2), and study that stops
//! when the learner leaves (R-ST-4). This crate does all three on the device that plays
//! the course, offline, with the face model compiled in.
//!
//! * [`source`]: frame sources behind [`source::FrameSource`] — the desktop camera
//!   (feature `desktop-camera`), frames pushed in by the web view or a mobile plugin, and
//!   a file player for tests only (feature `test-camera`).
//! * [`detect`]: SeetaFace face detection (`rustface`, model shipped in the binary).
//! * [`quality`]: the quality gate, each failure a [`reason::Reason`] with a stable code
//!   and zh-CN / English text.
//! * [`liveness`]: passive anti-replay over a burst and active challenges.
//! * [`snapshot`] and [`blob`]: the kept JPEG with its metadata, its SHA-256, and the
//!   content-addressed store it goes into.
//! * [`capture`]: one capture end to end, producing a [`capture::CaptureOutcome`] for the
//!   study journal.
//! * [`presence`]: the optional low-rate presence watch.
//! * [`check`]: `keshi capture check IMAGE...`.
//! * [`landmarks`], [`align`]: face mesh geometry (pose, eye and mouth opening, the
//!   5-point alignment) and the aligned 150x150 face (issue 14).
//! * [`verify`]: face verification against the registered learner's template (R-ID-2,
//!   R-ST-3); the models run with the `face-verify` feature.
//! * [`face_liveness`]: landmark challenges (blink, open mouth, turn) and the 3-D
//!   consistency check that a flat photo fails (R-ID-2).
//!
//! Architecture invariants: randomness (challenge choice) and time (capture time,
//! presence checks) are passed in; nothing here talks to the network; frames are never
//! written anywhere except the chosen photo of a capture, through [`blob::BlobStore`].

pub mod align;
pub mod blob;
pub mod capture;
pub mod check;
pub mod clock;
pub mod detect;
pub mod error;
pub mod face_liveness;
pub mod frame;
pub mod imgops;
pub mod landmarks;
pub mod liveness;
pub mod presence;
pub mod quality;
pub mod reason;
pub mod snapshot;
pub mod source;
pub mod verify;

pub use capture::{CaptureConfig, CaptureOutcome, CaptureResult, Capturer};
pub use check::{check_image_file, CheckReport, Checker};
pub use detect::{BBox, DetectorConfig, Face, FaceDetector};
pub use error::{CameraErrorKind, CaptureError};
pub use frame::Frame;
pub use liveness::Challenge;
pub use quality::{QualityConfig, QualityGate, Verdict};
pub use reason::Reason;
pub use snapshot::{CapturePurpose, SnapshotMeta};
