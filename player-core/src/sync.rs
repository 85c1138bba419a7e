//! The outbox and the sync engine: upload every journal record to the platform and
//! never forget one before the platform acknowledged it (R-ST-6, R-SV-4, R-ID-3).
//!
//! Three layers:
//!
//! - [`wire`]: the JSON shapes both ends speak (the platform crate uses the same
//!   types, so client and server cannot drift apart).
//! - Pure logic: [`plan_batch`] (the diff: which records go next, capped by count
//!   and bytes), [`Backoff`] (exponential with full jitter), [`classify_refusal`]
//!   (what an answer means for the client). No I/O, no clock, randomness passed in.
//! - [`SyncEngine`]: drives a [`Transport`] over a [`Journal`]. The HTTP transport
//!   lives with the caller (`keshi sync` in the CLI, the app shell later), so this
//!   crate stays free of HTTP and async runtimes.
//!
//! Outbox = the records with `seq > acknowledged`, where `acknowledged` is the
//! highest contiguous seq the platform said it holds, kept in the journal's
//! `sync_state` table (key [`KEY_ACKNOWLEDGED`]). Records are never deleted by
//! sync; the acknowledged seq only tells the retention pass
//! ([`crate::retention`]) which payloads it may erase. Because the outbox is derived from the journal and one number, a
//! client killed at any moment resumes exactly where the platform's answer left it.
//!
//! Architecture invariant: the engine never advances `acknowledged` past what the
//! platform answered, and never beyond the journal's own head.

use std::time::Duration;

use rand::Rng;

use crate::journal::{Journal, JournalError};
use crate::record::{NewRecord, Record};

/// `sync_state` key: highest contiguous seq the platform acknowledged.
pub const KEY_ACKNOWLEDGED: &str = "acknowledged_seq";
/// `sync_state` key: the platform's head hash at `acknowledged_seq` (hex).
pub const KEY_ACKNOWLEDGED_HASH: &str = "acknowledged_hash";
/// `sync_state` key: the lease token (bearer) of the current login.
pub const KEY_TOKEN: &str = "lease_token";
/// `sync_state` key: the lease as JSON ([`wire::LoginResponse`]).
pub const KEY_LEASE: &str = "lease";
/// `sync_state` key: the platform URL the lease belongs to.
pub const KEY_PLATFORM: &str = "platform_url";
/// `sync_state` key: the engine's last stop state ([`SyncStatus`] as snake_case).
pub const KEY_STATUS: &str = "status";
/// `sync_state` key: the error code of the last refusal, if any.
pub const KEY_LAST_ERROR: &str = "last_error";

/// Record kind the CLI journals when the platform says the lease was revoked.
pub const LEASE_REVOKED_KIND: &str = "lease_revoked";

/// The JSON shapes of the platform API (see `platform/openapi.json`).
pub mod wire {
    use serde::{Deserialize, Serialize};

    use crate::record::{Hash, Record, RecordHeader};

