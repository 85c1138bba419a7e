//! Keshi learner app: the thin Tauri v2 shell.
//!
//! `run()` starts the app; `run_app` builds it on any [`Runtime`] so tests can drive
//! it. The shell wires the window, the camera thread, the course-media protocol and
//! a sync thread to `player-core`, which decides everything: the web view is
//! untrusted and only *reports* (R-ST-1…R-ST-6). Window focus and visibility come from
//! the shell's own window events, not from the page (the page can only lower credit).
//!
//! Plugins: single-instance (a second launch focuses the first; R-ID-4), log (file and
//! stdout; `tracing` events are forwarded to it), window-state (size and position).

#![warn(missing_docs)]

mod brand;
mod camera;
mod commands;
mod courses;
mod error;
mod media;
mod state;
mod study;
mod sync_task;
mod view;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tauri::{AppHandle, Emitter, Manager, Runtime, WindowEvent};

pub use error::{AppError, AppResult};
use state::{AppState, Inner, Slot};
use view::{CaptureView, ReasonView};

/// The player window's label (exactly one window).
pub const MAIN_WINDOW: &str = "main";

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Milliseconds since the app started (the monotonic clock of records written
/// outside a study session).
pub fn uptime_ms() -> u64 {
    STARTED.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Starts the app (the binary's `main`).
pub fn run() {
    // A broken brand configuration is an installation error: say so before any
    // window opens.
    if let Err(e) = brand::Brand::load() {
        eprintln!("keshi-app: {}: {}", e.code, e.message);
        std::process::exit(2);
    }
    let app = run_app(tauri::Builder::default(), tauri::generate_context!()).unwrap_or_else(|e| {
        eprintln!("keshi-app: cannot start: {e}");
        std::process::exit(1);
    });
    app.run(|_, _| {});
}

/// Builds the app on runtime `R` with `context`.
pub fn run_app<R: Runtime>(
    builder: tauri::Builder<R>,
    context: tauri::Context<R>,
) -> tauri::Result<tauri::App<R>> {
    uptime_ms();
    let builder = with_single_instance(builder);
    builder
        .plugin(
            tauri_plugin_log::Builder::new()
                .level(log::LevelFilter::Info)
                .level_for("tao", log::LevelFilter::Warn)
                .level_for("wry", log::LevelFilter::Warn)
                .build(),
        )
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .register_uri_scheme_protocol(media::SCHEME, |ctx, request| {
            let state = ctx.app_handle().state::<AppState>();
            let range = request
                .headers()
                .get(tauri::http::header::RANGE)
                .and_then(|v| v.to_str().ok());
            media::respond(&state.courses, request.uri().path(), range)
        })
        .setup(|app| {
            let state = init_state(app.handle()).map_err(|e| {
                tracing::error!(error = %e, "cannot start");
                Box::new(e) as Box<dyn std::error::Error>
            })?;
            app.manage(state);
            start_ticker(app.handle().clone());
            sync_task::start(app.handle().clone());
            Ok(())
        })
        .on_window_event(|window, event| {
            if let WindowEvent::Focused(focused) = event {
                let app = window.app_handle();
                if let Some(state) = app.try_state::<AppState>() {
                    let mut inner = state.lock();
                    if let Ok(study) = inner.study() {
                        if let Err(e) = study.set_focused(*focused) {
                            tracing::error!(error = %e, "focus change not recorded");
                        }
                        let view = study.view();
                        let _ = app.emit("study", &view);
                    }
                }
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::sign_in,
            commands::sign_out,
            commands::camera_status,
            commands::camera_preview,
            commands::liveness_start,
            commands::liveness_check,
            commands::courses,
            commands::course_open,
            commands::player_report,
            commands::quiz_submit,
            commands::course_close,
            commands::sync_now,
            commands::sync_status,
            commands::learning_proof,
        ])
        .build(context)
}

#[cfg(desktop)]
fn with_single_instance<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    // Registered first: a second launch hands over to the first and exits before
    // opening the journal (R-ID-4).
    builder.plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
        tracing::info!("second launch: focusing the running app");
        if let Some(w) = app.get_webview_window(MAIN_WINDOW) {
            let _ = w.unminimize();
            let _ = w.show();
            let _ = w.set_focus();
        }
    }))
}

#[cfg(not(desktop))]
fn with_single_instance<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
}

fn home_dir<R: Runtime>(app: &AppHandle<R>) -> AppResult<PathBuf> {
    if let Some(h) = std::env::var_os("KESHI_HOME") {
        return Ok(PathBuf::from(h));
    }
    app.path()
        .app_data_dir()
        .map_err(|e| AppError::new("home_unavailable", e.to_string()))
}

