//! Every code the app can receive has words in both languages: each code enum of
//! the core and the protocol (`AppCode`, `ApiCode`, `RefusalCode`, `ErrorCode`,
//! `NotCounting`, `ViolationKind`, `SyncState`, `Level`, `CaptureState`),
//! serialised as the UI receives it, has its key in
//! `ui/src/i18n/zh-CN.json` and `en.json` (`error.<code>`, `reason.<code>`,
//! `sync.<state>`, `level.<level>`, `capture.<state>`), and the two files have the
//! same keys. (The UI's types check the same keys at build time; this test ties them
//! to the Rust enums the bindings are generated from.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use std::collections::BTreeSet;
use std::path::PathBuf;

use player_core::codes::{ApiCode, RefusalCode};
use player_core::fact::ViolationKind;
use player_core::playback::NotCounting;
use player_core::policy::Level;
use player_core::study::view::{CaptureState, SyncState};
use player_core::study::{AppCode, ErrorCode};
use serde::Serialize;

fn keys(file: &str) -> BTreeSet<String> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ui/src/i18n")
        .join(file);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    for (k, v) in &map {
        let s = v
            .as_str()
            .unwrap_or_else(|| panic!("{file}: {k} is not a string"));
        assert!(!s.trim().is_empty(), "{file}: {k} is empty");
    }
    map.into_iter().map(|(k, _)| k).collect()
}

/// The code as the UI receives it (the serde string).
fn code<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => panic!("not serialised as a string: {other:?}"),
    }
}

// The variants of the enums without an `ALL` list. Each match has no wildcard arm,
// so a new variant does not compile until it is listed here too.
fn sync_states() -> Vec<SyncState> {
    let all = [
        SyncState::NotLoggedIn,
        SyncState::Idle,
        SyncState::Syncing,
        SyncState::Synced,
        SyncState::Offline,
        SyncState::Refused,
        SyncState::Error,
    ];
    for s in &all {
        match s {
            SyncState::NotLoggedIn
            | SyncState::Idle
            | SyncState::Syncing
            | SyncState::Synced
            | SyncState::Offline
            | SyncState::Refused
            | SyncState::Error => {}
        }
    }
    all.to_vec()
}

fn levels() -> Vec<Level> {
    let all = [Level::Junior, Level::Intermediate, Level::Senior];
    for l in &all {
        match l {
            Level::Junior | Level::Intermediate | Level::Senior => {}
        }
    }
    all.to_vec()
}

fn capture_states() -> Vec<CaptureState> {
    let all = [
        CaptureState::Taking,
        CaptureState::Passed,
        CaptureState::Failed,
    ];
    for s in &all {
        match s {
            CaptureState::Taking | CaptureState::Passed | CaptureState::Failed => {}
        }
    }
    all.to_vec()
}

/// Every error code a command can answer with: the app's own and the platform's.
fn error_codes() -> Vec<ErrorCode> {
    let mut all: Vec<ErrorCode> = AppCode::ALL.iter().copied().map(ErrorCode::from).collect();
    all.extend(ApiCode::ALL.iter().copied().map(ErrorCode::from));
    for c in &all {
        match c {
            ErrorCode::App(_) | ErrorCode::Api(_) => {}
        }
    }
    all
}

/// Every key the codes need.
fn needed() -> Vec<String> {
    let mut k = Vec::new();
    k.extend(AppCode::ALL.iter().map(|c| format!("error.{}", code(c))));
    k.extend(ApiCode::ALL.iter().map(|c| format!("error.{}", code(c))));
    // A record refusal reaches the UI as the API code of the same name.
    k.extend(
        RefusalCode::ALL
            .iter()
            .map(|c| format!("error.{}", code(c))),
    );
    k.extend(error_codes().iter().map(|c| format!("error.{}", code(c))));
    k.extend(
        NotCounting::ALL
            .iter()
            .map(|c| format!("reason.{}", code(c))),
    );
    k.extend(
        ViolationKind::ALL
            .iter()
            .map(|c| format!("reason.{}", code(c))),
    );
    k.extend(sync_states().iter().map(|s| format!("sync.{}", code(s))));
    k.extend(levels().iter().map(|l| format!("level.{}", code(l))));
    k.extend(
        capture_states()
            .iter()
            .map(|s| format!("capture.{}", code(s))),
    );
    k
}

#[test]
fn every_code_has_text_in_both_languages() {
    let needed = needed();
    assert!(needed.len() > 80, "{} keys", needed.len());
    for file in ["zh-CN.json", "en.json"] {
        let have = keys(file);
        let missing: Vec<&String> = needed.iter().filter(|k| !have.contains(*k)).collect();
        assert!(missing.is_empty(), "{file} has no text for {missing:?}");
    }
}

#[test]
fn both_languages_have_the_same_keys() {
    let zh = keys("zh-CN.json");
    let en = keys("en.json");
    let only_zh: Vec<&String> = zh.difference(&en).collect();
    let only_en: Vec<&String> = en.difference(&zh).collect();
    assert!(
        only_zh.is_empty() && only_en.is_empty(),
        "only in zh-CN.json: {only_zh:?}; only in en.json: {only_en:?}"
    );
}

#[test]
fn codes_serialise_as_their_stable_names() {
    // The keys above are built from serde's strings; they are the codes' own names.
    for c in AppCode::ALL {
        assert_eq!(code(c), c.as_str());
    }
    for c in ApiCode::ALL {
        assert_eq!(code(c), c.as_str());
    }
    for c in RefusalCode::ALL {
        assert_eq!(code(c), c.as_str());
        assert_eq!(
            ApiCode::from(*c).as_str(),
            c.as_str(),
            "{c} is not an API code"
        );
    }
    for c in error_codes() {
        assert_eq!(code(&c), c.as_str());
    }
    for c in NotCounting::ALL {
        assert_eq!(code(&c), c.code());
    }
    for c in ViolationKind::ALL {
        assert_eq!(code(&c), c.code());
    }
    for l in levels() {
        assert_eq!(code(&l), l.as_str());
    }
}
