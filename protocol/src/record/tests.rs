//! Record-layer tests, including the frozen test vector of `docs/record-format-v1.md`.

use super::*;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::json;

struct TestSigner(Ed25519KeyPair);

impl Signer for TestSigner {
    fn public_key(&self) -> [u8; 32] {
        self.0.public_key().as_ref().try_into().unwrap()
    }
    fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.0.sign(msg).as_ref().try_into().unwrap()
    }
}

fn signer() -> TestSigner {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    TestSigner(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
}

#[test]
fn header_layout_is_frozen() {
    let h = RecordHeader {
        version: 1,
        device_id: DeviceId([0x11; 16]),
        seq: 0x0102030405060708,
        kind: "tick".into(),
        wall_ms: -2,
        mono_ms: 3,
        prev_hash: Hash([0x22; 32]),
        payload_len: 0x0a0b0c0d,
        payload_hash: Hash([0x33; 32]),
    };
    let b = h.encode();
    assert_eq!(b.len(), HEADER_FIXED_LEN + 4);
    assert_eq!(&b[..5], b"KSR1\x01");
    assert_eq!(&b[5..21], &[0x11; 16]);
    assert_eq!(&b[21..29], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(&b[29..34], b"\x04tick");
    assert_eq!(&b[34..42], &(-2i64).to_be_bytes());
    assert_eq!(&b[42..50], &3u64.to_be_bytes());
    assert_eq!(&b[50..82], &[0x22; 32]);
    assert_eq!(&b[82..86], &[0x0a, 0x0b, 0x0c, 0x0d]);
    assert_eq!(&b[86..118], &[0x33; 32]);
    assert_eq!(RecordHeader::decode(&b).unwrap(), h);
}

#[test]
fn decode_is_strict() {
    let s = signer();
    let r = seal(&s, None, &NewRecord::new("a", json!(1), 0, 0)).unwrap();
    let b = r.header.encode();
    let mut long = b.clone();
    long.push(0);
    assert!(matches!(
        RecordHeader::decode(&long),
        Err(RecordError::Malformed(HeaderError::TrailingBytes { .. }))
    ));
    assert!(matches!(
        RecordHeader::decode(&b[..b.len() - 1]),
        Err(RecordError::Malformed(HeaderError::Truncated { .. }))
    ));
    let mut bad = b.clone();
    bad[0] = b'X';
    assert!(matches!(
        RecordHeader::decode(&bad),
        Err(RecordError::Malformed(HeaderError::BadMagic { .. }))
    ));
    let mut bad = b.clone();
    bad[4] = 2;
    assert!(matches!(
        RecordHeader::decode(&bad),
        Err(RecordError::Malformed(HeaderError::UnsupportedVersion {
            found: 2
        }))
    ));
    let mut bad = b;
    bad[30] = b'A';
    assert!(matches!(
        RecordHeader::decode(&bad),
        Err(RecordError::Malformed(HeaderError::BadKind { .. }))
    ));
}

#[test]
fn canonical_json_sorts_keys_compactly() {
    let v = json!({"b": 1, "a": {"z": [1, {"y": null, "x": "é"}], "c": true}});
    assert_eq!(
        String::from_utf8(canonical_json(&v)).unwrap(),
        r#"{"a":{"c":true,"z":[1,{"x":"é","y":null}]},"b":1}"#
    );
}

#[test]
fn seal_chains_and_checks() {
    let s = signer();
    let pk = s.public_key();
    let r1 = seal(&s, None, &NewRecord::new("start", json!({"k": 1}), 5, 0)).unwrap();
    assert_eq!(r1.header.seq, 1);
    assert_eq!(r1.header.prev_hash, Hash::ZERO);
    check_record(&r1, &pk, 1, &Hash::ZERO).unwrap();
    let r2 = seal(
        &s,
        Some((1, r1.hash)),
        &NewRecord::new("tick", json!([]), 6, 1),
    )
    .unwrap();
    check_record(&r2, &pk, 2, &r1.hash).unwrap();
    assert!(matches!(
        check_record(&r2, &pk, 3, &r1.hash),
        Err(RecordError::Reordered {
            expected: 3,
            found: 2
        })
    ));
    assert!(matches!(
        check_record(&r2, &pk, 1, &Hash::ZERO),
        Err(RecordError::SequenceGap {
            expected: 1,
            found: 2
        })
    ));
    assert!(matches!(
        check_record(&r2, &pk, 2, &Hash::ZERO),
        Err(RecordError::BrokenLink { seq: 2, .. })
    ));
    let other = signer();
    assert!(matches!(
        check_record(&r2, &other.public_key(), 2, &r1.hash),
        Err(RecordError::WrongDevice { seq: 2, .. })
    ));
    let mut bad = r2.clone();
    bad.payload = b"[ ]".to_vec();
    assert!(matches!(
        check_record(&bad, &pk, 2, &r1.hash),
        Err(RecordError::PayloadLengthMismatch { seq: 2, .. })
    ));
    bad.payload = b"{}".to_vec();
    assert!(matches!(
        check_record(&bad, &pk, 2, &r1.hash),
        Err(RecordError::PayloadHashMismatch { seq: 2 })
    ));
    let mut bad = r2.clone();
    bad.header.mono_ms += 1;
    assert!(matches!(
        check_record(&bad, &pk, 2, &r1.hash),
        Err(RecordError::HashMismatch { seq: 2, .. })
    ));
    let mut bad = r2.clone();
    bad.signature[10] ^= 1;
    assert!(matches!(
        check_record(&bad, &pk, 2, &r1.hash),
        Err(RecordError::BadSignature { seq: 2 })
    ));
    assert!(matches!(
        seal(&s, None, &NewRecord::new("Bad-Kind", json!(1), 0, 0)),
        Err(RecordError::InvalidKind { .. })
    ));
}

#[test]
fn head_checkpoint_round_trip() {
    let s = signer();
    let cp = HeadCheckpoint::sign(&s, 7, Hash([9; 32]));
    let parsed = HeadCheckpoint::from_json(&cp.to_json()).unwrap();
    assert_eq!(parsed, cp);
    parsed.verify(&s.public_key()).unwrap();
    let mut bad = parsed.clone();
    bad.seq = 8;
    assert!(matches!(
        bad.verify(&s.public_key()),
        Err(CheckpointError::BadSignature)
    ));
}

/// The test vector of docs/record-format-v1.md (RFC 8032 test key 1).
#[test]
fn frozen_test_vector() {
    let seed =
        hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap();
    let pk =
        hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a").unwrap();
    let pair = Ed25519KeyPair::from_seed_and_public_key(&seed, &pk).unwrap();
    let s = TestSigner(pair);
    let new = NewRecord::new(
        "session_start",
        json!({"lesson": 1, "course": "safety-101"}),
        1_700_000_000_000,
        0,
    );
    let r1 = seal(&s, None, &new).unwrap();
    let r2 = seal(
        &s,
        Some((1, r1.hash)),
        &NewRecord::new(
            "playback_tick",
            json!({"position_ms": 1000}),
            1_700_000_001_000,
            1000,
        ),
    )
    .unwrap();
    assert_eq!(
        r1.payload,
        br#"{"course":"safety-101","lesson":1}"#.to_vec()
    );
    let cp = HeadCheckpoint::sign(&s, 2, r2.hash);
    assert_eq!(r1.header.device_id.to_hex(), EXPECTED_DEVICE_ID);
    assert_eq!(hex::encode(r1.header.encode()), EXPECTED_HEADER_1);
    assert_eq!(r1.hash.to_hex(), EXPECTED_HASH_1);
    assert_eq!(hex::encode(r1.signature), EXPECTED_SIGNATURE_1);
    assert_eq!(hex::encode(r2.header.encode()), EXPECTED_HEADER_2);
    assert_eq!(r2.hash.to_hex(), EXPECTED_HASH_2);
    assert_eq!(
        String::from_utf8(cp.to_json()).unwrap(),
        EXPECTED_CHECKPOINT
    );
}

const EXPECTED_DEVICE_ID: &str = "21fe31dfa154a261626bf854046fd227";
const EXPECTED_HEADER_1: &str =
    "4b5352310121fe31dfa154a261626bf854046fd22700000000000000010d73657373696f6e5f73746172740000018bcfe568000000000000000000000000000000000000000000000000000000000000000000000000000000000000000022797ba8a7c15029063a14c0f917504416002e40eea43001246abcddd50c5c50b0";
const EXPECTED_HASH_1: &str = "301f26f8b9faaa8519900536b4f4a69addcb69840f079babba3cac256f662ab0";
const EXPECTED_SIGNATURE_1: &str =
    "af2e827f847be22b9e54b35cb2ed59e4d242a1987ad42c387f3a42357bf052c2a2208c6a570b1aeca82537273b155e8768314728b61b9140f834b5883aae6c04";
const EXPECTED_HEADER_2: &str =
    "4b5352310121fe31dfa154a261626bf854046fd22700000000000000020d706c61796261636b5f7469636b0000018bcfe56be800000000000003e8301f26f8b9faaa8519900536b4f4a69addcb69840f079babba3cac256f662ab00000001432bc6ae350d16fe98bc473f94d6aef17c16481757f31094a7243295029f57dcd";
const EXPECTED_HASH_2: &str = "8e819f557e073bbf57356c5ee3a38eb2dff7075b8749fae01b9dbab54a974ed0";
const EXPECTED_CHECKPOINT: &str = concat!(
    r#"{"format":"keshi-head-v1","device_id":"21fe31dfa154a261626bf854046fd227","seq":2,"hash":"8e819f557e073bbf57356c5ee3a38eb2dff7075b8749fae01b9dbab54a974ed0","signature":"ae80f1f3bf58adc70e51fe7f2c035d7e33703c2c5735e82341e10a522bb6c5dd5f6f75ff6f370f85396b0904aa63d267859cabc682c05321eb1b4b6e2932570e"}"#,
    "\n"
);
