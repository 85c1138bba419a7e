//! A whole class, studied on the learners' real rules engine and judged by the real
//! platform (issue 13's scenario test; R-AS-2, R-AS-5, R-AS-6, R-SV-3, R-QA-3).
//!
//! Twelve learners of one class take the five-class-hour demo course (45-minute
//! hours, `shanxi`: one capture per hour, five questions at 60%, study window
//! 06–23, 3 yuan per junior class hour). Each studies on its own device: a real
//! journal, the shared rules engine (`Session`), real capture photos (a real face,
//! each capture its own frame), real sign-ins from the learner's own network
//! address, and the sync engine uploading to the platform over HTTP. The platform
//! runs on a clock the test sets (2026-11-02 onwards, China time), so every rule
//! about days and hours is exact. Then the service's nightly checks run, a labour
//! authority reviews the findings, the institution issues certificates, and the
//! quarter is settled. Every figure is stated below and asserted exactly:
//!
//! | learner | how they studied | credited s | hours | attendance | findings | qualified |
//! |---|---|---|---|---|---|---|
//! | wang | honest, three sittings at different times | 13500 | 5 | 1.0 | none | yes |
//! | li | asks for 2x and reports 2x positions every minute; stops after 112.5 min | 6690 | 2 | 0.4 | none | no |
//! | zhang | PC from 19:00; the phone signs in at 19:29 and studies 19:30–20:20; the PC uploads at 20:41 | 2970 | 1 | 0.2 | overlapping_devices | no |
//! | zhao1–5 | five accounts on one PC (one address) at 10:00, one class hour each | 2700 | 1 | 0.2 | shared_address | no |
//! | sun | the whole course at night (00:30) | 13500 | 5 | 1.0 | study_window (dismissed) | yes |
//! | zhou | a bot: 45:00 at 20:00:00 on five days | 13500 → 0 | 5 | 1.0 | regular_sessions (confirmed) | no |
//! | wu | answers class hour 3's quiz wrongly, never again | 13500 | 4 | 0.8 | none | no |
//! | zheng | class hour 2's photo never reaches the platform | 13500 | 4 | 0.8 | capture_missing | no |
//!
//! li's 6690 s: 112.5 minutes of play, less the two quizzes' 30 s each (playback is
//! held while a quiz is open); the refused 2x requests and positions cost nothing
//! and earn nothing. zhang's 2970 s: the phone's 50 minutes less its quiz; the PC's
//! study before the phone signed in lies within the phone's coverage, and its study
//! after it overlaps the phone's (R-ID-3). Certificates go to wang, sun and zhou
//! (before zhou's finding is confirmed); the quarter settles wang's and sun's:
//! 2 × 5 class hours × 300 fen = 3000 fen, zhou's certificate withheld.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)] // test code

#[path = "../../platform/tests/common/mod.rs"]
mod pcommon;
mod study;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

use keshi_platform::Config;
use pcommon::{backends, Server};
use player_core::manifest::Course;
use player_core::policy::Policy;
use serde_json::{json, Value};
use study::{Behaviour, Clock, Device, Material, MINUTE, QUIZ_SECONDS};

const PASSWORD: &str = "pw-class-1";
const HOURS: u32 = 5;
/// 2026-11-01 00:00 China time, Unix ms.
const NOV_1: i64 = 1_793_462_400_000;

/// Unix ms of 2026-11-`day` `h`:`m` China time.
fn at(day: i64, h: i64, m: i64) -> i64 {
    NOV_1 + (day - 1) * 86_400_000 + h * 3_600_000 + m * 60_000
}

/// A valid resident ID number (GB 11643 check character) for learner `n`.
fn id_number(n: u32) -> String {
    let body = format!("14010519900101{n:03}");
    let check = keshi_platform::import::id_check_character(&body).unwrap();
    format!("{body}{check}")
}

const CLASS: &str = "2026电工1班";
const SCHOOL: &str = "太原电工培训学校";
const LEARNERS: &[(&str, &str)] = &[
    ("wang", "王芳"),
    ("li", "李强"),
    ("zhang", "张伟"),
    ("zhao1", "赵一"),
    ("zhao2", "赵二"),
    ("zhao3", "赵三"),
    ("zhao4", "赵四"),
    ("zhao5", "赵五"),
    ("sun", "孙丽"),
    ("zhou", "周明"),
    ("wu", "吴刚"),
    ("zheng", "郑洁"),
];