    /// One record on the wire: the canonical header bytes (hex), the payload bytes
    /// as text (v1 payloads are canonical JSON, hence UTF-8), the header hash and
    /// the signature (hex). The platform re-decodes the header and re-checks all.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct WireRecord {
        /// Canonical v1 header bytes, hex.
        pub header: String,
        /// Payload bytes as UTF-8 text.
        pub payload: String,
        /// SHA-256 of the header bytes, hex.
        pub hash: String,
        /// Ed25519 signature over the header bytes, hex.
        pub signature: String,
    }

    /// Why a [`WireRecord`] does not decode.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    #[error("malformed wire record: {0}")]
    pub struct WireError(pub String);

    impl WireRecord {
        /// Wire form of a journal record.
        pub fn from_record(r: &Record) -> WireRecord {
            WireRecord {
                header: hex::encode(r.header.encode()),
                payload: String::from_utf8_lossy(&r.payload).into_owned(),
                hash: r.hash.to_hex(),
                signature: hex::encode(r.signature),
            }
        }

        /// Approximate bytes this record takes in a request body.
        pub fn wire_len(&self) -> usize {
            self.header.len() + self.payload.len() + self.hash.len() + self.signature.len() + 64
        }

        /// Decode into a [`Record`] (header strictly decoded; nothing verified yet).
        pub fn to_record(&self) -> Result<Record, WireError> {
            let header_bytes =
                hex::decode(&self.header).map_err(|e| WireError(format!("header hex: {e}")))?;
            let header = RecordHeader::decode(&header_bytes)
                .map_err(|e| WireError(format!("header: {e}")))?;
            let hash: Hash = self
                .hash
                .parse()
                .map_err(|e| WireError(format!("hash: {e}")))?;
            let sig = hex::decode(&self.signature)
                .map_err(|e| WireError(format!("signature hex: {e}")))?;
            let signature: [u8; 64] = sig
                .try_into()
                .map_err(|_| WireError("signature must be 64 bytes".into()))?;
            Ok(Record {
                header,
                payload: self.payload.as_bytes().to_vec(),
                hash,
                signature,
            })
        }
    }

    /// `POST /v1/login`.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct LoginRequest {
        /// Login name.
        pub user: String,
        /// Password.
        pub password: String,
        /// The device's Ed25519 public key (hex), enrolled for this learner.
        pub public_key: String,
    }

    /// A platform-signed offline lease: the device may study offline until
    /// `offline_until_ms` (R-ID-3; segments outside it are flagged, not credited).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct OfflineLease {
        /// Lease id.
        pub lease_id: String,
        /// Learner id.
        pub learner_id: String,
        /// Device id (hex).
        pub device_id: String,
        /// Issued at, Unix ms.
        pub issued_ms: i64,
        /// Offline study allowed until, Unix ms.
        pub offline_until_ms: i64,
        /// Ed25519 signature (hex) by the platform key over
        /// [`OfflineLease::message`].
        pub signature: String,
    }

    impl OfflineLease {
        /// The signed message: `KESHI-LEASE-v1|lease|learner|device|issued|until`.
        pub fn message(
            lease_id: &str,
            learner_id: &str,
            device_id: &str,
            issued_ms: i64,
            offline_until_ms: i64,
        ) -> Vec<u8> {
            format!(
                "KESHI-LEASE-v1|{lease_id}|{learner_id}|{device_id}|{issued_ms}|{offline_until_ms}"
            )
            .into_bytes()
        }

        /// Check the platform's signature with its public key.
        pub fn verify(&self, platform_public_key: &[u8; 32]) -> bool {
            let Ok(sig) = hex::decode(&self.signature) else {
                return false;
            };
            let Ok(sig): Result<[u8; 64], _> = sig.try_into() else {
                return false;
            };
            let msg = Self::message(
                &self.lease_id,
                &self.learner_id,
                &self.device_id,
                self.issued_ms,
                self.offline_until_ms,
            );
            crate::record::verify_signature(platform_public_key, &msg, &sig)
        }
    }

    /// Answer to a login.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct LoginResponse {
        /// Bearer token for this lease.
        pub token: String,
        /// Lease id.
        pub lease_id: String,
        /// Learner id.
        pub learner_id: String,
        /// Enrolled device id (hex).
        pub device_id: String,
        /// Online lease expiry (renewed by heartbeats), Unix ms.
        pub expires_ms: i64,
        /// The signed offline lease.
        pub offline_lease: OfflineLease,
        /// The platform's Ed25519 public key (hex).
        pub platform_public_key: String,
        /// Highest contiguous seq the platform holds for this device.
        pub acknowledged: u64,
    }

    /// Answer to `POST /v1/heartbeat`.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct HeartbeatResponse {
        /// Lease id.
        pub lease_id: String,
        /// New online expiry, Unix ms.
        pub expires_ms: i64,
        /// The renewed offline lease.
        pub offline_lease: OfflineLease,
    }

    /// `POST /v1/records`: records of the lease's device, in seq order.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct PushRequest {
        /// The records.
        pub records: Vec<WireRecord>,
    }

    /// Answer to a push that the platform accepted entirely.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct PushResponse {
        /// Highest contiguous seq the platform holds for this device.
        pub acknowledged: u64,
        /// Hash of that record (hex); `None` when it holds none.
        pub head_hash: Option<String>,
        /// Records newly stored by this request.
        pub accepted: u64,
        /// Records it already held (same hash): accepted once, answered the same.
        pub duplicates: u64,
    }

    /// Every error answer: a stable `code` (documented in
    /// `docs/platform-api.md`), a message for humans, and for record refusals the
    /// seq refused and what the platform holds.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ApiError {
        /// Stable machine-readable code, e.g. `bad_signature`.
        pub code: String,
        /// Human-readable explanation.
        pub message: String,
        /// The record refused, when a record was refused.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub seq: Option<u64>,
        /// Highest contiguous seq the platform holds (record refusals).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub acknowledged: Option<u64>,
        /// Whether retrying the same request later can succeed.
        #[serde(default)]
        pub retryable: bool,
    }
}

