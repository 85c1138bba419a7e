//! The presence watch (R-ST-4) on real photos: present, gone, back; off by default.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code
mod common;

use capture::error::{CameraErrorKind, CaptureError};
use capture::frame::Frame;
use capture::presence::{AbsenceCause, PresenceConfig, PresenceEvent, PresenceWatch};
use capture::source::{FrameSource, SourceInfo, SourceKind};
use common::*;
use image::RgbImage;

struct Scripted {
    info: SourceInfo,
    frames: Vec<Result<RgbImage, CameraErrorKind>>,
    next: usize,
}

impl FrameSource for Scripted {
    fn info(&self) -> &SourceInfo {
        &self.info
    }
    fn next_frame(&mut self) -> Result<Frame, CaptureError> {
        let i = self.next;
        self.next += 1;
        match self.frames.get(i) {
            Some(Ok(img)) => Ok(Frame::new(img.clone(), i as u64)),
            Some(Err(kind)) => Err(CaptureError::Camera {
                kind: *kind,
                detail: "scripted".into(),
            }),
            None => Err(CaptureError::Closed),
        }
    }
}

#[test]
fn reports_leaving_and_returning() {
    let face = astronaut_frame();
    let empty = scene_frame("coffee.png");
    let mut src = Scripted {
        info: SourceInfo {
            kind: SourceKind::Pushed,
            device_name: "cam".into(),
            mirrored: false,
        },
        frames: vec![
            Ok(face.clone()),
            Ok(empty.clone()),
            Ok(empty.clone()),
            Ok(empty),
            Ok(face.clone()),
            Err(CameraErrorKind::Disconnected),
            Err(CameraErrorKind::Disconnected),
            Err(CameraErrorKind::Disconnected),
        ],
        next: 0,
    };
    let mut w = PresenceWatch::new(PresenceConfig {
        enabled: true,
        ..Default::default()
    })
    .unwrap();
    let mut events = Vec::new();
    let mut t = 0u64;
    for _ in 0..80 {
        // Ticks every second; checks only every 10 s.
        if let Some(e) = w.tick(&mut src, t).unwrap() {
            events.push(e);
        }
        t += 1000;
    }
    assert_eq!(w.checks(), 8);
    assert_eq!(
        events,
        vec![
            PresenceEvent::Left {
                at_ms: 30_000,
                last_seen_ms: Some(0),
                cause: AbsenceCause::NoFace
            },
            PresenceEvent::Returned { at_ms: 40_000 },
            PresenceEvent::Left {
                at_ms: 70_000,
                last_seen_ms: Some(40_000),
                cause: AbsenceCause::Camera {
                    error: CameraErrorKind::Disconnected
                }
            },
        ]
    );
    let json = serde_json::to_string(&events[0]).unwrap();
    assert!(json.contains("\"event\":\"left\""), "{json}");
}

#[test]
fn off_by_default() {
    let mut w = PresenceWatch::new(PresenceConfig::default()).unwrap();
    assert!(!w.config().enabled);
    let mut src = Scripted {
        info: SourceInfo {
            kind: SourceKind::Pushed,
            device_name: "cam".into(),
            mirrored: false,
        },
        frames: vec![],
        next: 0,
    };
    assert_eq!(w.tick(&mut src, 1_000_000).unwrap(), None);
    assert_eq!(w.checks(), 0);
    assert_eq!(src.next, 0, "no frame read while disabled");
}