/// The platform with the class enrolled in the course, as the operator's console
/// does it: the institution and the operator, the course published, then through
/// the staff API the class imported (CSV) and enrolled. Returns the course id.
fn set_up(srv: &Server, manifest: &str, now: i64, learners: &[(&str, &str)]) -> String {
    let course: Value = serde_json::from_str(manifest).unwrap();
    let id = course["id"].as_str().unwrap().to_owned();
    srv.rt.block_on(async {
        let store = &srv.store;
        let inst = store.create_institution(SCHOOL, now).await.unwrap();
        store
            .publish_course(&id, &inst, "shanxi", manifest, now)
            .await
            .unwrap();
        let hash = keshi_platform::auth::hash_password(PASSWORD).unwrap();
        store
            .create_staff(
                "test",
                "op",
                keshi_protocol::staff::StaffRole::Operator,
                "*",
                &hash,
                now,
            )
            .await
            .unwrap();
    });
    let token = staff_token(srv);
    let mut csv = String::from("user,real_name,id_number,phone,class,password\n");
    for (n, (user, name)) in learners.iter().enumerate() {
        csv.push_str(&format!(
            "{user},{name},{},138000000{:02},{CLASS},{PASSWORD}\n",
            id_number(n as u32 + 1),
            n + 1
        ));
    }
    let r = staff_post(
        srv,
        &token,
        &format!("/v1/staff/learners/import?format=csv&institution={SCHOOL}"),
        reqwest::blocking::Body::from(csv),
    );
    assert_eq!(r.status(), 200, "{:?}", r.text());
    let r = staff_post(
        srv,
        &token,
        "/v1/staff/enrolments",
        reqwest::blocking::Body::from(json!({"course": id, "class": CLASS}).to_string()),
    );
    assert_eq!(r.status(), 200, "{:?}", r.text());
    id
}

/// A platform on `db` on a clock the test sets (from 2026-11-01 09:00).
fn clocked_platform(dir: &std::path::Path, backend: &str, db: &str) -> (Server, Clock) {
    let clock = Clock(Arc::new(AtomicI64::new(at(1, 9, 0))));
    let c = clock.clone();
    let srv = Server::start_clocked(
        db,
        Config::default(),
        &dir.join(format!("blobs-{backend}")),
        Arc::new(move || c.now()),
    );
    (srv, clock)
}

/// The service's nightly course-farming checks, now; the findings added.
fn nightly(srv: &Server, clock: &Clock) -> u64 {
    srv.rt.block_on(async {
        let catalogue = keshi_platform::load_catalogue(&srv.store).await.unwrap();
        keshi_platform::farming::run(&srv.store, &catalogue, false, clock.now())
            .await
            .unwrap()
    })
}

