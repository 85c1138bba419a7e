//! Replaying a timeline through a [`Session`] — what `keshi simulate` does.
//!
//! A timeline is JSON Lines, one event per line, `t` in seconds on the session's
//! monotonic clock (non-decreasing):
//!
//! | line | input |
//! |---|---|
//! | `{"t":0,"event":"play"}` / `"pause"` / `"activity"` / `"close"` / `"tick"` | as named |
//! | `{"t":5,"event":"position","pos":5.0}` | the player's position report (course seconds) |
//! | `{"t":9,"event":"seek","to":120}` | a seek request |
//! | `{"t":9,"event":"rate","rate":2}` | a playback-rate request |
//! | `{"t":9,"event":"focus","focused":false}` | window focus |
//! | `{"t":9,"event":"visible","visible":false}` | window visibility |
//! | `{"t":9,"event":"capture","ok":true}` | the result of the next capture the core asks for (optional `image_sha256`, `reasons`, and `image`: a photo file relative to the timeline, stored with the journal and uploaded by `keshi sync`) |
//! | `{"t":9,"event":"quiz","answers":[1,"B","36 V"]}` | answers to the next quiz (option index, letter or text) |
//! | `{"t":9,"event":"revoke","reason":"…"}` | the platform revoked the lease |
//!
//! Capture and quiz events are the learner's scripted answers: if the core is asking
//! at that moment they answer at once; otherwise they wait, in order, and answer the
//! next prompt the moment the core makes it (the replay ticks the core to that moment).
//! Blank lines and lines starting with `#` are ignored.
//!
//! The device holds no answer keys: quiz answers wait for the platform's grade. A
//! simulation plays the platform's part with a [`Grader`] (the course's keys and a
//! throw-away signing key only this simulated player believes); a real platform
//! ignores those grades and grades the answers itself.

use std::collections::VecDeque;

use serde::Serialize;
use serde_json::Value;

use crate::clock::MonoMs;
use crate::manifest::Course;
use crate::playback::{Action, Answer, Input};
use crate::policy::Policy;
use crate::session::{Session, SessionError};

/// A timeline line that cannot be replayed.
#[derive(Debug, thiserror::Error)]
#[error("timeline line {line}: {reason}")]
pub struct TimelineError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// What a timeline line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Scripted {
    /// An input fed at its time.
    Input(Input),
    /// A scripted capture outcome.
    Capture {
        /// Passed?
        ok: bool,
        /// Kept image hash.
        image_sha256: Option<String>,
        /// A photo file for this capture (path relative to the timeline): the
        /// driver stores it and sets `image_sha256` to its hash.
        image: Option<String>,
        /// Failure reasons.
        reasons: Vec<String>,
    },
    /// Scripted quiz answers.
    Quiz(Vec<Answer>),
}

/// One parsed timeline line.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedEvent {
    /// 1-based line number.
    pub line: usize,
    /// Time in ms.
    pub t_ms: MonoMs,
    /// The event.
    pub event: Scripted,
}

#[allow(clippy::cast_possible_truncation)] // range-checked above
fn secs_to_ms(v: f64) -> Option<u64> {
    (0.0..1e12)
        .contains(&v)
        .then(|| (v * 1000.0).round() as u64)
}

