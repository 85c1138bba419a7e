//! Everything that crosses to the learner app's web view, typed. TypeScript
//! bindings are generated from these types by `ts-rs` into `ui/src/bindings/`
//! (feature `ts`; `cargo test --all-features` writes them, CI fails when the
//! committed copy differs). Codes are enums (string unions in TypeScript), never
//! free strings.
//!
//! The view is *derived*: every number here comes from `player-core`'s state, never
//! from what the web view reported.

use serde::{Deserialize, Serialize};

pub use super::codes::{AppCode, ErrorCode};
pub use crate::playback::NotCounting;
use keshi_protocol::fact::ViolationKind;
use keshi_protocol::policy::Level;

/// Where generated bindings go (relative to `TS_RS_EXPORT_DIR`, default `./bindings`).
macro_rules! exported {
    ($item:item) => {
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[cfg_attr(
            feature = "ts",
            derive(ts_rs::TS),
            ts(export, export_to = "../../ui/src/bindings/")
        )]
        $item
    };
}

exported! {
/// Brand and build facts the UI shows.
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    /// Institution brand, Chinese.
    pub brand_zh: String,
    /// Institution brand, English.
    pub brand_en: String,
    /// Platform the app signs in to.
    pub platform_url: String,
    /// Policy profile in force.
    pub profile_id: String,
    /// Profile name, Chinese.
    pub profile_zh: String,
    /// Profile name, English.
    pub profile_en: String,
    /// App version.
    pub version: String,
    /// This device's id (hex of the key hash).
    pub device_id: String,
    /// Signed in (a lease is stored)?
    pub signed_in: bool,
    /// The learner's login name, when signed in.
    pub user: Option<String>,
    /// Login liveness check passed in this run of the app.
    pub verified: bool,
    /// Built with the test camera (never in releases).
    pub test_camera: bool,
}
}

exported! {
/// The result of signing in.
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// Login name.
    pub user: String,
    /// Learner id on the platform.
    pub learner_id: String,
    /// Enrolled device id.
    pub device_id: String,
    /// Lease expiry, Unix ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub lease_expires_ms: i64,
    /// Offline study allowed until, Unix ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub offline_until_ms: i64,
}
}

exported! {
/// Camera availability.
#[serde(rename_all = "camelCase")]
pub struct CameraStatus {
    /// A camera can be used.
    pub available: bool,
    /// Camera names.
    pub devices: Vec<String>,
    /// Why not.
    pub error_code: Option<ErrorCode>,
    /// Why not, Chinese.
    pub error_zh: Option<String>,
    /// Why not, English.
    pub error_en: Option<String>,
}
}

exported! {
/// The login liveness challenge.
#[serde(rename_all = "camelCase")]
pub struct Challenge {
    /// Stable code.
    pub code: String,
    /// What to do, Chinese.
    pub prompt_zh: String,
    /// What to do, English.
    pub prompt_en: String,
}
}

exported! {
/// A reason a capture failed, with plain words.
#[serde(rename_all = "camelCase")]
pub struct ReasonView {
    /// Stable code.
    pub code: String,
    /// Chinese.
    pub zh: String,
    /// English.
    pub en: String,
}
}

exported! {
/// A capture's outcome as the learner sees it.
#[serde(rename_all = "camelCase")]
pub struct CaptureView {
    /// Passed.
    pub passed: bool,
    /// Why not.
    pub reasons: Vec<ReasonView>,
    /// Faces seen in the kept frame.
    pub faces: u32,
}
}

exported! {
/// One course in the list.
#[serde(rename_all = "camelCase")]
pub struct CourseSummary {
    /// Course id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Occupation.
    pub occupation: String,
    /// Level (R-AS-3).
    pub level: Level,
    /// Class hours in the courseware.
    pub class_hours_total: u32,
    /// Class hours completed (watched, captures and quiz passed).
    pub class_hours_done: u32,
    /// Class hours a learner must complete at this level (R-AS-3).
    pub class_hours_required: u32,
    /// Credited ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub credited_ms: u64,
    /// Course length, ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub duration_ms: u64,
    /// Breakpoint, ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub position_ms: u64,
}
}

exported! {
/// A course the learner is enrolled in on the platform (issue 12): downloaded to
/// this device or not yet.
#[serde(rename_all = "camelCase")]
pub struct PlatformCourse {
    /// Course id.
    pub id: String,
    /// Title.
    pub title: String,
    /// The institution that publishes it.
    pub institution: String,
    /// Version on the platform.
    pub version: u32,
    /// Class hours.
    pub class_hours: u32,
    /// Size of its media, bytes.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub media_bytes: u64,
    /// Whether this device holds a checked copy of this version.
    pub downloaded: bool,
}
}

