//! The log of accepted records (issue 13 item 8): proof sizes and verification
//! time, computed at 10^8 records and measured at the sizes that fit; sequencing
//! throughput into a real SQLite file (or PostgreSQL with `KESHI_BENCH_PG_URL`).
//! Prints one JSON line per figure; `BENCHMARKS.md` quotes them with the command.
//!
//! ```text
//! cargo bench -p keshi-platform --bench ledger
//! KESHI_BENCH_PG_URL=postgres://… cargo bench -p keshi-platform --bench ledger
//! ```
//!
//! Environment: `KESHI_BENCH_LEAVES` (in-memory tree, default 2^20),
//! `KESHI_BENCH_RECORDS` (records sequenced in the database, default 100,000).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss
)] // bench code

use std::collections::HashMap;
use std::time::Instant;

use keshi_protocol::ids::Hash;
use keshi_protocol::merkle::{self, Digest, Frontier, MerkleError};

fn env_u64(k: &str, d: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn main() {
    // Computed at 10^8: how many hashes a proof carries (its shape depends on the
    // sizes only).
    let big = 100_000_000u64;
    let mut zeros = |_: u32, _: u64| -> Result<Digest, MerkleError> { Ok([0; 32]) };
    let worst_inclusion = [0, big / 2, big - 1]
        .iter()
        .map(|&i| {
            merkle::inclusion_proof::<MerkleError, _>(i, big, &mut zeros)
                .unwrap()
                .len()
        })
        .max()
        .unwrap();
    let consistency = merkle::consistency_proof::<MerkleError, _>(big / 3, big, &mut zeros)
        .unwrap()
        .len();
    println!(
        "{}",
        serde_json::json!({"bench": "proof_size_computed", "leaves": big,
            "inclusion_hashes": worst_inclusion, "inclusion_bytes": worst_inclusion * 32,
            "consistency_hashes": consistency, "consistency_bytes": consistency * 32})
    );

    // Measured in memory: grow a tree, keep its perfect subtrees, prove and verify.
    let n = env_u64("KESHI_BENCH_LEAVES", 1 << 20);
    let mut nodes: HashMap<(u32, u64), Digest> = HashMap::with_capacity(2 * n as usize);
    let mut f = Frontier::new();
    let t = Instant::now();
    for i in 0..n {
        let leaf = merkle::leaf_hash(&Hash::of(&i.to_le_bytes()).0);
        for (level, idx, h) in f.push(leaf) {
            nodes.insert((level, idx), h);
        }
    }
    let grow = t.elapsed();
    let root = f.root();
    let mut perfect = |l: u32, i: u64| {
        nodes
            .get(&(l, i))
            .copied()
            .ok_or(MerkleError::MissingNode { level: l, index: i })
    };
    let k = 1000u64;
    let (mut prove, mut verify, mut longest) = (0f64, 0f64, 0usize);
    for j in 0..k {
        let i = (j * 2_654_435_761) % n;
        let t = Instant::now();
        let path = merkle::inclusion_proof(i, n, &mut perfect).unwrap();
        prove += t.elapsed().as_secs_f64();
        longest = longest.max(path.len());
        let leaf = merkle::leaf_hash(&Hash::of(&i.to_le_bytes()).0);
        let t = Instant::now();
        merkle::verify_inclusion(&leaf, i, n, &path, &root).unwrap();
        verify += t.elapsed().as_secs_f64();
    }
    let first = n / 3;
    let first_root = merkle::root_from(first, &mut perfect).unwrap();
    let t = Instant::now();
    let proof = merkle::consistency_proof(first, n, &mut perfect).unwrap();
    merkle::verify_consistency(first, n, &first_root, &root, &proof).unwrap();
    let cons = t.elapsed();
    println!(
        "{}",
        serde_json::json!({"bench": "proofs_in_memory", "leaves": n,
            "grow_us_per_leaf": grow.as_secs_f64() * 1e6 / n as f64,
            "inclusion_prove_us": prove * 1e6 / k as f64, "inclusion_verify_us": verify * 1e6 / k as f64,
            "inclusion_hashes": longest, "consistency_prove_and_verify_us": cons.as_secs_f64() * 1e6,
            "consistency_hashes": proof.len()})
    );

    // Sequencing into a real database.
    let records = env_u64("KESHI_BENCH_RECORDS", 100_000);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = match std::env::var("KESHI_BENCH_PG_URL") {
        Ok(base) if !base.is_empty() => rt
            .block_on(keshi_platform::store::create_pg_database(
                &base,
                &format!("keshi_bench_ledger_{}", std::process::id()),
            ))
            .unwrap(),
        _ => format!("sqlite:{}", dir.path().join("ledger.db").display()),
    };
    rt.block_on(async {
        let store = keshi_platform::Store::connect(&url).await.unwrap();
        let inst = store.create_institution("Bench", 0).await.unwrap();
        let any = keshi_platform::store::sqlx_url(&url).unwrap();
        let pool = sqlx::AnyPool::connect(&any).await.unwrap();
        sqlx::query(
            "INSERT INTO learners(id, institution_id, username, real_name, id_number, password_hash, created_ms) \
             VALUES ('l', $1, 'l', 'l', 'x', 'x', 0)",
        )
        .bind(&inst)
        .execute(&pool)
        .await
        .unwrap();
        // Synthetic rows (sequencing reads only device, seq, hash and arrival).
        let mut tx = pool.begin().await.unwrap();
        for s in 0..records {
            sqlx::query(
                "INSERT INTO records(device_id, seq, learner_id, kind, wall_ms, mono_ms, header, payload, hash, signature, received_ms) \
                 VALUES ($1, $2, 'l', 'segment', 0, 0, '', '', $3, '', $4)",
            )
            .bind(format!("d{}", s % 1000))
            .bind((s / 1000 + 1) as i64)
            .bind(Hash::of(&s.to_le_bytes()).to_hex())
            .bind((s / 1000) as i64)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        pool.close().await;
        let t = Instant::now();
        let done = keshi_platform::ledger::integrate_all(&store, 0).await.unwrap();
        let took = t.elapsed().as_secs_f64();
        assert_eq!(done, records);
        let (size, _) = keshi_platform::ledger::state(&store).await.unwrap();
        assert_eq!(size, records);
        let t = Instant::now();
        let p = keshi_platform::ledger::inclusion(&store, "d7", 3, size).await.unwrap().unwrap().unwrap();
        let proof_ms = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "{}",
            serde_json::json!({"bench": "sequencing", "backend": if url.starts_with("sqlite") { "sqlite" } else { "postgres" },
                "records": records, "seconds": took, "records_per_second": records as f64 / took,
                "inclusion_proof_from_db_ms": proof_ms, "path_hashes": p.path.len()})
        );
    });
}
