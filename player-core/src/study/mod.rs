//! The learner app's service: everything the app does, without the window. It owns
//! the journal, the progress index, the running session and the learner-facing
//! state, and enforces the gates (sign-in, the login face check — R-ID-2 — before a
//! course opens). The Tauri shell is a thin layer of one-line commands over it.
//!
//! Concurrency: the service is shared between the shell's command threads, its
//! ticker, its camera thread and its sync thread. State sits behind one mutex that is
//! held only for in-memory and local-journal work: network calls (sign-in, sync) and
//! the full journal verification run with the lock released.
//!
//! Architecture invariant: nothing here decides what counts — that is the
//! [`crate::playback`] state machine and the protocol's fold; this module routes
//! inputs to them and shapes their answers for the UI ([`view`]).

pub mod codes;
mod live;
#[cfg(feature = "http")]
mod sync_round;
pub mod view;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rand_chacha::ChaCha20Rng;

pub use codes::{AppCode, AppError, AppResult, ErrorCode};
pub use live::{Live, REPORT_TIMEOUT_MS};
#[cfg(feature = "http")]
pub use sync_round::{SyncEvent, SYNC_INTERVAL_MS};

use crate::clock::Clock;
use crate::courses::CourseStore;
use crate::fold::Progress;
use crate::index::{KnownRules, ProgressIndex};
use crate::journal::Journal;
use crate::manifest::Course;
use crate::policy::Policy;
use crate::record::{NewRecord, Signer};
use crate::sync;
use view::{
    CaptureView, CourseSummary, LessonView, OpenedCourse, ProofHour, ProofView, Report, StudyView,
    SyncState, SyncView,
};

/// `sync_state` key of the signed-in login name.
pub const KEY_USER: &str = "user";

/// What the service is built from.
#[allow(missing_debug_implementations)]
pub struct StudyConfig {
    /// The journal file.
    pub journal_path: PathBuf,
    /// The device key (a handle into the OS key store).
    pub key: Arc<dyn Signer>,
    /// The brand's policy profile.
    pub policy: Policy,
    /// The courses on this device.
    pub courses: CourseStore,
    /// Where they are (courses downloaded from the platform go there, one
    /// directory each).
    pub course_root: PathBuf,
    /// The platform's base URL.
    pub platform_url: String,
    /// The platform's Ed25519 public key, when the brand pins it: a platform
    /// answering with another key is not trusted.
    pub platform_key: Option<[u8; 32]>,
    /// Wall and monotonic time.
    pub clock: Arc<dyn Clock>,
    /// Where the camera keeps capture photos (uploaded once their records are).
    pub photos: crate::sync::PhotoStore,
}

/// Where the journal is.
enum Slot {
    /// No session: the journal and its index.
    Idle(Box<(Journal, ProgressIndex)>),
    /// A live session owns them.
    Studying(Box<Live>),
    /// Moving between the two (only inside one lock).
    Moving,
}

/// Sign-in and session state, behind one lock.
struct Inner {
    slot: Slot,
    /// The login face check passed since sign-in (R-ID-2).
    verified: bool,
    learner_id: Option<String>,
    user: Option<String>,
}

/// The last full verification of the journal.
#[derive(Debug, Clone)]
struct Verification {
    ok: bool,
    message: String,
    at_ms: i64,
}

/// See the module docs.
pub struct StudyService {
    journal_path: PathBuf,
    key: Arc<dyn Signer>,
    policy: Policy,
    /// Reloaded when a course arrives from the platform.
    courses: Mutex<Arc<CourseStore>>,
    course_root: PathBuf,
    platform_url: String,
    platform_key: Option<[u8; 32]>,
    clock: Arc<dyn Clock>,
    photos: crate::sync::PhotoStore,
    inner: Mutex<Inner>,
    sync: Mutex<SyncView>,
    verification: Mutex<Option<Verification>>,
}

