//! Acceptance: editing any byte of any record with the `sqlite3` CLI makes
//! `keshi journal verify` fail and name that record (R-ST-6, R-SV-4).
//!
//! Needs the `sqlite3` command (Debian package `sqlite3`; `./test.sh` installs it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

mod common;

use std::path::Path;
use std::process::Command;

use common::Env;
use rand::{Rng, SeedableRng};

fn sqlite(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("the sqlite3 CLI is needed (apt-get install sqlite3)");
    assert!(
        out.status.success(),
        "sqlite3 {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn copy_journal(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
    let head =
        |p: &Path| p.with_file_name(format!("{}.head", p.file_name().unwrap().to_str().unwrap()));
    std::fs::copy(head(from), head(to)).unwrap();
}

#[test]
fn editing_any_byte_of_any_record_is_named_by_verify() {
    let env = Env::new();
    let course = env.demo_course(1);
    let journal = env.path("orig.db");
    let t = env.path("t.jsonl");
    // A short session with every kind of record: play, seek, rate, capture, focus…
    std::fs::write(
        &t,
        [
            r#"{"t":0,"event":"play"}"#,
            r#"{"t":0,"event":"capture","ok":true}"#,
            r#"{"t":20,"event":"seek","to":5}"#,
            r#"{"t":40,"event":"rate","rate":2}"#,
            r#"{"t":60,"event":"focus","focused":false}"#,
            r#"{"t":70,"event":"focus","focused":true}"#,
            r#"{"t":100,"event":"seek","to":900}"#,
            r#"{"t":130,"event":"pause"}"#,
            r#"{"t":131,"event":"close"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    env.simulate(&course, &t, &journal, 3);
    sqlite(&journal, "PRAGMA wal_checkpoint(TRUNCATE);");
    env.ok(&["journal", "verify", journal.to_str().unwrap()]);

    let seqs: Vec<u64> = sqlite(&journal, "SELECT seq FROM records ORDER BY seq;")
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert!(seqs.len() >= 10, "too few records to test: {}", seqs.len());
    let triggers = sqlite(
        &journal,
        "SELECT name FROM sqlite_master WHERE type='trigger';",
    );
    let drop: String = triggers
        .lines()
        .map(|n| format!("DROP TRIGGER \"{}\";", n.trim()))
        .collect();

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let mut cases = 0;
    for &seq in &seqs {
        for column in ["header", "payload", "hash", "signature", "kind", "seq"] {
            let copy = env.path(&format!("t-{seq}-{column}.db"));
            copy_journal(&journal, &copy);
            let edit = match column {
                "kind" => format!("UPDATE records SET kind = kind || 'x' WHERE seq = {seq};"),
                "seq" => format!("UPDATE records SET seq = seq + 100000 WHERE seq = {seq};"),
                blob => {
                    let hex = sqlite(
                        &copy,
                        &format!("SELECT hex({blob}) FROM records WHERE seq = {seq};"),
                    );
                    let mut bytes = hex::decode(hex.trim()).unwrap();
                    assert!(!bytes.is_empty(), "record {seq} {blob} is empty");
                    let i = rng.random_range(0..bytes.len());
                    bytes[i] ^= 1 << rng.random_range(0..8);
                    format!(
                        "UPDATE records SET {blob} = X'{}' WHERE seq = {seq};",
                        hex::encode(bytes)
                    )
                }
            };
            sqlite(&copy, &format!("{drop}{edit}"));
            let out = env.run(&["journal", "verify", copy.to_str().unwrap()]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success(),
                "editing {column} of record {seq} went unnoticed"
            );
            assert!(
                err.contains(&format!("record {seq}")),
                "editing {column} of record {seq}: the error does not name it: {err}"
            );
            cases += 1;
        }
    }
    assert_eq!(cases, seqs.len() * 6);
}
