//! Class hours: random captures inside each hour (R-ST-3), the end-of-hour quiz
//! (R-AS-1), and what they hold. Completion itself is the fold's
//! ([`keshi_protocol::fold::Progress::complete_hours`]), applied as facts are emitted.

use rand::Rng;

use keshi_protocol::draw::draw;
use keshi_protocol::fact::{
    CaptureRequested, CaptureResult, CaptureUnsolicited, Fact, QuizAnswered, QuizGraded,
    QuizUnsolicited, ViolationKind,
};

use super::{
    Action, Answer, MonoMs, NotCounting, Pending, Player, QuestionView, QuizDue, Violation,
};

impl Player {
    /// Course travel until credit reaches the next capture mark or the hour's end.
    pub(super) fn travel_to_mark(&self) -> Option<u64> {
        let credited = self.progress.credited_ms();
        let hour_end = u64::from(self.current_hour()).saturating_mul(self.cfg.rules.hour_ms);
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
            self.cfg.rules.course_ms,
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
        self.travel_to_mark().map(|d| self.now.saturating_add(d))
    }

    /// Draws the capture marks of the hour credit is filling, once per hour: uniform
    /// over the rest of the hour, a second clear of its edges, never journaled ahead.
    pub(super) fn ensure_schedule(&mut self) {
        let h = self.current_hour();
        if self.schedule_hour == h {
            return;
        }
        self.schedule_hour = h;
        self.schedule.clear();
        let done = self.progress.hours.get(&h).map_or(0, |p| p.captures_passed);
        let asked = u32::from(self.pending.as_ref().is_some_and(|p| p.hour == h));
        let need = self
            .cfg
            .rules
            .captures_per_hour
            .saturating_sub(done + asked);
        let hour_ms = self.cfg.rules.hour_ms;
        let start = u64::from(h - 1) * hour_ms;
        let end = u64::from(h) * hour_ms;
        let lo = (self.progress.credited_ms() + 1).max(start + 1_000);
        let hi = end.saturating_sub(1_000).max(lo + 1);
        for _ in 0..need {
            self.schedule.push(self.rng.random_range(lo..hi));
        }
        self.schedule.sort_unstable();
    }

    /// Asks for the captures whose marks credit has reached.
    pub(super) fn captures_due(&mut self) {
        let credited = self.progress.credited_ms();
        while self.schedule.first().is_some_and(|&m| credited >= m) {
            self.schedule.remove(0);
            let h = self.schedule_hour;
            self.ask_capture(h, true);
        }
    }

    pub(super) fn ask_capture(&mut self, hour: u32, with_deadline: bool) {
        self.captures_asked += 1;
        let id = format!("s{}-c{}", self.session, self.captures_asked);
        let deadline = with_deadline.then(|| self.now.saturating_add(self.cfg.capture_deadline_ms));
        self.emit(Fact::CaptureRequested(CaptureRequested {
            id: id.clone(),
            class_hour: hour,
            credited_ms: self.progress.credited_ms(),
            retry: !with_deadline,
            pos_ms: self.progress.position_ms,
        }));
        self.actions.push(Action::Capture {
            id: id.clone(),
            class_hour: hour,
        });
        self.pending = Some(Pending { id, hour, deadline });
    }

    /// A capture not answered by its deadline fails (`overdue`) and is asked again,
    /// without a deadline: credit stays stopped until it passes.
    pub(super) fn check_capture_deadline(&mut self, t: MonoMs) {
        let Some(p) = self.pending.clone() else {
            return;
        };
        if p.deadline.is_none_or(|d| t < d) {
            return;
        }
        self.close_segment();
        self.pending = None;
        self.emit(Fact::CaptureResult(CaptureResult {
            id: p.id.clone(),
            class_hour: p.hour,
            ok: false,
            image_sha256: None,
            reasons: vec!["overdue".into()],
            pos_ms: self.progress.position_ms,
        }));
        let mut v = Violation::new(ViolationKind::CaptureOverdue, 0);
        v.id = Some(p.id);
        v.class_hour = Some(p.hour);
        self.violation(v);
        self.ask_capture(p.hour, false);
    }

