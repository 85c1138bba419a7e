//! The pure half of sync: which records go next ([`plan_batch`], the diff), how long
//! to wait after a failure ([`Backoff`]), and what an answer means
//! ([`classify_refusal`]). No I/O, no clock; randomness is passed in.

use std::time::Duration;

use rand::Rng;

use crate::codes::ApiCode;
use crate::record::Record;
use crate::wire::{ApiError, WireRecord};

/// Caps of one upload batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most records per request.
    pub max_records: usize,
    /// Most (approximate) body bytes per request; a single larger record is still
    /// sent alone.
    pub max_bytes: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_records: 1000,
            max_bytes: 1 << 20,
        }
    }
}

/// The diff: the next batch to upload, given what the platform acknowledged and
/// what the journal holds (`candidates`: records with `seq > acknowledged`, in
/// order). Pure. Takes records while both caps hold; always at least one record
/// when any is pending, so an oversized record cannot stall the outbox.
pub fn plan_batch(
    candidates: &[Record],
    acknowledged: u64,
    limits: BatchLimits,
) -> Vec<WireRecord> {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    let mut next = acknowledged + 1;
    for r in candidates {
        if r.seq() < next {
            continue;
        }
        if r.seq() != next || out.len() >= limits.max_records.max(1) {
            break;
        }
        let w = WireRecord::from_record(r);
        let len = w.wire_len();
        if !out.is_empty() && bytes + len > limits.max_bytes {
            break;
        }
        bytes += len;
        out.push(w);
        next += 1;
    }
    out
}

/// Exponential backoff with full jitter: attempt `n` waits a uniformly random
/// time in `[0, min(max, base * 2^n)]`, never less than `min`.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// Delay scale of the first retry.
    pub base: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Smallest delay (so a retry never hammers at once).
    pub min: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff with no failures yet.
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff {
            base,
            max,
            min: base / 4,
            attempt: 0,
        }
    }

    /// Failures since the last success.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// After a failure: how long to wait before the next try.
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let cap = self
            .base
            .saturating_mul(1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        let jittered = if ms == 0 { 0 } else { rng.random_range(0..=ms) };
        Duration::from_millis(jittered).max(self.min.min(cap))
    }

    /// After a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// What a refusal means for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    /// Everything the journal held is acknowledged.
    Synced,
    /// Records remain (retries exhausted, or stopped by the caller).
    Pending,
    /// No lease: `keshi login` first.
    NotLoggedIn,
    /// The lease was revoked (a login elsewhere, R-ID-3): log in again.
    LeaseRevoked,
    /// The lease ran out (offline too long): log in again.
    LeaseExpired,
    /// The platform does not know this device (not enrolled / removed).
    UnknownDevice,
    /// The platform refused a record (forged, tampered, gapped, ...): an
    /// investigation case, not something a retry fixes.
    RecordRefused,
    /// Any other refusal (bad token, malformed request).
    Refused,
}

impl SyncStatus {
    /// snake_case name, as stored in `sync_state`.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Synced => "synced",
            SyncStatus::Pending => "pending",
            SyncStatus::NotLoggedIn => "not_logged_in",
            SyncStatus::LeaseRevoked => "lease_revoked",
            SyncStatus::LeaseExpired => "lease_expired",
            SyncStatus::UnknownDevice => "unknown_device",
            SyncStatus::RecordRefused => "record_refused",
            SyncStatus::Refused => "refused",
        }
    }

    /// Whether the engine stopped because the platform refused (exit non-zero).
    pub fn is_refusal(self) -> bool {
        !matches!(self, SyncStatus::Synced | SyncStatus::Pending)
    }
}