fn init_state<R: Runtime>(app: &AppHandle<R>) -> AppResult<AppState> {
    let brand = brand::Brand::load()?;
    let policy = player_core::policy::Policy::by_id(&brand.profile)
        .map_err(|e| AppError::new("brand_invalid", e.to_string()))?;
    let home = home_dir(app)?;
    std::fs::create_dir_all(&home)
        .map_err(|e| AppError::new("home_unavailable", format!("{}: {e}", home.display())))?;
    let store = player_core::identity::KeyStore::auto(&home)
        .map_err(|e| AppError::new("key_store", e.to_string()))?;
    let key = Arc::new(
        player_core::identity::DeviceKey::load_or_create(&store)
            .map_err(|e| AppError::new("key_store", e.to_string()))?,
    );
    let journal_path = home.join("journal.db");
    let journal = player_core::journal::Journal::open(&journal_path, key.clone())?;
    let course_root = std::env::var_os("KESHI_COURSES")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join("courses"));
    let courses = courses::CourseStore::load(&course_root);
    tracing::info!(
        home = %home.display(),
        courses = courses.iter().count(),
        rejected = courses.rejected.len(),
        platform = %brand.platform_url,
        profile = %policy.id,
        "Keshi started"
    );
    let blobs = capture::blob::BlobStore::open(home.join("captures"))?;
    let camera = camera::Camera::start(blobs)?;
    let (sync_wake, sync_rx) = std::sync::mpsc::sync_channel(1);
    let signed_in = journal
        .sync_state(player_core::sync::KEY_STATUS)?
        .is_some_and(|s| s != "signed_out" && s != "lease_revoked");
    let lease: Option<player_core::sync::wire::LoginResponse> = journal
        .sync_state(player_core::sync::KEY_LEASE)?
        .and_then(|l| serde_json::from_str(&l).ok());
    let user = journal.sync_state(crate::state::KEY_USER)?;
    let view = sync_task::idle_view(&journal)?;
    Ok(AppState {
        brand,
        policy,
        journal_path,
        key,
        courses,
        camera,
        inner: Mutex::new(Inner {
            slot: Slot::Idle(Box::new(journal)),
            challenge: None,
            // A stored lease keeps the learner signed in across restarts; the face
            // check is asked again at every start (R-ID-2).
            verified: false,
            learner_id: lease
                .as_ref()
                .filter(|_| signed_in)
                .map(|l| l.learner_id.clone()),
            user: user.filter(|_| signed_in),
        }),
        sync: Mutex::new(view),
        sync_wake,
        sync_rx: Mutex::new(Some(sync_rx)),
    })
}

/// Every second: time passes for the core, the window's shown/minimised state is
/// read from the shell, and the view goes to the page.
fn start_ticker<R: Runtime>(app: AppHandle<R>) {
    std::thread::Builder::new()
        .name("keshi-ticker".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(1000));
            let shown = app
                .get_webview_window(MAIN_WINDOW)
                .map(|w| w.is_visible().unwrap_or(true) && !w.is_minimized().unwrap_or(false))
                .unwrap_or(true);
            let state = app.state::<AppState>();
            let mut inner = state.lock();
            let Ok(study) = inner.study() else { continue };
            if let Err(e) = study.set_window_shown(shown).and_then(|_| study.tick()) {
                tracing::error!(error = %e, "tick not recorded");
            }
            start_pending_capture(&app, study);
            let view = study.view();
            drop(inner);
            let _ = app.emit("study", &view);
        })
        .expect("spawn the ticker thread");
}

/// Starts the capture the core asked for, on its own thread; the answer goes back
/// into the core as `Input::Capture` and the details into the journal.
pub(crate) fn start_pending_capture<R: Runtime>(app: &AppHandle<R>, study: &mut study::Study) {
    let Some((id, class_hour)) = study.take_capture_request() else {
        return;
    };
    let course_id = study.course_id().to_owned();
    let app = app.clone();
    let _ = app.emit(
        "capture",
        view::CaptureEvent {
            id: id.clone(),
            class_hour,
            state: "taking".into(),
        },
    );
    std::thread::spawn(move || {
        let state = app.state::<AppState>();
        let learner = state.lock().learner_id.clone().unwrap_or_default();
        let meta = capture::SnapshotMeta {
            captured_at_ms: player_core::clock::wall_now_ms(),
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
                        code: e.code.clone(),
                        zh: "摄像头无法使用".into(),
                        en: "The camera could not be used".into(),
                    }],
                    faces: 0,
                },
                None,
                serde_json::json!({"error": e.code, "message": e.message}),
            ),
        };
        let passed = view.passed;
        let mut inner = state.lock();
        if let Ok(study) = inner.study() {
            if let Err(e) = study.capture_done(&id, view, sha, detail) {
                tracing::error!(error = %e, "capture result not recorded");
            }
            let v = study.view();
            drop(inner);
            let _ = app.emit("study", &v);
        }
        let _ = app.emit(
            "capture",
            view::CaptureEvent {
                id,
                class_hour,
                state: if passed { "passed" } else { "failed" }.into(),
            },
        );
    });
}

/// A capture outcome in the learner's words.
pub(crate) fn capture_view(o: &capture::CaptureOutcome) -> CaptureView {
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
