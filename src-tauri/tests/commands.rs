//! One command list: the commands `lib.rs` registers, the ones `build.rs` declares
//! (and so the permissions Tauri generates), the ones `permissions/keshi.toml`
//! grants, and the ones `ui/src/api.ts` invokes are the same set.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use std::collections::BTreeSet;
use std::path::PathBuf;

fn read(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Quoted snake_case names between `open` and `close`.
fn quoted(text: &str, open: &str, close: &str) -> BTreeSet<String> {
    let start = text.find(open).unwrap_or_else(|| panic!("no {open:?}")) + open.len();
    let end = start
        + text[start..]
            .find(close)
            .unwrap_or_else(|| panic!("no {close:?}"));
    text[start..end]
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_list_of_commands_agrees() {
    let lib = read("src/lib.rs");
    let start = lib.find("generate_handler![").expect("generate_handler") + 18;
    let end = start + lib[start..].find(']').expect("]");
    let registered: BTreeSet<String> = lib[start..end]
        .split(',')
        .map(|s| s.trim().trim_start_matches("commands::").to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let declared = quoted(&read("build.rs"), "const COMMANDS: &[&str] = &[", "];");
    let granted = quoted(&read("permissions/keshi.toml"), "commands.allow = [", "]");
    let api = read("../ui/src/api.ts");
    let invoked: BTreeSet<String> = api
        .split("invoke<")
        .skip(1)
        .filter_map(|s| s.split('"').nth(1).map(str::to_owned))
        .collect();
    let commands = read("src/commands.rs");
    let defined: BTreeSet<String> = commands
        .split("\npub ")
        .skip(1)
        .filter_map(|s| s.strip_prefix("async ").unwrap_or(s).strip_prefix("fn "))
        .filter_map(|s| s.split(['(', '<']).next().map(str::to_owned))
        .collect();
    assert!(registered.len() >= 15, "{registered:?}");
    assert_eq!(
        declared, registered,
        "build.rs COMMANDS vs generate_handler!"
    );
    assert_eq!(
        granted, registered,
        "permissions/keshi.toml vs generate_handler!"
    );
    assert_eq!(invoked, registered, "ui/src/api.ts vs generate_handler!");
    assert_eq!(defined, registered, "commands.rs vs generate_handler!");
}