exported! {
/// How far a course download is (`download` events).
#[serde(rename_all = "camelCase")]
pub struct DownloadView {
    /// Course id.
    pub course_id: String,
    /// Media files complete.
    pub files_done: u32,
    /// Media files in all.
    pub files: u32,
    /// Bytes held.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub bytes_done: u64,
    /// Bytes in all.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub bytes: u64,
}
}

exported! {
/// One lesson of an opened course.
#[serde(rename_all = "camelCase")]
pub struct LessonView {
    /// Lesson id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Media URL on the course-media protocol.
    pub url: String,
    /// Start on the course timeline, ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub start_ms: u64,
    /// Length, ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub duration_ms: u64,
}
}

exported! {
/// An opened course.
#[serde(rename_all = "camelCase")]
pub struct OpenedCourse {
    /// Course summary.
    pub course: CourseSummary,
    /// Lessons in order.
    pub lessons: Vec<LessonView>,
    /// Class hour length, ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub class_hour_ms: u64,
    /// Where to resume (the breakpoint, R-ST-2).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub resume_ms: u64,
    /// The first view.
    pub view: StudyView,
}
}

exported! {
/// A quiz question (no answer).
#[serde(rename_all = "camelCase")]
pub struct QuestionView {
    /// Id.
    pub id: String,
    /// Text.
    pub text: String,
    /// Options.
    pub options: Vec<String>,
}
}

exported! {
/// The quiz due now.
#[serde(rename_all = "camelCase")]
pub struct QuizView {
    /// Class hour.
    pub class_hour: u32,
    /// Attempt (1-based).
    pub attempt: u32,
    /// Questions.
    pub questions: Vec<QuestionView>,
    /// Share of right answers needed, e.g. 0.6.
    pub pass_ratio: f64,
}
}

exported! {
/// A quiz paused after a round of failed attempts (R-AS-1).
#[serde(rename_all = "camelCase")]
pub struct QuizCooldownView {
    /// Class hour.
    pub class_hour: u32,
    /// When the next attempt opens, Unix ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub until_ms: i64,
}
}

exported! {
/// A quiz result.
#[serde(rename_all = "camelCase")]
pub struct QuizResultView {
    /// Class hour.
    pub class_hour: u32,
    /// Passed.
    pub passed: bool,
    /// Right answers.
    pub correct: u32,
    /// Questions.
    pub total: u32,
}
}

exported! {
/// A period of study that did not count, and why.
#[serde(rename_all = "camelCase")]
pub struct ViolationView {
    /// Which rule.
    pub code: ViolationKind,
    /// Session time, ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub at_ms: u64,
}
}

exported! {
/// Something the player must do now (the core's decision).
#[serde(tag = "do", rename_all = "snake_case")]
pub enum PlayerCommand {
    /// Put the playhead here (a refused seek snaps back).
    SetPosition {
        /// Course ms.
        #[serde(rename = "posMs")]
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        pos_ms: u64,
    },
    /// Put the rate back to 1.0.
    SetRate {
        /// The only rate.
        rate: f64,
    },
    /// Pause (quiz due, capture failed, course ended).
    Pause,
}
}

exported! {
/// The capture moment, while it lasts.
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CaptureMoment {
    /// Taking the photo now (brief notice).
    Taking,
    /// Failed: playback is held until a capture passes.
    Failed {
        /// Why.
        result: CaptureView,
    },
    /// Passed (shown briefly).
    Passed {
        /// Result.
        result: CaptureView,
    },
}
}

exported! {
/// The study screen's whole state, sent after every report and every second.
#[serde(rename_all = "camelCase")]
pub struct StudyView {
    /// Course id.
    pub course_id: String,
    /// The core believes the player is playing.
    pub playing: bool,
    /// Time is being counted right now.
    pub counting: bool,
    /// Why not, when not counting while playing or held.
    pub not_counting: Option<NotCounting>,
    /// The core's position, ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub position_ms: u64,
    /// Watched frontier: seeks may go up to here, never beyond (R-ST-1).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub frontier_ms: u64,
    /// Credited ms on the course (all sessions).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub credited_ms: u64,
    /// Credited ms in this session.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub session_credited_ms: u64,
    /// Completed class hours.
    pub class_hours_done: u32,
    /// Class hours in the courseware.
    pub class_hours_total: u32,
    /// Credited ms inside the current class hour.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub hour_credited_ms: u64,
    /// Class hour length, ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub class_hour_ms: u64,
    /// Quiz due now.
    pub quiz: Option<QuizView>,
    /// Last quiz result (until the next quiz).
    pub quiz_result: Option<QuizResultView>,
    /// Class hours whose answers wait for the platform's grade (the device holds no
    /// answer keys; offline they wait until the next sync).
    pub quiz_awaiting: Vec<u32>,
    /// The quiz paused after a round of failed attempts; study goes on meanwhile.
    pub quiz_cooldown: Option<QuizCooldownView>,
    /// Capture moment.
    pub capture: Option<CaptureMoment>,
    /// "Are you still there?" (R-ST-4).
    pub idle_prompt: bool,
    /// The course end was reached.
    pub ended: bool,
    /// Where the first stretch of the course that has not counted yet begins (time
    /// played while not counting: focus lost, idle, a held capture). Watching it
    /// again earns its credit; `None` once the whole course counted.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub first_gap_ms: Option<u64>,
    /// What the player must do now.
    pub commands: Vec<PlayerCommand>,
    /// Recent periods that did not count (newest last, at most 20).
    pub violations: Vec<ViolationView>,
    /// The session stopped (journal failure, lease revoked): why.
    pub stopped: Option<AppCode>,
}
}

