//! One row per record refusal code (`RefusalCode`): each case uploads to a fresh
//! learner, after 5 good records, a batch made wrong in exactly one way, and checks
//! the answer (status, code, the seq named, what the platform says it holds), that
//! nothing of the bad batch was stored, and the quarantine row. A test also checks
//! the table covers every code. SQLite and PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code

mod common;

use common::*;
use keshi_platform::Config;
use keshi_protocol::codes::RefusalCode;
use keshi_protocol::record::{seal, NewRecord, Record, RecordHeader};
use keshi_protocol::wire::WireRecord;

/// What a case gets to build its batch from.
struct Ctx<'a> {
    /// The learner's device key and its 8-record chain (1..=5 already held).
    key: &'a DeviceKey,
    chain: &'a [Record],
    /// Another learner's enrolled device and its chain.
    other: &'a [Record],
    /// A key the platform never saw.
    stranger: &'a DeviceKey,
}

struct Case {
    code: RefusalCode,
    /// The seq the refusal names (`None`: the record did not decode).
    seq: Option<u64>,
    /// Records of the batch the platform stores before the refused one.
    stored_before: u64,
    batch: fn(&Ctx) -> Vec<WireRecord>,
}

fn one(r: &Record) -> WireRecord {
    WireRecord::from_record(r)
}

/// Re-signs a header after `edit`, so only the edited rule is broken.
fn resigned(key: &DeviceKey, r: &Record, edit: impl FnOnce(&mut RecordHeader)) -> WireRecord {
    let mut h = r.header.clone();
    edit(&mut h);
    let bytes = h.encode();
    let mut w = one(r);
    w.header = hex::encode(&bytes);
    w.hash = keshi_protocol::record::Hash::of(&bytes).to_hex();
    w.signature = hex::encode(keshi_protocol::record::Signer::sign(key, &bytes));
    w
}

const CASES: &[Case] = &[
    Case {
        code: RefusalCode::MalformedRecord,
        seq: None,
        stored_before: 0,
        batch: |c| {
            let mut w = one(&c.chain[5]);
            w.header = "zz".into();
            vec![w]
        },
    },
    Case {
        code: RefusalCode::BadHeader,
        seq: None,
        stored_before: 0,
        batch: |c| {
            // Version 2 of the layout: a header this build must not read as v1.
            let mut bytes = c.chain[5].header.encode();
            bytes[4] = 2;
            let mut w = one(&c.chain[5]);
            w.header = hex::encode(&bytes);
            vec![w]
        },
    },
    Case {
        code: RefusalCode::HashMismatch,
        seq: Some(6),
        stored_before: 0,
        batch: |c| {
            let mut w = one(&c.chain[5]);
            w.hash = "00".repeat(32);
            vec![w]
        },
    },
    Case {
        code: RefusalCode::SequenceGap,
        seq: Some(7),
        stored_before: 0,
        batch: |c| vec![one(&c.chain[6])],
    },
    Case {
        code: RefusalCode::Reordered,
        seq: Some(6),
        stored_before: 1,
        batch: |c| vec![one(&c.chain[5]), one(&c.chain[5])],
    },
    Case {
        code: RefusalCode::WrongDevice,
        seq: Some(1),
        stored_before: 0,
        batch: |c| vec![one(&c.other[0])],
    },
    Case {
        code: RefusalCode::UnknownDevice,
        seq: Some(1),
        stored_before: 0,
        batch: |c| {
            let r = seal(
                c.stranger,
                None,
                &NewRecord::new("state", serde_json::json!({}), 0, 0),
            )
            .unwrap();
            vec![one(&r)]
        },
    },
    Case {
        code: RefusalCode::BrokenLink,
        seq: Some(6),
        stored_before: 0,
        batch: |c| vec![resigned(c.key, &c.chain[5], |h| h.prev_hash.0[0] ^= 1)],
    },
    Case {
        code: RefusalCode::PayloadMismatch,
        seq: Some(6),
        stored_before: 0,
        batch: |c| {
            let mut w = one(&c.chain[5]);
            w.payload.push(' ');
            vec![w]
        },
    },
    Case {
        code: RefusalCode::BadSignature,
        seq: Some(7),
        stored_before: 1,
        batch: |c| {
            let mut w = one(&c.chain[6]);
            let mut sig = hex::decode(&w.signature).unwrap();
            sig[3] ^= 0x10;
            w.signature = hex::encode(sig);
            vec![one(&c.chain[5]), w]
        },
    },
    Case {
        code: RefusalCode::PayloadTooLarge,
        seq: Some(6),
        stored_before: 0,
        // Well signed and linked, but 70 KB of payload (the overall cap is 64 KiB).
        batch: |c| vec![one(&padded_state(c, 70_000))],
    },
    Case {
        code: RefusalCode::PayloadTooLarge,
        seq: Some(6),
        stored_before: 0,
        // Under the overall cap but over its kind's: a `state` record carries a few
        // fields (4 KiB at most), not 5 KB of padding.
        batch: |c| vec![one(&padded_state(c, 5_000))],
    },
    Case {
        code: RefusalCode::ConflictingRecord,
        seq: Some(3),
        stored_before: 0,
        batch: |c| vec![resigned(c.key, &c.chain[2], |h| h.mono_ms += 1)],
    },
];