use wire::{ApiError, PushRequest, PushResponse, WireRecord};

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

/// Why a transport call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// Network error, timeout, 5xx, 429, or an answer that did not parse: the same
    /// request may succeed later.
    #[error("platform unreachable or failing (will retry): {0}")]
    Retryable(String),
    /// The platform refused the request; the body says why.
    #[error("platform refused ({status}): {} — {}", .error.code, .error.message)]
    Refused {
        /// HTTP status.
        status: u16,
        /// The error body.
        error: ApiError,
    },
}

/// Talks to the platform (HTTP in production; anything in tests of the engine).
pub trait Transport {
    /// Upload one batch with the lease's bearer token.
    fn push(&mut self, token: &str, request: &PushRequest) -> Result<PushResponse, TransportError>;
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

/// Record-level refusal codes (see `docs/platform-api.md`).
pub const RECORD_REFUSAL_CODES: &[&str] = &[
    "malformed_record",
    "bad_header",
    "hash_mismatch",
    "sequence_gap",
    "reordered",
    "wrong_device",
    "broken_link",
    "payload_mismatch",
    "bad_signature",
    "conflicting_record",
];

/// Map a refusal's code to the client's stop state. Pure.
pub fn classify_refusal(error: &ApiError) -> SyncStatus {
    match error.code.as_str() {
        "lease_revoked" => SyncStatus::LeaseRevoked,
        "lease_expired" => SyncStatus::LeaseExpired,
        "unknown_device" => SyncStatus::UnknownDevice,
        "unauthenticated" => SyncStatus::NotLoggedIn,
        c if RECORD_REFUSAL_CODES.contains(&c) => SyncStatus::RecordRefused,
        _ => SyncStatus::Refused,
    }
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Batch caps.
    pub limits: BatchLimits,
    /// Retries per batch before giving up with [`SyncStatus::Pending`]
    /// (`None`: retry forever, for `--watch`).
    pub max_retries: Option<u32>,
    /// Backoff base.
    pub backoff_base: Duration,
    /// Backoff cap.
    pub backoff_max: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            limits: BatchLimits::default(),
            max_retries: Some(8),
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// What one sync run did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    /// Records sent (including re-sends after a failure).
    pub sent: u64,
    /// Highest contiguous seq the platform acknowledged.
    pub acknowledged: u64,
    /// Journal records not yet acknowledged.
    pub pending: u64,
    /// Records the platform newly stored during this run.
    pub accepted: u64,
    /// Records it already held.
    pub duplicates: u64,
    /// Requests that failed and were retried.
    pub retries: u64,
    /// Requests made.
    pub requests: u64,
    /// Where the engine stopped.
    pub status: SyncStatus,
    /// The refusal, when the platform refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
}

/// Errors of the engine itself (the journal failed); platform answers are not
/// errors but [`SyncReport::status`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// Reading or writing the journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// The acknowledged seq stored in the journal (0 when never synced).
pub fn acknowledged(journal: &Journal) -> Result<u64, JournalError> {
    Ok(journal
        .sync_state(KEY_ACKNOWLEDGED)?
        .and_then(|s| s.parse().ok())
        .unwrap_or(0))
}

/// Drives uploads of one journal.
#[derive(Debug)]
pub struct SyncEngine {
    options: SyncOptions,
}

impl SyncEngine {
    /// An engine with these settings.
    pub fn new(options: SyncOptions) -> SyncEngine {
        SyncEngine { options }
    }

