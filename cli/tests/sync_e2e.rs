//! End-to-end sync tests (issue 4): the real `keshi` binary against the real
//! platform service on 127.0.0.1 (in-process, so a test can kill and restart it
//! and set its lease policy), over real SQLite files — and PostgreSQL when
//! `KESHI_TEST_PG_URL` is set (always in CI, see `test.sh`).
//!
//! After every scenario the platform holds exactly the client's journal: same
//! count, same hashes in order, no duplicates (the primary key forbids them).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

#[path = "../../platform/tests/common/mod.rs"]
mod pcommon;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keshi_platform::Config;
use pcommon::{backends, Server};
use player_core::identity::{DeviceKey, KeyStore};
use player_core::journal::Journal;
use player_core::record::NewRecord;

const PASSWORD: &str = "pw-1";

struct Client {
    home: PathBuf,
    journal: PathBuf,
}

impl Client {
    fn new(dir: &Path, name: &str) -> Client {
        Client {
            home: dir.join(format!("home-{name}")),
            journal: dir.join(format!("{name}.db")),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_keshi"));
        c.env("KESHI_HOME", &self.home)
            .env("KESHI_KEYSTORE", "file")
            .env_remove("KESHI_LOG");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run keshi")
    }

    fn ok(&self, args: &[&str]) -> serde_json::Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "keshi {args:?}: {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        last_json(&out)
    }

    /// The key that signs this client's journal: `keshi simulate`'s throw-away key
    /// (`<journal>.simkey`) when it wrote the journal, else the device key.
    fn key(&self) -> DeviceKey {
        let mut sim = self.journal.clone().into_os_string();
        sim.push(".simkey");
        let sim = PathBuf::from(sim);
        let store = if sim.exists() {
            KeyStore::File(sim)
        } else {
            KeyStore::from_choice(&self.home, Some("file")).unwrap()
        };
        DeviceKey::load_or_create(&store).unwrap()
    }

    fn j(&self) -> &str {
        self.journal.to_str().expect("utf-8 path")
    }

    fn login_with(&self, url: &str, user: &str, extra: &[&str]) -> serde_json::Value {
        let mut args = vec![
            "login",
            "--platform",
            url,
            "--user",
            user,
            "--password",
            PASSWORD,
            "--journal",
            self.j(),
        ];
        args.extend_from_slice(extra);
        self.ok(&args)
    }

    fn login(&self, url: &str, user: &str) -> serde_json::Value {
        self.login_with(url, user, &[])
    }

    /// Login for a journal `keshi simulate` writes (its own throw-away key).
    fn login_simulated(&self, url: &str, user: &str) -> serde_json::Value {
        self.login_with(url, user, &["--simulated"])
    }

