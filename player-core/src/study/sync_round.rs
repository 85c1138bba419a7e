//! One sync round of the app (feature `http`): renew the lease, upload the outbox
//! with the sync engine over its own journal connection (SQLite WAL: the session
//! keeps writing), then, when no course is open, apply retention. A revoked lease
//! (another device signed in, R-ID-3) ends the study session and signs out. The
//! network work runs without the service's lock.

use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::codes::{AppCode, AppError, AppResult, ErrorCode};
use super::view::{SyncState, SyncView};
use super::{idle_sync_view, lock, Slot, StudyService};
use crate::codes::ApiCode;
use crate::http::{Heartbeat, HttpTransport};
use crate::journal::Journal;
use crate::sync::{BatchLimits, SyncEngine, SyncOptions, SyncStatus};

/// How often the app's sync thread runs a round (and renews the lease).
pub const SYNC_INTERVAL_MS: u64 = 30_000;
/// Acknowledged payloads are kept this long before they are erased (headers stay).
const RETAIN_MS: u64 = 30 * 86_400_000;

/// What a round tells the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncEvent {
    /// Where sync stands now.
    Progress(SyncView),
    /// The lease was revoked: the learner was signed out (the platform's message).
    SignedOut(String),
}

impl StudyService {
    fn publish(&self, view: SyncView, emit: &mut dyn FnMut(SyncEvent)) {
        *lock(&self.sync) = view.clone();
        emit(SyncEvent::Progress(view));
    }

    /// Runs one round (see the module docs); progress goes to `emit`.
    pub fn sync_round(&self, emit: &mut dyn FnMut(SyncEvent)) -> AppResult<()> {
        let result = self.round(emit);
        if let Err(e) = &result {
            let mut v = lock(&self.sync).clone();
            v.state = SyncState::Error;
            v.error_code = Some(e.code);
            v.error_message = Some(e.message.clone());
            self.publish(v, emit);
        }
        result
    }

    fn round(&self, emit: &mut dyn FnMut(SyncEvent)) -> AppResult<()> {
        let mut journal = Journal::open(&self.journal_path, self.key.clone())?;
        let platform = journal.sync_state(crate::sync::KEY_PLATFORM)?;
        let signed_out =
            journal.sync_state(crate::sync::KEY_STATUS)?.as_deref() == Some("signed_out");
        let Some(platform) = platform.filter(|_| !signed_out) else {
            self.publish(idle_sync_view(&journal)?, emit);
            return Ok(());
        };
        let mut view = idle_sync_view(&journal)?;
        view.state = SyncState::Syncing;
        self.publish(view.clone(), emit);
        let mut http = HttpTransport::new(&platform, Duration::from_secs(15))
            .map_err(|e| AppError::new(AppCode::PlatformUnreachable, e.to_string()))?;
        let hb = crate::http::heartbeat(&mut journal, &http, self.clock.wall_ms())?;
        if let Heartbeat::Refused(status, error) = &hb {
            view.state = SyncState::Refused;
            view.error_code = Some(ErrorCode::Api(error.code));
            view.error_message = Some(error.message.clone());
            self.publish(view, emit);
            if *status == SyncStatus::LeaseRevoked {
                self.revoked(&error.message, emit);
            }
            return Ok(());
        }
        let engine = SyncEngine::new(SyncOptions {
            limits: BatchLimits {
                max_records: 1000,
                max_bytes: 1 << 20,
            },
            max_retries: Some(3),
            backoff_base: Duration::from_millis(300),
            backoff_max: Duration::from_secs(5),
            photos: Some(self.photos.clone()),
        });
        let clock = self.clock.clone();
        let report = engine
            .run(
                &mut journal,
                &mut http,
                &mut ChaCha20Rng::from_os_rng(),
                &mut |d| sleep(d),
                &mut || clock.wall_ms(),
                &mut || true,
            )
            .map_err(|e| AppError::new(AppCode::SyncFailed, e.to_string()))?;
        let records = journal.len();
        let unreachable = report.status == SyncStatus::Pending;
        let view = SyncView {
            records,
            acknowledged: report.acknowledged,
            queued: records.saturating_sub(report.acknowledged),
            sent: report.sent,
            state: match report.status {
                SyncStatus::Synced => SyncState::Synced,
                SyncStatus::Pending => SyncState::Offline,
                SyncStatus::NotLoggedIn => SyncState::NotLoggedIn,
                SyncStatus::LeaseRevoked
                | SyncStatus::LeaseExpired
                | SyncStatus::UnknownDevice
                | SyncStatus::RecordRefused
                | SyncStatus::Refused => SyncState::Refused,
            },
            error_code: report
                .error
                .as_ref()
                .map(|e| ErrorCode::Api(e.code))
                .or_else(|| unreachable.then_some(ErrorCode::App(AppCode::PlatformUnreachable))),
            error_message: report.error.as_ref().map(|e| e.message.clone()).or(
                match (&hb, unreachable) {
                    (Heartbeat::Offline(m), _) => Some(m.clone()),
                    (_, true) => Some("platform unreachable".into()),
                    _ => None,
                },
            ),
            last_synced_ms: (report.status == SyncStatus::Synced).then(|| self.clock.wall_ms()),
        };
        self.publish(view, emit);
        if report.status == SyncStatus::LeaseRevoked {
            let msg = report
                .error
                .as_ref()
                .filter(|e| e.code == ApiCode::LeaseRevoked)
                .map_or_else(|| "lease revoked".to_owned(), |e| e.message.clone());
            self.revoked(&msg, emit);
        } else if report.status == SyncStatus::Synced {
            self.grades(&mut journal, &http);
            let snapshots = self.snapshots(&journal, &http);
            drop(journal);
            self.retain(&snapshots)?;
        }
        Ok(())
    }

