//! Record headers from untrusted bytes: decode is strict and total; what decodes
//! re-encodes to the same bytes (one encoding per header).
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::cast_possible_truncation)] // test code
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    keshi_protocol::fuzz::header(data);
});
