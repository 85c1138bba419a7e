//! One learner studies a whole published course, honestly, on the real rules engine
//! and over real HTTP, into an existing platform database — in the hours just
//! past, so the learner has really qualified by the time it returns.
//!
//! A platform on loopback serves the database with its clock set back to the
//! start of the study; a fresh device signs the learner in, sits the course
//! (playing, active every minute, a frame of a real face at each capture, every
//! quiz answered right) and uploads with the sync engine; the clock then catches up
//! with the present. For the console's browser test (a certificate to download,
//! issue 13) and for trying the console by hand; a demo's learners study through
//! `keshi simulate`, whose study never qualifies.
//!
//! ```text
//! KESHI_TEST_IMAGES=DIR cargo run -p keshi-cli --example study_course -- \
//!     --db sqlite:PATH --user U --password P --course ID [--blobs DIR]
//! ```
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a test tool

#[path = "../../platform/tests/common/mod.rs"]
mod pcommon;
#[path = "../tests/study/mod.rs"]
mod study;

use std::path::PathBuf;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

use keshi_platform::Config;
use study::{Behaviour, Clock, Device, MINUTE};

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut db, mut user, mut password, mut course, mut blobs) = (None, None, None, None, None);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--db" => db = Some(v),
            "--user" => user = Some(v),
            "--password" => password = Some(v),
            "--course" => course = Some(v),
            "--blobs" => blobs = Some(PathBuf::from(v)),
            _ => panic!("unknown argument {a}"),
        }
    }
    let (db, user, password, course) = (
        db.expect("--db"),
        user.expect("--user"),
        password.expect("--password"),
        course.expect("--course"),
    );
    // Capture images go where `serve` keeps them for this database.
    let blobs = blobs.unwrap_or_else(|| match db.strip_prefix("sqlite:") {
        Some(p) => PathBuf::from(format!("{}.blobs", p.trim_start_matches("//"))),
        None => PathBuf::from("keshi-blobs"),
    });
    let now = keshi_platform::api::wall_now_ms();
    let clock = Clock(Arc::new(AtomicI64::new(now)));
    let c = clock.clone();
    let srv =
        pcommon::Server::start_clocked(&db, Config::default(), &blobs, Arc::new(move || c.now()));
    let published = srv
        .rt
        .block_on(keshi_platform::load_catalogue(&srv.store))
        .expect("catalogue")
        .get(&course)
        .unwrap_or_else(|| panic!("no published course {course:?}"))
        .clone();
    let manifest = published.course.without_answers();
    let length_ms = i64::try_from(manifest.duration_ms()).expect("course length");
    // Start far enough back that the study, its quizzes and the upload are past.
    let start = now - length_ms - 3_600_000;
    let dir = tempfile::tempdir().expect("temporary directory");
    let device = Device::new(dir.path(), &user, &password, "device", [127, 0, 0, 7], 7);
    clock.set(start - i64::try_from(MINUTE).unwrap());
    device.sign_in(&srv, &clock);
    let face = study::face();
    let end = device.sit(
        &manifest,
        &published.policy,
        &face,
        start,
        Duration::from_millis(u64::try_from(length_ms).unwrap() * 2),
        Behaviour::default(),
    );
    clock.set(end + i64::try_from(MINUTE).unwrap());
    device.upload(&srv, &clock);
    clock.set(keshi_platform::api::wall_now_ms().max(clock.now()));
    let summary = srv.summary(&user);
    println!(
        "{}",
        serde_json::json!({"user": user, "course": course, "credited_seconds": summary.credited_seconds})
    );
    srv.kill();
}
