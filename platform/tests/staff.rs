//! Staff and scope (issue 12, R-SV-1): every staff endpoint × every role × a learner
//! in and out of scope, against a real platform on SQLite and PostgreSQL, with the
//! accounts made by `keshi-platform admin` (the command scripts use). Also: the
//! session cookie needs the anti-CSRF token to change anything, sign-in is
//! throttled, and the audit trail records what the command line did.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

mod common;

use common::{any_url, backends, client, now_ms, Server};
use keshi_platform::Config;
use serde_json::Value;

const PASSWORD: &str = "staff-password-1";

/// Runs `keshi-platform admin ARGS --db URL` (password from `KESHI_PASSWORD`).
fn admin(db: &str, args: &[&str]) -> Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keshi-platform"))
        .arg("admin")
        .args(args)
        .args(["--db", db])
        .env("KESHI_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("null")).unwrap()
}

/// Signs in; returns (token, csrf, the cookie's value).
fn sign_in(url: &str, user: &str) -> (String, String, String) {
    let r = client()
        .post(format!("{url}/v1/staff/login"))
        .json(&serde_json::json!({"user": user, "password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{user}");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let value = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("keshi_staff=")
        .to_owned();
    let b: Value = r.json().unwrap();
    (
        b["token"].as_str().unwrap().to_owned(),
        b["csrf"].as_str().unwrap().to_owned(),
        value,
    )
}

fn get(url: &str, token: &str, path: &str) -> (u16, Value) {
    let r = client()
        .get(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// A platform on `db` with the institution 太原职校 in region `shanxi/taiyuan`;
/// returns it and its database URL.
fn with_school(dir: &std::path::Path, name: &str, db: &str) -> (Server, String) {
    let srv = Server::start(db, Config::default(), &dir.join(format!("b-{name}")));
    let db = srv.db_url.clone();
    admin(
        &db,
        &[
            "create-institution",
            "--name",
            "太原职校",
            "--region",
            "Shanxi/Taiyuan",
        ],
    );
    (srv, db)
}

#[test]
fn every_staff_endpoint_answers_within_the_scope_only() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "staff") {
        eprintln!("backend: {name}");
        let (srv, db) = with_school(dir.path(), &name, &db);
        admin(
            &db,
            &[
                "create-institution",
                "--name",
                "济南培训",
                "--region",
                "shandong/jinan",
            ],
        );
        for (user, inst) in [("a1", "太原职校"), ("a2", "太原职校"), ("b1", "济南培训")]
        {
            admin(
                &db,
                &[
                    "create-learner",
                    "--institution",
                    inst,
                    "--user",
                    user,
                    "--real-name",
                    "王五",
                    "--id-number",
                    "11010519491231002X",
                ],
            );
        }
        // role, scope, the learners it sees, whether it reads the audit trail
        let staff: &[(&str, &str, &str, &[&str], bool)] = &[
            ("op", "operator", "*", &["a1", "a2", "b1"], true),
            ("sx", "authority", "shanxi", &["a1", "a2"], false),
            ("ty-audit", "auditor", "shanxi/taiyuan", &["a1", "a2"], true),
            ("sd", "authority", "shandong", &["b1"], false),
            ("hz", "authority", "shanxi/taiyuan-hz", &[], false),
            ("school-a", "institution", "太原职校", &["a1", "a2"], false),
            ("firm-b", "enterprise", "济南培训", &["b1"], false),
        ];
        for (user, role, scope, _, _) in staff {
            let v = admin(
                &db,
                &[
                    "create-staff",
                    "--role",
                    role,
                    "--scope",
                    scope,
                    "--user",
                    user,
                ],
            );
            assert_eq!(v["role"], *role);
        }
        for (user, role, _, sees, audits) in staff {
            let (token, _, _) = sign_in(&srv.url, user);
            let (s, list) = get(&srv.url, &token, "/v1/staff/learners");
            assert_eq!(s, 200, "{user}");
            let got: Vec<&str> = list["learners"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["user"].as_str().unwrap())
                .collect();
            assert_eq!(got, *sees, "{user} ({role}) lists");
            for l in list["learners"].as_array().unwrap() {
                assert_eq!(l["id_number"], "110105********002X", "masked");
            }
            for learner in ["a1", "a2", "b1", "nobody"] {
                let (s, one) = get(&srv.url, &token, &format!("/v1/staff/learners/{learner}"));
                let expected = if sees.contains(&learner) { 200 } else { 404 };
                assert_eq!(s, expected, "{user} ({role}) → {learner}: {one}");
                if s == 200 {
                    assert_eq!(one["learner"]["user"], learner);
                    assert_eq!(one["credited_seconds"], 0.0);
                } else {
                    assert_eq!(one["code"], "not_found");
                }
            }
            let (s, trail) = get(&srv.url, &token, "/v1/staff/audit");
            assert_eq!(s, if *audits { 200 } else { 403 }, "{user} audit: {trail}");
            if *user == "op" {
                let actions: Vec<&str> = trail["entries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["action"].as_str().unwrap())
                    .collect();
                assert_eq!(
                    actions.iter().filter(|a| **a == "learner.create").count(),
                    3
                );
                assert_eq!(
                    actions.iter().filter(|a| **a == "staff.create").count(),
                    staff.len()
                );
                assert_eq!(
                    actions
                        .iter()
                        .filter(|a| **a == "institution.create")
                        .count(),
                    2
                );
            }
            if *user == "ty-audit" {
                // The auditor's region: its institution's entries, not the other's.
                let targets: Vec<&str> = trail["entries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["target"].as_str().unwrap())
                    .collect();
                assert!(targets.contains(&"learner:a1"), "{targets:?}");
                assert!(!targets.contains(&"learner:b1"), "{targets:?}");
            }
        }

        // Live: a1 signs in on a device and opens course c1; who sees them.
        let mut course = keshi_protocol::demo::course(1);
        course["id"] = "c1".into();
        let manifest = dir.path().join(format!("c1-{name}.json"));
        std::fs::write(&manifest, course.to_string()).unwrap();
        srv.publish(&manifest, "shanxi");
        let key = common::DeviceKey::generate().unwrap();
        let lease = common::login(&srv.url, "a1", PASSWORD, &key);
        let live = |user: &str| -> Vec<Value> {
            let (token, _, _) = sign_in(&srv.url, user);
            let (s, v) = get(&srv.url, &token, "/v1/staff/live");
            assert_eq!(s, 200, "{user}: {v}");
            v["online"].as_array().unwrap().clone()
        };
        let seen = live("op");
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0]["learner"]["user"], "a1");
        assert_eq!(seen[0]["course"], Value::Null);
        assert_eq!(seen[0]["device_id"], key.device_id().to_hex());
        assert!(seen[0]["last_contact_ms"].as_i64().unwrap() > 0);
        let start = keshi_protocol::record::seal(
            &key,
            None,
            &keshi_protocol::record::NewRecord::new(
                "session_start",
                serde_json::json!({"session": 1, "course": "c1", "profile": "shanxi",
                    "class_hours": 1, "course_ms": 2_700_000}),
                common::now_ms(),
                1,
            ),
        )
        .unwrap();
        let recs = vec![start];
        assert_eq!(
            common::push(&srv.url, &lease.token, common::wire(&recs)).0,
            200
        );
        for (user, sees) in [
            ("op", true),
            ("sx", true),
            ("school-a", true),
            ("sd", false),
            ("firm-b", false),
        ] {
            let online = live(user);
            assert_eq!(online.len(), usize::from(sees), "{user}: {online:?}");
            if sees {
                assert_eq!(online[0]["course"], "c1", "{user}");
                // A session opened, no segment yet: not crediting, and why.
                assert_eq!(online[0]["crediting"], false);
                assert_eq!(online[0]["why_not"], "no_study_yet");
            }
        }

        // A capture photo arrives: today's photos in the live view, the photo and
        // the learner's timeline (re-derived from the signed records) within scope
        // only — for every role.
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend((0..4000u32).map(|i| (i * 7) as u8));
        let sha = keshi_protocol::ids::Hash::of(&png).to_hex();
        let r = client()
            .put(format!("{}/v1/captures/{sha}", srv.url))
            .bearer_auth(&lease.token)
            .header("content-type", "image/png")
            .body(png.clone())
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        for (user, role, _, sees, _) in staff {
            let (token, _, _) = sign_in(&srv.url, user);
            let in_scope = sees.contains(&"a1");
            let (s, v) = get(&srv.url, &token, "/v1/staff/live");
            assert_eq!(s, 200);
            let online = v["online"].as_array().unwrap();
            if in_scope {
                assert_eq!(
                    online[0]["photos_today"],
                    serde_json::json!([sha]),
                    "{user}"
                );
            } else {
                assert!(online.is_empty(), "{user}: {v}");
            }
            let r = client()
                .get(format!("{}/v1/staff/captures/{sha}", srv.url))
                .bearer_auth(&token)
                .send()
                .unwrap();
            assert_eq!(r.status(), if in_scope { 200 } else { 404 }, "{user} photo");
            if in_scope {
                assert_eq!(r.headers()["content-type"], "image/png");
                assert_eq!(r.bytes().unwrap().to_vec(), png);
            }
            let (s, tl) = get(&srv.url, &token, "/v1/staff/learners/a1/timeline");
            assert_eq!(s, if in_scope { 200 } else { 404 }, "{user} timeline: {tl}");
            if in_scope {
                assert_eq!(tl["entries"][0]["kind"], "session_start", "{tl}");
                assert_eq!(tl["entries"][0]["fact"]["course"], "c1");
                assert_eq!(tl["photos"][0][0], sha.as_str());
            }
            let (s, _) = get(&srv.url, &token, "/v1/staff/learners/b1/timeline");
            assert_eq!(
                s,
                if sees.contains(&"b1") { 200 } else { 404 },
                "{user} b1 timeline"
            );
            // No enrolment photo was registered: 404 in scope or out.
            let (s, _) = get(&srv.url, &token, "/v1/staff/learners/a1/photo");
            assert_eq!(s, 404);
            let (s, me) = get(&srv.url, &token, "/v1/staff/session");
            assert_eq!((s, me["user"].as_str()), (200, Some(*user)));
            let (s, courses) = get(&srv.url, &token, "/v1/staff/courses");
            assert_eq!(s, 200);
            // c1 belongs to "Test School" (no region): only the operator sees it.
            let n = courses["courses"].as_array().unwrap().len();
            assert_eq!(n, usize::from(*user == "op"), "{user} courses: {courses}");
            // Supervision (issue 13): attendance and findings within the scope only;
            // certificates not for auditors nor outside the scope; the settlement
            // not for institutions; findings reviewed by the operator and
            // authorities only.
            let (s, att) = get(&srv.url, &token, "/v1/staff/attendance?course=c1");
            assert_eq!(s, 200, "{user} attendance: {att}");
            for r in att["results"].as_array().unwrap() {
                assert!(
                    sees.contains(&r["user"].as_str().unwrap()),
                    "{user} attendance: {att}"
                );
            }
            let (s, fl) = get(&srv.url, &token, "/v1/staff/flags");
            assert_eq!(s, 200, "{user} flags: {fl}");
            for f in fl["findings"].as_array().unwrap() {
                assert!(
                    sees.contains(&f["learner"].as_str().unwrap()),
                    "{user} flags: {fl}"
                );
            }
            let (s, cert) = get(&srv.url, &token, "/v1/staff/certificates/b1/c1");
            let want = match (*role, sees.contains(&"b1")) {
                ("auditor", _) => 403,
                (_, true) => 409,
                (_, false) => 404,
            };
            assert_eq!(s, want, "{user} certificate: {cert}");
            if s == 409 {
                assert_eq!(cert["code"], "not_qualified", "{cert}");
            }
            let (s, _) = get(&srv.url, &token, "/v1/staff/settlement?quarter=2026Q4");
            let settles = matches!(*role, "operator" | "authority" | "auditor");
            assert_eq!(s, if settles { 200 } else { 403 }, "{user} settlement");
            let r = client()
                .post(format!(
                    "{}/v1/staff/flags/{}/review",
                    srv.url,
                    "0".repeat(32)
                ))
                .bearer_auth(&token)
                .json(&serde_json::json!({"decision": "confirm", "reason": "test"}))
                .send()
                .unwrap();
            let reviews = matches!(*role, "operator" | "authority");
            assert_eq!(r.status(), if reviews { 404 } else { 403 }, "{user} review");
        }

        // No session, a made-up token: 401.
        let r = client()
            .get(format!("{}/v1/staff/learners", srv.url))
            .send()
            .unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(get(&srv.url, &"0".repeat(64), "/v1/staff/learners").0, 401);
        // A learner's lease is not a staff session.
        assert_eq!(
            get(&srv.url, "not-a-staff-token", "/v1/staff/learners/a1").0,
            401
        );

        // The cookie alone cannot change anything: the anti-CSRF token is needed.
        let (_, csrf, cookie) = sign_in(&srv.url, "school-a");
        let logout = |csrf: Option<&str>| {
            let mut r = client()
                .post(format!("{}/v1/staff/logout", srv.url))
                .header("cookie", format!("keshi_staff={cookie}"));
            if let Some(c) = csrf {
                r = r.header("x-csrf-token", c);
            }
            r.send().unwrap().status().as_u16()
        };
        assert_eq!(logout(None), 403);
        assert_eq!(logout(Some("forged")), 403);
        let list = client()
            .get(format!("{}/v1/staff/learners", srv.url))
            .header("cookie", format!("keshi_staff={cookie}"))
            .send()
            .unwrap();
        assert_eq!(list.status(), 200, "reading with the cookie needs no token");
        assert_eq!(
            list.headers()["cache-control"],
            "no-store",
            "a browser must not keep personal data past the session"
        );
        assert_eq!(logout(Some(&csrf)), 204);
        assert_eq!(logout(Some(&csrf)), 401, "the session ended");

        // Guessing: wrong passwords are refused alike for known and unknown staff,
        // and the account is locked after a few.
        for user in ["op", "ghost"] {
            let r = client()
                .post(format!("{}/v1/staff/login", srv.url))
                .json(&serde_json::json!({"user": user, "password": "wrong"}))
                .send()
                .unwrap();
            assert_eq!(r.status(), 401);
            assert_eq!(r.json::<Value>().unwrap()["code"], "invalid_credentials");
        }
        let mut locked = false;
        for _ in 0..12 {
            let r = client()
                .post(format!("{}/v1/staff/login", srv.url))
                .json(&serde_json::json!({"user": "sd", "password": "wrong"}))
                .send()
                .unwrap();
            if r.status() == 429 {
                locked = true;
                break;
            }
        }
        assert!(locked, "repeated wrong passwords lock the account");
        srv.kill();
    }
}

/// Learners in bulk (issue 12): 50 rows with three bad ones, each named by row and
/// code; without `--partial` nothing is imported (exit 1), with it the 47 good rows
/// are, in one transaction with one audit entry, and staff of the institution see
/// them.
#[test]
fn a_csv_with_bad_rows_imports_nothing_or_only_the_good_rows() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "import") {
        let (srv, db) = with_school(dir.path(), &name, &db);
        // Valid ID numbers: 17 digits with a birth date, then the GB 11643 check.
        let id_number = |k: u32| {
            let base = format!("3201061990030{:04}", 1000 + k);
            let check = keshi_platform::import::id_check_character(&base).unwrap();
            format!("{base}{check}")
        };
        let mut csv = String::from("user,real_name,id_number,phone,class,password\n");
        for k in 0..50u32 {
            let (mut id, mut phone, mut pw) = (id_number(k), format!("138{k:08}"), String::new());
            match k {
                10 => id.replace_range(17..18, if id.ends_with('0') { "1" } else { "0" }),
                20 => phone = "12345".into(),
                30 => pw = "short".into(),
                _ => {}
            }
            if k % 10 == 1 {
                pw = format!("password-{k}");
            }
            csv.push_str(&format!("u{k:02},学员{k},{id},{phone},一班,{pw}\n"));
        }
        let file = dir.path().join(format!("learners-{name}.csv"));
        std::fs::write(&file, csv).unwrap();
        let run = |partial: bool| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_keshi-platform"));
            cmd.args([
                "admin",
                "import-learners",
                "--db",
                &db,
                "--institution",
                "太原职校",
                "--json",
            ]);
            if partial {
                cmd.arg("--partial");
            }
            let out = cmd.arg(&file).output().unwrap();
            let v: Value =
                serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
            (out.status.code(), v)
        };
        let (code, v) = run(false);
        assert_eq!(code, Some(1), "{v}");
        assert_eq!(v["imported"], 0);
        let rejected: Vec<(u64, &str)> = v["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["row"].as_u64().unwrap(), r["code"].as_str().unwrap()))
            .collect();
        // Row numbers count the header as row 1.
        assert_eq!(
            rejected,
            vec![
                (12, "bad_id_number"),
                (22, "bad_phone"),
                (32, "weak_password")
            ]
        );
        admin(
            &db,
            &[
                "create-staff",
                "--role",
                "institution",
                "--scope",
                "太原职校",
                "--user",
                "school",
            ],
        );
        let (token, _, _) = sign_in(&srv.url, "school");
        assert_eq!(
            get(&srv.url, &token, "/v1/staff/learners").1["learners"],
            serde_json::json!([])
        );
        let (code, v) = run(true);
        assert_eq!(code, Some(1), "rows were still rejected: {v}");
        assert_eq!(v["imported"], 47);
        let list = get(&srv.url, &token, "/v1/staff/learners").1;
        assert_eq!(list["learners"].as_array().unwrap().len(), 47);
        // The same file again: every good row's login name is taken now.
        let (_, v) = run(true);
        assert_eq!(v["imported"], 0);
        assert_eq!(v["rejected"].as_array().unwrap().len(), 50);
        // An imported learner with a password signs in; one without cannot yet.
        let key = common::DeviceKey::generate().unwrap();
        let ok = client()
            .post(format!("{}/v1/login", srv.url))
            .json(&serde_json::json!({"user": "u01", "password": "password-1", "public_key": key.public_key_hex()}))
            .send()
            .unwrap();
        assert_eq!(ok.status(), 200);
        let none = client()
            .post(format!("{}/v1/login", srv.url))
            .json(&serde_json::json!({"user": "u02", "password": "", "public_key": key.public_key_hex()}))
            .send()
            .unwrap();
        // No password yet: the answer says so (the app then asks for the ID number,
        // the phone and a new password).
        assert_eq!(none.status(), 403);
        assert_eq!(none.json::<Value>().unwrap()["code"], "password_not_set");
        srv.kill();
    }
}

