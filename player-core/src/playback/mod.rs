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
//! conditions ([`crate::coverage::Coverage`]). Watching a minute twice credits it once, so credited
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

mod hours;
mod input;
mod timeline;

use rand_chacha::ChaCha20Rng;

use crate::clock::MonoMs;
pub use input::{Action, Input, NotCounting, QuestionView, Step, TimedFact};
use keshi_protocol::draw::AttemptLimit;
pub use keshi_protocol::fact::{Answer, Violation};
use keshi_protocol::fact::{Fact, Resume, SessionEnd, SessionStart, ViolationKind};
pub use keshi_protocol::fold::{DeviceEvidence, HourProgress, HourRules, Progress};
use keshi_protocol::manifest::{Course, QuizBank};
use keshi_protocol::policy::Policy;

/// Fixed part of the position-report tolerance.
pub const TOLERANCE_BASE_MS: u64 = 2_000;
/// Proportional part of the tolerance: 5% of the time since the last report.
pub const TOLERANCE_RATE: f64 = 0.05;
/// How far past the frontier a seek may land (player key-frame rounding).
pub const SEEK_SLACK_MS: u64 = 500;
/// An open segment is written at least this often, bounding what a crash can lose.
pub const CHECKPOINT_MS: u64 = 30_000;

/// What the platform told the device, for a player to start with.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// The key platform grades must verify under (pinned by the brand, else learnt
    /// at login); without one no grade is believed.
    pub platform_key: Option<[u8; 32]>,
    /// The learner's draw seed (learnt at login, [`keshi_protocol::draw`]); without
    /// one questions are drawn at random (and the platform fails them).
    pub draw_seed: Option<Vec<u8>>,
    /// Wall time (Unix ms, the platform's clock) at monotonic 0, for the quiz pause.
    pub wall_origin_ms: i64,
}

/// Validated parameters the player runs with.
#[derive(Debug, Clone)]
struct Config {
    rules: HourRules,
    capture_deadline_ms: u64,
    idle_ms: u64,
    questions_per_quiz: usize,
    attempts: AttemptLimit,
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
    /// The ids drawn, in the order shown.
    questions: Vec<String>,
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
    course_id: String,
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
    /// Whom this player believes about grades (the platform key).
    evidence: DeviceEvidence,
    /// The platform's draw seed for this learner (see [`keshi_protocol::draw`]);
    /// without one, questions are drawn from `rng` (and the platform fails them).
    draw_seed: Option<Vec<u8>>,
    /// Wall time (Unix ms, platform time) at monotonic 0.
    wall_origin_ms: i64,
    /// The quiz pause told to the UI: class hour and end (wall ms).
    cooldown: Option<(u32, i64)>,
    seg: Option<Segment>,
    facts: Vec<TimedFact>,
    actions: Vec<Action>,
    violations: Vec<(ViolationKind, MonoMs)>,
}

impl Player {
    /// A player for `course` under `policy`, resuming from `progress` (folded from the
    /// journal with the same rules), with `rng` (a CSPRNG seeded from the OS in
    /// production, from a fixed seed in tests), starting at monotonic `start_at`.
    ///
    /// Returns the player and the facts that open the session.
    pub fn start(
        course: &Course,
        policy: &Policy,
        progress: Progress,
        rng: ChaCha20Rng,
        start_at: MonoMs,
    ) -> (Player, Step) {
        Player::start_with(course, policy, progress, rng, start_at, Trust::default())
    }

