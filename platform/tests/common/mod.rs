//! Test harness: the real platform service on 127.0.0.1:0 over a real SQLite file
//! or a fresh PostgreSQL database (`KESHI_TEST_PG_URL`, set by `test.sh`).
#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use std::sync::Arc;

use keshi_platform::{api, blob::DiskBlobStore, AppState, Config, Store};
use keshi_protocol::record::{seal, DeviceId, NewRecord, Record, Signer};
use keshi_protocol::wire::{PushRequest, WireRecord};
use ring::signature::{Ed25519KeyPair, KeyPair};

/// A device key for the tests: Ed25519 from ring, as a client holds one (the
/// platform crate does not depend on the client's key store).
pub struct DeviceKey(Ed25519KeyPair);

impl DeviceKey {
    pub fn generate() -> Result<DeviceKey, ring::error::Unspecified> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())?;
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .map(DeviceKey)
            .map_err(|_| ring::error::Unspecified)
    }

    pub fn public_key(&self) -> [u8; 32] {
        let mut k = [0u8; 32];
        k.copy_from_slice(self.0.public_key().as_ref());
        k
    }

    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public_key())
    }

    pub fn device_id(&self) -> DeviceId {
        DeviceId::from_public_key(&self.public_key())
    }
}

impl Signer for DeviceKey {
    fn public_key(&self) -> [u8; 32] {
        DeviceKey::public_key(self)
    }
    fn sign(&self, msg: &[u8]) -> [u8; 64] {
        let mut s = [0u8; 64];
        s.copy_from_slice(self.0.sign(msg).as_ref());
        s
    }
}

pub const PG_ENV: &str = "KESHI_TEST_PG_URL";

/// The database URLs to run a suite against: a SQLite file always; PostgreSQL
/// when `KESHI_TEST_PG_URL` is set. In CI (`CI=true`) a missing variable fails
/// the test instead of silently skipping PostgreSQL.
pub fn backends(dir: &std::path::Path, tag: &str) -> Vec<(String, String)> {
    let mut out = vec![(
        "sqlite".to_owned(),
        format!("sqlite:{}", dir.join(format!("{tag}.db")).display()),
    )];
    match std::env::var(PG_ENV) {
        Ok(base) if !base.is_empty() => {
            let name = format!("keshi_{tag}_{}", hex::encode(rand::random::<[u8; 6]>()));
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            let url = rt
                .block_on(keshi_platform::store::create_pg_database(&base, &name))
                .expect("create the PostgreSQL test database");
            out.push(("postgres".to_owned(), url));
        }
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{PG_ENV} is not set in CI: the PostgreSQL half of the platform suite would be skipped (test.sh starts PostgreSQL and sets it)"
            );
            eprintln!("note: {PG_ENV} unset: PostgreSQL not tested in this run");
        }
    }
    out
}

pub struct Server {
    pub url: String,
    pub db_url: String,
    pub rt: tokio::runtime::Runtime,
    pub store: Store,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Server {
    pub fn start(db_url: &str, config: Config, blobs: &std::path::Path) -> Server {
        Self::start_on(db_url, config, blobs, "127.0.0.1:0")
    }

    pub fn start_on(db_url: &str, config: Config, blobs: &std::path::Path, addr: &str) -> Server {
        Self::start_with(db_url, config, blobs, addr, api::system_clock())
    }

    /// The platform on its own clock (`clock`: Unix ms), as a scenario of days needs:
    /// the test sets the time, the service decides with it as with the system's.
    pub fn start_clocked(
        db_url: &str,
        config: Config,
        blobs: &std::path::Path,
        clock: api::Clock,
    ) -> Server {
        Self::start_with(db_url, config, blobs, "127.0.0.1:0", clock)
    }

    fn start_with(
        db_url: &str,
        config: Config,
        blobs: &std::path::Path,
        addr: &str,
        clock: api::Clock,
    ) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (store, url) = rt.block_on(async {
            let store = Store::connect(db_url).await.expect("connect");
            let state = AppState::new(
                store.clone(),
                config,
                clock,
                Arc::new(DiskBlobStore::new(blobs).expect("blobs")),
            )
            .await
            .expect("state");
            let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
            let url = format!("http://{}", listener.local_addr().expect("addr"));
            tokio::spawn(async move {
                let _ = api::serve(listener, state, async {
                    let _ = rx.await;
                })
                .await;
            });
            (store, url)
        });
        Server {
            url,
            db_url: db_url.to_owned(),
            rt,
            store,
            shutdown: Some(tx),
        }
    }