/// A valid ID number (17 digits with a birth date, then the GB 11643 check).
fn valid_id(k: u32) -> String {
    let base = format!("3201061990030{:04}", 1000 + k);
    let check = keshi_platform::import::id_check_character(&base).unwrap();
    format!("{base}{check}")
}

/// Runs `admin import-learners` on `file` with `extra` flags: (exit code, JSON).
fn import(db: &str, file: &std::path::Path, extra: &[&str]) -> (Option<i32>, Value) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keshi-platform"))
        .args([
            "admin",
            "import-learners",
            "--db",
            db,
            "--institution",
            "太原职校",
            "--json",
        ])
        .args(extra)
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{e}: {text} / {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), v)
}

fn rejected_codes(v: &Value) -> Vec<(u64, String)> {
    v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap(),
                r["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// XLSX (issue 12): the template (`admin learner-template`) with 50 learners
/// typed in — phones as numbers, as Excel keeps them — and three bad rows, each
/// named by row and code; all or nothing, then `--partial`; staff see the 47.
#[test]
fn an_xlsx_with_bad_rows_imports_nothing_or_only_the_good_rows() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "xlsx") {
        let (srv, db) = with_school(dir.path(), &name, &db);
        let file = dir.path().join(format!("learners-{name}.xlsx"));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_keshi-platform"))
            .args(["admin", "learner-template", "--out"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success());
        let mut book = keshi_platform::import::template().unwrap();
        let sheet = book.worksheet_from_index(0).unwrap();
        for k in 0..50u32 {
            let row = k + 1;
            let mut id = valid_id(k);
            if k == 10 {
                id.replace_range(17..18, if id.ends_with('0') { "1" } else { "0" });
            }
            sheet.write_string(row, 0, format!("x{k:02}")).unwrap();
            sheet.write_string(row, 1, format!("学员{k}")).unwrap();
            sheet.write_string(row, 2, &id).unwrap();
            if k == 20 {
                sheet.write_number(row, 3, 12345.0).unwrap();
            } else {
                sheet
                    .write_number(row, 3, 13_800_000_000.0 + f64::from(k))
                    .unwrap();
            }
            sheet.write_string(row, 4, "一班").unwrap();
            let pw = match k {
                30 => "short".to_owned(),
                k if k % 10 == 1 => format!("password-{k}"),
                _ => String::new(),
            };
            sheet.write_string(row, 5, pw).unwrap();
        }
        book.save(&file).unwrap();
        let (code, v) = import(&db, &file, &[]);
        assert_eq!(code, Some(1), "{v}");
        assert_eq!(v["imported"], 0);
        assert_eq!(
            rejected_codes(&v),
            vec![
                (12, "bad_id_number".to_owned()),
                (22, "bad_phone".to_owned()),
                (32, "weak_password".to_owned())
            ]
        );
        admin(
            &db,
            &[
                "create-staff",
                "--role",
                "institution",
                "--scope",
                "太原职校",
                "--user",
                "school",
            ],
        );
        let (token, _, _) = sign_in(&srv.url, "school");
        assert_eq!(
            get(&srv.url, &token, "/v1/staff/learners").1["learners"],
            serde_json::json!([])
        );
        let (code, v) = import(&db, &file, &["--partial"]);
        assert_eq!(code, Some(1), "{v}");
        assert_eq!(v["imported"], 47);
        let list = get(&srv.url, &token, "/v1/staff/learners").1;
        assert_eq!(list["learners"].as_array().unwrap().len(), 47);
        // The phone typed as a number was read as its digits; the learner signs in.
        let key = common::DeviceKey::generate().unwrap();
        let ok = client()
            .post(format!("{}/v1/login", srv.url))
            .json(&serde_json::json!({"user": "x01", "password": "password-1", "public_key": key.public_key_hex()}))
            .send()
            .unwrap();
        assert_eq!(ok.status(), 200);
        srv.kill();
    }
}

/// Photos in bulk (R-ID-1): a ZIP of face and ID-card photos named by ID number.
/// A bad image and a photo of nobody refuse the import (all or nothing); with
/// `--partial` the learners come in, with their good photos linked and stored in
/// the blob store by SHA-256; folders inside the ZIP do not count.
#[test]
fn a_photos_zip_links_face_and_id_card_photos() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "photos") {
        let (srv, db) = with_school(dir.path(), &name, &db);
        let csv = dir.path().join(format!("p-{name}.csv"));
        let mut text = String::from("user,real_name,id_number,phone,class,password\n");
        for k in 0..3u32 {
            text.push_str(&format!(
                "p{k},学员{k},{},1391234560{k},一班,\n",
                valid_id(100 + k)
            ));
        }
        std::fs::write(&csv, text).unwrap();
        let jpeg = b"\xff\xd8\xff\xe0 face of p0".to_vec();
        let png = b"\x89PNG\r\n\x1a\n card of p0".to_vec();
        let zip_path = dir.path().join(format!("p-{name}.zip"));
        {
            let mut w = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
            let opts = zip::write::SimpleFileOptions::default();
            for (entry, bytes) in [
                (format!("../photos/{}.jpg", valid_id(100)), jpeg.clone()),
                (format!("{}-idcard.png", valid_id(100)), png.clone()),
                (
                    format!("{}-face.jpg", valid_id(101)),
                    b"not an image".to_vec(),
                ),
                (format!("{}.jpg", valid_id(999)), jpeg.clone()),
            ] {
                w.start_file(entry, opts).unwrap();
                w.write_all(&bytes).unwrap();
            }
            w.finish().unwrap();
        }
        let blobs = dir.path().join(format!("photo-blobs-{name}"));
        let flags = [
            "--photos",
            zip_path.to_str().unwrap(),
            "--blobs",
            blobs.to_str().unwrap(),
        ];
        let (code, v) = import(&db, &csv, &flags);
        assert_eq!(code, Some(1), "{v}");
        assert_eq!(v["imported"], 0);
        assert_eq!(
            rejected_codes(&v),
            vec![
                (3, "bad_photo".to_owned()),
                (0, "photo_without_learner".to_owned())
            ]
        );
        assert_eq!(
            v["rejected"][1]["entry"],
            format!("{}.jpg", valid_id(999)),
            "the ZIP entry is named"
        );
        let (code, v) = import(&db, &csv, &[&flags[..], &["--partial"]].concat());
        assert_eq!(code, Some(1), "{v}");
        assert_eq!(v["imported"], 3);
        let refs = |user: &str| {
            srv.rt
                .block_on(srv.store.learner_photo_refs(user))
                .unwrap()
                .unwrap()
        };
        let sha = |b: &[u8]| {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(b))
        };
        assert_eq!(refs("p0"), (Some(sha(&jpeg)), Some(sha(&png))));
        assert_eq!(refs("p1"), (None, None), "its bad photo was not linked");
        assert_eq!(refs("p2"), (None, None));
        let store = keshi_platform::blob::DiskBlobStore::new(&blobs).unwrap();
        use keshi_platform::blob::BlobStore;
        assert_eq!(store.get(&sha(&jpeg)).unwrap().unwrap(), jpeg);
        assert_eq!(store.get(&sha(&png)).unwrap().unwrap(), png);
        srv.kill();
    }
}