impl std::fmt::Debug for StudyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StudyService")
            .field("journal_path", &self.journal_path)
            .field("platform_url", &self.platform_url)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock is recovered: the journal is the truth, and every step is
    // durable before it is shown.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The rules of every course in `store` under `policy`.
pub fn known_rules(store: &CourseStore, policy: &Policy) -> KnownRules {
    let mut rules = KnownRules::default();
    for c in store.iter() {
        rules.insert(&c.id, c.hour_rules(policy));
    }
    rules
}

impl StudyService {
    /// Opens the journal (creating it), folds it once into the index, and reads the
    /// sign-in state a previous run left.
    pub fn open(cfg: StudyConfig) -> AppResult<StudyService> {
        let journal = Journal::open(&cfg.journal_path, cfg.key.clone())?;
        let index = ProgressIndex::build(&journal, known_rules(&cfg.courses, &cfg.policy))?;
        let signed_in = journal
            .sync_state(sync::KEY_STATUS)?
            .is_some_and(|s| s != "signed_out" && s != "lease_revoked");
        let lease: Option<crate::wire::LoginResponse> = journal
            .sync_state(sync::KEY_LEASE)?
            .and_then(|l| serde_json::from_str(&l).ok());
        let user = journal.sync_state(KEY_USER)?;
        let view = idle_sync_view(&journal)?;
        Ok(StudyService {
            journal_path: cfg.journal_path,
            key: cfg.key,
            policy: cfg.policy,
            courses: Mutex::new(Arc::new(cfg.courses)),
            course_root: cfg.course_root,
            platform_url: cfg.platform_url,
            platform_key: cfg.platform_key,
            clock: cfg.clock,
            photos: cfg.photos,
            inner: Mutex::new(Inner {
                slot: Slot::Idle(Box::new((journal, index))),
                // A stored lease keeps the learner signed in across restarts; the
                // face check is asked again at every start (R-ID-2).
                verified: false,
                learner_id: lease
                    .as_ref()
                    .filter(|_| signed_in)
                    .map(|l| l.learner_id.clone()),
                user: user.filter(|_| signed_in),
            }),
            sync: Mutex::new(view),
            verification: Mutex::new(None),
        })
    }

    /// The policy profile in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The courses on this device (a snapshot: a course downloaded later is in the
    /// next one).
    pub fn courses_store(&self) -> Arc<CourseStore> {
        lock(&self.courses).clone()
    }

    /// The platform this app signs in to.
    pub fn platform_url(&self) -> &str {
        &self.platform_url
    }

    /// The journal file.
    pub fn journal_path(&self) -> &Path {
        &self.journal_path
    }

    /// This device's id (hex).
    pub fn device_id(&self) -> String {
        crate::record::DeviceId::from_public_key(&self.key.public_key()).to_hex()
    }

    /// `(user, learner id, verified)` when signed in.
    pub fn signed_in(&self) -> Option<(String, Option<String>, bool)> {
        let inner = lock(&self.inner);
        inner
            .user
            .clone()
            .map(|u| (u, inner.learner_id.clone(), inner.verified))
    }

    /// Signs in at the platform and enrols this device (R-ID-1, R-ID-3). The
    /// network call runs without the lock.
    #[cfg(feature = "http")]
    pub fn sign_in(&self, user: &str, password: &str) -> AppResult<view::Account> {
        let device = {
            let inner = lock(&self.inner);
            crate::http::LoginDevice::of(journal_of(&inner)?)?
        };
        let lease = crate::http::login_request(
            &self.platform_url,
            user,
            password,
            &device,
            self.platform_key.as_ref(),
            std::time::Duration::from_secs(15),
        )?;
        let mut inner = lock(&self.inner);
        let (journal, index) = idle(&mut inner)?;
        crate::http::store_login(journal, &self.platform_url, &lease, self.clock.wall_ms())?;
        journal.set_sync_state(KEY_USER, user)?;
        // Grades are believed under the platform key just learnt: a new key means
        // the journal's grades are judged again (one fold).
        if journal.platform_key()? != index.platform_key() {
            inner.slot = Slot::Idle(Box::new(self.reopen()?));
        }
        inner.user = Some(user.to_owned());
        inner.learner_id = Some(lease.learner_id.clone());
        inner.verified = false;
        Ok(view::Account {
            user: user.to_owned(),
            learner_id: lease.learner_id,
            device_id: lease.device_id,
            lease_expires_ms: lease.expires_ms,
            offline_until_ms: lease.offline_lease.offline_until_ms,
        })
    }