    /// [`Player::start`] with what the platform told the device ([`Trust`]): a quiz
    /// left due opens already with the platform's draw.
    pub fn start_with(
        course: &Course,
        policy: &Policy,
        mut progress: Progress,
        rng: ChaCha20Rng,
        start_at: MonoMs,
        trust: Trust,
    ) -> (Player, Step) {
        let rules = course.hour_rules(policy);
        let cfg = Config {
            rules,
            capture_deadline_ms: u64::from(policy.capture_response_seconds.value) * 1000,
            idle_ms: u64::from(policy.idle_timeout_seconds.value) * 1000,
            questions_per_quiz: policy.quiz_questions_per_class_hour.value as usize,
            attempts: AttemptLimit::of(policy),
        };
        progress.position_ms = progress.position_ms.min(rules.course_ms);
        let resumed = progress.sessions > 0;
        let session = progress.sessions.saturating_add(1);
        let mut p = Player {
            cfg,
            course_id: course.id.clone(),
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
            evidence: DeviceEvidence {
                platform_key: trust.platform_key,
            },
            draw_seed: trust.draw_seed,
            wall_origin_ms: trust.wall_origin_ms,
            cooldown: None,
            seg: None,
            facts: Vec::new(),
            actions: Vec::new(),
            violations: Vec::new(),
        };
        p.emit(Fact::SessionStart(SessionStart {
            session,
            course: course.id.clone(),
            profile: policy.id.clone(),
            class_hours: rules.class_hours,
            course_ms: rules.course_ms,
        }));
        if resumed {
            let pr = &p.progress;
            let resume = Resume {
                pos_ms: pr.position_ms,
                frontier_ms: pr.frontier_ms,
                credited_ms: pr.credited_ms(),
                class_hours_completed: pr.class_hours_completed(),
            };
            p.emit(Fact::Resume(resume));
            p.actions.push(Action::SetPosition {
                pos_ms: p.progress.position_ms,
            });
        }
        // A capture left failed, or a quiz left due, carries over into this session.
        if p.progress.capture_blocked {
            let h = p.current_hour();
            p.ask_capture(h, false);
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
        if self
            .cooldown
            .is_some_and(|(_, until)| self.wall_now() >= until)
        {
            self.check_hour_end();
        }
        match input {
            Input::Play => {
                self.touch(now);
                if !self.playing && self.progress.position_ms < self.cfg.rules.course_ms {
                    self.playing = true;
                    self.last_report = now;
                    self.stall_reported = false;
                    self.state_fact(keshi_protocol::fact::PlayerState::Play);
                }
            }
            Input::Pause => {
                self.touch(now);
                if self.playing {
                    self.close_segment();
                    self.playing = false;
                    self.state_fact(keshi_protocol::fact::PlayerState::Pause);
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
                    let mut v = Violation::new(ViolationKind::RateChange, 0);
                    v.requested = Some(rate.is_finite().then_some(rate));
                    self.violation(v);
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
            Input::Graded(grade) => self.graded(grade),
            Input::LeaseRevoked { reason } => {
                if !self.revoked {
                    self.close_segment();
                    self.revoked = true;
                    let mut v = Violation::new(ViolationKind::LeaseRevoked, 0);
                    v.reason = Some(reason);
                    self.violation(v);
                    self.actions.push(Action::NotCounting {
                        reason: NotCounting::LeaseRevoked,
                    });
                }
            }
            Input::Tick => {}
            Input::Close => {
                self.close_segment();
                self.playing = false;
                let pr = &self.progress;
                let end = SessionEnd {
                    session: self.session,
                    pos_ms: pr.position_ms,
                    frontier_ms: pr.frontier_ms,
                    credited_ms: pr.credited_ms(),
                    class_hours_completed: pr.class_hours_completed(),
                };
                self.emit(Fact::SessionEnd(end));
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

    /// The rules of a class hour this player runs with.
    pub fn rules(&self) -> &HourRules {
        &self.cfg.rules
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

    /// The class hours whose last quiz attempt waits for the platform's grade.
    pub fn awaiting_grades(&self) -> Vec<u32> {
        self.progress
            .hours
            .iter()
            .filter(|(_, h)| h.awaiting_grade())
            .map(|(&n, _)| n)
            .collect()
    }

    /// The platform key grades must verify under (pinned by the brand, else learnt
    /// at login); without one no grade is believed. Set before the first input.
    pub fn set_platform_key(&mut self, key: Option<[u8; 32]>) {
        self.evidence = DeviceEvidence { platform_key: key };
    }

    fn wall_now(&self) -> i64 {
        self.wall_origin_ms
            .saturating_add(i64::try_from(self.now).unwrap_or(i64::MAX))
    }

    /// The quiz pause after a round of failed attempts, if one is running: class
    /// hour and end (wall ms).
    pub fn quiz_cooldown(&self) -> Option<(u32, i64)> {
        self.cooldown
    }

    /// The capture waiting for a result, if any.
    pub fn pending_capture(&self) -> Option<&str> {
        self.pending.as_ref().map(|p| p.id.as_str())
    }

    /// Whether the session was closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The 1-based class hour that credit is currently filling.
    pub fn current_hour(&self) -> u32 {
        self.cfg.rules.hour_of(self.progress.credited_ms())
    }

    /// Requires the UI to report the position at least every `timeout_ms` while
    /// playing; without reports, credit stops at the deadline (`NotCounting
    /// { reason: NoProgress }`) until the next report. A live player (the desktop
    /// app) reports every second, so a video that never loads, stalls, or a page that
    /// only says "play" earns nothing. Off by default: scripted replays report sparsely
    /// and rely on the 1.0x model between reports.
    pub fn require_reports(&mut self, timeout_ms: Option<u64>) {
        self.report_timeout = timeout_ms;
    }

    // ---- facts -----------------------------------------------------------------

    fn take(&mut self) -> Step {
        Step {
            facts: std::mem::take(&mut self.facts),
            actions: std::mem::take(&mut self.actions),
        }
    }

    /// Records a fact: it goes to the journal, and into this player's progress
    /// through the same fold that rebuilds progress from the journal (so the two
    /// cannot disagree). Class hours it completes are recorded after it.
    fn emit(&mut self, fact: Fact) {
        self.progress.apply(&fact, &self.cfg.rules, &self.evidence);
        self.facts.push(TimedFact { at: self.now, fact });
        for hour in self.progress.complete_hours(&self.cfg.rules) {
            let done = keshi_protocol::fact::ClassHourCompleted {
                class_hour: hour,
                credited_ms: self.progress.credited_ms(),
            };
            self.facts.push(TimedFact {
                at: self.now,
                fact: Fact::ClassHourCompleted(done),
            });
            self.actions
                .push(Action::ClassHourCompleted { class_hour: hour });
        }
    }

    fn state_fact(&mut self, state: keshi_protocol::fact::PlayerState) {
        let pos_ms = self.progress.position_ms;
        self.emit(Fact::State(keshi_protocol::fact::State { state, pos_ms }));
    }

    /// Records a violation at the current position (the caller fills the detail).
    fn violation(&mut self, mut v: Violation) {
        self.violations.push((v.kind, self.now));
        v.pos_ms = self.progress.position_ms;
        self.emit(Fact::Violation(v));
    }
}

#[cfg(test)]
mod tests;
