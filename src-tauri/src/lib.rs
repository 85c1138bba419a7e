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
mod error;
mod flows;
mod media;
mod state;
mod sync_task;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use player_core::clock::SystemClock;
use player_core::courses::CourseStore;
use player_core::study::{StudyConfig, StudyService};
use tauri::{AppHandle, Emitter, Manager, Runtime, WindowEvent};

pub use error::{AppCode, AppError, AppResult};
use state::AppState;

/// The player window's label (exactly one window).
pub const MAIN_WINDOW: &str = "main";

/// Current wall time, Unix ms (photos' timestamps; the core takes time from the
/// service's clock).
pub fn wall_now_ms() -> i64 {
    player_core::clock::wall_now_ms()
}

/// Starts the app (the binary's `main`; the mobile entry point on phones).
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    harden_environment();
    // A broken brand configuration is an installation error: say so before any
    // window opens.
    if let Err(e) = brand::Brand::load() {
        eprintln!("keshi-app: {}: {}", e.code.as_str(), e.message);
        std::process::exit(2);
    }
    // Process-level plugins live here, not in `run_app` (tests drive `run_app` on the
    // mock runtime): single-instance (registered first, so a second launch focuses
    // the first and exits before it opens the journal — R-ID-4) and the window's
    // saved size and position.
    let builder = with_single_instance(tauri::Builder::default())
        .plugin(tauri_plugin_window_state::Builder::default().build());
    let app = run_app(builder, tauri::generate_context!()).unwrap_or_else(|e| {
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
    builder
        .plugin(
            tauri_plugin_log::Builder::new()
                .level(log::LevelFilter::Info)
                .level_for("tao", log::LevelFilter::Warn)
                .level_for("wry", log::LevelFilter::Warn)
                .build(),
        )
        .register_uri_scheme_protocol(media::SCHEME, |ctx, request| {
            let state = ctx.app_handle().state::<AppState>();
            let range = request
                .headers()
                .get(tauri::http::header::RANGE)
                .and_then(|v| v.to_str().ok());
            media::respond(&state.service.courses_store(), request.uri().path(), range)
        })
        .setup(|app| {
            let state = init_state(app.handle()).map_err(|e| {
                tracing::error!(error = %e, "cannot start");
                Box::new(e) as Box<dyn std::error::Error>
            })?;
            app.manage(state);
            start_ticker(app.handle().clone())?;
            sync_task::start(app.handle().clone())?;
            // A first verification of the journal, off the UI path.
            flows::verify_in_background(app.handle());
            Ok(())
        })
        .on_window_event(|window, event| {
            if let WindowEvent::Focused(focused) = event {
                let app = window.app_handle();
                if let Some(state) = app.try_state::<AppState>() {
                    match state.service.set_focused(*focused) {
                        Ok(view) => {
                            let _ = app.emit("study", &view);
                        }
                        Err(e) if e.code == AppCode::NoSession.into() => {}
                        Err(e) => tracing::error!(error = %e, "focus change not recorded"),
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
            commands::platform_courses,
            commands::course_fetch,
            commands::set_first_password,
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

/// Variables that would let a driver or a debugger steer the web view: WebKit
/// automation (WebDriver), WebKitGTK's remote inspector, WebView2's extra browser
/// arguments (`--remote-debugging-port`). A release build removes them before any
/// web view exists (issue 11): the attendance evidence must not be scriptable from
/// outside. Debug builds keep them (the end-to-end tests drive the app).
const AUTOMATION_VARS: &[&str] = &[
    "TAURI_WEBVIEW_AUTOMATION",
    "WEBKIT_INSPECTOR_SERVER",
    "WEBKIT_INSPECTOR_HTTP_SERVER",
    "WEBVIEW2_ADDITIONAL_BROWSER_ARGUMENTS",
];

fn harden_environment() {
    if cfg!(debug_assertions) {
        return;
    }
    for var in AUTOMATION_VARS {
        if std::env::var_os(var).is_some() {
            eprintln!("keshi-app: ignoring {var} (release build)");
            // Single-threaded here: run() calls this before the runtime starts.
            std::env::remove_var(var);
        }
    }
}

/// A `KESHI_*` override (home, courses, brand, platform): honoured in debug builds
/// only (tests, the demo). A release build reads its brand and folders, never the
/// environment (issue 11).
pub(crate) fn dev_override(name: &str) -> Option<std::ffi::OsString> {
    if cfg!(debug_assertions) {
        std::env::var_os(name)
    } else {
        None
    }
}

fn home_dir<R: Runtime>(app: &AppHandle<R>) -> AppResult<PathBuf> {
    if let Some(h) = dev_override("KESHI_HOME") {
        return Ok(PathBuf::from(h));
    }
    app.path()
        .app_data_dir()
        .map_err(|e| AppError::new(AppCode::HomeUnavailable, e.to_string()))
}

/// `KESHI_KEYSTORE` (`os` or `file`): honoured in debug builds only (tests and CI
/// have no D-Bus session). A release build chooses by itself: the OS key store,
/// the key file only where none exists, never because an environment variable says.
fn keystore_choice() -> Option<String> {
    if cfg!(debug_assertions) {
        std::env::var(player_core::identity::KEYSTORE_ENV).ok()
    } else {
        None
    }
}

fn init_state<R: Runtime>(app: &AppHandle<R>) -> AppResult<AppState> {
    let brand = brand::Brand::load()?;
    let policy = player_core::policy::Policy::by_id(&brand.profile)
        .map_err(|e| AppError::new(AppCode::BrandInvalid, e.to_string()))?;
    let home = home_dir(app)?;
    std::fs::create_dir_all(&home)
        .map_err(|e| AppError::new(AppCode::HomeUnavailable, format!("{}: {e}", home.display())))?;
    let store = player_core::identity::KeyStore::from_choice(&home, keystore_choice().as_deref())
        .map_err(|e| AppError::new(AppCode::KeyStore, e.to_string()))?;
    let key = Arc::new(
        player_core::identity::DeviceKey::load_or_create(&store)
            .map_err(|e| AppError::new(AppCode::KeyStore, e.to_string()))?,
    );
    let course_root = dev_override("KESHI_COURSES")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join("courses"));
    let courses = CourseStore::load(&course_root);
    tracing::info!(
        home = %home.display(),
        courses = courses.iter().count(),
        rejected = courses.rejected.len(),
        platform = %brand.platform_url,
        profile = %policy.id,
        "Keshi started"
    );
    let service = StudyService::open(StudyConfig {
        journal_path: home.join("journal.db"),
        key,
        policy,
        courses,
        course_root,
        platform_url: brand.platform_url.clone(),
        platform_key: brand.platform_key()?,
        clock: Arc::new(SystemClock::new()),
        // The camera's photo store (capture::blob::BlobStore) under the same root.
        photos: player_core::sync::PhotoStore::new(home.join("captures")),
    })?;
    let blobs =
        capture::blob::BlobStore::open(home.join("captures")).map_err(error::from_capture)?;
    let camera = camera::Camera::start(blobs)?;
    let (sync_wake, sync_rx) = std::sync::mpsc::sync_channel(1);
    Ok(AppState {
        brand,
        service,
        camera,
        challenge: Mutex::new(None),
        sync_wake,
        sync_rx: Mutex::new(Some(sync_rx)),
        verifying: Mutex::new(false),
    })
}

/// Every second: time passes for the core, the window's shown/minimised state is
/// read from the shell, and the view goes to the page.
fn start_ticker<R: Runtime>(app: AppHandle<R>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("keshi-ticker".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(1000));
            let shown = app
                .get_webview_window(MAIN_WINDOW)
                .map(|w| w.is_visible().unwrap_or(true) && !w.is_minimized().unwrap_or(false))
                .unwrap_or(true);
            let state = app.state::<AppState>();
            match state.service.tick(shown) {
                None => continue,
                Some(Ok(view)) => {
                    let _ = app.emit("study", &view);
                }
                Some(Err(e)) => tracing::error!(error = %e, "tick not recorded"),
            }
            flows::start_pending_capture(&app);
        })
        .map(|_| ())
}
