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
/// `sync_state` key: the engine's last stop state ([`SyncStatus`] as snake_case).
pub const KEY_STATUS: &str = "status";
/// `sync_state` key: the error code of the last refusal, if any.
pub const KEY_LAST_ERROR: &str = "last_error";

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
