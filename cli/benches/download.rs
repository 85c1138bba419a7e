//! Course download throughput (issue 12): `player_core::fetch` (the code behind
//! `keshi course fetch` and the app's download button) against the platform on
//! loopback, compared with a plain copy of the same file on the same disk. Prints
//! one JSON line per figure; `BENCHMARKS.md` quotes them with the command.
//!
//! ```text
//! cargo bench -p keshi-cli --bench download
//! ```
//!
//! Environment: `KESHI_BENCH_MEDIA_MIB` (size of the one lesson file, default 256),
//! `KESHI_BENCH_RUNS` (default 3; the best and the median are printed).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss
)] // bench code

use std::sync::Arc;
use std::time::{Duration, Instant};

use keshi_platform::blob::{BlobStore, DiskBlobStore};
use keshi_platform::{api, AppState, Config, Store};
use rand::RngCore;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_owned()
}

fn main() {
    let mib = env_usize("KESHI_BENCH_MEDIA_MIB", 256);
    let runs = env_usize("KESHI_BENCH_RUNS", 3).max(1);
    let dir = tempfile::tempdir().unwrap();
    let blobs_dir = dir.path().join("blobs");
    let blobs = DiskBlobStore::new(&blobs_dir).unwrap();
    let mut bytes = vec![0u8; mib << 20];
    rand::rng().fill_bytes(&mut bytes);
    let sha = keshi_protocol::ids::Hash::of(&bytes).to_hex();
    blobs.put(&sha, &bytes).unwrap();
    drop(bytes);
    let mut m = keshi_protocol::demo::course(1);
    for (i, l) in m["lessons"].as_array_mut().unwrap().iter_mut().enumerate() {
        // One big lesson file; the other lessons share it (one download each).
        l["media"]["path"] = serde_json::json!(format!("media/lesson-{i}.mp4"));
        l["media"]["sha256"] = serde_json::json!(sha);
    }
    let lessons = m["lessons"].as_array().unwrap().len();
    let id = m["id"].as_str().unwrap().to_owned();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = format!("sqlite:{}", dir.path().join("p.db").display());
    let url = rt.block_on(async {
        let store = Store::connect(&db).await.unwrap();
        let inst = store.create_institution("Bench School", 0).await.unwrap();
        keshi_platform::create_learner(
            &store,
            &inst,
            "bench",
            "bench-password",
            "李四",
            "110101199001011237",
            None,
            0,
        )
        .await
        .unwrap();
        keshi_platform::courses::publish(
            &store,
            &blobs,
            &inst,
            &m.to_string(),
            "shanxi",
            "bench",
            0,
        )
        .await
        .unwrap();
        keshi_platform::courses::enrol(
            &store,
            &keshi_platform::staff::Scope::All,
            &keshi_protocol::staff::EnrolRequest {
                course: id.clone(),
                learners: vec!["bench".into()],
                class: None,
            },
            "bench",
            0,
        )
        .await
        .unwrap();
        let state = AppState::new(
            store,
            Config::default(),
            api::system_clock(),
            Arc::new(DiskBlobStore::new(&blobs_dir).unwrap()),
        )
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = api::serve(listener, state, std::future::pending()).await;
        });
        url
    });
    // Sign in as a device (the token the download uses).
    let key = ring::signature::Ed25519KeyPair::from_pkcs8(
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .unwrap()
            .as_ref(),
    )
    .unwrap();
    use ring::signature::KeyPair;
    let login: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("{url}/v1/login"))
        .json(
            &serde_json::json!({"user": "bench", "password": "bench-password",
            "public_key": hex::encode(key.public_key().as_ref())}),
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    let http = player_core::http::HttpTransport::new(&url, Duration::from_secs(60)).unwrap();
    let total = (mib << 20) as f64 * lessons as f64;

    let mut fetch_s = Vec::new();
    for r in 0..runs {
        let out = dir.path().join(format!("course-{r}"));
        let t = Instant::now();
        player_core::fetch::fetch(&http, &token, &id, &out, &mut |_| {}, &mut |_| {}).unwrap();
        fetch_s.push(t.elapsed().as_secs_f64());
        std::fs::remove_dir_all(&out).unwrap();
    }
    let mut copy_s = Vec::new();
    let src = blobs_dir.join(&sha[..2]).join(&sha);
    for r in 0..runs {
        let t = Instant::now();
        for i in 0..lessons {
            let dst = dir.path().join(format!("copy-{r}-{i}"));
            std::fs::copy(&src, &dst).unwrap();
            // The download syncs and hashes what it wrote; the copy syncs too.
            std::fs::File::open(&dst).unwrap().sync_all().unwrap();
            std::fs::remove_file(&dst).unwrap();
        }
        copy_s.push(t.elapsed().as_secs_f64());
    }
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() / 2])
    };
    let (fb, fm) = stats(&mut fetch_s);
    let (cb, cm) = stats(&mut copy_s);
    let mibps = |s: f64| ((total / s) / f64::from(1 << 20)).round();
    println!(
        "{}",
        serde_json::json!({
            "bench": "course_download", "files": lessons, "mib_per_file": mib,
            "runs": runs,
            "fetch_best_s": (fb * 100.0).round() / 100.0, "fetch_mib_s": mibps(fb),
            "fetch_median_mib_s": mibps(fm),
            "copy_best_s": (cb * 100.0).round() / 100.0, "copy_mib_s": mibps(cb),
            "copy_median_mib_s": mibps(cm),
            "fetch_vs_copy": ((fb / cb) * 100.0).round() / 100.0,
            "load": load(),
        })
    );
}
