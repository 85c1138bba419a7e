//! Unit tests of the state machine.

use super::*;
use keshi_protocol::demo;
use keshi_protocol::fact::ViolationKind;
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

/// The platform's part: grades `answers` to hour `hour`'s attempt `attempt` with
/// the demo course's keys and signs with `key`.
fn platform_grade(
    key: &crate::identity::DeviceKey,
    hour: u32,
    attempt: u32,
    answers: &[Answer],
) -> keshi_protocol::fact::QuizGraded {
    use keshi_protocol::record::Signer;
    let text = serde_json::to_string(&demo::course(1)).unwrap();
    let course = Course::parse(std::path::Path::new("demo.json"), &text).unwrap();
    let policy = Policy::by_id("shanxi").unwrap();
    let ids: Vec<String> = course.quizzes[0]
        .questions
        .iter()
        .map(|q| q.id.clone())
        .collect();
    let g = course.grade(&policy, hour, &ids, answers);
    let mut graded = keshi_protocol::fact::QuizGraded {
        course: course.id.clone(),
        class_hour: hour,
        attempt,
        device_id: "00".repeat(16),
        answered_seq: u64::from(attempt),
        correct: g.correct,
        total: g.total,
        passed: g.passed,
        graded_ms: 0,
        signature: String::new(),
    };
    graded.signature = hex::encode(key.sign(&graded.message()));
    graded
}

