//! What the Keshi learner client and the platform agree on, with no I/O, no clock
//! and no randomness of its own: the one place both sides take their rules from.
//!
//! - [`record`]: the frozen signed record format v1 (header, canonical payload, seal,
//!   checks, head checkpoint) — `docs/record-format-v1.md`.
//! - [`sig`]: the one Ed25519 verification rule (strict) of every side.
//! - [`ids`]: [`ids::Hash`] and [`ids::DeviceId`].
//! - [`fact`]: the record vocabulary, typed ([`fact::Fact`]).
//! - [`fold`]: the progress fold — credited coverage, class hours with their captures
//!   and quizzes, violations — that the device and the platform both run.
//! - [`coverage`]: sets of credited course time.
//! - [`manifest`], [`policy`]: course manifests and the per-province profiles.
//! - [`wire`], [`codes`]: the platform API's JSON shapes and its stable codes.
//! - [`demo`]: the demo course.
//! - [`merkle`]: the platform's append-only log of accepted records (RFC 6962
//!   shapes) and its signed checkpoints.
//! - [`certificate`]: certificates and learning proofs (R-AS-2, R-AS-6) — the signed
//!   statement, its QR text and the seal of the issued PDF.
//!
//! Architecture invariant: nothing here performs I/O or reads a clock (`clippy.toml`
//! forbids it); `keshi-player-core` (the client) and `keshi-platform` depend on this
//! crate, and the platform depends on nothing else of the client.
// A silently truncated number is a wrong credit: cast with try_from or say why not.
#![cfg_attr(not(test), deny(clippy::cast_possible_truncation))]

pub mod archive;
pub mod certificate;
pub mod codes;
pub mod coverage;
pub mod demo;
pub mod draw;
pub mod fact;
pub mod fold;
#[doc(hidden)]
pub mod fuzz;
pub mod ids;
pub mod manifest;
pub mod merkle;
pub mod policy;
pub mod record;
pub mod sig;
pub mod staff;
pub mod time;
pub mod wire;
