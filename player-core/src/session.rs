//! A study session: the [`Player`] wired to the [`Journal`] and the
//! [`ProgressIndex`].
//!
//! Every step's facts are appended (one durable group commit) *before* the caller
//! sees the step's actions, so nothing the learner is told counted can be lost to a
//! crash; the records appended are folded into the index at once. On open, progress
//! on the course comes from the index, i.e. from folding the journal (R-ST-2: resume
//! at the breakpoint); the journal is the only state.

use rand_chacha::ChaCha20Rng;

use crate::clock::MonoMs;
use crate::fold::Progress;
use crate::index::{KnownRules, ProgressIndex};
use crate::journal::{Journal, JournalError, Records};
use crate::manifest::{Course, ManifestError};
use crate::playback::{Action, Input, Player, Step, Trust};
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
    /// An earlier append failed; the session must be reopened from the journal.
    #[error(
        "the session stopped after a journal failure; reopen it to resume from what was recorded"
    )]
    Poisoned,
}

/// How the page drives the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionMode {
    /// A live player (the app): it reports the position every second, so credit
    /// stops when no report came for `report_timeout_ms` (a video that never loads
    /// or stalls, a page that only says "play", earns nothing).
    Live {
        /// Longest gap between position reports that still counts.
        report_timeout_ms: u64,
    },
    /// A scripted replay (`keshi simulate`): sparse reports, the 1.0x model between.
    Replay,
}

/// A running session. See the module docs.
#[derive(Debug)]
pub struct Session {
    player: Player,
    journal: Journal,
    index: ProgressIndex,
    wall_origin_ms: i64,
    written: u64,
    poisoned: bool,
    credited_at_open_ms: u64,
}

/// The rules of `course` under `policy`, for an index that knows no other course.
pub fn rules_of(course: &Course, policy: &Policy) -> KnownRules {
    KnownRules::default().with(&course.id, course.hour_rules(policy))
}

impl Session {
    /// Opens a replay session on `course` under `policy`, continuing what `journal`
    /// holds (folded here in one pass). `wall_origin_ms` is the wall time at
    /// monotonic 0 (records carry both clocks). Returns the session and the actions
    /// that open it (e.g. resume position).
    pub fn open(
        journal: Journal,
        course: &Course,
        policy: &Policy,
        rng: ChaCha20Rng,
        wall_origin_ms: i64,
    ) -> Result<(Session, Vec<Action>), SessionError> {
        let index = ProgressIndex::build(&journal, rules_of(course, policy))?;
        Session::open_with(
            journal,
            index,
            course,
            policy,
            rng,
            wall_origin_ms,
            SessionMode::Replay,
        )
    }

    /// Opens a session with an index already folded from `journal` (the app keeps
    /// one) and a mode.
    pub fn open_with(
        journal: Journal,
        mut index: ProgressIndex,
        course: &Course,
        policy: &Policy,
        rng: ChaCha20Rng,
        wall_origin_ms: i64,
        mode: SessionMode,
    ) -> Result<(Session, Vec<Action>), SessionError> {
        course.check_against(policy)?;
        index.learn(&course.id, course.hour_rules(policy));
        let progress = index.progress(&course.id);
        let credited_at_open_ms = progress.credited_ms();
        let trust = Trust {
            platform_key: index.platform_key(),
            draw_seed: journal.draw_seed()?,
            wall_origin_ms,
        };
        let (mut player, step) = Player::start_with(course, policy, progress, rng, 0, trust);
        if let SessionMode::Live { report_timeout_ms } = mode {
            player.require_reports(Some(report_timeout_ms));
        }
        let mut s = Session {
            player,
            journal,
            index,
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

    fn append(&mut self, batch: Vec<NewRecord>) -> Result<(), SessionError> {
        let n = batch.len() as u64;
        match self.journal.append_batch(batch) {
            Ok(records) => {
                self.index.extend(&records);
                self.written += n;
                Ok(())
            }
            Err(e) => {
                // The player is now ahead of the journal: stop rather than diverge.
                self.poisoned = true;
                tracing::error!(error = %e, "journal append failed; session stopped");
                Err(e.into())
            }
        }
    }

    fn commit(&mut self, step: Step) -> Result<Vec<Action>, SessionError> {
        if !step.facts.is_empty() {
            let origin = self.wall_origin_ms;
            let batch = step
                .facts
                .iter()
                .map(|f| {
                    let wall = origin.saturating_add(i64::try_from(f.at).unwrap_or(i64::MAX));
                    f.fact.to_new_record(wall, f.at)
                })
                .collect();
            self.append(batch)?;
        }
        Ok(step.actions)
    }

    /// Journals a fact the shell observed beside the player's own: the details of a
    /// capture (faces, liveness, camera), a client event. The fold ignores kinds that
    /// do not count, so notes never change what counts (R-ST-6: the record of the
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
        let wall = self
            .wall_origin_ms
            .saturating_add(i64::try_from(now).unwrap_or(i64::MAX));
        self.append(vec![NewRecord::new(kind, payload, wall, now)])
    }

    /// Ends the session and gives the journal and the index back (after
    /// `Input::Close`).
    pub fn into_parts(self) -> (Journal, ProgressIndex) {
        (self.journal, self.index)
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

    /// The progress index (kept current with every append).
    pub fn index(&self) -> &ProgressIndex {
        &self.index
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

/// Folds records into the progress on one course: only records of sessions that
/// were opened on `course_id` count (rules as the records claim them).
pub fn progress_of<'a>(
    records: impl Iterator<Item = &'a Record>,
    course_id: &str,
) -> Result<Progress, SessionError> {
    let mut index = ProgressIndex::new(KnownRules::default());
    index.extend(records);
    Ok(index.progress(course_id))
}

/// [`progress_of`] over a whole journal, streaming.
pub fn progress_of_journal(journal: &Records, course_id: &str) -> Result<Progress, SessionError> {
    Ok(ProgressIndex::build(journal, KnownRules::default())?.progress(course_id))
}
