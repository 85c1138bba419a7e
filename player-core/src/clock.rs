//! Time sources. The core never reads the clock by itself: callers pass time in.
//!
//! A point in time is on a session's monotonic clock, in milliseconds; the app
//! takes it from [`SystemClock`], `keshi simulate` from the timeline's `t`.

use std::time::SystemTime;

pub use keshi_protocol::time::{MonoMs, WallMs};

/// A source of monotonic and wall time.
pub trait Clock: Send + Sync {
    /// Milliseconds since this clock's origin; never goes backwards.
    fn mono_ms(&self) -> MonoMs;
    /// Wall time, Unix milliseconds (informational: the platform never trusts it alone).
    fn wall_ms(&self) -> i64;
}

/// The real clocks of the machine.
#[derive(Debug)]
pub struct SystemClock {
    origin: std::time::Instant,
}

impl SystemClock {
    /// Starts a monotonic clock at zero now.
    // The one place the core reads the machine's clocks: the implementation that
    // callers inject (clippy.toml forbids it anywhere else).
    #[allow(clippy::disallowed_methods)]
    pub fn new() -> Self {
        SystemClock {
            origin: std::time::Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn mono_ms(&self) -> MonoMs {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn wall_ms(&self) -> i64 {
        wall_now_ms()
    }
}

/// Current wall time in Unix milliseconds.
#[allow(clippy::disallowed_methods)] // see `SystemClock::new`
pub fn wall_now_ms() -> i64 {
    match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}