/// Data at rest (R-SV-2): the database holds no ID number or phone in plaintext
/// (neither the SQLite file nor its columns), a second learner with an imported
/// ID number is refused against the database, staff see the masked number, and
/// a plaintext row of an older database is encrypted when the store connects.
#[test]
fn id_numbers_and_phones_are_encrypted_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "atrest") {
        let (srv, db) = with_school(dir.path(), &name, &db);
        let csv = dir.path().join(format!("r-{name}.csv"));
        let id = valid_id(200);
        std::fs::write(
            &csv,
            format!(
                "user,real_name,id_number,phone,class,password\nr0,学员,{id},13912345678,一班,\n"
            ),
        )
        .unwrap();
        let (code, v) = import(&db, &csv, &[]);
        assert_eq!((code, v["imported"].as_u64()), (Some(0), Some(1)), "{v}");
        // The same ID number under another login name: refused by the database.
        let again = dir.path().join(format!("r2-{name}.csv"));
        std::fs::write(
            &again,
            format!(
                "user,real_name,id_number,phone,class,password\nr1,学员,{},13912345679,一班,\n",
                id.to_lowercase()
            ),
        )
        .unwrap();
        let (_, v) = import(&db, &again, &[]);
        assert_eq!(
            rejected_codes(&v),
            vec![(2, "duplicate_id_number".to_owned())]
        );
        let rows = srv.rt.block_on(async {
            let pool = sqlx::AnyPool::connect(&any_url(&db)).await.unwrap();
            let rows: Vec<(String, String, String, String)> = sqlx::query_as(
                "SELECT id, id_number, phone, COALESCE(id_number_index, '') FROM learners",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            pool.close().await;
            rows
        });
        assert_eq!(rows.len(), 1);
        let (learner_id, stored_id, stored_phone, index) = &rows[0];
        assert!(
            stored_id.starts_with("v1:") && !stored_id.contains(&id),
            "{stored_id}"
        );
        assert!(stored_phone.starts_with("v1:") && !stored_phone.contains("13912345678"));
        assert_eq!(index.len(), 64);
        if let Some(path) = db.strip_prefix("sqlite:") {
            for file in [path.to_owned(), format!("{path}-wal")] {
                // Read by another process: a close() in this process would drop the
                // POSIX locks this process's SQLite connections hold on the file
                // ("How To Corrupt An SQLite Database File", §2.2), and a later
                // writer could then checkpoint under their feet.
                let bytes = std::process::Command::new("cat")
                    .arg(&file)
                    .output()
                    .map(|o| o.stdout)
                    .unwrap_or_default();
                for plain in [id.as_str(), "13912345678"] {
                    assert!(
                        !bytes.windows(plain.len()).any(|w| w == plain.as_bytes()),
                        "{plain} in plaintext in {file}"
                    );
                }
            }
        }
        admin(
            &db,
            &[
                "create-staff",
                "--role",
                "operator",
                "--scope",
                "*",
                "--user",
                "op",
            ],
        );
        let (token, _, _) = sign_in(&srv.url, "op");
        let list = get(&srv.url, &token, "/v1/staff/learners").1;
        assert_eq!(
            list["learners"][0]["id_number"],
            keshi_protocol::staff::mask_id_number(&id)
        );
        // An older database's plaintext row: read as it is, encrypted at connect.
        srv.rt.block_on(async {
            let pool = sqlx::AnyPool::connect(&any_url(&db)).await.unwrap();
            sqlx::query("UPDATE learners SET id_number = $1, phone = $2, id_number_index = NULL WHERE id = $3")
                .bind(&id)
                .bind("13912345678")
                .bind(learner_id)
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            assert_eq!(srv.store.learner("r0").await.unwrap().unwrap().id_number, id);
            let store = keshi_platform::Store::connect(&db).await.unwrap();
            assert_eq!(store.learner("r0").await.unwrap().unwrap().id_number, id);
            assert_eq!(store.encrypt_plaintext().await.unwrap(), 0, "done at connect");
            let pool = sqlx::AnyPool::connect(&any_url(&db)).await.unwrap();
            let (stored,): (String,) = sqlx::query_as("SELECT id_number FROM learners")
                .fetch_one(&pool)
                .await
                .unwrap();
            assert!(stored.starts_with("v1:"));
            // Another data key is refused rather than mixed in.
            let other = dir.path().join(format!("other-{name}.key"));
            let err = keshi_platform::Store::connect_with_key(&db, Some(&other))
                .await
                .unwrap_err();
            assert!(matches!(err, keshi_platform::StoreError::WrongDataKey(_)), "{err}");
        });
        srv.kill();
    }
}

