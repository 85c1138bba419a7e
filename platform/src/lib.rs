//! Keshi reference platform service.
//!
//! This crate will hold (see issue "Reference platform service and offline-first
//! sync"): enrolment of institutions, learners (R-ID-1) and device keys; single-login
//! leases (R-ID-3); ingest of signed study records, verified with
//! `keshi-player-core`'s frozen record encoding (R-ST-6, R-SV-4); platform-side
//! re-derivation of credited time and course-farming flags (R-SV-3); supervisor
//! exports and certificates (R-AS-6).
//!
//! It has no behaviour yet.
