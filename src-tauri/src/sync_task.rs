//! The sync thread: every 30 seconds, when woken ("sync now", a course closed, a
//! sign-in), it renews the lease and uploads the outbox with `player-core`'s sync
//! engine over its own journal connection (SQLite WAL: the session keeps writing).
//! Progress goes to the page as `sync` events. A revoked lease (another device
//! signed in, R-ID-3) ends the study session and signs the learner out.

use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use player_core::http::{Heartbeat, HttpTransport};
use player_core::journal::Journal;
use player_core::sync::{self, BatchLimits, SyncEngine, SyncOptions, SyncStatus};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::error::AppResult;
use crate::state::{AppState, Slot};
use crate::view::SyncView;

const INTERVAL: Duration = Duration::from_secs(30);
/// Keep acknowledged payloads this long before erasing them (headers stay).
const RETAIN_MS: u64 = 30 * 86_400_000;

/// The view of a journal before any round ran.
pub fn idle_view(journal: &Journal) -> AppResult<SyncView> {
    let acknowledged = sync::acknowledged(journal)?;
    let records = journal.len();
    let status = journal.sync_state(sync::KEY_STATUS)?;
    let last_error = journal.sync_state(sync::KEY_LAST_ERROR)?;
    Ok(SyncView {
        records,
        acknowledged,
        queued: records.saturating_sub(acknowledged),
        sent: 0,
        state: match status.as_deref() {
            None | Some("signed_out") => "not_logged_in".into(),
            Some(_) if acknowledged == records => "synced".into(),
            Some(_) => "idle".into(),
        },
        error_code: None,
        error_message: last_error,
        last_synced_ms: None,
    })
}

/// Starts the thread.
pub fn start<R: Runtime>(app: AppHandle<R>) {
    let rx = app
        .state::<AppState>()
        .sync_rx
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let Some(rx) = rx else { return };
    std::thread::Builder::new()
        .name("keshi-sync".into())
        .spawn(move || loop {
            if let Err(e) = round(&app) {
                tracing::warn!(error = %e, "sync round failed");
                let state = app.state::<AppState>();
                let mut v = state.sync.lock().unwrap_or_else(|p| p.into_inner());
                v.state = "error".into();
                v.error_code = Some(e.code.clone());
                v.error_message = Some(e.message.clone());
                let _ = app.emit("sync", &*v);
            }
            match rx.recv_timeout(INTERVAL) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        })
        .expect("spawn the sync thread");
}

fn publish<R: Runtime>(app: &AppHandle<R>, view: SyncView) {
    let state = app.state::<AppState>();
    *state.sync.lock().unwrap_or_else(|p| p.into_inner()) = view.clone();
    let _ = app.emit("sync", &view);
}

fn round<R: Runtime>(app: &AppHandle<R>) -> AppResult<()> {
    let state = app.state::<AppState>();
    let mut journal = Journal::open(&state.journal_path, state.key.clone())?;
    let Some(platform) = journal.sync_state(sync::KEY_PLATFORM)? else {
        publish(app, idle_view(&journal)?);
        return Ok(());
    };
    if journal.sync_state(sync::KEY_STATUS)?.as_deref() == Some("signed_out") {
        publish(app, idle_view(&journal)?);
        return Ok(());
    }
    let mut view = idle_view(&journal)?;
    view.state = "syncing".into();
    publish(app, view.clone());
    let mut http = HttpTransport::new(&platform, Duration::from_secs(15))
        .map_err(|e| crate::error::AppError::new("platform_unreachable", e.to_string()))?;
    let hb = player_core::http::heartbeat(&mut journal, &http, player_core::clock::wall_now_ms())?;
    if let Heartbeat::Refused(status, error) = &hb {
        view.state = "refused".into();
        view.error_code = Some(error.code.clone());
        view.error_message = Some(error.message.clone());
        publish(app, view);
        if *status == SyncStatus::LeaseRevoked {
            revoked(app, &error.message);
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
    });
    let report = engine
        .run(
            &mut journal,
            &mut http,
            &mut ChaCha20Rng::from_os_rng(),
            &mut std::thread::sleep,
            &mut player_core::clock::wall_now_ms,
            &mut || true,
        )
        .map_err(|e| crate::error::AppError::new("sync_failed", e.to_string()))?;
    let records = journal.len();
    let view = SyncView {
        records,
        acknowledged: report.acknowledged,
        queued: records.saturating_sub(report.acknowledged),
        sent: report.sent,
        state: match report.status {
            SyncStatus::Synced => "synced",
            SyncStatus::Pending => "offline",
            SyncStatus::NotLoggedIn => "not_logged_in",
            _ => "refused",
        }
        .into(),
        error_code: report.error.as_ref().map(|e| e.code.clone()).or_else(|| {
            (report.status == SyncStatus::Pending).then(|| "platform_unreachable".into())
        }),
        error_message: report.error.as_ref().map(|e| e.message.clone()).or(
            match (&hb, report.status) {
                (Heartbeat::Offline(m), _) => Some(m.clone()),
                (_, SyncStatus::Pending) => Some("platform unreachable".into()),
                _ => None,
            },
        ),
        last_synced_ms: (report.status == SyncStatus::Synced).then(player_core::clock::wall_now_ms),
    };
    publish(app, view);
    if report.status == SyncStatus::LeaseRevoked {
        revoked(app, "lease revoked");
    } else if report.status == SyncStatus::Synced {
        drop(journal);
        let mut inner = state.lock();
        if let Slot::Idle(j) = &mut inner.slot {
            let kept =
                player_core::retention::retain(j, RETAIN_MS, player_core::clock::wall_now_ms())?;
            if kept.erased > 0 {
                tracing::info!(
                    erased = kept.erased,
                    "retention: acknowledged payloads erased"
                );
            }
        }
    }
    Ok(())
}

/// Another device signed in (R-ID-3): stop studying, sign out, tell the page. The
/// sync connection journaled the revocation, so the session's connection is stale:
/// the journal is reopened from its file.
fn revoked<R: Runtime>(app: &AppHandle<R>, message: &str) {
    let state = app.state::<AppState>();
    let mut inner = state.lock();
    if let Slot::Studying(_) = inner.slot {
        if let Slot::Studying(s) = std::mem::take(&mut inner.slot) {
            drop(s.abandon());
        }
    }
    match crate::commands::reopen(&state) {
        Ok(j) => inner.slot = Slot::Idle(Box::new(j)),
        Err(e) => tracing::error!(error = %e, "journal cannot be reopened"),
    }
    inner.user = None;
    inner.verified = false;
    let _ = app.emit("signed_out", message);
}
