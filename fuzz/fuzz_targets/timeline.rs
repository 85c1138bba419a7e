//! `keshi simulate` timelines: parsing and replaying them through the rules.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::cast_possible_truncation)] // test code
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    player_core::simulate::fuzz_timeline(data);
});