/// Parses a timeline (see the module docs).
pub fn parse_timeline(text: &str) -> Result<Vec<TimedEvent>, TimelineError> {
    let mut out = Vec::new();
    let mut last = 0u64;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let s = raw.trim();
        if s.is_empty() || s.starts_with('#') {
            continue;
        }
        let err = |reason: String| TimelineError { line, reason };
        let v: Value = serde_json::from_str(s).map_err(|e| err(format!("not JSON: {e}")))?;
        let num = |k: &str| v.get(k).and_then(Value::as_f64);
        let t = num("t")
            .and_then(secs_to_ms)
            .ok_or_else(|| err("`t` must be a number of seconds >= 0".into()))?;
        if t < last {
            return Err(err(format!(
                "`t` goes backwards ({} s after {} s): the monotonic clock cannot",
                t as f64 / 1000.0,
                last as f64 / 1000.0
            )));
        }
        last = t;
        let name = v
            .get("event")
            .and_then(Value::as_str)
            .ok_or_else(|| err("`event` must be a string".into()))?;
        let pos = |k: &str| {
            num(k)
                .and_then(secs_to_ms)
                .ok_or_else(|| err(format!("`{k}` must be a number of seconds >= 0")))
        };
        let flag = |k: &str| {
            v.get(k)
                .and_then(Value::as_bool)
                .ok_or_else(|| err(format!("`{k}` must be true or false")))
        };
        let event = match name {
            "play" => Scripted::Input(Input::Play),
            "pause" => Scripted::Input(Input::Pause),
            "activity" => Scripted::Input(Input::Activity),
            "close" => Scripted::Input(Input::Close),
            "tick" => Scripted::Input(Input::Tick),
            "position" => Scripted::Input(Input::Position {
                pos_ms: pos("pos")?,
            }),
            "seek" => Scripted::Input(Input::Seek { to_ms: pos("to")? }),
            "rate" => Scripted::Input(Input::Rate {
                rate: num("rate").ok_or_else(|| err("`rate` must be a number".into()))?,
            }),
            "focus" => Scripted::Input(Input::Focus {
                focused: flag("focused")?,
            }),
            "visible" => Scripted::Input(Input::Visible {
                visible: flag("visible")?,
            }),
            "revoke" => Scripted::Input(Input::LeaseRevoked {
                reason: v
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("revoked")
                    .to_owned(),
            }),
            "capture" => Scripted::Capture {
                ok: flag("ok")?,
                image_sha256: v
                    .get("image_sha256")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                image: v.get("image").and_then(Value::as_str).map(str::to_owned),
                reasons: v
                    .get("reasons")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            "quiz" => {
                let answers = v
                    .get("answers")
                    .and_then(Value::as_array)
                    .ok_or_else(|| err("`answers` must be an array".into()))?;
                let answers = answers
                    .iter()
                    .map(|a| serde_json::from_value::<Answer>(a.clone()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| {
                        err("each answer must be an option index, letter or text".into())
                    })?;
                Scripted::Quiz(answers)
            }
            other => return Err(err(format!("unknown event `{other}`"))),
        };
        out.push(TimedEvent {
            line,
            t_ms: t,
            event,
        });
    }
    Ok(out)
}

/// A violation as the summary shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViolationView {
    /// Stable code.
    pub kind: &'static str,
    /// Seconds on the session clock.
    pub t: f64,
}

/// What `keshi simulate` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Course id.
    pub course: String,
    /// Profile id.
    pub profile: String,
    /// Session number on this course (1 for a new journal).
    pub session: u32,
    /// Credited seconds on this course, all sessions.
    pub credited_seconds: f64,
    /// Credited seconds gained in this session.
    pub session_credited_seconds: f64,
    /// Class hours completed, all sessions.
    pub class_hours_completed: u32,
    /// Class hours the course offers.
    pub class_hours_total: u32,
    /// The breakpoint (seconds).
    pub position: f64,
    /// The watched frontier (seconds).
    pub frontier: f64,
    /// Violations in this session.
    pub violations: Vec<ViolationView>,
    /// Records in the journal.
    pub records: u64,
    /// Records written by this session.
    pub records_written: u64,
    /// A quiz waiting for answers (class hour).
    pub quiz_due: Option<u32>,
    /// A capture waiting for a result (id).
    pub capture_pending: Option<String>,
    /// Whether time was being credited at the end.
    pub crediting: bool,
}

/// The platform's part in a simulation: grades answers with the course's answer
/// keys ([`Course::grade`], the platform's own code) and signs the grade with a
/// throw-away key.
#[derive(Debug)]
pub struct Grader {
    key: crate::identity::DeviceKey,
    course: Course,
    policy: Policy,
}

