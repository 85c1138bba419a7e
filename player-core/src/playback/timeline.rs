//! Time and position: the 1.0x model between reports, what credit needs, segments,
//! seeks, position reports, focus, visibility and idleness (R-ST-1, R-ST-2, R-ST-4).

use keshi_protocol::fact::{Fact, PlayerState, Seek, ViolationKind};

use super::{
    Action, MonoMs, NotCounting, Player, Segment, Violation, Window, CHECKPOINT_MS, SEEK_SLACK_MS,
    TOLERANCE_BASE_MS, TOLERANCE_RATE,
};

impl Player {
    /// Focus or visibility changed (R-ST-4): gaining it is activity; losing it while
    /// playing stops credit and is a violation.
    pub(super) fn window(&mut self, now: MonoMs, which: Window, on: bool) {
        if on {
            self.touch(now);
        }
        let (flag, violation, reason, on_state, off_state) = match which {
            Window::Focus => (
                &mut self.focused,
                ViolationKind::FocusLost,
                NotCounting::FocusLost,
                PlayerState::Focus,
                PlayerState::Blur,
            ),
            Window::Visible => (
                &mut self.visible,
                ViolationKind::Hidden,
                NotCounting::Hidden,
                PlayerState::Visible,
                PlayerState::Hidden,
            ),
        };
        if *flag == on {
            return;
        }
        *flag = on;
        self.close_segment();
        if !on && self.playing {
            self.violation(Violation::new(violation, 0));
            self.actions.push(Action::NotCounting { reason });
        }
        self.state_fact(if on { on_state } else { off_state });
    }

    pub(super) fn touch(&mut self, now: MonoMs) {
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

    pub(super) fn credit_ok(&self, t: MonoMs) -> bool {
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
            && self.progress.position_ms < self.cfg.rules.course_ms
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
    pub(super) fn advance(&mut self, now: MonoMs) {
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
                now.min(t.saturating_add(self.cfg.rules.course_ms.saturating_sub(pos)))
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
                stop = stop.min(seg.t0.saturating_add(CHECKPOINT_MS));
            }
            if crediting {
                self.ensure_schedule();
                if let Some(d) = self.travel_to_mark() {
                    stop = stop.min(t.saturating_add(d));
                }
            }
            let dt = stop - t;
            let new_pos = if held { pos } else { pos.saturating_add(dt) };
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

    /// Whatever happens by itself at `self.now`.
    fn on_time(&mut self, was_crediting: bool) {
        let t = self.now;
        if let Some(seg) = &self.seg {
            if t >= seg.t0.saturating_add(CHECKPOINT_MS) {
                self.close_segment();
            }
        }
        if self.playing && !self.stall_reported && self.report_deadline().is_some_and(|d| t >= d) {
            self.stall_reported = true;
            self.close_segment();
            self.actions.push(Action::NotCounting {
                reason: NotCounting::NoProgress,
            });
        }
        if self.playing && t >= self.idle_deadline() && !self.idle_reported {
            self.idle_reported = true;
            self.close_segment();
            let mut v = Violation::new(ViolationKind::Idle, 0);
            v.idle_ms = Some(self.cfg.idle_ms);
            self.violation(v);
            self.actions.push(Action::IdlePrompt);
        }
        self.check_capture_deadline(t);
        if was_crediting {
            self.captures_due();
            self.check_hour_end();
        }
        if self.progress.position_ms >= self.cfg.rules.course_ms && self.playing {
            self.close_segment();
            self.playing = false;
            let pos_ms = self.progress.position_ms;
            self.emit(Fact::Ended(keshi_protocol::fact::Ended { pos_ms }));
            self.actions.push(Action::Ended);
        }
    }

    pub(super) fn split_if_credit_changed(&mut self) {
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
    pub(super) fn close_segment(&mut self) {
        if let Some(seg) = self.seg.take() {
            let pos1 = self.progress.position_ms;
            if self.now > seg.t0 || pos1 != seg.pos0 {
                let credited_ms: u64 = seg.covered.iter().map(|(a, b)| b - a).sum();
                let covered: Vec<[u64; 2]> = seg.covered.iter().map(|&(a, b)| [a, b]).collect();
                let fact = keshi_protocol::fact::Segment {
                    session: self.session,
                    t0_ms: seg.t0,
                    t1_ms: self.now,
                    pos0_ms: seg.pos0,
                    pos_ms: pos1,
                    frontier_ms: self.progress.frontier_ms,
                    credited_ms,
                    covered,
                    total_credited_ms: self.progress.credited_ms(),
                };
                self.emit(Fact::Segment(fact));
            }
        }
    }

    #[allow(clippy::cast_possible_truncation)] // a tolerance of a few seconds
    pub(super) fn report(&mut self, now: MonoMs, reported: u64) {
        let expected = self.progress.position_ms;
        let since = now.saturating_sub(self.last_report);
        self.last_report = now;
        self.stall_reported = false;
        let tol = TOLERANCE_BASE_MS + (since as f64 * TOLERANCE_RATE) as u64;
        if reported > expected.saturating_add(tol) {
            self.seek(reported, "position");
        } else if reported.saturating_add(tol) < expected {
            // Behind the model: buffering, or a player stalled without saying so.
            self.close_segment();
            self.progress.position_ms = reported;
        }
    }

    pub(super) fn seek(&mut self, to: u64, source: &str) {
        let from = self.progress.position_ms;
        let to = to.min(self.cfg.rules.course_ms);
        if to <= self.progress.frontier_ms.saturating_add(SEEK_SLACK_MS) {
            if to != from {
                self.close_segment();
                self.progress.position_ms = to.min(self.progress.frontier_ms);
                let seek = Seek {
                    from_ms: from,
                    to_ms: to,
                    pos_ms: self.progress.position_ms,
                    source: source.to_owned(),
                    accepted: true,
                };
                self.emit(Fact::Seek(seek));
            }
        } else {
            let mut v = Violation::new(ViolationKind::SeekAhead, 0);
            v.from_ms = Some(from);
            v.to_ms = Some(to);
            v.source = Some(source.to_owned());
            v.frontier_ms = Some(self.progress.frontier_ms);
            self.violation(v);
            self.actions.push(Action::SetPosition { pos_ms: from });
        }
    }
}
