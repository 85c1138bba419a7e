//! The commands the web view may call (each granted by `permissions/keshi.toml`; the
//! list is checked against `build.rs`, the permissions and `ui/src/api.ts` by
//! `tests/commands.rs`). Each hands over to `player-core`'s study service or to the
//! camera in a line or two; none decides what counts. Errors cross as
//! `{code, message}`.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tauri::{AppHandle, Runtime, State};
use tracing::instrument;

use crate::error::AppResult;
use crate::state::AppState;
use player_core::study::view::*;

/// Brand, profile, device and sign-in state.
#[tauri::command(async)]
#[instrument(skip_all, err(Debug))]
pub fn app_info(state: State<'_, AppState>) -> AppResult<AppInfo> {
    Ok(crate::flows::app_info(&state))
}

/// Signs in at the brand's platform and enrols this device (R-ID-1, R-ID-3). The
/// login is a network call: it runs on a blocking thread, never on the async
/// runtime's workers.
#[tauri::command]
#[instrument(skip(app, password), err(Debug))]
pub async fn sign_in<R: Runtime>(
    app: AppHandle<R>,
    user: String,
    password: String,
) -> AppResult<Account> {
    crate::flows::blocking(app, move |state| state.sign_in(user.trim(), &password)).await
}

/// Sets the first password of an account imported without one (ID number and
/// phone on record), then signs in with it. A network call, off the async workers.
#[tauri::command]
#[instrument(skip(app, password, id_number, phone), err(Debug))]
pub async fn set_first_password<R: Runtime>(
    app: AppHandle<R>,
    user: String,
    id_number: String,
    phone: String,
    password: String,
) -> AppResult<Account> {
    crate::flows::blocking(app, move |state| {
        state
            .service
            .set_first_password(user.trim(), &id_number, &phone, &password)
    })
    .await
}

/// Signs out (closes any open course first).
#[tauri::command(async)]
#[instrument(skip_all, err(Debug))]
pub fn sign_out(state: State<'_, AppState>) -> AppResult<()> {
    state.service.sign_out()
}

/// Is there a camera, and if not, why.
#[tauri::command(async)]
#[instrument(skip_all, err(Debug))]
pub fn camera_status(state: State<'_, AppState>) -> AppResult<CameraStatus> {
    state.camera.status()
}

/// One preview frame as a `data:` URL (the preview stays inside the app).
#[tauri::command(async)]
#[instrument(skip_all, err(Debug))]
pub fn camera_preview(state: State<'_, AppState>) -> AppResult<String> {
    crate::flows::preview_url(&state)
}

/// Picks the login liveness challenge (R-ID-2), at random.
#[tauri::command(async)]
#[instrument(skip_all, err(Debug))]
pub fn liveness_start(state: State<'_, AppState>) -> AppResult<Challenge> {
    crate::flows::liveness_start(&state)
}

/// Runs the login check with the challenge asked; journals the outcome.
#[tauri::command(async)]
#[instrument(skip_all, err(Debug))]
pub fn liveness_check(state: State<'_, AppState>) -> AppResult<CaptureView> {
    crate::flows::liveness_check(&state)
}

/// Courses with progress in class hours (R-AS-3).
#[tauri::command(async)]
#[instrument(skip_all, err(Debug))]
pub fn courses(state: State<'_, AppState>) -> AppResult<Vec<CourseSummary>> {
    state.service.courses()
}

/// Opens a course: the session resumes at the breakpoint (R-ST-2). Needs a passed
/// login check (R-ID-2).
#[tauri::command(async)]
#[instrument(skip(app, state), err(Debug))]
pub fn course_open<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    course_id: String,
) -> AppResult<OpenedCourse> {
    let opened = state
        .service
        .course_open(&course_id, ChaCha20Rng::from_os_rng())?;
    crate::flows::start_pending_capture(&app);
    Ok(opened)
}

/// A report from the player (position, play, pause, seek, rate, visibility,
/// activity). The answer is the core's view, with what the player must do.
#[tauri::command(async)]
#[instrument(skip(app, state), level = "trace", err(Debug))]
pub fn player_report<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    report: Report,
) -> AppResult<StudyView> {
    let view = state.service.report(report)?;
    crate::flows::start_pending_capture(&app);
    Ok(view)
}

/// Answers to the quiz due (option indices, in question order).
#[tauri::command(async)]
#[instrument(skip(state), err(Debug))]
pub fn quiz_submit(state: State<'_, AppState>, answers: Vec<usize>) -> AppResult<StudyView> {
    let view = state.service.quiz_submit(answers)?;
    // The platform grades (the app holds no answer keys): upload the answers and
    // fetch the grade now, not at the next 30-second round.
    state.wake_sync();
    Ok(view)
}

/// Closes the course (the breakpoint is already durable).
#[tauri::command(async)]
#[instrument(skip_all, err(Debug))]
pub fn course_close(state: State<'_, AppState>) -> AppResult<()> {
    state.service.course_close()?;
    state.wake_sync();
    Ok(())
}

/// Starts a sync round now; progress arrives as `sync` events.
#[tauri::command(async)]
#[instrument(skip_all, err(Debug))]
pub fn sync_now(state: State<'_, AppState>) -> AppResult<SyncView> {
    Ok(crate::flows::sync_now(&state))
}

/// The last sync status.
#[tauri::command(async)]
#[instrument(skip_all, err(Debug))]
pub fn sync_status(state: State<'_, AppState>) -> AppResult<SyncView> {
    state.service.sync_status()
}

/// The learning proof of one course (R-AS-6) with the last verification of the
/// journal; a new verification runs in the background (`verified` event).
#[tauri::command(async)]
#[instrument(skip(app, state), err(Debug))]
pub fn learning_proof<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    course_id: String,
) -> AppResult<ProofView> {
    crate::flows::verify_in_background(&app);
    state.service.learning_proof(&course_id)
}

/// The courses the learner is enrolled in on the platform, and whether this device
/// holds each (issue 12). A network call, off the async workers.
#[tauri::command]
#[instrument(skip(app), err(Debug))]
pub async fn platform_courses<R: Runtime>(app: AppHandle<R>) -> AppResult<Vec<PlatformCourse>> {
    crate::flows::blocking(app, |state| state.service.platform_courses()).await
}

/// Downloads a course from the platform (resumable, every file checked before it
/// can be played); progress arrives as `download` events.
#[tauri::command]
#[instrument(skip(app), err(Debug))]
pub async fn course_fetch<R: Runtime>(app: AppHandle<R>, course_id: String) -> AppResult<()> {
    let emitter = app.clone();
    crate::flows::blocking(app, move |state| {
        crate::flows::fetch_course(&emitter, state, &course_id)
    })
    .await
}
