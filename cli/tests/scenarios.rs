//! Scenario tests with exact expected numbers (R-ST-1..R-ST-5, R-AS-1), through the
//! real `keshi` binary and a real SQLite journal.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

mod common;

use common::{kinds_and_times, timeline, Env};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

/// `tests/timelines/shanxi-2h-attacks.jsonl` on the 2-class-hour demo course under
/// `shanxi` (45-min hours, 1 capture per hour, 120 s to answer it, 300 s idle timeout,
/// 5 questions at 60%), seed 8. The seed puts hour 1's capture at 1039.22 s of credit
/// and hour 2's at 3393.852 s.
///
/// - 0 s play; activity every minute, except none from 1200 s to 1800 s.
/// - 300 s seek to 3000 s: refused (frontier 300 s). 600 s rate 2: refused.
///   900 s the player reports 1500 s (2x via injected JS): refused, snapped to 900 s.
///   None of these costs credit: the position never left the honest track.
/// - 1039.22 s: capture 1 fails (scripted), playback is held; the retry passes at
///   1100 s. Held 60.78 s: clock lost, no content lost (position stays 1039.22 s).
/// - 1500 s: idle (last input 1200 s + 300 s); the video runs on uncredited until the
///   activity at 1800 s: content [1439.22, 1739.22] s is not credited (300 s).
/// - 2000–2100 s: focus lost: content [1939.22, 2039.22] s not credited (100 s).
/// - Credit reaches 2700 s at t = 2700 + 60.78 + 300 + 100 = 3160.78 s (position
///   3100 s): quiz due; the scripted wrong answers fail it; the right answers at
///   3300 s pass it and class hour 1 completes. Held meanwhile (no content lost).
/// - Hour 2's capture passes at t = 3300 + (3393.852 - 2700) = 3993.852 s.
/// - The course ends at position 5400 s (t = 5600 s): credited 5400 - 300 - 100 =
///   5000 s. Class hour 2 needs 5400 s: not complete.
#[test]
fn attack_timeline_credits_exactly_what_was_honest() {
    let env = Env::new();
    let course = env.demo_course(2);
    let journal = env.path("j.db");
    let s = env.simulate(&course, &timeline("shanxi-2h-attacks.jsonl"), &journal, 8);
    assert!(
        close(s["credited_seconds"].as_f64().unwrap(), 5000.0),
        "{s}"
    );
    assert_eq!(s["class_hours_completed"], 1, "{s}");
    assert!(close(s["position"].as_f64().unwrap(), 5400.0));
    assert!(close(s["frontier"].as_f64().unwrap(), 5400.0));
    let v = kinds_and_times(&s);
    let expected = [
        ("seek_ahead", 300.0),
        ("rate_change", 600.0),
        ("seek_ahead", 900.0),
        ("capture_failed", 1039.22),
        ("idle", 1500.0),
        ("focus_lost", 2000.0),
        ("quiz_failed", 3160.78),
    ];
    assert_eq!(v.len(), expected.len(), "{v:?}");
    for ((k, t), (ek, et)) in v.iter().zip(expected) {
        assert_eq!(k, ek);
        assert!(close(*t, et), "{k} at {t}, expected {et}");
    }
    assert_eq!(s["records"], s["records_written"]);
    env.ok(&["journal", "verify", journal.to_str().unwrap()]);

    // Session 2 (`shanxi-2h-makeup.jsonl`) resumes at the breakpoint (5400 s), seeks
    // back to 1400 s and plays: the two uncredited stretches (300 s + 100 s) are
    // credited on the way, the rest was credited already and counts once. Credit
    // reaches 5400 s at t = 639.22 s (position 2039.22 s); the quiz passes at 650 s and
    // class hour 2 completes (its capture passed in session 1). Pause at 700 s.
    let s2 = env.simulate(&course, &timeline("shanxi-2h-makeup.jsonl"), &journal, 8);
    assert_eq!(s2["session"], 2);
    assert!(
        close(s2["credited_seconds"].as_f64().unwrap(), 5400.0),
        "{s2}"
    );
    assert!(close(
        s2["session_credited_seconds"].as_f64().unwrap(),
        400.0
    ));
    assert_eq!(s2["class_hours_completed"], 2);
    assert!(close(s2["position"].as_f64().unwrap(), 2089.22), "{s2}");
    assert_eq!(s2["violations"].as_array().unwrap().len(), 0);
    env.ok(&["journal", "verify", journal.to_str().unwrap()]);
}

#[test]
fn honest_class_hour_completes() {
    let env = Env::new();
    let course = env.demo_course(1);
    let journal = env.path("h.db");
    let s = env.simulate(&course, &timeline("honest-1h.jsonl"), &journal, 1);
    assert!(
        close(s["credited_seconds"].as_f64().unwrap(), 2700.0),
        "{s}"
    );
    assert_eq!(s["class_hours_completed"], 1);
    assert_eq!(s["violations"].as_array().unwrap().len(), 0);
}

#[test]
fn restart_resumes_at_the_breakpoint() {
    let env = Env::new();
    let course = env.demo_course(1);
    let journal = env.path("r.db");
    let t1 = env.path("t1.jsonl");
    std::fs::write(
        &t1,
        "{\"t\":0,\"event\":\"play\"}\n{\"t\":60,\"event\":\"activity\"}\n{\"t\":100,\"event\":\"seek\",\"to\":40}\n{\"t\":130,\"event\":\"close\"}\n",
    )
    .unwrap();
    let s = env.simulate(&course, &t1, &journal, 1);
    assert!(close(s["position"].as_f64().unwrap(), 70.0), "{s}");
    assert!(close(s["credited_seconds"].as_f64().unwrap(), 100.0));
    // A new session with nothing but a close: it resumes where the first one stopped.
    let t2 = env.path("t2.jsonl");
    std::fs::write(&t2, "{\"t\":0,\"event\":\"close\"}\n").unwrap();
    let s = env.simulate(&course, &t2, &journal, 1);
    assert_eq!(s["session"], 2);
    assert!(close(s["position"].as_f64().unwrap(), 70.0), "{s}");
    assert!(close(s["frontier"].as_f64().unwrap(), 100.0));
    assert!(close(s["credited_seconds"].as_f64().unwrap(), 100.0));
}

#[test]
fn bad_inputs_get_clear_errors() {
    let env = Env::new();
    let course = env.demo_course(1);
    let bad = env.path("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"t\":5,\"event\":\"play\"}\n{\"t\":1,\"event\":\"pause\"}\n",
    )
    .unwrap();
    let out = env.run(&[
        "simulate",
        "--course",
        course.to_str().unwrap(),
        "--profile",
        "shanxi",
        "--timeline",
        bad.to_str().unwrap(),
        "--journal",
        env.path("x.db").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2") && err.contains("backwards"), "{err}");

    let out = env.run(&[
        "simulate",
        "--course",
        course.to_str().unwrap(),
        "--profile",
        "beijing",
        "--timeline",
        bad.to_str().unwrap(),
        "--journal",
        env.path("x.db").to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown policy profile `beijing`"));

    let broken = env.path("broken.json");
    let text = std::fs::read_to_string(&course).unwrap().replacen(
        "\"duration_seconds\": 1350",
        "\"duration_seconds\": -3",
        1,
    );
    std::fs::write(&broken, text).unwrap();
    let out = env.run(&["course", "check", broken.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.json") && err.contains("lessons[0].media.duration_seconds"),
        "{err}"
    );
}
