//! Platform and sync benchmarks (issue 4, R-QA-1). Prints one JSON line per
//! figure; `BENCHMARKS.md` quotes them with the commands.
//!
//! ```text
//! cargo bench -p keshi-cli --bench ingest                      # SQLite
//! KESHI_BENCH_PG_URL=postgres://… cargo bench -p keshi-cli --bench ingest   # + PostgreSQL
//! ```
//!
//! 1. `drain`: 100,000 records queued in a real journal, uploaded by
//!    `player_core::sync::SyncEngine` over HTTP (reqwest, the same client code as
//!    `keshi sync`) to the platform on loopback.
//!    Then `summary`: the learner's summary over those records (p50 and max of 21).
//! 2. `devices`: N concurrent simulated devices (default 2,000), each with its own
//!    lease and signed chain, pushing batches at once against one platform
//!    process; records/s and request latency p50/p99.
//!
//! Environment: `KESHI_BENCH_DRAIN` (records, default 100000),
//! `KESHI_BENCH_DEVICES` (default 2000), `KESHI_BENCH_BATCHES` (per device,
//! default 4), `KESHI_BENCH_BATCH` (records per batch, default 25),
//! `KESHI_BENCH_INFLIGHT` (pushes in flight at most, default 2000: one process holds
//! both ends of every socket), `KESHI_BENCH_ONLY` (`drain` or `devices`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use std::sync::Arc;
use std::time::{Duration, Instant};

use keshi_platform::{api, blob::DiskBlobStore, AppState, Config, Store};
use player_core::identity::DeviceKey;
use player_core::journal::Journal;
use player_core::record::{seal, Hash, NewRecord, Record};
use player_core::sync::wire::{PushRequest, PushResponse, WireRecord};
use player_core::sync::{self, SyncEngine, SyncOptions, Transport, TransportError};
use rand::SeedableRng;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

struct Srv {
    url: String,
    store: Store,
    rt: tokio::runtime::Runtime,
}

fn start(db: &str, blobs: &std::path::Path) -> Srv {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("rt");
    let (url, store) = rt.block_on(async {
        let store = Store::connect(db).await.expect("db");
        let state = AppState::new(
            store.clone(),
            Config {
                // One learner drains 100,000 records at once.
                max_records_per_day: u64::MAX,
                ..Config::default()
            },
            api::system_clock(),
            Arc::new(DiskBlobStore::new(blobs).expect("blobs")),
        )
        .await
        .expect("state");
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", l.local_addr().expect("addr"));
        tokio::spawn(api::serve(l, state, std::future::pending()));
        (url, store)
    });
    Srv { url, store, rt }
}

fn lease(srv: &Srv, user: &str, key: &DeviceKey) -> String {
    srv.rt.block_on(async {
        let inst = srv
            .store
            .create_institution("Bench School", 0)
            .await
            .expect("inst");
        let id = keshi_platform::store::random_id();
        srv.store
            .create_learner(
                &keshi_platform::store::Learner {
                    id: id.clone(),
                    institution_id: inst,
                    username: user.into(),
                    real_name: "bench".into(),
                    id_number: "0".into(),
                    face_photo_ref: None,
                    // Leases are minted directly: the bench measures ingest, not Argon2.
                    password_hash: "-".into(),
                },
                0,
            )
            .await
            .expect("learner");
        let dev = key.device_id().to_hex();
        srv.store
            .enrol_device(&dev, &id, &key.public_key_hex(), false, 0)
            .await
            .expect("enrol");
        let token = keshi_platform::auth::new_token();
        let now = player_core::clock::wall_now_ms();
        srv.store
            .issue_lease(
                &keshi_platform::store::random_id(),
                &Hash::of(token.as_bytes()).to_hex(),
                &id,
                &dev,
                now,
                now + 3_600_000,
                now + 86_400_000,
            )
            .await
            .expect("lease");
        token
    })
}

struct Http {
    base: String,
    client: reqwest::blocking::Client,
}

impl Transport for Http {
    fn push(&mut self, token: &str, request: &PushRequest) -> Result<PushResponse, TransportError> {
        let r = self
            .client
            .post(format!("{}/v1/records", self.base))
            .bearer_auth(token)
            .json(request)
            .send()
            .map_err(|e| TransportError::Retryable(e.to_string()))?;
        if !r.status().is_success() {
            return Err(TransportError::Retryable(format!("status {}", r.status())));
        }
        r.json()
            .map_err(|e| TransportError::Retryable(e.to_string()))
    }

    fn put_photo(
        &mut self,
        _token: &str,
        _sha256: &str,
        _bytes: Vec<u8>,
        _content_type: &str,
    ) -> Result<(), TransportError> {
        // The bench journals carry no capture results, so no photo is ever due.
        Err(TransportError::Retryable(
            "the ingest bench uploads no photos".into(),
        ))
    }
}