    /// Upload until the outbox is empty, the platform refuses, retries run out, or
    /// `keep_going` returns false (checked between requests). `sleep` waits
    /// (injected so tests need not); `now_ms` stamps a `lease_revoked` record.
    ///
    /// After each answer the acknowledged seq is written to `sync_state` before the
    /// next request, so a crash loses at most the knowledge of one answer (the
    /// records are re-sent and answered as duplicates).
    pub fn run(
        &self,
        journal: &mut Journal,
        transport: &mut dyn Transport,
        rng: &mut impl Rng,
        sleep: &mut dyn FnMut(Duration),
        now_ms: &mut dyn FnMut() -> i64,
        keep_going: &mut dyn FnMut() -> bool,
    ) -> Result<SyncReport, SyncError> {
        let mut report = SyncReport {
            sent: 0,
            acknowledged: acknowledged(journal)?,
            pending: 0,
            accepted: 0,
            duplicates: 0,
            retries: 0,
            requests: 0,
            status: SyncStatus::Pending,
            error: None,
        };
        let Some(token) = journal.sync_state(KEY_TOKEN)? else {
            report.status = SyncStatus::NotLoggedIn;
            report.pending = journal.len().saturating_sub(report.acknowledged);
            self.finish(journal, &report)?;
            return Ok(report);
        };
        let mut backoff = Backoff::new(self.options.backoff_base, self.options.backoff_max);
        let mut failures_this_batch = 0u32;
        loop {
            let head = journal.len();
            let acked = report.acknowledged.min(head);
            if acked >= head {
                report.status = SyncStatus::Synced;
                break;
            }
            if !keep_going() {
                report.status = SyncStatus::Pending;
                break;
            }
            let candidates = read_window(journal, acked, self.options.limits)?;
            let batch = plan_batch(&candidates, acked, self.options.limits);
            drop(candidates);
            let n = batch.len() as u64;
            report.sent += n;
            report.requests += 1;
            match transport.push(&token, &PushRequest { records: batch }) {
                Ok(answer) => {
                    backoff.reset();
                    failures_this_batch = 0;
                    report.accepted += answer.accepted;
                    report.duplicates += answer.duplicates;
                    self.store_ack(
                        journal,
                        &mut report,
                        answer.acknowledged,
                        answer.head_hash.as_deref(),
                    )?;
                    if answer.acknowledged < acked + 1
                        && answer.accepted == 0
                        && answer.duplicates == 0
                    {
                        // The platform answered but made no progress: do not spin.
                        report.status = SyncStatus::Pending;
                        break;
                    }
                }
                Err(TransportError::Retryable(why)) => {
                    failures_this_batch += 1;
                    report.retries += 1;
                    if self
                        .options
                        .max_retries
                        .is_some_and(|max| failures_this_batch > max)
                    {
                        tracing::warn!(%why, "giving up after retries; records stay queued");
                        report.status = SyncStatus::Pending;
                        break;
                    }
                    let delay = backoff.next_delay(rng);
                    tracing::info!(%why, ?delay, attempt = backoff.attempt(), "sync failed; retrying");
                    sleep(delay);
                }
                Err(TransportError::Refused { error, .. }) => {
                    if let Some(a) = error.acknowledged {
                        self.store_ack(journal, &mut report, a, None)?;
                    }
                    if error.retryable {
                        failures_this_batch += 1;
                        report.retries += 1;
                        if self
                            .options
                            .max_retries
                            .is_some_and(|max| failures_this_batch > max)
                        {
                            report.status = SyncStatus::Pending;
                            break;
                        }
                        sleep(backoff.next_delay(rng));
                        continue;
                    }
                    let status = classify_refusal(&error);
                    report.status = status;
                    if status == SyncStatus::LeaseRevoked {
                        journal_revocation(journal, &error, now_ms())?;
                    }
                    report.error = Some(error);
                    break;
                }
            }
        }
        report.pending = journal.len().saturating_sub(report.acknowledged);
        self.finish(journal, &report)?;
        Ok(report)
    }

