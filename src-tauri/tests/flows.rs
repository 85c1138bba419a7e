//! The shell's flows through its IPC layer, on Tauri's mock runtime (no window, no
//! web view): every command is invoked as the page invokes it, against a real
//! platform on loopback and a real journal. What the gates refuse, what a sign-in,
//! the face check (the test camera plays a real photo acting out the challenge),
//! opening a course, playing and closing do — and what the errors' codes are.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::Manager;

fn invoke<W: AsRef<tauri::Webview<tauri::test::MockRuntime>>>(
    w: &W,
    cmd: &str,
    args: Value,
) -> Result<Value, Value> {
    get_ipc_response(
        w,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            // The app protocol on Linux and macOS (`http://tauri.localhost` on Windows).
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|b| b.deserialize::<Value>().unwrap())
}

fn code(e: &Value) -> &str {
    e["code"].as_str().unwrap_or("<no code>")
}

/// A platform on 127.0.0.1 with one learner, in this process.
fn platform(dir: &std::path::Path) -> (String, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(async {
        let store =
            keshi_platform::Store::connect(&format!("sqlite:{}", dir.join("p.db").display()))
                .await
                .unwrap();
        let inst = store.create_institution("Flow School", 0).await.unwrap();
        keshi_platform::create_learner(
            &store,
            &inst,
            "flow",
            "pw-flow",
            "王五",
            "110101199001011234",
            None,
            0,
        )
        .await
        .unwrap();
        let state = keshi_platform::AppState::new(
            store,
            keshi_platform::Config::default(),
            keshi_platform::api::system_clock(),
            Arc::new(keshi_platform::blob::DiskBlobStore::new(dir.join("blobs")).unwrap()),
        )
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(keshi_platform::api::serve(
            listener,
            state,
            std::future::pending(),
        ));
        url
    });
    (url, rt)
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(secs) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn sign_in_face_check_study_and_sync_through_the_ipc_layer() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _rt) = platform(dir.path());
    // The demo course (one 2-minute class hour under the `demo` profile).
    let courses = dir.path().join("courses/demo");
    std::fs::create_dir_all(&courses).unwrap();
    std::fs::write(
        courses.join("course.json"),
        keshi_protocol_demo_course().to_string(),
    )
    .unwrap();
    let photos = std::env::var("KESHI_TEST_IMAGES").expect("KESHI_TEST_IMAGES (test.sh sets it)");
    let camera = dir.path().join("camera.txt");
    std::fs::write(&camera, format!("{photos}/astronaut.png")).unwrap();
    // Process-wide settings the debug build honours (this test is alone in its binary).
    std::env::set_var("KESHI_HOME", dir.path().join("home"));
    std::env::set_var("KESHI_KEYSTORE", "file");
    std::env::set_var("KESHI_COURSES", dir.path().join("courses"));
    std::env::set_var("KESHI_PLATFORM_URL", &url);
    std::env::set_var("KESHI_BRAND", write_brand(dir.path(), &url));
    std::env::set_var("KESHI_TEST_CAMERA", &camera);

    let mut app = keshi_app::run_app(mock_builder(), tauri::generate_context!()).unwrap();
    // One turn of the (mock) event loop runs the app's `setup`: state, ticker, sync.
    #[allow(deprecated)]
    app.run_iteration(|_, _| {});
    // The configured main window (tauri.conf.json), made by setup.
    let w = app
        .get_webview_window(keshi_app::MAIN_WINDOW)
        .expect("the main window");

    let info = invoke(&w, "app_info", json!({})).unwrap();
    assert_eq!(info["signedIn"], false);
    assert_eq!(info["platformUrl"], url.as_str());
    // Gates: nothing before sign-in.
    let e = invoke(
        &w,
        "course_open",
        json!({"courseId": "demo-electrician-1x2min"}),
    )
    .unwrap_err();
    assert_eq!(code(&e), "not_signed_in", "{e}");
    assert_eq!(
        code(&invoke(&w, "liveness_start", json!({})).unwrap_err()),
        "not_signed_in"
    );
    // The platform's refusal crosses with its own code.
    let e = invoke(&w, "sign_in", json!({"user": "flow", "password": "wrong"})).unwrap_err();
    assert_eq!(code(&e), "invalid_credentials", "{e}");
    let acct = invoke(
        &w,
        "sign_in",
        json!({"user": "flow", "password": "pw-flow"}),
    )
    .unwrap();
    assert_eq!(acct["user"], "flow");
    let list = invoke(&w, "courses", json!({})).unwrap();
    let course = list[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list[0]["classHoursDone"], 0);
    assert_eq!(list[0]["level"], "junior");
    // No course before the face check (R-ID-2).
    let e = invoke(&w, "course_open", json!({"courseId": course})).unwrap_err();
    assert_eq!(code(&e), "not_verified", "{e}");
    assert_eq!(
        code(&invoke(&w, "liveness_check", json!({})).unwrap_err()),
        "no_challenge"
    );
    let ch = invoke(&w, "liveness_start", json!({})).unwrap();
    assert!(ch["code"].is_string());
    let seen = invoke(&w, "liveness_check", json!({})).unwrap();
    assert_eq!(seen["passed"], true, "{seen}");
    assert_eq!(invoke(&w, "app_info", json!({})).unwrap()["verified"], true);
    assert_eq!(
        code(&invoke(&w, "course_open", json!({"courseId": "nope"})).unwrap_err()),
        "course_not_found"
    );
    let opened = invoke(&w, "course_open", json!({"courseId": course})).unwrap();
    assert_eq!(opened["resumeMs"], 0);
    assert_eq!(opened["lessons"].as_array().unwrap().len(), 2);
    // Play for three seconds, reporting the position every second as the page does.
    invoke(&w, "player_report", json!({"report": {"kind": "play"}})).unwrap();
    let mut view = Value::Null;
    for s in 1..=3u64 {
        std::thread::sleep(Duration::from_secs(1));
        view = invoke(
            &w,
            "player_report",
            json!({"report": {"kind": "position", "posMs": s * 1000}}),
        )
        .unwrap();
    }
    assert_eq!(view["playing"], true, "{view}");
    let credited = view["creditedMs"].as_u64().unwrap();
    assert!((1_500..=4_000).contains(&credited), "{view}");
    // A seek ahead is refused and snapped back (R-ST-1).
    let v = invoke(
        &w,
        "player_report",
        json!({"report": {"kind": "seek", "toMs": 100_000}}),
    )
    .unwrap();
    assert!(
        v["commands"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["do"] == "set_position"),
        "{v}"
    );
    invoke(&w, "course_close", json!({})).unwrap();
    let e = invoke(&w, "player_report", json!({"report": {"kind": "play"}})).unwrap_err();
    assert_eq!(code(&e), "no_session");
    // The proof comes from the index; verification runs in the background.
    let proof = invoke(&w, "learning_proof", json!({"courseId": course})).unwrap();
    assert!(proof["records"].as_u64().unwrap() > 5);
    wait_for("the background verification", 30, || {
        invoke(&w, "learning_proof", json!({"courseId": course})).unwrap()["verified"] == true
    });
    // Sync: the round the close woke uploads everything.
    invoke(&w, "sync_now", json!({})).unwrap();
    wait_for("sync", 30, || {
        invoke(&w, "sync_status", json!({})).unwrap()["state"] == "synced"
    });
    let status = invoke(&w, "sync_status", json!({})).unwrap();
    assert_eq!(status["queued"], 0, "{status}");
    assert_eq!(status["acknowledged"], status["records"]);
    invoke(&w, "sign_out", json!({})).unwrap();
    assert_eq!(
        invoke(&w, "app_info", json!({})).unwrap()["signedIn"],
        false
    );
}

fn write_brand(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let p = dir.join("brand.json");
    std::fs::write(
        &p,
        json!({"brand_zh": "测试学校", "brand_en": "Test School", "platform_url": url, "profile": "demo"})
            .to_string(),
    )
    .unwrap();
    p
}

/// The one-class-hour demo course with 2-minute class hours (the app's demo).
fn keshi_protocol_demo_course() -> Value {
    player_core::demo::course_with(1, 2, 2)
}
