//! The file-playing test source (feature `test-camera` only).
#![cfg(feature = "test-camera")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code
mod common;

use capture::error::CaptureError;
use capture::source::files::FileSource;
use capture::source::{FrameSource, SourceKind};
use common::*;

#[test]
fn plays_files_in_order_with_stamped_times() {
    let dir = images_dir();
    let mut src = FileSource::from_paths(
        vec![dir.join("astronaut.png"), dir.join("rocket.jpg")],
        5_000,
        40,
        false,
    );
    assert_eq!(src.info().kind, SourceKind::TestFiles);
    let a = src.next_frame().unwrap();
    assert_eq!((a.dimensions(), a.t_ms), ((512, 512), 5_000));
    let b = src.next_frame().unwrap();
    assert_eq!((b.dimensions(), b.t_ms), ((640, 427), 5_040));
    assert!(matches!(src.next_frame(), Err(CaptureError::Closed)));

    let mut looped = FileSource::from_images(vec![astronaut_frame()], 0, 100, true)
        .with_device_name("ManyCam Virtual Webcam");
    for i in 0..3 {
        assert_eq!(looped.next_frame().unwrap().t_ms, i * 100);
    }
    assert_eq!(looped.info().device_name, "ManyCam Virtual Webcam");
}
