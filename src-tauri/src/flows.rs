//! The shell's own glue, kept out of the command bodies: what needs the camera, the
//! window or Tauri events beside the study service (liveness with the camera, the
//! class-hour capture thread, background verification, the app info).

use base64::Engine as _;
use player_core::study::view::{
    AppInfo, CaptureEvent, CaptureState, CaptureView, Challenge, ReasonView, SyncState, SyncView,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::error::{AppCode, AppError, AppResult};
use crate::state::{lock, AppState};

/// Brand, profile, device and sign-in state.
pub fn app_info(state: &AppState) -> AppInfo {
    let profile = state.service.policy();
    let signed_in = state.service.signed_in();
    AppInfo {
        brand_zh: state.brand.brand_zh.clone(),
        brand_en: state.brand.brand_en.clone(),
        platform_url: state.brand.platform_url.clone(),
        profile_id: profile.id.clone(),
        profile_zh: profile.name_zh.clone(),
        profile_en: profile.name_en.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        device_id: state.service.device_id(),
        signed_in: signed_in.is_some(),
        user: signed_in.as_ref().map(|s| s.0.clone()),
        verified: signed_in.is_some_and(|s| s.2),
        test_camera: cfg!(feature = "test-camera"),
    }
}

/// One preview frame as a `data:` URL.
pub fn preview_url(state: &AppState) -> AppResult<String> {
    let jpeg = state.camera.preview()?;
    Ok(format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(jpeg)
    ))
}

/// Picks the login challenge at random and keeps it until the check.
pub fn liveness_start(state: &AppState) -> AppResult<Challenge> {
    state.service.require_signed_in()?;
    let c = capture::Challenge::pick(&mut ChaCha20Rng::from_os_rng());
    let view = Challenge {
        code: c.code().into(),
        prompt_zh: c.prompt_zh().into(),
        prompt_en: c.prompt_en().into(),
    };
    *lock(&state.challenge) = Some(c);
    Ok(view)
}

/// Runs the login check (the camera works without any lock held) and records it.
pub fn liveness_check(state: &AppState) -> AppResult<CaptureView> {
    let challenge = lock(&state.challenge)
        .take()
        .ok_or_else(|| AppError::new(AppCode::NoChallenge, "start the check first"))?;
    let learner = state.service.require_signed_in()?;
    let meta = capture::SnapshotMeta {
        captured_at_ms: crate::wall_now_ms(),
        learner_id: learner,
        course_id: String::new(),
        class_hour: None,
        purpose: capture::CapturePurpose::Login,
    };
    let result = state.camera.capture(Some(challenge), meta)?;
    let view = capture_view(&result.outcome);
    let detail = serde_json::to_value(&result.outcome)
        .map_err(|e| AppError::new(AppCode::JournalFailed, e.to_string()))?;
    state.service.record_login_check(view.passed, detail)?;
    Ok(view)
}

/// "Sync now": wakes the sync thread; the page sees `syncing` at once.
pub fn sync_now(state: &AppState) -> SyncView {
    let mut view = state.service.sync_view();
    view.state = SyncState::Syncing;
    state.wake_sync();
    view
}

/// Downloads a course, telling the page how far it is (`download` events, at most
/// ten a second).
pub fn fetch_course<R: Runtime>(app: &AppHandle<R>, state: &AppState, id: &str) -> AppResult<()> {
    let mut last = std::time::Instant::now();
    state.service.fetch_course(
        id,
        &mut |p| {
            if last.elapsed() >= std::time::Duration::from_millis(100) || p.files_done == p.files {
                last = std::time::Instant::now();
                let _ = app.emit("download", p);
            }
        },
        &mut std::thread::sleep,
    )
}

/// Runs `f` on a blocking thread (network calls, long disk work) and waits for it
/// without holding an async worker.
pub async fn blocking<R: Runtime, T: Send + 'static>(
    app: AppHandle<R>,
    f: impl FnOnce(&AppState) -> AppResult<T> + Send + 'static,
) -> AppResult<T> {
    match tauri::async_runtime::spawn_blocking(move || f(&app.state::<AppState>())).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "a blocking command task failed");
            Err(AppError::new(AppCode::Unexpected, e.to_string()))
        }
    }
}

/// Verifies the whole journal on a thread of its own (one at a time) and tells the
/// page (`verified` event); the learning proof shows the last result and its time.
pub fn verify_in_background<R: Runtime>(app: &AppHandle<R>) {
    let state = app.state::<AppState>();
    {
        let mut running = lock(&state.verifying);
        if *running {
            return;
        }
        *running = true;
    }
    let app = app.clone();
    let spawned = std::thread::Builder::new()
        .name("keshi-verify".into())
        .spawn(move || {
            let state = app.state::<AppState>();
            let ok = state.service.verify_journal();
            *lock(&state.verifying) = false;
            let _ = app.emit("verified", ok);
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the verification thread");
        *lock(&state.verifying) = false;
    }
}

/// Starts the capture the core asked for, on its own thread; the answer goes back
/// into the core (`capture_done`) and the camera's details into the journal.
pub fn start_pending_capture<R: Runtime>(app: &AppHandle<R>) {
    let state = app.state::<AppState>();
    let Some((id, class_hour, course_id)) = state.service.take_capture_request() else {
        return;
    };
    let _ = app.emit(
        "capture",
        CaptureEvent {
            id: id.clone(),
            class_hour,
            state: CaptureState::Taking,
        },
    );
    let app = app.clone();
    std::thread::spawn(move || {
        let state = app.state::<AppState>();
        let learner = state
            .service
            .signed_in()
            .and_then(|s| s.1)
            .unwrap_or_default();
        let meta = capture::SnapshotMeta {
            captured_at_ms: crate::wall_now_ms(),
            learner_id: learner,
            course_id,
            class_hour: Some(class_hour),
            purpose: capture::CapturePurpose::ClassHour,
        };
        let (view, sha, detail) = match state.camera.capture(None, meta) {
            Ok(r) => (
                capture_view(&r.outcome),
                r.outcome.image_sha256.clone(),
                serde_json::to_value(&r.outcome).unwrap_or_default(),
            ),
            Err(e) => (
                CaptureView {
                    passed: false,
                    reasons: vec![ReasonView {
                        code: e.code.as_str().into(),
                        zh: "摄像头无法使用".into(),
                        en: "The camera could not be used".into(),
                    }],
                    faces: 0,
                },
                None,
                serde_json::json!({"error": e.code.as_str(), "message": e.message}),
            ),
        };
        let passed = view.passed;
        match state.service.capture_done(&id, view, sha, detail) {
            Ok(v) => {
                let _ = app.emit("study", &v);
            }
            Err(e) => tracing::error!(error = %e, "capture result not recorded"),
        }
        let _ = app.emit(
            "capture",
            CaptureEvent {
                id,
                class_hour,
                state: if passed {
                    CaptureState::Passed
                } else {
                    CaptureState::Failed
                },
            },
        );
    });
}

/// A capture outcome in the learner's words.
pub fn capture_view(o: &capture::CaptureOutcome) -> CaptureView {
    CaptureView {
        passed: o.verdict == capture::Verdict::Accept,
        reasons: o
            .reasons
            .iter()
            .map(|r| ReasonView {
                code: r.code().into(),
                zh: r.text_zh().into(),
                en: r.text_en().into(),
            })
            .collect(),
        faces: o.faces,
    }
}
