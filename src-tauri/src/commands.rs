//! The commands the web view may call (each granted by `permissions/keshi.toml`).
//! Each is a few lines handing over to `player-core` or `capture`; none decides what
//! counts. Errors cross as `{code, message}`.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use player_core::journal::Journal;
use player_core::manifest::Course;
use player_core::playback::Progress;
use player_core::record::NewRecord;
use player_core::session::progress_of_journal;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tauri::{AppHandle, Emitter, Runtime, State};

use crate::error::{AppError, AppResult};
use crate::state::{AppState, Inner, Slot};
use crate::study::Study;
use crate::view::*;

/// Brand, profile, device and sign-in state.
#[tauri::command(async)]
pub fn app_info(state: State<'_, AppState>) -> AppResult<AppInfo> {
    let inner = state.lock();
    let journal = inner.journal()?;
    let profile = &state.policy;
    Ok(AppInfo {
        brand_zh: state.brand.brand_zh.clone(),
        brand_en: state.brand.brand_en.clone(),
        platform_url: state.brand.platform_url.clone(),
        profile_id: profile.id.clone(),
        profile_zh: profile.name_zh.clone(),
        profile_en: profile.name_en.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        device_id: journal.device_id().to_hex(),
        signed_in: inner.user.is_some(),
        user: inner.user.clone(),
        verified: inner.verified,
        test_camera: cfg!(feature = "test-camera"),
    })
}

/// Signs in at the brand's platform and enrols this device (R-ID-1, R-ID-3).
#[tauri::command(async)]
pub fn sign_in(state: State<'_, AppState>, user: String, password: String) -> AppResult<Account> {
    let mut inner = state.lock();
    let platform = state.brand.platform_url.clone();
    let journal = inner.idle_journal()?;
    // reqwest's blocking client must not run on the async runtime's threads.
    let lease = std::thread::scope(|s| {
        s.spawn(|| {
            player_core::http::login(
                journal,
                &platform,
                &user,
                &password,
                Duration::from_secs(15),
            )
        })
        .join()
    })
    .map_err(|_| AppError::new("platform_unreachable", "the login thread failed"))??;
    journal.set_sync_state(crate::state::KEY_USER, &user)?;
    inner.user = Some(user.clone());
    inner.learner_id = Some(lease.learner_id.clone());
    inner.verified = false;
    let _ = state.sync_wake.try_send(());
    Ok(Account {
        user,
        learner_id: lease.learner_id,
        device_id: lease.device_id,
        lease_expires_ms: lease.expires_ms,
        offline_until_ms: lease.offline_lease.offline_until_ms,
    })
}

/// Signs out (closes any open course first).
#[tauri::command(async)]
pub fn sign_out(state: State<'_, AppState>) -> AppResult<()> {
    let mut inner = state.lock();
    close_study(&state, &mut inner)?;
    let journal = inner.idle_journal()?;
    journal.set_sync_state(player_core::sync::KEY_STATUS, "signed_out")?;
    inner.user = None;
    inner.learner_id = None;
    inner.verified = false;
    Ok(())
}

/// Is there a camera, and if not, why.
#[tauri::command(async)]
pub fn camera_status(state: State<'_, AppState>) -> AppResult<CameraStatus> {
    state.camera.status()
}

/// One preview frame as a `data:` URL (the preview stays inside the app).
#[tauri::command(async)]
pub fn camera_preview(state: State<'_, AppState>) -> AppResult<String> {
    let jpeg = state.camera.preview()?;
    Ok(format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(jpeg)
    ))
}

/// Picks the login liveness challenge (R-ID-2), at random.
#[tauri::command(async)]
pub fn liveness_start(state: State<'_, AppState>) -> AppResult<Challenge> {
    let mut inner = state.lock();
    if inner.user.is_none() {
        return Err(AppError::new("not_signed_in", "sign in first"));
    }
    let c = capture::Challenge::pick(&mut ChaCha20Rng::from_os_rng());
    let view = Challenge {
        code: c.code().into(),
        prompt_zh: c.prompt_zh().into(),
        prompt_en: c.prompt_en().into(),
    };
    inner.challenge = Some((c, view.clone()));
    Ok(view)
}

