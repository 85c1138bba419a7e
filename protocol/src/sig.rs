//! The one Ed25519 signature rule of Keshi, on every side (client verifier,
//! platform ingest, lease and checkpoint checks).
//!
//! RFC 8032 Ed25519 (pure, no context), verified *strictly*:
//! - the public key `A` must be the canonical encoding of a curve point that is not
//!   of small order (the all-zero key, the identity and the other torsion points are
//!   refused: with them a "signature" can be made without any secret);
//! - `R` must decode and must not be of small order;
//! - `S` must be canonical (`S < L`);
//! - the equation is the cofactorless one, `[S]B = R + [k]A`, compared on encodings
//!   (so a non-canonical `R` never matches).
//!
//! This is ed25519-dalek's `verify_strict` plus the canonical-`A` check. There is no
//! batch verification: a cofactored batch accepts signatures whose `R` carries a
//! small-order component, which this rule refuses, and making a batch agree would
//! cost a torsion check per signature (as much as the verification it saves). Every
//! signature is checked alone; verifiers run checks on several threads instead.
//! Edge vectors (small-order keys and `R`, non-canonical `S` and `A`, mixed-order
//! `R`) are pinned in the tests below.

use ed25519_dalek::{Signature, VerifyingKey};

/// Why 32 bytes are not an acceptable Ed25519 public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The bytes are not the encoding of a curve point.
    #[error("not an Ed25519 public key (not a curve point)")]
    NotOnCurve,
    /// A point, but not in its one canonical encoding.
    #[error("non-canonical Ed25519 public key encoding")]
    NonCanonical,
    /// A point of small order: signatures under it can be made without a secret.
    #[error("weak Ed25519 public key (small order)")]
    SmallOrder,
}

/// An Ed25519 public key that passed [`PublicKey::parse`]: canonical, not of small
/// order. Parse once, verify many (decoding the point is a square root).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    bytes: [u8; 32],
    key: VerifyingKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.bytes))
    }
}

impl PublicKey {
    /// Accepts exactly the keys the strict rule verifies under.
    pub fn parse(bytes: &[u8; 32]) -> Result<PublicKey, KeyError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::NotOnCurve)?;
        if key.to_edwards().compress().to_bytes() != *bytes {
            return Err(KeyError::NonCanonical);
        }
        if key.is_weak() {
            return Err(KeyError::SmallOrder);
        }
        Ok(PublicKey { bytes: *bytes, key })
    }

    /// The 32 bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Strict verification of `signature` over `msg` (see the module docs).
    pub fn verify(&self, msg: &[u8], signature: &[u8; 64]) -> bool {
        let sig = Signature::from_bytes(signature);
        self.key.verify_strict(msg, &sig).is_ok()
    }
}

/// Verifies one signature under the strict rule; a key that does not parse never
/// verifies anything.
pub fn verify_signature(public_key: &[u8; 32], msg: &[u8], signature: &[u8; 64]) -> bool {
    PublicKey::parse(public_key).is_ok_and(|k| k.verify(msg, signature))
}