/// Map a refusal's code to the client's stop state. Pure; exhaustive over
/// [`ApiCode`], so a new code cannot be forgotten here.
pub fn classify_refusal(error: &ApiError) -> SyncStatus {
    match error.code {
        ApiCode::LeaseRevoked => SyncStatus::LeaseRevoked,
        ApiCode::LeaseExpired => SyncStatus::LeaseExpired,
        ApiCode::UnknownDevice => SyncStatus::UnknownDevice,
        ApiCode::Unauthenticated => SyncStatus::NotLoggedIn,
        ApiCode::MalformedRecord
        | ApiCode::BadHeader
        | ApiCode::HashMismatch
        | ApiCode::SequenceGap
        | ApiCode::Reordered
        | ApiCode::WrongDevice
        | ApiCode::BrokenLink
        | ApiCode::PayloadMismatch
        | ApiCode::BadSignature
        | ApiCode::ConflictingRecord
        | ApiCode::PayloadTooLarge => SyncStatus::RecordRefused,
        ApiCode::MalformedBody
        | ApiCode::BodyTooLarge
        | ApiCode::BatchTooLarge
        | ApiCode::InvalidCredentials
        | ApiCode::DeviceTaken
        | ApiCode::WeakKey
        | ApiCode::SimulatedRefused
        | ApiCode::DeviceLimit
        | ApiCode::TooManyAttempts
        | ApiCode::Busy
        | ApiCode::QuotaExceeded
        | ApiCode::Forbidden
        | ApiCode::ConcurrentPush
        | ApiCode::StorageUnavailable
        | ApiCode::Internal
        | ApiCode::NotFound
        | ApiCode::CaptureTooLarge
        | ApiCode::UnsupportedCaptureType
        | ApiCode::CaptureHashMismatch
        | ApiCode::MediaHashMismatch
        | ApiCode::UploadOffset
        | ApiCode::InvalidCourse
        | ApiCode::MediaMissing
        | ApiCode::RangeNotSatisfiable
        | ApiCode::PasswordNotSet
        | ApiCode::NotQualified
        | ApiCode::AlreadyReviewed
        | ApiCode::OnlineShareExceeded
        | ApiCode::Unrecognised => SyncStatus::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{seal, NewRecord, Signer};
    use rand::SeedableRng;

    struct K(ring::signature::Ed25519KeyPair);
    impl Signer for K {
        fn public_key(&self) -> [u8; 32] {
            use ring::signature::KeyPair;
            let mut k = [0u8; 32];
            k.copy_from_slice(self.0.public_key().as_ref());
            k
        }
        fn sign(&self, msg: &[u8]) -> [u8; 64] {
            let mut s = [0u8; 64];
            s.copy_from_slice(self.0.sign(msg).as_ref());
            s
        }
    }

    fn chain(n: u64, payload_len: usize) -> Vec<Record> {
        let key = K(ring::signature::Ed25519KeyPair::from_seed_unchecked(&[7; 32]).unwrap());
        let mut prev = None;
        let mut out = Vec::new();
        for i in 0..n {
            let r = seal(
                &key,
                prev,
                &NewRecord::new(
                    "tick",
                    serde_json::json!({"x": "a".repeat(payload_len)}),
                    i as i64,
                    i,
                ),
            )
            .unwrap();
            prev = Some((r.seq(), r.hash));
            out.push(r);
        }
        out
    }

    #[test]
    fn plan_batch_caps_by_count_and_bytes_and_starts_after_ack() {
        let recs = chain(10, 10);
        let b = plan_batch(
            &recs,
            0,
            BatchLimits {
                max_records: 4,
                max_bytes: 1 << 20,
            },
        );
        assert_eq!(b.len(), 4);
        assert_eq!(b[0].to_record().unwrap().seq(), 1);
        let b = plan_batch(
            &recs,
            6,
            BatchLimits {
                max_records: 100,
                max_bytes: 1 << 20,
            },
        );
        assert_eq!(b.len(), 4);
        assert_eq!(b[0].to_record().unwrap().seq(), 7);
        let one = WireRecord::from_record(&recs[0]).wire_len();
        let b = plan_batch(
            &recs,
            0,
            BatchLimits {
                max_records: 100,
                max_bytes: one * 3,
            },
        );
        assert_eq!(b.len(), 3);
        // An oversized record still goes alone.
        let b = plan_batch(
            &recs,
            0,
            BatchLimits {
                max_records: 100,
                max_bytes: 1,
            },
        );
        assert_eq!(b.len(), 1);
        assert!(plan_batch(&recs, 10, BatchLimits::default()).is_empty());
    }

    #[test]
    fn wire_round_trip_is_exact() {
        for r in chain(3, 5) {
            let w = WireRecord::from_record(&r);
            assert_eq!(w.to_record().unwrap(), r);
        }
        let mut w = WireRecord::from_record(&chain(1, 1)[0]);
        w.header.truncate(10);
        assert!(w.to_record().is_err());
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let delays: Vec<_> = (0..12).map(|_| b.next_delay(&mut rng)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(2)));
        assert!(delays.iter().all(|d| *d >= Duration::from_millis(25)));
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 6, "jitter: {delays:?}");
        b.reset();
        assert_eq!(b.attempt(), 0);
    }

    #[test]
    fn refusals_map_to_stop_states() {
        let e = |c: &str| ApiError {
            code: ApiCode::from_wire(c),
            message: String::new(),
            seq: None,
            acknowledged: None,
            retryable: false,
        };
        assert_eq!(
            classify_refusal(&e("lease_revoked")),
            SyncStatus::LeaseRevoked
        );
        assert_eq!(
            classify_refusal(&e("unknown_device")),
            SyncStatus::UnknownDevice
        );
        assert_eq!(
            classify_refusal(&e("bad_signature")),
            SyncStatus::RecordRefused
        );
        assert_eq!(classify_refusal(&e("whatever")), SyncStatus::Refused);
    }
}
