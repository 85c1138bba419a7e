//! Courses from the platform to the learner's device (issue 12): `keshi courses`
//! and `keshi course fetch` against the real platform on 127.0.0.1 (SQLite, and
//! PostgreSQL when `KESHI_TEST_PG_URL` is set), with the download faults the issue
//! names: a connection cut mid-file, the platform restarted between attempts, a
//! corrupted byte on the server. Nothing unchecked becomes playable: the course
//! store sees a course only once every file matched the manifest's SHA-256.
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
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use keshi_platform::blob::{BlobStore, DiskBlobStore};
use keshi_platform::Config;
use pcommon::{backends, Server};
use player_core::courses::CourseStore;
use rand::RngCore;

const PASSWORD: &str = "pw-course-1";
/// The big lesson: several cuts of the proxy below.
const BIG: usize = 3 << 20;

fn keshi(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keshi"));
    c.env("KESHI_HOME", home)
        .env("KESHI_KEYSTORE", "file")
        .env_remove("KESHI_LOG");
    c
}

fn last_json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or("null");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"))
}

fn ok(out: Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "keshi failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    last_json(&out)
}

/// A one-class-hour course whose lessons have real bytes (random, one of them
/// 3 MiB), published by the test school with its media in the platform's blobs.
fn publish(srv: &Server, blobs: &Path) -> (String, Vec<(String, Vec<u8>)>) {
    let mut m = keshi_protocol::demo::course(1);
    let mut media = Vec::new();
    let store = DiskBlobStore::new(blobs).unwrap();
    let lessons = m["lessons"].as_array_mut().unwrap();
    for (i, l) in lessons.iter_mut().enumerate() {
        let mut bytes = vec![0u8; if i == 0 { BIG } else { 200_000 + i }];
        rand::rng().fill_bytes(&mut bytes);
        let sha = keshi_protocol::ids::Hash::of(&bytes).to_hex();
        let rel = format!("media/lesson-{i}.mp4");
        l["media"]["path"] = serde_json::json!(rel);
        l["media"]["sha256"] = serde_json::json!(sha);
        store.put(&sha, &bytes).unwrap();
        media.push((rel, bytes));
    }
    let id = m["id"].as_str().unwrap().to_owned();
    srv.rt.block_on(async {
        let inst = srv
            .store
            .create_institution("Test School", 0)
            .await
            .unwrap();
        let r = keshi_platform::courses::publish(
            &srv.store,
            &store,
            &inst,
            &m.to_string(),
            "shanxi",
            "test",
            0,
        )
        .await
        .unwrap();
        assert_eq!((r.course_id.as_str(), r.version), (id.as_str(), 1));
    });
    (id, media)
}

fn enrol(srv: &Server, course: &str, user: &str) {
    srv.rt.block_on(async {
        let r = keshi_platform::courses::enrol(
            &srv.store,
            &keshi_platform::staff::Scope::All,
            &keshi_protocol::staff::EnrolRequest {
                course: course.into(),
                learners: vec![user.into()],
                class: None,
            },
            "test",
            0,
        )
        .await
        .unwrap();
        assert_eq!(r.enrolled, 1);
    });
}

/// A TCP proxy: passes at most `limit` bytes of each answer connection, then cuts
/// it; after `refuse_after` connections it refuses all. Counts the bytes passed
/// to the client.
struct Proxy {
    url: String,
    stop: Arc<AtomicBool>,
    passed: Arc<AtomicU64>,
    connections: Arc<AtomicUsize>,
}

