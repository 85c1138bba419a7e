//! A study session: the [`Player`] wired to the [`Journal`].
//!
//! Every step's facts are appended (one durable group commit) *before* the caller
//! sees the step's actions, so nothing the learner is told counted can be lost to a
//! crash. On open, progress on the course is rebuilt by folding the journal (R-ST-2:
//! resume at the breakpoint); the journal is the only state.

use std::ops::ControlFlow;

use rand_chacha::ChaCha20Rng;

use crate::clock::MonoMs;
use crate::journal::{Journal, JournalError};
use crate::manifest::{Course, ManifestError};
use crate::playback::{Action, Input, Player, Progress, Step};
use crate::policy::Policy;
use crate::record::{NewRecord, Record};

/// Why a session could not go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The journal refused or failed (disk full, I/O error, foreign journal…).
    #[error("study journal: {0}")]
    Journal(#[from] JournalError),
    /// The course does not fit the policy.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A record's payload is not JSON.
    #[error("study journal: record {seq} has an unreadable payload: {reason}")]
    BadPayload {
        /// The record.
        seq: u64,
        /// Why.
        reason: String,
    },
    /// An earlier append failed; the session must be reopened from the journal.
    #[error(
        "the session stopped after a journal failure; reopen it to resume from what was recorded"
    )]
    Poisoned,
}

/// A running session. See the module docs.
#[derive(Debug)]
pub struct Session {
    player: Player,
    journal: Journal,
    wall_origin_ms: i64,
    written: u64,
    poisoned: bool,
    credited_at_open_ms: u64,
}

impl Session {
    /// Opens a session on `course` under `policy`, continuing what `journal` holds.
    /// `wall_origin_ms` is the wall time at monotonic 0 (records carry both clocks).
    /// Returns the session and the actions that open it (e.g. resume position).
    pub fn open(
        journal: Journal,
        course: &Course,
        policy: &Policy,
        rng: ChaCha20Rng,
        wall_origin_ms: i64,
    ) -> Result<(Session, Vec<Action>), SessionError> {
        course.check_against(policy)?;
        let progress = progress_of_journal(&journal, &course.id)?;
        let credited_at_open_ms = progress.credited_ms();
        let (player, step) = Player::start(course, policy, progress, rng, 0);
        let mut s = Session {
            player,
            journal,
            wall_origin_ms,
            written: 0,
            poisoned: false,
            credited_at_open_ms,
        };
        let actions = s.commit(step)?;
        Ok((s, actions))
    }

    /// Feeds one input at monotonic `now`; returns what the UI must do, after the
    /// facts are durable.
    pub fn handle(&mut self, now: MonoMs, input: Input) -> Result<Vec<Action>, SessionError> {
        if self.poisoned {
            return Err(SessionError::Poisoned);
        }
        let step = self.player.handle(now, input);
        self.commit(step)
    }

    fn commit(&mut self, step: Step) -> Result<Vec<Action>, SessionError> {
        if !step.facts.is_empty() {
            let batch: Vec<NewRecord> = step
                .facts
                .into_iter()
                .map(|f| {
                    NewRecord::new(
                        f.kind,
                        f.payload,
                        self.wall_origin_ms.saturating_add(f.at as i64),
                        f.at,
                    )
                })
                .collect();
            let n = batch.len() as u64;
            if let Err(e) = self.journal.append_batch(batch) {
                // The player is now ahead of the journal: stop rather than diverge.
                self.poisoned = true;
                tracing::error!(error = %e, "journal append failed; session stopped");
                return Err(e.into());
            }
            self.written += n;
        }
        Ok(step.actions)
    }

    /// Journals a fact the shell observed beside the player's own: the details of a
    /// capture (faces, liveness, camera), a client event. Progress ignores kinds it
    /// does not know, so notes never change what counts (R-ST-6: the record of the
    /// learning process is complete).
    pub fn note(
        &mut self,
        now: MonoMs,
        kind: &str,
        payload: serde_json::Value,
    ) -> Result<(), SessionError> {
        if self.poisoned {
            return Err(SessionError::Poisoned);
        }
        let rec = NewRecord::new(
            kind,
            payload,
            self.wall_origin_ms.saturating_add(now as i64),
            now,
        );
        if let Err(e) = self.journal.append_batch(vec![rec]) {
            self.poisoned = true;
            return Err(e.into());
        }
        self.written += 1;
        Ok(())
    }

    /// Ends the session and gives the journal back (after `Input::Close`).
    pub fn into_journal(self) -> Journal {
        self.journal
    }

    /// The state machine (read-only).
    pub fn player(&self) -> &Player {
        &self.player
    }

    /// The state machine, for drivers that need its clock helpers.
    pub fn player_mut(&mut self) -> &mut Player {
        &mut self.player
    }

    /// The journal.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Credited ms on the course when the session opened.
    pub fn credited_at_open_ms(&self) -> u64 {
        self.credited_at_open_ms
    }

    /// Records written by this session.
    pub fn records_written(&self) -> u64 {
        self.written
    }
}

/// Folds journal records into the progress on one course: only records of sessions
/// that were opened on `course_id` count.
pub fn progress_of<'a>(
    records: impl Iterator<Item = &'a Record>,
    course_id: &str,
) -> Result<Progress, SessionError> {
    let mut fold = Fold::new(course_id);
    for r in records {
        if fold.push(r).is_break() {
            break;
        }
    }
    fold.finish()
}

/// [`progress_of`] over a whole journal, streaming.
pub fn progress_of_journal(journal: &Journal, course_id: &str) -> Result<Progress, SessionError> {
    let mut fold = Fold::new(course_id);
    journal.for_each_from(1, |r| fold.push(&r))?;
    fold.finish()
}

/// Streaming form of [`progress_of`].
struct Fold<'c> {
    course_id: &'c str,
    progress: Progress,
    active: bool,
    error: Option<SessionError>,
}

impl<'c> Fold<'c> {
    fn new(course_id: &'c str) -> Self {
        Fold {
            course_id,
            progress: Progress::default(),
            active: false,
            error: None,
        }
    }

    fn push(&mut self, r: &Record) -> ControlFlow<()> {
        if r.payload_erased() {
            return ControlFlow::Continue(());
        }
        let payload = match r.payload_json() {
            Ok(p) => p,
            Err(e) => {
                self.error = Some(SessionError::BadPayload {
                    seq: r.seq(),
                    reason: e.to_string(),
                });
                return ControlFlow::Break(());
            }
        };
        let kind = r.header.kind.as_str();
        if kind == crate::retention::SNAPSHOT_KIND {
            // A signed snapshot supersedes everything folded so far for its course.
            if payload.get("course").and_then(|c| c.as_str()) == Some(self.course_id) {
                match payload
                    .get("progress")
                    .cloned()
                    .map(serde_json::from_value::<Progress>)
                {
                    Some(Ok(p)) => self.progress = p,
                    _ => {
                        self.error = Some(SessionError::BadPayload {
                            seq: r.seq(),
                            reason: "progress snapshot without a readable `progress`".into(),
                        });
                        return ControlFlow::Break(());
                    }
                }
            }
            self.active = false;
            return ControlFlow::Continue(());
        }
        if kind == "session_start" {
            self.active = payload.get("course").and_then(|c| c.as_str()) == Some(self.course_id);
        }
        if self.active {
            self.progress.apply(kind, &payload);
        }
        ControlFlow::Continue(())
    }

    fn finish(self) -> Result<Progress, SessionError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.progress),
        }
    }
}