    pub fn learner(&self, user: &str, password: &str) -> String {
        self.rt.block_on(async {
            let inst = self
                .store
                .create_institution("Test School", 0)
                .await
                .expect("inst");
            keshi_platform::create_learner(
                &self.store,
                &inst,
                user,
                password,
                "李四",
                "110101199001011234",
                None,
                0,
            )
            .await
            .expect("learner")
        })
    }

    /// Publishes a course manifest under `profile` (media not stored: the replay
    /// needs only the manifest).
    pub fn publish(&self, manifest: &std::path::Path, profile: &str) -> (String, u32) {
        let text = std::fs::read_to_string(manifest).expect("manifest");
        let v: serde_json::Value = serde_json::from_str(&text).expect("manifest JSON");
        let id = v["id"].as_str().expect("course id").to_owned();
        self.rt.block_on(async {
            let inst = self
                .store
                .create_institution("Test School", 0)
                .await
                .expect("inst");
            let version = self
                .store
                .publish_course(&id, &inst, profile, &text, 0)
                .await
                .expect("publish");
            (id, version)
        })
    }

    pub fn summary(&self, user: &str) -> keshi_platform::Summary {
        self.rt
            .block_on(async {
                let catalogue = keshi_platform::load_catalogue(&self.store).await?;
                keshi_platform::summary(&self.store, &catalogue, user).await
            })
            .expect("summary")
    }

    /// Stop serving (in-flight connections are dropped with the runtime).
    pub fn kill(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.rt.shutdown_background();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client")
}

pub struct Login {
    pub token: String,
    pub learner_id: String,
    pub device_id: String,
}

pub fn login(url: &str, user: &str, password: &str, key: &DeviceKey) -> Login {
    let r = client()
        .post(format!("{url}/v1/login"))
        .json(&serde_json::json!({"user": user, "password": password, "public_key": key.public_key_hex()}))
        .send()
        .expect("login");
    assert_eq!(r.status(), 200, "login failed");
    let v: serde_json::Value = r.json().expect("json");
    Login {
        token: v["token"].as_str().expect("token").to_owned(),
        learner_id: v["learner_id"].as_str().expect("learner").to_owned(),
        device_id: v["device_id"].as_str().expect("device").to_owned(),
    }
}

/// A chain of `n` records by `key`: a session start and segments of 10 s each.
pub fn chain(key: &DeviceKey, n: u64, wall0: i64) -> Vec<Record> {
    let mut prev = None;
    let mut out = Vec::new();
    for i in 0..n {
        let new = if i == 0 {
            NewRecord::new(
                "session_start",
                serde_json::json!({"session": 1, "course": "c1"}),
                wall0,
                0,
            )
        } else {
            let (t0, t1) = ((i - 1) * 10_000, i * 10_000);
            NewRecord::new(
                "segment",
                serde_json::json!({"session": 1, "t0_ms": t0, "t1_ms": t1, "pos0_ms": t0, "pos_ms": t1,
                    "credited_ms": t1 - t0, "covered": [[t0, t1]]}),
                wall0 + t1 as i64,
                t1,
            )
        };
        let r = seal(key, prev, &new).expect("seal");
        prev = Some((r.seq(), r.hash));
        out.push(r);
    }
    out
}

pub fn wire(records: &[Record]) -> Vec<WireRecord> {
    records.iter().map(WireRecord::from_record).collect()
}

/// POST /v1/records; returns (status, body).
pub fn push(url: &str, token: &str, records: Vec<WireRecord>) -> (u16, serde_json::Value) {
    let r = client()
        .post(format!("{url}/v1/records"))
        .bearer_auth(token)
        .json(&PushRequest {
            records,
            ..PushRequest::default()
        })
        .send()
        .expect("push");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(serde_json::Value::Null))
}

pub fn now_ms() -> i64 {
    keshi_platform::api::wall_now_ms()
}

/// A database URL as `sqlx::AnyPool` takes it (a test reads and edits the
/// platform's tables directly, as an attacker with database access would).
pub fn any_url(db: &str) -> String {
    keshi_platform::store::sqlx_url(db).unwrap()
}

/// Enrols `users` in `course` (as staff would, through the courses module).
pub fn enrol(srv: &Server, course: &str, users: &[String]) {
    srv.rt.block_on(async {
        let req = keshi_protocol::staff::EnrolRequest {
            course: course.to_owned(),
            learners: users.to_vec(),
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
    });
}
