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

/// A new bearer token: 32 random bytes, hex.
pub fn new_token() -> String {
    let b: [u8; 32] = rand::random();
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn password_round_trip() {
        let h = super::hash_password("s3cret").unwrap();
        assert!(super::verify_password("s3cret", &h));
        assert!(!super::verify_password("S3cret", &h));
        assert!(!super::verify_password("s3cret", "not a phc string"));
    }
}
