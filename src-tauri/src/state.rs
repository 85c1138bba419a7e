//! The app's state: the journal (held idle, or inside the running study session),
//! the course store, the camera, sign-in and sync status.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use player_core::identity::DeviceKey;
use player_core::journal::Journal;
use player_core::policy::Policy;

use crate::brand::Brand;
use crate::camera::Camera;
use crate::courses::CourseStore;
use crate::error::{AppError, AppResult};
use crate::study::Study;
use crate::view::{Challenge, SyncView};

/// `sync_state` key of the signed-in login name.
pub const KEY_USER: &str = "user";

/// Where the journal is.
#[derive(Debug, Default)]
pub enum Slot {
    /// No session: the journal itself.
    Idle(Box<Journal>),
    /// A study session owns the journal.
    Studying(Box<Study>),
    /// Moving between the two (only inside one lock).
    #[default]
    Moving,
}

/// Mutable state behind one lock.
#[derive(Debug)]
pub struct Inner {
    /// The journal's place.
    pub slot: Slot,
    /// The login challenge asked, until checked.
    pub challenge: Option<(capture::Challenge, Challenge)>,
    /// Liveness passed since sign-in.
    pub verified: bool,
    /// Learner id from the lease.
    pub learner_id: Option<String>,
    /// Login name.
    pub user: Option<String>,
}

/// Everything the commands share.
#[derive(Debug)]
pub struct AppState {
    /// Brand.
    pub brand: Brand,
    /// Policy profile of the brand.
    pub policy: Policy,
    /// The journal file.
    pub journal_path: PathBuf,
    /// The device key (in the OS key store; this is a handle).
    pub key: Arc<DeviceKey>,
    /// Courses.
    pub courses: CourseStore,
    /// Camera thread.
    pub camera: Camera,
    /// Sign-in, session.
    pub inner: Mutex<Inner>,
    /// Last sync status.
    pub sync: Mutex<SyncView>,
    /// Wakes the sync thread.
    pub sync_wake: std::sync::mpsc::SyncSender<()>,
    /// The sync thread's end of `sync_wake` (taken when it starts).
    pub sync_rx: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl AppState {
    /// Locks the mutable state (a poisoned lock is recovered: the journal is the
    /// truth, and every step is durable before it is shown).
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Last sync view.
    pub fn sync_view(&self) -> SyncView {
        self.sync.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Inner {
    /// The journal, whether idle or in the session.
    pub fn journal(&self) -> AppResult<&Journal> {
        match &self.slot {
            Slot::Idle(j) => Ok(j.as_ref()),
            Slot::Studying(s) => Ok(s.session().journal()),
            Slot::Moving => Err(AppError::new("journal_failed", "journal unavailable")),
        }
    }

    /// The idle journal, for writes outside a session.
    pub fn idle_journal(&mut self) -> AppResult<&mut Journal> {
        match &mut self.slot {
            Slot::Idle(j) => Ok(j.as_mut()),
            _ => Err(AppError::new(
                "session_open",
                "close the course before doing this",
            )),
        }
    }

    /// The running study.
    pub fn study(&mut self) -> AppResult<&mut Study> {
        match &mut self.slot {
            Slot::Studying(s) => Ok(s),
            _ => Err(AppError::new("no_session", "no course is open")),
        }
    }
}