    fn sync_args<'a>(&'a self, url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut a = vec!["sync", "--platform", url, "--journal", self.j()];
        a.extend_from_slice(extra);
        a
    }

    fn simulate(&self, course: &Path, timeline: &Path, seed: u64) -> serde_json::Value {
        self.ok(&[
            "simulate",
            "--course",
            course.to_str().unwrap(),
            "--profile",
            "shanxi",
            "--timeline",
            timeline.to_str().unwrap(),
            "--journal",
            self.j(),
            "--seed",
            &seed.to_string(),
        ])
    }

    /// The journal's (seq, hash) list, read with `keshi journal show --json`.
    fn hashes(&self) -> Vec<(u64, String)> {
        let out = self.run(&["journal", "show", "--json", self.j()]);
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("json line");
                (
                    v["seq"].as_u64().unwrap(),
                    v["hash"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    fn kinds(&self) -> Vec<String> {
        let out = self.run(&["journal", "show", "--json", self.j()]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    /// Append `n` records directly (signed with this client's device key).
    fn bulk(&self, n: usize) {
        std::fs::create_dir_all(&self.home).unwrap();
        let key =
            DeviceKey::load_or_create(&KeyStore::from_choice(&self.home, Some("file")).unwrap())
                .unwrap();
        let mut j = Journal::open(&self.journal, Arc::new(key)).unwrap();
        let wall = player_core::clock::wall_now_ms();
        for chunk in 0..n.div_ceil(5000) {
            let batch: Vec<NewRecord> = (0..5000.min(n - chunk * 5000))
                .map(|i| {
                    NewRecord::new(
                        "state",
                        serde_json::json!({"i": i, "state": "focus"}),
                        wall,
                        i as u64,
                    )
                })
                .collect();
            j.append_batch(batch).unwrap();
        }
    }
}

/// The platform as these tests need it: `keshi simulate`'s devices accepted (their
/// credit is kept apart as simulated).
fn config() -> Config {
    Config {
        accept_simulated: true,
        ..Config::default()
    }
}

fn last_json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or("null");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"))
}

fn course(dir: &Path) -> PathBuf {
    let p = dir.join("course.json");
    if !p.exists() {
        let out = Command::new(env!("CARGO_BIN_EXE_keshi"))
            .args([
                "course",
                "demo",
                "--class-hours",
                "2",
                "--out",
                p.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    p
}

fn timeline(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/timelines")
        .join(name)
}

/// The platform holds exactly the client's journal.
fn assert_exact(srv: &Server, c: &Client) {
    let key = c.key();
    let held = srv
        .rt
        .block_on(srv.store.device_hashes(&key.device_id().to_hex()))
        .unwrap();
    let local = c.hashes();
    assert_eq!(held.len(), local.len(), "record count differs");
    assert!(held == local, "hashes differ");
    let dev = srv
        .rt
        .block_on(srv.store.device(&key.device_id().to_hex()))
        .unwrap()
        .unwrap();
    assert_eq!(dev.head_seq, local.len() as u64);
}

fn device_head(srv: &Server, c: &Client) -> u64 {
    let key = c.key();
    srv.rt
        .block_on(srv.store.device(&key.device_id().to_hex()))
        .ok()
        .flatten()
        .map_or(0, |d| d.head_seq)
}

#[test]
fn simulate_then_sync_leaves_the_platform_holding_exactly_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "exact") {
        let srv = Server::start(&db, config(), &dir.path().join(format!("b-{name}")));
        srv.learner("wang", PASSWORD);
        let c = Client::new(dir.path(), &format!("exact-{name}"));
        let course = course(dir.path());
        // Not logged in yet: a clear refusal, nothing lost.
        let fresh = Client::new(dir.path(), &format!("fresh-{name}"));
        let out = fresh.run(&fresh.sync_args(&srv.url, &[]));
        assert_eq!(out.status.code(), Some(4));
        assert_eq!(last_json(&out)["status"], "not_logged_in");
        srv.publish(&course, "shanxi");
        // `keshi simulate` signs with its own throw-away key; the login tells the
        // platform the device is simulated.
        let l = c.login_simulated(&srv.url, "wang");
        assert_eq!(l["logged_in"], true);
        let s1 = c.simulate(&course, &timeline("shanxi-2h-attacks.jsonl"), 7);
        let s2 = c.simulate(&course, &timeline("shanxi-2h-makeup.jsonl"), 8);
        let report = c.ok(&c.sync_args(&srv.url, &["--batch-records", "50"]));
        let n = c.hashes().len() as u64;
        assert_eq!(report["status"], "synced");
        assert_eq!(
            (
                report["sent"].as_u64(),
                report["acknowledged"].as_u64(),
                report["pending"].as_u64()
            ),
            (Some(n), Some(n), Some(0))
        );
        assert!(report["requests"].as_u64().unwrap() >= n / 50);
        assert_exact(&srv, &c);
        // The platform re-derives the same credit from the signed segments, and
        // keeps it apart as simulated: never in reports or subsidies.
        let sum = srv.summary("wang");
        assert_eq!(sum.records, n);
        assert_eq!(
            sum.simulated_seconds,
            s2["credited_seconds"].as_f64().unwrap(),
            "{s1} {s2}"
        );
        assert_eq!(sum.credited_seconds, 0.0);
        assert!(sum.devices.iter().all(|d| d.simulated));
        assert!(sum.flags.is_empty(), "{:?}", sum.flags);
        // Nothing left: a second sync sends nothing.
        let again = c.ok(&c.sync_args(&srv.url, &[]));
        assert_eq!(
            (again["sent"].as_u64(), again["pending"].as_u64()),
            (Some(0), Some(0))
        );
        // Lost sync state (e.g. restored backup): the same records re-sent are
        // accepted once and answered as duplicates.
        Journal::open(&c.journal, Arc::new(c.key()))
            .unwrap()
            .set_sync_state("acknowledged_seq", "0")
            .unwrap();
        let re = c.ok(&c.sync_args(&srv.url, &[]));
        assert_eq!(
            (
                re["duplicates"].as_u64(),
                re["accepted"].as_u64(),
                re["acknowledged"].as_u64()
            ),
            (Some(n), Some(0), Some(n))
        );
        assert_exact(&srv, &c);
        srv.kill();
    }
}

#[test]
fn revoked_lease_stops_sync_and_is_journaled() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "revoke") {
        let srv = Server::start(&db, config(), &dir.path().join(format!("b-{name}")));
        srv.learner("zhao", PASSWORD);
        let course = course(dir.path());
        let a = Client::new(dir.path(), &format!("a-{name}"));
        let b = Client::new(dir.path(), &format!("b-{name}"));
        a.login_simulated(&srv.url, "zhao");
        a.simulate(&course, &timeline("honest-1h.jsonl"), 1);
        // The same learner logs in elsewhere (R-ID-3): A's lease is revoked.
        b.login(&srv.url, "zhao");
        let before = a.hashes().len();
        let out = a.run(&a.sync_args(&srv.url, &[]));
        assert_eq!(
            out.status.code(),
            Some(4),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r = last_json(&out);
        assert_eq!(r["status"], "lease_revoked");
        assert_eq!(r["error"]["code"], "lease_revoked");
        assert!(String::from_utf8_lossy(&out.stderr).contains("another device"));
        // The client journaled why it stopped, and forgets nothing.
        let kinds = a.kinds();
        assert_eq!(kinds.len(), before + 1);
        assert_eq!(kinds.last().map(String::as_str), Some("lease_revoked"));
        assert_eq!(r["pending"].as_u64(), Some(before as u64 + 1));
        // Once, not per attempt.
        let out = a.run(&a.sync_args(&srv.url, &[]));
        assert_eq!(out.status.code(), Some(4));
        assert_eq!(a.kinds().len(), before + 1);
        // Logging in again on A lets it upload everything, revocation included.
        a.login(&srv.url, "zhao");
        a.ok(&a.sync_args(&srv.url, &[]));
        assert_exact(&srv, &a);
        srv.kill();
    }
}

/// A loopback TCP proxy that misbehaves on a schedule, per connection:
/// 0 pass through (and cut the connection after 300 ms), 1 answer 500,
/// 2 drop the connection after reading the request head, 3 stall.
struct Proxy {
    addr: String,
    stop: Arc<AtomicBool>,
    pub faults: Arc<AtomicUsize>,
}

impl Proxy {
    fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let up = upstream.trim_start_matches("http://").to_owned();
        let stop = Arc::new(AtomicBool::new(false));
        let faults = Arc::new(AtomicUsize::new(0));
        let (s2, f2) = (stop.clone(), faults.clone());
        std::thread::spawn(move || {
            for (i, conn) in listener.incoming().enumerate() {
                if s2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(mut client) = conn else { continue };
                let up = up.clone();
                let f = f2.clone();
                std::thread::spawn(move || {
                    let mode = i % 4;
                    if mode != 0 {
                        f.fetch_add(1, Ordering::Relaxed);
                    }
                    match mode {
                        0 => {
                            let Ok(server) = TcpStream::connect(&up) else {
                                return;
                            };
                            let (mut c2, mut s2) =
                                (client.try_clone().unwrap(), server.try_clone().unwrap());
                            let mut server_r = server;
                            let t = std::thread::spawn(move || {
                                let _ = std::io::copy(&mut c2, &mut s2);
                            });
                            let deadline = Instant::now() + Duration::from_millis(300);
                            server_r
                                .set_read_timeout(Some(Duration::from_millis(50)))
                                .unwrap();
                            let mut buf = [0u8; 16384];
                            while Instant::now() < deadline {
                                match server_r.read(&mut buf) {
                                    Ok(0) => break,
                                    Ok(n) => {
                                        if client.write_all(&buf[..n]).is_err() {
                                            break;
                                        }
                                    }
                                    Err(_) => continue,
                                }
                            }
                            let _ = client.shutdown(std::net::Shutdown::Both);
                            let _ = server_r.shutdown(std::net::Shutdown::Both);
                            let _ = t.join();
                        }
                        1 => {
                            let mut buf = [0u8; 4096];
                            let _ = client.read(&mut buf);
                            let body = r#"{"code":"storage_unavailable","message":"injected","retryable":true}"#;
                            let _ = write!(
                                client,
                                "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                                body.len()
                            );
                        }
                        2 => {
                            let mut buf = [0u8; 1024];
                            let _ = client.read(&mut buf);
                        }
                        _ => {
                            std::thread::sleep(Duration::from_secs(3));
                        }
                    }
                });
            }
        });
        Proxy {
            addr: format!("http://{addr}"),
            stop,
            faults,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr.trim_start_matches("http://"));
    }
}

#[test]
fn sync_through_a_proxy_that_drops_fails_and_stalls() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "proxy") {
        let srv = Server::start(&db, config(), &dir.path().join(format!("b-{name}")));
        srv.learner("sun", PASSWORD);
        let c = Client::new(dir.path(), &format!("p-{name}"));
        c.login(&srv.url, "sun");
        c.bulk(3000);
        let proxy = Proxy::start(&srv.url);
        let report = c.ok(&c.sync_args(
            &proxy.addr,
            &[
                "--batch-records",
                "200",
                "--timeout",
                "1",
                "--backoff-ms",
                "20",
                "--max-retries",
                "1000",
            ],
        ));
        assert_eq!(report["status"], "synced");
        assert!(report["retries"].as_u64().unwrap() >= 3, "{report}");
        assert!(proxy.faults.load(Ordering::Relaxed) >= 3);
        assert_exact(&srv, &c);
        srv.kill();
    }
}

