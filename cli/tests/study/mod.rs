//! A learner studying on the real rules engine against a platform on loopback: a
//! device with its own key, journal and photos, signing in from its own network
//! address, sitting a course as a learner would (playing, active every minute,
//! answering each capture with a frame of a real face and each quiz), and
//! uploading with the sync engine. Shared by the whole-class scenario
//! (`cli/tests/class.rs`) and `cli/examples/study_course.rs`.
#![allow(dead_code)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use player_core::http::HttpTransport;
use player_core::identity::DeviceKey;
use player_core::journal::Journal;
use player_core::manifest::Course;
use player_core::playback::{Action, Input};
use player_core::policy::Policy;
use player_core::session::Session;
use player_core::sync::{PhotoStore, SyncEngine, SyncOptions, SyncStatus};
use rand::SeedableRng;
use serde_json::json;

use super::pcommon::Server;

pub const MINUTE: u64 = 60_000;
/// Seconds a learner takes to answer a quiz (five questions: well above the
/// fast-quiz floor of 2 s each).
pub const QUIZ_SECONDS: u64 = 30;

/// The platform's clock, set by the test.
#[derive(Clone)]
pub struct Clock(pub Arc<AtomicI64>);

impl Clock {
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    pub fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// How a learner behaves in a sitting.
#[derive(Debug, Clone, Copy, Default)]
pub struct Behaviour {
    /// Every minute: asks for 2x and reports a position a minute ahead.
    pub speed_attack: bool,
    /// The class hour whose quiz is answered wrongly (and never retried).
    pub wrong_quiz: Option<u32>,
    /// The class hour whose capture photo never reaches the device's photo store.
    pub photo_missing: Option<u32>,
    /// Seconds taken to answer each quiz (default [`QUIZ_SECONDS`]).
    pub quiz_seconds: Option<u64>,
}

/// One device of a learner: its key, journal and photos, and the network address
/// it signs in from.
pub struct Device {
    pub user: String,
    pub journal_path: PathBuf,
    pub key: Arc<DeviceKey>,
    pub addr: IpAddr,
    pub photos: PhotoStore,
    pub seed: u64,
    /// The learner's password.
    pub password: String,
    /// Frames taken so far (each capture's frame differs).
    pub shots: std::cell::Cell<u32>,
}

impl Device {
    pub fn new(
        dir: &Path,
        user: &str,
        password: &str,
        name: &str,
        addr: [u8; 4],
        seed: u64,
    ) -> Device {
        let journal_path = dir.join(format!("{name}.journal"));
        Device {
            user: user.to_owned(),
            photos: PhotoStore::beside(&journal_path),
            journal_path,
            key: Arc::new(DeviceKey::generate().unwrap()),
            addr: IpAddr::from(addr),
            seed,
            password: password.to_owned(),
            shots: std::cell::Cell::new(0),
        }
    }

    pub fn journal(&self) -> Journal {
        Journal::open(&self.journal_path, self.key.clone()).unwrap()
    }

    /// Signs in at the platform's current time, from this device's address (the
    /// address the platform records on the lease), and stores the lease.
    pub fn sign_in(&self, srv: &Server, clock: &Clock) {
        let mut journal = self.journal();
        let device = player_core::http::LoginDevice::of(&journal).unwrap();
        let r = reqwest::blocking::Client::builder()
            .local_address(self.addr)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
            .post(format!("{}/v1/login", srv.url))
            .json(&json!({
                "user": self.user, "password": self.password,
                "public_key": hex::encode(device.public_key),
                "head_seq": device.head_seq,
                "head_hash": device.head_hash.map(hex::encode),
            }))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{} signs in", self.user);
        let lease: player_core::wire::LoginResponse = r.json().unwrap();
        player_core::http::store_login(&mut journal, &srv.url, &lease, clock.now()).unwrap();
    }

    /// A distinct frame of a real face for each capture (a camera never gives the
    /// same bytes twice), kept where the sync engine finds it unless `lost`.
    pub fn photo(&self, face: &image::RgbImage, lost: bool) -> String {
        let n = self.shots.get() + 1;
        self.shots.set(n);
        let mut frame = face.clone();
        let [r, g, b] = [n as u8, (n >> 8) as u8, (self.seed as u8).wrapping_add(1)];
        frame.put_pixel(0, 0, image::Rgb([r, g, b]));
        let mut bytes = Vec::new();
        frame
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap();
        if lost {
            player_core::record::Hash::of(&bytes).to_hex()
        } else {
            self.photos.put(&bytes).unwrap()
        }
    }