#[test]
fn a_class_hour_needs_its_capture_and_its_quiz_graded_by_the_platform() {
    let platform = crate::identity::DeviceKey::generate().unwrap();
    let mut p = setup(1);
    p.set_platform_key(Some(platform.public_key()));
    p.handle(0, Input::Play);
    let actions = play_through(&mut p, 0, 2800, true);
    assert!(actions.iter().any(|a| matches!(a, Action::Capture { .. })));
    // Credit stops at 45 minutes until the quiz is answered.
    assert_eq!(p.progress().credited_ms(), 2_700_000);
    assert_eq!(p.quiz_due(), Some(1));
    assert_eq!(p.progress().class_hours_completed(), 0);
    // The device grades nothing: the answers are journaled and await the platform.
    let wrong = vec![Answer::Index(3); 5];
    let s = p.handle(
        2_800_000,
        Input::Quiz {
            answers: wrong.clone(),
        },
    );
    assert!(s.actions.contains(&Action::QuizAwaiting { class_hour: 1 }));
    let answered = s
        .facts
        .iter()
        .find_map(|f| match &f.fact {
            Fact::QuizAnswered(q) => Some(q.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!((answered.correct, answered.passed), (None, None));
    assert_eq!(p.quiz_due(), None);
    assert_eq!(p.awaiting_grades(), vec![1]);
    // A grade signed by anyone but the platform is not believed.
    let forger = crate::identity::DeviceKey::generate().unwrap();
    let right: Vec<Answer> = demo::answers(1).into_iter().map(Answer::Index).collect();
    let s = p.handle(
        2_801_000,
        Input::Graded(platform_grade(&forger, 1, 1, &right)),
    );
    assert!(s.facts.is_empty(), "{:?}", s.facts);
    assert_eq!(p.progress().class_hours_completed(), 0);
    // The platform's grade of the wrong answers: failed, the quiz is due again.
    let s = p.handle(
        2_802_000,
        Input::Graded(platform_grade(&platform, 1, 1, &wrong)),
    );
    assert!(s
        .actions
        .iter()
        .any(|a| matches!(a, Action::QuizResult { passed: false, .. })));
    assert!(s
        .actions
        .iter()
        .any(|a| matches!(a, Action::Quiz { attempt: 2, .. })));
    assert_eq!(p.quiz_due(), Some(1));
    // The same grade again changes nothing.
    let again = p.handle(
        2_802_500,
        Input::Graded(platform_grade(&platform, 1, 1, &wrong)),
    );
    assert!(again.facts.is_empty());
    p.handle(
        2_803_000,
        Input::Quiz {
            answers: right.clone(),
        },
    );
    let s = p.handle(
        2_804_000,
        Input::Graded(platform_grade(&platform, 1, 2, &right)),
    );
    assert!(s
        .actions
        .contains(&Action::ClassHourCompleted { class_hour: 1 }));
    assert_eq!(p.progress().class_hours_completed(), 1);
    assert!(p.awaiting_grades().is_empty());
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

/// R-AS-1, issue 11: three failed attempts, then the quiz pauses for the profile's
/// cooldown (from the platform's grade time); study goes on meanwhile, and the
/// fourth attempt opens when the pause ends.
#[test]
fn a_round_of_failed_attempts_pauses_the_quiz_until_the_cooldown_ends() {
    let platform = crate::identity::DeviceKey::generate().unwrap();
    let mut p = setup(2);
    p.set_platform_key(Some(platform.public_key()));
    p.handle(0, Input::Play);
    play_through(&mut p, 0, 2800, true);
    assert_eq!(p.quiz_due(), Some(1));
    let wrong = vec![Answer::Index(3); 5];
    let mut t = 2_800_000;
    let mut last = Vec::new();
    for attempt in 1..=3 {
        p.handle(
            t,
            Input::Quiz {
                answers: wrong.clone(),
            },
        );
        t += 1_000;
        let mut g = platform_grade(&platform, 1, attempt, &wrong);
        g.graded_ms = i64::try_from(t).unwrap();
        g.course = p.course_id.clone();
        g.signature = hex::encode(keshi_protocol::record::Signer::sign(
            &platform,
            &g.message(),
        ));
        last = p.handle(t, Input::Graded(g)).actions;
        t += 1_000;
    }
    // Shanxi: three per round, ten minutes' pause from the third grade (at 2,805 s).
    let until = 2_805_000 + 600_000;
    assert!(
        last.contains(&Action::QuizCooldown {
            class_hour: 1,
            until_ms: until
        }),
        "{last:?}"
    );
    assert_eq!(p.quiz_due(), None);
    assert_eq!(p.quiz_cooldown(), Some((1, until)));
    // Study goes on into class hour 2 meanwhile (the quiz no longer holds playback).
    let before = p.progress().credited_ms();
    let actions = play_through(&mut p, 2806, 3000, true);
    assert!(p.progress().credited_ms() > before);
    assert!(!actions.iter().any(|a| matches!(a, Action::Quiz { .. })));
    // The pause ends: attempt 4 opens at the next input.
    let s = p.handle(3_406_000, Input::Tick);
    assert!(
        s.actions.iter().any(|a| matches!(
            a,
            Action::Quiz {
                class_hour: 1,
                attempt: 4,
                ..
            }
        )),
        "{:?}",
        s.actions
    );
    assert_eq!(p.quiz_cooldown(), None);
}

/// Issue 11: with the platform's draw seed, each attempt asks the learner's own
/// draw from a bank larger than a quiz: the same after a restart, different for
/// another learner.
#[test]
fn the_platforms_seed_decides_which_questions_an_attempt_asks() {
    let mut v = demo::course(1);
    let extra: Vec<serde_json::Value> = (6..=12)
        .map(|i| serde_json::json!({"id": format!("h01-q{i}"), "text": format!("Q{i}"), "options": ["a", "b"], "answer": 0}))
        .collect();
    v["quizzes"][0]["questions"]
        .as_array_mut()
        .unwrap()
        .extend(extra);
    let course = Course::parse(std::path::Path::new("big.json"), &v.to_string()).unwrap();
    let policy = Policy::by_id("shanxi").unwrap();
    let asked = |seed: &[u8], rng: u64| {
        let (mut p, _) = Player::start_with(
            &course,
            &policy,
            Progress::default(),
            ChaCha20Rng::seed_from_u64(rng),
            0,
            Trust {
                draw_seed: Some(seed.to_vec()),
                ..Trust::default()
            },
        );
        p.handle(0, Input::Play);
        play_through(&mut p, 0, 2800, true)
            .into_iter()
            .find_map(|a| match a {
                Action::Quiz { questions, .. } => {
                    Some(questions.into_iter().map(|q| q.id).collect::<Vec<_>>())
                }
                _ => None,
            })
            .unwrap()
    };
    let bank: Vec<String> = course.quizzes[0]
        .questions
        .iter()
        .map(|q| q.id.clone())
        .collect();
    let mine = asked(b"learner-1", 1);
    assert_eq!(mine.len(), 5);
    assert_eq!(
        mine,
        keshi_protocol::draw::draw(b"learner-1", &course.id, 1, 1, &bank, 5)
    );
    assert_eq!(
        mine,
        asked(b"learner-1", 99),
        "another session, the same questions"
    );
    assert_ne!(
        mine,
        asked(b"learner-2", 1),
        "another learner, other questions"
    );
}