    /// The lease token, when signed in.
    #[cfg(feature = "http")]
    fn token(&self) -> AppResult<String> {
        let inner = lock(&self.inner);
        if inner.user.is_none() {
            return Err(AppError::new(AppCode::NotSignedIn, "sign in first"));
        }
        journal_of(&inner)?
            .sync_state(sync::KEY_TOKEN)?
            .ok_or_else(|| AppError::new(AppCode::NotSignedIn, "sign in first"))
    }

    /// The directory a course downloaded from the platform goes to: its id with
    /// anything but letters, digits, `-`, `_` and `.` replaced (ids come from the
    /// platform).
    fn course_dir(&self, id: &str) -> PathBuf {
        let safe: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let safe = safe.trim_start_matches('.');
        self.course_root
            .join(if safe.is_empty() { "_" } else { safe })
    }

    /// The courses the learner is enrolled in on the platform (issue 12), with
    /// whether this device holds each. A network call: run it off the UI thread.
    #[cfg(feature = "http")]
    pub fn platform_courses(&self) -> AppResult<Vec<view::PlatformCourse>> {
        let token = self.token()?;
        let http =
            crate::http::HttpTransport::new(&self.platform_url, std::time::Duration::from_secs(15))
                .map_err(|e| AppError::new(AppCode::PlatformUnreachable, e.to_string()))?;
        let listed = crate::fetch::list(&http, &token)?;
        let store = self.courses_store();
        Ok(listed
            .into_iter()
            .map(|c| {
                let downloaded = store.get(&c.id).is_ok()
                    && std::fs::read(self.course_dir(&c.id).join("course.json")).is_ok_and(|b| {
                        keshi_protocol::ids::Hash::of(&b).to_hex() == c.manifest_sha256
                    });
                view::PlatformCourse {
                    id: c.id,
                    title: c.title,
                    institution: c.institution,
                    version: c.version,
                    class_hours: c.class_hours,
                    media_bytes: c.media_bytes,
                    downloaded,
                }
            })
            .collect())
    }

    /// Downloads course `id` from the platform into this device's course store
    /// (resumable; every file checked against the manifest before it can be
    /// played), then makes it playable. Not while a course is open.
    #[cfg(feature = "http")]
    pub fn fetch_course(
        &self,
        id: &str,
        progress: &mut dyn FnMut(&view::DownloadView),
        sleep: &mut dyn FnMut(std::time::Duration),
    ) -> AppResult<()> {
        let token = self.token()?;
        if matches!(lock(&self.inner).slot, Slot::Studying(_)) {
            return Err(AppError::new(
                AppCode::SessionOpen,
                "close the course before downloading another",
            ));
        }
        let http =
            crate::http::HttpTransport::new(&self.platform_url, std::time::Duration::from_secs(30))
                .map_err(|e| AppError::new(AppCode::PlatformUnreachable, e.to_string()))?;
        crate::fetch::fetch(
            &http,
            &token,
            id,
            &self.course_dir(id),
            &mut |p| {
                progress(&view::DownloadView {
                    course_id: p.course.clone(),
                    files_done: p.files_done,
                    files: p.files,
                    bytes_done: p.bytes_done,
                    bytes: p.bytes,
                });
            },
            sleep,
        )?;
        let store = CourseStore::load(&self.course_root);
        store.get(id)?;
        *lock(&self.courses) = Arc::new(store);
        // The index learns the new course's rules (one fold of the journal).
        let mut inner = lock(&self.inner);
        if matches!(inner.slot, Slot::Idle(_)) {
            inner.slot = Slot::Idle(Box::new(self.reopen()?));
        }
        Ok(())
    }

