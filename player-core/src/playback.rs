//! The playback state machine: the authority on what study counts.
//!
//! The UI is untrusted. It reports what it sees and asks for things (play, seek, a
//! rate); the [`Player`] decides, and answers with [`Fact`]s (to be journaled, R-ST-6)
//! and [`Action`]s (what the UI must do: snap the position back, take a capture, show
//! a quiz). Time is passed in with every input ([`MonoMs`] on the session's monotonic
//! clock); nothing here reads a clock or a global RNG.
//!
//! # What is credited
//! Study time is credited only while all hold: playing, at 1.0x (other rates are
//! refused, R-ST-1), window focused and visible, user activity within the idle timeout
//! (R-ST-4), no failed or overdue capture (R-ST-3), no quiz pending (R-AS-1), lease
//! valid (R-ID-3), and the position inside the course.
//!
//! Credit is *coverage*: the player keeps the set of course time watched under those
//! conditions ([`Coverage`]). Watching a minute twice credits it once, so credited
//! time never exceeds the clock time spent playing, never lies beyond the watched
//! frontier, and a course yields at most its courseware length in class hours (R-ST-5).
//! Between the UI's position reports the player models playback at 1.0x from the last
//! good position.
//!
//! # Position reports and seeks (R-ST-1, R-ST-2)
//! - A seek to at most the watched frontier (plus [`SEEK_SLACK_MS`]) is allowed; beyond
//!   it, refused: a `seek_ahead` violation and an [`Action::SetPosition`] back.
//! - A position report within the tolerance of the modelled position —
//!   [`TOLERANCE_BASE_MS`] plus [`TOLERANCE_RATE`] of the time since the last report —
//!   is consistent and changes nothing (so jitter cannot punch holes into coverage).
//!   A report further ahead is treated as a seek to that position: allowed inside the
//!   frontier, refused and snapped back beyond it (this is how `video.currentTime = …`
//!   or `playbackRate = 2` from injected JavaScript is caught). A report further behind
//!   (buffering, a video stalled without telling) moves the position back, uncredited.
//! - The breakpoint (last good position) is written with every segment, seek and
//!   state change, so a restart resumes there.
//!
//! While a quiz is due or after a failed capture, playback is *held*: the modelled
//! position does not move (the UI is told to pause), so the learner loses clock time
//! but no content. Focus loss, a hidden window and idleness do not hold playback: if
//! the video runs on, the content it shows stays uncredited and must be watched again.
//!
//! # Class hours (R-ST-5, R-ST-3, R-AS-1)
//! Every `class_hour_minutes` of credited time is a class hour. Inside each, the
//! profile's number of captures is scheduled at uniformly random credited-time offsets
//! (drawn from the injected CSPRNG when the hour begins; never journaled in advance, so
//! a learner cannot read them from the database). When credit reaches the end of the
//! hour, credit stops until the hour's quiz is passed. A class hour completes when its
//! captures passed and its quiz passed.

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::clock::MonoMs;
use crate::coverage::Coverage;
use crate::manifest::{Course, QuizBank};
use crate::policy::Policy;

/// Fixed part of the position-report tolerance.
pub const TOLERANCE_BASE_MS: u64 = 2_000;
/// Proportional part of the tolerance: 5% of the time since the last report.
pub const TOLERANCE_RATE: f64 = 0.05;
/// How far past the frontier a seek may land (player key-frame rounding).
pub const SEEK_SLACK_MS: u64 = 500;
/// An open segment is written at least this often, bounding what a crash can lose.
pub const CHECKPOINT_MS: u64 = 30_000;

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

/// One quiz answer: an option index, an option letter (`"A"`), or the option text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Answer {
    /// 0-based option index.
    Index(usize),
    /// Option letter or option text.
    Text(String),
}

impl Answer {
    fn picks(&self, options: &[String]) -> Option<usize> {
        match self {
            Answer::Index(i) => Some(*i),
            Answer::Text(t) => {
                let t = t.trim();
                let b = t.as_bytes();
                if b.len() == 1 && b[0].is_ascii_alphabetic() {
                    Some(usize::from(b[0].to_ascii_uppercase() - b'A'))
                } else {
                    options.iter().position(|o| o == t)
                }
            }
        }
    }
}

/// Why time was not credited, or a request refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// Seek or position jump beyond the watched frontier (R-ST-1).
    SeekAhead,
    /// A playback rate other than 1.0 (R-ST-1).
    RateChange,
    /// Focus lost while playing.
    FocusLost,
    /// Window hidden (minimised, screen locked) while playing.
    Hidden,
    /// No user activity within the idle timeout (R-ST-4).
    Idle,
    /// A capture failed its checks (R-ST-3).
    CaptureFailed,
    /// A capture was not answered in time (R-ST-3).
    CaptureOverdue,
    /// A quiz attempt did not pass (R-AS-1).
    QuizFailed,
    /// The login lease was revoked (R-ID-3).
    LeaseRevoked,
}

impl ViolationKind {
    /// Stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            ViolationKind::SeekAhead => "seek_ahead",
            ViolationKind::RateChange => "rate_change",
            ViolationKind::FocusLost => "focus_lost",
            ViolationKind::Hidden => "hidden",
            ViolationKind::Idle => "idle",
            ViolationKind::CaptureFailed => "capture_failed",
            ViolationKind::CaptureOverdue => "capture_overdue",
            ViolationKind::QuizFailed => "quiz_failed",
            ViolationKind::LeaseRevoked => "lease_revoked",
        }
    }
}

