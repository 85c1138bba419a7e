//! Keshi player-core: the rules engine of the learner client.
//!
//! Everything that decides whether study counts lives here, free of UI and free of
//! trust in the UI (the web view is untrusted):
//!
//! - [`manifest`]: course manifests (versioned JSON), validated on load.
//! - [`policy`]: per-province policy profiles embedded as data, each value citing
//!   the clause of the seed document it comes from.
//! - [`playback`]: the playback state machine that credits only real, normal-speed,
//!   attended time (R-ST-1, R-ST-2, R-ST-4) and the class-hour accounting with random
//!   captures and end-of-hour quizzes (R-ST-3, R-ST-5, R-AS-1).
//! - [`record`]: the frozen, versioned canonical encoding of a study record, its
//!   SHA-256 hash chain and Ed25519 signature (R-ST-6).
//! - [`journal`]: the append-only SQLite store of records, durable before the caller
//!   is told, with a signed head checkpoint kept outside the database.
//! - [`verify`]: walks a journal and names the first bad record.
//! - [`identity`]: the device key pair (ring), kept in the OS key store.
//! - [`simulate`]: replays a JSON Lines timeline through a session (`keshi simulate`).
//! - [`retention`]: snapshots progress, then erases payloads the platform acknowledged
//!   once they are older than the retention period.
//! - [`session`]: glue that feeds the state machine, writes its facts to the journal
//!   and rebuilds state from the journal on restart (resume at the breakpoint).
//!
//! Time is always passed in: nothing here reads the system clock on its own except
//! [`clock::SystemClock`], which callers choose to inject.

pub mod clock;
pub mod coverage;
pub mod demo;
#[cfg(feature = "http")]
pub mod http;
pub mod identity;
pub mod journal;
pub mod manifest;
pub mod playback;
pub mod policy;
pub mod record;
pub mod retention;
pub mod session;
pub mod simulate;
pub mod sync;
pub mod verify;
