//! Journal benchmarks (see BENCHMARKS.md, "Journal (player-core)").
//!
//! Everything runs in one temp dir on one disk, so the durable-append figures can
//! be compared with the raw fsync cost measured in the same run:
//!
//! - `fsync/*`: write 4 KiB + `File::sync_data`, overwriting in place and appending;
//! - `append/single`: one durable append (sign + hash + commit with fsync);
//! - `append/batch_1000`: group commit of 1,000 records (records/s);
//! - `verify/100k_*`: verify a 100,000-record journal (records/s), with the default
//!   batch verification and with ring one signature at a time.
//!
//! Run: `cargo bench -p keshi-player-core --bench journal -- --warm-up-time 1 --measurement-time 5`
#![allow(clippy::disallowed_methods)] // tests and benches read clocks and environment
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use player_core::identity::DeviceKey;
use player_core::journal::Journal;
use player_core::record::NewRecord;
use player_core::verify::{verify_journal, verify_journal_with, VerifyOptions};
use serde_json::json;

fn record(i: u64) -> NewRecord {
    NewRecord::new(
        "playback_tick",
        json!({
            "course": "safety-101",
            "lesson": 3,
            "position_ms": i * 1000,
            "rate": 1.0,
            "visible": true,
            "focused": true,
            "credited_ms": 1000,
        }),
        1_700_000_000_000 + i as i64 * 1000,
        i * 1000,
    )
}

fn bench_fsync(c: &mut Criterion, dir: &Path) {
    let mut g = c.benchmark_group("fsync");
    let block = vec![0x5au8; 4096];

    let mut f = std::fs::File::create(dir.join("fsync-overwrite.bin")).unwrap();
    f.write_all(&block).unwrap();
    f.sync_all().unwrap();
    g.bench_function("overwrite_4k", |b| {
        b.iter(|| {
            f.seek(SeekFrom::Start(0)).unwrap();
            f.write_all(&block).unwrap();
            f.sync_data().unwrap();
        })
    });

    let mut f = std::fs::File::create(dir.join("fsync-append.bin")).unwrap();
    g.bench_function("append_4k", |b| {
        b.iter(|| {
            f.write_all(&block).unwrap();
            f.sync_data().unwrap();
        })
    });
    g.finish();
}

fn bench_append(c: &mut Criterion, dir: &Path, key: &Arc<DeviceKey>) {
    let mut g = c.benchmark_group("append");

    let mut j = Journal::open(&dir.join("single.db"), key.clone()).unwrap();
    let mut i = 0u64;
    g.throughput(Throughput::Elements(1));
    g.bench_function("single", |b| {
        b.iter(|| {
            i += 1;
            j.append(record(i)).unwrap()
        })
    });
    drop(j);

    let mut j = Journal::open(&dir.join("batch.db"), key.clone()).unwrap();
    let mut i = 0u64;
    g.throughput(Throughput::Elements(1000));
    g.bench_function("batch_1000", |b| {
        b.iter_batched(
            || {
                let batch: Vec<NewRecord> = (i..i + 1000).map(record).collect();
                i += 1000;
                batch
            },
            |batch| j.append_batch(batch).unwrap(),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn bench_verify(c: &mut Criterion, dir: &Path, key: &Arc<DeviceKey>) {
    const N: u64 = 100_000;
    let path = dir.join("verify-100k.db");
    {
        let mut j = Journal::open(&path, key.clone()).unwrap();
        for start in (0..N).step_by(5000) {
            j.append_batch((start..start + 5000).map(record).collect())
                .unwrap();
        }
    }
    assert_eq!(verify_journal(&path).unwrap().records, N);

    let mut g = c.benchmark_group("verify");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    g.bench_function("100k_strict", |b| b.iter(|| verify_journal(&path).unwrap()));
    let one = VerifyOptions {
        threads: Some(1),
        ..VerifyOptions::default()
    };
    g.bench_function("100k_strict_one_thread", |b| {
        b.iter(|| verify_journal_with(&path, &one).unwrap())
    });
    g.finish();
}

/// Process CPU time (user + system), seconds. Linux only.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Wall time and CPU time of the CPU-bound paths, so a run on a machine shared
/// with other work can still be judged: records per CPU-second does not depend
/// on what else is running.
fn cpu_summary(dir: &Path, key: &Arc<DeviceKey>) {
    let Some(c0) = cpu_seconds() else { return };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let path = dir.join("verify-100k.db");
    let t = std::time::Instant::now();
    let n = verify_journal(&path).unwrap().records as f64;
    let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds().unwrap_or(c0) - c0);
    println!(
        "cpu-summary verify_100k: wall {wall:.3} s ({:.0} records/s), cpu {cpu:.3} s ({:.0} records per cpu-second, {cores} cores)",
        n / wall,
        n / cpu
    );
    let mut j = Journal::open(&dir.join("cpu-batch.db"), key.clone()).unwrap();
    let c0 = cpu_seconds().unwrap_or(0.0);
    let t = std::time::Instant::now();
    for start in (0..20_000).step_by(1000) {
        j.append_batch((start..start + 1000).map(record).collect())
            .unwrap();
    }
    let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds().unwrap_or(c0) - c0);
    println!(
        "cpu-summary append_batch_1000 x20: wall {wall:.3} s ({:.0} records/s), cpu {cpu:.3} s ({:.0} records per cpu-second, {cores} cores)",
        20_000.0 / wall,
        20_000.0 / cpu
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("cpu-summary loadavg: {}", load.trim());
    }
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let key = Arc::new(DeviceKey::generate().unwrap());
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("loadavg at start: {}", load.trim());
    }
    bench_fsync(c, dir.path());
    bench_append(c, dir.path(), &key);
    bench_verify(c, dir.path(), &key);
    cpu_summary(dir.path(), &key);
}

criterion_group! {
    name = journal;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(journal);
