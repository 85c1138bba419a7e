//! Crash test (R-ST-2, R-ST-6): SIGKILL a running `keshi simulate` at random moments,
//! at least 50 times. After every kill the journal verifies, and a restart resumes at
//! the last durable breakpoint (the position in the last record that reached disk).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

mod common;

use std::time::{Duration, Instant};

use common::Env;
use player_core::journal::JournalReader;
use player_core::session::progress_of;
use rand::{Rng, SeedableRng};

const KILLS: usize = 50;

/// A timeline that commits often: focus flips every 5 s, so every few seconds of
/// study produce records (each step is one durable commit): 20 minutes, about 250
/// commits.
fn busy_timeline() -> String {
    let mut s = String::from("{\"t\":0,\"event\":\"play\"}\n");
    let mut focused = true;
    for t in (5..1200).step_by(5) {
        focused = !focused;
        s.push_str(&format!(
            "{{\"t\":{t},\"event\":\"focus\",\"focused\":{focused}}}\n"
        ));
        if t % 30 == 0 {
            s.push_str(&format!("{{\"t\":{t},\"event\":\"activity\"}}\n"));
            s.push_str(&format!(
                "{{\"t\":{t},\"event\":\"capture\",\"ok\":true}}\n"
            ));
        }
    }
    s
}

fn breakpoint_ms(journal: &std::path::Path, course_id: &str) -> u64 {
    let reader = JournalReader::open(journal).expect("open journal");
    let records = reader.records_from(1).expect("read journal");
    progress_of(records.iter(), course_id)
        .expect("fold journal")
        .position_ms
}

#[test]
fn sigkill_at_random_moments_never_breaks_the_journal() {
    let env = Env::new();
    let course = env.demo_course(2);
    let course_id = "demo-electrician-2h";
    let journal = env.path("crash.db");
    let busy = env.path("busy.jsonl");
    std::fs::write(&busy, busy_timeline()).unwrap();
    let close = env.path("close.jsonl");
    std::fs::write(&close, "{\"t\":0,\"event\":\"close\"}\n").unwrap();
    let args = |timeline: &std::path::Path| {
        vec![
            "simulate".to_owned(),
            "--course".into(),
            course.to_str().unwrap().into(),
            "--profile".into(),
            "shanxi".into(),
            "--timeline".into(),
            timeline.to_str().unwrap().into(),
            "--journal".into(),
            journal.to_str().unwrap().into(),
        ]
    };

    // How long an uninterrupted run takes here, to spread the kills over it.
    let started = Instant::now();
    env.ok(&args(&busy).iter().map(String::as_str).collect::<Vec<_>>());
    let full = started.elapsed().max(Duration::from_millis(50));

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x006b_6573_6869);
    let mut killed_mid_run = 0;
    for i in 0..KILLS {
        let mut child = env
            .cmd()
            .args(args(&busy))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn keshi");
        // Within the first 60% of a full run, so that nearly every kill lands mid-run
        // even when this machine is busier than when `full` was measured.
        let delay = rng.random_range(0..full.as_micros() as u64 * 3 / 5);
        std::thread::sleep(Duration::from_micros(delay));
        // `Child::kill` is SIGKILL on Unix: no destructor, no flush, no goodbye.
        child.kill().expect("kill");
        let status = child.wait().expect("wait");
        if !status.success() {
            killed_mid_run += 1;
        }

        let out = env.run(&["journal", "verify", journal.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "kill {i} after {delay} µs left a journal that does not verify: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let durable = breakpoint_ms(&journal, course_id);
        let summary = env.simulate(&course, &close, &journal, 1);
        let resumed = (summary["position"].as_f64().unwrap() * 1000.0).round() as u64;
        assert_eq!(
            resumed, durable,
            "kill {i}: resumed at {resumed} ms, last durable breakpoint {durable} ms"
        );
    }
    eprintln!("{killed_mid_run} of {KILLS} kills landed mid-run (a full run takes {full:?})");
    assert!(
        killed_mid_run >= KILLS / 2,
        "only {killed_mid_run} of {KILLS} kills landed mid-run; the test is not testing"
    );
    env.ok(&["journal", "verify", journal.to_str().unwrap()]);
}
