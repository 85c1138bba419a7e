//! Exports (issue 13): 1,000,000 rows of hours as CSV and as XLSX — time, rows per
//! second, file size and peak memory. Prints one JSON line per figure;
//! `BENCHMARKS.md` quotes them with the command.
//!
//! ```text
//! cargo bench -p keshi-platform --bench export                  # SQLite
//! KESHI_BENCH_PG_URL=postgres://… cargo bench -p keshi-platform --bench export
//! ```
//!
//! The database is generated once per backend (20,000 learners × 50 courses of
//! `course_results`, written by SQL). Each (format, rows) runs in a fresh process
//! (`KESHI_BENCH_ONLY=FORMAT:ROWS`) so its peak resident memory (`VmHWM`) is its
//! own: the bench re-executes itself, exporting 100,000 and then 1,000,000 rows —
//! constant memory means the two peaks are alike.
//!
//! Environment: `KESHI_BENCH_ROWS` (default 1000000; the small run is a tenth).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap
)] // bench code

use std::time::Instant;

use keshi_platform::export::{self, ExportRequest, Format, Signing, Table};
use keshi_platform::staff::Scope;
use keshi_platform::Store;

mod common;
use common::{env_usize, load, peak_mib};

const COURSES: usize = 50;

/// Fills a fresh database with `rows` rows of `course_results` (learners × 50
/// courses), by SQL.
async fn seed(url: &str, rows: usize) {
    let store = Store::connect(url).await.unwrap();
    let inst = store.create_institution("Bench School", 0).await.unwrap();
    let pool = sqlx::AnyPool::connect(&keshi_platform::store::sqlx_url(url).unwrap())
        .await
        .unwrap();
    let learners = rows.div_ceil(COURSES);
    let series = |n: usize| {
        format!("WITH RECURSIVE s(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM s WHERE k + 1 < {n})")
    };
    sqlx::query(&format!(
        "{} INSERT INTO learners(id, institution_id, username, real_name, id_number, password_hash, created_ms, class) \
         SELECT 'l' || CAST(k AS TEXT), $1, 'u' || CAST(k AS TEXT), '学员' || CAST(k AS TEXT), 'x', 'x', 0, \
         '班' || CAST(k / 50 AS TEXT) FROM s",
        series(learners)
    ))
    .bind(&inst)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "{} INSERT INTO course_results(learner_id, course, level, credited_ms, class_hours_completed, \
         class_hours_planned, attendance_permille, score, qualified, at_risk, confirmed_flags, computed_ms) \
         SELECT 'l' || CAST(k / {COURSES} AS TEXT), 'course-' || CAST(k % {COURSES} AS TEXT), 'junior', \
         k * 1000 % 4800000, k % 80, 80, k % 1001, k % 101, k % 2, 1 - k % 2, 0, 1796140800000 FROM s",
        series(rows)
    ))
    .execute(&pool)
    .await
    .unwrap();
}

fn run_one(url: &str, backend: &str, format: Format, rows: usize) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(format!("hours.{}", format.extension()));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let before = peak_mib();
    rt.block_on(async {
        let store = Store::connect(url).await.unwrap();
        let signing = Signing {
            key: std::sync::Arc::new(keshi_platform::platform_key(&store, 0).await.unwrap()),
            catalogue: std::sync::Arc::new(keshi_platform::load_catalogue(&store).await.unwrap()),
        };
        // The first `rows` of the table: one course filter would be too few, so a
        // scope of everything and a table cut to size by the seed.
        let req = ExportRequest {
            table: Table::Hours,
            scope: Scope::All,
            course: None,
            quarter: None,
            simulated: false,
        };
        let t = Instant::now();
        let n = export::to_file(&store, &signing, &req, format, &out, 0)
            .await
            .unwrap();
        let s = t.elapsed().as_secs_f64();
        assert_eq!(n as usize, rows);
        println!(
            "{}",
            serde_json::json!({
                "bench": "export", "table": "hours", "format": format.extension(),
                "backend": backend, "rows": n,
                "seconds": (s * 100.0).round() / 100.0,
                "rows_per_s": (n as f64 / s).round(),
                "file_mib": (std::fs::metadata(&out).unwrap().len() as f64 / 1_048_576.0 * 10.0).round() / 10.0,
                "peak_rss_mib_before": (before * 10.0).round() / 10.0,
                "peak_rss_mib": (peak_mib() * 10.0).round() / 10.0,
                "load": load(),
            })
        );
    });
}

fn main() {
    if let Ok(only) = std::env::var("KESHI_BENCH_ONLY") {
        let (format, rows) = only.split_once(':').unwrap();
        let format = Format::parse(format).unwrap();
        let url = std::env::var("KESHI_BENCH_DB").unwrap();
        let backend = std::env::var("KESHI_BENCH_BACKEND").unwrap();
        run_one(&url, &backend, format, rows.parse().unwrap());
        return;
    }
    let rows = env_usize("KESHI_BENCH_ROWS", 1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut dbs = Vec::new();
    for n in [rows / 10, rows] {
        dbs.push((
            "sqlite",
            n,
            format!(
                "sqlite:{}",
                dir.path().join(format!("export-{n}.db")).display()
            ),
        ));
        if let Ok(base) = std::env::var("KESHI_BENCH_PG_URL") {
            let name = format!("keshi_bench_export_{n}_{}", std::process::id());
            let url = rt
                .block_on(keshi_platform::store::create_pg_database(&base, &name))
                .unwrap();
            dbs.push(("postgres", n, url));
        }
    }
    let me = std::env::current_exe().unwrap();
    for (backend, n, url) in &dbs {
        let t = Instant::now();
        rt.block_on(seed(url, *n));
        eprintln!(
            "{backend}: {n} rows seeded in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        for format in ["csv", "xlsx"] {
            let status = std::process::Command::new(&me)
                .env("KESHI_BENCH_ONLY", format!("{format}:{n}"))
                .env("KESHI_BENCH_DB", url)
                .env("KESHI_BENCH_BACKEND", backend)
                .status()
                .unwrap();
            assert!(status.success(), "{backend} {format} {n}");
        }
    }
}