/// [`verify_signature`] of a signature written as hex (as leases and grades carry
/// it); one that is not 64 bytes of hex never verifies.
pub fn verify_hex_signature(public_key: &[u8; 32], msg: &[u8], signature_hex: &str) -> bool {
    hex::decode(signature_hex)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .is_some_and(|sig| verify_signature(public_key, msg, &sig))
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT as B, EIGHT_TORSION};
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use curve25519_dalek::scalar::Scalar;
    use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
    use sha2::{Digest, Sha512};

    fn ring_accepts(pk: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
        UnparsedPublicKey::new(&ED25519, pk)
            .verify(msg, sig)
            .is_ok()
    }

    fn k(r: &[u8; 32], a: &[u8; 32], msg: &[u8]) -> Scalar {
        let mut h = Sha512::new();
        h.update(r);
        h.update(a);
        h.update(msg);
        Scalar::from_hash(h)
    }

    /// RFC 8032 7.1 test 1 verifies; a flipped bit does not.
    #[test]
    fn rfc8032_vector_and_any_edit() {
        let pk: [u8; 32] =
            hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
                .unwrap()
                .try_into()
                .unwrap();
        let sig: [u8; 64] = hex::decode("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
            .unwrap()
            .try_into()
            .unwrap();
        assert!(verify_signature(&pk, b"", &sig));
        for i in 0..64 {
            let mut bad = sig;
            bad[i] ^= 1;
            assert!(!verify_signature(&pk, b"", &bad), "bit flip at {i}");
        }
        assert!(!verify_signature(&pk, b"x", &sig));
    }

    /// Every small-order key is refused at parse time, including the all-zero key
    /// and the identity, under which ring accepts a signature nobody made.
    #[test]
    fn small_order_keys_are_refused() {
        for t in EIGHT_TORSION {
            let enc = t.compress().to_bytes();
            assert_eq!(
                PublicKey::parse(&enc),
                Err(KeyError::SmallOrder),
                "{enc:02x?}"
            );
        }
        assert_eq!(PublicKey::parse(&[0; 32]), Err(KeyError::SmallOrder));
        // Identity key, R = identity, S = 0: the cofactorless equation holds for
        // every message. ring takes it; the strict rule does not.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut sig = [0u8; 64];
        sig[0] = 1;
        assert!(ring_accepts(&identity, b"anything", &sig));
        assert!(!verify_signature(&identity, b"anything", &sig));
    }

    /// A non-canonical encoding of a key is refused (one key, one device id).
    #[test]
    fn non_canonical_keys_are_refused() {
        // y = 1 (the identity) written as y + p, and x = 0 with the sign bit set.
        let mut y_plus_p = [0xffu8; 32];
        y_plus_p[0] = 0xee;
        y_plus_p[31] = 0x7f;
        assert!(PublicKey::parse(&y_plus_p).is_err());
        let mut neg_zero = [0u8; 32];
        neg_zero[0] = 1;
        neg_zero[31] = 0x80;
        assert!(PublicKey::parse(&neg_zero).is_err());
    }

    fn keypair() -> (Ed25519KeyPair, [u8; 32], Scalar, [u8; 32]) {
        let seed = [7u8; 32];
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
        let pk: [u8; 32] = pair.public_key().as_ref().try_into().unwrap();
        // The secret scalar and nonce prefix as RFC 8032 derives them from the seed.
        let h = Sha512::digest(seed);
        let mut a = [0u8; 32];
        a.copy_from_slice(&h[..32]);
        a[0] &= 248;
        a[31] &= 127;
        a[31] |= 64;
        let mut prefix = [0u8; 32];
        prefix.copy_from_slice(&h[32..]);
        (pair, pk, Scalar::from_bytes_mod_order(a), prefix)
    }

    /// Honest signatures verify, under ring and under the strict rule alike.
    #[test]
    fn honest_signatures_verify_on_both() {
        let (pair, pk, _, _) = keypair();
        for n in 0..50u32 {
            let msg = n.to_be_bytes().repeat(n as usize);
            let sig: [u8; 64] = pair.sign(&msg).as_ref().try_into().unwrap();
            assert!(ring_accepts(&pk, &msg, &sig));
            assert!(verify_signature(&pk, &msg, &sig));
        }
    }

    /// S + L (non-canonical S) is refused.
    #[test]
    fn non_canonical_s_is_refused() {
        let (pair, pk, _, _) = keypair();
        let sig: [u8; 64] = pair.sign(b"m").as_ref().try_into().unwrap();
        let mut s = [0u8; 32];
        s.copy_from_slice(&sig[32..]);
        // L, little-endian.
        let l: [u8; 32] =
            hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
                .unwrap()
                .try_into()
                .unwrap();
        let mut carry = 0u16;
        let mut sum = [0u8; 32];
        for i in 0..32 {
            let v = u16::from(s[i]) + u16::from(l[i]) + carry;
            sum[i] = (v & 0xff) as u8;
            carry = v >> 8;
        }
        assert_eq!(carry, 0, "S + L fits in 256 bits");
        let mut bad = sig;
        bad[32..].copy_from_slice(&sum);
        assert!(!verify_signature(&pk, b"m", &bad));
    }

    /// The key holder can hide a small-order component in R so that the cofactored
    /// (batch) equation holds but the cofactorless one does not. Strict refuses it,
    /// so a batch could never agree with the single check: there is no batch.
    #[test]
    fn mixed_order_r_is_refused() {
        let (_, pk, a, prefix) = keypair();
        let msg = b"record header bytes";
        let mut h = Sha512::new();
        h.update(prefix);
        h.update(msg);
        let r = Scalar::from_hash(h);
        let t = EIGHT_TORSION[1];
        let big_r = (r * B + t).compress().to_bytes();
        let s = r + k(&big_r, &pk, msg) * a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&big_r);
        sig[32..].copy_from_slice(s.as_bytes());
        // Cofactored equation: [8](S B - k A - R) = 0.
        let a_point = CompressedEdwardsY(pk).decompress().unwrap();
        let r_point = CompressedEdwardsY(big_r).decompress().unwrap();
        let diff = s * B - k(&big_r, &pk, msg) * a_point - r_point;
        assert!(diff.mul_by_cofactor().is_identity_point());
        assert!(!verify_signature(&pk, msg, &sig));
        // Without the torsion point the same construction is an ordinary signature.
        let big_r = (r * B).compress().to_bytes();
        let s = r + k(&big_r, &pk, msg) * a;
        sig[..32].copy_from_slice(&big_r);
        sig[32..].copy_from_slice(s.as_bytes());
        assert!(verify_signature(&pk, msg, &sig));
    }

    /// A small-order R is refused even where the equation would hold.
    #[test]
    fn small_order_r_is_refused() {
        let (_, pk, a, _) = keypair();
        let msg = b"m";
        // The identity as R with r = 0: S = k a makes [S]B = R + [k]A hold.
        let id = curve25519_dalek::edwards::EdwardsPoint::default()
            .compress()
            .to_bytes();
        let s = k(&id, &pk, msg) * a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&id);
        sig[32..].copy_from_slice(s.as_bytes());
        assert!(ring_accepts(&pk, msg, &sig), "the equation holds");
        assert!(!verify_signature(&pk, msg, &sig));
    }

    trait IsIdentity {
        fn is_identity_point(&self) -> bool;
    }
    impl IsIdentity for curve25519_dalek::edwards::EdwardsPoint {
        fn is_identity_point(&self) -> bool {
            *self == curve25519_dalek::edwards::EdwardsPoint::default()
        }
    }
}
