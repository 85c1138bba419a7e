//! What crosses the state machine's edges: [`Input`] from the (untrusted) UI,
//! [`Action`]s for it, and the [`TimedFact`]s to journal.

use serde::Serialize;

use crate::clock::MonoMs;
use keshi_protocol::fact::{Answer, Fact};

/// Something the (untrusted) UI reports or asks.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The learner pressed play.
    Play,
    /// The learner pressed pause (or the player stopped).
    Pause,
    /// The player reports its position (course seconds, as ms).
    Position {
        /// Reported position.
        pos_ms: u64,
    },
    /// The learner asks to seek.
    Seek {
        /// Target position.
        to_ms: u64,
    },
    /// The learner (or a script) asks for a playback rate.
    Rate {
        /// Requested rate.
        rate: f64,
    },
    /// The window gained or lost focus.
    Focus {
        /// Focused now?
        focused: bool,
    },
    /// The window became visible or hidden (minimised, screen locked).
    Visible {
        /// Visible now?
        visible: bool,
    },
    /// Keyboard, mouse or touch input.
    Activity,
    /// The result of the capture the player asked for.
    Capture {
        /// Passed the face checks?
        ok: bool,
        /// SHA-256 of the kept image, if one was kept.
        image_sha256: Option<String>,
        /// Why it failed (codes), if it did.
        reasons: Vec<String>,
    },
    /// Answers to the pending quiz, in question order.
    Quiz {
        /// The answers.
        answers: Vec<Answer>,
    },
    /// The platform's signed grade of an attempt (fetched by sync). Believed only
    /// when it verifies under the platform key the player was given.
    Graded(keshi_protocol::fact::QuizGraded),
    /// The platform revoked the login lease (another device logged in, R-ID-3).
    LeaseRevoked {
        /// Why, as the platform said.
        reason: String,
    },
    /// Only time passes.
    Tick,
    /// The session ends.
    Close,
}

/// Why time is not being counted, as the UI is told (stable codes; every one has
/// zh-CN and English text in the UI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, export_to = "../../ui/src/bindings/")
)]
#[serde(rename_all = "snake_case")]
pub enum NotCounting {
    /// Focus lost while playing.
    FocusLost,
    /// Window hidden while playing.
    Hidden,
    /// A capture failed: playback is held until a retry passes.
    CaptureFailed,
    /// A capture was not answered in time.
    CaptureOverdue,
    /// The lease was revoked (R-ID-3).
    LeaseRevoked,
    /// The video is not advancing (no position report in time).
    NoProgress,
    /// The end-of-hour quiz is due.
    QuizDue,
    /// Playback is paused.
    Paused,
    /// The learner has been idle (R-ST-4).
    Idle,
}

impl NotCounting {
    /// Every reason.
    pub const ALL: [NotCounting; 9] = [
        NotCounting::FocusLost,
        NotCounting::Hidden,
        NotCounting::CaptureFailed,
        NotCounting::CaptureOverdue,
        NotCounting::LeaseRevoked,
        NotCounting::NoProgress,
        NotCounting::QuizDue,
        NotCounting::Paused,
        NotCounting::Idle,
    ];

    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            NotCounting::FocusLost => "focus_lost",
            NotCounting::Hidden => "hidden",
            NotCounting::CaptureFailed => "capture_failed",
            NotCounting::CaptureOverdue => "capture_overdue",
            NotCounting::LeaseRevoked => "lease_revoked",
            NotCounting::NoProgress => "no_progress",
            NotCounting::QuizDue => "quiz_due",
            NotCounting::Paused => "paused",
            NotCounting::Idle => "idle",
        }
    }
}

/// What the UI must do.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Put the player at this position (a refused seek or jump).
    SetPosition {
        /// Where.
        pos_ms: u64,
    },
    /// Put the rate back to 1.0.
    SetRate {
        /// The only allowed rate.
        rate: f64,
    },
    /// Take a face capture now, unannounced (R-ST-3).
    Capture {
        /// Capture id, to echo in the answer.
        id: String,
        /// Class hour it belongs to.
        class_hour: u32,
    },
    /// Show the end-of-hour quiz (R-AS-1).
    Quiz {
        /// Class hour.
        class_hour: u32,
        /// Attempt number (1-based).
        attempt: u32,
        /// The questions, without answers.
        questions: Vec<QuestionView>,
    },
    /// The answers are journaled and wait for the platform's grade (the device
    /// holds no answer keys); study may go on meanwhile.
    QuizAwaiting {
        /// Class hour.
        class_hour: u32,
    },
    /// A round of failed attempts: the quiz of `class_hour` opens again at
    /// `until_ms` (wall, Unix ms); study may go on meanwhile.
    QuizCooldown {
        /// Class hour.
        class_hour: u32,
        /// When the next attempt opens, Unix ms.
        until_ms: i64,
    },
    /// Tell the learner the quiz result (the platform's grade).
    QuizResult {
        /// Class hour.
        class_hour: u32,
        /// Passed?
        passed: bool,
        /// Right answers.
        correct: u32,
        /// Questions.
        total: u32,
    },
    /// Time is not being counted, and why.
    NotCounting {
        /// Reason.
        reason: NotCounting,
    },
    /// "Are you still there?" (R-ST-4).
    IdlePrompt,
    /// A class hour completed.
    ClassHourCompleted {
        /// Which.
        class_hour: u32,
    },
    /// The course end was reached.
    Ended,
}

/// A quiz question as the UI sees it (no answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuestionView {
    /// Question id.
    pub id: String,
    /// Question text.
    pub text: String,
    /// Options.
    pub options: Vec<String>,
}

/// A fact to journal and when it happened on the session's monotonic clock.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedFact {
    /// When.
    pub at: MonoMs,
    /// What.
    pub fact: Fact,
}

/// What one input produced.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Step {
    /// Facts to journal, in order.
    pub facts: Vec<TimedFact>,
    /// What the UI must do.
    pub actions: Vec<Action>,
}