    /// Sets the first password of an account imported without one (the ID number
    /// and phone on record prove who the learner is), then signs in with it.
    #[cfg(feature = "http")]
    pub fn set_first_password(
        &self,
        user: &str,
        id_number: &str,
        phone: &str,
        password: &str,
    ) -> AppResult<view::Account> {
        crate::http::set_first_password(
            &self.platform_url,
            &crate::wire::FirstPasswordRequest {
                user: user.to_owned(),
                id_number: id_number.trim().to_owned(),
                phone: phone.trim().to_owned(),
                password: password.to_owned(),
            },
            std::time::Duration::from_secs(15),
        )?;
        self.sign_in(user, password)
    }

    /// Signs out (closes any open course first).
    pub fn sign_out(&self) -> AppResult<()> {
        let mut inner = lock(&self.inner);
        self.close_locked(&mut inner)?;
        let (journal, _) = idle(&mut inner)?;
        journal.set_sync_state(sync::KEY_STATUS, "signed_out")?;
        inner.user = None;
        inner.learner_id = None;
        inner.verified = false;
        Ok(())
    }

    /// The learner id, when signed in; `not_signed_in` otherwise.
    pub fn require_signed_in(&self) -> AppResult<String> {
        let inner = lock(&self.inner);
        match &inner.user {
            Some(_) => Ok(inner.learner_id.clone().unwrap_or_default()),
            None => Err(AppError::new(AppCode::NotSignedIn, "sign in first")),
        }
    }

    /// Journals the login face check (R-ID-2) and opens or keeps closed the gate to
    /// the courses.
    pub fn record_login_check(&self, passed: bool, detail: serde_json::Value) -> AppResult<()> {
        let mut inner = lock(&self.inner);
        self.note_locked(&mut inner, "login_check", detail)?;
        inner.verified = passed;
        Ok(())
    }

    /// Courses with progress in class hours (R-AS-3), from the index.
    pub fn courses(&self) -> AppResult<Vec<CourseSummary>> {
        let inner = lock(&self.inner);
        let index = index_of(&inner)?;
        Ok(self
            .courses_store()
            .iter()
            .map(|c| self.summary(c, &index.progress(&c.id)))
            .collect())
    }

    /// Opens a course: the session resumes at the breakpoint (R-ST-2). Needs a
    /// passed login face check (R-ID-2).
    pub fn course_open(&self, course_id: &str, rng: ChaCha20Rng) -> AppResult<OpenedCourse> {
        let mut inner = lock(&self.inner);
        if inner.user.is_none() {
            return Err(AppError::new(AppCode::NotSignedIn, "sign in first"));
        }
        if !inner.verified {
            return Err(AppError::new(
                AppCode::NotVerified,
                "pass the face check first",
            ));
        }
        let store = self.courses_store();
        let course = store.get(course_id)?;
        if let Slot::Studying(s) = &inner.slot {
            if s.course_id() != course_id {
                self.close_locked(&mut inner)?;
            }
        }
        if matches!(inner.slot, Slot::Idle(_)) {
            let Slot::Idle(parts) = std::mem::replace(&mut inner.slot, Slot::Moving) else {
                return Err(AppError::new(AppCode::JournalFailed, "journal unavailable"));
            };
            let (journal, index) = *parts;
            // Records are stamped in the platform's time (its clock, learned at the
            // last contact), so they are anchored where the platform checks them.
            let offset = crate::sync::clock_offset(&journal).unwrap_or(0);
            let clock = self.clock.clone();
            match Live::open(journal, index, course, &self.policy, rng, clock, offset) {
                Ok(s) => inner.slot = Slot::Studying(Box::new(s)),
                Err(e) => {
                    inner.slot = Slot::Idle(Box::new(self.reopen()?));
                    return Err(e);
                }
            }
        }
        let Slot::Studying(live) = &mut inner.slot else {
            return Err(AppError::new(AppCode::NoSession, "no course is open"));
        };
        let view = live.view();
        let progress = live.index().progress(course_id);
        let lessons = course
            .lessons
            .iter()
            .zip(course.lesson_spans())
            .map(|(l, (start_ms, duration_ms))| LessonView {
                id: l.id.clone(),
                title: l.title.clone(),
                url: lesson_url(&course.id, &l.id),
                start_ms,
                duration_ms,
            })
            .collect();
        Ok(OpenedCourse {
            course: self.summary(course, &progress),
            lessons,
            class_hour_ms: self.policy.class_hour_ms(),
            resume_ms: view.position_ms,
            view,
        })
    }