    fn store_ack(
        &self,
        journal: &mut Journal,
        report: &mut SyncReport,
        platform_ack: u64,
        head_hash: Option<&str>,
    ) -> Result<(), JournalError> {
        // The platform's answer is the truth about what it holds (it may be lower
        // than before if it lost data: then we re-send), but never above our head.
        let ack = platform_ack.min(journal.len());
        if ack < report.acknowledged {
            tracing::warn!(
                before = report.acknowledged,
                now = ack,
                "platform acknowledges less than before; re-sending"
            );
        }
        if let Some(h) = head_hash {
            let ours = journal.get(ack)?.map(|r| r.hash.to_hex());
            if ack > 0 && ours.as_deref() != Some(h) {
                tracing::error!(
                    seq = ack,
                    platform = h,
                    ?ours,
                    "platform head hash differs from the journal"
                );
            }
            journal.set_sync_state(KEY_ACKNOWLEDGED_HASH, h)?;
        }
        journal.set_sync_state(KEY_ACKNOWLEDGED, &ack.to_string())?;
        report.acknowledged = ack;
        Ok(())
    }

    fn finish(&self, journal: &mut Journal, report: &SyncReport) -> Result<(), JournalError> {
        journal.set_sync_state(KEY_STATUS, report.status.as_str())?;
        match &report.error {
            Some(e) => journal.set_sync_state(KEY_LAST_ERROR, &e.code),
            None => journal.set_sync_state(KEY_LAST_ERROR, ""),
        }
    }
}

/// Read the records after `acked` that can fill one batch.
fn read_window(
    journal: &Journal,
    acked: u64,
    limits: BatchLimits,
) -> Result<Vec<Record>, JournalError> {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    journal.for_each_from(acked + 1, |r| {
        bytes += r.payload.len() + r.header.kind.len() + 400;
        out.push(r);
        if out.len() >= limits.max_records.max(1) || bytes > limits.max_bytes {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    })?;
    Ok(out)
}

/// Journal that the platform revoked the lease (R-ID-3), as a plain record of
/// kind [`LEASE_REVOKED_KIND`]. A live session learns it through
/// `playback::Input::LeaseRevoked` instead (which stops crediting); `keshi sync`
/// runs without a session, so it writes the fact directly. Once per lease.
pub fn journal_revocation(
    journal: &mut Journal,
    error: &ApiError,
    now_ms: i64,
) -> Result<(), JournalError> {
    let token = journal.sync_state(KEY_TOKEN)?.unwrap_or_default();
    let token_tag = crate::record::Hash::of(token.as_bytes()).to_hex();
    if journal.sync_state("revocation_journaled")?.as_deref() == Some(token_tag.as_str()) {
        return Ok(());
    }
    let lease_id = journal
        .sync_state(KEY_LEASE)?
        .and_then(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .and_then(|v| {
            v.get("lease_id")
                .and_then(|x| x.as_str())
                .map(str::to_owned)
        });
    journal.append(NewRecord::new(
        LEASE_REVOKED_KIND,
        serde_json::json!({
            "reason": error.message,
            "code": error.code,
            "lease_id": lease_id,
            "detected_by": "sync",
        }),
        now_ms,
        0,
    ))?;
    journal.set_sync_state("revocation_journaled", &token_tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{seal, Signer};
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
            code: c.into(),
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