/// The course's attendance as the console reads it, by login name.
fn attendance(srv: &Server, token: &str, course: &str) -> BTreeMap<String, Value> {
    let rows: Value = staff_get(srv, token, &format!("/v1/staff/attendance?course={course}"))
        .json()
        .unwrap();
    rows["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["user"].as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

fn staff_token(srv: &Server) -> String {
    let r = pcommon::client()
        .post(format!("{}/v1/staff/login", srv.url))
        .json(&json!({"user": "op", "password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn staff_get(srv: &Server, token: &str, path: &str) -> reqwest::blocking::Response {
    pcommon::client()
        .get(format!("{}{path}", srv.url))
        .bearer_auth(token)
        .send()
        .unwrap()
}

fn staff_post(
    srv: &Server,
    token: &str,
    path: &str,
    body: reqwest::blocking::Body,
) -> reqwest::blocking::Response {
    pcommon::client()
        .post(format!("{}{path}", srv.url))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap()
}

#[test]
fn a_class_gives_exact_hours_findings_certificates_and_settlement() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = keshi_protocol::demo::course(HOURS).to_string();
    let manifest_path = dir.path().join("course.json");
    std::fs::write(&manifest_path, &manifest).unwrap();
    // The device holds the course without its answer keys, as the platform serves it.
    let course = Course::load(&manifest_path).unwrap().without_answers();
    let policy = Policy::by_id("shanxi").unwrap();
    let face = study::face();
    for (backend, db) in backends(dir.path(), "class") {
        eprintln!("backend: {backend}");
        let (srv, clock) = clocked_platform(dir.path(), &backend, &db);
        let course_id = set_up(&srv, &manifest, clock.now(), LEARNERS);
        let dir = dir.path().join(&backend);
        std::fs::create_dir_all(&dir).unwrap();
        let dev = |user: &str, name: &str, addr: [u8; 4], seed: u64| {
            Device::new(&dir, user, PASSWORD, name, addr, seed)
        };
        let hour = Duration::from_millis(45 * MINUTE + QUIZ_SECONDS * 1000);
        let all = Duration::from_secs(6 * 3600);
        let honest = Behaviour::default();
        // Sign in at `t`, sit from a minute later; upload a minute after the end.
        let material = Material {
            course: &course,
            policy: &policy,
            face: &face,
        };
        let study = |d: &Device, day: i64, h: i64, m: i64, play: Duration, how: Behaviour| {
            d.study(&srv, &clock, &material, at(day, h, m), play, how);
        };

        // 11-02. wang: class hours 1–2 from 09:12.
        let wang = dev("wang", "wang", [127, 0, 0, 11], 11);
        study(&wang, 2, 9, 12, hour * 2, honest);
        // Five accounts on one PC (one address) at 10:00. The first key is
        // zhao1's: another account cannot sign in with it.
        let zhao: Vec<Device> = (1..=5)
            .map(|i| {
                dev(
                    &format!("zhao{i}"),
                    &format!("zhao{i}"),
                    [127, 0, 0, 5],
                    20 + i,
                )
            })
            .collect();
        clock.set(at(2, 9, 59));
        for d in &zhao {
            d.sign_in(&srv, &clock);
        }
        let taken = pcommon::client()
            .post(format!("{}/v1/login", srv.url))
            .json(&json!({"user": "zhao2", "password": PASSWORD,
                "public_key": zhao[0].key.public_key_hex(), "head_seq": 0}))
            .send()
            .unwrap();
        assert_eq!(taken.status(), 409);
        assert_eq!(taken.json::<Value>().unwrap()["code"], "device_taken");
        let ends: Vec<i64> = zhao
            .iter()
            .map(|d| d.sit(&course, &policy, &face, at(2, 10, 0), hour, honest))
            .collect();
        clock.set(ends.iter().max().unwrap() + MINUTE as i64);
        for d in &zhao {
            d.upload(&srv, &clock);
        }
        // li: 2x for 112.5 minutes.
        let li = dev("li", "li", [127, 0, 0, 12], 12);
        study(
            &li,
            2,
            14,
            0,
            Duration::from_millis(6_750_000),
            Behaviour {
                speed_attack: true,
                ..honest
            },
        );
        // zhang: the PC from 19:00 (offline), the phone signs in at 19:29.
        let pc = dev("zhang", "zhang-pc", [127, 0, 0, 13], 13);
        let phone = dev("zhang", "zhang-phone", [127, 0, 0, 14], 14);
        let zhou = dev("zhou", "zhou", [127, 0, 0, 16], 16);
        clock.set(at(2, 18, 59));
        pc.sign_in(&srv, &clock);
        pc.sit(
            &course,
            &policy,
            &face,
            at(2, 19, 0),
            Duration::from_secs(40 * 60),
            honest,
        );
        clock.set(at(2, 19, 29));
        phone.sign_in(&srv, &clock);
        let phone_end = phone.sit(
            &course,
            &policy,
            &face,
            at(2, 19, 30),
            Duration::from_secs(50 * 60),
            honest,
        );
        clock.set(at(2, 19, 59));
        zhou.sign_in(&srv, &clock);
        let zhou_end = zhou.sit(&course, &policy, &face, at(2, 20, 0), hour, honest);
        clock.set(phone_end + MINUTE as i64);
        phone.upload(&srv, &clock);
        clock.set(at(2, 20, 40));
        pc.sign_in(&srv, &clock);
        clock.set(at(2, 20, 41));
        pc.upload(&srv, &clock);
        clock.set(zhou_end + MINUTE as i64);
        zhou.upload(&srv, &clock);

        // 11-03.
        let sun = dev("sun", "sun", [127, 0, 0, 15], 15);
        study(&sun, 3, 0, 30, all, honest);
        let wu = dev("wu", "wu", [127, 0, 0, 17], 17);
        study(
            &wu,
            3,
            8,
            0,
            all,
            Behaviour {
                wrong_quiz: Some(3),
                ..honest
            },
        );
        let zheng = dev("zheng", "zheng", [127, 0, 0, 18], 18);
        clock.set(at(3, 12, 59));
        zheng.sign_in(&srv, &clock);
        let zheng_end = zheng.sit(
            &course,
            &policy,
            &face,
            at(3, 13, 0),
            all,
            Behaviour {
                photo_missing: Some(2),
                ..honest
            },
        );
        study(&wang, 3, 14, 40, hour, honest);
        clock.set(zheng_end + MINUTE as i64);
        zheng.upload(&srv, &clock);
        study(&zhou, 3, 20, 0, hour, honest);
        // 11-04 to 11-06: the bot at 20:00 every day; wang finishes on the 4th.
        clock.set(at(4, 19, 59));
        zhou.sign_in(&srv, &clock);
        let zhou_end = zhou.sit(&course, &policy, &face, at(4, 20, 0), hour, honest);
        study(&wang, 4, 20, 5, hour * 2, honest);
        let _ = zhou_end;
        zhou.upload(&srv, &clock);
        study(&zhou, 5, 20, 0, hour, honest);
        study(&zhou, 6, 20, 0, hour, honest);

        // 11-08 03:00: the service's nightly checks.
        clock.set(at(8, 3, 0));
        let new = nightly(&srv, &clock);
        assert_eq!(new, 10, "findings stored");

        // Attendance, as the console reads it (the same objects as `admin
        // attendance --json`).
        let token = staff_token(&srv);
        let rows = attendance(&srv, &token, &course_id);
        // user: credited s, class hours, attendance, at risk, score, qualified
        let expected: &[(&str, f64, u64, f64, bool, u64, bool)] = &[
            ("wang", 13500.0, 5, 1.0, false, 100, true),
            ("li", 6690.0, 2, 0.4, true, 100, false),
            ("zhang", 2970.0, 1, 0.2, true, 100, false),
            ("zhao1", 2700.0, 1, 0.2, true, 100, false),
            ("zhao2", 2700.0, 1, 0.2, true, 100, false),
            ("zhao3", 2700.0, 1, 0.2, true, 100, false),
            ("zhao4", 2700.0, 1, 0.2, true, 100, false),
            ("zhao5", 2700.0, 1, 0.2, true, 100, false),
            ("sun", 13500.0, 5, 1.0, false, 100, true),
            ("zhou", 13500.0, 5, 1.0, false, 100, true),
            ("wu", 13500.0, 4, 0.8, false, 80, false),
            ("zheng", 13500.0, 4, 0.8, false, 100, false),
        ];
        assert_eq!(rows.len(), expected.len(), "{rows:?}");
        for &(user, credited, hours, attendance, at_risk, score, qualified) in expected {
            let r = &rows[user];
            assert_eq!(
                (
                    r["credited_seconds"].as_f64().unwrap(),
                    r["class_hours_completed"].as_u64().unwrap(),
                    r["class_hours_planned"].as_u64().unwrap(),
                    r["attendance"].as_f64().unwrap(),
                    r["at_risk"].as_bool().unwrap(),
                    r["score"].as_u64().unwrap(),
                    r["qualified"].as_bool().unwrap(),
                ),
                (credited, hours, 5, attendance, at_risk, score, qualified),
                "{backend} {user}: {r}"
            );
        }
        // The refused 2x requests and positions, one each minute, are counted.
        assert_eq!(
            rows["li"]["not_counted"],
            json!({"rate_change": 113, "seek_ahead": 113})
        );

        // Findings, as the console reads them (the same objects as `admin flags
        // --json`): rule, severity, and evidence that names stored records.
        let flags: Value = staff_get(&srv, &token, "/v1/staff/flags").json().unwrap();
        let flags = flags["findings"].clone();
        let mut found: Vec<(String, String, String)> = flags
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["learner"].as_str().unwrap().to_owned(),
                    f["rule"].as_str().unwrap().to_owned(),
                    f["severity"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        found.sort();
        let mut want: Vec<(String, String, String)> = [
            ("sun", "study_window", "low"),
            ("zhang", "outside_lease", "high"),
            ("zhang", "overlapping_devices", "high"),
            ("zheng", "capture_missing", "high"),
            ("zhou", "regular_sessions", "medium"),
        ]
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .chain((1..=5).map(|i| {
            (
                format!("zhao{i}"),
                "shared_address".to_owned(),
                "medium".to_owned(),
            )
        }))
        .collect();
        want.sort();
        assert_eq!(found, want, "{backend}: {flags}");
        let finding = |user: &str, rule: &str| {
            flags
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["learner"] == user && f["rule"] == rule)
                .unwrap()
                .clone()
        };
        assert_eq!(
            finding("zhou", "regular_sessions")["observed"],
            "5 sessions on 5 days: length σ 0 s, start time σ 0 s"
        );
        assert_eq!(
            finding("sun", "study_window")["observed"],
            "225.0 min credited outside 06:00–23:00 on 2026-11-03"
        );
        assert_eq!(
            finding("zhao1", "shared_address")["observed"],
            "5 learners credited at the same moment from 127.0.0.5"
        );
        let overlap = finding("zhang", "overlapping_devices");
        assert!(
            overlap["observed"]
                .as_str()
                .unwrap()
                .ends_with("× concurrent_devices"),
            "{overlap}"
        );
        // Every cited hash is a record the platform holds, of the cited device and
        // within the cited range.
        for f in flags.as_array().unwrap() {
            for e in f["evidence"].as_array().unwrap() {
                let device = e["device"].as_str().unwrap();
                let (from, to) = (
                    e["seq_from"].as_u64().unwrap(),
                    e["seq_to"].as_u64().unwrap(),
                );
                let held = srv.rt.block_on(srv.store.device_hashes(device)).unwrap();
                let hashes = e["hashes"].as_array().unwrap();
                assert!(!hashes.is_empty(), "{f}");
                for h in hashes {
                    assert!(
                        held.iter()
                            .any(|(seq, hash)| hash == h.as_str().unwrap()
                                && (from..=to).contains(seq)),
                        "{backend}: {} cites {h}, not a record {from}..={to} of {device}",
                        f["rule"]
                    );
                }
            }
        }
        let cited: Vec<&str> = overlap["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["device"].as_str().unwrap())
            .collect();
        assert!(
            cited.contains(&pc.key.device_id().to_hex().as_str()),
            "the PC's records are the ones that did not count: {overlap}"
        );

        // 11-08 09:00: the institution issues certificates to those qualified; the
        // others are refused, saying why.
        clock.set(at(8, 9, 0));
        let platform_key = wang.journal().platform_key().unwrap().unwrap();
        for &(user, _, _, _, _, _, qualified) in expected {
            let r = staff_get(
                &srv,
                &token,
                &format!("/v1/staff/certificates/{user}/{course_id}"),
            );
            if qualified {
                assert_eq!(r.status(), 200, "{user}");
                let pdf = r.bytes().unwrap();
                let st = keshi_protocol::certificate::verify_pdf(&pdf, &platform_key).unwrap();
                assert_eq!(
                    (
                        st.learner.as_str(),
                        st.class_hours,
                        st.credited_seconds,
                        st.score
                    ),
                    (user, 5, 13500, 100)
                );
            } else {
                assert_eq!(r.status(), 409, "{user}");
                assert_eq!(r.json::<Value>().unwrap()["code"], "not_qualified");
            }
        }
        let zip = staff_get(
            &srv,
            &token,
            &format!("/v1/staff/certificates?course={course_id}"),
        );
        assert_eq!(zip.status(), 200);
        let zip = zip::ZipArchive::new(std::io::Cursor::new(zip.bytes().unwrap())).unwrap();
        assert_eq!(
            zip.len(),
            3,
            "the bulk download holds wang's, sun's and zhou's"
        );

        // 11-08 10:00: the operator confirms the bot and dismisses the night study
        // (a shift worker, checked by telephone).
        clock.set(at(8, 10, 0));
        for (user, rule, decision, reason) in [
            (
                "zhou",
                "regular_sessions",
                "confirm",
                "scripted: identical sessions, confirmed by video check",
            ),
            (
                "sun",
                "study_window",
                "dismiss",
                "night-shift worker, confirmed by telephone",
            ),
        ] {
            let id = finding(user, rule)["id"].as_str().unwrap().to_owned();
            let r = pcommon::client()
                .post(format!("{}/v1/staff/flags/{id}/review", srv.url))
                .bearer_auth(&token)
                .json(&json!({"decision": decision, "reason": reason}))
                .send()
                .unwrap();
            assert_eq!(r.status(), 200, "{user} {rule}");
        }
        let after: Value = staff_get(
            &srv,
            &token,
            &format!("/v1/staff/attendance?course={course_id}"),
        )
        .json()
        .unwrap();
        let result = |user: &str| {
            after["results"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["user"] == user)
                .unwrap()
                .clone()
        };
        let zhou_now = result("zhou");
        // The confirmed finding takes all of the bot's study out of credit.
        assert_eq!(
            (
                zhou_now["credited_seconds"].as_f64(),
                zhou_now["class_hours_completed"].as_u64(),
                zhou_now["attendance"].as_f64(),
                zhou_now["qualified"].as_bool(),
                zhou_now["confirmed_flags"].as_u64()
            ),
            (Some(0.0), Some(0), Some(0.0), Some(false), Some(1)),
            "{zhou_now}"
        );
        assert_eq!(
            result("sun")["qualified"],
            true,
            "a dismissed finding costs nothing"
        );

        // The quarter: wang's and sun's certificates, 5 class hours each at the
        // junior rate of 300 fen; zhou's withheld.
        let s: Value = staff_get(&srv, &token, "/v1/staff/settlement?quarter=2026Q4")
            .json()
            .unwrap();
        assert_eq!(
            (s["total_fen"].as_u64(), s["withheld"].as_u64()),
            (Some(3000), Some(1)),
            "{s}"
        );
        let lines = s["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 1, "{s}");
        assert_eq!(
            (
                lines[0]["learners"].as_u64(),
                lines[0]["class_hours"].as_u64(),
                lines[0]["rate_fen"].as_u64(),
                lines[0]["amount_fen"].as_u64(),
                lines[0]["level"].as_str()
            ),
            (Some(2), Some(10), Some(300), Some(3000), Some("junior"))
        );

        // The checks again: nothing new.
        let again = nightly(&srv, &clock);
        assert_eq!(again, 0);
        srv.kill();
    }
}

/// The course-farming rules the class above does not trip, end to end on the same
/// driver (a twelve-class-hour demo course, `shanxi`): quizzes answered faster than
/// they can be read; two learners with the same wrong answers; a day of study above
/// the 480-minute cap; study on a device whose offline lease ended days before.
///
/// | learner | how | credited s | hours | finding |
/// |---|---|---|---|---|
/// | fast | answers each quiz 3 s after it opens (5 questions: at least 10 s) | 2700 | 1 | `fast_quiz` |
/// | copy1, copy2 | the same wrong answers to class hour 1 | 2700 | 0 | `identical_answers` |
/// | marathon | 11 class hours from 06:30 on one day | 29700 | 11 | `daily_cap` (495.0 min) |
/// | offline | signs in on 11-02, studies offline on 11-10 (the lease ended 11-09) | 0 | 0 | `outside_lease` |
///
/// The marathon's 1,037 records go up in two batches. Each push used to count as a
/// contact at which the device's journal ended with the batch's last record, so the
/// 37 records of the second batch, written before the first push, were named
/// `backdated` and class hour 11 was lost; a push now states the journal's head.
#[test]
fn the_other_rules_are_found_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = keshi_protocol::demo::course(12).to_string();
    let manifest_path = dir.path().join("course12.json");
    std::fs::write(&manifest_path, &manifest).unwrap();
    let course = Course::load(&manifest_path).unwrap().without_answers();
    let policy = Policy::by_id("shanxi").unwrap();
    let face = study::face();
    let people: &[(&str, &str)] = &[
        ("fast", "钱快"),
        ("copy1", "冯甲"),
        ("copy2", "冯乙"),
        ("marathon", "马拉"),
        ("offline", "欧离"),
    ];
    for (backend, db) in backends(dir.path(), "rules") {
        eprintln!("backend: {backend}");
        let (srv, clock) = clocked_platform(dir.path(), &backend, &db);
        let course_id = set_up(&srv, &manifest, clock.now(), people);
        let dir = dir.path().join(&backend);
        std::fs::create_dir_all(&dir).unwrap();
        let dev = |user: &str, n: u8| {
            Device::new(
                &dir,
                user,
                PASSWORD,
                user,
                [127, 0, 0, 30 + n],
                u64::from(n),
            )
        };
        let hour = Duration::from_millis(45 * MINUTE + QUIZ_SECONDS * 1000);
        let honest = Behaviour::default();
        let material = Material {
            course: &course,
            policy: &policy,
            face: &face,
        };
        let study = |d: &Device, day: i64, h: i64, m: i64, play: Duration, how: Behaviour| {
            d.study(&srv, &clock, &material, at(day, h, m), play, how);
        };
        study(
            &dev("fast", 1),
            2,
            8,
            0,
            Duration::from_millis(45 * MINUTE + 3_000),
            Behaviour {
                quiz_seconds: Some(3),
                ..honest
            },
        );
        study(
            &dev("copy1", 2),
            2,
            9,
            0,
            hour,
            Behaviour {
                wrong_quiz: Some(1),
                ..honest
            },
        );
        study(
            &dev("copy2", 3),
            2,
            10,
            0,
            hour,
            Behaviour {
                wrong_quiz: Some(1),
                ..honest
            },
        );
        study(&dev("marathon", 4), 2, 6, 30, hour * 11, honest);
        // Signed in on the 2nd; studies on the 10th without contact since; uploads
        // on signing in again.
        let away = dev("offline", 5);
        clock.set(at(2, 12, 0));
        away.sign_in(&srv, &clock);
        let end = away.sit(&course, &policy, &face, at(10, 9, 0), hour, honest);
        clock.set(end + MINUTE as i64);
        away.sign_in(&srv, &clock);
        away.upload(&srv, &clock);

        clock.set(at(12, 3, 0));
        nightly(&srv, &clock);
        let token = staff_token(&srv);
        let got: BTreeMap<String, (f64, u64)> = attendance(&srv, &token, &course_id)
            .into_iter()
            .map(|(user, r)| {
                (
                    user,
                    (
                        r["credited_seconds"].as_f64().unwrap(),
                        r["class_hours_completed"].as_u64().unwrap(),
                    ),
                )
            })
            .collect();
        let flags: Value = staff_get(&srv, &token, "/v1/staff/flags").json().unwrap();
        for f in flags["findings"].as_array().unwrap() {
            eprintln!(
                "{} {} {} | {}",
                f["learner"], f["rule"], f["severity"], f["observed"]
            );
        }
        eprintln!("{got:?}");
        let mut found: Vec<(String, String)> = flags["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["learner"].as_str().unwrap().to_owned(),
                    f["rule"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        found.sort();
        let want: Vec<(String, String)> = [
            ("copy1", "identical_answers"),
            ("copy2", "identical_answers"),
            ("fast", "fast_quiz"),
            ("marathon", "daily_cap"),
            ("offline", "outside_lease"),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
        assert_eq!(found, want, "{backend}: {flags}");
        let observed = |rule: &str| {
            flags["findings"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["rule"] == rule)
                .unwrap()["observed"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(observed("daily_cap"), "495.0 min credited on 2026-11-02");
        assert_eq!(
            observed("fast_quiz"),
            "5 questions answered in 3.0 s (class hour 1, attempt 1)"
        );
        let expected: BTreeMap<String, (f64, u64)> = [
            ("fast", (2700.0, 1)),
            ("copy1", (2700.0, 0)),
            ("copy2", (2700.0, 0)),
            ("marathon", (29700.0, 11)),
            ("offline", (0.0, 0)),
        ]
        .iter()
        .map(|(u, v)| ((*u).to_owned(), *v))
        .collect();
        assert_eq!(got, expected, "{backend}");
        srv.kill();
    }
}

/// The platform's own face check (issue 14, R-ID-2, R-ST-3): every capture photo is
/// compared with the learner's enrolment photo in the background, shown on the
/// learner's timeline with its distance and verdict, and a photo of someone else
/// is a `face_mismatch` finding citing its capture record. Both learners enrol
/// with `obama.jpg`; `self` is captured as `obama2.jpg`, `other` as `biden.jpg`
/// (face_recognition's test photos).
#[test]
fn capture_photos_are_checked_against_the_enrolment_photo() {
    let faces_dir =
        std::env::var("KESHI_FACE_IMAGES").expect("KESHI_FACE_IMAGES (test.sh sets it)");
    let read = |f: &str| std::fs::read(std::path::Path::new(&faces_dir).join(f)).unwrap();
    // At a webcam's size (a full-size photo as PNG would exceed the upload limit).
    let rgb = |f: &str| {
        image::load_from_memory(&read(f))
            .unwrap()
            .resize(640, 480, image::imageops::FilterType::Triangle)
            .to_rgb8()
    };
    let dir = tempfile::tempdir().unwrap();
    let manifest = keshi_protocol::demo::course(1).to_string();
    let manifest_path = dir.path().join("course1.json");
    std::fs::write(&manifest_path, &manifest).unwrap();
    let course = Course::load(&manifest_path).unwrap().without_answers();
    let policy = Policy::by_id("shanxi").unwrap();
    let people: &[(&str, &str)] = &[("self", "欧本人"), ("other", "白他人")];
    for (backend, db) in backends(dir.path(), "faces") {
        eprintln!("backend: {backend}");
        let (srv, clock) = clocked_platform(dir.path(), &backend, &db);
        set_up(&srv, &manifest, clock.now(), people);
        let token = staff_token(&srv);
        for (user, _) in people {
            let r = pcommon::client()
                .put(format!("{}/v1/staff/learners/{user}/photo", srv.url))
                .bearer_auth(&token)
                .header("content-type", "image/jpeg")
                .body(read("obama.jpg"))
                .send()
                .unwrap();
            assert_eq!(r.status(), 200, "{user}: {:?}", r.text());
        }
        let dir = dir.path().join(&backend);
        std::fs::create_dir_all(&dir).unwrap();
        let hour = Duration::from_millis(45 * MINUTE + QUIZ_SECONDS * 1000);
        let mut devices = Vec::new();
        // A resized print of one's own enrolment photo is not caught here (distance
        // about 0.09): that is the liveness checks' work; a copy of the file is
        // (`enrolment_copy`, the console test).
        for (n, (user, face)) in [("self", "obama2.jpg"), ("other", "biden.jpg")]
            .into_iter()
            .enumerate()
        {
            let d = Device::new(
                &dir,
                user,
                PASSWORD,
                user,
                [127, 0, 0, 40 + n as u8],
                40 + n as u64,
            );
            let face = rgb(face);
            let material = Material {
                course: &course,
                policy: &policy,
                face: &face,
            };
            d.study(
                &srv,
                &clock,
                &material,
                at(2, 9 + n as i64, 0),
                hour,
                Behaviour::default(),
            );
            devices.push(d);
        }
        // The checks land in the background, seconds after the uploads (a new
        // session: the day's one has ended on the platform's clock).
        let token = staff_token(&srv);
        let checks = |user: &str| -> Vec<Value> {
            let deadline = std::time::Instant::now() + Duration::from_secs(180);
            loop {
                let tl: Value =
                    staff_get(&srv, &token, &format!("/v1/staff/learners/{user}/timeline"))
                        .json()
                        .unwrap();
                let photos = tl["photos"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{user}: {tl}"))
                    .len();
                let checks = tl["photo_checks"].as_array().unwrap().clone();
                if photos > 0 && checks.len() == photos {
                    return checks;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{user}: {} of {photos} photos checked",
                    checks.len()
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        };
        for c in checks("self") {
            assert_eq!(c["verdict"], "match", "{c}");
            assert!(
                c["distance"].as_f64().unwrap() < c["threshold"].as_f64().unwrap(),
                "{c}"
            );
        }
        for c in checks("other") {
            assert_eq!(c["verdict"], "mismatch", "{c}");
            assert!(
                c["distance"].as_f64().unwrap() >= c["threshold"].as_f64().unwrap(),
                "{c}"
            );
        }
        clock.set(at(4, 3, 0));
        nightly(&srv, &clock);
        let token = staff_token(&srv);
        let flags: Value = staff_get(&srv, &token, "/v1/staff/flags").json().unwrap();
        // A new enrolment photo: the learner's captures are checked again against it
        // (other enrols anew with biden.jpg: now every capture is the learner).
        let r = pcommon::client()
            .put(format!("{}/v1/staff/learners/other/photo", srv.url))
            .bearer_auth(&token)
            .header("content-type", "image/jpeg")
            .body(read("biden.jpg"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let rechecked = {
            let deadline = std::time::Instant::now() + Duration::from_secs(180);
            loop {
                let tl: Value = staff_get(&srv, &token, "/v1/staff/learners/other/timeline")
                    .json()
                    .unwrap();
                let checks = tl["photo_checks"].as_array().unwrap().clone();
                if !checks.is_empty() && checks.len() == tl["photos"].as_array().unwrap().len() {
                    break checks;
                }
                assert!(std::time::Instant::now() < deadline, "not checked again");
                std::thread::sleep(Duration::from_millis(200));
            }
        };
        assert!(
            rechecked.iter().all(|c| c["verdict"] == "match"),
            "{rechecked:?}"
        );
        let mut found: Vec<(&str, &str, &str)> = flags["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["learner"].as_str().unwrap(),
                    f["rule"].as_str().unwrap(),
                    f["detail"]["kind"].as_str().unwrap(),
                )
            })
            .collect();
        found.sort_unstable();
        assert_eq!(
            found,
            [("other", "face_mismatch", "face_mismatch")],
            "{backend}: {flags}"
        );
        let f = flags["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["learner"] == "other")
            .unwrap();
        assert_eq!(
            f["evidence"][0]["device"],
            devices[1].key.device_id().to_hex()
        );
        assert_eq!(f["detail"]["kind"], "face_mismatch");
        srv.kill();
    }
}
