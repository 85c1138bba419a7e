//! Course manifests: never a panic, every error names a field or a position.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::cast_possible_truncation)] // test code
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    keshi_protocol::fuzz::manifest(data);
});
