//! Tidy checks run as ordinary tests (rust-analyzer's habit): the architecture map
//! names every module, every record kind is documented, and the platform does not
//! depend on the client.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every module file of every crate appears in ARCHITECTURE.md's code map, by its
/// file name (`journal/read.rs` as `read.rs`, a directory module by `dir/`).
#[test]
fn the_code_map_names_every_module() {
    let arch = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut missing = Vec::new();
    for krate in [
        "protocol",
        "player-core",
        "capture",
        "cli",
        "platform",
        "src-tauri",
    ] {
        let src = root().join(krate).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            if matches!(name.as_str(), "lib.rs" | "main.rs") {
                continue;
            }
            let named = if name == "mod.rs" {
                let dir = f.parent().unwrap().file_name().unwrap().to_string_lossy();
                format!("{dir}/")
            } else {
                name.clone()
            };
            if !arch.contains(&format!("`{named}")) && !arch.contains(&named) {
                missing.push(f.strip_prefix(root()).unwrap_or(&f).display().to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not in ARCHITECTURE.md's code map: {missing:?}"
    );
}

/// Every record kind of the vocabulary has its section in the record format doc.
#[test]
fn every_record_kind_is_documented() {
    let doc = std::fs::read_to_string(root().join("docs/record-format-v1.md")).unwrap();
    let missing: Vec<&str> = keshi_protocol::fact::FactKind::ALL
        .iter()
        .map(|k| k.as_str())
        .filter(|k| !doc.contains(&format!("`{k}`")))
        .collect();
    assert!(missing.is_empty(), "undocumented record kinds: {missing:?}");
}

/// The platform depends on the protocol only, never on the client's crates.
#[test]
fn the_platform_does_not_depend_on_the_client() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            "keshi-platform",
            "--prefix",
            "none",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    for forbidden in ["keshi-player-core", "rusqlite", "keyring", "zbus"] {
        assert!(
            !tree
                .lines()
                .any(|l| l.starts_with(&format!("{forbidden} "))),
            "keshi-platform depends on {forbidden}"
        );
    }
    assert!(tree.lines().any(|l| l.starts_with("keshi-protocol ")));
}
