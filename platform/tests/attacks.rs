//! Attacks on the platform (issue 11), each a real request against a real platform
//! on loopback, over SQLite and PostgreSQL: what the device claims is never taken as
//! credit. Every case states the refusal or the exact credit it expects.
//!
//! - claims beyond the catalogue: unknown course, ranges past the course's end,
//!   overflowing ranges, the same hour claimed fifty times;
//! - time anchored to the platform's clock: future-stamped and backdated segments,
//!   same-device overlap (R-ID-3 and the lease rules);
//! - keys and devices: small-order keys, simulated devices, the device limit and
//!   staff approval of one more;
//! - quizzes: graded by the platform whatever the device claims, grades signed;
//! - login abuse: brute force (lockout, `Retry-After`) and user enumeration by timing;
//! - leases: a heartbeat cannot revive an offline lease that ended;
//! - abuse of the service: slow and idle connections, quarantine size, learners do
//!   not see the anti-fraud flags.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{backends, client, login, now_ms, push, wire, DeviceKey, Server};
use keshi_platform::Config;
use keshi_protocol::ids::Hash;
use keshi_protocol::record::{seal, NewRecord, Record};
use serde_json::{json, Value};

/// The published two-class-hour course (45-minute hours, 5,400,000 ms).
fn publish(srv: &Server, dir: &std::path::Path) -> String {
    let course = keshi_protocol::demo::course(2);
    let path = dir.join("attack-course.json");
    std::fs::write(&path, course.to_string()).unwrap();
    srv.publish(&path, "shanxi").0
}

