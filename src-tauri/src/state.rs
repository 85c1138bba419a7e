//! The app's state: the brand, the study service (journal, index, session, sign-in,
//! sync status — all of `player-core`), the camera thread and the login challenge.

use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Mutex, MutexGuard};

use player_core::study::view::Account;
use player_core::study::StudyService;

use crate::error::AppResult;

use crate::brand::Brand;
use crate::camera::Camera;

/// Everything the commands share.
#[derive(Debug)]
pub struct AppState {
    /// Brand.
    pub brand: Brand,
    /// Everything the app does but the window.
    pub service: StudyService,
    /// Camera thread.
    pub camera: Camera,
    /// The login challenge asked, until checked.
    pub challenge: Mutex<Option<capture::Challenge>>,
    /// Wakes the sync thread.
    pub sync_wake: SyncSender<()>,
    /// The sync thread's end of `sync_wake` (taken when it starts).
    pub sync_rx: Mutex<Option<Receiver<()>>>,
    /// A journal verification is running (one at a time).
    pub verifying: Mutex<bool>,
}

/// Locks a mutex, recovering a poisoned one (the journal is the truth and every
/// step is durable before it is shown).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AppState {
    /// Signs in (a network call: run it with `flows::blocking`) and asks for a sync
    /// round.
    pub fn sign_in(&self, user: &str, password: &str) -> AppResult<Account> {
        let account = self.service.sign_in(user, password)?;
        self.wake_sync();
        Ok(account)
    }

    /// Asks the sync thread for a round now.
    pub fn wake_sync(&self) {
        // A full channel means a round is already asked for.
        let _ = self.sync_wake.try_send(());
    }
}