/// A fact to journal: what happened, when (session monotonic ms), and its data.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    /// When it happened on the session's monotonic clock.
    pub at: MonoMs,
    /// Record kind (see `docs/record-format-v1.md` for the vocabulary).
    pub kind: &'static str,
    /// Record payload.
    pub payload: Value,
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
    /// Tell the learner the quiz result.
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
        /// Reason code.
        reason: &'static str,
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

/// Progress of one class hour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourProgress {
    /// Captures passed.
    pub captures_passed: u32,
    /// Quiz passed.
    pub quiz_passed: bool,
    /// Class hour completed.
    pub completed: bool,
    /// Quiz attempts made.
    pub quiz_attempts: u32,
}

/// Durable progress on one course, rebuilt from the journal on start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Credited course time.
    pub coverage: Coverage,
    /// Last good position (the breakpoint, R-ST-2).
    pub position_ms: u64,
    /// Furthest position reached by normal playback.
    pub frontier_ms: u64,
    /// Class hours by number (1-based).
    pub hours: BTreeMap<u32, HourProgress>,
    /// A capture failed or went overdue and no later one passed.
    pub capture_blocked: bool,
    /// Sessions so far on this course.
    pub sessions: u32,
}

impl Progress {
    /// Credited milliseconds.
    pub fn credited_ms(&self) -> u64 {
        self.coverage.total()
    }

    /// Completed class hours.
    pub fn class_hours_completed(&self) -> u32 {
        self.hours.values().filter(|h| h.completed).count() as u32
    }

    /// Folds one journal record of this course into the progress. Records of other
    /// kinds are ignored, so the journal vocabulary can grow.
    pub fn apply(&mut self, kind: &str, p: &Value) {
        let u = |k: &str| p.get(k).and_then(Value::as_u64);
        let hour = || u("class_hour").and_then(|h| u32::try_from(h).ok());
        match kind {
            "session_start" => self.sessions += 1,
            "segment" => {
                if let Some(cov) = p.get("covered").and_then(Value::as_array) {
                    for r in cov {
                        if let (Some(a), Some(b)) = (
                            r.get(0).and_then(Value::as_u64),
                            r.get(1).and_then(Value::as_u64),
                        ) {
                            self.coverage.insert(a, b);
                        }
                    }
                }
            }
            "capture_result" => {
                if let Some(h) = hour() {
                    if p.get("ok").and_then(Value::as_bool) == Some(true) {
                        self.hours.entry(h).or_default().captures_passed += 1;
                        self.capture_blocked = false;
                    } else {
                        self.capture_blocked = true;
                    }
                }
            }
            "quiz_answered" => {
                if let Some(h) = hour() {
                    let e = self.hours.entry(h).or_default();
                    e.quiz_attempts += 1;
                    if p.get("passed").and_then(Value::as_bool) == Some(true) {
                        e.quiz_passed = true;
                    }
                }
            }
            "class_hour_completed" => {
                if let Some(h) = hour() {
                    self.hours.entry(h).or_default().completed = true;
                }
            }
            _ => {}
        }
        if let Some(pos) = u("pos_ms") {
            self.position_ms = pos;
            self.frontier_ms = self.frontier_ms.max(pos);
        }
        if let Some(f) = u("frontier_ms") {
            self.frontier_ms = self.frontier_ms.max(f);
        }
    }
}

/// Validated parameters the player runs with.
#[derive(Debug, Clone)]
struct Config {
    hour_ms: u64,
    class_hours: u32,
    captures_per_hour: u32,
    capture_deadline_ms: u64,
    idle_ms: u64,
    course_ms: u64,
    questions_per_quiz: usize,
    pass_per_mille: u64,
}

#[derive(Debug, Clone, Copy)]
enum Window {
    Focus,
    Visible,
}

#[derive(Debug, Clone)]
struct Pending {
    id: String,
    hour: u32,
    /// `None` for a retry after a failure: credit is already stopped.
    deadline: Option<MonoMs>,
}

#[derive(Debug, Clone)]
struct QuizDue {
    hour: u32,
    attempt: u32,
    questions: Vec<usize>,
}

#[derive(Debug, Clone)]
struct Segment {
    t0: MonoMs,
    pos0: u64,
    credited: bool,
    covered: Vec<(u64, u64)>,
}

/// The playback state machine. See the module docs.
#[derive(Debug)]
pub struct Player {
    cfg: Config,
    banks: Vec<QuizBank>,
    rng: ChaCha20Rng,
    session: u32,
    progress: Progress,
    now: MonoMs,
    last_report: MonoMs,
    /// With `Some(ms)`, credit needs a position report at least every `ms` while
    /// playing (see [`Player::require_reports`]).
    report_timeout: Option<u64>,
    stall_reported: bool,
    playing: bool,
    focused: bool,
    visible: bool,
    last_activity: MonoMs,
    idle_reported: bool,
    revoked: bool,
    closed: bool,
    pending: Option<Pending>,
    captures_asked: u32,
    /// Absolute credited-ms marks at which captures are due, for `schedule_hour`.
    schedule: Vec<u64>,
    schedule_hour: u32,
    quiz: Option<QuizDue>,
    seg: Option<Segment>,
    facts: Vec<Fact>,
    actions: Vec<Action>,
    violations: Vec<(ViolationKind, MonoMs)>,
}

