//! A live player must keep reporting its position (`Player::require_reports`): a
//! video that never loads, a stalled one, or a page that only says "play" earns
//! nothing beyond the report timeout (R-ST-1, R-ST-6).
#![allow(clippy::disallowed_methods)] // tests and benches read clocks and environment
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use player_core::demo;
use player_core::manifest::Course;
use player_core::playback::{Action, Input, NotCounting, Player, Progress};
use player_core::policy::Policy;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn player(timeout: Option<u64>) -> Player {
    let text = serde_json::to_string(&demo::course(1)).unwrap();
    let course = Course::parse(std::path::Path::new("demo.json"), &text).unwrap();
    let (mut p, _) = Player::start(
        &course,
        &Policy::by_id("shanxi").unwrap(),
        Progress::default(),
        ChaCha20Rng::seed_from_u64(1),
        0,
    );
    p.require_reports(timeout);
    p
}

#[test]
fn play_without_reports_credits_only_up_to_the_timeout() {
    let mut p = player(Some(5_000));
    p.handle(0, Input::Play);
    let step = p.handle(60_000, Input::Tick);
    assert_eq!(p.progress().credited_ms(), 5_000);
    assert!(!p.crediting());
    assert!(step.actions.contains(&Action::NotCounting {
        reason: NotCounting::NoProgress
    }));
    // Off (scripted replays): the 1.0x model credits between sparse reports.
    let mut p = player(None);
    p.handle(0, Input::Play);
    p.handle(60_000, Input::Tick);
    assert_eq!(p.progress().credited_ms(), 60_000);
}

#[test]
fn steady_reports_keep_credit_flowing_and_a_stuck_video_earns_nothing_more() {
    let mut p = player(Some(5_000));
    p.handle(0, Input::Play);
    for s in 1..=30u64 {
        p.handle(s * 1000, Input::Position { pos_ms: s * 1000 });
    }
    assert_eq!(p.progress().credited_ms(), 30_000);
    assert!(p.crediting());
    // The video freezes at 30 s but the page keeps reporting 30 s.
    for s in 31..=90u64 {
        p.handle(s * 1000, Input::Position { pos_ms: 30_000 });
    }
    let credited = p.progress().credited_ms();
    assert!(
        credited <= 30_000 + 3_000,
        "stuck video credited {credited} ms"
    );
    // Reports resume from 30 s: credit resumes.
    for s in 91..=100u64 {
        p.handle(
            s * 1000,
            Input::Position {
                pos_ms: 30_000 + (s - 90) * 1000,
            },
        );
    }
    assert!(
        p.progress().credited_ms() >= 36_000,
        "{}",
        p.progress().credited_ms()
    );
}