#[test]
fn unreachable_platform_keeps_records_pending_with_a_clear_exit() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("u.db").display());
    let srv = Server::start(&db, config(), &dir.path().join("b"));
    srv.learner("li", PASSWORD);
    let c = Client::new(dir.path(), "client-u");
    c.login(&srv.url, "li");
    c.bulk(10);
    let url = srv.url.clone();
    srv.kill();
    let out = c.run(&c.sync_args(
        &url,
        &["--max-retries", "2", "--backoff-ms", "10", "--timeout", "1"],
    ));
    assert_eq!(out.status.code(), Some(3));
    let r = last_json(&out);
    assert_eq!(
        (
            r["status"].as_str(),
            r["pending"].as_u64(),
            r["retries"].as_u64()
        ),
        (Some("pending"), Some(10), Some(3))
    );
}

#[test]
fn platform_killed_and_restarted_mid_sync() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "restart") {
        let blobs = dir.path().join(format!("b-{name}"));
        let srv = Server::start(&db, config(), &blobs);
        srv.learner("zhou", PASSWORD);
        let c = Client::new(dir.path(), &format!("r-{name}"));
        c.login(&srv.url, "zhou");
        c.bulk(20_000);
        let url = srv.url.clone();
        let child = c
            .cmd()
            .args(c.sync_args(
                &url,
                &[
                    "--batch-records",
                    "50",
                    "--backoff-ms",
                    "50",
                    "--max-retries",
                    "1000",
                    "--timeout",
                    "2",
                ],
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while device_head(&srv, &c) == 0 && t0.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mid = device_head(&srv, &c);
        assert!(mid > 0 && mid < 20_000, "not mid-sync: {mid}");
        srv.kill();
        std::thread::sleep(Duration::from_millis(700));
        let srv = Server::start_on(&db, config(), &blobs, url.trim_start_matches("http://"));
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "sync did not finish after the restart"
        );
        let r = last_json(&out);
        assert_eq!(
            (r["status"].as_str(), r["acknowledged"].as_u64()),
            (Some("synced"), Some(20_000))
        );
        assert!(r["retries"].as_u64().unwrap() >= 1);
        assert_exact(&srv, &c);
        srv.kill();
    }
}

#[test]
fn client_killed_mid_sync_resumes_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "ckill") {
        let srv = Server::start(&db, config(), &dir.path().join(format!("b-{name}")));
        srv.learner("wu", PASSWORD);
        let c = Client::new(dir.path(), &format!("k-{name}"));
        c.login(&srv.url, "wu");
        c.bulk(20_000);
        let mut child = c
            .cmd()
            .args(c.sync_args(&srv.url, &["--batch-records", "50"]))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while device_head(&srv, &c) < 500 && t0.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let mid = device_head(&srv, &c);
        assert!(mid < 20_000, "sync finished before the kill: {mid}");
        let r = c.ok(&c.sync_args(&srv.url, &[]));
        assert_eq!(
            (
                r["status"].as_str(),
                r["acknowledged"].as_u64(),
                r["pending"].as_u64()
            ),
            (Some("synced"), Some(20_000), Some(0))
        );
        // What was uploaded but not yet known to the client came back as duplicates.
        assert_eq!(
            r["accepted"].as_u64().unwrap() + r["duplicates"].as_u64().unwrap(),
            r["sent"].as_u64().unwrap()
        );
        assert_exact(&srv, &c);
        srv.kill();
    }
}