    /// One sitting from `start` (platform time) for at most `play` of clock time,
    /// or to the course's end: plays, is active every minute, answers each capture
    /// at once with a photo and each quiz after [`QUIZ_SECONDS`]. Returns the
    /// sitting's last moment (platform time).
    pub fn sit(
        &self,
        course: &Course,
        policy: &Policy,
        face: &image::RgbImage,
        start: i64,
        play: Duration,
        how: Behaviour,
    ) -> i64 {
        let rng = rand_chacha::ChaCha20Rng::seed_from_u64(self.seed ^ start as u64);
        let (session, _) = Session::open(self.journal(), course, policy, rng, start).unwrap();
        let mut d = Driver {
            s: session,
            now: 0,
            ended: false,
            dev: self,
            face,
            how,
        };
        let limit = play.as_millis() as u64;
        d.feed(0, Input::Play);
        let mut t = 0u64;
        while !d.ended && t < limit {
            let next = (t + MINUTE).min(limit);
            // Prompts come when the engine says, not on the minute.
            while let Some(p) = d.s.player_mut().next_prompt_at() {
                if p > next || d.ended {
                    break;
                }
                d.feed(p, Input::Tick);
            }
            t = next;
            if d.ended {
                break;
            }
            d.feed(t, Input::Activity);
            if how.speed_attack {
                d.feed(t, Input::Rate { rate: 2.0 });
                let ahead = d.s.player().progress().frontier_ms + MINUTE;
                d.feed(t, Input::Position { pos_ms: ahead });
            }
        }
        let end = d.now.max(t);
        d.feed(end, Input::Close);
        start + end as i64
    }

    /// Signs in a minute before `start`, sits, and uploads a minute after the end,
    /// the platform's clock set each time. Returns the sitting's end.
    pub fn study(
        &self,
        srv: &Server,
        clock: &Clock,
        m: &Material<'_>,
        start: i64,
        play: Duration,
        how: Behaviour,
    ) -> i64 {
        clock.set(start - MINUTE as i64);
        self.sign_in(srv, clock);
        let end = self.sit(m.course, m.policy, m.face, start, play, how);
        clock.set(end + MINUTE as i64);
        self.upload(srv, clock);
        end
    }

    /// Uploads records and photos at the platform's current time.
    pub fn upload(&self, srv: &Server, clock: &Clock) {
        let mut journal = self.journal();
        let mut http = HttpTransport::new(&srv.url, Duration::from_secs(30)).unwrap();
        let engine = SyncEngine::new(SyncOptions {
            photos: Some(self.photos.clone()),
            ..SyncOptions::default()
        });
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(self.seed);
        let c = clock.clone();
        let report = engine
            .run(
                &mut journal,
                &mut http,
                &mut rng,
                &mut |_| {},
                &mut move || c.now(),
                &mut || true,
            )
            .unwrap();
        assert_eq!(
            report.status,
            SyncStatus::Synced,
            "{}: {report:?}",
            self.user
        );
    }
}

/// What a sitting studies: the course as the device holds it, its profile, and the
/// face the camera sees.
pub struct Material<'a> {
    /// The course (without answer keys).
    pub course: &'a Course,
    /// Its profile.
    pub policy: &'a Policy,
    /// The face in every capture frame.
    pub face: &'a image::RgbImage,
}

/// A sitting in progress: feeds inputs in time order and answers what the engine
/// asks for, as the learner would.
struct Driver<'a> {
    s: Session,
    now: u64,
    ended: bool,
    dev: &'a Device,
    face: &'a image::RgbImage,
    how: Behaviour,
}

impl Driver<'_> {
    fn feed(&mut self, t: u64, input: Input) {
        let mut queue = std::collections::VecDeque::from([(t, input)]);
        while let Some((t, input)) = queue.pop_front() {
            let t = t.max(self.now);
            self.now = t;
            for a in self.s.handle(t, input).unwrap() {
                match a {
                    Action::Capture { class_hour, .. } => {
                        let lost = self.how.photo_missing == Some(class_hour);
                        let sha = self.dev.photo(self.face, lost);
                        queue.push_back((
                            t,
                            Input::Capture {
                                ok: true,
                                image_sha256: Some(sha),
                                reasons: vec![],
                            },
                        ));
                    }
                    Action::Quiz {
                        class_hour,
                        questions,
                        ..
                    } => {
                        let right = keshi_protocol::demo::answers(class_hour);
                        let answers = questions
                            .iter()
                            .map(|q| {
                                let i: usize = q.id.rsplit('q').next().unwrap().parse().unwrap();
                                let a = right[i - 1];
                                player_core::playback::Answer::Index(
                                    if self.how.wrong_quiz == Some(class_hour) {
                                        (a + 1) % q.options.len()
                                    } else {
                                        a
                                    },
                                )
                            })
                            .collect();
                        let took = self.how.quiz_seconds.unwrap_or(QUIZ_SECONDS);
                        queue.push_back((t + took * 1000, Input::Quiz { answers }));
                    }
                    Action::Ended => self.ended = true,
                    _ => {}
                }
            }
        }
    }
}

/// The face every capture shows (a real photograph), at a camera's size.
pub fn face() -> image::RgbImage {
    let images = std::env::var("KESHI_TEST_IMAGES").expect("KESHI_TEST_IMAGES (test.sh sets it)");
    let img = image::open(Path::new(&images).join("astronaut.png"))
        .unwrap()
        .to_rgb8();
    image::imageops::resize(&img, 240, 240, image::imageops::FilterType::Triangle)
}