/// What one input produced.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Step {
    /// Facts to journal, in order.
    pub facts: Vec<Fact>,
    /// What the UI must do.
    pub actions: Vec<Action>,
}

impl Player {
    /// A player for `course` under `policy`, resuming from `progress` (rebuilt from the
    /// journal), for session number `session`, with `rng` (a CSPRNG seeded from the OS
    /// in production, from a fixed seed in tests). The session starts at monotonic 0.
    ///
    /// Returns the player and the facts that open the session.
    pub fn start(
        course: &Course,
        policy: &Policy,
        mut progress: Progress,
        rng: ChaCha20Rng,
        start_at: MonoMs,
    ) -> (Player, Step) {
        let cfg = Config {
            hour_ms: policy.class_hour().as_millis() as u64,
            class_hours: course.class_hours(policy),
            captures_per_hour: policy.captures_per_class_hour.value,
            capture_deadline_ms: u64::from(policy.capture_response_seconds.value) * 1000,
            idle_ms: u64::from(policy.idle_timeout_seconds.value) * 1000,
            course_ms: course.duration_seconds() * 1000,
            questions_per_quiz: policy.quiz_questions_per_class_hour.value as usize,
            pass_per_mille: (policy.quiz_pass_ratio.value * 1000.0).round() as u64,
        };
        progress.position_ms = progress.position_ms.min(cfg.course_ms);
        let resumed = progress.sessions > 0;
        let session = progress.sessions + 1;
        progress.sessions = session;
        let mut p = Player {
            cfg,
            banks: course.quizzes.clone(),
            rng,
            session,
            progress,
            now: start_at,
            last_report: start_at,
            report_timeout: None,
            stall_reported: false,
            playing: false,
            focused: true,
            visible: true,
            last_activity: start_at,
            idle_reported: false,
            revoked: false,
            closed: false,
            pending: None,
            captures_asked: 0,
            schedule: Vec::new(),
            schedule_hour: 0,
            quiz: None,
            seg: None,
            facts: Vec::new(),
            actions: Vec::new(),
            violations: Vec::new(),
        };
        p.fact(
            "session_start",
            json!({
                "session": session,
                "course": course.id,
                "profile": policy.id,
                "class_hours": p.cfg.class_hours,
                "course_ms": p.cfg.course_ms,
            }),
        );
        if resumed {
            let pr = &p.progress;
            let payload = json!({
                "pos_ms": pr.position_ms,
                "frontier_ms": pr.frontier_ms,
                "credited_ms": pr.credited_ms(),
                "class_hours_completed": pr.class_hours_completed(),
            });
            p.fact("resume", payload);
            p.actions.push(Action::SetPosition {
                pos_ms: p.progress.position_ms,
            });
        }
        // A capture left failed, or a quiz left due, carries over into this session.
        if p.progress.capture_blocked {
            let h = p.current_hour();
            p.ask_capture(h, false);
        }
        for h in 1..=p.cfg.class_hours {
            p.try_complete(h);
        }
        p.check_hour_end();
        let step = p.take();
        (p, step)
    }

    /// Feeds one input at monotonic time `now` (earlier times are treated as `now`
    /// equal to the last time seen: the clock never goes backwards).
    pub fn handle(&mut self, now: MonoMs, input: Input) -> Step {
        let now = now.max(self.now);
        if self.closed {
            return Step::default();
        }
        self.advance(now);
        match input {
            Input::Play => {
                self.touch(now);
                if !self.playing && self.progress.position_ms < self.cfg.course_ms {
                    self.playing = true;
                    self.last_report = now;
                    self.stall_reported = false;
                    self.state_fact("play");
                }
            }
            Input::Pause => {
                self.touch(now);
                if self.playing {
                    self.close_segment();
                    self.playing = false;
                    self.state_fact("pause");
                }
            }
            Input::Position { pos_ms } => self.report(now, pos_ms),
            Input::Seek { to_ms } => {
                self.touch(now);
                self.seek(to_ms, "seek");
            }
            Input::Rate { rate } => {
                self.touch(now);
                if rate != 1.0 {
                    let rate_shown = if rate.is_finite() {
                        json!(rate)
                    } else {
                        json!(null)
                    };
                    self.violation(
                        ViolationKind::RateChange,
                        json!({ "requested": rate_shown }),
                    );
                    self.actions.push(Action::SetRate { rate: 1.0 });
                }
            }
            Input::Focus { focused } => self.window(now, Window::Focus, focused),
            Input::Visible { visible } => self.window(now, Window::Visible, visible),
            Input::Activity => self.touch(now),
            Input::Capture {
                ok,
                image_sha256,
                reasons,
            } => self.capture_result(now, ok, image_sha256, reasons),
            Input::Quiz { answers } => {
                self.touch(now);
                self.quiz_answers(answers);
            }
            Input::LeaseRevoked { reason } => {
                if !self.revoked {
                    self.close_segment();
                    self.revoked = true;
                    self.violation(ViolationKind::LeaseRevoked, json!({ "reason": reason }));
                    self.actions.push(Action::NotCounting {
                        reason: "lease_revoked",
                    });
                }
            }
            Input::Tick => {}
            Input::Close => {
                self.close_segment();
                self.playing = false;
                let pr = &self.progress;
                let payload = json!({
                    "session": self.session,
                    "pos_ms": pr.position_ms,
                    "frontier_ms": pr.frontier_ms,
                    "credited_ms": pr.credited_ms(),
                    "class_hours_completed": pr.class_hours_completed(),
                });
                self.fact("session_end", payload);
                self.closed = true;
            }
        }
        // Crediting may have become possible or impossible: keep segments honest.
        self.split_if_credit_changed();
        self.take()
    }

