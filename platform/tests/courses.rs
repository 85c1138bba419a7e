//! Publishing and enrolment (issue 12): `keshi-platform admin publish-course` and
//! `admin enrol` (the contract scripts use), and the staff API the console uses —
//! media uploaded in resumable chunks and checked, versions immutable, a course
//! id owned by its institution, enrolment within scope — on SQLite and PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

mod common;

use common::{backends, client, Server};
use keshi_platform::Config;
use serde_json::{json, Value};

const PASSWORD: &str = "staff-password-1";

fn admin_out(db: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_keshi-platform"))
        .arg("admin")
        .args(args)
        .args(["--db", db])
        .env("KESHI_PASSWORD", PASSWORD)
        .output()
        .unwrap()
}

fn admin(db: &str, args: &[&str]) -> Value {
    let out = admin_out(db, args);
    assert!(
        out.status.success(),
        "admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("null")).unwrap_or(Value::Null)
}

fn sign_in(url: &str, user: &str) -> String {
    let r = client()
        .post(format!("{url}/v1/staff/login"))
        .json(&json!({"user": user, "password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{user}");
    r.json::<Value>().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn call(method: &str, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let c = client();
    let mut r = match method {
        "GET" => c.get(url),
        "POST" => c.post(url),
        _ => unreachable!(),
    }
    .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().unwrap();
    let s = r.status().as_u16();
    (s, r.json().unwrap_or(Value::Null))
}

fn put(url: &str, token: &str, bytes: &[u8]) -> (u16, Value) {
    let r = client()
        .put(url)
        .bearer_auth(token)
        .body(bytes.to_vec())
        .send()
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().unwrap_or(Value::Null))
}

/// A one-class-hour manifest whose lessons are the given files.
fn manifest(id: &str, media: &[(String, Vec<u8>)]) -> Value {
    let mut m = keshi_protocol::demo::course(1);
    m["id"] = json!(id);
    for (l, (rel, bytes)) in m["lessons"].as_array_mut().unwrap().iter_mut().zip(media) {
        l["media"]["path"] = json!(rel);
        l["media"]["sha256"] = json!(keshi_protocol::ids::Hash::of(bytes).to_hex());
    }
    m
}

fn media(n: usize, seed: u8) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let bytes: Vec<u8> = (0..300_000u32)
                .map(|j| (j.wrapping_mul(31) as u8) ^ seed ^ (i as u8))
                .collect();
            (format!("media/l{i}.mp4"), bytes)
        })
        .collect()
}