    /// Runs `f` on the live session.
    fn live<T>(&self, f: impl FnOnce(&mut Live) -> AppResult<T>) -> AppResult<T> {
        let mut inner = lock(&self.inner);
        match &mut inner.slot {
            Slot::Studying(s) => f(s),
            _ => Err(AppError::new(AppCode::NoSession, "no course is open")),
        }
    }

    /// A report from the player; the answer is the core's view, with what the
    /// player must do.
    pub fn report(&self, report: Report) -> AppResult<StudyView> {
        self.live(|s| {
            s.report(report)?;
            Ok(s.view())
        })
    }

    /// Answers to the quiz due (option indices, in question order).
    pub fn quiz_submit(&self, answers: Vec<usize>) -> AppResult<StudyView> {
        self.live(|s| {
            s.answer(answers)?;
            Ok(s.view())
        })
    }

    /// The window gained or lost focus (the shell's own window event).
    pub fn set_focused(&self, focused: bool) -> AppResult<StudyView> {
        self.live(|s| {
            s.set_focused(focused)?;
            Ok(s.view())
        })
    }

    /// Time passes; `window_shown`: the shell's reading of the window (shown and
    /// not minimised). `None` when no course is open.
    pub fn tick(&self, window_shown: bool) -> Option<AppResult<StudyView>> {
        let mut inner = lock(&self.inner);
        let Slot::Studying(s) = &mut inner.slot else {
            return None;
        };
        let r = s
            .set_window_shown(window_shown)
            .and_then(|()| s.tick())
            .map(|()| s.view());
        Some(r)
    }

    /// A capture the core asked for and nobody started yet: `(id, class hour,
    /// course id)`.
    pub fn take_capture_request(&self) -> Option<(String, u32, String)> {
        let mut inner = lock(&self.inner);
        let Slot::Studying(s) = &mut inner.slot else {
            return None;
        };
        let course = s.course_id().to_owned();
        s.take_capture_request().map(|(id, h)| (id, h, course))
    }

    /// The outcome of capture `id` (the shell's camera took it off the lock).
    pub fn capture_done(
        &self,
        id: &str,
        view: CaptureView,
        image_sha256: Option<String>,
        detail: serde_json::Value,
    ) -> AppResult<StudyView> {
        self.live(|s| {
            s.capture_done(id, view, image_sha256, detail)?;
            Ok(s.view())
        })
    }

    /// Closes the course (the breakpoint is already durable).
    pub fn course_close(&self) -> AppResult<()> {
        let mut inner = lock(&self.inner);
        self.close_locked(&mut inner)
    }

    /// The last sync view, with the journal's current counts.
    pub fn sync_status(&self) -> AppResult<SyncView> {
        let mut view = lock(&self.sync).clone();
        let inner = lock(&self.inner);
        let journal = journal_of(&inner)?;
        view.records = journal.len();
        view.queued = view.records.saturating_sub(view.acknowledged);
        Ok(view)
    }

