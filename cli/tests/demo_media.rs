//! `keshi course demo --render-media` through the real binary and the real ffmpeg:
//! the demo course the desktop app plays (2 class hours of the `demo` profile's
//! 2 minutes, R-ST-5) with real H.264/AAC lessons whose SHA-256 the manifest carries.
//!
//! Needs ffmpeg and ffprobe (with libx264) on PATH; CI installs them, so their absence
//! fails the test rather than skipping it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

mod common;

use std::path::Path;
use std::process::Command;

use common::Env;
use player_core::manifest::{Course, MediaSource};
use player_core::policy::Policy;
use player_core::record::Hash;

fn ffprobe(file: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json", "-show_entries"])
        .arg("stream=codec_type,codec_name,pix_fmt,width,height:format=duration")
        .arg(file)
        .output()
        .expect("cannot run ffprobe: install ffmpeg (Debian: apt-get install ffmpeg)");
    assert!(
        out.status.success(),
        "ffprobe {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe prints JSON")
}

/// A 64x36 grey frame at `seconds` into `file`.
fn frame_at(file: &Path, seconds: f64) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-ss", &seconds.to_string(), "-i"])
        .arg(file)
        .args(["-frames:v", "1", "-s", "64x36", "-pix_fmt", "gray"])
        .args(["-f", "rawvideo", "-"])
        .output()
        .expect("cannot run ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), 64 * 36);
    out.stdout
}

/// Names of the top-level MP4 boxes, in file order.
fn top_level_boxes(bytes: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        names.push(String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned());
        if size < 8 {
            break;
        }
        at += size;
    }
    names
}

#[test]
fn rendered_demo_course_has_real_h264_lessons_with_their_hashes() {
    let env = Env::new();
    let manifest = env.path("demo/course.json");
    let out = env
        .cmd()
        .args(["course", "demo", "--class-hours", "2"])
        .args(["--class-hour-minutes", "2", "--render-media", "--out"])
        .arg(&manifest)
        .output()
        .expect("run keshi");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "keshi course demo failed:\n{stderr}");
    assert!(
        stderr.contains("rendered 4 lessons (240 s of video"),
        "{stderr}"
    );
    eprintln!("{stderr}");

    // The CLI's own check, and the library's, under the demo profile.
    let summary: serde_json::Value = serde_json::from_str(
        env.ok(&[
            "course",
            "check",
            manifest.to_str().unwrap(),
            "--profile",
            "demo",
        ])
        .trim(),
    )
    .unwrap();
    assert_eq!(summary["class_hours"], 2, "{summary}");
    assert_eq!(summary["duration_seconds"], 240, "{summary}");
    let course = Course::load(&manifest).unwrap();
    course.check_against(&Policy::demo().unwrap()).unwrap();
    assert_eq!(course.lessons.len(), 4);

    let dir = manifest.parent().unwrap();
    for lesson in &course.lessons {
        let MediaSource::Path(rel) = &lesson.media.source else {
            panic!("{}: media is not a file", lesson.id)
        };
        assert_eq!(rel, &format!("media/{}.mp4", lesson.id));
        let file = dir.join(rel);
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(
            Hash::of(&bytes).to_hex(),
            lesson.media.sha256,
            "{}: the manifest's sha256 is not the file's",
            lesson.id
        );
        // +faststart: the index comes before the media data.
        let boxes = top_level_boxes(&bytes);
        let pos = |n: &str| boxes.iter().position(|b| b == n);
        assert!(
            pos("moov") < pos("mdat") && pos("moov").is_some(),
            "{boxes:?}"
        );

        let probe = ffprobe(&file);
        let streams = probe["streams"].as_array().unwrap();
        let video: Vec<_> = streams
            .iter()
            .filter(|s| s["codec_type"] == "video")
            .collect();
        let audio: Vec<_> = streams
            .iter()
            .filter(|s| s["codec_type"] == "audio")
            .collect();
        assert_eq!(video.len(), 1, "{probe}");
        assert_eq!(audio.len(), 1, "{probe}");
        assert_eq!(video[0]["codec_name"], "h264", "{probe}");
        assert_eq!(video[0]["pix_fmt"], "yuv420p", "{probe}");
        assert_eq!(video[0]["width"], 640, "{probe}");
        assert_eq!(video[0]["height"], 360, "{probe}");
        assert_eq!(audio[0]["codec_name"], "aac", "{probe}");
        let duration: f64 = probe["format"]["duration"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let want = f64::from(lesson.media.duration_seconds);
        assert!(
            (duration - want).abs() <= 0.2,
            "{}: {duration} s, manifest says {want} s",
            lesson.id
        );
        // Time visibly passes: the clock, the square and the bar change the picture.
        assert_ne!(frame_at(&file, 5.5), frame_at(&file, 35.5), "{}", lesson.id);
    }

    // Nothing but the lessons is left in media/ (no scratch or partial files).
    let mut names: Vec<String> = std::fs::read_dir(dir.join("media"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["h01-a.mp4", "h01-b.mp4", "h02-a.mp4", "h02-b.mp4"]);
}

#[test]
fn a_missing_ffmpeg_names_the_lesson_and_writes_no_manifest() {
    let env = Env::new();
    let manifest = env.path("demo/course.json");
    let out = env
        .cmd()
        .args([
            "course",
            "demo",
            "--class-hours",
            "1",
            "--class-hour-minutes",
        ])
        .args(["1", "--render-media", "--ffmpeg"])
        .arg(env.path("no-such-ffmpeg"))
        .arg("--out")
        .arg(&manifest)
        .output()
        .expect("run keshi");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("lesson h01-a"), "{stderr}");
    assert!(stderr.contains("not found"), "{stderr}");
    assert!(stderr.contains("no manifest written"), "{stderr}");
    assert!(!manifest.exists());
}

#[cfg(unix)]
#[test]
fn a_failing_ffmpeg_shows_its_stderr_and_keeps_the_old_manifest() {
    use std::os::unix::fs::PermissionsExt;

    let env = Env::new();
    let manifest = env.path("demo/course.json");
    std::fs::create_dir_all(manifest.parent().unwrap()).unwrap();
    std::fs::write(&manifest, "previous manifest\n").unwrap();
    let fake = env.path("ffmpeg");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'first line' >&2\necho \"Unknown encoder 'libx264'\" >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = env
        .cmd()
        .args([
            "course",
            "demo",
            "--class-hours",
            "1",
            "--class-hour-minutes",
        ])
        .args(["1", "--render-media", "--jobs", "1", "--ffmpeg"])
        .arg(&fake)
        .arg("--out")
        .arg(&manifest)
        .output()
        .expect("run keshi");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("lesson h01-a: ffmpeg"), "{stderr}");
    assert!(stderr.contains("Unknown encoder 'libx264'"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&manifest).unwrap(),
        "previous manifest\n"
    );
    let left: Vec<_> = std::fs::read_dir(manifest.parent().unwrap().join("media"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
