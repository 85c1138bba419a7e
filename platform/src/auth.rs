//! Passwords (Argon2id, PHC strings) and bearer tokens (R-ID-1, R-ID-3).
//!
//! Tokens are 32 random bytes (hex); the database stores only their SHA-256, so
//! a leaked database does not leak live sessions.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

/// Errors of password hashing.
#[derive(Debug, thiserror::Error)]
#[error("cannot hash password: {0}")]
pub struct HashError(String);

impl HashError {
    /// An error in words.
    pub fn new(message: &str) -> HashError {
        HashError(message.to_owned())
    }
}

/// Argon2id PHC string of `password`.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The PHC string checked against when the user does not exist, so an unknown
/// user costs the same Argon2 work as a wrong password (no user enumeration by
/// timing).
fn dummy_phc() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("keshi-dummy-password").unwrap_or_default())
}

/// Checks `password` against `phc`, or against a dummy hash when the user is
/// unknown (`None`): the same work either way.
pub fn verify_or_dummy(password: &str, phc: Option<&str>) -> bool {
    match phc {
        Some(phc) => verify_password(password, phc),
        None => {
            let _ = verify_password(password, dummy_phc());
            false
        }
    }
}

/// Failed sign-ins an account may make before it is locked for a while.
pub const ACCOUNT_FREE_FAILURES: u32 = 5;
/// First lock after the free failures; it doubles with each further failure.
pub const ACCOUNT_LOCK_MS: i64 = 60_000;
/// Longest lock.
pub const ACCOUNT_LOCK_MAX_MS: i64 = 3_600_000;
/// Failed sign-ins one address may make per minute.
pub const ADDRESS_FAILURES_PER_MINUTE: usize = 30;
/// Password checks running at once (Argon2id takes 19 MiB and a core's time each).
pub const HASHING_AT_ONCE: usize = 2;
/// Password checks that may wait for a turn; more are told to come back.
pub const HASHING_QUEUE: usize = 64;

/// How long an account's failures are remembered after its last one.
pub const ACCOUNT_MEMORY_MS: i64 = 24 * 3_600_000;

/// Why a sign-in is not even checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    /// Too many failures for this account or address: retry after this long (ms).
    TooManyAttempts(i64),
    /// Too many password checks waiting: retry after this long (ms).
    Busy(i64),
}

#[derive(Debug, Clone, Copy, Default)]
struct Account {
    /// Attempts not (yet) known to have succeeded.
    failures: u32,
    locked_until: i64,
    last_ms: i64,
}

#[derive(Debug, Default)]
struct Counts {
    accounts: std::collections::HashMap<String, Account>,
    addresses: std::collections::HashMap<std::net::IpAddr, std::collections::VecDeque<i64>>,
    /// Sizes at which the maps are next swept (amortised: a sweep at most doubles
    /// the size the next one waits for).
    sweep_accounts_at: usize,
    sweep_addresses_at: usize,
}

/// Maps this small are never swept.
const SWEEP_FLOOR: usize = 4_096;

/// Login throttling per account and per address, and the gate that bounds how many
/// Argon2 checks run and wait. In memory (one process; issue 16 moves it to the
/// shared store for several instances).
///
/// An attempt is charged as a failure when it *starts* ([`LoginGuard::begin`]) and
/// refunded when it succeeds: sixty-four guesses sent at once for one account get
/// five password checks, not sixty-four.
#[derive(Debug)]
pub struct LoginGuard {
    counts: std::sync::Mutex<Counts>,
    hashing: tokio::sync::Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
}