    /// Durable progress as of the last input.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// This session's number.
    pub fn session(&self) -> u32 {
        self.session
    }

    /// Violations seen in this session, with their times.
    pub fn violations(&self) -> &[(ViolationKind, MonoMs)] {
        &self.violations
    }

    /// Whether the player is (as far as the core knows) playing.
    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// Whether time is being credited right now.
    pub fn crediting(&self) -> bool {
        self.credit_ok(self.now)
    }

    /// Whether a quiz is waiting for answers.
    pub fn quiz_due(&self) -> Option<u32> {
        self.quiz.as_ref().map(|q| q.hour)
    }

    /// The capture waiting for a result, if any.
    pub fn pending_capture(&self) -> Option<&str> {
        self.pending.as_ref().map(|p| p.id.as_str())
    }

    /// Whether the session was closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    // ---- internals -------------------------------------------------------------

    fn take(&mut self) -> Step {
        Step {
            facts: std::mem::take(&mut self.facts),
            actions: std::mem::take(&mut self.actions),
        }
    }

    fn fact(&mut self, kind: &'static str, payload: Value) {
        self.facts.push(Fact {
            at: self.now,
            kind,
            payload,
        });
    }

    fn state_fact(&mut self, what: &str) {
        let payload = json!({ "state": what, "pos_ms": self.progress.position_ms });
        self.fact("state", payload);
    }

    fn violation(&mut self, kind: ViolationKind, mut detail: Value) {
        self.violations.push((kind, self.now));
        if let Value::Object(m) = &mut detail {
            m.insert("kind".into(), json!(kind.code()));
            m.insert("pos_ms".into(), json!(self.progress.position_ms));
        }
        self.fact("violation", detail);
    }

    /// Focus or visibility changed (R-ST-4): gaining it is activity; losing it while
    /// playing stops credit and is a violation.
    fn window(&mut self, now: MonoMs, which: Window, on: bool) {
        if on {
            self.touch(now);
        }
        let (flag, violation, on_name, off_name) = match which {
            Window::Focus => (&mut self.focused, ViolationKind::FocusLost, "focus", "blur"),
            Window::Visible => (
                &mut self.visible,
                ViolationKind::Hidden,
                "visible",
                "hidden",
            ),
        };
        if *flag == on {
            return;
        }
        *flag = on;
        self.close_segment();
        if !on && self.playing {
            self.violation(violation, json!({}));
            self.actions.push(Action::NotCounting {
                reason: violation.code(),
            });
        }
        self.state_fact(if on { on_name } else { off_name });
    }

    fn touch(&mut self, now: MonoMs) {
        self.last_activity = now;
        self.idle_reported = false;
    }

    fn idle_deadline(&self) -> MonoMs {
        self.last_activity.saturating_add(self.cfg.idle_ms)
    }

    /// When credit stops for want of a position report, if reports are required.
    fn report_deadline(&self) -> Option<MonoMs> {
        self.report_timeout
            .map(|ms| self.last_report.saturating_add(ms))
    }

    /// Requires the UI to report the position at least every `timeout_ms` while
    /// playing; without reports, credit stops at the deadline (`NotCounting
    /// { reason: "no_progress" }`) until the next report. A live player (the desktop
    /// app) reports every second, so a video that never loads, stalls, or a page that
    /// only says "play" earns nothing. Off by default: scripted replays report sparsely
    /// and rely on the 1.0x model between reports.
    pub fn require_reports(&mut self, timeout_ms: Option<u64>) {
        self.report_timeout = timeout_ms;
    }

    /// 1-based class hour that credit is currently filling.
    fn current_hour(&self) -> u32 {
        let h = (self.progress.credited_ms() / self.cfg.hour_ms) as u32 + 1;
        h.min(self.cfg.class_hours.max(1))
    }

    fn credit_ok(&self, t: MonoMs) -> bool {
        self.playing
            && self.focused
            && self.visible
            && !self.revoked
            && !self.closed
            && t < self.idle_deadline()
            && self.report_deadline().is_none_or(|d| t < d)
            && !self.progress.capture_blocked
            && self
                .pending
                .as_ref()
                .and_then(|p| p.deadline)
                .is_none_or(|d| t < d)
            && self.quiz.is_none()
            && self.progress.position_ms < self.cfg.course_ms
    }

    /// Playback is held (the UI must pause) while a quiz is due or after a failed
    /// capture: the class hour's content waits for the learner instead of running on
    /// uncredited.
    fn held(&self) -> bool {
        self.quiz.is_some() || self.progress.capture_blocked
    }