#[test]
fn courses_are_published_from_checked_chunks_and_enrolled_within_scope() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "courses") {
        eprintln!("backend: {name}");
        let blobs = dir.path().join(format!("b-{name}"));
        let srv = Server::start(&db, Config::default(), &blobs);
        let url = srv.url.clone();
        for (inst, region) in [
            ("太原职校", "shanxi/taiyuan"),
            ("济南培训", "shandong/jinan"),
        ] {
            admin(
                &db,
                &["create-institution", "--name", inst, "--region", region],
            );
        }
        let id_number = |k: u32| {
            let base = format!("3201061990030{:04}", 1000 + k);
            let check = keshi_platform::import::id_check_character(&base).unwrap();
            format!("{base}{check}")
        };
        for (k, (user, inst, class)) in [
            ("a1", "太原职校", "电工1班"),
            ("a2", "太原职校", "电工1班"),
            ("a3", "太原职校", "焊工2班"),
            ("b1", "济南培训", "电工1班"),
        ]
        .into_iter()
        .enumerate()
        {
            let csv = dir.path().join(format!("{name}-{user}.csv"));
            std::fs::write(
                &csv,
                format!(
                    "user,real_name,id_number,phone,class,password\n{user},王五,{},1380000000{k},{class},password-{k}x\n",
                    id_number(k as u32)
                ),
            )
            .unwrap();
            let r = admin(
                &db,
                &[
                    "import-learners",
                    "--institution",
                    inst,
                    csv.to_str().unwrap(),
                    "--json",
                ],
            );
            assert_eq!(r["imported"], 1, "{r}");
        }
        for (user, role, scope) in [
            ("school-a", "institution", "太原职校"),
            ("firm-b", "enterprise", "济南培训"),
            ("sx", "authority", "shanxi"),
            ("audit", "auditor", "shanxi"),
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

        // The command line: publish with media from a folder, again (same version),
        // enrol by learner and by class.
        let files = media(2, 1);
        let mdir = dir.path().join(format!("m-{name}"));
        for (rel, bytes) in &files {
            std::fs::create_dir_all(mdir.join(rel).parent().unwrap()).unwrap();
            std::fs::write(mdir.join(rel), bytes).unwrap();
        }
        let mpath = mdir.join("course.json");
        std::fs::write(&mpath, manifest("cli-course", &files).to_string()).unwrap();
        let blob_arg = blobs.to_str().unwrap().to_owned();
        let publish = [
            "publish-course",
            "--institution",
            "太原职校",
            "--manifest",
            mpath.to_str().unwrap(),
            "--media",
            mdir.to_str().unwrap(),
            "--blobs",
            &blob_arg,
            "--json",
        ];
        assert_eq!(
            admin(&db, &publish),
            json!({"course_id": "cli-course", "version": 1})
        );
        assert_eq!(
            admin(&db, &publish),
            json!({"course_id": "cli-course", "version": 1})
        );
        let r = admin(
            &db,
            &[
                "enrol",
                "--course",
                "cli-course",
                "--learner",
                "a1",
                "--json",
            ],
        );
        assert_eq!(r["enrolled"], 1);
        let r = admin(
            &db,
            &[
                "enrol",
                "--course",
                "cli-course",
                "--class",
                "电工1班",
                "--json",
            ],
        );
        assert_eq!(
            (r["enrolled"].as_u64(), r["already"].as_u64()),
            (Some(1), Some(1)),
            "{r}"
        );
        // Another institution's learner is unknown to the course: nobody enrolled.
        let out = admin_out(
            &db,
            &["enrol", "--course", "cli-course", "--learner", "a3", "b1"],
        );
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("b1"));
        // A file that does not match the manifest is refused before anything is kept.
        let bad = mdir.join("bad.json");
        let mut m = manifest("bad-course", &files);
        m["lessons"][0]["media"]["sha256"] = json!("00".repeat(32));
        std::fs::write(&bad, m.to_string()).unwrap();
        let out = admin_out(
            &db,
            &[
                "publish-course",
                "--institution",
                "太原职校",
                "--manifest",
                bad.to_str().unwrap(),
                "--media",
                mdir.to_str().unwrap(),
                "--blobs",
                &blob_arg,
                "--json",
            ],
        );
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("SHA-256"));

        // The staff API: chunks, a wrong offset, a corrupt upload, then publish.
        let a = sign_in(&url, "school-a");
        let files = media(2, 7);
        for (_, bytes) in &files {
            let sha = keshi_protocol::ids::Hash::of(bytes).to_hex();
            let base = format!("{url}/v1/staff/media/{sha}");
            let total = bytes.len();
            let (s, v) = put(
                &format!("{base}?offset=0&total={total}"),
                &a,
                &bytes[..100_000],
            );
            assert_eq!((s, v["received"].as_u64()), (200, Some(100_000)), "{v}");
            let (s, v) = put(&format!("{base}?offset=5&total={total}"), &a, &bytes[5..10]);
            assert_eq!((s, v["code"].as_str()), (409, Some("upload_offset")), "{v}");
            let (s, v) = call("GET", &base, &a, None);
            assert_eq!(
                (s, v["received"].as_u64(), v["complete"].as_bool()),
                (200, Some(100_000), Some(false))
            );
            let (s, v) = put(
                &format!("{base}?offset=100000&total={total}"),
                &a,
                &bytes[100_000..],
            );
            assert_eq!((s, v["complete"].as_bool()), (200, Some(true)), "{v}");
        }
        let lie = vec![9u8; 1000];
        let sha = keshi_protocol::ids::Hash::of(b"something else").to_hex();
        let (s, v) = put(
            &format!("{url}/v1/staff/media/{sha}?offset=0&total=1000"),
            &a,
            &lie,
        );
        assert_eq!(
            (s, v["code"].as_str()),
            (422, Some("media_hash_mismatch")),
            "{v}"
        );
        let (_, v) = call("GET", &format!("{url}/v1/staff/media/{sha}"), &a, None);
        assert_eq!(v["received"], 0, "a corrupt upload was kept");

        let m = manifest("api-course", &files);
        let body = json!({"manifest": m, "profile": "shanxi"});
        let (s, v) = call(
            "POST",
            &format!("{url}/v1/staff/courses"),
            &a,
            Some(body.clone()),
        );
        assert_eq!(
            (s, &v),
            (200, &json!({"course_id": "api-course", "version": 1}))
        );
        // A manifest naming media never uploaded is refused.
        let (s, v) = call(
            "POST",
            &format!("{url}/v1/staff/courses"),
            &a,
            Some(json!({"manifest": manifest("other", &media(2, 99)), "profile": "shanxi"})),
        );
        assert_eq!((s, v["code"].as_str()), (422, Some("media_missing")), "{v}");
        // A learner's capture photo is never course media, even named by its hash.
        let key = common::DeviceKey::generate().unwrap();
        let lease = common::login(&url, "a1", "password-0x", &key);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend((0..3000u32).map(|i| (i * 13) as u8));
        let photo = keshi_protocol::ids::Hash::of(&png).to_hex();
        let r = client()
            .put(format!("{url}/v1/captures/{photo}"))
            .bearer_auth(&lease.token)
            .header("content-type", "image/png")
            .body(png.clone())
            .send()
            .unwrap();
        assert!(r.status().is_success());
        let mut stolen = manifest("photo-course", &files);
        stolen["lessons"][0]["media"]["sha256"] = json!(photo);
        let (s, v) = call(
            "POST",
            &format!("{url}/v1/staff/courses"),
            &a,
            Some(json!({"manifest": stolen, "profile": "shanxi"})),
        );
        assert_eq!((s, v["code"].as_str()), (422, Some("media_missing")), "{v}");
        // Once a learner started a course, its version is fixed.
        let start = keshi_protocol::record::seal(
            &key,
            None,
            &keshi_protocol::record::NewRecord::new(
                "session_start",
                json!({"session": 1, "course": "cli-course", "profile": "shanxi",
                    "class_hours": 1, "course_ms": 2_700_000}),
                common::now_ms(),
                1,
            ),
        )
        .unwrap();
        assert_eq!(
            common::push(&url, &lease.token, common::wire(&[start])).0,
            200
        );
        let mut changed = manifest("cli-course", &media(2, 1));
        changed["title"] = json!("电工安全（改）");
        let (s, v) = call(
            "POST",
            &format!("{url}/v1/staff/courses"),
            &a,
            Some(json!({"manifest": changed, "profile": "shanxi"})),
        );
        assert_eq!(
            (s, v["code"].as_str()),
            (409, Some("invalid_course")),
            "{v}"
        );
        // Another institution cannot publish over a course id it does not own.
        let b = sign_in(&url, "firm-b");
        for (_, bytes) in &files {
            let sha = keshi_protocol::ids::Hash::of(bytes).to_hex();
            let (s, _) = call("GET", &format!("{url}/v1/staff/media/{sha}"), &b, None);
            assert_eq!(s, 200);
        }
        let mut m2 = m.clone();
        m2["title"] = json!("Taken over");
        let (s, v) = call(
            "POST",
            &format!("{url}/v1/staff/courses"),
            &b,
            Some(json!({"manifest": m2, "profile": "shanxi"})),
        );
        assert_eq!((s, v["code"].as_str()), (403, Some("forbidden")), "{v}");
        // A change makes a new version; the old one stays.
        let mut m3 = m.clone();
        m3["title"] = json!("电工安全（第二版）");
        let (s, v) = call(
            "POST",
            &format!("{url}/v1/staff/courses"),
            &a,
            Some(json!({"manifest": m3, "profile": "shanxi"})),
        );
        assert_eq!((s, v["version"].as_u64()), (200, Some(2)), "{v}");

        // Enrolment within scope.
        let enrol = |t: &str, body: Value| {
            call("POST", &format!("{url}/v1/staff/enrolments"), t, Some(body))
        };
        let (s, v) = enrol(&a, json!({"course": "api-course", "class": "电工1班"}));
        assert_eq!((s, v["enrolled"].as_u64()), (200, Some(2)), "{v}");
        let (s, _) = enrol(&b, json!({"course": "api-course", "learners": ["b1"]}));
        assert_eq!(s, 404, "another institution's course exists for firm-b");
        let sx = sign_in(&url, "sx");
        let (s, _) = enrol(&sx, json!({"course": "api-course", "learners": ["a3"]}));
        assert_eq!(s, 403);
        let audit = sign_in(&url, "audit");
        let (s, _) = enrol(&audit, json!({"course": "api-course", "learners": ["a3"]}));
        assert_eq!(s, 403);
        let (s, _) = call(
            "POST",
            &format!("{url}/v1/staff/courses"),
            &audit,
            Some(body),
        );
        assert_eq!(s, 403);

        // Who sees which course.
        let ids = |t: &str| {
            let (s, v) = call("GET", &format!("{url}/v1/staff/courses"), t, None);
            assert_eq!(s, 200);
            v["courses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["id"].as_str().unwrap().to_owned(),
                        c["enrolled"].as_u64().unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let seen = vec![("api-course".to_owned(), 2), ("cli-course".to_owned(), 2)];
        assert_eq!(ids(&a), seen);
        assert_eq!(ids(&sx), seen);
        assert!(ids(&b).is_empty());

        // The audit trail holds the publications and enrolments.
        let (_, v) = call("GET", &format!("{url}/v1/staff/audit"), &audit, None);
        let actions: Vec<&str> = v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        assert_eq!(
            actions.iter().filter(|a| **a == "course.publish").count(),
            3,
            "{actions:?}"
        );
        assert_eq!(
            actions.iter().filter(|a| **a == "course.enrol").count(),
            3,
            "{actions:?}"
        );
        srv.kill();
    }
}