/// The URL sqlx's Any driver takes for a test database URL.
/// A learner imported without a password (issue 12) cannot sign in until they set
/// one, proving who they are with the ID number and phone on record; then they
/// sign in as anyone else, and the first-password door is shut (SQLite and
/// PostgreSQL).
#[test]
fn an_imported_learner_sets_a_first_password_with_the_id_number_and_phone() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "firstpw") {
        let (srv, db) = with_school(dir.path(), &name, &db);
        let csv = dir.path().join(format!("first-{name}.csv"));
        std::fs::write(
            &csv,
            "user,real_name,id_number,phone,class,password\nnew1,王五,11010519491231002X,13800000001,一班,\n",
        )
        .unwrap();
        let r = admin(
            &db,
            &[
                "import-learners",
                "--institution",
                "太原职校",
                csv.to_str().unwrap(),
                "--json",
            ],
        );
        assert_eq!(r["imported"], 1, "{r}");
        let key = common::DeviceKey::generate().unwrap();
        let login = |password: &str| {
            client()
                .post(format!("{}/v1/login", srv.url))
                .json(&serde_json::json!({"user": "new1", "password": password,
                    "public_key": key.public_key_hex()}))
                .send()
                .unwrap()
        };
        let r = login("");
        assert_eq!(r.status(), 403);
        assert_eq!(r.json::<Value>().unwrap()["code"], "password_not_set");
        let first = |id: &str, phone: &str| {
            client()
                .post(format!("{}/v1/password/first", srv.url))
                .json(
                    &serde_json::json!({"user": "new1", "id_number": id, "phone": phone,
                    "password": "my-new-password"}),
                )
                .send()
                .unwrap()
                .status()
                .as_u16()
        };
        assert_eq!(
            first("11010519491231002X", "13800000009"),
            401,
            "wrong phone"
        );
        assert_eq!(
            first("110105194912310011", "13800000001"),
            401,
            "wrong ID number"
        );
        assert_eq!(first("11010519491231002x", "13800000001"), 204);
        assert_eq!(login("my-new-password").status(), 200);
        assert_eq!(
            first("11010519491231002X", "13800000001"),
            401,
            "the door is shut"
        );
        let (token, _, _) = {
            admin(
                &db,
                &[
                    "create-staff",
                    "--role",
                    "operator",
                    "--scope",
                    "*",
                    "--user",
                    "op1",
                ],
            );
            sign_in(&srv.url, "op1")
        };
        let (_, trail) = get(&srv.url, &token, "/v1/staff/audit");
        assert!(
            trail["entries"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "learner.password_set"),
            "{trail}"
        );
        srv.kill();
    }
}

