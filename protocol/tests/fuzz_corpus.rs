//! The fuzz corpora (`fuzz/corpus/`), replayed as ordinary tests: every input the
//! fuzzers kept (and the seeds written by hand) goes through the same target body
//! (`keshi_protocol::fuzz`) on every CI run.
#![allow(clippy::disallowed_methods)] // tests and benches read clocks and environment
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| {
            let p = e.path();
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    assert!(out.len() >= 5, "corpus {target} is too small");
    out
}

#[test]
fn header_corpus() {
    for (p, bytes) in corpus("header") {
        eprintln!("{}", p.display());
        keshi_protocol::fuzz::header(&bytes);
    }
}

#[test]
fn wire_record_corpus() {
    for (p, bytes) in corpus("wire_record") {
        eprintln!("{}", p.display());
        keshi_protocol::fuzz::wire_record(&bytes);
    }
}

#[test]
fn manifest_corpus() {
    for (p, bytes) in corpus("manifest") {
        eprintln!("{}", p.display());
        keshi_protocol::fuzz::manifest(&bytes);
    }
}
