//! The tamper-evident platform (issue 13 item 8, R-SV-4), end to end on SQLite and
//! PostgreSQL: records pushed over HTTP enter the log; `admin checkpoint` signs it;
//! the public proofs verify with the protocol's own checks; `audit --from` passes on
//! an honest database, and names the record when one is edited or deleted in the
//! database behind the platform's back.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

mod common;

use common::*;
use keshi_platform::Config;
use keshi_protocol::merkle::{self, Checkpoint};
use serde_json::Value;

fn platform(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keshi-platform"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn checkpoint(db: &str) -> Checkpoint {
    let (code, out, err) = platform(&["admin", "checkpoint", "--db", db, "--json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(out.trim()).unwrap()
}

fn audit(db: &str, from: &std::path::Path, learner: &str) -> (i32, Value) {
    let (code, out, err) = platform(&[
        "audit",
        "--db",
        db,
        "--from",
        from.to_str().unwrap(),
        "--learner",
        learner,
        "--json",
    ]);
    let v: Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("audit printed no JSON ({e}): {out} {err}"));
    (code, v)
}

fn get(url: &str) -> (u16, Value) {
    let r = client().get(url).send().unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

/// sqlx's Any URL of a test database URL.
fn sql(srv: &Server, db: &str, statement: &str) -> u64 {
    srv.rt.block_on(async {
        let pool = sqlx::AnyPool::connect(&any_url(db)).await.unwrap();
        let n = sqlx::query(statement)
            .execute(&pool)
            .await
            .unwrap()
            .rows_affected();
        pool.close().await;
        n
    })
}

fn problems(v: &Value) -> Vec<(String, Option<String>, Option<u64>)> {
    v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["code"].as_str().unwrap().to_owned(),
                p["device"].as_str().map(str::to_owned),
                p["seq"].as_u64(),
            )
        })
        .collect()
}

