//! The frozen canonical encoding of a study record, version 1 (R-ST-6).
//!
//! A record is a signed, hash-chained *header* plus a separately stored JSON
//! *payload*. The header commits to the payload by length and SHA-256, so a
//! payload that carries personal data (a face image, R-ST-3) can be erased once
//! its retention period is over while the chain still verifies (R-SV-4).
//!
//! The byte layout is specified in `docs/record-format-v1.md`. It is frozen:
//! any change is version 2, and verifiers keep accepting version 1.
//!
//! ```text
//! magic "KSR1" | version u8 = 1 | device_id [16] | seq u64 | kind_len u8 | kind
//! | wall_ms i64 | mono_ms u64 | prev_hash [32] | payload_len u32 | payload_sha256 [32]
//! ```
//! (all integers big-endian). `hash = SHA-256(header)`, `signature = Ed25519(header)`.
//!
//! Files (p2panda's `operation/{header, body, validation, errors}` split):
//! [`header`] (layout, strict decode), [`canonical`] (payload bytes), [`seal()`]
//! (chain, hash, sign), [`check`] (every verifier's rules), [`checkpoint`] (the
//! signed head file), [`error`].
//!
//! Architecture invariant: this module is pure. It does no I/O, reads no clock and
//! keeps no state; the journal, the verifier and the platform service all call the
//! same functions ([`seal()`], [`check_record`], [`HeadCheckpoint::verify`]).

pub mod canonical;
pub mod check;
pub mod checkpoint;
pub mod error;
pub mod header;
pub mod seal;

pub use crate::ids::{DeviceId, Hash, HexError};
pub use crate::sig::verify_signature;
pub use canonical::canonical_json;
pub use check::{check_header, check_payload, check_record};
pub use checkpoint::{CheckpointError, HeadCheckpoint};
pub use error::{HeaderError, RecordError};
pub use header::{is_valid_kind, RecordHeader};
pub use seal::{prepare, seal, NewRecord, Record, Signer, UnsignedRecord};

/// Magic bytes opening every v1 header.
pub const MAGIC: [u8; 4] = *b"KSR1";
/// The only header version this module writes.
pub const VERSION: u8 = 1;
/// Longest allowed record kind, in bytes.
pub const MAX_KIND_LEN: usize = 48;
/// Size of a v1 header without the kind bytes.
pub const HEADER_FIXED_LEN: usize = 4 + 1 + 16 + 8 + 1 + 8 + 8 + 32 + 4 + 32;
/// Domain-separation prefix of the signed head checkpoint message.
pub const HEAD_CHECKPOINT_DOMAIN: &[u8] = b"KESHI-HEAD-v1";
/// The `format` field of a head checkpoint file.
pub const HEAD_CHECKPOINT_FORMAT: &str = "keshi-head-v1";

#[cfg(test)]
mod tests;
