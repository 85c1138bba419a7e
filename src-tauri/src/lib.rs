//! Keshi learner app shell (Tauri v2).
//!
//! This crate will hold (see issue "The desktop learner app"): `run()` /
//! `run_app<R: Runtime>`, a handful of five-line commands that call
//! `keshi-player-core` and `keshi-capture`, the course-media protocol, capabilities
//! and window rules (R-ID-4, R-ST-4). No study rule lives here: the web view is
//! untrusted and `keshi-player-core` is the authority.
//!
//! It has no behaviour yet; it does not depend on Tauri until that issue lands, so the
//! workspace builds without WebKitGTK.