/// Exports (issue 13, R-AS-6, R-SV-2): each staff member exports only their scope;
/// ID numbers are masked, a name that a spreadsheet would run as a formula is
/// defused, XLSX reads back cell for cell, the settlement is refused to those who
/// do not see it, and every export is in the audit trail; the command line writes
/// the same tables (SQLite and PostgreSQL).
#[test]
fn exports_stay_in_scope_and_carry_no_whole_id_number() {
    use calamine::Reader as _;
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "export") {
        eprintln!("backend: {name}");
        let (srv, db) = with_school(dir.path(), &name, &db);
        admin(
            &db,
            &[
                "create-institution",
                "--name",
                "济南培训",
                "--region",
                "shandong/jinan",
            ],
        );
        let hostile = "=HYPERLINK(\"http://evil.example\",\"点我\")";
        for (user, inst, real) in [
            ("a1", "太原职校", hostile),
            ("a2", "太原职校", "王五"),
            ("b1", "济南培训", "赵六"),
        ] {
            admin(
                &db,
                &[
                    "create-learner",
                    "--institution",
                    inst,
                    "--user",
                    user,
                    "--real-name",
                    real,
                    "--id-number",
                    "11010519491231002X",
                ],
            );
        }
        // The summaries the service's jobs write, and one finding.
        srv.rt.block_on(async {
            let pool = sqlx::AnyPool::connect(&any_url(&db)).await.unwrap();
            for (user, credited, done, permille) in
                [("a1", 5_400_000i64, 2i64, 1000i64), ("a2", 2_700_000, 1, 500), ("b1", 0, 0, 0)]
            {
                sqlx::query(
                    "INSERT INTO course_results(learner_id, course, level, credited_ms, class_hours_completed, \
                     class_hours_planned, attendance_permille, score, qualified, at_risk, confirmed_flags, computed_ms) \
                     SELECT id, 'c1', 'junior', $2, $3, 2, $4, 80, $5, $6, 0, 1796140800000 FROM learners WHERE username = $1",
                )
                .bind(user)
                .bind(credited)
                .bind(done)
                .bind(permille)
                .bind(i64::from(permille >= 800))
                .bind(i64::from(permille < 800))
                .execute(&pool)
                .await
                .unwrap();
            }
            sqlx::query(
                "INSERT INTO findings(id, rules_version, rule, severity, learner_id, course, dedupe, observed, \
                 limit_value, clause, evidence, affected_ms, status, created_ms) \
                 SELECT 'f1', 'farming-rules/1', 'night_study', 'medium', id, 'c1', 'd', '02:10', '06:00-23:00', \
                 'shanxi.study_window_hours', '[]', 600000, 'open', 1796140800000 FROM learners WHERE username = 'a2'",
            )
            .execute(&pool)
            .await
            .unwrap();
        });
        for (user, role, scope) in [
            ("op", "operator", "*"),
            ("school-a", "institution", "太原职校"),
        ] {
            admin(
                &db,
                &[
                    "create-staff",
                    "--role",
                    role,
                    "--scope",
                    scope,
                    "--user",
                    user,
                ],
            );
        }
        let fetch = |token: &str, path: &str| {
            let r = client()
                .get(format!("{}{path}", srv.url))
                .bearer_auth(token)
                .send()
                .unwrap();
            let status = r.status().as_u16();
            let kind = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (status, kind, r.bytes().unwrap().to_vec())
        };
        let csv_rows = |bytes: &[u8]| -> Vec<Vec<String>> {
            let text = std::str::from_utf8(bytes).unwrap();
            let text = text.strip_prefix('\u{feff}').expect("a byte-order mark");
            csv::Reader::from_reader(text.as_bytes())
                .records()
                .map(|r| r.unwrap().iter().map(str::to_owned).collect())
                .collect()
        };
        let (school, _, _) = sign_in(&srv.url, "school-a");
        let (s, kind, body) = fetch(&school, "/v1/staff/exports/learners?format=csv");
        assert_eq!(s, 200);
        assert!(kind.starts_with("text/csv"), "{kind}");
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(text.starts_with("\u{feff}机构 institution,班级 class,账号 user,姓名 real_name,身份证号 id_number_masked"), "{text}");
        assert!(
            !text.contains("11010519491231002X"),
            "a whole ID number left the platform"
        );
        let rows = csv_rows(&body);
        let users: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
        assert_eq!(
            users,
            ["a1", "a2"],
            "the school exports its own learners only"
        );
        assert_eq!(rows[0][3], format!("'{hostile}"), "a formula is defused");
        assert_eq!(rows[1][4], "110105********002X");
        // XLSX: the same table, typed cells, read back.
        let (s, kind, body) = fetch(&school, "/v1/staff/exports/hours?format=xlsx");
        assert_eq!(s, 200);
        assert!(kind.contains("spreadsheetml"), "{kind}");
        let mut book = calamine::Xlsx::new(std::io::Cursor::new(body)).unwrap();
        let sheet = book.worksheet_range("hours").unwrap();
        let cells: Vec<Vec<String>> = sheet
            .rows()
            .map(|r| r.iter().map(ToString::to_string).collect())
            .collect();
        assert_eq!(cells.len(), 3, "header and two learners: {cells:?}");
        assert_eq!(cells[0][6], "有效学习秒数 credited_seconds");
        assert_eq!(cells[1][2], "a1");
        assert_eq!(
            cells[1][3], hostile,
            "an XLSX cell is text, never a formula"
        );
        assert_eq!(
            (cells[1][6].as_str(), cells[2][6].as_str()),
            ("5400", "2700")
        );
        assert_eq!(cells[1][9], "2026-12-02 00:00:00");
        let (s, _, _) = fetch(&school, "/v1/staff/exports/settlement?quarter=2026Q4");
        assert_eq!(s, 403, "an institution does not export the settlement");
        // The operator: everything, one course, the findings.
        let (op, _, _) = sign_in(&srv.url, "op");
        let (s, _, body) = fetch(&op, "/v1/staff/exports/attendance?course=c1");
        assert_eq!(s, 200);
        let rows = csv_rows(&body);
        let got: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|r| (r[2].as_str(), r[5].as_str(), r[7].as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("a1", "1.000", "1"),
                ("a2", "0.500", "0"),
                ("b1", "0.000", "0")
            ]
        );
        let (s, _, body) = fetch(&op, "/v1/staff/exports/flags");
        assert_eq!(s, 200);
        let rows = csv_rows(&body);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (
                rows[0][2].as_str(),
                rows[0][5].as_str(),
                rows[0][13].as_str()
            ),
            ("a2", "night_study", "600")
        );
        let (s, _, body) = fetch(
            &op,
            "/v1/staff/exports/settlement?quarter=2026Q4&format=xlsx",
        );
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
        for (path, status) in [
            ("/v1/staff/exports/passwords", 404),
            ("/v1/staff/exports/learners?format=xls", 400),
            ("/v1/staff/exports/settlement", 400),
            ("/v1/staff/exports/settlement?quarter=2026Q5", 400),
        ] {
            assert_eq!(fetch(&op, path).0, status, "{path}");
        }
        let (_, trail) = get(&srv.url, &op, "/v1/staff/audit");
        let exports: Vec<(&str, &str)> = trail["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"].as_str().unwrap().starts_with("export."))
            .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap()))
            .collect();
        assert!(
            exports.contains(&("staff:school-a", "export.learners")),
            "{exports:?}"
        );
        assert!(
            exports.contains(&("staff:op", "export.flags")),
            "{exports:?}"
        );
        assert!(!exports.iter().any(|e| e.1 == "export.passwords"));
        // The command line: the whole platform, or one institution; XLSX by extension.
        let out = dir.path().join(format!("learners-{name}.xlsx"));
        let v = admin(
            &db,
            &[
                "export",
                "--table",
                "learners",
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert_eq!(v["rows"], 3);
        let mut book: calamine::Xlsx<_> = calamine::open_workbook(&out).unwrap();
        assert_eq!(book.worksheet_range("learners").unwrap().rows().count(), 4);
        let out = dir.path().join(format!("jinan-{name}.csv"));
        let v = admin(
            &db,
            &[
                "export",
                "--table",
                "hours",
                "--scope",
                "济南培训",
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert_eq!(v["rows"], 1);
        let rows = csv_rows(&std::fs::read(&out).unwrap());
        assert_eq!(rows[0][2], "b1");
        let bad = std::process::Command::new(env!("CARGO_BIN_EXE_keshi-platform"))
            .args(["admin", "export", "--table", "hours", "--db", &db, "--out"])
            .arg(dir.path().join("hours.txt"))
            .output()
            .unwrap();
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("--format csv|xlsx"));
        srv.kill();
    }
}

/// The bi-weekly district report (issue 13, R-SV-7): per district in the caller's
/// scope, registered learners and online training person-times (unfinished
/// included) by the report date and in the period since the previous report date
/// (the 12th → since the 25th before), citing a signed checkpoint.
#[test]
fn the_district_report_counts_learners_and_person_times_per_district() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "district") {
        eprintln!("backend: {name}");
        let (srv, db) = with_school(dir.path(), &name, &db);
        admin(
            &db,
            &[
                "create-institution",
                "--name",
                "大同技校",
                "--region",
                "shanxi/datong",
            ],
        );
        admin(
            &db,
            &[
                "create-institution",
                "--name",
                "济南培训",
                "--region",
                "shandong/jinan",
            ],
        );
        // 2026-11-25 00:00 China time, the previous report date: the report of 12-12
        // covers 11-26 to 12-12.
        let nov25 = 1_795_536_000_000i64;
        let day = 86_400_000i64;
        // learner, institution, registered, credited study (course, start) …
        type Person<'a> = (&'a str, &'a str, i64, &'a [(&'a str, i64)]);
        let people: &[Person] = &[
            (
                "t1",
                "太原职校",
                nov25 - 30 * day,
                &[("c1", nov25 - 20 * day), ("c1", nov25 + day)],
            ),
            (
                "t2",
                "太原职校",
                nov25 + 2 * day,
                &[("c1", nov25 + 3 * day), ("c2", nov25 + 4 * day)],
            ),
            (
                "t3",
                "太原职校",
                nov25 + 20 * day,
                &[("c1", nov25 + 20 * day)],
            ), // after the date
            (
                "d1",
                "大同技校",
                nov25 - 40 * day,
                &[("c1", nov25 - 39 * day)],
            ),
            ("j1", "济南培训", nov25, &[("c1", nov25)]),
        ];
        srv.rt.block_on(async {
            let pool = sqlx::AnyPool::connect(&any_url(&db)).await.unwrap();
            for (k, (user, inst, registered, study)) in people.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO learners(id, institution_id, username, real_name, id_number, password_hash, created_ms) \
                     SELECT $1, id, $1, $1, 'x', 'x', $3 FROM institutions WHERE name = $2",
                )
                .bind(*user)
                .bind(*inst)
                .bind(*registered)
                .execute(&pool)
                .await
                .unwrap();
                for (s, (course, start)) in study.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO credit_intervals(device_id, seq, learner_id, course, start_ms, end_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(format!("dev{k}"))
                    .bind(s as i64)
                    .bind(*user)
                    .bind(*course)
                    .bind(*start)
                    .bind(*start + 2_700_000)
                    .execute(&pool)
                    .await
                    .unwrap();
                }
            }
        });
        // Simulated study (a demo device) is never a person-time.
        srv.rt.block_on(async {
            let pool = sqlx::AnyPool::connect(&any_url(&db)).await.unwrap();
            for statement in [
                "INSERT INTO devices(device_id, learner_id, public_key, enrolled_ms, head_seq, head_hash, simulated) \
                 VALUES ('sim0', 't1', 'pk-sim0', 0, 0, '', 1)",
                "INSERT INTO credit_intervals(device_id, seq, learner_id, course, start_ms, end_ms) \
                 VALUES ('sim0', 1, 't1', 'c3', 1795622400000, 1795625100000)",
            ] {
                sqlx::query(statement).execute(&pool).await.unwrap();
            }
        });
        let v = admin(&db, &["district-report", "--date", "2026-12-12", "--json"]);
        assert_eq!(
            (v["period_from"].as_str(), v["period_to"].as_str()),
            (Some("2026-11-26"), Some("2026-12-12"))
        );
        assert!(v["checkpoint"]["signature"].is_string());
        let line = |v: &Value, d: &str| {
            let l = v["lines"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["district"] == d)
                .cloned()
                .unwrap();
            (
                l["registered_learners"].as_u64().unwrap(),
                l["registered_in_period"].as_u64().unwrap(),
                l["person_times"].as_u64().unwrap(),
                l["person_times_in_period"].as_u64().unwrap(),
            )
        };
        assert_eq!(line(&v, "shanxi/taiyuan"), (2, 1, 3, 3), "{v}");
        assert_eq!(line(&v, "shanxi/datong"), (1, 0, 1, 0), "{v}");
        assert_eq!(line(&v, "shandong/jinan"), (1, 0, 1, 0), "{v}");
        // A labour authority of Shanxi sees its own districts only; an institution
        // does not get the report.
        admin(
            &db,
            &[
                "create-staff",
                "--role",
                "authority",
                "--scope",
                "shanxi",
                "--user",
                "sx",
            ],
        );
        admin(
            &db,
            &[
                "create-staff",
                "--role",
                "institution",
                "--scope",
                "太原职校",
                "--user",
                "school",
            ],
        );
        let (sx, _, _) = sign_in(&srv.url, "sx");
        let (s, r) = get(&srv.url, &sx, "/v1/staff/district-report?date=2026-12-12");
        assert_eq!(s, 200, "{r}");
        let districts: Vec<&str> = r["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["district"].as_str().unwrap())
            .collect();
        assert_eq!(districts, ["shanxi/datong", "shanxi/taiyuan"]);
        assert_eq!(r["lines"][1]["platforms"][0], "课时 Keshi");
        assert_eq!(
            get(&srv.url, &sx, "/v1/staff/district-report?date=2026-02-30").0,
            400
        );
        let (school, _, _) = sign_in(&srv.url, "school");
        assert_eq!(
            get(
                &srv.url,
                &school,
                "/v1/staff/district-report?date=2026-12-12"
            )
            .0,
            403
        );
        srv.kill();
    }
}

