//! Property tests of the playback state machine's invariants (R-ST-1, R-ST-5):
//! whatever the (untrusted) UI sends, in whatever order,
//! - credited time never exceeds the clock time spent playing;
//! - nothing is credited beyond the watched frontier, nor beyond the course;
//! - the frontier never runs ahead of clock time spent playing (no seeking ahead).
#![allow(clippy::disallowed_methods)] // tests and benches read clocks and environment
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use player_core::demo;
use player_core::manifest::Course;
use player_core::playback::{Answer, Input, Player, Progress};
use player_core::policy::Policy;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => Just(Input::Play),
        2 => Just(Input::Pause),
        6 => (0u64..6_000_000).prop_map(|pos_ms| Input::Position { pos_ms }),
        3 => (0u64..6_000_000).prop_map(|to_ms| Input::Seek { to_ms }),
        1 => prop_oneof![Just(0.5), Just(1.0), Just(2.0), Just(16.0), Just(f64::NAN)]
            .prop_map(|rate| Input::Rate { rate }),
        1 => any::<bool>().prop_map(|focused| Input::Focus { focused }),
        1 => any::<bool>().prop_map(|visible| Input::Visible { visible }),
        5 => Just(Input::Activity),
        2 => any::<bool>().prop_map(|ok| Input::Capture { ok, image_sha256: None, reasons: vec![] }),
        1 => proptest::collection::vec(0usize..4, 0..6)
            .prop_map(|a| Input::Quiz { answers: a.into_iter().map(Answer::Index).collect() }),
        3 => Just(Input::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn credit_is_bounded_by_clock_and_frontier(
        steps in proptest::collection::vec((0u64..400_000, input()), 1..120),
        seed in any::<u64>(),
    ) {
        let text = serde_json::to_string(&demo::course(2)).unwrap();
        let course = Course::parse(std::path::Path::new("demo.json"), &text).unwrap();
        let policy = Policy::by_id("shanxi").unwrap();
        let (mut p, _) = Player::start(
            &course, &policy, Progress::default(), ChaCha20Rng::seed_from_u64(seed), 0);
        let mut now = 0u64;
        let mut playing_ms = 0u64;
        for (dt, inp) in steps {
            let was_playing = p.is_playing();
            now += dt;
            p.handle(now, inp);
            if was_playing {
                playing_ms += dt;
            }
            let pr = p.progress();
            prop_assert!(pr.credited_ms() <= playing_ms,
                "credited {} > playing {}", pr.credited_ms(), playing_ms);
            prop_assert!(pr.frontier_ms <= playing_ms,
                "frontier {} ran ahead of playing time {}", pr.frontier_ms, playing_ms);
            if let Some(&(_, end)) = pr.coverage.ranges().last() {
                prop_assert!(end <= pr.frontier_ms, "credited up to {} beyond frontier {}", end, pr.frontier_ms);
            }
            prop_assert!(pr.position_ms <= pr.frontier_ms);
            prop_assert!(pr.credited_ms() <= course.duration_seconds() * 1000);
            let hours_done = pr.class_hours_completed() as u64;
            prop_assert!(hours_done * 2_700_000 <= pr.credited_ms());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The journal is the state: folding the facts a session emitted (the fold the
    /// platform and a restarted client run) gives exactly the progress the live
    /// player holds, whatever the UI sent.
    #[test]
    fn folding_the_emitted_facts_gives_the_live_progress(
        steps in proptest::collection::vec((0u64..400_000, input()), 1..120),
        seed in any::<u64>(),
        resume_after in 0usize..120,
    ) {
        use player_core::fold::{DeviceEvidence, StreamFold};
        use player_core::index::KnownRules;
        let text = serde_json::to_string(&demo::course(2)).unwrap();
        let course = Course::parse(std::path::Path::new("demo.json"), &text).unwrap();
        let policy = Policy::by_id("shanxi").unwrap();
        let rules = KnownRules::default().with(&course.id, course.hour_rules(&policy));
        let mut fold = StreamFold::new(true);
        let mut seq = 0u64;
        let mut absorb = |fold: &mut StreamFold, step: player_core::playback::Step| {
            for f in step.facts {
                seq += 1;
                fold.push_fact(seq, &f.fact, &rules, &DeviceEvidence::default());
            }
        };
        // Two sessions: the second resumes from the fold of the first.
        let (first, rest) = steps.split_at(resume_after.min(steps.len()));
        let mut progress = Progress::default();
        for (i, part) in [first, rest].into_iter().enumerate() {
            let (mut p, step) = Player::start(
                &course, &policy, progress.clone(), ChaCha20Rng::seed_from_u64(seed ^ i as u64), 0);
            absorb(&mut fold, step);
            let mut now = 0u64;
            for (dt, inp) in part {
                now += dt;
                let step = p.handle(now, inp.clone());
                absorb(&mut fold, step);
            }
            let step = p.handle(now, Input::Close);
            absorb(&mut fold, step);
            let folded = fold.course(&course.id).map(|c| c.progress.clone()).unwrap_or_default();
            prop_assert_eq!(&folded, p.progress());
            prop_assert!(fold.course(&course.id).is_none_or(|c| c.anomalies.is_empty()),
                "the player's own segments are never refused: {:?}",
                fold.course(&course.id).map(|c| &c.anomalies));
            progress = folded;
        }
    }
}
