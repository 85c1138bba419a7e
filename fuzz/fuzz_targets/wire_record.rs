//! Wire records (JSON from the network) and the fact a payload decodes to.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::cast_possible_truncation)] // test code
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    keshi_protocol::fuzz::wire_record(data);
});