/// Training plans (issue 13, R-SV-8): a Shandong course's online class hours may be
/// at most 40% of the plan's total — a plan above it is refused at creation with
/// the clause cited and the smallest total that would do; a Shanxi course has no
/// such cap; plans are filed in scope only and audit-logged (SQLite and PostgreSQL).
#[test]
fn a_plan_above_the_online_share_is_refused_citing_the_clause() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "plans") {
        eprintln!("backend: {name}");
        let (srv, db) = with_school(dir.path(), &name, &db);
        let publish = |id: &str, profile: &str| {
            let mut course = keshi_protocol::demo::course(8);
            course["id"] = id.into();
            let manifest = dir.path().join(format!("{id}-{name}.json"));
            std::fs::write(&manifest, course.to_string()).unwrap();
            srv.publish(&manifest, profile);
        };
        publish("sd-welder", "shandong");
        publish("sx-welder", "shanxi");
        admin(
            &db,
            &[
                "create-staff",
                "--role",
                "institution",
                "--scope",
                "Test School",
                "--user",
                "school",
            ],
        );
        admin(
            &db,
            &[
                "create-staff",
                "--role",
                "institution",
                "--scope",
                "太原职校",
                "--user",
                "other",
            ],
        );
        admin(
            &db,
            &[
                "create-staff",
                "--role",
                "auditor",
                "--scope",
                "shanxi",
                "--user",
                "aud",
            ],
        );
        admin(
            &db,
            &[
                "create-staff",
                "--role",
                "operator",
                "--scope",
                "*",
                "--user",
                "op",
            ],
        );
        // `*` is the operator's scope: an auditor's names a region.
        let refused = std::process::Command::new(env!("CARGO_BIN_EXE_keshi-platform"))
            .args([
                "admin",
                "create-staff",
                "--role",
                "auditor",
                "--scope",
                "*",
                "--user",
                "aud2",
                "--db",
                &db,
            ])
            .env("KESHI_PASSWORD", PASSWORD)
            .output()
            .unwrap();
        assert!(!refused.status.success());
        let post = |token: &str, csrf: &str, body: Value| {
            let r = client()
                .post(format!("{}/v1/staff/plans", srv.url))
                .bearer_auth(token)
                .header("x-csrf-token", csrf)
                .json(&body)
                .send()
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().unwrap_or(Value::Null),
            )
        };
        let (school, csrf, _) = sign_in(&srv.url, "school");
        let (s, v) = post(
            &school,
            &csrf,
            serde_json::json!({"course": "sd-welder", "total_class_hours": 16}),
        );
        assert_eq!(s, 422, "{v}");
        assert_eq!(v["code"], "online_share_exceeded");
        let msg = v["message"].as_str().unwrap();
        assert!(
            msg.contains("鲁人社字〔2020〕72号")
                && msg.contains("40%")
                && msg.contains("at least 20"),
            "{msg}"
        );
        let (s, v) = post(
            &school,
            &csrf,
            serde_json::json!({"course": "sd-welder", "total_class_hours": 20}),
        );
        assert_eq!(s, 200, "{v}");
        assert_eq!(
            (v["online_class_hours"].as_u64(), v["online_share"].as_f64()),
            (Some(8), Some(0.4))
        );
        let (s, v) = post(
            &school,
            &csrf,
            serde_json::json!({"course": "sx-welder", "total_class_hours": 8}),
        );
        assert_eq!(s, 200, "no cap in Shanxi: {v}");
        assert!(v["online_share_max"].is_null());
        let (s, _) = post(
            &school,
            &csrf,
            serde_json::json!({"course": "sx-welder", "total_class_hours": 7}),
        );
        assert_eq!(s, 400, "a total below the online part");
        // Another institution's staff cannot file it; an auditor reads, never files.
        let (other, other_csrf, _) = sign_in(&srv.url, "other");
        let (s, _) = post(
            &other,
            &other_csrf,
            serde_json::json!({"course": "sd-welder", "total_class_hours": 30}),
        );
        assert_eq!(s, 404);
        let (aud, aud_csrf, _) = sign_in(&srv.url, "aud");
        let (s, _) = post(
            &aud,
            &aud_csrf,
            serde_json::json!({"course": "sd-welder", "total_class_hours": 30}),
        );
        assert_eq!(s, 403);
        let (op, _, _) = sign_in(&srv.url, "op");
        let (s, v) = get(&srv.url, &op, "/v1/staff/plans");
        assert_eq!(s, 200);
        let filed: Vec<(&str, u64)> = v["plans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["course"].as_str().unwrap(),
                    p["total_class_hours"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(filed, [("sd-welder", 20), ("sx-welder", 8)]);
        assert_eq!(
            get(&srv.url, &other, "/v1/staff/plans").1["plans"],
            serde_json::json!([])
        );
        // The command line refuses the same way.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_keshi-platform"))
            .args([
                "admin",
                "plan",
                "--db",
                &db,
                "--course",
                "sd-welder",
                "--total-class-hours",
                "12",
            ])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("R-SV-8"));
        let (_, trail) = get(&srv.url, &op, "/v1/staff/audit");
        let filed = trail["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "plan.file")
            .count();
        assert_eq!(filed, 2, "refused plans are not filed");
        srv.kill();
    }
}