    /// The last sync view as the sync thread left it.
    pub fn sync_view(&self) -> SyncView {
        lock(&self.sync).clone()
    }

    /// The learning proof of one course (R-AS-6): what the signed journal shows,
    /// from the index, with the last full verification (see [`Self::verify_journal`]).
    pub fn learning_proof(&self, course_id: &str) -> AppResult<ProofView> {
        let store = self.courses_store();
        let course = store.get(course_id)?;
        let inner = lock(&self.inner);
        let index = index_of(&inner)?;
        let journal = journal_of(&inner)?;
        let progress = index.progress(course_id);
        let hours = (1..=course.class_hours(&self.policy))
            .map(|h| {
                let p = progress.hours.get(&h).cloned().unwrap_or_default();
                ProofHour {
                    class_hour: h,
                    completed: p.completed,
                    captures_passed: p.captures_passed,
                    quiz_passed: p.quiz_passed,
                    quiz_attempts: p.quiz_attempts,
                }
            })
            .collect();
        let verification = lock(&self.verification).clone();
        Ok(ProofView {
            course: self.summary(course, &progress),
            hours,
            sessions: progress.sessions,
            device_id: journal.device_id().to_hex(),
            records: journal.len(),
            head_hash: journal.head().map(|h| h.1.to_hex()).unwrap_or_default(),
            verified: verification.as_ref().map(|v| v.ok),
            verify_message: verification
                .as_ref()
                .map(|v| v.message.clone())
                .unwrap_or_default(),
            verified_at_ms: verification.map(|v| v.at_ms),
            acknowledged: sync::acknowledged(journal)?,
            violations: index.violations(course_id).into_iter().collect(),
        })
    }

    /// Verifies the whole journal (signatures, chain, checkpoint) on the calling
    /// thread, without the lock (a read-only connection), and keeps the result for
    /// the learning proof.
    pub fn verify_journal(&self) -> bool {
        let (ok, message) = match crate::verify::verify_journal(&self.journal_path) {
            Ok(r) => (true, format!("{} records verified", r.records)),
            Err(e) => (false, e.to_string()),
        };
        *lock(&self.verification) = Some(Verification {
            ok,
            message,
            at_ms: self.clock.wall_ms(),
        });
        ok
    }

    fn summary(&self, c: &Course, p: &Progress) -> CourseSummary {
        CourseSummary {
            id: c.id.clone(),
            title: c.title.clone(),
            occupation: c.occupation.clone(),
            level: c.level,
            class_hours_total: c.class_hours(&self.policy),
            class_hours_done: p.class_hours_completed(),
            class_hours_required: self.policy.required(c.level).learner_min,
            credited_ms: p.credited_ms(),
            duration_ms: c.duration_ms(),
            position_ms: p.position_ms,
        }
    }

