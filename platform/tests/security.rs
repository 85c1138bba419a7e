//! Security suite of the platform (issue 4): every forged, tampered, gapped,
//! replayed or foreign upload is refused with its own code and quarantined;
//! idempotent ingest; single-login leases (R-ID-3); learners cannot reach each
//! other's data. Runs against SQLite and PostgreSQL (see `common::backends`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

mod common;

use common::*;
use keshi_platform::Config;
use keshi_protocol::record::Hash;

fn code(body: &serde_json::Value) -> &str {
    body["code"].as_str().unwrap_or("<no code>")
}

fn suite(db_url: &str, blobs: &std::path::Path) {
    let srv = Server::start(
        db_url,
        Config {
            max_body_bytes: 256 * 1024,
            max_capture_bytes: 64 * 1024,
            ..Config::default()
        },
        blobs,
    );
    let url = srv.url.clone();
    srv.learner("alice", "pw-alice");
    srv.learner("bob", "pw-bob");
    let ka = DeviceKey::generate().unwrap();
    let kb = DeviceKey::generate().unwrap();
    let alice = login(&url, "alice", "pw-alice", &ka);
    let bob = login(&url, "bob", "pw-bob", &kb);
    let recs = chain(&ka, 30, now_ms());

    // Accepted, then the same batch again: accepted once, answered the same.
    let (s, b) = push(&url, &alice.token, wire(&recs[..20]));
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (b["acknowledged"].as_u64(), b["accepted"].as_u64()),
        (Some(20), Some(20))
    );
    let (s, b2) = push(&url, &alice.token, wire(&recs[..20]));
    assert_eq!(s, 200);
    assert_eq!(
        (
            b2["acknowledged"].as_u64(),
            b2["accepted"].as_u64(),
            b2["duplicates"].as_u64()
        ),
        (Some(20), Some(0), Some(20))
    );
    assert_eq!(b2["head_hash"], b["head_hash"]);
    // Overlapping batch: duplicates then new ones.
    let (s, b) = push(&url, &alice.token, wire(&recs[15..25]));
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (
            b["acknowledged"].as_u64(),
            b["accepted"].as_u64(),
            b["duplicates"].as_u64()
        ),
        (Some(25), Some(5), Some(5))
    );

    // Sequence gap: 27 without 26.
    let (s, b) = push(&url, &alice.token, wire(&recs[26..27]));
    assert_eq!((s, code(&b)), (422, "sequence_gap"), "{b}");
    assert_eq!(b["acknowledged"].as_u64(), Some(25));

    // Edited payload.
    let mut w = wire(&recs[25..26]);
    w[0].payload = w[0].payload.replace("10000", "99999");
    let (s, b) = push(&url, &alice.token, w);
    assert_eq!((s, code(&b)), (422, "payload_mismatch"), "{b}");

    // Bad signature (forged: signature bytes flipped).
    let mut w = wire(&recs[25..26]);
    let mut sig = hex::decode(&w[0].signature).unwrap();
    sig[10] ^= 1;
    w[0].signature = hex::encode(sig);
    let (s, b) = push(&url, &alice.token, w);
    assert_eq!((s, code(&b)), (422, "bad_signature"), "{b}");

    // Edited header (hash no longer matches).
    let mut w = wire(&recs[25..26]);
    let mut h = hex::decode(&w[0].header).unwrap();
    let last = h.len() - 40;
    h[last] ^= 1;
    w[0].header = hex::encode(h);
    let (s, b) = push(&url, &alice.token, w);
    assert_eq!((s, code(&b)), (422, "hash_mismatch"), "{b}");

    // Conflicting record at an acknowledged seq (a rewritten history).
    let other = chain(&ka, 3, now_ms() + 5);
    let (s, b) = push(&url, &alice.token, wire(&other[1..2]));
    assert_eq!((s, code(&b)), (422, "conflicting_record"), "{b}");

    // Replay of another (enrolled) device's records under alice's lease.
    let bob_recs = chain(&kb, 2, now_ms());
    let (s, b) = push(&url, &alice.token, wire(&bob_recs));
    assert_eq!((s, code(&b)), (422, "wrong_device"), "{b}");

    // Records of a device the platform never enrolled.
    let stranger = DeviceKey::generate().unwrap();
    let (s, b) = push(&url, &alice.token, wire(&chain(&stranger, 1, now_ms())));
    assert_eq!((s, code(&b)), (422, "unknown_device"), "{b}");

    // Malformed record, malformed body, oversized body, no token, bad token.
    let mut w = wire(&recs[25..26]);
    w[0].header = "zz".into();
    let (s, b) = push(&url, &alice.token, w);
    assert_eq!((s, code(&b)), (422, "malformed_record"), "{b}");
    let r = client()
        .post(format!("{url}/v1/records"))
        .bearer_auth(&alice.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(&r.json().unwrap()), "malformed_body");
    let r = client()
        .post(format!("{url}/v1/records"))
        .bearer_auth(&alice.token)
        .header("content-type", "application/json")
        .body(vec![b' '; 260 * 1024])
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(code(&r.json().unwrap()), "body_too_large");
    let (s, b) = push(&url, "nope", wire(&recs[25..26]));
    assert_eq!((s, code(&b)), (401, "unauthenticated"));

    // Nothing refused was stored; every refusal is in quarantine with its code.
    let sum = srv.summary("alice");
    assert_eq!(sum.records, 25);
    assert_eq!(sum.devices[0].head_seq, 25);
    assert_eq!(
        sum.devices[0].head_hash.as_deref(),
        Some(recs[24].hash.to_hex().as_str())
    );
    let codes: Vec<&str> = sum
        .quarantined
        .iter()
        .map(|q| q["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        vec![
            "sequence_gap",
            "payload_mismatch",
            "bad_signature",
            "hash_mismatch",
            "conflicting_record",
            "wrong_device",
            "unknown_device",
            "malformed_record"
        ]
    );

    // The platform's copy is exactly the chain: same hashes in order.
    let held = srv
        .rt
        .block_on(srv.store.device_hashes(&alice.device_id))
        .unwrap();
    let want: Vec<(u64, String)> = recs[..25]
        .iter()
        .map(|r| (r.seq(), r.hash.to_hex()))
        .collect();
    assert_eq!(held, want);

    // Learners cannot read each other's data.
    let r = client()
        .get(format!("{url}/v1/devices/{}/head", alice.device_id))
        .bearer_auth(&bob.token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(code(&r.json().unwrap()), "forbidden");
    let r = client()
        .get(format!("{url}/v1/learners/{}/summary", alice.learner_id))
        .bearer_auth(&bob.token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client()
        .get(format!("{url}/v1/devices/{}/head", alice.device_id))
        .bearer_auth(&alice.token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["acknowledged"].as_u64(), Some(25));
    // ... nor write: bob's token cannot push alice's records (they are not his device's).
    let (s, b) = push(&url, &bob.token, wire(&recs[25..27]));
    assert_eq!((s, code(&b)), (422, "wrong_device"));
    assert_eq!(srv.summary("alice").records, 25);
    // A device key enrolled for alice cannot be enrolled by bob.
    let r = client().post(format!("{url}/v1/login"))
        .json(&serde_json::json!({"user": "bob", "password": "pw-bob", "public_key": ka.public_key_hex()}))
        .send().unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(code(&r.json().unwrap()), "device_taken");
    let r = client().post(format!("{url}/v1/login"))
        .json(&serde_json::json!({"user": "bob", "password": "wrong", "public_key": kb.public_key_hex()}))
        .send().unwrap();
    assert_eq!(code(&r.json().unwrap()), "invalid_credentials");

    // R-ID-3: alice logs in on a second device; the first lease is revoked.
    let ka2 = DeviceKey::generate().unwrap();
    let alice2 = login(&url, "alice", "pw-alice", &ka2);
    let (s, b) = push(&url, &alice.token, wire(&recs[25..26]));
    assert_eq!((s, code(&b)), (403, "lease_revoked"), "{b}");
    assert!(
        b["message"].as_str().unwrap().contains("another device"),
        "{b}"
    );
    let r = client()
        .post(format!("{url}/v1/heartbeat"))
        .bearer_auth(&alice.token)
        .send()
        .unwrap();
    assert_eq!(code(&r.json().unwrap()), "lease_revoked");
    let r = client()
        .post(format!("{url}/v1/heartbeat"))
        .bearer_auth(&alice2.token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // Logging back in on the first device resumes its chain where the platform is.
    let alice3 = login(&url, "alice", "pw-alice", &ka);
    let (s, b) = push(&url, &alice3.token, wire(&recs[25..]));
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["acknowledged"].as_u64(), Some(30));

    // Capture images: by SHA-256, type and size checked, owner only.
    let png = b"\x89PNG\r\n\x1a\nfake-but-typed".to_vec();
    let sha = Hash::of(&png).to_hex();
    let put = |token: &str, ct: &str, body: Vec<u8>, sha: &str| {
        client()
            .put(format!("{url}/v1/captures/{sha}"))
            .bearer_auth(token)
            .header("content-type", ct)
            .body(body)
            .send()
            .unwrap()
    };
    assert_eq!(
        put(&alice3.token, "image/png", png.clone(), &sha).status(),
        201
    );
    assert_eq!(
        put(&alice3.token, "image/png", png.clone(), &sha).status(),
        200
    );
    let r = put(&alice3.token, "image/jpeg", png.clone(), &sha);
    assert_eq!(code(&r.json().unwrap()), "unsupported_capture_type");
    let r = put(&alice3.token, "image/png", png.clone(), &"0".repeat(64));
    assert_eq!(code(&r.json().unwrap()), "capture_hash_mismatch");
    let big = [b"\x89PNG\r\n\x1a\n".to_vec(), vec![0u8; 100 * 1024]].concat();
    let r = put(
        &alice3.token,
        "image/png",
        big.clone(),
        &Hash::of(&big).to_hex(),
    );
    assert_eq!(r.status(), 413);
    assert_eq!(code(&r.json().unwrap()), "capture_too_large");
    let r = client()
        .get(format!("{url}/v1/captures/{sha}"))
        .bearer_auth(&alice3.token)
        .send()
        .unwrap();
    assert_eq!(r.bytes().unwrap().to_vec(), png);
    let r = client()
        .get(format!("{url}/v1/captures/{sha}"))
        .bearer_auth(&bob.token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);

    // The OpenAPI document is served and is the checked-in one.
    let doc: serde_json::Value = client()
        .get(format!("{url}/openapi.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["paths"]["/v1/records"]["post"].is_object());
    srv.kill();
}

#[test]
fn security_suite_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    for (name, url) in backends(dir.path(), "security") {
        eprintln!("backend: {name}");
        suite(&url, &dir.path().join(format!("blobs-{name}")));
    }
}

#[test]
fn expired_offline_lease_refuses_uploads() {
    let dir = tempfile::tempdir().unwrap();
    for (_, url) in backends(dir.path(), "expiry") {
        let srv = Server::start(
            &url,
            Config {
                offline_ms: -1,
                ..Config::default()
            },
            &dir.path().join("b"),
        );
        srv.learner("carol", "pw");
        let k = DeviceKey::generate().unwrap();
        let l = login(&srv.url, "carol", "pw", &k);
        let (s, b) = push(&srv.url, &l.token, wire(&chain(&k, 2, now_ms())));
        assert_eq!((s, code(&b)), (403, "lease_expired"), "{b}");
        srv.kill();
    }
}