/// Study on three days without contact, 10 minutes a day (simulated clock), then
/// one sync. Within the 7-day offline lease all of it counts; with a 1-day
/// offline lease the later days are flagged `outside_lease` and not credited.
#[test]
fn days_of_offline_study_then_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut tl = String::from("{\"t\": 0, \"event\": \"capture\", \"ok\": true}\n{\"t\": 0, \"event\": \"capture\", \"ok\": true}\n");
    for day in 0..3u64 {
        let t0 = day * 86_400;
        tl.push_str(&format!("{{\"t\": {t0}, \"event\": \"play\"}}\n"));
        for k in 1..=10u64 {
            let t = t0 + k * 60;
            tl.push_str(&format!("{{\"t\": {t}, \"event\": \"activity\"}}\n"));
            tl.push_str(&format!(
                "{{\"t\": {t}, \"event\": \"position\", \"pos\": {}}}\n",
                day * 600 + k * 60
            ));
        }
        tl.push_str(&format!("{{\"t\": {}, \"event\": \"pause\"}}\n", t0 + 600));
    }
    tl.push_str("{\"t\": 259200, \"event\": \"close\"}\n");
    let tl_path = dir.path().join("offline-3-days.jsonl");
    std::fs::write(&tl_path, tl).unwrap();
    let course = course(dir.path());
    for (name, db) in backends(dir.path(), "offline") {
        for (offline_days, expect_flags) in [(7i64, false), (1, true)] {
            let db = if name == "sqlite" {
                format!("{}-{offline_days}", db)
            } else {
                db.clone()
            };
            let user = format!("zheng{offline_days}");
            let srv = Server::start(
                &db,
                Config {
                    offline_ms: offline_days * 86_400_000,
                    ..config()
                },
                &dir.path().join(format!("b-{name}")),
            );
            srv.learner(&user, PASSWORD);
            let c = Client::new(dir.path(), &format!("o-{name}-{offline_days}"));
            srv.publish(&course, "shanxi");
            c.login_simulated(&srv.url, &user);
            let s = c.simulate(&course, &tl_path, 3);
            let client_credit = s["credited_seconds"].as_f64().unwrap();
            assert!(client_credit >= 1700.0, "{s}");
            c.ok(&c.sync_args(&srv.url, &[]));
            assert_exact(&srv, &c);
            let sum = srv.summary(&user);
            if expect_flags {
                assert!(
                    sum.simulated_seconds < client_credit / 2.0,
                    "{}",
                    sum.simulated_seconds
                );
                assert!(sum.flags.iter().any(|f| f.kind == "outside_lease"));
            } else {
                assert_eq!(sum.simulated_seconds, client_credit);
                // The timeline's captures name no photo: the platform credits the
                // time but not the captures. No time rule is broken.
                assert!(
                    sum.flags.iter().all(|f| f.kind == "capture_without_photo"),
                    "{:?}",
                    sum.flags
                );
            }
            srv.kill();
        }
    }
}

