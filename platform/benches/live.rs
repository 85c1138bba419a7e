//! The live view's query (issue 12: "live view query with 20,000 online leases
//! under 100 ms"): 20,000 learners of two institutions, each with a device, an
//! online lease and a device fold; the operator's first page (1,000), every page
//! of the whole list, and an institution's first page.
//!
//! ```text
//! cargo bench -p keshi-platform --bench live
//! KESHI_BENCH_PG_URL=postgres://… cargo bench -p keshi-platform --bench live   # + PostgreSQL
//! ```
//! Environment: `KESHI_BENCH_LEASES` (default 20000). Prints one JSON line per
//! figure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code
#![allow(clippy::cast_possible_truncation)] // bench code

use std::time::Instant;

use keshi_platform::staff::Scope;
use keshi_platform::store::{Learner, Store};

fn main() {
    let n: usize = std::env::var("KESHI_BENCH_LEASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut backends = vec![(
        "sqlite".to_owned(),
        format!("sqlite:{}", dir.path().join("live.db").display()),
    )];
    if let Ok(pg) = std::env::var("KESHI_BENCH_PG_URL") {
        let name = format!("keshi_live_{}", std::process::id());
        let url = rt
            .block_on(keshi_platform::store::create_pg_database(&pg, &name))
            .unwrap();
        backends.push(("postgres".into(), url));
    }
    for (backend, url) in backends {
        rt.block_on(run(&backend, &url, n));
    }
}

async fn run(backend: &str, url: &str, n: usize) {
    let store = Store::connect(url).await.unwrap();
    let now = keshi_platform::api::wall_now_ms();
    let a = store.create_institution("A", now).await.unwrap();
    let b = store.create_institution("B", now).await.unwrap();
    store
        .set_institution_region(&a, "shanxi/taiyuan")
        .await
        .unwrap();
    let t = Instant::now();
    for k in 0..n {
        let id = format!("l{k:06}");
        let inst = if k % 2 == 0 { &a } else { &b };
        store
            .create_learner(
                &Learner {
                    id: id.clone(),
                    institution_id: inst.clone(),
                    username: id.clone(),
                    real_name: "张三".into(),
                    id_number: "11010519491231002X".into(),
                    face_photo_ref: None,
                    password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
                },
                now,
            )
            .await
            .unwrap();
        let device = format!("{k:032x}");
        store
            .enrol_device(&device, &id, &format!("{k:064x}"), false, now)
            .await
            .unwrap();
        store
            .issue_lease(
                &format!("x{k}"),
                &format!("t{k}"),
                &id,
                &device,
                now,
                now + 900_000,
                now + 86_400_000,
            )
            .await
            .unwrap();
        let fold = format!(
            r#"{{"active":["c1",1],"last_end_ms":{now},"floor_ms":{now},"contacts":[{{"at_ms":{now},"head":{k}}}]}}"#
        );
        store.set_device_fold(&device, &fold).await.unwrap();
    }
    eprintln!(
        "{backend}: {n} learners, devices, leases in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // A server in service has statistics (autovacuum's ANALYZE); a freshly loaded
    // table has none and the first plans are poor, so they are gathered first.
    if backend == "postgres" {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(url).await.unwrap();
        sqlx::query("ANALYZE").execute(&pool).await.unwrap();
    }
    let time = |label: &'static str, scope: Scope, all: bool| {
        let store = store.clone();
        async move {
            let mut ms = Vec::new();
            let mut rows = 0;
            for _ in 0..11 {
                let t = Instant::now();
                let mut after = String::new();
                rows = 0;
                loop {
                    let page = store
                        .live_in_scope(&scope, now, &after, 1_000)
                        .await
                        .unwrap();
                    rows += page.len();
                    match page.last() {
                        Some(last) if all && page.len() == 1_000 => {
                            after = last.learner.user.clone()
                        }
                        _ => break,
                    }
                }
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            ms.sort_by(f64::total_cmp);
            println!(
                "{}",
                serde_json::json!({"bench": "live", "backend": backend, "leases": n, "query": label,
                    "rows": rows, "ms_p50": ms[5], "ms_max": ms[10]})
            );
        }
    };
    time("operator, first page of 1,000", Scope::All, false).await;
    time("operator, every page", Scope::All, true).await;
    time(
        "region shanxi, first page",
        Scope::Region("shanxi".into()),
        false,
    )
    .await;
    time(
        "institution A, first page",
        Scope::Institution(a.clone()),
        false,
    )
    .await;
}
