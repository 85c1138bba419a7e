//! The timeline fuzz corpus (`fuzz/corpus/timeline/`), replayed as an ordinary test
//! through the fuzz target's body.
#![allow(clippy::disallowed_methods)] // tests and benches read clocks and environment
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

#[test]
fn timeline_corpus() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/timeline");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        eprintln!("{}", e.path().display());
        player_core::simulate::fuzz_timeline(&std::fs::read(e.path()).unwrap());
        n += 1;
    }
    assert!(n >= 5, "corpus too small");
}