    /// Runs the model from `self.now` to `now`, stopping at every moment something
    /// happens on its own (idle timeout, capture due or overdue, end of an hour, end
    /// of the course, checkpoint).
    fn advance(&mut self, now: MonoMs) {
        while self.now < now {
            if !self.playing {
                self.now = now;
                break;
            }
            let t = self.now;
            let held = self.held();
            let crediting = self.credit_ok(t);
            self.split_if_credit_changed();
            let pos = self.progress.position_ms;
            let mut stop = if held {
                now
            } else {
                now.min(t + (self.cfg.course_ms - pos))
            };
            let idle_at = self.idle_deadline();
            if idle_at > t {
                stop = stop.min(idle_at);
            }
            if let Some(d) = self.report_deadline() {
                if d > t {
                    stop = stop.min(d);
                }
            }
            if let Some(d) = self.pending.as_ref().and_then(|p| p.deadline) {
                if d > t {
                    stop = stop.min(d);
                }
            }
            if let Some(seg) = &self.seg {
                stop = stop.min(seg.t0 + CHECKPOINT_MS);
            }
            if crediting {
                self.ensure_schedule();
                if let Some(d) = self.travel_to_mark() {
                    stop = stop.min(t + d);
                }
            }
            let dt = stop - t;
            let new_pos = if held { pos } else { pos + dt };
            if crediting && dt > 0 {
                let gained = self.progress.coverage.insert(pos, new_pos);
                if let Some(seg) = &mut self.seg {
                    seg.covered.extend(gained);
                }
            }
            self.progress.position_ms = new_pos;
            self.progress.frontier_ms = self.progress.frontier_ms.max(new_pos);
            self.now = stop;
            self.on_time(crediting);
        }
        self.now = self.now.max(now);
    }

    /// Course travel until credit reaches the next capture mark or the hour's end.
    fn travel_to_mark(&self) -> Option<u64> {
        let credited = self.progress.credited_ms();
        let hour_end = u64::from(self.current_hour()) * self.cfg.hour_ms;
        let mark = match self.schedule.first() {
            Some(&m) if self.schedule_hour == self.current_hour() => m.min(hour_end),
            _ => hour_end,
        };
        if mark <= credited {
            return None;
        }
        self.progress.coverage.travel_for(
            self.progress.position_ms,
            mark - credited,
            self.cfg.course_ms,
        )
    }

    /// When, if nothing else happens, the player will next prompt the learner (a
    /// capture or a quiz). Drivers that answer prompts as soon as they appear (the
    /// `keshi simulate` replay) tick the player to this time. `None` while not crediting.
    pub fn next_prompt_at(&mut self) -> Option<MonoMs> {
        if !self.credit_ok(self.now) {
            return None;
        }
        self.ensure_schedule();
        self.travel_to_mark().map(|d| self.now + d)
    }

    /// Whatever happens by itself at `self.now`.
    fn on_time(&mut self, was_crediting: bool) {
        let t = self.now;
        if let Some(seg) = &self.seg {
            if t >= seg.t0 + CHECKPOINT_MS {
                self.close_segment();
            }
        }
        if self.playing && !self.stall_reported && self.report_deadline().is_some_and(|d| t >= d) {
            self.stall_reported = true;
            self.close_segment();
            self.actions.push(Action::NotCounting {
                reason: "no_progress",
            });
        }
        if self.playing && t >= self.idle_deadline() && !self.idle_reported {
            self.idle_reported = true;
            self.close_segment();
            self.violation(ViolationKind::Idle, json!({ "idle_ms": self.cfg.idle_ms }));
            self.actions.push(Action::IdlePrompt);
        }
        if let Some(p) = self.pending.clone() {
            if p.deadline.is_some_and(|d| t >= d) {
                self.close_segment();
                self.pending = None;
                let payload = json!({
                    "id": p.id, "class_hour": p.hour, "ok": false,
                    "reasons": ["overdue"], "pos_ms": self.progress.position_ms,
                });
                self.fact("capture_result", payload);
                self.progress.capture_blocked = true;
                self.violation(
                    ViolationKind::CaptureOverdue,
                    json!({ "id": p.id, "class_hour": p.hour }),
                );
                self.ask_capture(p.hour, false);
            }
        }
        if was_crediting {
            let credited = self.progress.credited_ms();
            while self.schedule.first().is_some_and(|&m| credited >= m) {
                self.schedule.remove(0);
                let h = self.schedule_hour;
                self.ask_capture(h, true);
            }
            self.check_hour_end();
        }
        if self.progress.position_ms >= self.cfg.course_ms && self.playing {
            self.close_segment();
            self.playing = false;
            self.fact("ended", json!({ "pos_ms": self.progress.position_ms }));
            self.actions.push(Action::Ended);
        }
    }

    fn split_if_credit_changed(&mut self) {
        let c = self.credit_ok(self.now);
        match &self.seg {
            Some(s) if s.credited != c => {
                self.close_segment();
                self.open_segment(c);
            }
            None if self.playing => self.open_segment(c),
            _ => {}
        }
    }

    fn open_segment(&mut self, credited: bool) {
        self.seg = Some(Segment {
            t0: self.now,
            pos0: self.progress.position_ms,
            credited,
            covered: Vec::new(),
        });
    }

    /// Writes the open segment (if it moved) and opens none; the next step reopens.
    fn close_segment(&mut self) {
        if let Some(seg) = self.seg.take() {
            let pos1 = self.progress.position_ms;
            if self.now > seg.t0 || pos1 != seg.pos0 {
                let credited_ms: u64 = seg.covered.iter().map(|(a, b)| b - a).sum();
                let covered: Vec<[u64; 2]> = seg.covered.iter().map(|&(a, b)| [a, b]).collect();
                let payload = json!({
                    "session": self.session,
                    "t0_ms": seg.t0,
                    "t1_ms": self.now,
                    "pos0_ms": seg.pos0,
                    "pos_ms": pos1,
                    "frontier_ms": self.progress.frontier_ms,
                    "credited_ms": credited_ms,
                    "covered": covered,
                    "total_credited_ms": self.progress.credited_ms(),
                });
                self.fact("segment", payload);
            }
        }
    }

