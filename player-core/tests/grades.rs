//! The device believes a quiz grade only when the platform signed it (issue 11): a
//! `quiz_graded` record its owner wrote (any other key), edited, or aimed at another
//! course earns nothing in the device's own fold; the platform's grade completes the
//! quiz. Real journal files.
#![allow(clippy::disallowed_methods)] // tests read clocks and environment
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use std::sync::Arc;

use player_core::fact::{Answer, Fact, QuizAnswered, QuizGraded, SessionStart};
use player_core::identity::DeviceKey;
use player_core::index::ProgressIndex;
use player_core::journal::Journal;
use player_core::manifest::Course;
use player_core::policy::Policy;
use player_core::record::Signer;
use player_core::session::rules_of;

fn grade(key: &DeviceKey, course: &str, attempt: u32, passed: bool, seq: u64) -> QuizGraded {
    let mut g = QuizGraded {
        course: course.into(),
        class_hour: 1,
        attempt,
        device_id: "00".repeat(16),
        answered_seq: seq,
        correct: if passed { 5 } else { 0 },
        total: 5,
        passed,
        graded_ms: 1,
        signature: String::new(),
    };
    g.signature = hex::encode(key.sign(&g.message()));
    g
}

#[test]
fn only_the_platforms_signed_grade_passes_a_quiz_on_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let course = Course::parse(
        std::path::Path::new("c.json"),
        &player_core::demo::course(1).to_string(),
    )
    .unwrap();
    let policy = Policy::by_id("shanxi").unwrap();
    let platform = DeviceKey::generate().unwrap();
    let owner = DeviceKey::generate().unwrap();
    let mut j = Journal::open(
        &dir.path().join("j.db"),
        Arc::new(DeviceKey::generate().unwrap()),
    )
    .unwrap();
    j.set_sync_state(
        player_core::sync::KEY_PLATFORM_PUBLIC_KEY,
        &platform.public_key_hex(),
    )
    .unwrap();
    let rules = course.hour_rules(&policy);
    let append = |j: &mut Journal, f: Fact| {
        j.append(f.to_new_record(1_700_000_000_000, 1)).unwrap();
    };
    append(
        &mut j,
        Fact::SessionStart(SessionStart {
            session: 1,
            course: course.id.clone(),
            profile: "shanxi".into(),
            class_hours: rules.class_hours,
            course_ms: rules.course_ms,
        }),
    );
    append(
        &mut j,
        Fact::QuizAnswered(QuizAnswered {
            class_hour: 1,
            attempt: 1,
            questions: vec!["q".into(); 5],
            answers: vec![Answer::Index(0); 5],
            correct: None,
            total: None,
            passed: None,
        }),
    );
    let hour = |j: &Journal| {
        ProgressIndex::build(j, rules_of(&course, &policy))
            .unwrap()
            .progress(&course.id)
            .hours
            .get(&1)
            .cloned()
            .unwrap_or_default()
    };
    let h = hour(&j);
    assert!(h.awaiting_grade() && !h.quiz_passed, "{h:?}");
    // The owner's own "grade", an edited platform grade, a grade for another course.
    append(
        &mut j,
        Fact::QuizGraded(grade(&owner, &course.id, 1, true, 2)),
    );
    let mut edited = grade(&platform, &course.id, 1, false, 2);
    edited.passed = true;
    append(&mut j, Fact::QuizGraded(edited));
    append(
        &mut j,
        Fact::QuizGraded(grade(&platform, "another-course", 1, true, 2)),
    );
    let h = hour(&j);
    assert!(h.awaiting_grade() && !h.quiz_passed, "{h:?}");
    // The platform's grade: failed, then a pass of attempt 2.
    append(
        &mut j,
        Fact::QuizGraded(grade(&platform, &course.id, 1, false, 2)),
    );
    let h = hour(&j);
    assert!(!h.awaiting_grade() && !h.quiz_passed, "{h:?}");
    append(
        &mut j,
        Fact::QuizGraded(grade(&platform, &course.id, 2, true, 9)),
    );
    assert!(hour(&j).quiz_passed);
    // Under another platform key (a journal pointed at a forger's server) nothing
    // of it counts.
    let stranger = DeviceKey::generate().unwrap();
    j.set_sync_state(
        player_core::sync::KEY_PLATFORM_PUBLIC_KEY,
        &stranger.public_key_hex(),
    )
    .unwrap();
    assert!(!hour(&j).quiz_passed);
}