/// Record 6 of the chain as a `state` record padded with `bytes` of payload, well
/// signed and linked to record 5.
fn padded_state(c: &Ctx, bytes: usize) -> Record {
    let h = &c.chain[5].header;
    let padded = NewRecord::new(
        "state",
        serde_json::json!({"pad": "x".repeat(bytes)}),
        h.wall_ms,
        h.mono_ms,
    );
    let prev = &c.chain[4];
    seal(c.key, Some((prev.header.seq, prev.hash)), &padded).unwrap()
}

#[test]
fn the_table_covers_every_refusal_code() {
    for code in RefusalCode::ALL {
        assert!(
            CASES.iter().any(|c| c.code == *code),
            "no refusal case for {code}"
        );
    }
}

fn run(db_url: &str, blobs: &std::path::Path) {
    let srv = Server::start(db_url, Config::default(), blobs);
    srv.learner("other", "pw");
    let other_key = DeviceKey::generate().unwrap();
    let other_login = login(&srv.url, "other", "pw", &other_key);
    let other = chain(&other_key, 2, now_ms());
    let (s, _) = push(&srv.url, &other_login.token, wire(&other));
    assert_eq!(s, 200);
    let stranger = DeviceKey::generate().unwrap();
    for (i, case) in CASES.iter().enumerate() {
        let user = format!("learner{i}");
        srv.learner(&user, "pw");
        let key = DeviceKey::generate().unwrap();
        let l = login(&srv.url, &user, "pw", &key);
        let recs = chain(&key, 8, now_ms());
        let (s, b) = push(&srv.url, &l.token, wire(&recs[..5]));
        assert_eq!(s, 200, "{b}");
        let ctx = Ctx {
            key: &key,
            chain: &recs,
            other: &other,
            stranger: &stranger,
        };
        let (s, b) = push(&srv.url, &l.token, (case.batch)(&ctx));
        let name = case.code.as_str();
        assert_eq!((s, b["code"].as_str()), (422, Some(name)), "{name}: {b}");
        assert_eq!(b["seq"].as_u64(), case.seq, "{name}: {b}");
        assert_eq!(
            b["acknowledged"].as_u64(),
            Some(5 + case.stored_before),
            "{name}: {b}"
        );
        assert_eq!(b["retryable"], false, "{name}");
        let sum = srv.summary(&user);
        assert_eq!(sum.records, 5 + case.stored_before, "{name}: stored");
        let q: Vec<&str> = sum
            .quarantined
            .iter()
            .map(|q| q["code"].as_str().unwrap())
            .collect();
        assert_eq!(q, vec![name], "{name}: quarantine");
    }
    srv.kill();
}

#[test]
fn every_refusal_code_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    for (name, url) in backends(dir.path(), "refusals") {
        eprintln!("backend: {name}");
        run(&url, &dir.path().join(format!("blobs-{name}")));
    }
}
