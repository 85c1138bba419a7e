//! The sync thread: every 30 seconds, and when woken ("sync now", a course closed, a
//! sign-in), it runs one round of the study service (heartbeat, upload, retention)
//! and forwards what happened to the page (`sync` and `signed_out` events).

use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use player_core::study::{SyncEvent, SYNC_INTERVAL_MS};
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::state::{lock, AppState};

/// Starts the thread.
pub fn start<R: Runtime>(app: AppHandle<R>) -> std::io::Result<()> {
    let Some(rx) = lock(&app.state::<AppState>().sync_rx).take() else {
        return Ok(());
    };
    std::thread::Builder::new()
        .name("keshi-sync".into())
        .spawn(move || loop {
            let state = app.state::<AppState>();
            let emit = &mut |ev: SyncEvent| match ev {
                SyncEvent::Progress(v) => {
                    let _ = app.emit("sync", &v);
                }
                SyncEvent::SignedOut(message) => {
                    let _ = app.emit("signed_out", message);
                }
            };
            if let Err(e) = state.service.sync_round(emit) {
                tracing::warn!(error = %e, "sync round failed");
            }
            match rx.recv_timeout(Duration::from_millis(SYNC_INTERVAL_MS)) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        })
        .map(|_| ())
}