impl Proxy {
    fn start(upstream: &str, limit: u64, refuse_after: usize) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let up = upstream.trim_start_matches("http://").to_owned();
        let stop = Arc::new(AtomicBool::new(false));
        let passed = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let (s2, p2, c2) = (stop.clone(), passed.clone(), connections.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = conn else { continue };
                if c2.fetch_add(1, Ordering::Relaxed) >= refuse_after {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&up) else {
                    continue;
                };
                let (mut c_read, mut s_write) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_read, &mut s_write);
                });
                let p = p2.clone();
                std::thread::spawn(move || {
                    let (mut server, mut client) = (server, client);
                    let mut left = limit;
                    let mut buf = [0u8; 16384];
                    while left > 0 {
                        let Ok(n) = server.read(&mut buf) else { break };
                        if n == 0 {
                            break;
                        }
                        let n = n.min(usize::try_from(left).unwrap_or(usize::MAX));
                        if client.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        p.fetch_add(n as u64, Ordering::Relaxed);
                        left -= n as u64;
                    }
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    let _ = server.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Proxy {
            url: format!("http://{addr}"),
            stop,
            passed,
            connections,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

struct Learner {
    home: PathBuf,
    journal: PathBuf,
    courses: PathBuf,
}

impl Learner {
    fn new(dir: &Path, name: &str) -> Learner {
        Learner {
            home: dir.join(format!("home-{name}")),
            journal: dir.join(format!("{name}.db")),
            courses: dir.join(format!("courses-{name}")),
        }
    }

    fn login(&self, url: &str, user: &str) {
        ok(keshi(&self.home)
            .args([
                "login",
                "--platform",
                url,
                "--user",
                user,
                "--password",
                PASSWORD,
            ])
            .arg("--journal")
            .arg(&self.journal)
            .output()
            .unwrap());
    }

    fn fetch(&self, url: &str, course: &str) -> Output {
        keshi(&self.home)
            .args([
                "course",
                "fetch",
                "--platform",
                url,
                "--course",
                course,
                "--timeout",
                "5",
            ])
            .arg("--journal")
            .arg(&self.journal)
            .arg("--out")
            .arg(self.courses.join(course))
            .output()
            .unwrap()
    }

    fn playable(&self) -> Vec<String> {
        CourseStore::load(&self.courses)
            .iter()
            .map(|c| c.id.clone())
            .collect()
    }
}

#[test]
fn an_enrolled_course_downloads_through_cuts_and_a_restart_and_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in backends(dir.path(), "fetch") {
        let blobs = dir.path().join(format!("b-{name}"));
        let srv = Server::start(&db, Config::default(), &blobs);
        srv.learner("wang", PASSWORD);
        srv.learner("zhao", PASSWORD);
        let (course, media) = publish(&srv, &blobs);
        enrol(&srv, &course, "wang");
        let wang = Learner::new(dir.path(), &format!("wang-{name}"));
        wang.login(&srv.url, "wang");
        let zhao = Learner::new(dir.path(), &format!("zhao-{name}"));
        zhao.login(&srv.url, "zhao");

        // The list: what is enrolled, nothing else.
        let listed = ok(keshi(&wang.home)
            .args(["courses", "--platform", &srv.url, "--json", "--journal"])
            .arg(&wang.journal)
            .output()
            .unwrap());
        let courses = listed["courses"].as_array().unwrap();
        assert_eq!(courses.len(), 1, "{listed}");
        assert_eq!(courses[0]["id"], course.as_str());
        assert_eq!(courses[0]["media_files"], media.len());
        let total: usize = media.iter().map(|(_, b)| b.len()).sum();
        assert_eq!(courses[0]["media_bytes"], total);
        let none = ok(keshi(&zhao.home)
            .args(["courses", "--platform", &srv.url, "--json", "--journal"])
            .arg(&zhao.journal)
            .output()
            .unwrap());
        assert_eq!(none["courses"], serde_json::json!([]));
        // Not enrolled: the course does not exist for zhao.
        let out = zhao.fetch(&srv.url, &course);
        assert!(!out.status.success());
        assert!(zhao.playable().is_empty());

        // 1. Every connection is cut after 1 MiB and, after two, the platform
        //    cannot be reached at all: the fetch fails, keeps what arrived, and
        //    nothing is playable.
        let cut = Proxy::start(&srv.url, 1 << 20, 2);
        let out = wang.fetch(&cut.url, &course);
        assert!(
            !out.status.success(),
            "a fetch that never finished succeeded"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("could not be reached"), "{err}");
        assert!(
            wang.playable().is_empty(),
            "an unfinished course is playable"
        );
        let part = wang.courses.join(&course).join("media/lesson-0.mp4.part");
        let held = std::fs::metadata(&part).map_or(0, |m| m.len());
        assert!(held > 0 && (held as usize) < BIG, "held {held}");
        drop(cut);

        // 2. The platform restarts; the next fetch resumes from what is held
        //    (through a proxy that cuts every 1 MiB: several resumptions) and
        //    the course becomes playable, every file byte for byte.
        let url = srv.url.clone();
        srv.kill();
        let srv = Server::start_on(
            &db,
            Config::default(),
            &blobs,
            url.trim_start_matches("http://"),
        );
        let cuts = Proxy::start(&srv.url, 1 << 20, usize::MAX);
        let r = ok(wang.fetch(&cuts.url, &course));
        assert_eq!(r["verified"], true);
        assert!(
            cuts.connections.load(Ordering::Relaxed) >= 3,
            "the cuts did not happen"
        );
        let passed = cuts.passed.load(Ordering::Relaxed);
        assert!(
            passed < total as u64 + 64 * 1024 - held,
            "the download started again instead of resuming: {passed} bytes for {total} with {held} held"
        );
        for (rel, bytes) in &media {
            let got = std::fs::read(wang.courses.join(&course).join(rel)).unwrap();
            assert!(got == *bytes, "{rel} differs");
        }
        assert_eq!(wang.playable(), vec![course.clone()]);
        let served =
            std::fs::read_to_string(wang.courses.join(&course).join("course.json")).unwrap();
        assert!(!served.contains("\"answer\""), "the device got answer keys");
        // A second fetch downloads nothing again.
        let before = cuts.passed.load(Ordering::Relaxed);
        ok(wang.fetch(&cuts.url, &course));
        assert!(cuts.passed.load(Ordering::Relaxed) - before < 64 * 1024);
        drop(cuts);

        // 3. A byte of the big lesson is corrupted on the server: a fresh
        //    download is refused with a clear error and never becomes playable.
        let sha = keshi_protocol::ids::Hash::of(&media[0].1).to_hex();
        let file = blobs.join(&sha[..2]).join(&sha);
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[BIG / 2] ^= 0x40;
        std::fs::write(&file, &bytes).unwrap();
        let fresh = Learner {
            courses: dir.path().join(format!("courses-fresh-{name}")),
            ..Learner::new(dir.path(), &format!("wang-{name}"))
        };
        let out = fresh.fetch(&srv.url, &course);
        assert!(!out.status.success(), "a corrupted file was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("lesson") && err.contains("do not match the manifest"),
            "{err}"
        );
        assert!(fresh.playable().is_empty());
        let dir_c = fresh.courses.join(&course).join("media");
        assert!(!dir_c.join("lesson-0.mp4").exists());
        assert!(!dir_c.join("lesson-0.mp4.part").exists());
        srv.kill();
    }
}

#[test]
fn media_is_served_only_to_the_enrolled_and_only_the_courses_own() {
    let dir = tempfile::tempdir().unwrap();
    let (_, db) = backends(dir.path(), "media").remove(0);
    let blobs = dir.path().join("b");
    let srv = Server::start(&db, Config::default(), &blobs);
    srv.learner("wang", PASSWORD);
    srv.learner("zhao", PASSWORD);
    let (course, media) = publish(&srv, &blobs);
    enrol(&srv, &course, "wang");
    let key = pcommon::DeviceKey::generate().unwrap();
    let wang = pcommon::login(&srv.url, "wang", PASSWORD, &key);
    let key2 = pcommon::DeviceKey::generate().unwrap();
    let zhao = pcommon::login(&srv.url, "zhao", PASSWORD, &key2);
    let sha = keshi_protocol::ids::Hash::of(&media[1].1).to_hex();
    let get = |token: &str, path: &str, range: Option<&str>| {
        let mut r = pcommon::client()
            .get(format!("{}{path}", srv.url))
            .bearer_auth(token);
        if let Some(range) = range {
            r = r.header("range", range);
        }
        r.send().unwrap()
    };
    let media_path = format!("/v1/courses/{course}/media/{sha}");
    let r = get(&wang.token, &media_path, Some("bytes=10-19"));
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        format!("bytes 10-19/{}", media[1].1.len())
    );
    assert_eq!(r.bytes().unwrap().to_vec(), media[1].1[10..20].to_vec());
    let r = get(
        &wang.token,
        &media_path,
        Some(&format!("bytes={}-", media[1].1.len())),
    );
    assert_eq!(r.status(), 416);
    assert_eq!(get(&zhao.token, &media_path, None).status(), 404);
    assert_eq!(
        get(&zhao.token, &format!("/v1/courses/{course}/manifest"), None).status(),
        404
    );
    // A blob that is not this course's media (a capture photo, say) is not served.
    let other = keshi_protocol::ids::Hash::of(b"someone's photo").to_hex();
    DiskBlobStore::new(&blobs)
        .unwrap()
        .put(&other, b"someone's photo")
        .unwrap();
    assert_eq!(
        get(
            &wang.token,
            &format!("/v1/courses/{course}/media/{other}"),
            None
        )
        .status(),
        404
    );
    assert_eq!(get("not-a-token", &media_path, None).status(), 401);
    srv.kill();
}