#[test]
fn the_log_proves_every_record_and_the_audit_names_an_edit_or_a_deletion() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "ledger") {
        eprintln!("backend: {name}");
        let srv = Server::start(
            &db,
            Config::default(),
            &dir.path().join(format!("b-{name}")),
        );
        srv.learner("alice", "pw-alice");
        srv.learner("bob", "pw-bob");
        let (ka, kb) = (
            DeviceKey::generate().unwrap(),
            DeviceKey::generate().unwrap(),
        );
        let alice = login(&srv.url, "alice", "pw-alice", &ka);
        let bob = login(&srv.url, "bob", "pw-bob", &kb);
        let t0 = now_ms() - 3_600_000;
        let ra = chain(&ka, 50, t0);
        let rb = chain(&kb, 10, t0);
        assert_eq!(push(&srv.url, &alice.token, wire(&ra[..30])).0, 200);
        assert_eq!(push(&srv.url, &bob.token, wire(&rb)).0, 200);
        // Before any checkpoint: nothing to prove against.
        assert_eq!(get(&format!("{}/v1/ledger/checkpoint", srv.url)).0, 404);

        let cp1 = checkpoint(&db);
        assert_eq!(cp1.size, 40);
        let key: [u8; 32] = merkle::parse_digest(&cp1.key).unwrap();
        cp1.verify(Some(&key)).unwrap();
        // Signing again at the same size answers the same checkpoint.
        assert_eq!(checkpoint(&db), cp1);
        let cp1_file = dir.path().join(format!("cp1-{name}.json"));
        std::fs::write(&cp1_file, serde_json::to_string(&cp1).unwrap()).unwrap();

        assert_eq!(push(&srv.url, &alice.token, wire(&ra[30..])).0, 200);
        let cp2 = checkpoint(&db);
        assert_eq!(cp2.size, 60);
        cp2.verify(Some(&key)).unwrap();

        // The public endpoints, checked with the protocol's verifiers only.
        let (s, latest) = get(&format!("{}/v1/ledger/checkpoint", srv.url));
        assert_eq!(s, 200);
        assert_eq!(serde_json::from_value::<Checkpoint>(latest).unwrap(), cp2);
        let (s, c) = get(&format!(
            "{}/v1/ledger/consistency?first=40&second=60",
            srv.url
        ));
        assert_eq!(s, 200, "{c}");
        let proof: Vec<merkle::Digest> = c["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| merkle::parse_digest(h.as_str().unwrap()).unwrap())
            .collect();
        let (r1, r2) = (cp1.root_digest().unwrap(), cp2.root_digest().unwrap());
        merkle::verify_consistency(40, 60, &r1, &r2, &proof).unwrap();
        assert!(merkle::verify_consistency(40, 60, &r2, &r1, &proof).is_err());
        for (rec, device) in [
            (&ra[4], &alice.device_id),
            (&ra[44], &alice.device_id),
            (&rb[9], &bob.device_id),
        ] {
            let (s, p) = get(&format!(
                "{}/v1/ledger/inclusion?device={device}&seq={}",
                srv.url,
                rec.seq()
            ));
            assert_eq!(s, 200, "{p}");
            assert_eq!(p["record_hash"], rec.hash.to_hex());
            let path: Vec<merkle::Digest> = p["path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| merkle::parse_digest(h.as_str().unwrap()).unwrap())
                .collect();
            let leaf = merkle::leaf_hash(&rec.hash.0);
            let index = p["leaf_index"].as_u64().unwrap();
            merkle::verify_inclusion(&leaf, index, 60, &path, &r2).unwrap();
            // A record alice never sent does not verify on that path.
            assert!(
                merkle::verify_inclusion(&merkle::leaf_hash(&[1; 32]), index, 60, &path, &r2)
                    .is_err()
            );
        }
        // Not in the tree of the first checkpoint: alice's 45th record came later.
        assert_eq!(
            get(&format!(
                "{}/v1/ledger/inclusion?device={}&seq=45&size=40",
                srv.url, alice.device_id
            ))
            .0,
            404
        );
        assert_eq!(
            get(&format!(
                "{}/v1/ledger/consistency?first=60&second=40",
                srv.url
            ))
            .0,
            400
        );

        // An honest database passes the audit, with alice's records proven.
        let (code, v) = audit(&db, &cp1_file, "alice");
        assert_eq!((code, v["ok"].as_bool()), (0, Some(true)), "{v}");
        assert_eq!(v["records_checked"], 60);
        assert_eq!(v["checkpoints_checked"], 2);
        assert_eq!(
            (
                v["learner"]["records"].as_u64(),
                v["learner"]["proven"].as_u64()
            ),
            (Some(50), Some(50))
        );

        // One payload edited in the database: the audit names that record.
        let n = sql(
            &srv,
            &db,
            &format!(
                "UPDATE records SET payload = REPLACE(payload, '\"credited_ms\":10000', '\"credited_ms\":90000') \
                 WHERE device_id = '{}' AND seq = 7",
                alice.device_id
            ),
        );
        assert_eq!(n, 1);
        let (code, v) = audit(&db, &cp1_file, "alice");
        assert_eq!(code, 1, "{v}");
        assert_eq!(
            problems(&v),
            vec![(
                "record_altered".to_owned(),
                Some(alice.device_id.clone()),
                Some(7)
            )],
            "{v}"
        );
        sql(
            &srv,
            &db,
            &format!(
                "UPDATE records SET payload = REPLACE(payload, '\"credited_ms\":90000', '\"credited_ms\":10000') \
                 WHERE device_id = '{}' AND seq = 7",
                alice.device_id
            ),
        );
        assert_eq!(audit(&db, &cp1_file, "alice").0, 0);

        // Two records' places in the log swapped: each is named, with its leaf.
        let (l2, l3) = srv.rt.block_on(async {
            let a =
                |seq: u64| keshi_platform::ledger::inclusion(&srv.store, &alice.device_id, seq, 60);
            (
                a(2).await.unwrap().unwrap().unwrap().leaf_index,
                a(3).await.unwrap().unwrap().unwrap().leaf_index,
            )
        });
        let swap = |x: u64, y: u64| {
            let d = &alice.device_id;
            sql(
                &srv,
                &db,
                &format!("UPDATE records SET leaf_index = -1 WHERE device_id = '{d}' AND seq = 2"),
            );
            sql(
                &srv,
                &db,
                &format!("UPDATE records SET leaf_index = {y} WHERE device_id = '{d}' AND seq = 3"),
            );
            sql(
                &srv,
                &db,
                &format!("UPDATE records SET leaf_index = {x} WHERE device_id = '{d}' AND seq = 2"),
            );
        };
        swap(l3, l2);
        let (code, v) = audit(&db, &cp1_file, "alice");
        assert_eq!(code, 1, "{v}");
        let found = problems(&v);
        for seq in [2, 3] {
            assert!(
                found.contains(&(
                    "tree_mismatch".to_owned(),
                    Some(alice.device_id.clone()),
                    Some(seq)
                )),
                "{v}"
            );
        }
        swap(l2, l3);
        assert_eq!(audit(&db, &cp1_file, "alice").0, 0);

        // The key the auditor knows: the platform's passes, any other does not.
        let key_args = |k: &str| {
            platform(&[
                "audit",
                "--db",
                &db,
                "--from",
                cp1_file.to_str().unwrap(),
                "--platform-key",
                k,
                "--json",
            ])
        };
        assert_eq!(key_args(&cp1.key).0, 0);
        let (code, out, _) = key_args(&"11".repeat(32));
        assert_eq!(code, 1);
        assert!(out.contains("checkpoint_invalid"), "{out}");

        // A state claiming far more leaves than the log holds is reported, and the
        // audit still ends (it does not look for a billion missing leaves).
        sql(
            &srv,
            &db,
            "UPDATE merkle_state SET size = 1000000000 WHERE id = 1",
        );
        let (code, v) = audit(&db, &cp1_file, "alice");
        assert_eq!(code, 1);
        assert!(problems(&v).iter().any(|p| p.0 == "tree_mismatch"), "{v}");
        sql(&srv, &db, "UPDATE merkle_state SET size = 60 WHERE id = 1");
        assert_eq!(audit(&db, &cp1_file, "alice").0, 0);

        // Bob's last record deleted (a whole row, as an editor of the database
        // would): named as missing from the log and from the device's head.
        assert_eq!(
            sql(
                &srv,
                &db,
                &format!(
                    "DELETE FROM records WHERE device_id = '{}' AND seq = 10",
                    bob.device_id
                )
            ),
            1
        );
        let (code, v) = audit(&db, &cp1_file, "bob");
        assert_eq!(code, 1, "{v}");
        let found = problems(&v);
        assert!(
            found.contains(&(
                "record_missing".to_owned(),
                Some(bob.device_id.clone()),
                Some(10)
            )),
            "{v}"
        );
        assert!(
            found.contains(&(
                "head_missing".to_owned(),
                Some(bob.device_id.clone()),
                Some(10)
            )),
            "{v}"
        );
        assert_eq!(found.len(), 2, "{v}");

        // A forged checkpoint (another key) is refused as such.
        let mut forged = cp2.clone();
        forged.size = 61;
        let forged_file = dir.path().join(format!("forged-{name}.json"));
        std::fs::write(&forged_file, serde_json::to_string(&forged).unwrap()).unwrap();
        let (code, v) = audit(&db, &forged_file, "alice");
        assert_eq!(code, 1);
        assert!(
            problems(&v).iter().any(|p| p.0 == "checkpoint_invalid"),
            "{v}"
        );
        srv.kill();
    }
}

/// The sequencer of the running service puts records into the log on its own
/// (no checkpoint asked), in arrival order, each once.
#[test]
fn the_service_sequences_records_without_being_asked() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("seq.db").display());
    let srv = Server::start(&db, Config::default(), &dir.path().join("b"));
    srv.learner("carol", "pw-carol");
    let k = DeviceKey::generate().unwrap();
    let carol = login(&srv.url, "carol", "pw-carol", &k);
    let recs = chain(&k, 25, now_ms() - 600_000);
    assert_eq!(push(&srv.url, &carol.token, wire(&recs)).0, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (size, root) = srv
            .rt
            .block_on(keshi_platform::ledger::state(&srv.store))
            .unwrap();
        if size == 25 {
            let mut f = merkle::Frontier::new();
            for r in &recs {
                f.push(merkle::leaf_hash(&r.hash.0));
            }
            assert_eq!(root, f.root(), "leaves in seq order of the one push");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not sequenced: {size}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    srv.kill();
}

/// The supervision commands' contracts (issue 13): `admin attendance --json` is one
/// object per learner with `credited_seconds`, `class_hours_completed`,
/// `attendance` and `qualified`; `admin flags --json` an array; `admin
/// certificate` refuses a learner who has not qualified, saying why; `admin
/// settlement` cites a checkpoint; bad arguments get clear errors.
#[test]
fn the_supervision_commands_keep_their_contracts() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("sup.db").display());
    let srv = Server::start(&db, Config::default(), &dir.path().join("b"));
    let manifest = dir.path().join("course.json");
    std::fs::write(&manifest, keshi_protocol::demo::course(2).to_string()).unwrap();
    let (course, _) = srv.publish(&manifest, "shanxi");
    srv.learner("li", "pw-li");
    enrol(&srv, &course, &["li".to_owned()]);
    let (code, out, err) = platform(&[
        "admin",
        "attendance",
        "--db",
        &db,
        "--course",
        &course,
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{v}");
    assert_eq!(rows[0]["user"], "li");
    assert_eq!(rows[0]["credited_seconds"], 0.0);
    assert_eq!(rows[0]["class_hours_completed"], 0);
    assert_eq!(rows[0]["class_hours_planned"], 2);
    assert_eq!(rows[0]["attendance"], 0.0);
    assert_eq!(rows[0]["qualified"], false);
    assert_eq!(rows[0]["at_risk"], true);
    let (code, _, err) = platform(&[
        "admin",
        "attendance",
        "--db",
        &db,
        "--course",
        "nope",
        "--json",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("no course \"nope\""), "{err}");

    let (code, out, err) = platform(&["admin", "flags", "--db", &db, "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(out.trim()).unwrap(),
        serde_json::json!([])
    );

    let pdf = dir.path().join("li.pdf");
    let (code, _, err) = platform(&[
        "admin",
        "certificate",
        "--db",
        &db,
        "--learner",
        "li",
        "--course",
        &course,
        "--out",
        pdf.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("li has not qualified") && err.contains("0 of 2 class hours completed"),
        "{err}"
    );
    assert!(!pdf.exists());

    let (code, out, err) = platform(&[
        "admin",
        "settlement",
        "--db",
        &db,
        "--quarter",
        "2026Q4",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let s: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (s["total_fen"].as_u64(), s["lines"].as_array().map(Vec::len)),
        (Some(0), Some(0))
    );
    assert!(
        s["checkpoint"]["signature"]
            .as_str()
            .is_some_and(|x| x.len() == 128),
        "{s}"
    );
    let (code, _, err) = platform(&["admin", "settlement", "--db", &db, "--quarter", "Q9"]);
    assert_eq!(code, 2);
    assert!(err.contains("YYYYQn"), "{err}");
    srv.kill();
}

/// Spot checks (issue 13, R-SV-6): the sample is drawn from the newest checkpoint,
/// the date and the scope, and anyone can recompute it from those and the list of
/// learners; drawing again the same day answers the same sample; an abnormal result
/// removes the learner's subsidy (a confirmed finding); a class below 80% in two
/// checks is listed as no longer eligible.
#[test]
fn spot_checks_are_reproducible_and_have_consequences() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "spot") {
        let srv = Server::start(
            &db,
            Config::default(),
            &dir.path().join(format!("b-{name}")),
        );
        let manifest = dir.path().join(format!("course-{name}.json"));
        std::fs::write(&manifest, keshi_protocol::demo::course(1).to_string()).unwrap();
        let (course, _) = srv.publish(&manifest, "shanxi");
        let users: Vec<String> = (1..=8).map(|i| format!("s{i:02}")).collect();
        for u in &users {
            srv.learner(u, "pw-spot-check");
        }
        enrol(&srv, &course, &users);
        // Everyone enrolled, nobody studied: the results say attendance 0.
        assert_eq!(
            platform(&["admin", "attendance", "--db", &db, "--course", &course]).0,
            0
        );
        let draw = |date: &str| {
            let (code, out, err) = platform(&[
                "admin",
                "spot-check",
                "--db",
                &db,
                "--scope",
                "Test School",
                "--date",
                date,
                "--size",
                "3",
                "--json",
            ]);
            assert_eq!(code, 0, "{err}");
            serde_json::from_str::<Value>(out.trim()).unwrap()
        };
        let first = draw("2026-12-01");
        let sample: Vec<String> = serde_json::from_value(first["sample"].clone()).unwrap();
        assert_eq!((sample.len(), first["population"].as_u64()), (3, Some(8)));
        // Recomputed from the published checkpoint alone, as docs/supervision.md says.
        let seed = keshi_protocol::ids::Hash::of(
            format!(
                "keshi-spot-check-v1\n{}\n2026-12-01\nTest School\n",
                first["checkpoint_root"].as_str().unwrap()
            )
            .as_bytes(),
        );
        assert_eq!(first["seed"], seed.to_hex());
        let mut ranked: Vec<(String, String)> = users
            .iter()
            .map(|u| {
                let mut b = seed.0.to_vec();
                b.extend_from_slice(u.as_bytes());
                (keshi_protocol::ids::Hash::of(&b).to_hex(), u.clone())
            })
            .collect();
        ranked.sort();
        let expected: Vec<String> = ranked.into_iter().take(3).map(|x| x.1).collect();
        assert_eq!(sample, expected);
        assert_eq!(draw("2026-12-01"), first, "one draw per scope and date");
        assert_eq!(first["classes"][0]["attendance_permille"], 0);
        assert_eq!(first["ineligible_classes"], serde_json::json!([]));
        // A second check with the class still below 80%: it loses eligibility.
        let second = draw("2026-12-15");
        assert_eq!(
            second["ineligible_classes"][0]["institution"], "Test School",
            "{second}"
        );

        // An abnormal result removes the learner's subsidy.
        let check = first["id"].as_str().unwrap();
        let (code, _, err) = platform(&[
            "admin",
            "spot-check-result",
            "--db",
            &db,
            "--check",
            check,
            "--learner",
            &sample[0],
            "--method",
            "phone",
            "--result",
            "abnormal",
            "--note",
            "电话回访：本人未参加学习",
        ]);
        assert_eq!(code, 0, "{err}");
        let (_, out, _) = platform(&[
            "admin",
            "flags",
            "--db",
            &db,
            "--no-check",
            "--learner",
            &sample[0],
            "--json",
        ]);
        let flags: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(
            (flags[0]["rule"].as_str(), flags[0]["status"].as_str()),
            (Some("spot_check"), Some("confirmed")),
            "{flags}"
        );
        let outsider = users.iter().find(|u| !sample.contains(u)).unwrap();
        let (code, _, err) = platform(&[
            "admin",
            "spot-check-result",
            "--db",
            &db,
            "--check",
            check,
            "--learner",
            outsider,
            "--method",
            "phone",
            "--result",
            "normal",
        ]);
        assert_eq!(code, 2);
        assert!(err.contains("not in the sample"), "{err}");
        let (code, _, err) = platform(&[
            "admin",
            "spot-check-result",
            "--db",
            &db,
            "--check",
            check,
            "--learner",
            &sample[1],
            "--method",
            "email",
            "--result",
            "normal",
        ]);
        assert_eq!(code, 2);
        assert!(err.contains("video, phone or data"), "{err}");
        srv.kill();
    }
}

/// Backup and restore (issue 13, R-SV-4) on SQLite and PostgreSQL: a backup taken
/// while the service runs restores into an empty database and blobs directory, and
/// the restored platform passes the audit from the checkpoint signed at backup
/// time, holding every record and photo; a backup file changed afterwards, a target
/// already holding data, or a database copy edited in the backup are refused.
#[test]
fn a_backup_restores_into_a_platform_that_passes_the_audit() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "backup") {
        eprintln!("backend: {name}");
        let blobs = dir.path().join(format!("blobs-{name}"));
        let srv = Server::start(&db, Config::default(), &blobs);
        srv.learner("alice", "pw-alice");
        let ka = DeviceKey::generate().unwrap();
        let alice = login(&srv.url, "alice", "pw-alice", &ka);
        let records = chain(&ka, 45, now_ms() - 3_600_000);
        assert_eq!(push(&srv.url, &alice.token, wire(&records[..40])).0, 200);
        std::fs::create_dir_all(blobs.join("ab")).unwrap();
        std::fs::write(blobs.join("ab").join("photo.jpg"), b"a photo's bytes").unwrap();
        // The key file of ID numbers: beside a SQLite database, else ./keshi-data.key.
        let key_file = keshi_platform::datakey::default_key_path(&db);
        let out = dir.path().join(format!("backup-{name}"));
        let (code, text, err) = platform(&[
            "admin",
            "backup",
            "--db",
            &db,
            "--out",
            out.to_str().unwrap(),
            "--blobs",
            blobs.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        let made: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(made["checkpoint"]["size"], 40);
        // Records keep arriving after the backup: they are not in it.
        assert_eq!(push(&srv.url, &alice.token, wire(&records[40..])).0, 200);
        srv.kill();

        let target = |tag: &str| match name.as_str() {
            "sqlite" => format!(
                "sqlite:{}",
                dir.path().join(format!("restored-{tag}.db")).display()
            ),
            _ => {
                let base = std::env::var("KESHI_TEST_PG_URL").unwrap();
                let rt = tokio::runtime::Runtime::new().unwrap();
                rt.block_on(keshi_platform::store::create_pg_database(
                    &base,
                    &format!(
                        "keshi_restored_{tag}_{}",
                        hex::encode(rand::random::<[u8; 4]>())
                    ),
                ))
                .unwrap()
            }
        };
        let restore = |from: &std::path::Path, to: &str, blobs_to: &std::path::Path| {
            platform(&[
                "admin",
                "restore",
                "--from",
                from.to_str().unwrap(),
                "--db",
                to,
                "--blobs",
                blobs_to.to_str().unwrap(),
                "--data-key",
                key_file.to_str().unwrap(),
            ])
        };
        let to = target("a");
        let blobs_to = dir.path().join(format!("restored-blobs-{name}"));
        let (code, text, err) = restore(&out, &to, &blobs_to);
        assert_eq!(code, 0, "{text} {err}");
        let r: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["audit"]["records_checked"], 40);
        assert_eq!(
            std::fs::read(blobs_to.join("ab").join("photo.jpg")).unwrap(),
            b"a photo's bytes"
        );
        // The restored platform passes the auditor (the data key kept apart is put
        // where the restored database is opened with it).
        let cp = dir.path().join(format!("backup-cp-{name}.json"));
        std::fs::write(&cp, made["checkpoint"].to_string()).unwrap();
        let restored_key = keshi_platform::datakey::default_key_path(&to);
        if restored_key != key_file {
            // Opened without its key, the restored database is refused, and no
            // stray new key is left beside it.
            let (code, _, err) = platform(&["audit", "--db", &to, "--from", cp.to_str().unwrap()]);
            assert_ne!(code, 0);
            assert!(
                err.contains("is not the one this database was encrypted with"),
                "{err}"
            );
            assert!(
                !restored_key.exists(),
                "a stray key was left at {}",
                restored_key.display()
            );
            std::fs::copy(&key_file, &restored_key).unwrap();
        }
        let (code, v) = audit(&to, &cp, "alice");
        assert_eq!((code, v["ok"].as_bool()), (0, Some(true)), "{v}");
        assert_eq!(v["learner"]["proven"], 40);
        // With the platform key as the operator knows it: another key is refused.
        let (code, _, err) = platform(&[
            "admin",
            "restore",
            "--from",
            out.to_str().unwrap(),
            "--db",
            &target("k"),
            "--blobs",
            dir.path().join(format!("rk-{name}")).to_str().unwrap(),
            "--data-key",
            key_file.to_str().unwrap(),
            "--platform-key",
            &"ab".repeat(32),
        ]);
        assert_ne!(code, 0);
        assert!(err.contains("another key"), "{err}");
        // Into a database that already holds a platform: refused.
        let (code, _, err) = restore(&out, &to, &blobs_to);
        assert_ne!(code, 0);
        assert!(err.contains("already holds a platform"), "{err}");
        // A file of the backup changed since: refused, naming it.
        let changed = dir.path().join(format!("backup-changed-{name}"));
        copy_dir(&out, &changed);
        std::fs::write(
            changed.join("blobs").join("ab").join("photo.jpg"),
            b"another photo",
        )
        .unwrap();
        let (code, _, err) = restore(
            &changed,
            &target("b"),
            &dir.path().join(format!("rb-{name}")),
        );
        assert_ne!(code, 0);
        assert!(err.contains("blobs/ab/photo.jpg changed"), "{err}");
        // A database copy edited and its manifest entry forged to match: the audit
        // from the checkpoint (signed by the platform key) catches the edit.
        if name == "sqlite" {
            let edited = dir.path().join("backup-edited");
            copy_dir(&out, &edited);
            let copy = format!("sqlite:{}", edited.join("database.sqlite").display());
            srv_free_sql(
                &copy,
                "UPDATE records SET payload = '{\"edited\":true}' WHERE seq = 7",
            );
            let mut m: Value = serde_json::from_str(
                &std::fs::read_to_string(edited.join("manifest.json")).unwrap(),
            )
            .unwrap();
            let bytes = std::fs::read(edited.join("database.sqlite")).unwrap();
            m["files"][0]["bytes"] = bytes.len().into();
            m["files"][0]["sha256"] =
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)).into();
            std::fs::write(edited.join("manifest.json"), m.to_string()).unwrap();
            let (code, text, _) = restore(&edited, &target("c"), &dir.path().join("rc"));
            assert_eq!(code, 1, "{text}");
            let r: Value = serde_json::from_str(text.trim()).unwrap();
            assert_eq!(r["ok"], false);
        }
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Runs one statement on a database no server holds.
fn srv_free_sql(db: &str, statement: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pool = sqlx::AnyPool::connect(&any_url(db)).await.unwrap();
        let n = sqlx::query(statement)
            .execute(&pool)
            .await
            .unwrap()
            .rows_affected();
        assert_eq!(n, 1, "{statement}");
        pool.close().await;
    });
}