impl Grader {
    /// A grader for `course` (which must carry its answer keys) under `policy`,
    /// signing with `key` (kept beside the simulated journal, so later runs on it
    /// believe earlier grades).
    pub fn new(key: crate::identity::DeviceKey, course: &Course, policy: &Policy) -> Grader {
        Grader {
            key,
            course: course.clone(),
            policy: policy.clone(),
        }
    }

    /// The key its grades verify under.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.public_key()
    }

    /// The grade of the session's last `quiz_answered` record.
    fn grade(&self, session: &Session) -> Option<crate::fact::QuizGraded> {
        use crate::record::Signer;
        let journal = session.journal();
        let head = journal.len();
        let records = journal.records_from(head.saturating_sub(16).max(1)).ok()?;
        let r = records
            .iter()
            .rev()
            .find(|r| r.header.kind == "quiz_answered")?;
        let crate::fact::Fact::QuizAnswered(q) =
            crate::fact::Fact::decode(&r.header.kind, &r.payload)
        else {
            return None;
        };
        let g = self
            .course
            .grade(&self.policy, q.class_hour, &q.questions, &q.answers);
        let mut graded = crate::fact::QuizGraded {
            course: self.course.id.clone(),
            class_hour: q.class_hour,
            attempt: q.attempt,
            device_id: journal.device_id().to_hex(),
            answered_seq: r.seq(),
            correct: g.correct,
            total: g.total,
            passed: g.passed,
            graded_ms: r.header.wall_ms,
            signature: String::new(),
        };
        graded.signature = hex::encode(self.key.sign(&graded.message()));
        Some(graded)
    }
}

/// Replays `events` through `session`, answering prompts from the scripted answers;
/// `grader` grades quiz answers (without one they stay awaiting the platform).
pub fn replay(
    session: &mut Session,
    events: &[TimedEvent],
    grader: Option<&Grader>,
) -> Result<(), SessionError> {
    // The simulated player believes its grader for this replay (a journal logged in
    // to a real platform believes only that platform's grades when folded again:
    // `keshi sync` fetches them for the same answers).
    if let Some(g) = grader {
        session.player_mut().set_platform_key(Some(g.public_key()));
    }
    let mut captures: VecDeque<Input> = VecDeque::new();
    let mut quizzes: VecDeque<Input> = VecDeque::new();
    for ev in events {
        // Let the core prompt at the exact moment it would, so scripted answers answer
        // then (a capture left waiting until the next line could go overdue).
        while let Some(at) = session.player_mut().next_prompt_at() {
            if at >= ev.t_ms || (captures.is_empty() && quizzes.is_empty()) {
                break;
            }
            let actions = session.handle(at, Input::Tick)?;
            answer(session, at, actions, &mut captures, &mut quizzes, grader)?;
        }
        let now = ev.t_ms;
        let actions = match &ev.event {
            Scripted::Input(i) => session.handle(now, i.clone())?,
            Scripted::Capture {
                ok,
                image_sha256,
                reasons,
                ..
            } => {
                captures.push_back(Input::Capture {
                    ok: *ok,
                    image_sha256: image_sha256.clone(),
                    reasons: reasons.clone(),
                });
                session.handle(now, Input::Tick)?
            }
            Scripted::Quiz(a) => {
                quizzes.push_back(Input::Quiz { answers: a.clone() });
                session.handle(now, Input::Tick)?
            }
        };
        answer(session, now, actions, &mut captures, &mut quizzes, grader)?;
        // Answers for a prompt made earlier and still open.
        loop {
            let actions = if session.player().pending_capture().is_some() && !captures.is_empty() {
                let Some(c) = captures.pop_front() else { break };
                session.handle(now, c)?
            } else if session.player().quiz_due().is_some() && !quizzes.is_empty() {
                let Some(q) = quizzes.pop_front() else { break };
                session.handle(now, q)?
            } else {
                break;
            };
            answer(session, now, actions, &mut captures, &mut quizzes, grader)?;
        }
    }
    Ok(())
}