    /// Closes a running study, giving the journal back to the idle slot.
    fn close_locked(&self, inner: &mut Inner) -> AppResult<()> {
        if let Slot::Studying(_) = inner.slot {
            let Slot::Studying(live) = std::mem::replace(&mut inner.slot, Slot::Moving) else {
                return Ok(());
            };
            match live.close() {
                Ok(parts) => inner.slot = Slot::Idle(Box::new(parts)),
                Err(failed) => {
                    let (e, journal) = *failed;
                    drop(journal);
                    inner.slot = Slot::Idle(Box::new(self.reopen()?));
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Reopens the journal from its file and folds it again (after a failed open
    /// or an append by the sync connection).
    fn reopen(&self) -> AppResult<(Journal, ProgressIndex)> {
        let journal = Journal::open(&self.journal_path, self.key.clone())?;
        let index =
            ProgressIndex::build(&journal, known_rules(&self.courses_store(), &self.policy))?;
        Ok((journal, index))
    }

    /// The platform's grades of quiz answers (fetched by a sync round, already
    /// checked against the platform key): each is journaled once as `quiz_graded` —
    /// through the open session when it is that course's (the player shows the
    /// result and asks again after a failure), else directly. Returns how many were
    /// new.
    pub fn accept_grades(&self, grades: Vec<keshi_protocol::fact::QuizGraded>) -> AppResult<usize> {
        let mut inner = lock(&self.inner);
        let mut taken = 0;
        for g in grades {
            let news = index_of(&inner)?
                .course(&g.course)
                .and_then(|c| c.progress.hours.get(&g.class_hour))
                .is_none_or(|h| h.takes_grade(g.attempt));
            if !news {
                continue;
            }
            match &mut inner.slot {
                Slot::Studying(s) if s.course_id() == g.course => s.graded(g)?,
                _ => {
                    let payload = keshi_protocol::fact::Fact::QuizGraded(g).payload();
                    self.note_locked(&mut inner, "quiz_graded", payload)?;
                }
            }
            taken += 1;
        }
        if taken > 0 && index_of(&inner)?.platform_key().is_none() {
            tracing::warn!("quiz grades journaled but no platform key is known to check them");
        }
        Ok(taken)
    }

    fn note_locked(
        &self,
        inner: &mut Inner,
        kind: &str,
        payload: serde_json::Value,
    ) -> AppResult<()> {
        match &mut inner.slot {
            Slot::Idle(parts) => {
                let (journal, index) = &mut **parts;
                let wall = self.clock.wall_ms();
                let r =
                    journal.append(NewRecord::new(kind, payload, wall, self.clock.mono_ms()))?;
                index.push(&r);
            }
            Slot::Studying(s) => s.note(kind, payload)?,
            Slot::Moving => {
                return Err(AppError::new(AppCode::JournalFailed, "journal unavailable"))
            }
        }
        Ok(())
    }
}

fn idle(inner: &mut Inner) -> AppResult<(&mut Journal, &mut ProgressIndex)> {
    match &mut inner.slot {
        Slot::Idle(parts) => {
            let (j, i) = &mut **parts;
            Ok((j, i))
        }
        _ => Err(AppError::new(
            AppCode::SessionOpen,
            "close the course before doing this",
        )),
    }
}

fn journal_of(inner: &Inner) -> AppResult<&Journal> {
    match &inner.slot {
        Slot::Idle(parts) => Ok(&parts.0),
        Slot::Studying(s) => Ok(s.session().journal()),
        Slot::Moving => Err(AppError::new(AppCode::JournalFailed, "journal unavailable")),
    }
}

fn index_of(inner: &Inner) -> AppResult<&ProgressIndex> {
    match &inner.slot {
        Slot::Idle(parts) => Ok(&parts.1),
        Slot::Studying(s) => Ok(s.index()),
        Slot::Moving => Err(AppError::new(AppCode::JournalFailed, "journal unavailable")),
    }
}

/// The sync view of a journal before any round ran.
pub fn idle_sync_view(journal: &Journal) -> AppResult<SyncView> {
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
            None | Some("signed_out") => SyncState::NotLoggedIn,
            Some(_) if acknowledged == records => SyncState::Synced,
            Some(_) => SyncState::Idle,
        },
        error_code: last_error
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(|c| ErrorCode::Api(crate::codes::ApiCode::from_wire(c))),
        error_message: None,
        last_synced_ms: None,
    })
}

/// The media protocol's scheme (`keshi-media://localhost/<course>/<lesson>`).
pub const MEDIA_SCHEME: &str = "keshi-media";

/// The URL of a lesson as the web view must load it: ids only, never a path.
pub fn lesson_url(course_id: &str, lesson_id: &str) -> String {
    let base = if cfg!(any(windows, target_os = "android")) {
        format!("http://{MEDIA_SCHEME}.localhost")
    } else {
        format!("{MEDIA_SCHEME}://localhost")
    };
    format!("{base}/{}/{}", url_encode(course_id), url_encode(lesson_id))
}

/// Percent-encodes everything but `[A-Za-z0-9-_.~]`.
pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
