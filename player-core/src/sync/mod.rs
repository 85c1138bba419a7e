//! The outbox and the sync engine: upload every journal record to the platform and
//! never forget one before the platform acknowledged it (R-ST-6, R-SV-4, R-ID-3).
//!
//! Three layers:
//!
//! - [`wire`]: the JSON shapes both ends speak (`keshi-protocol`: the platform
//!   uses the same types, so client and server cannot drift apart).
//! - Pure logic (`plan.rs`): [`plan_batch`] (the diff: which records go next, capped by count
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

mod plan;

use std::time::Duration;

use rand::Rng;

use crate::codes::ApiCode;
use crate::journal::{Journal, JournalError};
use crate::record::{NewRecord, Record};
pub use plan::{classify_refusal, plan_batch, Backoff, BatchLimits, SyncStatus};

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
/// `sync_state` key: the platform's Ed25519 public key (hex), learnt at login (and
/// checked against the brand's pin): grades and leases verify under it.
pub const KEY_PLATFORM_PUBLIC_KEY: &str = "platform_public_key";
/// `sync_state` key: the learner's quiz draw seed (hex), learnt at login
/// ([`keshi_protocol::draw`]).
pub const KEY_DRAW_SEED: &str = "draw_seed";
/// `sync_state` key: the highest `quiz_answered` seq whose platform grade is
/// journaled (grades are fetched after it).
pub const KEY_GRADED_SEQ: &str = "graded_seq";
/// `sync_state` key: the engine's last stop state ([`SyncStatus`] as snake_case).
pub const KEY_STATUS: &str = "status";
/// `sync_state` key: the error code of the last refusal, if any.
pub const KEY_LAST_ERROR: &str = "last_error";
/// `sync_state` key: the platform's clock minus this device's, ms (from the last
/// login or heartbeat): sessions stamp records in the platform's time.
pub const KEY_CLOCK_OFFSET: &str = "clock_offset_ms";
/// `sync_state` key: `true` for a journal `keshi simulate` made with its own
/// throw-away key (the platform credits it apart, if it accepts it at all).
pub const KEY_SIMULATED: &str = "simulated";
/// `sync_state` key: every capture photo of records up to this seq was uploaded.
pub const KEY_PHOTOS_SEQ: &str = "photos_seq";

/// Stores the platform's clock offset learned at local time `local_now_ms`.
pub fn store_clock_offset(
    journal: &mut Journal,
    server_ms: i64,
    local_now_ms: i64,
) -> Result<(), JournalError> {
    journal.set_sync_state(
        KEY_CLOCK_OFFSET,
        &server_ms.saturating_sub(local_now_ms).to_string(),
    )
}

/// The platform's clock minus this device's, ms (0 when never learned).
pub fn clock_offset(journal: &Journal) -> Result<i64, JournalError> {
    Ok(journal
        .sync_state(KEY_CLOCK_OFFSET)?
        .and_then(|s| s.parse().ok())
        .unwrap_or(0))
}

/// Record kind the CLI journals when the platform says the lease was revoked.
pub const LEASE_REVOKED_KIND: &str = "lease_revoked";

pub use keshi_protocol::wire;
use wire::{ApiError, PushRequest, PushResponse};

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

    /// Upload one capture photo (JPEG or PNG) by its SHA-256.
    fn put_photo(
        &mut self,
        token: &str,
        sha256: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), TransportError>;
}

/// Where the device keeps capture photos: `<root>/sha256/<aa>/<sha256>` (the
/// layout of `capture::blob::BlobStore`).
#[derive(Debug, Clone)]
pub struct PhotoStore {
    root: std::path::PathBuf,
}

impl PhotoStore {
    /// Photos under `root`.
    pub fn new(root: impl Into<std::path::PathBuf>) -> PhotoStore {
        PhotoStore { root: root.into() }
    }

    /// The photos of the journal at `journal_path` written by `keshi simulate`:
    /// `<journal>.photos/`.
    pub fn beside(journal_path: &std::path::Path) -> PhotoStore {
        let mut s = std::ffi::OsString::from(journal_path.as_os_str());
        s.push(".photos");
        PhotoStore::new(std::path::PathBuf::from(s))
    }

    fn path(&self, sha256: &str) -> Option<std::path::PathBuf> {
        let ok = sha256.len() == 64
            && sha256
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| self.root.join("sha256").join(&sha256[..2]).join(sha256))
    }

    /// The photo with this hash, if held.
    pub fn get(&self, sha256: &str) -> std::io::Result<Option<Vec<u8>>> {
        let Some(p) = self.path(sha256) else {
            return Ok(None);
        };
        match std::fs::read(p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores `bytes` (durably: written, synced, renamed); returns their SHA-256.
    pub fn put(&self, bytes: &[u8]) -> std::io::Result<String> {
        use std::io::Write;
        let sha = crate::record::Hash::of(bytes).to_hex();
        let Some(p) = self.path(&sha) else {
            return Ok(sha);
        };
        if p.exists() {
            return Ok(sha);
        }
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = p.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &p)?;
        Ok(sha)
    }
}

