//! Learners in bulk (issue 12): importing 100,000 rows — time and peak memory.
//! Prints one JSON line per figure; `BENCHMARKS.md` quotes them with the command.
//!
//! ```text
//! cargo bench -p keshi-platform --bench import                  # SQLite
//! KESHI_BENCH_PG_URL=postgres://… cargo bench -p keshi-platform --bench import
//! ```
//!
//! The file is generated (valid GB 11643 ID numbers and mobile phones, one class
//! per 50 learners). Rows carry no password: an imported learner without one sets
//! it at first sign-in, and Argon2id over 100,000 passwords is a CPU budget of its
//! own, measured apart on `KESHI_BENCH_HASHED` rows (default 200) and extrapolated.
//! Each format runs in a fresh process (`KESHI_BENCH_ONLY=csv|xlsx`) so the peak
//! resident memory (`VmHWM`) is its own: the bench re-executes itself.
//!
//! Environment: `KESHI_BENCH_ROWS` (default 100000), `KESHI_BENCH_HASHED`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss
)] // bench code

use std::io::Write;
use std::time::Instant;

use keshi_platform::import;
use keshi_platform::Store;

mod common;
use common::{env_usize, load, peak_mib};

fn id_number(k: usize) -> String {
    // Birth dates spread over days, months and years so 336,000 numbers are
    // distinct (1,000 a day).
    let day = 1 + (k / 1000) % 28;
    let month = 1 + (k / 28_000) % 12;
    let year = 1970 + k / 336_000;
    let base = format!("320106{year}{month:02}{day:02}{:03}", k % 1000);
    let check = keshi_platform::import::id_check_character(&base).unwrap();
    format!("{base}{check}")
}

fn row(k: usize, password: &str) -> [String; 6] {
    [
        format!("u{k:06}"),
        format!("学员{k}"),
        id_number(k),
        format!("139{k:08}"),
        format!("班{}", k / 50),
        password.to_owned(),
    ]
}

fn backends(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = vec![(
        "sqlite".to_owned(),
        format!("sqlite:{}", dir.join("import.db").display()),
    )];
    if let Ok(base) = std::env::var("KESHI_BENCH_PG_URL") {
        let name = format!("keshi_bench_import_{}", std::process::id());
        let rt = tokio::runtime::Runtime::new().unwrap();
        let url = rt
            .block_on(keshi_platform::store::create_pg_database(&base, &name))
            .unwrap();
        out.push(("postgres".to_owned(), url));
    }
    out
}

fn run_one(format: &str) {
    let rows = env_usize("KESHI_BENCH_ROWS", 100_000);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("learners.{format}"));
    let t0 = Instant::now();
    if format == "xlsx" {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (c, name) in import::COLUMNS.iter().enumerate() {
            sheet.write_string(0, c as u16, *name).unwrap();
        }
        for k in 0..rows {
            for (c, v) in row(k, "").iter().enumerate() {
                sheet.write_string(k as u32 + 1, c as u16, v).unwrap();
            }
        }
        book.save(&file).unwrap();
    } else {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        writeln!(w, "{}", import::COLUMNS.join(",")).unwrap();
        for k in 0..rows {
            writeln!(w, "{}", row(k, "").join(",")).unwrap();
        }
        w.flush().unwrap();
    }
    let bytes = std::fs::metadata(&file).unwrap().len();
    let written_s = t0.elapsed().as_secs_f64();
    let before = peak_mib();
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (backend, db) in backends(dir.path()) {
        rt.block_on(async {
            let store = Store::connect_with_key(&db, Some(&dir.path().join("bench.datakey")))
                .await
                .unwrap();
            let inst = store.create_institution("Bench School", 0).await.unwrap();
            let taken = store.learner_names().await.unwrap();
            let taken_ids = store.learner_id_indexes().await.unwrap();
            let key = store.data_key();
            let t = Instant::now();
            let lookups = import::Taken {
                user: &|u| taken.contains(u),
                id_number: &|id| taken_ids.contains(&key.blind_index(id)),
            };
            let checked = if format == "xlsx" {
                import::check_xlsx(&file, lookups).unwrap()
            } else {
                import::check_csv(
                    std::io::BufReader::new(std::fs::File::open(&file).unwrap()),
                    lookups,
                )
            };
            let check_s = t.elapsed().as_secs_f64();
            assert!(checked.rejected.is_empty(), "{:?}", &checked.rejected[..1]);
            let ready = import::hash_passwords(checked.rows, 2).unwrap();
            let t = Instant::now();
            let n = store
                .import_learners("bench", &inst, &ready, &Default::default(), 0)
                .await
                .unwrap();
            let insert_s = t.elapsed().as_secs_f64();
            assert_eq!(n as usize, rows);
            println!(
                "{}",
                serde_json::json!({
                    "bench": "import", "format": format, "backend": backend, "rows": rows,
                    "file_bytes": bytes, "generate_s": (written_s * 100.0).round() / 100.0,
                    "check_s": (check_s * 100.0).round() / 100.0,
                    "insert_s": (insert_s * 100.0).round() / 100.0,
                    "rows_per_s": (rows as f64 / (check_s + insert_s)).round(),
                    "peak_rss_mib_before": (before * 10.0).round() / 10.0,
                    "peak_rss_mib": (peak_mib() * 10.0).round() / 10.0,
                    "load": load(),
                })
            );
        });
    }
}

fn hashing() {
    let n = env_usize("KESHI_BENCH_HASHED", 200);
    let mut csv = format!("{}\n", import::COLUMNS.join(","));
    for k in 0..n {
        csv.push_str(&row(k, &format!("password-{k}")).join(","));
        csv.push('\n');
    }
    let checked = import::check_csv(
        csv.as_bytes(),
        import::Taken {
            user: &|_| false,
            id_number: &|_| false,
        },
    );
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let t = Instant::now();
    import::hash_passwords(checked.rows, cores).unwrap();
    let s = t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "bench": "import_passwords", "rows": n, "cores": cores,
            "seconds": (s * 100.0).round() / 100.0,
            "per_100k_rows_s": (s / n as f64 * 100_000.0).round(),
            "load": load(),
        })
    );
}

fn main() {
    match std::env::var("KESHI_BENCH_ONLY").as_deref() {
        Ok("csv") => run_one("csv"),
        Ok("xlsx") => run_one("xlsx"),
        Ok("passwords") => hashing(),
        _ => {
            // Each in its own process: peak memory is per format.
            let me = std::env::current_exe().unwrap();
            for only in ["csv", "xlsx", "passwords"] {
                let status = std::process::Command::new(&me)
                    .env("KESHI_BENCH_ONLY", only)
                    .args(std::env::args().skip(1))
                    .status()
                    .unwrap();
                assert!(status.success(), "{only}");
            }
        }
    }
}
