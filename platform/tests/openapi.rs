//! `platform/openapi.json` is the document generated from the wire types; a change
//! of a wire type without regenerating it fails here. Regenerate with
//! `KESHI_UPDATE_OPENAPI=1 cargo test -p keshi-platform --test openapi`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

use std::path::PathBuf;

#[test]
fn the_committed_openapi_document_is_the_generated_one() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let generated = keshi_platform::openapi::document_text();
    if std::env::var_os("KESHI_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == generated,
        "platform/openapi.json differs from the wire types: regenerate it with KESHI_UPDATE_OPENAPI=1 cargo test -p keshi-platform --test openapi"
    );
    let doc: serde_json::Value = serde_json::from_str(&generated).unwrap();
    // Every code the platform sends is in the document, and every schema it names exists.
    // (one `oneOf` entry per code, each an `enum` of one value with its description)
    let codes: Vec<&str> = doc["components"]["schemas"]["ApiCode"]["oneOf"]
        .as_array()
        .expect("ApiCode is a oneOf of documented values")
        .iter()
        .flat_map(|v| v["enum"].as_array().into_iter().flatten())
        .filter_map(|v| v.as_str())
        .collect();
    for code in keshi_protocol::codes::ApiCode::ALL {
        assert!(codes.contains(&code.as_str()), "{code} not in the document");
    }
    assert_eq!(codes.len(), keshi_protocol::codes::ApiCode::ALL.len());
    let text = generated.as_str();
    for r in text.split("\"$ref\": \"#/components/schemas/").skip(1) {
        let name = r.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling $ref {name}"
        );
    }
}