/// Runs the login check with the challenge asked; journals the outcome.
#[tauri::command(async)]
pub fn liveness_check(state: State<'_, AppState>) -> AppResult<CaptureView> {
    let (challenge, learner) = {
        let mut inner = state.lock();
        let (c, _) = inner
            .challenge
            .take()
            .ok_or_else(|| AppError::new("no_challenge", "start the check first"))?;
        (c, inner.learner_id.clone().unwrap_or_default())
    };
    let meta = capture::SnapshotMeta {
        captured_at_ms: player_core::clock::wall_now_ms(),
        learner_id: learner,
        course_id: String::new(),
        class_hour: None,
        purpose: capture::CapturePurpose::Login,
    };
    let result = state.camera.capture(Some(challenge), meta)?;
    let view = crate::capture_view(&result.outcome);
    let mut inner = state.lock();
    let detail = serde_json::to_value(&result.outcome)
        .map_err(|e| AppError::new("journal_failed", e.to_string()))?;
    append_note(&mut inner, "login_check", detail)?;
    inner.verified = view.passed;
    Ok(view)
}

/// Courses with progress in class hours (R-AS-3).
#[tauri::command(async)]
pub fn courses(state: State<'_, AppState>) -> AppResult<Vec<CourseSummary>> {
    let inner = state.lock();
    let journal = inner.journal()?;
    state
        .courses
        .iter()
        .map(|c| summary(&state, journal, c))
        .collect()
}

/// Opens a course: the session resumes at the breakpoint (R-ST-2). Needs a passed
/// login check (R-ID-2).
#[tauri::command(async)]
pub fn course_open<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    course_id: String,
) -> AppResult<OpenedCourse> {
    let mut inner = state.lock();
    if inner.user.is_none() {
        return Err(AppError::new("not_signed_in", "sign in first"));
    }
    if !inner.verified {
        return Err(AppError::new("not_verified", "pass the face check first"));
    }
    let course = state.courses.get(&course_id)?;
    if let Slot::Studying(s) = &inner.slot {
        if s.course_id() != course_id {
            close_study(&state, &mut inner)?;
        }
    }
    if matches!(inner.slot, Slot::Idle(_)) {
        let Slot::Idle(journal) = std::mem::take(&mut inner.slot) else {
            unreachable!("checked above")
        };
        let wall = player_core::clock::wall_now_ms();
        match Study::open(
            *journal,
            course,
            &state.policy,
            ChaCha20Rng::from_os_rng(),
            wall,
        ) {
            Ok(s) => inner.slot = Slot::Studying(Box::new(s)),
            Err(e) => {
                inner.slot = Slot::Idle(Box::new(reopen(&state)?));
                return Err(e);
            }
        }
    }
    let study = inner.study()?;
    let view = study.view();
    let resume_ms = view.position_ms;
    crate::start_pending_capture(&app, study);
    let journal = inner.journal()?;
    let mut start = 0;
    let lessons = course
        .lessons
        .iter()
        .map(|l| {
            let d = u64::from(l.media.duration_seconds) * 1000;
            let v = LessonView {
                id: l.id.clone(),
                title: l.title.clone(),
                url: crate::media::lesson_url(&course.id, &l.id),
                start_ms: start,
                duration_ms: d,
            };
            start += d;
            v
        })
        .collect();
    Ok(OpenedCourse {
        course: summary(&state, journal, course)?,
        lessons,
        class_hour_ms: state.policy.class_hour().as_millis() as u64,
        resume_ms,
        view,
    })
}

/// A report from the player (position, play, pause, seek, rate, visibility,
/// activity). The answer is the core's view, with what the player must do.
#[tauri::command(async)]
pub fn player_report<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    report: Report,
) -> AppResult<StudyView> {
    let mut inner = state.lock();
    let study = inner.study()?;
    study.report(report)?;
    crate::start_pending_capture(&app, study);
    Ok(study.view())
}

/// Answers to the quiz due (option indices, in question order).
#[tauri::command(async)]
pub fn quiz_submit(state: State<'_, AppState>, answers: Vec<usize>) -> AppResult<StudyView> {
    let mut inner = state.lock();
    let study = inner.study()?;
    study.answer(answers)?;
    Ok(study.view())
}

/// Closes the course (the breakpoint is already durable).
#[tauri::command(async)]
pub fn course_close(state: State<'_, AppState>) -> AppResult<()> {
    let mut inner = state.lock();
    close_study(&state, &mut inner)?;
    let _ = state.sync_wake.try_send(());
    Ok(())
}

/// Starts a sync round now; progress arrives as `sync` events.
#[tauri::command(async)]
pub fn sync_now<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) -> AppResult<SyncView> {
    let mut view = state.sync_view();
    view.state = "syncing".into();
    let _ = app.emit("sync", &view);
    let _ = state.sync_wake.try_send(());
    Ok(view)
}

