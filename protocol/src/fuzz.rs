//! The bodies of the fuzz targets (`fuzz/`), here so that their corpora can be
//! replayed by ordinary tests (`tests/fuzz_corpus.rs`) without libFuzzer. Each
//! takes untrusted bytes, must never panic, and checks what must hold of anything
//! that parses. Not part of the API.

use crate::fact::Fact;
use crate::manifest::{Course, ManifestError};
use crate::record::RecordHeader;
use crate::wire::WireRecord;

/// Header bytes: decoding is strict, and a decoded header re-encodes to the bytes.
pub fn header(data: &[u8]) {
    if let Ok(h) = RecordHeader::decode(data) {
        assert_eq!(h.encode(), data, "a header has one encoding");
        assert!(h.validate().is_ok(), "decode accepts only valid headers");
    }
}

/// A wire record (JSON): decoding is total, what decodes re-encodes to the same
/// header, and its payload decodes to a fact for its kind (never a panic).
pub fn wire_record(data: &[u8]) {
    let Ok(w) = serde_json::from_slice::<WireRecord>(data) else {
        return;
    };
    if let Ok(r) = w.to_record() {
        assert_eq!(hex::encode(r.header.encode()), w.header);
        let fact = Fact::decode(&r.header.kind, &r.payload);
        // Whatever it is, it has a kind and a (possibly null) payload.
        assert_eq!(fact.kind(), r.header.kind);
        let _ = fact.payload_bytes();
        let _ = (fact.pos_ms(), fact.frontier_ms());
    }
}

/// A course manifest: parsed or refused with a located error.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Course::parse(std::path::Path::new("fuzz.json"), text) {
        Ok(c) => {
            assert!(!c.lessons.is_empty() && !c.quizzes.is_empty());
            let _ = c.duration_ms();
        }
        Err(ManifestError::Field { field, reason, .. }) => {
            assert!(!field.is_empty() && !reason.is_empty());
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}