/// Spot checks through the staff API (issue 13, R-SV-6): a labour authority draws
/// within its region only; institutions and auditors do not draw; a check is seen
/// only by staff whose scope holds it; an abnormal result needs a note and removes
/// the learner's subsidy (SQLite and PostgreSQL).
#[test]
fn spot_checks_are_drawn_and_recorded_within_the_scope() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "spot") {
        eprintln!("backend: {name}");
        let (srv, db) = with_school(dir.path(), &name, &db);
        admin(
            &db,
            &[
                "create-institution",
                "--name",
                "济南培训",
                "--region",
                "shandong/jinan",
            ],
        );
        for (user, inst) in [
            ("a1", "太原职校"),
            ("a2", "太原职校"),
            ("a3", "太原职校"),
            ("b1", "济南培训"),
        ] {
            admin(
                &db,
                &[
                    "create-learner",
                    "--institution",
                    inst,
                    "--user",
                    user,
                    "--real-name",
                    "王五",
                    "--id-number",
                    "11010519491231002X",
                ],
            );
        }
        for (user, role, scope) in [
            ("sx", "authority", "shanxi"),
            ("sx-audit", "auditor", "shanxi"),
            ("school", "institution", "太原职校"),
            ("jinan", "institution", "济南培训"),
        ] {
            admin(
                &db,
                &[
                    "create-staff",
                    "--role",
                    role,
                    "--scope",
                    scope,
                    "--user",
                    user,
                ],
            );
        }
        let post = |token: &str, path: &str, body: Value| {
            let r = client()
                .post(format!("{}{path}", srv.url))
                .bearer_auth(token)
                .json(&body)
                .send()
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().unwrap_or(Value::Null),
            )
        };
        // Today (China time): a check is drawn on its own day.
        let today = keshi_platform::calendar::day_label(keshi_platform::calendar::day_of(now_ms()));
        let draw = serde_json::json!({"scope": "太原职校", "date": today, "size": 2});
        let yesterday =
            keshi_platform::calendar::day_label(keshi_platform::calendar::day_of(now_ms()) - 1);
        let (sx0, _, _) = sign_in(&srv.url, "sx");
        let backdated = serde_json::json!({"scope": "太原职校", "date": yesterday, "size": 2});
        assert_eq!(
            post(&sx0, "/v1/staff/spot-checks", backdated).0,
            400,
            "a date of one's choosing"
        );
        let (sx, _, _) = sign_in(&srv.url, "sx");
        let (s, check) = post(&sx, "/v1/staff/spot-checks", draw.clone());
        assert_eq!(s, 200, "{check}");
        let id = check["id"].as_str().unwrap().to_owned();
        let sample: Vec<String> = check["sample"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(sample.len(), 2);
        assert!(sample.iter().all(|u| u.starts_with('a')), "{sample:?}");
        assert_eq!(
            post(&sx, "/v1/staff/spot-checks", draw.clone()).1["id"],
            id.as_str(),
            "the same day answers the same check"
        );
        // One scope, one draw a day, however it is spelt.
        let region = |spelling: &str| {
            post(
                &sx,
                "/v1/staff/spot-checks",
                serde_json::json!({"scope": spelling, "date": today, "size": 2}),
            )
            .1["id"]
                .clone()
        };
        let a = region("shanxi/taiyuan");
        assert!(a.is_string());
        assert_eq!(region(" Shanxi / Taiyuan/ "), a);
        let outside = serde_json::json!({"scope": "济南培训", "date": today, "size": 2});
        assert_eq!(post(&sx, "/v1/staff/spot-checks", outside).0, 403);
        let everything = serde_json::json!({"scope": "*", "date": today, "size": 2});
        assert_eq!(post(&sx, "/v1/staff/spot-checks", everything).0, 403);
        for who in ["sx-audit", "school"] {
            let (token, _, _) = sign_in(&srv.url, who);
            assert_eq!(
                post(&token, "/v1/staff/spot-checks", draw.clone()).0,
                403,
                "{who} draws"
            );
            let (s, list) = get(&srv.url, &token, "/v1/staff/spot-checks");
            assert_eq!(s, 200);
            assert!(
                list["checks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["id"] == id.as_str()),
                "{who} reads it: {list}"
            );
        }
        let (jinan, _, _) = sign_in(&srv.url, "jinan");
        assert_eq!(
            get(&srv.url, &jinan, "/v1/staff/spot-checks").1["checks"],
            serde_json::json!([])
        );
        assert_eq!(
            get(&srv.url, &jinan, &format!("/v1/staff/spot-checks/{id}")).0,
            404
        );
        // Record: abnormal needs a note; a learner outside the sample is refused.
        let results = format!("/v1/staff/spot-checks/{id}/results");
        let abnormal = |note: &str, who: &str| serde_json::json!({"learner": who, "method": "video", "result": "abnormal", "note": note});
        assert_eq!(post(&sx, &results, abnormal("", &sample[0])).0, 400);
        assert_eq!(post(&sx, &results, abnormal("非本人", "b1")).0, 404);
        let (s, after) = post(&sx, &results, abnormal("视频核查时非本人", &sample[0]));
        assert_eq!(s, 200, "{after}");
        assert_eq!(after["checks"][0]["result"], "abnormal");
        // Recorded once: recording the same learner again is refused.
        let again = serde_json::json!({"learner": sample[0], "method": "phone", "result": "normal", "note": ""});
        assert_eq!(post(&sx, &results, again).0, 409);
        assert_eq!(after["checks"][0]["recorder"], "staff:sx");
        let (_, list) = get(&srv.url, &sx, "/v1/staff/spot-checks");
        let listed = list["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id.as_str())
            .unwrap();
        assert_eq!(
            (listed["checked"].as_u64(), listed["abnormal"].as_u64()),
            (Some(1), Some(1))
        );
        let (_, flags) = get(
            &srv.url,
            &sx,
            &format!("/v1/staff/flags?learner={}", sample[0]),
        );
        let rules: Vec<(&str, &str)> = flags["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["rule"].as_str().unwrap(), f["status"].as_str().unwrap()))
            .collect();
        assert_eq!(rules, [("spot_check", "confirmed")]);
        srv.kill();
    }
}

/// Where a certificate stands for the public check (issue 13, R-AS-6): issued, then
/// withdrawn once a finding against its course is confirmed; a demo certificate is
/// simulated; a serial the platform never recorded is unknown.
#[test]
fn a_certificate_stands_until_a_finding_against_it_is_confirmed() {
    use keshi_platform::verify::{standing, Standing};
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "standing") {
        let (srv, db) = with_school(dir.path(), &name, &db);
        admin(
            &db,
            &[
                "create-learner",
                "--institution",
                "太原职校",
                "--user",
                "a1",
                "--real-name",
                "王五",
                "--id-number",
                "11010519491231002X",
            ],
        );
        let sql = |statement: &str| {
            srv.rt.block_on(async {
                let pool = sqlx::AnyPool::connect(&any_url(&db)).await.unwrap();
                sqlx::query(statement).execute(&pool).await.unwrap();
            })
        };
        for (serial, course, simulated) in [("KC-1", "c1", 0), ("SIM-KC-2", "c2", 1)] {
            sql(&format!(
                "INSERT INTO certificates(serial, learner_id, course, level, class_hours, score, issued_ms, \
                 checkpoint_size, statement, simulated) SELECT '{serial}', id, '{course}', 'junior', 80, 90, 0, 1, '{{}}', \
                 {simulated} FROM learners WHERE username = 'a1'"
            ));
        }
        let st = |serial: &str| srv.rt.block_on(standing(&srv.store, serial)).unwrap();
        assert_eq!(
            (st("KC-1"), st("SIM-KC-2"), st("KC-404")),
            (Standing::Issued, Standing::Simulated, Standing::Unknown)
        );
        // A finding against another course leaves it standing; one against its own
        // (or against all courses, as an abnormal spot check) withdraws it.
        let finding = |id: &str, course: &str, status: &str| {
            format!(
                "INSERT INTO findings(id, rules_version, rule, severity, learner_id, course, dedupe, observed, limit_value, \
                 clause, evidence, affected_ms, status, created_ms) SELECT '{id}', 'farming-rules/1', 'night_study', 'medium', \
                 id, {course}, '{id}', 'x', 'y', 'z', '[]', 0, '{status}', 0 FROM learners WHERE username = 'a1'"
            )
        };
        sql(&finding("f1", "'c9'", "confirmed"));
        sql(&finding("f2", "'c1'", "open"));
        assert_eq!(st("KC-1"), Standing::Issued);
        sql(&finding("f3", "'c1'", "confirmed"));
        assert_eq!(st("KC-1"), Standing::Withdrawn);
        srv.kill();
    }
}