    fn ensure_schedule(&mut self) {
        let h = self.current_hour();
        if self.schedule_hour == h {
            return;
        }
        self.schedule_hour = h;
        self.schedule.clear();
        let done = self.progress.hours.get(&h).map_or(0, |p| p.captures_passed);
        let asked = u32::from(self.pending.as_ref().is_some_and(|p| p.hour == h));
        let need = self.cfg.captures_per_hour.saturating_sub(done + asked);
        let start = u64::from(h - 1) * self.cfg.hour_ms;
        let end = u64::from(h) * self.cfg.hour_ms;
        // Uniform over the rest of the hour, a second clear of its edges.
        let lo = (self.progress.credited_ms() + 1).max(start + 1_000);
        let hi = end.saturating_sub(1_000).max(lo + 1);
        for _ in 0..need {
            self.schedule.push(self.rng.random_range(lo..hi));
        }
        self.schedule.sort_unstable();
    }

    fn ask_capture(&mut self, hour: u32, with_deadline: bool) {
        self.captures_asked += 1;
        let id = format!("s{}-c{}", self.session, self.captures_asked);
        let deadline = with_deadline.then(|| self.now + self.cfg.capture_deadline_ms);
        let payload = json!({
            "id": id, "class_hour": hour,
            "credited_ms": self.progress.credited_ms(),
            "retry": !with_deadline,
            "pos_ms": self.progress.position_ms,
        });
        self.fact("capture_requested", payload);
        self.actions.push(Action::Capture {
            id: id.clone(),
            class_hour: hour,
        });
        self.pending = Some(Pending { id, hour, deadline });
    }

    fn capture_result(
        &mut self,
        now: MonoMs,
        ok: bool,
        image_sha256: Option<String>,
        reasons: Vec<String>,
    ) {
        // Bounded and well-formed, whatever the caller hands in: the journal keeps it.
        let image_sha256 = image_sha256
            .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        let reasons: Vec<String> = reasons
            .into_iter()
            .take(16)
            .map(|r| r.chars().take(64).collect())
            .collect();
        let Some(p) = self.pending.take() else {
            // Nothing was asked: an unsolicited result from the untrusted UI.
            self.fact("capture_unsolicited", json!({ "ok": ok }));
            return;
        };
        self.close_segment();
        let payload = json!({
            "id": p.id, "class_hour": p.hour, "ok": ok,
            "image_sha256": image_sha256, "reasons": reasons,
            "pos_ms": self.progress.position_ms,
        });
        self.fact("capture_result", payload);
        if ok {
            // A face that passed is presence: it counts as activity (R-ST-4).
            self.touch(now);
            self.progress.capture_blocked = false;
            self.progress
                .hours
                .entry(p.hour)
                .or_default()
                .captures_passed += 1;
            self.try_complete(p.hour);
        } else {
            self.progress.capture_blocked = true;
            self.violation(
                ViolationKind::CaptureFailed,
                json!({ "id": p.id, "class_hour": p.hour, "reasons": reasons }),
            );
            self.actions.push(Action::NotCounting {
                reason: "capture_failed",
            });
            self.ask_capture(p.hour, false);
        }
    }

    /// At the end of an hour's credit: the quiz is due.
    fn check_hour_end(&mut self) {
        if self.quiz.is_some() || self.cfg.class_hours == 0 {
            return;
        }
        let credited = self.progress.credited_ms();
        for h in 1..=self.cfg.class_hours {
            let end = u64::from(h) * self.cfg.hour_ms;
            let hp = self.progress.hours.get(&h).cloned().unwrap_or_default();
            if credited >= end && !hp.quiz_passed {
                self.close_segment();
                self.open_quiz(h, hp.quiz_attempts + 1);
                return;
            }
        }
    }

    fn open_quiz(&mut self, hour: u32, attempt: u32) {
        let n = self
            .banks
            .iter()
            .find(|b| b.class_hour == hour)
            .map_or(0, |b| b.questions.len());
        // Draw the questions at random from the bank, shown in bank order.
        let mut idx: Vec<usize> = (0..n).collect();
        let k = self.cfg.questions_per_quiz.min(n);
        for i in 0..k {
            let j = self.rng.random_range(i..n);
            idx.swap(i, j);
        }
        idx.truncate(k);
        idx.sort_unstable();
        let (ids, views): (Vec<String>, Vec<QuestionView>) =
            match self.banks.iter().find(|b| b.class_hour == hour) {
                Some(bank) => idx
                    .iter()
                    .map(|&i| {
                        let q = &bank.questions[i];
                        (
                            q.id.clone(),
                            QuestionView {
                                id: q.id.clone(),
                                text: q.text.clone(),
                                options: q.options.clone(),
                            },
                        )
                    })
                    .unzip(),
                None => (Vec::new(), Vec::new()),
            };
        let payload = json!({ "class_hour": hour, "attempt": attempt, "questions": ids });
        self.fact("quiz_due", payload);
        self.actions.push(Action::Quiz {
            class_hour: hour,
            attempt,
            questions: views,
        });
        self.quiz = Some(QuizDue {
            hour,
            attempt,
            questions: idx,
        });
    }