    /// The platform graded what was just uploaded: its signed grades are fetched
    /// and journaled (issue 11). A failure here is only logged: the next round asks
    /// again, nothing is lost.
    fn grades(&self, journal: &mut Journal, http: &HttpTransport) {
        let fetched = match crate::http::fetch_grades(journal, http) {
            Ok(f) => f,
            Err(e) => {
                tracing::info!(error = %e, "quiz grades not fetched; the next round asks again");
                return;
            }
        };
        let (grades, up_to) = fetched;
        if grades.is_empty() && up_to == 0 {
            return;
        }
        match self.accept_grades(grades) {
            Ok(n) => {
                if n > 0 {
                    tracing::info!(grades = n, "quiz grades journaled");
                }
                if let Err(e) =
                    journal.set_sync_state(crate::sync::KEY_GRADED_SEQ, &up_to.to_string())
                {
                    tracing::warn!(error = %e, "graded seq not stored; grades are asked again");
                }
            }
            Err(e) => tracing::warn!(error = %e, "quiz grades not journaled"),
        }
    }

    /// The platform's countersignatures of this journal's progress snapshots, asked
    /// for only when retention has something to erase; a failure is only logged
    /// (retention waits).
    fn snapshots(
        &self,
        journal: &Journal,
        http: &HttpTransport,
    ) -> Vec<crate::fact::ProgressSnapshot> {
        let proposed = match crate::retention::propose(journal, RETAIN_MS, self.clock.wall_ms()) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "retention not checked");
                return Vec::new();
            }
        };
        crate::http::countersign_snapshots(journal, http, proposed).unwrap_or_else(|e| {
            tracing::info!(error = %e, "progress snapshots not countersigned; retention waits");
            Vec::new()
        })
    }

    /// Retention, only while no course is open (it appends the platform's snapshots
    /// and erases payloads on the idle journal, then folds the index again).
    fn retain(&self, snapshots: &[crate::fact::ProgressSnapshot]) -> AppResult<()> {
        let mut inner = lock(&self.inner);
        let Slot::Idle(parts) = &mut inner.slot else {
            return Ok(());
        };
        let kept =
            crate::retention::retain(&mut parts.0, RETAIN_MS, self.clock.wall_ms(), snapshots)?;
        if kept.erased > 0 || kept.snapshots > 0 {
            tracing::info!(
                erased = kept.erased,
                "retention: acknowledged payloads erased"
            );
            inner.slot = Slot::Idle(Box::new(self.reopen()?));
        }
        Ok(())
    }

    /// Another device signed in (R-ID-3): stop studying, sign out, tell the page.
    /// The sync connection journaled the revocation, so the session's connection is
    /// stale: the journal is reopened from its file.
    fn revoked(&self, message: &str, emit: &mut dyn FnMut(SyncEvent)) {
        let mut inner = lock(&self.inner);
        if let Slot::Studying(_) = inner.slot {
            if let Slot::Studying(s) = std::mem::replace(&mut inner.slot, Slot::Moving) {
                drop(s.abandon());
            }
        }
        match self.reopen() {
            Ok(parts) => inner.slot = Slot::Idle(Box::new(parts)),
            Err(e) => tracing::error!(error = %e, "journal cannot be reopened"),
        }
        inner.user = None;
        inner.learner_id = None;
        inner.verified = false;
        drop(inner);
        emit(SyncEvent::SignedOut(message.to_owned()));
    }
}

/// Waits between retries of a sync round (the round runs on the shell's sync
/// thread, never on a UI or async worker thread).
#[allow(clippy::disallowed_methods)]
fn sleep(d: Duration) {
    std::thread::sleep(d);
}