fn drain(backend: &str, db: &str, dir: &std::path::Path) {
    let n = env_usize("KESHI_BENCH_DRAIN", 100_000);
    let srv = start(db, &dir.join(format!("blobs-drain-{backend}")));
    let key = DeviceKey::generate().expect("key");
    let token = lease(&srv, &format!("drain-{backend}"), &key);
    let path = dir.join(format!("drain-{backend}.db"));
    let mut j = Journal::open(&path, Arc::new(key)).expect("journal");
    let wall = player_core::clock::wall_now_ms();
    for c in 0..n.div_ceil(10_000) {
        let batch = (0..10_000.min(n - c * 10_000))
            .map(|i| NewRecord::new("segment", serde_json::json!({"session": 1, "t0_ms": i, "t1_ms": i + 1, "covered": [], "credited_ms": 0}), wall, i as u64))
            .collect();
        j.append_batch(batch).expect("append");
    }
    j.set_sync_state(sync::KEY_TOKEN, &token).expect("token");
    let mut http = Http {
        base: srv.url.clone(),
        client: reqwest::blocking::Client::new(),
    };
    let engine = SyncEngine::new(SyncOptions::default());
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let t = Instant::now();
    let report = engine
        .run(
            &mut j,
            &mut http,
            &mut rng,
            &mut std::thread::sleep,
            &mut player_core::clock::wall_now_ms,
            &mut || true,
        )
        .expect("sync");
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(report.acknowledged, n as u64, "{report:?}");
    // The learner's summary over everything just ingested (issue 11: < 50 ms with
    // 100,000 records): read from what ingest derived, never a re-derivation.
    let user = format!("drain-{backend}");
    // The service holds its catalogue in memory (reloaded only when a course is
    // published): loaded once here too.
    let catalogue = srv
        .rt
        .block_on(keshi_platform::load_catalogue(&srv.store))
        .expect("catalogue");
    let mut times: Vec<f64> = (0..21)
        .map(|_| {
            let t = Instant::now();
            let s = srv
                .rt
                .block_on(keshi_platform::summary(&srv.store, &catalogue, &user))
                .expect("summary");
            assert_eq!(s.records, n as u64);
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "{}",
        serde_json::json!({"bench": "summary", "backend": backend, "records": n,
            "ms_p50": times[10], "ms_max": times[20]})
    );
    println!(
        "{}",
        serde_json::json!({"bench": "drain", "backend": backend, "records": n, "seconds": secs,
            "records_per_s": (n as f64 / secs).round(), "requests": report.requests, "batch_records": 1000})
    );
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn devices(backend: &str, db: &str, dir: &std::path::Path) {
    let n_dev = env_usize("KESHI_BENCH_DEVICES", 2000);
    let batches = env_usize("KESHI_BENCH_BATCHES", 4);
    let per = env_usize("KESHI_BENCH_BATCH", 25);
    let inflight = env_usize("KESHI_BENCH_INFLIGHT", 2000).max(1);
    let srv = start(db, &dir.join(format!("blobs-dev-{backend}")));
    let wall = player_core::clock::wall_now_ms();
    // Prepare (untimed): keys, leases, signed chains.
    let mut work: Vec<(String, Vec<Vec<WireRecord>>)> = Vec::with_capacity(n_dev);
    for d in 0..n_dev {
        let key = DeviceKey::generate().expect("key");
        let token = lease(&srv, &format!("dev-{backend}-{d}"), &key);
        let mut prev = None;
        let mut recs: Vec<Record> = Vec::with_capacity(batches * per);
        for i in 0..batches * per {
            let r = seal(
                &key,
                prev,
                &NewRecord::new("state", serde_json::json!({"i": i}), wall, i as u64),
            )
            .expect("seal");
            prev = Some((r.seq(), r.hash));
            recs.push(r);
        }
        let chunks = recs
            .chunks(per)
            .map(|c| c.iter().map(WireRecord::from_record).collect())
            .collect();
        work.push((token, chunks));
    }
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("rt");
    let url = srv.url.clone();
    let (lat, secs) = client_rt.block_on(async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(n_dev)
            .timeout(Duration::from_secs(300))
            .build()
            .expect("client");
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(n_dev);
        let gate = Arc::new(tokio::sync::Semaphore::new(inflight));
        for (token, chunks) in work {
            let client = client.clone();
            let url = url.clone();
            let gate = gate.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                for records in chunks {
                    // At most `inflight` pushes at once (sockets: one process holds
                    // both ends); latency counts from the send, queueing included.
                    let _turn = gate.acquire().await.expect("gate");
                    let t = Instant::now();
                    let r = client
                        .post(format!("{url}/v1/records"))
                        .bearer_auth(&token)
                        .json(&PushRequest {
                            records,
                            ..PushRequest::default()
                        })
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status().is_success() => {
                            lat.push(t.elapsed().as_secs_f64() * 1000.0)
                        }
                        Ok(r) => panic!("push refused: {}", r.status()),
                        Err(e) => panic!("push failed: {e}"),
                    }
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("task"));
        }
        (all, start.elapsed().as_secs_f64())
    });
    let mut lat = lat;
    lat.sort_by(|a, b| a.total_cmp(b));
    let total = n_dev * batches * per;
    println!(
        "{}",
        serde_json::json!({"bench": "devices", "backend": backend, "devices": n_dev, "batches_per_device": batches,
            "records_per_batch": per, "records": total, "seconds": secs, "records_per_s": (total as f64 / secs).round(),
            "requests": lat.len(), "inflight": inflight, "p50_ms": percentile(&lat, 0.5), "p99_ms": percentile(&lat, 0.99)})
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let dir = tempfile::tempdir().expect("tmp");
    let mut backends = vec![(
        "sqlite".to_owned(),
        format!("sqlite:{}", dir.path().join("bench.db").display()),
    )];
    if let Ok(base) = std::env::var("KESHI_BENCH_PG_URL") {
        let rt = tokio::runtime::Runtime::new().expect("rt");
        let name = format!("keshi_bench_{}", hex::encode(rand::random::<[u8; 4]>()));
        let url = rt
            .block_on(keshi_platform::store::create_pg_database(&base, &name))
            .expect("pg db");
        backends.push(("postgres".to_owned(), url));
    }
    let only = std::env::var("KESHI_BENCH_ONLY").unwrap_or_default();
    for (b, url) in &backends {
        if only.is_empty() || only == "drain" {
            drain(b, url, dir.path());
        }
        if only.is_empty() || only == "devices" {
            devices(b, url, dir.path());
        }
    }
}
