//! Time as the records carry it. Nothing in this crate reads a clock: callers pass
//! time in (`clippy.toml` forbids `SystemTime::now` and `Instant::now` here).

/// Milliseconds on a session's monotonic clock (its own origin).
pub type MonoMs = u64;

/// Wall-clock time, Unix milliseconds. On a device it is informational (clocks can
/// be set); the platform anchors time to its own clock.
pub type WallMs = i64;