/// Retention (issue 13, R-SV-4): a learner with nothing for three years is purged
/// — every row about them gone, a tombstone signed in their place — and the audit
/// still passes from an older checkpoint, counting the purged leaves; a learner
/// with an open finding is kept; a cutoff inside the three years is refused; and a
/// tombstone written to hide recent records (properly signed, with the key the
/// database holds) is named by the audit (SQLite and PostgreSQL).
#[test]
fn purged_learners_leave_tombstones_the_audit_accepts_and_nothing_recent_hides() {
    use keshi_platform::retention::{purge, PurgeError, RETENTION_MS};
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "purge") {
        eprintln!("backend: {name}");
        let blobs = dir.path().join(format!("blobs-{name}"));
        let srv = Server::start(&db, Config::default(), &blobs);
        srv.learner("alice", "pw-alice");
        srv.learner("bob", "pw-bob");
        let (ka, kb) = (
            DeviceKey::generate().unwrap(),
            DeviceKey::generate().unwrap(),
        );
        let alice = login(&srv.url, "alice", "pw-alice", &ka);
        let bob = login(&srv.url, "bob", "pw-bob", &kb);
        let t0 = now_ms() - 3_600_000;
        assert_eq!(
            push(&srv.url, &alice.token, wire(&chain(&ka, 30, t0))).0,
            200
        );
        assert_eq!(push(&srv.url, &bob.token, wire(&chain(&kb, 10, t0))).0, 200);
        let cp = checkpoint(&db);
        assert_eq!(cp.size, 40);
        let cp_file = dir.path().join(format!("purge-cp-{name}.json"));
        std::fs::write(&cp_file, serde_json::to_string(&cp).unwrap()).unwrap();
        // Bob has a finding still open: his data stays.
        sql(
            &srv,
            &db,
            "INSERT INTO findings(id, rules_version, rule, severity, learner_id, course, dedupe, observed, limit_value, \
             clause, evidence, affected_ms, status, created_ms) SELECT 'f-bob', 'farming-rules/1', 'night_study', \
             'medium', id, 'c1', 'd', 'x', 'y', 'z', '[]', 0, 'open', 0 FROM learners WHERE username = 'bob'",
        );
        // Alice holds a certificate: after the purge the public check says so.
        sql(
            &srv,
            &db,
            "INSERT INTO certificates(serial, learner_id, course, level, class_hours, score, issued_ms, \
             checkpoint_size, statement, simulated) SELECT 'KC-9_%', id, 'c1', 'junior', 1, 90, 0, 1, '{}', 0 \
             FROM learners WHERE username = 'alice'",
        );
        let later = now_ms() + 4 * 365 * 86_400_000; // four years on
        let (report, too_recent) = srv.rt.block_on(async {
            let key = keshi_platform::platform_key(&srv.store, 0).await.unwrap();
            let disk = keshi_platform::blob::DiskBlobStore::new(&blobs).unwrap();
            let day = |ms: i64| {
                let d = (ms + 8 * 3_600_000).div_euclid(86_400_000);
                keshi_platform::calendar::day_label(d)
            };
            let too_recent = purge(&srv.store, &key, &disk, &day(now_ms()), false, now_ms()).await;
            let report = purge(
                &srv.store,
                &key,
                &disk,
                &day(later - RETENTION_MS),
                false,
                later,
            )
            .await
            .unwrap();
            (report, too_recent)
        });
        assert!(
            matches!(too_recent, Err(PurgeError::TooRecent(_))),
            "{too_recent:?}"
        );
        assert_eq!(
            (report.learners, report.records, report.kept),
            (1, 30, 0),
            "{report:?}"
        );
        let t = &report.tombstones[0];
        assert_eq!(t.statement.leaves.len(), 30);
        assert_eq!(t.statement.covered_by, cp);
        let left = |table: &str, col: &str| {
            srv.rt.block_on(async {
                let pool = sqlx::AnyPool::connect(&any_url(&db)).await.unwrap();
                let n: i64 = sqlx::query_scalar(&format!(
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM {table} WHERE {col}"
                ))
                .fetch_one(&pool)
                .await
                .unwrap();
                n
            })
        };
        assert_eq!(left("learners", "username = 'alice'"), 0, "alice is gone");
        assert_eq!(t.statement.certificates, ["KC-9_%"]);
        let standing = |serial: &str| {
            srv.rt
                .block_on(keshi_platform::verify::standing(&srv.store, serial))
                .unwrap()
        };
        assert_eq!(standing("KC-9_%"), keshi_platform::verify::Standing::Purged);
        assert_eq!(
            standing("KC-9x%"),
            keshi_platform::verify::Standing::Unknown,
            "LIKE wildcards are escaped"
        );
        assert_eq!(left("learners", "username = 'bob'"), 1, "bob is kept");
        assert_eq!(left("records", "1 = 1"), 10, "only bob's records are held");
        assert_eq!(
            left("merkle_leaves", "1 = 1"),
            40,
            "the log keeps every leaf"
        );
        // Audited four years on from the checkpoint kept then: consistent, 30 under
        // tombstones. Today, that checkpoint is too young to vouch for a purge.
        let audit_at = |now: i64| {
            srv.rt
                .block_on(keshi_platform::ledger::audit(
                    &srv.store,
                    Some(&cp),
                    merkle::parse_digest(&cp.key),
                    Some("bob"),
                    Some(now),
                ))
                .unwrap()
        };
        let r = audit_at(later);
        assert!(r.ok, "{:?}", r.problems);
        assert_eq!(r.tombstoned, 30);
        let (code, v) = audit(&db, &cp_file, "bob");
        assert_eq!(code, 1, "{v}");
        assert_eq!(v["problems"][0]["code"], "tombstone_invalid", "{v}");
        // A tombstone to hide bob's records now, signed with the database's own key:
        // its checkpoint is not three years older than it, so it does not hold.
        srv.rt.block_on(async {
            use keshi_platform::retention::{signing_bytes, Tombstone};
            let key = keshi_platform::platform_key(&srv.store, 0).await.unwrap();
            let mut s = t.statement.clone();
            s.leaves = (30..40).collect();
            s.purged_ms = now_ms();
            let forged = Tombstone {
                id: "forged".into(),
                signature: hex::encode(key.sign(&signing_bytes(&s)).as_ref()),
                statement: s,
            };
            let pool = sqlx::AnyPool::connect(&any_url(&db)).await.unwrap();
            sqlx::query("INSERT INTO tombstones(id, learner_ref, statement, signature, created_ms) VALUES ($1, 'x', $2, $3, 0)")
                .bind(&forged.id)
                .bind(serde_json::to_string(&forged.statement).unwrap())
                .bind(&forged.signature)
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query("DELETE FROM records WHERE seq > 5 AND learner_id IN (SELECT id FROM learners WHERE username = 'bob')")
                .execute(&pool)
                .await
                .unwrap();
        });
        // Even four years on: the forged tombstone's own checkpoint is not three
        // years older than its purge.
        let r = audit_at(later);
        assert!(!r.ok);
        let v = serde_json::to_value(&r.problems).unwrap();
        let codes: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["code"].as_str().unwrap())
            .collect();
        assert!(codes.contains(&"tombstone_invalid"), "{codes:?}");
        assert!(codes.contains(&"record_missing"), "{codes:?}");
        srv.kill();
    }
}