    fn quiz_answers(&mut self, answers: Vec<Answer>) {
        let Some(q) = self.quiz.take() else {
            self.fact("quiz_unsolicited", json!({ "answers": answers.len() }));
            return;
        };
        let bank = self.banks.iter().find(|b| b.class_hour == q.hour);
        let mut correct = 0u32;
        let mut ids = Vec::new();
        if let Some(bank) = bank {
            for (n, &i) in q.questions.iter().enumerate() {
                let question = &bank.questions[i];
                ids.push(question.id.clone());
                if answers
                    .get(n)
                    .and_then(|a| a.picks(&question.options))
                    .is_some_and(|pick| pick == question.answer)
                {
                    correct += 1;
                }
            }
        }
        let total = q.questions.len() as u32;
        let passed =
            total > 0 && u64::from(correct) * 1000 >= self.cfg.pass_per_mille * u64::from(total);
        let payload = json!({
            "class_hour": q.hour, "attempt": q.attempt, "questions": ids,
            "answers": answers, "correct": correct, "total": total, "passed": passed,
        });
        self.fact("quiz_answered", payload);
        {
            let hp = self.progress.hours.entry(q.hour).or_default();
            hp.quiz_attempts = hp.quiz_attempts.max(q.attempt);
            if passed {
                hp.quiz_passed = true;
            }
        }
        self.actions.push(Action::QuizResult {
            class_hour: q.hour,
            passed,
            correct,
            total,
        });
        if passed {
            self.try_complete(q.hour);
            self.check_hour_end();
        } else {
            self.violation(
                ViolationKind::QuizFailed,
                json!({ "class_hour": q.hour, "correct": correct, "total": total }),
            );
            self.open_quiz(q.hour, q.attempt + 1);
        }
    }

    fn try_complete(&mut self, hour: u32) {
        let end = u64::from(hour) * self.cfg.hour_ms;
        let credited = self.progress.credited_ms();
        let need = self.cfg.captures_per_hour;
        let hp = self.progress.hours.entry(hour).or_default();
        if !hp.completed && hp.quiz_passed && hp.captures_passed >= need && credited >= end {
            hp.completed = true;
            let payload = json!({ "class_hour": hour, "credited_ms": credited });
            self.fact("class_hour_completed", payload);
            self.actions
                .push(Action::ClassHourCompleted { class_hour: hour });
        }
    }

    fn report(&mut self, now: MonoMs, reported: u64) {
        let expected = self.progress.position_ms;
        let since = now.saturating_sub(self.last_report);
        self.last_report = now;
        self.stall_reported = false;
        let tol = TOLERANCE_BASE_MS + (since as f64 * TOLERANCE_RATE) as u64;
        if reported > expected + tol {
            self.seek(reported, "position");
        } else if reported + tol < expected {
            // Behind the model: buffering, or a player stalled without saying so.
            self.close_segment();
            self.progress.position_ms = reported;
        }
    }