/// The content type of a JPEG or PNG by its first bytes.
pub fn photo_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else {
        None
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
    /// Where capture photos are, to upload once their records are acknowledged
    /// (`None`: records only).
    pub photos: Option<PhotoStore>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            limits: BatchLimits::default(),
            max_retries: Some(8),
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            photos: None,
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
    /// Capture photos uploaded.
    pub photos: u64,
    /// Where the engine stopped.
    pub status: SyncStatus,
    /// The refusal, when the platform refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
}

impl SyncReport {
    /// This run followed by `later` on the same journal, as one report: the counts
    /// add up, where it stands is `later`'s.
    pub fn then(self, later: SyncReport) -> SyncReport {
        SyncReport {
            sent: self.sent.saturating_add(later.sent),
            accepted: self.accepted.saturating_add(later.accepted),
            duplicates: self.duplicates.saturating_add(later.duplicates),
            retries: self.retries.saturating_add(later.retries),
            requests: self.requests.saturating_add(later.requests),
            photos: self.photos.saturating_add(later.photos),
            ..later
        }
    }
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
            photos: 0,
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
            // The journal's head goes with every batch: the platform knows records
            // after this batch's last were written before now, not after.
            let request = PushRequest {
                records: batch,
                head_seq: Some(head),
                head_hash: journal.head().map(|(_, h)| h.to_hex()),
            };
            match transport.push(&token, &request) {
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
        if let Some(photos) = &self.options.photos {
            if !report.status.is_refusal() {
                self.upload_photos(journal, transport, &token, photos, &mut report)?;
            }
        }
        report.pending = journal.len().saturating_sub(report.acknowledged);
        self.finish(journal, &report)?;
        Ok(report)
    }

    /// Uploads the photos of acknowledged `capture_result` records (R-ST-3: the
    /// platform counts a capture only with its photo), oldest first; remembers how
    /// far it got. A photo the device no longer holds is skipped (logged); a
    /// network failure leaves the rest for the next round.
    fn upload_photos(
        &self,
        journal: &mut Journal,
        transport: &mut dyn Transport,
        token: &str,
        photos: &PhotoStore,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let done: u64 = journal
            .sync_state(KEY_PHOTOS_SEQ)?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let upto = report.acknowledged;
        if done >= upto {
            return Ok(());
        }
        let mut wanted: Vec<(u64, String)> = Vec::new();
        journal.for_each_from(done + 1, |r| {
            if r.seq() > upto {
                return std::ops::ControlFlow::Break(());
            }
            if r.header.kind == "capture_result" && !r.payload_erased() {
                if let crate::fact::Fact::CaptureResult(c) =
                    crate::fact::Fact::decode(&r.header.kind, &r.payload)
                {
                    if let Some(h) = c.image() {
                        wanted.push((r.seq(), h.to_owned()));
                    }
                }
            }
            std::ops::ControlFlow::Continue(())
        })?;
        let mut reached = upto;
        for (seq, sha) in wanted {
            let bytes = match photos.get(&sha) {
                Ok(Some(b)) => b,
                Ok(None) => {
                    tracing::warn!(seq, %sha, "capture photo not on this device; not uploaded");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(seq, %sha, error = %e, "capture photo unreadable; not uploaded");
                    continue;
                }
            };
            let Some(ct) = photo_type(&bytes) else {
                tracing::warn!(seq, %sha, "capture photo is not JPEG or PNG; not uploaded");
                continue;
            };
            match transport.put_photo(token, &sha, bytes, ct) {
                Ok(()) => report.photos += 1,
                Err(TransportError::Refused { error, .. })
                    if matches!(
                        error.code,
                        ApiCode::Unauthenticated
                            | ApiCode::LeaseRevoked
                            | ApiCode::LeaseExpired
                            | ApiCode::UnknownDevice
                    ) =>
                {
                    // Not the photo's fault: it waits for the next login.
                    tracing::info!(seq, %sha, code = %error.code, "capture photo waits for a valid lease");
                    reached = seq - 1;
                    break;
                }
                Err(TransportError::Refused { error, .. }) => {
                    tracing::warn!(seq, %sha, code = %error.code, "capture photo refused");
                }
                Err(TransportError::Retryable(why)) => {
                    tracing::info!(seq, %sha, %why, "capture photo upload failed; next round");
                    reached = seq - 1;
                    break;
                }
            }
        }
        journal.set_sync_state(KEY_PHOTOS_SEQ, &reached.to_string())?;
        Ok(())
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
            Some(e) => journal.set_sync_state(KEY_LAST_ERROR, e.code.as_str()),
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