exported! {
/// Records and sync.
#[serde(rename_all = "camelCase")]
pub struct SyncView {
    /// Records in the journal.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub records: u64,
    /// Acknowledged by the platform.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub acknowledged: u64,
    /// Waiting to be sent.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub queued: u64,
    /// Sent in the round running now or the last one.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub sent: u64,
    /// Where sync stands.
    pub state: SyncState,
    /// Last error.
    pub error_code: Option<ErrorCode>,
    /// Last error in plain words (the platform's message or the network error).
    pub error_message: Option<String>,
    /// Last successful sync, Unix ms.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub last_synced_ms: Option<i64>,
}
}

exported! {
/// One class hour in the learning proof.
#[serde(rename_all = "camelCase")]
pub struct ProofHour {
    /// Class hour.
    pub class_hour: u32,
    /// Completed.
    pub completed: bool,
    /// Captures passed.
    pub captures_passed: u32,
    /// Quiz passed.
    pub quiz_passed: bool,
    /// Quiz attempts.
    pub quiz_attempts: u32,
}
}

exported! {
/// The learning proof (R-AS-6): what the signed journal shows about one course.
#[serde(rename_all = "camelCase")]
pub struct ProofView {
    /// Course.
    pub course: CourseSummary,
    /// Per class hour.
    pub hours: Vec<ProofHour>,
    /// Sessions.
    pub sessions: u32,
    /// Device id.
    pub device_id: String,
    /// Records in the journal.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub records: u64,
    /// Head hash (hex) of the journal.
    pub head_hash: String,
    /// The last verification of the journal end to end (signatures, chain,
    /// checkpoint), run off the UI path; `None` while the first one runs.
    pub verified: Option<bool>,
    /// What it said.
    pub verify_message: String,
    /// When it ran, Unix ms.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub verified_at_ms: Option<i64>,
    /// Records acknowledged by the platform.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub acknowledged: u64,
    /// Counts of not-counted periods by kind, over all sessions.
    pub violations: Vec<(ViolationKind, u32)>,
}
}

exported! {
/// A capture notice event (`capture`).
#[serde(rename_all = "camelCase")]
pub struct CaptureEvent {
    /// Capture id.
    pub id: String,
    /// Class hour.
    pub class_hour: u32,
    /// Where the capture stands.
    pub state: CaptureState,
}
}

/// What the web view reports. Nothing here is believed: `player-core` checks each
/// report against its own model of playback.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, export_to = "../../ui/src/bindings/")
)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Report {
    /// The learner pressed play.
    Play,
    /// The learner pressed pause, or the video stopped.
    Pause,
    /// The video's position (course ms).
    Position {
        /// Course ms.
        #[serde(rename = "posMs")]
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        pos_ms: u64,
    },
    /// A seek asked for through the progress bar.
    Seek {
        /// Course ms.
        #[serde(rename = "toMs")]
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        to_ms: u64,
    },
    /// The video element's rate changed.
    Rate {
        /// The rate seen.
        rate: f64,
    },
    /// The page became hidden or visible (only "hidden" can lower credit; "visible"
    /// counts only while the shell also sees the window shown).
    Visibility {
        /// Visible now?
        visible: bool,
    },
    /// Keyboard or pointer input (also the answer to "are you still there?").
    Activity,
    /// The learner asks to take the photo again after a failed capture.
    RetryCapture,
}

exported! {
/// Where sync stands, as the records screen shows it.
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// Not signed in (nothing is sent).
    NotLoggedIn,
    /// Signed in, records waiting for the next round.
    Idle,
    /// A round is running.
    Syncing,
    /// Everything is acknowledged.
    Synced,
    /// The platform cannot be reached; records wait (nothing is lost).
    Offline,
    /// The platform refused (see the error).
    Refused,
    /// The round failed on this device (see the error).
    Error,
}
}

exported! {
/// Where a class-hour capture stands.
#[serde(rename_all = "snake_case")]
pub enum CaptureState {
    /// Taking the photo.
    Taking,
    /// It passed.
    Passed,
    /// It failed.
    Failed,
}
}