/// Answers prompts in `actions` from the queues, repeatedly (an answer may prompt again).
fn answer(
    session: &mut Session,
    now: MonoMs,
    mut actions: Vec<Action>,
    captures: &mut VecDeque<Input>,
    quizzes: &mut VecDeque<Input>,
    grader: Option<&Grader>,
) -> Result<(), SessionError> {
    loop {
        let mut next = None;
        for a in &actions {
            match a {
                Action::QuizAwaiting { .. } => {
                    if let Some(g) = grader.and_then(|g| g.grade(session)) {
                        next = Some(Input::Graded(g));
                        break;
                    }
                }
                Action::Capture { .. } if !captures.is_empty() => {
                    next = captures.pop_front();
                    break;
                }
                Action::Quiz { .. } if !quizzes.is_empty() => {
                    next = quizzes.pop_front();
                    break;
                }
                _ => {}
            }
        }
        match next {
            Some(input) => actions = session.handle(now, input)?,
            None => return Ok(()),
        }
    }
}

/// The summary after a replay.
pub fn summarize(session: &Session, course: &Course, policy: &Policy) -> Summary {
    let p = session.player();
    let credited_before_ms = session.credited_at_open_ms();
    let class_hours_total = course.class_hours(policy);
    let pr = p.progress();
    Summary {
        course: course.id.clone(),
        profile: policy.id.clone(),
        session: p.session(),
        credited_seconds: pr.credited_ms() as f64 / 1000.0,
        session_credited_seconds: pr.credited_ms().saturating_sub(credited_before_ms) as f64
            / 1000.0,
        class_hours_completed: pr.class_hours_completed(),
        class_hours_total,
        position: pr.position_ms as f64 / 1000.0,
        frontier: pr.frontier_ms as f64 / 1000.0,
        violations: p
            .violations()
            .iter()
            .map(|(k, t)| ViolationView {
                kind: k.code(),
                t: *t as f64 / 1000.0,
            })
            .collect(),
        records: session.journal().len(),
        records_written: session.records_written(),
        quiz_due: p.quiz_due(),
        capture_pending: p.pending_capture().map(str::to_owned),
        crediting: p.crediting(),
    }
}

/// The body of the `timeline` fuzz target (`fuzz/`), here so its corpus is replayed
/// by an ordinary test: untrusted timeline text is parsed, and what parses is
/// replayed through the rules (the demo course, `shanxi`) without a journal; credit
/// never exceeds the clock time spent playing. Never panics otherwise.
#[doc(hidden)]
pub fn fuzz_timeline(data: &[u8]) {
    use rand::SeedableRng;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(events) = parse_timeline(text) else {
        return;
    };
    let Ok(course) = Course::parse(
        std::path::Path::new("demo.json"),
        &crate::demo::course(2).to_string(),
    ) else {
        return;
    };
    let Ok(policy) = Policy::by_id("shanxi") else {
        return;
    };
    let (mut player, _) = crate::playback::Player::start(
        &course,
        &policy,
        crate::fold::Progress::default(),
        rand_chacha::ChaCha20Rng::seed_from_u64(1),
        0,
    );
    let mut last = 0u64;
    let mut playing_ms = 0u64;
    for ev in events.iter().take(500) {
        let was_playing = player.is_playing();
        let input = match &ev.event {
            Scripted::Input(i) => i.clone(),
            Scripted::Capture {
                ok,
                image_sha256,
                reasons,
                ..
            } => Input::Capture {
                ok: *ok,
                image_sha256: image_sha256.clone(),
                reasons: reasons.clone(),
            },
            Scripted::Quiz(a) => Input::Quiz { answers: a.clone() },
        };
        // Cap the clock so a fuzzed `t` cannot make the model run for years.
        let t = ev.t_ms.min(last.saturating_add(86_400_000));
        if was_playing {
            playing_ms = playing_ms.saturating_add(t.saturating_sub(last));
        }
        player.handle(t, input);
        last = t;
        assert!(player.progress().credited_ms() <= playing_ms);
    }
}