/// `keshi sync --watch`: keeps uploading what a session appends, and stops with
/// exit 4 and a `lease_revoked` line at the heartbeat after a login elsewhere.
#[test]
fn watch_mode_uploads_then_stops_on_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("w.db").display());
    let srv = Server::start(&db, config(), &dir.path().join("b"));
    srv.learner("qian", PASSWORD);
    let a = Client::new(dir.path(), "watch-a");
    a.login(&srv.url, "qian");
    a.bulk(100);
    let child = a
        .cmd()
        .args(a.sync_args(&srv.url, &["--watch", "--interval", "1"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while device_head(&srv, &a) < 100 && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(device_head(&srv, &a), 100);
    // Records appended while the watcher runs are picked up in the next round.
    a.bulk(50);
    let t0 = Instant::now();
    while device_head(&srv, &a) < 150 && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(device_head(&srv, &a), 150);
    Client::new(dir.path(), "watch-b").login(&srv.url, "qian");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    let last = last_json(&out);
    assert_eq!(last["status"], "lease_revoked", "{last}");
    assert_eq!(a.kinds().last().map(String::as_str), Some("lease_revoked"));
    srv.kill();
}

/// In `dir`: the honest one-hour timeline with a real face photo at its capture
/// (`photo.jsonl`, the photo beside it) and a one-class-hour demo course
/// (`course1.json`).
fn honest_hour_with_photo(dir: &Path) -> (PathBuf, PathBuf) {
    let images = std::env::var("KESHI_TEST_IMAGES").expect("KESHI_TEST_IMAGES (test.sh sets it)");
    std::fs::copy(
        Path::new(&images).join("astronaut.png"),
        dir.join("face.png"),
    )
    .unwrap();
    let honest = std::fs::read_to_string(timeline("honest-1h.jsonl")).unwrap();
    let with_photo = honest.replace(
        r#"{"t": 1, "event": "capture", "ok": true}"#,
        r#"{"t": 1, "event": "capture", "ok": true, "image": "face.png"}"#,
    );
    assert_ne!(with_photo, honest, "the timeline's capture line changed");
    let tl_photo = dir.join("photo.jsonl");
    std::fs::write(&tl_photo, with_photo).unwrap();
    let course = dir.join("course1.json");
    let out = Command::new(env!("CARGO_BIN_EXE_keshi"))
        .args([
            "course",
            "demo",
            "--class-hours",
            "1",
            "--out",
            course.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    (tl_photo, course)
}

/// Retention (R-SV-4, issue 11): after a complete sync, acknowledged payloads past
/// the retention period are erased behind a progress snapshot the platform
/// countersigned (its own fold of the device's records, with the evidence it holds,
/// found the same); the journal still verifies, the device's progress is unchanged,
/// and the platform still holds exactly the journal. A journal whose progress rests
/// on evidence the platform lacks (a capture without its photo) keeps everything.
#[test]
fn retention_erases_acknowledged_payloads_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (tl_photo, course) = honest_hour_with_photo(dir.path());
    let course_id =
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&course).unwrap())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let progress = |c: &Client| {
        let j = player_core::journal::Journal::read_only(Path::new(c.j())).unwrap();
        player_core::session::progress_of_journal(&j, &course_id).unwrap()
    };
    for (name, db) in backends(dir.path(), "retain") {
        let srv = Server::start(&db, config(), &dir.path().join(format!("b-{name}")));
        srv.publish(&course, "shanxi");
        for (user, tl, erased) in [
            ("withphoto", &tl_photo, true),
            ("nophoto", &timeline("honest-1h.jsonl"), false),
        ] {
            srv.learner(user, PASSWORD);
            let c = Client::new(dir.path(), &format!("retain-{user}-{name}"));
            c.login_simulated(&srv.url, user);
            c.simulate(&course, tl, 8);
            // Records, photos and the platform's grades (journaled and sent back).
            assert_eq!(c.ok(&c.sync_args(&srv.url, &[]))["status"], "synced");
            let before = progress(&c);
            // Records are stamped from the wall clock at the start of the replay on,
            // so with zero days of retention they are all past it.
            let report = c.ok(&c.sync_args(&srv.url, &["--retain-days", "0"]));
            assert_eq!(report["status"], "synced");
            let out = c.run(&["journal", "verify", "--json", c.j()]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v = last_json(&out);
            let n = v["report"]["erased_payloads"].as_array().unwrap().len();
            assert_eq!(n > 0, erased, "{user}: {v}");
            assert_eq!(
                c.kinds().iter().any(|k| k == "progress_snapshot"),
                erased,
                "{user}"
            );
            assert_eq!(
                progress(&c),
                before,
                "{user}: progress rebuilt from the snapshot"
            );
            if erased {
                assert_eq!(before.class_hours_completed(), 1, "{before:?}");
            }
            let report = c.ok(&c.sync_args(&srv.url, &[]));
            assert_eq!(report["status"], "synced");
            assert_exact(&srv, &c);
        }
        srv.kill();
    }
}

/// Evidence that reaches the platform (issue 11): a class hour completes on the
/// platform only with its capture photo received. The same honest hour is studied
/// twice: once with a photo at the capture (uploaded by `keshi sync` after its
/// record is acknowledged) and once with `ok: true` and no photo.
#[test]
fn a_class_hour_completes_on_the_platform_only_with_its_photo() {
    let dir = tempfile::tempdir().unwrap();
    let (tl_photo, course) = honest_hour_with_photo(dir.path());
    for (name, db) in backends(dir.path(), "evidence") {
        let srv = Server::start(&db, config(), &dir.path().join(format!("b-{name}")));
        srv.publish(&course, "shanxi");
        for (user, tl, hours) in [
            ("withphoto", &tl_photo, 1),
            ("nophoto", &timeline("honest-1h.jsonl"), 0),
        ] {
            srv.learner(user, PASSWORD);
            let c = Client::new(dir.path(), &format!("{user}-{name}"));
            c.login_simulated(&srv.url, user);
            let s = c.simulate(&course, tl, 1);
            // The device's own fold completes the hour either way.
            assert_eq!(s["class_hours_completed"], 1, "{s}");
            let report = c.ok(&c.sync_args(&srv.url, &[]));
            assert_eq!(report["status"], "synced", "{report}");
            let sum = srv.summary(user);
            assert_eq!(sum.simulated_class_hours, hours, "{user}: {sum:?}");
            assert_eq!(
                sum.simulated_seconds,
                s["credited_seconds"].as_f64().unwrap(),
                "{user}"
            );
            let without_photo = sum.flags.iter().any(|f| f.kind == "capture_without_photo");
            assert_eq!(without_photo, hours == 0, "{user}: {:?}", sum.flags);
        }
        srv.kill();
    }
}

/// A brand that pins the platform's key (issue 11): a platform answering with any
/// other key is not trusted, whatever it says; the right key signs in.
#[test]
fn a_pinned_platform_key_refuses_any_other_platform() {
    use player_core::http::{login_request, LoginDevice, LoginError};
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("pin.db").display());
    let srv = Server::start(&db, config(), &dir.path().join("b"));
    srv.learner("pin", PASSWORD);
    let key = DeviceKey::generate().unwrap();
    let device = LoginDevice {
        public_key: key.public_key(),
        head_seq: 0,
        head_hash: None,
        simulated: false,
    };
    let timeout = Duration::from_secs(30);
    let lease = login_request(&srv.url, "pin", PASSWORD, &device, None, timeout).unwrap();
    let real: [u8; 32] = hex::decode(&lease.platform_public_key)
        .unwrap()
        .try_into()
        .unwrap();
    let mut other = real;
    other[0] ^= 1;
    match login_request(&srv.url, "pin", PASSWORD, &device, Some(&other), timeout) {
        Err(LoginError::Untrusted(m)) => assert!(m.contains("pins"), "{m}"),
        r => panic!("a platform with another key was trusted: {r:?}"),
    }
    login_request(&srv.url, "pin", PASSWORD, &device, Some(&real), timeout).unwrap();
    srv.kill();
}

/// Attendance (issue 13, R-AS-5, R-AS-2) counts only what the platform credited:
/// of a one-class-hour course, the learner whose capture photo arrived completed
/// it (attendance 1, score from the platform's grade, qualified); the one whose
/// photo never came completed nothing (at risk); an enrolled learner who never
/// studied is listed at 0. Simulated study is reported only when asked for, and
/// never written to the summary table reports read.
#[test]
fn attendance_counts_only_the_class_hours_the_platform_credited() {
    let dir = tempfile::tempdir().unwrap();
    let (tl_photo, course) = honest_hour_with_photo(dir.path());
    for (name, db) in backends(dir.path(), "attendance") {
        let srv = Server::start(&db, config(), &dir.path().join(format!("b-{name}")));
        let (course_id, _) = srv.publish(&course, "shanxi");
        for (user, tl) in [
            ("withphoto", &tl_photo),
            ("nophoto", &timeline("honest-1h.jsonl")),
            ("third", &timeline("honest-1h.jsonl")),
        ] {
            srv.learner(user, PASSWORD);
            let c = Client::new(dir.path(), &format!("{user}-att-{name}"));
            c.login_simulated(&srv.url, user);
            c.simulate(&course, tl, 1);
            let report = c.ok(&c.sync_args(&srv.url, &[]));
            assert_eq!(report["status"], "synced", "{report}");
        }
        srv.learner("absent", PASSWORD);
        let results = srv.rt.block_on(async {
            let req = keshi_protocol::staff::EnrolRequest {
                course: course_id.clone(),
                learners: vec!["absent".into()],
                class: None,
            };
            keshi_platform::courses::enrol(
                &srv.store,
                &keshi_platform::staff::Scope::All,
                &req,
                "test",
                0,
            )
            .await
            .unwrap();
            let catalogue = keshi_platform::load_catalogue(&srv.store).await.unwrap();
            let scope = keshi_platform::staff::Scope::All;
            let real = keshi_platform::results::summarise(
                &srv.store,
                &catalogue,
                Some(&course_id),
                &scope,
                false,
                1,
            )
            .await
            .unwrap();
            let simulated = keshi_platform::results::summarise(
                &srv.store,
                &catalogue,
                Some(&course_id),
                &scope,
                true,
                1,
            )
            .await
            .unwrap();
            (real, simulated)
        });
        let (real, simulated) = results;
        // Real study: none (every device here was enrolled by `keshi simulate`).
        assert!(
            real.iter()
                .all(|r| r.class_hours_completed == 0 && !r.qualified),
            "{real:?}"
        );
        let by_user = |u: &str| simulated.iter().find(|r| r.user == u).unwrap().clone();
        assert_eq!(simulated.len(), 4, "{simulated:?}");
        let w = by_user("withphoto");
        assert_eq!(
            (
                w.class_hours_completed,
                w.class_hours_planned,
                w.attendance,
                w.at_risk,
                w.qualified
            ),
            (1, 1, 1.0, false, true),
            "{w:?}"
        );
        assert!(w.score >= 60 && w.score <= 100, "{w:?}");
        assert!(w.credited_seconds >= 2700.0, "{w:?}");
        let n = by_user("nophoto");
        assert_eq!(
            (
                n.class_hours_completed,
                n.attendance,
                n.at_risk,
                n.qualified
            ),
            (0, 0.0, true, false),
            "{n:?}"
        );
        assert_eq!(
            n.credited_seconds, w.credited_seconds,
            "the same study, no photo"
        );
        let a = by_user("absent");
        assert_eq!(
            (a.credited_seconds, a.class_hours_completed, a.at_risk),
            (0.0, 0, true)
        );
        let found = srv.rt.block_on(async {
            let catalogue = keshi_platform::load_catalogue(&srv.store).await.unwrap();
            keshi_platform::farming::run(
                &srv.store,
                &catalogue,
                true,
                keshi_platform::api::wall_now_ms(),
            )
            .await
            .unwrap();
            keshi_platform::farming::list(&srv.store, &keshi_platform::staff::Scope::All, None)
                .await
                .unwrap()
        });
        // Three accounts studying at once from one address (this test's loopback):
        // each is cited with its own credited records; the photo never sent is too.
        let mut shared: Vec<_> = found
            .iter()
            .filter(|f| f.rule == "shared_address")
            .collect();
        shared.sort_by(|a, b| a.learner.cmp(&b.learner));
        let who: Vec<&str> = shared.iter().map(|f| f.learner.as_str()).collect();
        assert_eq!(who, ["nophoto", "third", "withphoto"], "{found:#?}");
        assert!(shared
            .iter()
            .all(|f| f.severity == "medium" && f.status == "open" && !f.evidence.is_empty()));
        assert!(found
            .iter()
            .any(|f| f.rule == "capture_missing" && f.learner == "nophoto"));
        // Running the checks again adds nothing twice.
        let again = srv.rt.block_on(async {
            let catalogue = keshi_platform::load_catalogue(&srv.store).await.unwrap();
            keshi_platform::farming::run(&srv.store, &catalogue, true, 0)
                .await
                .unwrap()
        });
        assert_eq!(again, 0);
        // Certificates (R-AS-2, R-AS-6): withphoto qualified (its serial says the
        // study was simulated); nophoto is refused, saying why. The quarter's
        // settlement (R-QA-3) of the simulated certificates (a demo platform's
        // preview; real study is settled alike) counts it once at the level's rate,
        // and withholds it once a finding against the learner is confirmed.
        let scope = keshi_platform::staff::Scope::All;
        let font =
            keshi_platform::certificate::FontData::load(keshi_platform::certificate::DEFAULT_FONT)
                .unwrap();
        let quarter = {
            let (y, m) = keshi_platform::reports::year_month(keshi_platform::api::wall_now_ms());
            format!("{y}Q{}", (m - 1) / 3 + 1)
        };
        let (issued, refused, settled) = srv.rt.block_on(async {
            use keshi_platform::reports::{certify, settlement, CertifyRequest, Inline, Known};
            let catalogue = keshi_platform::load_catalogue(&srv.store).await.unwrap();
            let key = keshi_platform::platform_key(&srv.store, 0).await.unwrap();
            let now = keshi_platform::api::wall_now_ms();
            let req = |user| CertifyRequest {
                user,
                course: &course_id,
                simulated: true,
                actor: "test",
            };
            let inline = Inline(&key, &font);
            let issue = |user, at| {
                certify(
                    &srv.store,
                    &key,
                    &catalogue,
                    req(user),
                    Known::default(),
                    &inline,
                    at,
                )
            };
            let issued = issue("withphoto", now).await.unwrap();
            let again = issue("withphoto", now + 5).await.unwrap();
            assert_eq!(again.pdf, issued.pdf, "issued once, the same bytes after");
            let refused = issue("nophoto", now).await.unwrap_err();
            let real = settlement(&srv.store, &key, &catalogue, &scope, &quarter, false, now)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (real.lines.len(), real.total_fen),
                (0, 0),
                "simulated study is never settled"
            );
            let settled = settlement(&srv.store, &key, &catalogue, &scope, &quarter, true, now)
                .await
                .unwrap()
                .unwrap();
            (issued, refused, settled)
        });
        let key_hex = issued.statement.platform_key.clone();
        let key: [u8; 32] = hex::decode(&key_hex).unwrap().try_into().unwrap();
        let st = keshi_protocol::certificate::verify_pdf(&issued.pdf, &key).unwrap();
        assert!(st.serial.starts_with("SIM-"), "{st:?}");
        assert_eq!(
            (st.learner.as_str(), st.class_hours, st.score),
            ("withphoto", 1, w.score)
        );
        assert!(st.checkpoint_size > 0);
        assert!(
            refused.to_string().contains("0 of 1 class hours completed"),
            "{refused}"
        );
        assert_eq!(settled.lines.len(), 1, "{settled:?}");
        let rate = settled.lines[0].rate_fen;
        assert!([300, 400, 500].contains(&rate), "{settled:?}");
        assert_eq!(
            (
                settled.lines[0].learners,
                settled.lines[0].class_hours,
                settled.total_fen,
                settled.withheld
            ),
            (1, 1, rate, 0)
        );
        // The public check (`/verify`, no sign-in): the PDF and its QR text verify
        // with the platform's own key and stand as a demo certificate; one altered
        // byte or a stranger's text does not.
        let http = reqwest::blocking::Client::new();
        let check = |body: Vec<u8>| -> serde_json::Value {
            let r = http
                .post(format!("{}/v1/verify", srv.url))
                .body(body)
                .send()
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json().unwrap()
        };
        let v = check(issued.pdf.clone());
        assert_eq!(
            (v["valid"].as_bool(), v["standing"].as_str()),
            (Some(true), Some("simulated")),
            "{v}"
        );
        assert_eq!(v["statement"]["serial"], issued.statement.serial.as_str());
        // The QR text is also in the PDF, on its `%KESHI-CERT` line.
        let qr = String::from_utf8_lossy(&issued.pdf)
            .lines()
            .find_map(|l| l.strip_prefix("%KESHI-CERT "))
            .unwrap()
            .to_owned();
        assert_eq!(check(qr.into_bytes())["valid"], true);
        let mut altered = issued.pdf.clone();
        let at = altered.len() / 2;
        altered[at] ^= 0x20;
        let v = check(altered);
        assert_eq!(
            (v["valid"].as_bool(), v["code"].as_str()),
            (Some(false), Some("altered")),
            "{v}"
        );
        assert_eq!(check(b"hello".to_vec())["code"], "not_keshi");
        let page = http.get(format!("{}/verify", srv.url)).send().unwrap();
        assert!(page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
        assert!(page.text().unwrap().contains("/verify/verify.js"));
        // The bulk download: every qualified learner's certificate of the course in
        // one ZIP (here the one demo certificate), the same PDF as issued.
        srv.rt.block_on(async {
            let hash = keshi_platform::auth::hash_password("staff-password-1").unwrap();
            srv.store
                .create_staff(
                    "test",
                    "op",
                    keshi_protocol::staff::StaffRole::Operator,
                    "*",
                    &hash,
                    0,
                )
                .await
                .unwrap();
        });
        let login: serde_json::Value = http
            .post(format!("{}/v1/staff/login", srv.url))
            .json(&serde_json::json!({"user": "op", "password": "staff-password-1"}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let token = login["token"].as_str().unwrap();
        let zip = http
            .get(format!(
                "{}/v1/staff/certificates?course={course_id}&simulated=1",
                srv.url
            ))
            .bearer_auth(token)
            .send()
            .unwrap();
        assert_eq!(zip.status(), 200);
        assert_eq!(zip.headers()["x-certificates"], "1");
        let bytes = zip.bytes().unwrap().to_vec();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name(), format!("{}.pdf", issued.statement.serial));
        let mut pdf = Vec::new();
        entry.read_to_end(&mut pdf).unwrap();
        assert_eq!(pdf, issued.pdf, "the same certificate as issued");
        drop(entry);
        // The learner's archive (R-SV-5) verifies on its own with the platform key:
        // every record proven in the checkpoint, the capture photo, the certificate.
        let archive = dir.path().join(format!("withphoto-{name}.zip"));
        srv.rt.block_on(async {
            let key = keshi_platform::platform_key(&srv.store, 0).await.unwrap();
            let blobs =
                keshi_platform::blob::DiskBlobStore::new(dir.path().join(format!("b-{name}")))
                    .unwrap();
            keshi_platform::archive::write(
                &srv.store,
                &key,
                &blobs,
                &font,
                "withphoto",
                std::fs::File::create(&archive).unwrap(),
                keshi_platform::api::wall_now_ms(),
            )
            .await
            .unwrap();
        });
        let keshi = Client::new(dir.path(), &format!("auditor-{name}"));
        let verify = |file: &Path| {
            keshi.run(&[
                "verify-archive",
                file.to_str().unwrap(),
                "--platform-key",
                &key_hex,
                "--json",
            ])
        };
        let out = verify(&archive);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(out.status.success(), "{v}");
        let records = v["report"]["records"].as_u64().unwrap();
        assert!(records > 10, "{v}");
        assert_eq!(v["report"]["proven"].as_u64(), Some(records));
        assert_eq!(
            (
                v["report"]["photos"].as_u64(),
                v["report"]["certificates"].as_u64()
            ),
            (Some(1), Some(1)),
            "{v}"
        );
        assert_eq!(
            v["learner"]["id_number_masked"]
                .as_str()
                .unwrap()
                .matches('*')
                .count(),
            8
        );
        // One record's payload edited, or a photo swapped: named, exit 1.
        let rewrite = |tag: &str, change: &dyn Fn(&str, Vec<u8>) -> Vec<u8>| {
            let mut zin = zip::ZipArchive::new(std::fs::File::open(&archive).unwrap()).unwrap();
            let to = dir.path().join(format!("withphoto-{name}-{tag}.zip"));
            let mut zout = zip::ZipWriter::new(std::fs::File::create(&to).unwrap());
            for i in 0..zin.len() {
                let mut e = zin.by_index(i).unwrap();
                let entry_name = e.name().to_owned();
                let mut bytes = Vec::new();
                e.read_to_end(&mut bytes).unwrap();
                zout.start_file(
                    entry_name.as_str(),
                    zip::write::SimpleFileOptions::default(),
                )
                .unwrap();
                zout.write_all(&change(&entry_name, bytes)).unwrap();
            }
            zout.finish().unwrap();
            to
        };
        let edited = rewrite("edited", &|n, b| {
            if n != "records.jsonl" {
                return b;
            }
            let text = String::from_utf8(b).unwrap();
            let mut lines: Vec<serde_json::Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let p = lines[5]["record"]["payload"]
                .as_str()
                .unwrap()
                .replace('1', "2");
            lines[5]["record"]["payload"] = p.into();
            lines
                .iter()
                .map(|l| format!("{l}\n"))
                .collect::<String>()
                .into_bytes()
        });
        let out = verify(&edited);
        assert_eq!(out.status.code(), Some(1));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            v["report"]["problems"][0].as_str().unwrap().contains("seq"),
            "{v}"
        );
        // A record left out (and the count lowered to match), or the manifest's
        // learner renamed: named, exit 1 (the manifest is signed, with a digest of
        // the records).
        let omitted = rewrite("omitted", &|n, b| {
            if n != "records.jsonl" && n != "manifest.json" {
                return b;
            }
            let text = String::from_utf8(b).unwrap();
            match n {
                "records.jsonl" => text
                    .lines()
                    .enumerate()
                    .filter(|(i, _)| *i != 3)
                    .map(|(_, l)| format!("{l}\n"))
                    .collect::<String>()
                    .into_bytes(),
                "manifest.json" => {
                    let mut m: serde_json::Value = serde_json::from_str(&text).unwrap();
                    m["records"] = (m["records"].as_u64().unwrap() - 1).into();
                    m.to_string().into_bytes()
                }
                _ => text.into_bytes(),
            }
        });
        let out = verify(&omitted);
        assert_eq!(out.status.code(), Some(1));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            text.contains("are missing before seq") && text.contains("signature"),
            "{text}"
        );
        let renamed = rewrite("renamed", &|n, b| {
            if n != "manifest.json" {
                return b;
            }
            let mut m: serde_json::Value = serde_json::from_slice(&b).unwrap();
            m["learner"]["real_name"] = "王五".into();
            m.to_string().into_bytes()
        });
        let out = verify(&renamed);
        assert_eq!(out.status.code(), Some(1));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(text.contains("signature does not verify"), "{text}");
        let swapped = rewrite("photo", &|n, b| {
            if n.starts_with("photos/") {
                b"another face".to_vec()
            } else {
                b
            }
        });
        let out = verify(&swapped);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("SHA-256"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        // Confirmed: withphoto's study leaves credit and qualification; dismissed:
        // third's stays; a review needs a reason and happens once.
        let scope = keshi_platform::staff::Scope::All;
        let (confirmed, dismissed, after) = srv.rt.block_on(async {
            use keshi_platform::farming::{review, Decision, ReviewError};
            let no_reason = review(
                &srv.store,
                &scope,
                &shared[2].id,
                Decision::Confirm,
                " ",
                "staff:lab",
                5,
            )
            .await;
            assert!(
                matches!(no_reason, Err(ReviewError::NoReason)),
                "{no_reason:?}"
            );
            let c = review(
                &srv.store,
                &scope,
                &shared[2].id,
                Decision::Confirm,
                "one PC, three accounts",
                "staff:lab",
                5,
            )
            .await
            .unwrap();
            let d = review(
                &srv.store,
                &scope,
                &shared[1].id,
                Decision::Dismiss,
                "a training room",
                "staff:lab",
                6,
            )
            .await
            .unwrap();
            let twice = review(
                &srv.store,
                &scope,
                &shared[1].id,
                Decision::Confirm,
                "changed my mind",
                "staff:lab",
                7,
            )
            .await;
            assert!(
                matches!(twice, Err(ReviewError::Reviewed { .. })),
                "{twice:?}"
            );
            let catalogue = keshi_platform::load_catalogue(&srv.store).await.unwrap();
            let after = keshi_platform::results::summarise(
                &srv.store,
                &catalogue,
                Some(&course_id),
                &scope,
                true,
                8,
            )
            .await
            .unwrap();
            (c, d, after)
        });
        assert_eq!(
            (confirmed.status.as_str(), dismissed.status.as_str()),
            ("confirmed", "dismissed")
        );
        let w2 = after.iter().find(|r| r.user == "withphoto").unwrap();
        assert_eq!(
            (
                w2.class_hours_completed,
                w2.credited_seconds,
                w2.qualified,
                w2.confirmed_flags
            ),
            (0, 0.0, false, 1),
            "{w2:?}"
        );
        let t2 = after.iter().find(|r| r.user == "third").unwrap();
        assert_eq!(
            (t2.confirmed_flags, t2.credited_seconds),
            (0, w.credited_seconds)
        );
        let after_review = srv.rt.block_on(async {
            let catalogue = keshi_platform::load_catalogue(&srv.store).await.unwrap();
            let key = keshi_platform::platform_key(&srv.store, 0).await.unwrap();
            let now = keshi_platform::api::wall_now_ms();
            keshi_platform::reports::settlement(
                &srv.store, &key, &catalogue, &scope, &quarter, true, now,
            )
            .await
            .unwrap()
            .unwrap()
        });
        assert_eq!(
            (after_review.total_fen, after_review.withheld),
            (0, 1),
            "{after_review:?}"
        );
        // The certificate already issued is withdrawn now.
        let withdrawn = srv.rt.block_on(async {
            let catalogue = keshi_platform::load_catalogue(&srv.store).await.unwrap();
            let key = keshi_platform::platform_key(&srv.store, 0).await.unwrap();
            let req = keshi_platform::reports::CertifyRequest {
                user: "withphoto",
                course: &course_id,
                simulated: true,
                actor: "test",
            };
            keshi_platform::reports::certify(
                &srv.store,
                &key,
                &catalogue,
                req,
                keshi_platform::reports::Known::default(),
                &keshi_platform::reports::Inline(&key, &font),
                9,
            )
            .await
            .unwrap_err()
        });
        assert!(withdrawn.to_string().contains("withdrawn"), "{withdrawn}");
        let audit = srv
            .rt
            .block_on(srv.store.audit_in_scope(&scope, i64::MAX, 50))
            .unwrap();
        let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
        assert!(
            actions.contains(&"finding.confirm") && actions.contains(&"finding.dismiss"),
            "{actions:?}"
        );
        srv.kill();
    }
}
