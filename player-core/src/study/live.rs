//! One live study session: the [`Session`] on its own monotonic clock, plus what
//! the learner must see (the quiz on screen, the capture moment, the idle prompt,
//! the commands for the player). Every number in the [`StudyView`] comes from the
//! core; the web view's reports are inputs, never facts.

use std::sync::Arc;

use rand_chacha::ChaCha20Rng;

use super::codes::{AppCode, AppResult};
use super::view::{
    CaptureMoment, CaptureView, NotCounting, PlayerCommand, QuestionView, QuizCooldownView,
    QuizResultView, QuizView, Report, StudyView, ViolationView,
};
use crate::clock::{Clock, MonoMs};
use crate::index::ProgressIndex;
use crate::journal::Journal;
use crate::manifest::Course;
use crate::playback::{Action, Answer, Input};
use crate::policy::Policy;
use crate::session::{Session, SessionMode};

/// Credit stops when the page has not reported the position for this long.
pub const REPORT_TIMEOUT_MS: u64 = 5_000;

/// A passed capture's notice stays this long.
const PASSED_NOTICE_MS: u64 = 4_000;

/// A running study session.
pub struct Live {
    session: Session,
    course_id: String,
    class_hours_total: u32,
    hour_ms: u64,
    pass_ratio: f64,
    clock: Arc<dyn Clock>,
    origin: MonoMs,
    quiz: Option<QuizView>,
    quiz_result: Option<QuizResultView>,
    capture: Option<CaptureMoment>,
    capture_passed_at: Option<u64>,
    /// A capture the core asked for and the shell has not started yet.
    capture_request: Option<(String, u32)>,
    /// A retry the core asked for after a failure, held until the learner is ready.
    capture_held: Option<(String, u32)>,
    /// The capture the core is waiting for.
    capture_pending: Option<(String, u32)>,
    idle_prompt: bool,
    not_counting: Option<NotCounting>,
    ended: bool,
    commands: Vec<PlayerCommand>,
    focused: bool,
    window_shown: bool,
    page_visible: bool,
    sent_visible: bool,
    stopped: Option<AppCode>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("course_id", &self.course_id)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl Live {
    /// Opens a live session on `course`, resuming at the journal's breakpoint
    /// (R-ST-2). The page reports every second; without reports nothing counts (a
    /// video that never loads or stalls, a page that only says "play").
    pub fn open(
        journal: Journal,
        index: ProgressIndex,
        course: &Course,
        policy: &Policy,
        rng: ChaCha20Rng,
        clock: Arc<dyn Clock>,
        clock_offset_ms: i64,
    ) -> AppResult<Live> {
        let mode = SessionMode::Live {
            report_timeout_ms: REPORT_TIMEOUT_MS,
        };
        let origin = clock.mono_ms();
        let wall = clock.wall_ms().saturating_add(clock_offset_ms);
        let (session, actions) =
            Session::open_with(journal, index, course, policy, rng, wall, mode)?;
        let mut s = Live {
            session,
            course_id: course.id.clone(),
            class_hours_total: course.class_hours(policy),
            hour_ms: policy.class_hour_ms(),
            pass_ratio: policy.quiz_pass_ratio.value,
            clock,
            origin,
            quiz: None,
            quiz_result: None,
            capture: None,
            capture_passed_at: None,
            capture_request: None,
            capture_held: None,
            capture_pending: None,
            idle_prompt: false,
            not_counting: None,
            ended: false,
            commands: Vec::new(),
            focused: true,
            window_shown: true,
            page_visible: true,
            sent_visible: true,
            stopped: None,
        };
        s.absorb(actions);
        Ok(s)
    }

    /// Course id.
    pub fn course_id(&self) -> &str {
        &self.course_id
    }

    /// Milliseconds on the session's monotonic clock.
    pub fn now(&self) -> MonoMs {
        self.clock.mono_ms().saturating_sub(self.origin)
    }

    /// The session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Feeds one input to the core.
    pub fn input(&mut self, input: Input) -> AppResult<()> {
        let now = self.now();
        match self.session.handle(now, input) {
            Ok(actions) => {
                self.absorb(actions);
                Ok(())
            }
            Err(e) => {
                self.stopped = Some(AppCode::SessionStopped);
                self.commands.push(PlayerCommand::Pause);
                Err(e.into())
            }
        }
    }

    /// A report from the web view.
    pub fn report(&mut self, r: Report) -> AppResult<()> {
        let input = match r {
            Report::Play => Input::Play,
            Report::Pause => Input::Pause,
            Report::Position { pos_ms } => Input::Position { pos_ms },
            Report::Seek { to_ms } => Input::Seek { to_ms },
            Report::Rate { rate } => Input::Rate { rate },
            Report::Activity => {
                self.idle_prompt = false;
                Input::Activity
            }
            Report::RetryCapture => {
                if let Some(held) = self.capture_held.take() {
                    self.capture = Some(CaptureMoment::Taking);
                    self.capture_request = Some(held);
                }
                Input::Activity
            }
            Report::Visibility { visible } => {
                self.page_visible = visible;
                return self.sync_visibility();
            }
        };
        self.input(input)
    }

    /// The window gained or lost focus (from the shell, not the web view).
    pub fn set_focused(&mut self, focused: bool) -> AppResult<()> {
        if focused == self.focused {
            return Ok(());
        }
        self.focused = focused;
        self.input(Input::Focus { focused })
    }

    /// The window was minimised/hidden or shown again (from the shell).
    pub fn set_window_shown(&mut self, shown: bool) -> AppResult<()> {
        self.window_shown = shown;
        self.sync_visibility()
    }

    /// Visible only if both the shell and the page say so: the page can lower credit,
    /// never raise it.
    fn sync_visibility(&mut self) -> AppResult<()> {
        let visible = self.window_shown && self.page_visible;
        if visible == self.sent_visible {
            return Ok(());
        }
        self.sent_visible = visible;
        self.input(Input::Visible { visible })
    }

    /// Time passes.
    pub fn tick(&mut self) -> AppResult<()> {
        if let Some(t) = self.capture_passed_at {
            if self.now() >= t + PASSED_NOTICE_MS {
                self.capture_passed_at = None;
                if matches!(self.capture, Some(CaptureMoment::Passed { .. })) {
                    self.capture = None;
                }
            }
        }
        self.input(Input::Tick)
    }

    /// Quiz answers (option indices).
    pub fn answer(&mut self, answers: Vec<usize>) -> AppResult<()> {
        self.input(Input::Quiz {
            answers: answers.into_iter().map(Answer::Index).collect(),
        })
    }

    /// The platform's grade of one of this course's quiz attempts.
    pub fn graded(&mut self, grade: keshi_protocol::fact::QuizGraded) -> AppResult<()> {
        self.input(Input::Graded(grade))
    }

    /// A capture the shell must take now (id, class hour); taken once.
    pub fn take_capture_request(&mut self) -> Option<(String, u32)> {
        self.capture_request.take()
    }

    /// The outcome of capture `id`.
    pub fn capture_done(
        &mut self,
        id: &str,
        view: CaptureView,
        image_sha256: Option<String>,
        detail: serde_json::Value,
    ) -> AppResult<()> {
        if self.capture_pending.as_ref().map(|p| p.0.as_str()) != Some(id) {
            tracing::info!(id, "capture answered after it was superseded; ignored");
            return Ok(());
        }
        let now = self.now();
        self.session.note(now, "capture_detail", detail)?;
        let ok = view.passed;
        let reasons = view.reasons.iter().map(|r| r.code.clone()).collect();
        self.capture = Some(if ok {
            self.capture_passed_at = Some(now);
            CaptureMoment::Passed { result: view }
        } else {
            CaptureMoment::Failed { result: view }
        });
        self.capture_pending = None;
        self.input(Input::Capture {
            ok,
            image_sha256,
            reasons,
        })
    }

    /// Journals a fact the shell observed (see `Session::note`).
    pub fn note(&mut self, kind: &str, payload: serde_json::Value) -> AppResult<()> {
        let now = self.now();
        Ok(self.session.note(now, kind, payload)?)
    }

    /// Ends the session (a `session_end` record); gives the journal and the index
    /// back, or on failure the error and the journal.
    #[allow(clippy::type_complexity)]
    pub fn close(
        mut self,
    ) -> Result<(Journal, ProgressIndex), Box<(super::codes::AppError, Journal)>> {
        match self.input(Input::Close) {
            Ok(()) => Ok(self.session.into_parts()),
            Err(e) => Err(Box::new((e, self.session.into_journal()))),
        }
    }

    /// Gives the journal back without closing (after a failure).
    pub fn abandon(self) -> Journal {
        self.session.into_journal()
    }

    /// The session's progress index (current with every append).
    pub fn index(&self) -> &ProgressIndex {
        self.session.index()
    }

    fn absorb(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::SetPosition { pos_ms } => {
                    self.commands.push(PlayerCommand::SetPosition { pos_ms })
                }
                Action::SetRate { rate } => self.commands.push(PlayerCommand::SetRate { rate }),
                Action::Capture { id, class_hour } => {
                    self.capture_passed_at = None;
                    self.capture_pending = Some((id.clone(), class_hour));
                    if matches!(self.capture, Some(CaptureMoment::Failed { .. })) {
                        // A retry after a failure: the learner says when (a button).
                        self.capture_held = Some((id, class_hour));
                    } else {
                        self.capture = Some(CaptureMoment::Taking);
                        self.capture_request = Some((id, class_hour));
                    }
                }
                Action::Quiz {
                    class_hour,
                    attempt,
                    questions,
                } => {
                    self.quiz = Some(QuizView {
                        class_hour,
                        attempt,
                        questions: questions
                            .into_iter()
                            .map(|q| QuestionView {
                                id: q.id,
                                text: q.text,
                                options: q.options,
                            })
                            .collect(),
                        pass_ratio: self.pass_ratio,
                    });
                    self.commands.push(PlayerCommand::Pause);
                }
                Action::QuizCooldown { .. } => {
                    // Shown from the player's own state (see `view`).
                    self.quiz = None;
                }
                Action::QuizAwaiting { .. } => {
                    // Shown from the player's own state (see `view`).
                    self.quiz = None;
                    self.quiz_result = None;
                }
                Action::QuizResult {
                    class_hour,
                    passed,
                    correct,
                    total,
                } => {
                    self.quiz = None;
                    self.quiz_result = Some(QuizResultView {
                        class_hour,
                        passed,
                        correct,
                        total,
                    });
                }
                Action::NotCounting { reason } => {
                    if matches!(
                        reason,
                        NotCounting::CaptureFailed | NotCounting::CaptureOverdue
                    ) {
                        self.commands.push(PlayerCommand::Pause);
                    }
                    self.not_counting = Some(reason);
                }
                Action::IdlePrompt => self.idle_prompt = true,
                Action::ClassHourCompleted { .. } => {}
                Action::Ended => {
                    self.ended = true;
                    self.commands.push(PlayerCommand::Pause);
                }
            }
        }
    }

    /// The view; drains the pending player commands.
    pub fn view(&mut self) -> StudyView {
        let player = self.session.player();
        let progress = player.progress();
        let course_ms = player.rules().course_ms;
        // A seek back from the end (to watch what did not count) leaves the end.
        if self.ended && progress.position_ms < course_ms {
            self.ended = false;
        }
        let first_gap_ms = progress.coverage.gaps(0, course_ms).first().map(|g| g.0);
        let credited = progress.credited_ms();
        let counting = player.crediting();
        if counting {
            self.not_counting = None;
        }
        let done = progress.class_hours_completed();
        let hour_credited = if player.quiz_due().is_some() {
            self.hour_ms
        } else {
            credited.saturating_sub((credited / self.hour_ms.max(1)) * self.hour_ms)
        };
        let violations = player.violations();
        let skip = violations.len().saturating_sub(20);
        StudyView {
            course_id: self.course_id.clone(),
            playing: player.is_playing(),
            counting,
            not_counting: if counting {
                None
            } else if player.quiz_due().is_some() {
                Some(NotCounting::QuizDue)
            } else if matches!(self.capture, Some(CaptureMoment::Failed { .. })) {
                Some(NotCounting::CaptureFailed)
            } else if !player.is_playing() && !self.ended {
                Some(NotCounting::Paused)
            } else {
                self.not_counting
            },
            position_ms: progress.position_ms,
            frontier_ms: progress.frontier_ms,
            credited_ms: credited,
            session_credited_ms: credited.saturating_sub(self.session.credited_at_open_ms()),
            class_hours_done: done,
            class_hours_total: self.class_hours_total,
            hour_credited_ms: hour_credited,
            class_hour_ms: self.hour_ms,
            quiz: self.quiz.clone(),
            quiz_result: self.quiz_result.clone(),
            quiz_awaiting: player.awaiting_grades(),
            quiz_cooldown: player
                .quiz_cooldown()
                .map(|(class_hour, until_ms)| QuizCooldownView {
                    class_hour,
                    until_ms,
                }),
            capture: self.capture.clone(),
            idle_prompt: self.idle_prompt,
            ended: self.ended,
            first_gap_ms,
            commands: std::mem::take(&mut self.commands),
            violations: violations[skip..]
                .iter()
                .map(|(k, at)| ViolationView {
                    code: *k,
                    at_ms: *at,
                })
                .collect(),
            stopped: self.stopped,
        }
    }
}