    pub(super) fn capture_result(
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
            self.emit(Fact::CaptureUnsolicited(CaptureUnsolicited { ok }));
            return;
        };
        self.close_segment();
        if ok {
            // A face that passed is presence: it counts as activity (R-ST-4).
            self.touch(now);
        }
        self.emit(Fact::CaptureResult(CaptureResult {
            id: p.id.clone(),
            class_hour: p.hour,
            ok,
            image_sha256: Some(image_sha256),
            reasons: reasons.clone(),
            pos_ms: self.progress.position_ms,
        }));
        if !ok {
            let mut v = Violation::new(ViolationKind::CaptureFailed, 0);
            v.id = Some(p.id);
            v.class_hour = Some(p.hour);
            v.reasons = Some(reasons);
            self.violation(v);
            self.actions.push(Action::NotCounting {
                reason: NotCounting::CaptureFailed,
            });
            self.ask_capture(p.hour, false);
        }
    }

    /// At the end of an hour's credit: the quiz is due.
    pub(super) fn check_hour_end(&mut self) {
        if self.quiz.is_some() || self.cfg.rules.class_hours == 0 {
            return;
        }
        let credited = self.progress.credited_ms();
        let mut paused = false;
        for h in 1..=self.cfg.rules.class_hours {
            let end = u64::from(h).saturating_mul(self.cfg.rules.hour_ms);
            let hp = self.progress.hours.get(&h).cloned().unwrap_or_default();
            // An attempt awaiting the platform's grade is not asked again; study
            // goes on meanwhile (offline for days, inside the offline lease).
            if credited >= end && !hp.quiz_passed && !hp.awaiting_grade() {
                // A round of failed attempts pauses the quiz (study goes on).
                if let Some(until) = self.cfg.attempts.cooldown_until(&hp) {
                    if self.wall_now() < until {
                        paused = true;
                        if self.cooldown != Some((h, until)) {
                            self.cooldown = Some((h, until));
                            self.actions.push(Action::QuizCooldown {
                                class_hour: h,
                                until_ms: until,
                            });
                        }
                        continue;
                    }
                }
                self.cooldown = None;
                self.close_segment();
                self.open_quiz(h, hp.quiz_attempts + 1);
                return;
            }
        }
        if !paused {
            self.cooldown = None;
        }
    }

    fn open_quiz(&mut self, hour: u32, attempt: u32) {
        let bank = self.banks.iter().find(|b| b.class_hour == hour);
        let all: Vec<String> = bank.map_or_else(Vec::new, |b| {
            b.questions.iter().map(|q| q.id.clone()).collect()
        });
        let k = self.cfg.questions_per_quiz;
        let drawn: Vec<String> = match &self.draw_seed {
            // The platform's draw for this learner and attempt.
            Some(seed) => draw(seed, &self.course_id, hour, attempt, &all, k),
            // No seed (never logged in): at random from the session's RNG (as
            // seeded timelines expect), in bank order.
            None => {
                let n = all.len();
                let mut idx: Vec<usize> = (0..n).collect();
                for i in 0..k.min(n) {
                    idx.swap(i, self.rng.random_range(i..n));
                }
                idx.truncate(k.min(n));
                idx.sort_unstable();
                idx.into_iter()
                    .filter_map(|i| all.get(i).cloned())
                    .collect()
            }
        };
        let (ids, views): (Vec<String>, Vec<QuestionView>) = match bank {
            Some(bank) => drawn
                .iter()
                .filter_map(|id| bank.questions.iter().find(|q| &q.id == id))
                .map(|q| {
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
        self.emit(Fact::QuizDue(keshi_protocol::fact::QuizDue {
            class_hour: hour,
            attempt,
            questions: ids.clone(),
        }));
        self.actions.push(Action::Quiz {
            class_hour: hour,
            attempt,
            questions: views,
        });
        self.quiz = Some(QuizDue {
            hour,
            attempt,
            questions: ids,
        });
    }

    /// The learner's answers: journaled as they are. The device holds no answer
    /// keys (issue 11): the platform grades them and its signed grade comes back
    /// through sync ([`Player::graded`]).
    pub(super) fn quiz_answers(&mut self, answers: Vec<Answer>) {
        let Some(q) = self.quiz.take() else {
            let n = answers.len() as u64;
            self.emit(Fact::QuizUnsolicited(QuizUnsolicited { answers: n }));
            return;
        };
        self.emit(Fact::QuizAnswered(QuizAnswered {
            class_hour: q.hour,
            attempt: q.attempt,
            questions: q.questions,
            answers,
            correct: None,
            total: None,
            passed: None,
        }));
        self.actions
            .push(Action::QuizAwaiting { class_hour: q.hour });
        self.check_hour_end();
    }

    /// The platform's grade of an attempt. A grade that does not verify under the
    /// platform key, belongs to another course, or was already taken is ignored.
    pub(super) fn graded(&mut self, grade: QuizGraded) {
        use keshi_protocol::fold::Evidence;
        if grade.course != self.course_id || !self.evidence.grade_believed(&grade) {
            tracing::warn!(course = %grade.course, hour = grade.class_hour, "a quiz grade was not believed");
            return;
        }
        let news = self
            .progress
            .hours
            .get(&grade.class_hour)
            .is_none_or(|h| h.takes_grade(grade.attempt));
        if !news {
            return;
        }
        let (hour, passed, correct, total) =
            (grade.class_hour, grade.passed, grade.correct, grade.total);
        self.emit(Fact::QuizGraded(grade));
        self.actions.push(Action::QuizResult {
            class_hour: hour,
            passed,
            correct,
            total,
        });
        if !passed {
            let mut v = Violation::new(ViolationKind::QuizFailed, 0);
            v.class_hour = Some(hour);
            v.correct = Some(correct);
            v.total = Some(total);
            self.violation(v);
        }
        // A failed attempt: the quiz is due again (attempt + 1), holding playback.
        self.check_hour_end();
    }
}
