//! Keshi player-core: the learner client's rules engine, signed study journal and
//! sync.
//!
//! What the client and the platform agree on — the record format, the typed record
//! vocabulary, the progress fold, manifests, profiles, wire types — lives in
//! `keshi-protocol` and is re-exported here ([`record`], [`fact`], [`fold`],
//! [`coverage`], [`manifest`], [`policy`], [`demo`]). This crate adds what only the
//! device does, free of UI and of trust in the UI (the web view is untrusted):
//!
//! - [`playback`]: the state machine that credits only real, normal-speed, attended
//!   time (R-ST-1, R-ST-2, R-ST-4) and asks for captures and quizzes (R-ST-3, R-AS-1).
//! - [`journal`]: the append-only SQLite store of records, durable before the caller
//!   is told, with a signed head checkpoint kept outside the database.
//! - [`index`]: every course's progress, folded once and advanced as records append.
//! - [`session`]: the player wired to the journal and the index.
//! - [`verify`]: walks a journal and names the first bad record.
//! - [`identity`]: the device key pair (ring), kept in the OS key store.
//! - [`sync`]: the outbox and the sync engine; [`http`] its transport (feature `http`).
//! - [`retention`]: erases acknowledged payloads after a signed progress snapshot.
//! - [`simulate`]: replays a JSON Lines timeline through a session (`keshi simulate`).
//! - [`study`]: the learner app's service (everything but the window) and the
//!   types its UI receives ([`study::view`]); [`courses`]: the course store.
//!
//! Time is always passed in: nothing here reads the system clock on its own except
//! [`clock::SystemClock`], which callers choose to inject.
// A silently truncated number is a wrong credit: cast with try_from or say why not.
#![cfg_attr(not(test), deny(clippy::cast_possible_truncation))]

pub use keshi_protocol::{codes, coverage, demo, fact, fold, manifest, policy, record, wire};

pub mod clock;
pub mod courses;
#[cfg(feature = "http")]
pub mod fetch;
#[cfg(feature = "http")]
pub mod http;
pub mod identity;
pub mod index;
pub mod journal;
pub mod playback;
pub mod retention;
pub mod session;
pub mod simulate;
pub mod study;
pub mod sync;
pub mod verify;