/// The question ids of class hour 1 of the published demo course, in bank order.
fn hour_one_question_ids() -> Vec<Value> {
    keshi_protocol::demo::course(2)["quizzes"][0]["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["id"].clone())
        .collect()
}

/// A device writing its own chain.
struct Dev {
    key: DeviceKey,
    prev: Option<(u64, Hash)>,
    mono: u64,
}

impl Dev {
    fn new() -> Dev {
        Dev {
            key: DeviceKey::generate().unwrap(),
            prev: None,
            mono: 0,
        }
    }

    fn rec(&mut self, kind: &str, payload: Value, wall_ms: i64) -> Record {
        self.mono += 1;
        let r = seal(
            &self.key,
            self.prev,
            &NewRecord::new(kind, payload, wall_ms, self.mono),
        )
        .unwrap();
        self.prev = Some((r.seq(), r.hash));
        r
    }

    fn start(&mut self, course: &str, wall_ms: i64) -> Record {
        self.rec(
            "session_start",
            json!({"session": 1, "course": course, "profile": "shanxi", "class_hours": 2, "course_ms": 5_400_000}),
            wall_ms,
        )
    }

    /// A segment of session 1 that played `[t0, t1)` of its clock, crediting `cov`,
    /// stamped to end at `wall_end`.
    fn seg(&mut self, t0: u64, t1: u64, cov: &[[u64; 2]], wall_end: i64) -> Record {
        let credited: u64 = cov
            .iter()
            .map(|r| r[1].saturating_sub(r[0]))
            .fold(0, u64::saturating_add);
        let pos0 = cov.first().map_or(0, |r| r[0]);
        let pos1 = cov.last().map_or(0, |r| r[1]);
        self.rec(
            "segment",
            json!({"session": 1, "t0_ms": t0, "t1_ms": t1, "pos0_ms": pos0, "pos_ms": pos1,
                "frontier_ms": pos1, "covered": cov, "credited_ms": credited, "total_credited_ms": 0}),
            wall_end,
        )
    }
}

/// Runs `keshi-platform admin ARGS --json` (the staff command, against the same
/// database) and returns its JSON line.
fn admin(args: &[&str]) -> Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keshi-platform"))
        .arg("admin")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn flags_of(srv: &Server, user: &str) -> Vec<String> {
    srv.summary(user)
        .flags
        .iter()
        .map(|f| f.kind.to_owned())
        .collect()
}

/// A learner, enrolled with a fresh device; the platform's clock has moved past the
/// login by `settle` (so honest segments can end after it).
fn enrol(srv: &Server, user: &str) -> (Dev, String, i64) {
    srv.learner(user, "pw");
    let dev = Dev::new();
    let token = login_at_head(srv, user, &dev.key, 0);
    let t = now_ms();
    std::thread::sleep(Duration::from_millis(2_200));
    (dev, token, t)
}

/// Logs in as the client does: with its journal's head, a contact the platform
/// anchors the device's later records to. Returns the token.
fn login_at_head(srv: &Server, user: &str, key: &DeviceKey, head: u64) -> String {
    let r = client()
        .post(format!("{}/v1/login", srv.url))
        .json(&json!({"user": user, "password": "pw", "public_key": key.public_key_hex(), "head_seq": head}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let l: Value = r.json().unwrap();
    l["token"].as_str().unwrap().to_owned()
}

fn claims_beyond_the_catalogue(srv: &Server, dir: &std::path::Path) {
    let course = publish(srv, dir);

    // An honest second: credited exactly.
    let (mut d, token, _) = enrol(srv, "honest");
    let now = now_ms();
    let recs = vec![
        d.start(&course, now - 1_100),
        d.seg(0, 1_000, &[[0, 1_000]], now),
    ];
    assert_eq!(push(&srv.url, &token, wire(&recs)).0, 200);
    assert_eq!(srv.summary("honest").credited_seconds, 1.0);
    assert!(flags_of(srv, "honest").is_empty());

    // A course nobody published: nothing.
    let (mut d, token, _) = enrol(srv, "nocourse");
    let now = now_ms();
    let recs = vec![
        d.start("never-published", now - 1_100),
        d.seg(0, 1_000, &[[0, 1_000]], now),
    ];
    assert_eq!(push(&srv.url, &token, wire(&recs)).0, 200);
    assert_eq!(srv.summary("nocourse").credited_seconds, 0.0);
    assert!(flags_of(srv, "nocourse").contains(&"unknown_course".to_owned()));

    // Ranges past the course's end, and one range of 2^64 - 1 ms: nothing, and the
    // summary still answers.
    let (mut d, token, _) = enrol(srv, "overflow");
    let now = now_ms();
    let recs = vec![
        d.start(&course, now - 2_100),
        d.seg(0, 1_000, &[[5_400_000, 5_401_000]], now - 1_000),
        d.seg(1_000, 1_000, &[[0, u64::MAX]], now),
    ];
    assert_eq!(push(&srv.url, &token, wire(&recs)).0, 200);
    let sum = srv.summary("overflow");
    assert_eq!(sum.credited_seconds, 0.0);
    let flags = flags_of(srv, "overflow");
    assert_eq!(flags, vec!["bad_ranges", "bad_ranges"], "{flags:?}");

    // The same second claimed by fifty segments: faster than their clocks and
    // overlapping in wall time; it counts once at most.
    let (mut d, token, _) = enrol(srv, "fifty");
    let now = now_ms();
    let mut recs = vec![d.start(&course, now - 1_100)];
    for _ in 0..50 {
        recs.push(d.seg(0, 1_000, &[[0, 1_000]], now));
    }
    assert_eq!(push(&srv.url, &token, wire(&recs)).0, 200);
    assert_eq!(srv.summary("fifty").credited_seconds, 1.0);
    let flags = flags_of(srv, "fifty");
    assert_eq!(flags.len(), 49, "{flags:?}");
    assert!(
        flags.iter().all(|f| f == "overlap_same_device"),
        "{flags:?}"
    );
}

fn time_is_the_platforms(srv: &Server, dir: &std::path::Path) {
    let course = publish(srv, dir);

    // Stamped two hours ahead of the platform's clock (skew is 10 minutes).
    let (mut d, token, _) = enrol(srv, "future");
    let now = now_ms();
    let ahead = now + 2 * 3_600_000;
    let recs = vec![
        d.start(&course, now - 1_100),
        d.seg(0, 1_000, &[[0, 1_000]], now),
        d.seg(1_000, 3_601_000, &[[1_000, 3_601_000]], ahead),
    ];
    assert_eq!(push(&srv.url, &token, wire(&recs)).0, 200);
    assert_eq!(srv.summary("future").credited_seconds, 1.0);
    assert_eq!(flags_of(srv, "future"), vec!["future_stamped"]);

    // Backdated: an hour of study stamped before the device's first contact, when
    // its journal was empty (the login said head 0).
    let (mut d, token, login_ms) = enrol(srv, "backdated");
    let then = login_ms - 3_600_000;
    let recs = vec![
        d.start(&course, then - 3_600_000),
        d.seg(0, 3_600_000, &[[0, 3_600_000]], then),
    ];
    assert_eq!(push(&srv.url, &token, wire(&recs)).0, 200);
    assert_eq!(srv.summary("backdated").credited_seconds, 0.0);
    assert_eq!(flags_of(srv, "backdated"), vec!["backdated"]);

    // Segments of no length in their own clock, each covering the 1 s clock slack,
    // all stamped now: each takes a second of wall time, so one is credited and the
    // other nine overlap it.
    let (mut d, token, _) = enrol(srv, "slack");
    let now = now_ms();
    let mut recs = vec![d.start(&course, now - 1_500)];
    for k in 0..10u64 {
        recs.push(d.seg(k, k, &[[k * 1_000, (k + 1) * 1_000]], now));
    }
    assert_eq!(push(&srv.url, &token, wire(&recs)).0, 200);
    assert_eq!(srv.summary("slack").credited_seconds, 1.0);
    assert_eq!(flags_of(srv, "slack"), vec!["overlap_same_device"; 9]);

    // Backdating into a revoked window: device A is revoked when the learner logs
    // in on B; A logs in again later and uploads study stamped while it was revoked.
    srv.learner("revoked", "pw");
    let mut a = Dev::new();
    let b = DeviceKey::generate().unwrap();
    login_at_head(srv, "revoked", &a.key, 0);
    std::thread::sleep(Duration::from_millis(300));
    let revoked_at = now_ms();
    login_at_head(srv, "revoked", &b, 0);
    std::thread::sleep(Duration::from_millis(2_500));
    let token = login_at_head(srv, "revoked", &a.key, 0);
    let recs = vec![
        a.start(&course, revoked_at + 200),
        a.seg(0, 2_000, &[[0, 2_000]], revoked_at + 2_200),
    ];
    assert_eq!(push(&srv.url, &token, wire(&recs)).0, 200);
    assert_eq!(srv.summary("revoked").credited_seconds, 0.0);
    // (Within the 10-minute skew of the re-login this is not `backdated`: the lease
    // windows, from the platform's own times, refuse it.)
    assert_eq!(flags_of(srv, "revoked"), vec!["outside_lease"]);
}

fn keys_and_devices(srv: &Server) {
    srv.learner("keys", "pw");
    let try_login = |pk: &str, simulated: bool| -> (u16, Value) {
        let r = client()
            .post(format!("{}/v1/login", srv.url))
            .json(&json!({"user": "keys", "password": "pw", "public_key": pk, "simulated": simulated}))
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    };
    // The all-zero key and the neutral element (y = 1): small order, so a
    // "signature" verifies without any secret.
    for pk in [
        "00".repeat(32),
        format!("01{}", "00".repeat(31)),
        // y = p - 1 (order 2)
        format!("ec{}7f", "ff".repeat(30)),
    ] {
        let (s, b) = try_login(&pk, false);
        assert_eq!(
            (s, b["code"].as_str()),
            (400, Some("weak_key")),
            "{pk}: {b}"
        );
    }
    // A simulated device on a platform that does not accept them.
    let sim = DeviceKey::generate().unwrap();
    let (s, b) = try_login(&sim.public_key_hex(), true);
    assert_eq!(
        (s, b["code"].as_str()),
        (403, Some("simulated_refused")),
        "{b}"
    );
    // Three devices, then staff must approve another.
    for _ in 0..3 {
        let k = DeviceKey::generate().unwrap();
        assert_eq!(try_login(&k.public_key_hex(), false).0, 200);
    }
    let k = DeviceKey::generate().unwrap();
    let (s, b) = try_login(&k.public_key_hex(), false);
    assert_eq!((s, b["code"].as_str()), (403, Some("device_limit")), "{b}");
    // Staff approve one more (the admin command, against the same database): that
    // device enrols, the next one is refused again.
    let approved = admin(&["approve-device", "--db", &srv.db_url, "--learner", "keys"]);
    assert_eq!(approved["extra_devices"], 1, "{approved}");
    assert_eq!(approved["devices_enrolled"], 3, "{approved}");
    assert_eq!(try_login(&k.public_key_hex(), false).0, 200);
    let k5 = DeviceKey::generate().unwrap();
    let (s, b) = try_login(&k5.public_key_hex(), false);
    assert_eq!((s, b["code"].as_str()), (403, Some("device_limit")), "{b}");
}

fn login_abuse(srv: &Server) {
    let attempt = |user: &str, pw: &str| -> (u16, Value, Option<String>, Duration) {
        let k = DeviceKey::generate().unwrap();
        let t = Instant::now();
        let r = client()
            .post(format!("{}/v1/login", srv.url))
            .json(&json!({"user": user, "password": pw, "public_key": k.public_key_hex()}))
            .send()
            .unwrap();
        let took = t.elapsed();
        let retry = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (
            r.status().as_u16(),
            r.json().unwrap_or(Value::Null),
            retry,
            took,
        )
    };
    // Enumeration by timing: an unknown user costs what a wrong password costs (the
    // same Argon2 work against a dummy hash).
    let mut unknown = Vec::new();
    let mut wrong = Vec::new();
    for i in 0..4 {
        srv.learner(&format!("real{i}"), "pw");
        let (s, b, _, t) = attempt(&format!("ghost{i}"), "guess");
        assert_eq!((s, b["code"].as_str()), (401, Some("invalid_credentials")));
        unknown.push(t);
        let (s, b, _, t) = attempt(&format!("real{i}"), "guess");
        assert_eq!((s, b["code"].as_str()), (401, Some("invalid_credentials")));
        wrong.push(t);
    }
    unknown.sort();
    wrong.sort();
    let ratio = unknown[2].as_secs_f64() / wrong[2].as_secs_f64();
    assert!(
        (0.33..3.0).contains(&ratio),
        "unknown user {unknown:?} vs wrong password {wrong:?}"
    );
    // Brute force: after the free failures the account is locked, with a
    // Retry-After, even for the right password.
    srv.learner("victim", "right");
    let mut locked = None;
    for i in 0..8 {
        let (s, b, retry, _) = attempt("victim", &format!("guess{i}"));
        if s == 429 {
            assert_eq!(b["code"], "too_many_attempts", "{b}");
            locked = Some(retry.expect("Retry-After"));
            break;
        }
        assert_eq!(s, 401);
    }
    let retry: u64 = locked.expect("never locked").parse().unwrap();
    assert!(retry >= 1, "{retry}");
    let (s, b, _, _) = attempt("victim", "right");
    assert_eq!((s, b["code"].as_str()), (429, Some("too_many_attempts")));
}

fn abuse_of_the_service(srv: &Server) {
    // Quarantine keeps a hash and a bounded prefix, not the body (a 1 MB refused
    // record leaves about a kilobyte).
    let (mut d, token, _) = enrol(srv, "hoarder");
    let now = now_ms();
    let mut w = wire(&[d.rec("state", json!({"x": 1}), now)]);
    w[0].payload = format!("{{\"pad\":\"{}\"}}", "y".repeat(1 << 20));
    let (s, b) = push(&srv.url, &token, w);
    assert_eq!(s, 422, "{b}");
    let sum = srv.summary("hoarder");
    assert_eq!(sum.quarantined.len(), 1);
    let kept = srv
        .rt
        .block_on(srv.store.quarantine_bytes(&sum.learner_id))
        .unwrap();
    assert!((1_000..4_096).contains(&kept), "{kept} bytes kept");
    // A flood of refused uploads is answered, and at most 1,000 are kept.
    let mut small = wire(&[d.rec("state", json!({"x": 2}), now)]);
    small[0].payload = "{\"x\":3}".into();
    for _ in 0..keshi_platform::store::QUARANTINE_PER_LEARNER + 5 {
        assert_eq!(push(&srv.url, &token, small.clone()).0, 422);
    }
    let device = d.key.device_id().to_hex();
    let kept = srv
        .rt
        .block_on(srv.store.quarantined(None))
        .unwrap()
        .into_iter()
        .filter(|(_, dev, _)| dev.as_deref() == Some(device.as_str()))
        .count();
    assert_eq!(kept, keshi_platform::store::QUARANTINE_PER_LEARNER as usize);

    // Learners do not see the anti-fraud flags; staff do.
    let course_dir = tempfile::tempdir().unwrap();
    let course = publish(srv, course_dir.path());
    srv.learner("flagged", "pw");
    let mut d = Dev::new();
    let l = login(&srv.url, "flagged", "pw", &d.key);
    let now = now_ms();
    let recs = vec![
        d.start(&course, now + 3_600_000),
        d.seg(0, 1_000, &[[0, 1_000]], now + 3_601_000),
    ];
    assert_eq!(push(&srv.url, &l.token, wire(&recs)).0, 200);
    assert!(!srv.summary("flagged").flags.is_empty());
    let mine: Value = client()
        .get(format!("{}/v1/learners/{}/summary", srv.url, l.learner_id))
        .bearer_auth(&l.token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(mine["flags"], json!([]), "{mine}");
}

/// Quizzes are graded by the platform (issue 11): the device's own verdict in a
/// `quiz_answered` record is ignored; the grades come back signed with the platform
/// key, for the lease's device only.
fn quizzes_are_graded_by_the_platform(srv: &Server, dir: &std::path::Path) {
    let course = publish(srv, dir);
    srv.learner("quizzer", "pw");
    let mut d = Dev::new();
    let answer = client()
        .post(format!("{}/v1/login", srv.url))
        .json(&json!({"user": "quizzer", "password": "pw", "public_key": d.key.public_key_hex()}))
        .send()
        .unwrap();
    assert_eq!(answer.status(), 200);
    let l: Value = answer.json().unwrap();
    let token = l["token"].as_str().unwrap().to_owned();
    let platform_key: [u8; 32] = hex::decode(l["platform_public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let ids = hour_one_question_ids();
    let right = keshi_protocol::demo::answers(1);
    let wrong: Vec<usize> = right.iter().map(|a| (a + 1) % 4).collect();
    let now = now_ms();
    let recs = vec![
        d.start(&course, now),
        // The device claims a pass for wrong answers.
        d.rec(
            "quiz_answered",
            json!({"class_hour": 1, "attempt": 1, "questions": ids, "answers": wrong,
                   "correct": 5, "total": 5, "passed": true}),
            now + 1,
        ),
        d.rec(
            "quiz_answered",
            json!({"class_hour": 1, "attempt": 2, "questions": ids, "answers": right}),
            now + 2,
        ),
    ];
    assert_eq!(push(&srv.url, &token, wire(&recs)).0, 200);
    let grades = |after: &str, token: &str| -> (u16, Value) {
        let r = client()
            .get(format!("{}/v1/quiz/grades{after}", srv.url))
            .bearer_auth(token)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap())
    };
    let (status, all) = grades("", &token);
    assert_eq!(status, 200, "{all}");
    let all: keshi_protocol::wire::GradesResponse = serde_json::from_value(all).unwrap();
    assert_eq!(all.grades.len(), 2, "{:?}", all.grades);
    let (first, second) = (&all.grades[0], &all.grades[1]);
    assert_eq!(
        (first.answered_seq, first.attempt, first.passed),
        (2, 1, false)
    );
    assert_eq!((first.correct, first.total), (0, 5));
    assert_eq!(
        (second.answered_seq, second.attempt, second.passed),
        (3, 2, true)
    );
    assert_eq!(second.correct, 5);
    for g in &all.grades {
        assert!(g.verify(&platform_key), "{g:?}");
        assert_eq!(g.device_id, d.key.device_id().to_hex());
        assert_eq!(g.course, course);
    }
    // A grade edited on its way (a hostile proxy) no longer verifies.
    let mut edited = first.clone();
    edited.passed = true;
    assert!(!edited.verify(&platform_key));
    // Paging; a bad cursor is refused.
    let (_, later) = grades("?after_seq=2", &token);
    assert_eq!(later["grades"].as_array().unwrap().len(), 1, "{later}");
    let (status, bad) = grades("?after_seq=two", &token);
    assert_eq!(
        (status, bad["code"].as_str()),
        (400, Some("malformed_body"))
    );
    // Another learner's lease sees none of them.
    srv.learner("neighbour", "pw");
    let other = login(&srv.url, "neighbour", "pw", &DeviceKey::generate().unwrap());
    let (_, theirs) = grades("", &other.token);
    assert_eq!(theirs["grades"], json!([]));
}

/// Limited attempts and the learner's draw (issue 11, R-AS-1): the platform hands
/// out a draw seed it signed; an attempt answering other questions than the draw,
/// or made before the pause after a round of three failures ended, fails whatever
/// it answered (with a flag); the draw is the learner's own.
fn quiz_attempts_are_limited_and_drawn(srv: &Server, dir: &std::path::Path) {
    // A bank of twelve questions per class hour (a quiz asks five).
    let mut v = keshi_protocol::demo::course(2);
    v["id"] = "big-bank".into();
    for bank in v["quizzes"].as_array_mut().unwrap() {
        let h = bank["class_hour"].as_u64().unwrap();
        let qs: Vec<Value> = (1..=12)
            .map(|i| {
                json!({"id": format!("h{h}-q{i}"), "text": format!("问题 {i}"),
                "options": ["A", "B", "C", "D"], "answer": i % 4})
            })
            .collect();
        bank["questions"] = Value::Array(qs);
    }
    let path = dir.join("big-bank.json");
    std::fs::write(&path, v.to_string()).unwrap();
    let course = srv.publish(&path, "shanxi").0;
    let bank: Vec<String> = (1..=12).map(|i| format!("h1-q{i}")).collect();
    let key_of =
        |id: &str| -> usize { id.rsplit('q').next().unwrap().parse::<usize>().unwrap() % 4 };

    let seed_of = |user: &str, d: &Dev| -> (String, Vec<u8>, String) {
        srv.learner(user, "pw");
        let l: Value = client()
            .post(format!("{}/v1/login", srv.url))
            .json(&json!({"user": user, "password": "pw", "public_key": d.key.public_key_hex()}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let learner = l["learner_id"].as_str().unwrap().to_owned();
        let seed = hex::decode(l["draw_seed"].as_str().unwrap()).unwrap();
        // The seed is the platform's signature: nobody else can make one.
        let pk: [u8; 32] = hex::decode(l["platform_public_key"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let msg = keshi_protocol::draw::seed_message(&learner);
        let sig: [u8; 64] = seed.clone().try_into().unwrap();
        assert!(
            keshi_protocol::sig::verify_signature(&pk, msg.as_bytes(), &sig),
            "the seed is not the platform's signature"
        );
        (l["token"].as_str().unwrap().to_owned(), seed, learner)
    };
    let mut d = Dev::new();
    let (token, seed, _) = seed_of("drawn", &d);
    let (_, other_seed, _) = seed_of("drawn-too", &Dev::new());
    assert_ne!(seed, other_seed);
    let drawn = |attempt: u32| keshi_protocol::draw::draw(&seed, &course, 1, attempt, &bank, 5);
    let right = |ids: &[String]| -> Vec<usize> { ids.iter().map(|q| key_of(q)).collect() };
    let wrong =
        |ids: &[String]| -> Vec<usize> { ids.iter().map(|q| (key_of(q) + 1) % 4).collect() };
    // Attempt 1: right answers to questions of the learner's own choosing.
    let chosen: Vec<String> = bank[..5].to_vec();
    let chosen = if chosen == drawn(1) {
        bank[7..].to_vec()
    } else {
        chosen
    };
    let now = now_ms();
    let mut recs = vec![
        d.start(&course, now),
        d.rec(
            "quiz_answered",
            json!({"class_hour": 1, "attempt": 1, "questions": chosen, "answers": right(&chosen)}),
            now + 1,
        ),
    ];
    // Attempts 2 and 3: the draw, wrong answers (three failures: a pause of 10 min).
    for attempt in 2..=3 {
        let ids = drawn(attempt);
        recs.push(d.rec(
            "quiz_answered",
            json!({"class_hour": 1, "attempt": attempt, "questions": ids, "answers": wrong(&ids)}),
            now + i64::from(attempt),
        ));
    }
    // Attempt 4 at once, the draw, right answers: still inside the pause.
    let ids = drawn(4);
    recs.push(d.rec(
        "quiz_answered",
        json!({"class_hour": 1, "attempt": 4, "questions": ids, "answers": right(&ids)}),
        now + 4,
    ));
    assert_eq!(push(&srv.url, &token, wire(&recs)).0, 200);
    let got = grades_of(srv, &token);
    let verdicts: Vec<(u32, u32, bool)> = got
        .iter()
        .map(|g| (g.attempt, g.correct, g.passed))
        .collect();
    assert_eq!(
        verdicts,
        vec![(1, 0, false), (2, 0, false), (3, 0, false), (4, 0, false)],
        "{got:?}"
    );
    let flags = flags_of(srv, "drawn");
    assert!(flags.contains(&"quiz_not_drawn".to_owned()), "{flags:?}");
    assert!(flags.contains(&"quiz_cooldown".to_owned()), "{flags:?}");
}

/// Countersigned snapshots (issue 11): the platform signs a device's progress
/// snapshot only when its own fold of the device's records finds the same progress
/// at the seq it holds; an inflated one (the "ten class hours" forgery) or one at
/// another seq is left out.
fn snapshots_are_countersigned_only_when_true(srv: &Server, dir: &std::path::Path) {
    use keshi_protocol::fold::{ClaimedRules, DeviceEvidence, StreamFold};
    let course = publish(srv, dir);
    let (mut d, token, t) = enrol(srv, "snapshotter");
    let recs = vec![
        d.start(&course, t),
        d.seg(0, 2_000, &[[0, 2_000]], t + 2_000),
    ];
    assert_eq!(push(&srv.url, &token, wire(&recs)).0, 200);
    // The device's own fold of its records (what it would propose).
    let device_fold = |recs: &[&Record]| {
        let mut fold = StreamFold::new(true);
        for r in recs {
            fold.push(
                r.seq(),
                &r.header.kind,
                Some(&r.payload),
                &ClaimedRules,
                &DeviceEvidence::default(),
            );
        }
        fold.course(&course).unwrap().progress.clone()
    };
    let honest = device_fold(&recs.iter().collect::<Vec<_>>());
    let mut inflated = honest.clone();
    inflated.coverage.insert(0, 5_400_000);
    inflated.frontier_ms = 5_400_000;
    let snap = |progress: &keshi_protocol::fold::Progress, up_to_seq: u64| json!({"course": course, "up_to_seq": up_to_seq, "progress": progress});
    let ask = |snaps: Vec<Value>| -> Vec<keshi_protocol::fact::ProgressSnapshot> {
        let r = client()
            .post(format!("{}/v1/progress/snapshots", srv.url))
            .bearer_auth(&token)
            .json(&json!({"snapshots": snaps}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: keshi_protocol::wire::SnapshotsResponse = r.json().unwrap();
        v.snapshots
    };
    assert!(
        ask(vec![snap(&inflated, 2)]).is_empty(),
        "an inflated snapshot was signed"
    );
    assert!(
        ask(vec![snap(&honest, 1)]).is_empty(),
        "a snapshot at another seq was signed"
    );
    let signed = ask(vec![snap(&honest, 2), snap(&inflated, 2)]);
    assert_eq!(signed.len(), 1, "{signed:?}");
    // A device's own verdict on its quiz (the old `passed` field) and a capture
    // whose photo never arrived: the device's fold believes them, the platform does
    // not countersign what rests on them.
    let ids = hour_one_question_ids();
    let more = vec![
        d.rec(
            "quiz_answered",
            json!({"class_hour": 1, "attempt": 1, "questions": ids, "answers": [0, 0, 0, 0, 0],
                   "correct": 5, "total": 5, "passed": true}),
            t + 2_100,
        ),
        d.rec(
            "capture_result",
            json!({"id": "s1-c1", "class_hour": 1, "ok": true, "image_sha256": "b".repeat(64),
                   "reasons": [], "pos_ms": 2_000}),
            t + 2_200,
        ),
    ];
    assert_eq!(push(&srv.url, &token, wire(&more)).0, 200);
    // `admin records` per class hour: the capture passed on the device, its photo
    // never arrived.
    let hours = &srv.summary("snapshotter").course_progress[&course].class_hours;
    assert_eq!(
        hours.get(&1).cloned().unwrap_or_default(),
        keshi_platform::HourCaptures {
            captures_received: 0,
            captures_missing: 1
        }
    );
    let claimed = device_fold(&recs.iter().chain(&more).collect::<Vec<_>>());
    let h1 = claimed.hours.get(&1).cloned().unwrap_or_default();
    assert!(h1.quiz_passed && h1.captures_passed == 1, "{claimed:?}");
    assert!(
        ask(vec![snap(&claimed, 4)]).is_empty(),
        "device-held evidence was countersigned"
    );
    let pk: [u8; 32] = hex::decode(
        client()
            .post(format!("{}/v1/login", srv.url))
            .json(&json!({"user": "snapshotter", "password": "pw", "public_key": d.key.public_key_hex(), "head_seq": 2}))
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap()["platform_public_key"]
            .as_str()
            .unwrap(),
    )
    .unwrap()
    .try_into()
    .unwrap();
    assert!(signed[0].verify(&pk));
    assert_eq!(signed[0].progress, honest);
    assert_eq!(
        signed[0].device_id.as_deref(),
        Some(d.key.device_id().to_hex().as_str())
    );
}

/// Contacts vouch only for what the device commits to (issue 11): a head claimed
/// at login without the hash of that record counts as what the platform holds, and
/// a committed head whose record later arrives with another hash (the journal was
/// rewritten after the contact) is broken. Either way, records written after the
/// contact and stamped into the earlier lease window are backdated (a skew of 1 s
/// here, so the window can be seconds old).
#[test]
fn contacts_vouch_only_for_what_the_device_commits_to() {
    let dir = tempfile::tempdir().unwrap();
    for (name, url) in backends(dir.path(), "commit") {
        eprintln!("backend: {name}");
        let srv = Server::start(
            &url,
            Config {
                skew_ms: 1_000,
                ..Config::default()
            },
            &dir.path().join(format!("b-{name}")),
        );
        let course = publish(&srv, dir.path());
        // A head claimed at login without the hash of that record vouches for nothing
        // beyond what the platform holds: study written afterwards cannot pass as held
        // then, and backdated into the earlier lease window it is refused.
        let (mut d, _, first_login) = enrol(&srv, "claims");
        std::thread::sleep(Duration::from_millis(2_000));
        let token = login_at_head(&srv, "claims", &d.key, 1_000_000);
        let recs = vec![
            d.start(&course, first_login + 100),
            d.seg(0, 2_000, &[[0, 2_000]], first_login + 2_100),
        ];
        assert_eq!(push(&srv.url, &token, wire(&recs)).0, 200);
        assert_eq!(srv.summary("claims").credited_seconds, 0.0);
        assert_eq!(flags_of(&srv, "claims"), vec!["backdated"]);

        // A head committed with its hash, then the journal rewritten (longer study,
        // backdated into the same window): the commitment is broken, and the rewritten
        // records count from the contact's time, so they earn nothing.
        let (mut d, _, first_login) = enrol(&srv, "rewrites");
        std::thread::sleep(Duration::from_millis(2_000));
        let a = [
            d.start(&course, first_login + 100),
            d.seg(0, 1_000, &[[0, 1_000]], first_login + 1_100),
        ];
        let committed = a[1].hash.to_hex();
        let r = client()
            .post(format!("{}/v1/login", srv.url))
            .json(
                &json!({"user": "rewrites", "password": "pw", "public_key": d.key.public_key_hex(),
                          "head_seq": 2, "head_hash": committed}),
            )
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let token = r.json::<Value>().unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        d.prev = None;
        d.mono = 0;
        let b = vec![
            d.start(&course, first_login + 100),
            d.seg(0, 2_000, &[[0, 2_000]], first_login + 2_100),
        ];
        assert_ne!(b[1].hash, a[1].hash);
        assert_eq!(push(&srv.url, &token, wire(&b)).0, 200);
        assert_eq!(srv.summary("rewrites").credited_seconds, 0.0);
        let mut flags = flags_of(&srv, "rewrites");
        flags.sort();
        assert_eq!(flags, vec!["backdated", "commitment_broken"]);
        srv.kill();
    }
}

#[test]
fn attacks_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    for (name, url) in backends(dir.path(), "attacks") {
        eprintln!("backend: {name}");
        let srv = Server::start(
            &url,
            Config::default(),
            &dir.path().join(format!("b-{name}")),
        );
        claims_beyond_the_catalogue(&srv, dir.path());
        time_is_the_platforms(&srv, dir.path());
        keys_and_devices(&srv);
        quizzes_are_graded_by_the_platform(&srv, dir.path());
        quiz_attempts_are_limited_and_drawn(&srv, dir.path());
        snapshots_are_countersigned_only_when_true(&srv, dir.path());
        login_abuse(&srv);
        abuse_of_the_service(&srv);
        srv.kill();
    }
}

/// A daily quota of records per learner: the batch that would pass it waits (429,
/// retryable, `Retry-After` until the next day); nothing of it is stored.
#[test]
fn a_learner_uploads_at_most_a_daily_quota() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("quota.db").display());
    let srv = Server::start(
        &db,
        Config {
            max_records_per_day: 10,
            max_photos_per_day: 2,
            ..Config::default()
        },
        &dir.path().join("b"),
    );
    srv.learner("busy", "pw");
    let key = DeviceKey::generate().unwrap();
    let l = login(&srv.url, "busy", "pw", &key);
    let recs = common::chain(&key, 14, now_ms());
    assert_eq!(push(&srv.url, &l.token, wire(&recs[..8])).0, 200);
    let r = client()
        .post(format!("{}/v1/records", srv.url))
        .bearer_auth(&l.token)
        .json(&keshi_protocol::wire::PushRequest {
            records: wire(&recs[8..]),
            ..Default::default()
        })
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry), "{retry}");
    let b: Value = r.json().unwrap();
    assert_eq!(
        (b["code"].as_str(), b["retryable"].as_bool()),
        (Some("quota_exceeded"), Some(true))
    );
    assert_eq!(srv.summary("busy").records, 8);
    // What still fits passes.
    assert_eq!(push(&srv.url, &l.token, wire(&recs[8..10])).0, 200);
    assert_eq!(srv.summary("busy").records, 10);
    // Capture photos too: two new ones a day here; the same photo again is free.
    let put = |n: u8| {
        let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &[n; 16]].concat();
        let sha = Hash::of(&png).to_hex();
        client()
            .put(format!("{}/v1/captures/{sha}", srv.url))
            .bearer_auth(&l.token)
            .header("content-type", "image/png")
            .body(png)
            .send()
            .unwrap()
    };
    assert_eq!(put(1).status().as_u16(), 201);
    assert_eq!(put(2).status().as_u16(), 201);
    let r = put(3);
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.json::<Value>().unwrap()["code"], "quota_exceeded");
    assert!(put(1).status().is_success());
    srv.kill();
}

/// A heartbeat cannot revive an offline lease that ended: log in again.
#[test]
fn an_ended_offline_lease_is_not_revived() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("lease.db").display());
    let srv = Server::start(
        &db,
        Config {
            offline_ms: 1_500,
            lease_ttl_ms: 1_000,
            ..Config::default()
        },
        &dir.path().join("b"),
    );
    srv.learner("late", "pw");
    let k = DeviceKey::generate().unwrap();
    let l = login(&srv.url, "late", "pw", &k);
    std::thread::sleep(Duration::from_millis(2_000));
    let r = client()
        .post(format!("{}/v1/heartbeat", srv.url))
        .bearer_auth(&l.token)
        .json(&json!({}))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let b: Value = r.json().unwrap();
    assert_eq!(
        (status, b["code"].as_str()),
        (403, Some("lease_expired")),
        "{b}"
    );
    srv.kill();
}

/// Slow and idle connections are closed; a flood of them beyond the cap is refused at
/// once, and the service answers again as soon as they are gone.
#[test]
fn slow_and_idle_connections_do_not_take_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(async {
        let db = format!("sqlite:{}", dir.path().join("conn.db").display());
        let store = keshi_platform::Store::connect(&db).await.unwrap();
        let state = keshi_platform::AppState::new(
            store,
            Config::default(),
            keshi_platform::api::system_clock(),
            Arc::new(keshi_platform::blob::DiskBlobStore::new(dir.path().join("b")).unwrap()),
        )
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(keshi_platform::serve::serve(
            listener,
            keshi_platform::router(state),
            keshi_platform::serve::Limits {
                max_connections: 20,
                max_connections_per_ip: 12,
                header_timeout: Duration::from_secs(1),
                body_timeout: Duration::from_secs(1),
                request_timeout: Duration::from_secs(5),
            },
            std::future::pending(),
        ));
        addr
    });
    let closed_within = |s: &mut TcpStream, limit: Duration| -> bool {
        s.set_read_timeout(Some(limit)).unwrap();
        let mut buf = [0u8; 512];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue, // an error answer (408), then the close
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    };
    // Headers that never end.
    let mut slow = TcpStream::connect(url).unwrap();
    slow.write_all(b"POST /v1/login HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    assert!(
        closed_within(&mut slow, Duration::from_secs(4)),
        "slow headers kept open"
    );
    // A body that never arrives.
    let mut body = TcpStream::connect(url).unwrap();
    body.write_all(b"POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        .unwrap();
    assert!(
        closed_within(&mut body, Duration::from_secs(8)),
        "slow body kept open"
    );
    // Thirty idle sockets from one address against a cap of twelve per address: the
    // extra ones are closed at once.
    let mut idle: Vec<TcpStream> = (0..30).map(|_| TcpStream::connect(url).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut refused = 0;
    for s in &mut idle {
        if closed_within(s, Duration::from_millis(200)) {
            refused += 1;
        }
    }
    assert!(refused >= 18, "{refused} of 30 closed at once");
    // Another address is served while they are open (one address cannot take every
    // slot); on Linux all of 127/8 is the loopback.
    let other = rt.block_on(async {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        s.connect(url).await.unwrap().into_std().unwrap()
    });
    other.set_nonblocking(false).unwrap();
    let mut other = other;
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    other
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = String::new();
    other.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the other address got {answer:?}"
    );
    // After the header deadline every idle socket is gone and the service answers.
    std::thread::sleep(Duration::from_millis(1_500));
    let health = client()
        .get(format!("http://{url}/healthz"))
        .send()
        .unwrap();
    assert_eq!(health.status(), 200);
    drop(idle);
}

/// Derived state rebuilt from the records alone (issue 11): a database from a build
/// before the derived tables is derived again when the service starts, and a course
/// published after its records arrived is credited by `admin rederive`; nothing the
/// platform held is lost. SQLite and PostgreSQL.
#[test]
fn derived_state_is_rebuilt_from_the_records() {
    let dir = tempfile::tempdir().unwrap();
    for (name, url) in backends(dir.path(), "rederive") {
        eprintln!("backend: {name}");
        let srv = Server::start(
            &url,
            Config::default(),
            &dir.path().join(format!("b-{name}")),
        );
        let course = publish(&srv, dir.path());
        // Honest study (2 s), a graded quiz, and a future-stamped segment (a flag).
        let (mut d, token, _) = enrol(&srv, "kept");
        let now = now_ms();
        let ids = hour_one_question_ids();
        let recs = vec![
            d.start(&course, now - 2_100),
            d.seg(0, 2_000, &[[0, 2_000]], now),
            d.rec(
                "quiz_answered",
                json!({"class_hour": 1, "attempt": 1, "questions": ids,
                       "answers": keshi_protocol::demo::answers(1)}),
                now + 1,
            ),
            d.seg(2_000, 3_000, &[[2_000, 3_000]], now + 2 * 3_600_000),
        ];
        assert_eq!(push(&srv.url, &token, wire(&recs)).0, 200);
        let before = srv.summary("kept");
        assert_eq!(before.credited_seconds, 2.0);
        assert_eq!(flags_of(&srv, "kept"), vec!["future_stamped"]);
        let grades_before = grades_of(&srv, &token);
        assert_eq!(grades_before.len(), 1);

        // Records of a course the catalogue does not hold yet earn nothing...
        let (mut late, late_token, _) = enrol(&srv, "late");
        let now = now_ms();
        let recs = vec![
            late.start("late-course", now - 1_100),
            late.seg(0, 1_000, &[[0, 1_000]], now),
        ];
        assert_eq!(push(&srv.url, &late_token, wire(&recs)).0, 200);
        assert_eq!(srv.summary("late").credited_seconds, 0.0);
        assert_eq!(flags_of(&srv, "late"), vec!["unknown_course"]);
        let mut v = keshi_protocol::demo::course(2);
        v["id"] = "late-course".into();
        let path = dir.path().join("late-course.json");
        std::fs::write(&path, v.to_string()).unwrap();
        srv.publish(&path, "shanxi");
        // ...until staff derive them again with the catalogue as it is now.
        let r = admin(&["rederive", "--db", &srv.db_url, "--learner", "late"]);
        assert_eq!(
            (r["records"].as_u64(), r["credited_seconds"].as_f64()),
            (Some(2), Some(1.0)),
            "{r}"
        );
        assert_eq!(srv.summary("late").credited_seconds, 1.0);
        assert!(flags_of(&srv, "late").is_empty());

        // An older build's database: records, no derived state.
        let learner_id = srv.summary("kept").learner_id;
        srv.rt.block_on(async {
            let pool = sqlx::AnyPool::connect(&srv.db_url).await.unwrap();
            for table in [
                "learner_progress",
                "credit_intervals",
                "flags",
                "quiz_grades",
                "photo_claims",
                "pending_photos",
            ] {
                sqlx::query(&format!("DELETE FROM {table} WHERE learner_id = $1"))
                    .bind(&learner_id)
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            sqlx::query("DELETE FROM device_folds")
                .execute(&pool)
                .await
                .unwrap();
        });
        assert_eq!(srv.summary("kept").credited_seconds, 0.0);
        // The service derives it again before it serves.
        let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_keshi-platform"))
            .args(["serve", "--db", &srv.db_url, "--listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(serve.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        serve.kill().unwrap();
        serve.wait().unwrap();
        assert!(line.contains("\"url\""), "{line}");
        let after = srv.summary("kept");
        assert_eq!(after.credited_seconds, before.credited_seconds);
        assert_eq!(after.class_hours_completed, before.class_hours_completed);
        // The tallies (migration 7) are derived again too, not added twice.
        assert_eq!(
            (after.segments, after.flags_total),
            (before.segments, before.flags_total)
        );
        assert_eq!(after.flags_total, 1);
        assert_eq!(flags_of(&srv, "kept"), vec!["future_stamped"]);
        assert_eq!(grades_of(&srv, &token), grades_before);
        srv.kill();
    }
}

/// The platform's grades of the lease device's answers.
fn grades_of(srv: &Server, token: &str) -> Vec<keshi_protocol::fact::QuizGraded> {
    let r: keshi_protocol::wire::GradesResponse = client()
        .get(format!("{}/v1/quiz/grades", srv.url))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    r.grades
        .into_iter()
        .map(|mut g| {
            // What was graded, not when: a grade derived again has a new time (and so
            // a new signature).
            g.signature.clear();
            g.graded_ms = 0;
            g
        })
        .collect()
}
