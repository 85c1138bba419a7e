//! Shared helpers for the `keshi` binary's end-to-end tests: a real binary, real
//! SQLite files in a temporary directory, a file key store (no D-Bus here).
#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_keshi"));
        c.env("KESHI_HOME", self.path("home"))
            .env("KESHI_KEYSTORE", "file")
            .env_remove("KESHI_LOG");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run keshi")
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "keshi {args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    pub fn demo_course(&self, hours: u32) -> PathBuf {
        let p = self.path(&format!("course-{hours}h.json"));
        self.ok(&[
            "course",
            "demo",
            "--class-hours",
            &hours.to_string(),
            "--out",
            p.to_str().unwrap(),
        ]);
        p
    }

    pub fn simulate(
        &self,
        course: &Path,
        timeline: &Path,
        journal: &Path,
        seed: u64,
    ) -> serde_json::Value {
        let out = self.ok(&[
            "simulate",
            "--course",
            course.to_str().unwrap(),
            "--profile",
            "shanxi",
            "--timeline",
            timeline.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
            "--seed",
            &seed.to_string(),
        ]);
        serde_json::from_str(out.trim()).expect("summary is one JSON line")
    }
}

pub fn timeline(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/timelines")
        .join(name)
}

pub fn kinds_and_times(summary: &serde_json::Value) -> Vec<(String, f64)> {
    summary["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["kind"].as_str().unwrap().to_owned(),
                v["t"].as_f64().unwrap(),
            )
        })
        .collect()
}