impl Default for LoginGuard {
    fn default() -> Self {
        LoginGuard {
            counts: std::sync::Mutex::default(),
            hashing: tokio::sync::Semaphore::new(HASHING_AT_ONCE),
            waiting: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

impl LoginGuard {
    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `user` from `addr` may try now; if so the attempt is charged as a
    /// failure until [`LoginGuard::succeeded`] or [`LoginGuard::refund`].
    pub fn begin(
        &self,
        user: &str,
        addr: Option<std::net::IpAddr>,
        now: i64,
    ) -> Result<(), Throttled> {
        let mut c = self.counts();
        if let Some(a) = c.accounts.get(user) {
            if a.locked_until > now {
                return Err(Throttled::TooManyAttempts(a.locked_until - now));
            }
        }
        if let Some(a) = addr {
            if let Some(q) = c.addresses.get_mut(&a) {
                while q.front().is_some_and(|&t| t <= now - 60_000) {
                    q.pop_front();
                }
                if q.len() >= ADDRESS_FAILURES_PER_MINUTE {
                    let retry = q.front().map_or(60_000, |&t| t + 60_000 - now);
                    return Err(Throttled::TooManyAttempts(retry.max(1)));
                }
            }
        }
        let e = c.accounts.entry(user.to_owned()).or_default();
        if e.last_ms <= now - ACCOUNT_MEMORY_MS {
            *e = Account::default();
        }
        e.failures = e.failures.saturating_add(1);
        e.last_ms = now;
        if e.failures >= ACCOUNT_FREE_FAILURES {
            let extra = (e.failures - ACCOUNT_FREE_FAILURES).min(16);
            e.locked_until = now + (ACCOUNT_LOCK_MS << extra).min(ACCOUNT_LOCK_MAX_MS);
        }
        if let Some(a) = addr {
            c.addresses.entry(a).or_default().push_back(now);
        }
        Self::sweep(&mut c, now);
        Ok(())
    }

    /// Bounds the memory an attacker can make us spend: forgets accounts whose
    /// failures are old and unlocked, and addresses with no failure in the minute.
    fn sweep(c: &mut Counts, now: i64) {
        if c.accounts.len() > c.sweep_accounts_at.max(SWEEP_FLOOR) {
            c.accounts
                .retain(|_, a| a.locked_until > now || a.last_ms > now - ACCOUNT_MEMORY_MS);
            c.sweep_accounts_at = c.accounts.len().saturating_mul(2);
        }
        if c.addresses.len() > c.sweep_addresses_at.max(SWEEP_FLOOR) {
            c.addresses
                .retain(|_, q| q.back().is_some_and(|&t| t > now - 60_000));
            c.sweep_addresses_at = c.addresses.len().saturating_mul(2);
        }
    }

    /// A successful sign-in: the account's failures are cleared and the attempt is
    /// not held against the address (a class signing in behind one NAT address).
    pub fn succeeded(&self, user: &str, addr: Option<std::net::IpAddr>) {
        let mut c = self.counts();
        c.accounts.remove(user);
        Self::unpush(&mut c, addr);
    }

    /// An attempt that was never checked (the password checks were busy): it is
    /// not counted at all.
    pub fn refund(&self, user: &str, addr: Option<std::net::IpAddr>) {
        let mut c = self.counts();
        if let Some(a) = c.accounts.get_mut(user) {
            a.failures = a.failures.saturating_sub(1);
            if a.failures < ACCOUNT_FREE_FAILURES {
                a.locked_until = 0;
            }
        }
        Self::unpush(&mut c, addr);
    }

    fn unpush(c: &mut Counts, addr: Option<std::net::IpAddr>) {
        if let Some(a) = addr {
            if let Some(q) = c.addresses.get_mut(&a) {
                q.pop_back();
                if q.is_empty() {
                    c.addresses.remove(&a);
                }
            }
        }
    }

    /// Runs `check` (an Argon2 verification) on the blocking pool when a turn is
    /// free; when too many are waiting, says so at once.
    pub async fn hash<T: Send + 'static>(
        &self,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Throttled> {
        use std::sync::atomic::Ordering;
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= HASHING_QUEUE {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Throttled::Busy(1_000));
        }
        let permit = self.hashing.acquire().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let Ok(_permit) = permit else {
            return Err(Throttled::Busy(1_000));
        };
        tokio::task::spawn_blocking(check)
            .await
            .map_err(|_| Throttled::Busy(1_000))
    }
}

/// A new bearer token: 32 random bytes, hex.
pub fn new_token() -> String {
    let b: [u8; 32] = rand::random();
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    /// Tries and fails: begin, then the password turns out wrong.
    fn fail(g: &super::LoginGuard, user: &str, addr: Option<std::net::IpAddr>, now: i64) {
        g.begin(user, addr, now).unwrap();
    }

    #[test]
    fn an_account_is_locked_after_its_free_failures_and_the_lock_grows() {
        let g = super::LoginGuard::default();
        for _ in 0..super::ACCOUNT_FREE_FAILURES {
            fail(&g, "u", None, 1_000);
        }
        assert_eq!(
            g.begin("u", None, 1_000),
            Err(super::Throttled::TooManyAttempts(super::ACCOUNT_LOCK_MS))
        );
        fail(&g, "u", None, 1_000 + super::ACCOUNT_LOCK_MS);
        assert_eq!(
            g.begin("u", None, 100_000),
            Err(super::Throttled::TooManyAttempts(
                1_000 + 3 * super::ACCOUNT_LOCK_MS - 100_000
            ))
        );
        // Other accounts are not affected; a success clears the count.
        assert!(g.begin("v", None, 100_000).is_ok());
        g.succeeded("u", None);
        assert!(g.begin("u", None, 100_000).is_ok());
    }

    #[test]
    fn attempts_are_charged_when_they_start_not_when_they_fail() {
        // Sixty-four guesses at once: only the free failures get a password check.
        let g = super::LoginGuard::default();
        let started = (0..64)
            .filter(|_| g.begin("target", None, 5_000).is_ok())
            .count();
        assert_eq!(started, super::ACCOUNT_FREE_FAILURES as usize);
        // An attempt refunded (never checked) does not count.
        let h = super::LoginGuard::default();
        for _ in 0..20 {
            h.begin("busy", None, 5_000).unwrap();
            h.refund("busy", None);
        }
        assert!(h.begin("busy", None, 5_000).is_ok());
    }

    #[test]
    fn an_address_is_throttled_across_accounts_but_not_for_its_successes() {
        let g = super::LoginGuard::default();
        let a: std::net::IpAddr = "10.0.0.7".parse().unwrap();
        // A class signing in behind one address: successes are not held against it.
        for i in 0..100 {
            g.begin(&format!("pupil{i}"), Some(a), 5_000).unwrap();
            g.succeeded(&format!("pupil{i}"), Some(a));
        }
        for i in 0..super::ADDRESS_FAILURES_PER_MINUTE {
            fail(&g, &format!("user{i}"), Some(a), 5_000);
        }
        assert!(matches!(
            g.begin("fresh", Some(a), 5_000),
            Err(super::Throttled::TooManyAttempts(_))
        ));
        assert!(g.begin("fresh", Some(a), 65_001).is_ok());
        assert!(g
            .begin("fresh2", Some("10.0.0.8".parse().unwrap()), 5_000)
            .is_ok());
    }

    #[test]
    fn the_maps_stay_bounded_under_a_flood_of_names() {
        let g = super::LoginGuard::default();
        let day = super::ACCOUNT_MEMORY_MS;
        for i in 0..20_000i64 {
            let _ = g.begin(&format!("nobody{i}"), None, i);
        }
        // A day later the old names are swept as new ones arrive.
        for i in 0..20_000i64 {
            let _ = g.begin(&format!("later{i}"), None, 2 * day + i);
        }
        let n = g.counts().accounts.len();
        assert!(n < 30_000, "{n} accounts remembered");
    }

    #[test]
    fn password_round_trip() {
        let h = super::hash_password("s3cret").unwrap();
        assert!(super::verify_password("s3cret", &h));
        assert!(!super::verify_password("S3cret", &h));
        assert!(!super::verify_password("s3cret", "not a phc string"));
    }
}