/// The last sync status.
#[tauri::command(async)]
pub fn sync_status(state: State<'_, AppState>) -> AppResult<SyncView> {
    let inner = state.lock();
    let mut view = state.sync_view();
    let journal = inner.journal()?;
    view.records = journal.len();
    view.queued = view.records.saturating_sub(view.acknowledged);
    Ok(view)
}

/// The learning proof of one course (R-AS-6): what the signed journal shows.
#[tauri::command(async)]
pub fn learning_proof(state: State<'_, AppState>, course_id: String) -> AppResult<ProofView> {
    let course = state.courses.get(&course_id)?;
    let inner = state.lock();
    let journal = inner.journal()?;
    let progress = progress_of_journal(journal, &course.id)?;
    let mut violations: BTreeMap<String, u32> = BTreeMap::new();
    let mut in_course = false;
    journal.for_each_from(1, |r| {
        if let Ok(p) = r.payload_json() {
            if r.header.kind == "session_start" {
                in_course = p.get("course").and_then(|c| c.as_str()) == Some(&course.id);
            } else if in_course && r.header.kind == "violation" {
                if let Some(k) = p.get("kind").and_then(|k| k.as_str()) {
                    *violations.entry(k.to_owned()).or_default() += 1;
                }
            }
        }
        std::ops::ControlFlow::Continue(())
    })?;
    let (verified, verify_message) = match player_core::verify::verify_journal(journal.path()) {
        Ok(r) => (true, format!("{} records verified", r.records)),
        Err(e) => (false, e.to_string()),
    };
    Ok(ProofView {
        course: summary_of(&state, course, &progress),
        hours: progress
            .hours
            .iter()
            .map(|(h, p)| ProofHour {
                class_hour: *h,
                completed: p.completed,
                captures_passed: p.captures_passed,
                quiz_passed: p.quiz_passed,
                quiz_attempts: p.quiz_attempts,
            })
            .collect(),
        sessions: progress.sessions,
        device_id: journal.device_id().to_hex(),
        records: journal.len(),
        head_hash: journal.head().map(|h| h.1.to_hex()).unwrap_or_default(),
        verified,
        verify_message,
        acknowledged: player_core::sync::acknowledged(journal)?,
        violations: violations.into_iter().collect(),
    })
}

fn summary(state: &AppState, journal: &Journal, c: &Course) -> AppResult<CourseSummary> {
    Ok(summary_of(state, c, &progress_of_journal(journal, &c.id)?))
}

/// A course's summary from progress already folded from the journal.
fn summary_of(state: &AppState, c: &Course, p: &Progress) -> CourseSummary {
    CourseSummary {
        id: c.id.clone(),
        title: c.title.clone(),
        occupation: c.occupation.clone(),
        level: c.level.as_str().into(),
        class_hours_total: c.class_hours(&state.policy),
        class_hours_done: p.class_hours_completed(),
        class_hours_required: state.policy.required(c.level).learner_min,
        credited_ms: p.credited_ms(),
        duration_ms: c.duration_seconds() * 1000,
        position_ms: p.position_ms,
    }
}

/// Closes a running study, giving the journal back to the idle slot.
pub fn close_study(state: &AppState, inner: &mut Inner) -> AppResult<()> {
    if let Slot::Studying(_) = inner.slot {
        let Slot::Studying(study) = std::mem::take(&mut inner.slot) else {
            unreachable!("checked above")
        };
        match study.close() {
            Ok(j) => inner.slot = Slot::Idle(Box::new(j)),
            Err(e) => {
                inner.slot = Slot::Idle(Box::new(reopen(state)?));
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Reopens the journal from its file (after a failed open or a foreign append).
pub fn reopen(state: &AppState) -> AppResult<Journal> {
    Ok(Journal::open(&state.journal_path, state.key.clone())?)
}

fn append_note(inner: &mut Inner, kind: &str, payload: serde_json::Value) -> AppResult<()> {
    let wall = player_core::clock::wall_now_ms();
    let mono = crate::uptime_ms();
    match &mut inner.slot {
        Slot::Idle(j) => {
            j.append(NewRecord::new(kind, payload, wall, mono))?;
        }
        Slot::Studying(s) => {
            s.note(kind, payload)?;
        }
        Slot::Moving => return Err(AppError::new("journal_failed", "journal unavailable")),
    }
    Ok(())
}
