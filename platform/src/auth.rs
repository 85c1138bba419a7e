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

/// Why a sign-in is not even checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    /// Too many failures for this account or address: retry after this long (ms).
    TooManyAttempts(i64),
    /// Too many password checks waiting: retry after this long (ms).
    Busy(i64),
}

#[derive(Debug, Default)]
struct Counts {
    accounts: std::collections::HashMap<String, (u32, i64)>,
    addresses: std::collections::HashMap<std::net::IpAddr, std::collections::VecDeque<i64>>,
}

/// Login throttling per account and per address, and the gate that bounds how many
/// Argon2 checks run and wait. In memory (one process; issue 16 moves it to the
/// shared store for several instances).
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

    /// Whether `user` from `addr` may try now.
    pub fn check(
        &self,
        user: &str,
        addr: Option<std::net::IpAddr>,
        now: i64,
    ) -> Result<(), Throttled> {
        let mut c = self.counts();
        if let Some(&(_, until)) = c.accounts.get(user) {
            if until > now {
                return Err(Throttled::TooManyAttempts(until - now));
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
        Ok(())
    }

    /// A failed sign-in: counts for the account and the address.
    pub fn failed(&self, user: &str, addr: Option<std::net::IpAddr>, now: i64) {
        let mut c = self.counts();
        let e = c.accounts.entry(user.to_owned()).or_insert((0, 0));
        e.0 = e.0.saturating_add(1);
        if e.0 >= ACCOUNT_FREE_FAILURES {
            let extra = (e.0 - ACCOUNT_FREE_FAILURES).min(16);
            e.1 = now + (ACCOUNT_LOCK_MS << extra).min(ACCOUNT_LOCK_MAX_MS);
        }
        if let Some(a) = addr {
            c.addresses.entry(a).or_default().push_back(now);
        }
        // Bound the memory an attacker can make us spend.
        if c.accounts.len() > 100_000 {
            c.accounts.retain(|_, (_, until)| *until > now);
        }
        if c.addresses.len() > 100_000 {
            c.addresses
                .retain(|_, q| q.back().is_some_and(|&t| t > now - 60_000));
        }
    }

    /// A successful sign-in clears the account's failures.
    pub fn succeeded(&self, user: &str) {
        self.counts().accounts.remove(user);
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
    #[test]
    fn an_account_is_locked_after_its_free_failures_and_the_lock_grows() {
        let g = super::LoginGuard::default();
        for i in 0..super::ACCOUNT_FREE_FAILURES {
            assert!(g.check("u", None, 1_000).is_ok(), "try {i}");
            g.failed("u", None, 1_000);
        }
        assert_eq!(
            g.check("u", None, 1_000),
            Err(super::Throttled::TooManyAttempts(super::ACCOUNT_LOCK_MS))
        );
        assert!(g.check("u", None, 1_000 + super::ACCOUNT_LOCK_MS).is_ok());
        g.failed("u", None, 100_000);
        assert_eq!(
            g.check("u", None, 100_000),
            Err(super::Throttled::TooManyAttempts(
                2 * super::ACCOUNT_LOCK_MS
            ))
        );
        // Other accounts are not affected; a success clears the count.
        assert!(g.check("v", None, 100_000).is_ok());
        g.succeeded("u");
        assert!(g.check("u", None, 100_000).is_ok());
    }

    #[test]
    fn an_address_is_throttled_across_accounts() {
        let g = super::LoginGuard::default();
        let a: std::net::IpAddr = "10.0.0.7".parse().unwrap();
        for i in 0..super::ADDRESS_FAILURES_PER_MINUTE {
            g.failed(&format!("user{i}"), Some(a), 5_000);
        }
        assert!(matches!(
            g.check("fresh", Some(a), 5_000),
            Err(super::Throttled::TooManyAttempts(_))
        ));
        assert!(g.check("fresh", Some(a), 65_001).is_ok());
        assert!(g
            .check("fresh", Some("10.0.0.8".parse().unwrap()), 5_000)
            .is_ok());
    }

    #[test]
    fn password_round_trip() {
        let h = super::hash_password("s3cret").unwrap();
        assert!(super::verify_password("s3cret", &h));
        assert!(!super::verify_password("S3cret", &h));
        assert!(!super::verify_password("s3cret", "not a phc string"));
    }
}