    fn seek(&mut self, to: u64, source: &str) {
        let from = self.progress.position_ms;
        let to = to.min(self.cfg.course_ms);
        if to <= self.progress.frontier_ms + SEEK_SLACK_MS {
            if to != from {
                self.close_segment();
                self.progress.position_ms = to.min(self.progress.frontier_ms);
                let payload = json!({
                    "from_ms": from, "to_ms": to, "pos_ms": self.progress.position_ms,
                    "source": source, "accepted": true,
                });
                self.fact("seek", payload);
            }
        } else {
            self.violation(
                ViolationKind::SeekAhead,
                json!({
                    "from_ms": from, "to_ms": to, "source": source,
                    "frontier_ms": self.progress.frontier_ms,
                }),
            );
            self.actions.push(Action::SetPosition { pos_ms: from });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo;
    use rand::SeedableRng;

    fn setup(hours: u32) -> Player {
        let text = serde_json::to_string(&demo::course(hours)).unwrap();
        let course = Course::parse(std::path::Path::new("demo.json"), &text).unwrap();
        let policy = Policy::by_id("shanxi").unwrap();
        let (p, _) = Player::start(
            &course,
            &policy,
            Progress::default(),
            ChaCha20Rng::seed_from_u64(1),
            0,
        );
        p
    }

    /// Plays from `from` to `to` seconds with activity every 60 s and position reports
    /// every 10 s, answering captures with `ok`.
    fn play_through(p: &mut Player, from: u64, to: u64, ok: bool) -> Vec<Action> {
        let mut actions = Vec::new();
        let mut t = from;
        while t < to {
            t += 10;
            let mut step = p.handle(t * 1000, Input::Tick);
            if t % 60 == 0 {
                step.actions
                    .extend(p.handle(t * 1000, Input::Activity).actions);
            }
            for a in step.actions.clone() {
                if let Action::Capture { .. } = a {
                    step.actions.extend(p.handle(t * 1000, capture(ok)).actions);
                }
            }
            actions.extend(step.actions);
        }
        actions
    }

    fn capture(ok: bool) -> Input {
        Input::Capture {
            ok,
            image_sha256: None,
            reasons: vec![],
        }
    }

    #[test]
    fn plain_playing_credits_clock_time() {
        let mut p = setup(1);
        p.handle(0, Input::Play);
        play_through(&mut p, 0, 600, true);
        assert_eq!(p.progress().credited_ms(), 600_000);
        assert_eq!(p.progress().position_ms, 600_000);
        assert!(p.violations().is_empty());
    }

    #[test]
    fn seek_ahead_is_refused_and_backward_allowed() {
        let mut p = setup(1);
        p.handle(0, Input::Play);
        play_through(&mut p, 0, 100, true);
        let s = p.handle(100_000, Input::Seek { to_ms: 2_000_000 });
        assert_eq!(s.actions, vec![Action::SetPosition { pos_ms: 100_000 }]);
        assert_eq!(p.violations()[0].0, ViolationKind::SeekAhead);
        p.handle(100_000, Input::Seek { to_ms: 40_000 });
        assert_eq!(p.progress().position_ms, 40_000);
        // Rewatching credits nothing new.
        play_through(&mut p, 100, 160, true);
        assert_eq!(p.progress().credited_ms(), 100_000);
        play_through(&mut p, 160, 200, true);
        assert_eq!(p.progress().credited_ms(), 140_000);
    }

    #[test]
    fn position_running_ahead_of_the_clock_is_snapped_back() {
        let mut p = setup(1);
        p.handle(0, Input::Play);
        // 2x playback: 20 s of course in 10 s of clock.
        let s = p.handle(10_000, Input::Position { pos_ms: 20_000 });
        assert_eq!(s.actions, vec![Action::SetPosition { pos_ms: 10_000 }]);
        assert_eq!(p.progress().credited_ms(), 10_000);
        // Jitter inside the tolerance is fine.
        let s = p.handle(20_000, Input::Position { pos_ms: 21_500 });
        assert!(s.actions.is_empty());
        assert_eq!(p.violations().len(), 1);
    }

    #[test]
    fn rate_other_than_one_is_refused() {
        let mut p = setup(1);
        let s = p.handle(0, Input::Rate { rate: 2.0 });
        assert_eq!(s.actions, vec![Action::SetRate { rate: 1.0 }]);
        assert_eq!(p.violations()[0].0, ViolationKind::RateChange);
        p.handle(0, Input::Rate { rate: 1.0 });
        assert_eq!(p.violations().len(), 1);
    }

    #[test]
    fn focus_loss_and_idle_stop_credit() {
        let mut p = setup(1);
        p.handle(0, Input::Play);
        p.handle(100_000, Input::Focus { focused: false });
        p.handle(200_000, Input::Focus { focused: true });
        assert_eq!(p.progress().credited_ms(), 100_000);
        // No activity after 200 s: idle at 500 s.
        p.handle(700_000, Input::Tick);
        assert_eq!(p.progress().credited_ms(), 400_000);
        let kinds: Vec<_> = p.violations().iter().map(|v| v.0).collect();
        assert_eq!(kinds, vec![ViolationKind::FocusLost, ViolationKind::Idle]);
        assert_eq!(p.violations()[1].1, 500_000);
        p.handle(700_000, Input::Activity);
        p.handle(710_000, Input::Tick);
        assert_eq!(p.progress().credited_ms(), 410_000);
    }

    #[test]
    fn a_class_hour_needs_its_capture_and_its_quiz() {
        let mut p = setup(1);
        p.handle(0, Input::Play);
        let actions = play_through(&mut p, 0, 2800, true);
        assert!(actions.iter().any(|a| matches!(a, Action::Capture { .. })));
        // Credit stops at 45 minutes until the quiz passes.
        assert_eq!(p.progress().credited_ms(), 2_700_000);
        assert_eq!(p.quiz_due(), Some(1));
        assert_eq!(p.progress().class_hours_completed(), 0);
        let wrong = Input::Quiz {
            answers: vec![Answer::Index(3); 5],
        };
        p.handle(2_800_000, wrong);
        assert_eq!(p.quiz_due(), Some(1));
        let right = demo::answers(1).into_iter().map(Answer::Index).collect();
        let s = p.handle(2_800_000, Input::Quiz { answers: right });
        assert!(s
            .actions
            .contains(&Action::ClassHourCompleted { class_hour: 1 }));
        assert_eq!(p.progress().class_hours_completed(), 1);
    }

    #[test]
    fn failed_capture_blocks_credit_until_a_retry_passes() {
        let mut p = setup(1);
        p.handle(0, Input::Play);
        play_through(&mut p, 0, 2690, false);
        let credited = p.progress().credited_ms();
        assert!(
            credited < 2_690_000,
            "credit went on after a failed capture"
        );
        assert!(p.progress().capture_blocked);
        assert!(p.pending_capture().is_some());
        p.handle(2_690_000, capture(true));
        p.handle(2_695_000, Input::Tick);
        assert_eq!(p.progress().credited_ms(), credited + 5_000);
    }

    #[test]
    fn unanswered_capture_goes_overdue() {
        let mut p = setup(1);
        p.handle(0, Input::Play);
        let mut t = 0;
        let mut asked = None;
        while asked.is_none() && t < 2_700 {
            t += 10;
            let s = p.handle(t * 1000, Input::Activity);
            asked = s.actions.iter().find_map(|a| match a {
                Action::Capture { .. } => Some(t),
                _ => None,
            });
        }
        let asked = asked.unwrap();
        let credited_at_ask = p.progress().credited_ms();
        p.handle((asked + 200) * 1000, Input::Activity);
        let kinds: Vec<_> = p.violations().iter().map(|v| v.0).collect();
        assert_eq!(kinds, vec![ViolationKind::CaptureOverdue]);
        // Credited until the deadline (120 s after the request), at most.
        assert!(p.progress().credited_ms() <= credited_at_ask + 120_000);
        assert!(p.progress().credited_ms() >= credited_at_ask + 110_000);
    }
}
