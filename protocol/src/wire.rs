//! The JSON shapes of the platform API (`platform/openapi.json` is generated from
//! these types and checked by a test). Client and platform use the same types, so
//! they cannot drift apart.

use serde::{Deserialize, Serialize};

use crate::codes::ApiCode;
use crate::ids::Hash;
use crate::record::{Record, RecordHeader};

/// One record on the wire: the canonical header bytes (hex), the payload bytes
/// as text (v1 payloads are canonical JSON, hence UTF-8), the header hash and
/// the signature (hex). The platform re-decodes the header and re-checks all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WireRecord {
    /// Canonical v1 header bytes, hex.
    pub header: String,
    /// Payload bytes as UTF-8 text.
    pub payload: String,
    /// SHA-256 of the header bytes, hex.
    pub hash: String,
    /// Ed25519 signature over the header bytes, hex.
    pub signature: String,
}

/// Why a [`WireRecord`] does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// A field is not hex of the right length.
    #[error("malformed wire record: {field} is not {expected}")]
    Field {
        /// Which field.
        field: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// The header bytes are not a valid v1 header.
    #[error("malformed wire record: header: {0}")]
    Header(#[source] crate::record::HeaderError),
}

impl WireRecord {
    /// Wire form of a journal record.
    pub fn from_record(r: &Record) -> WireRecord {
        WireRecord {
            header: hex::encode(r.header.encode()),
            payload: String::from_utf8_lossy(&r.payload).into_owned(),
            hash: r.hash.to_hex(),
            signature: hex::encode(r.signature),
        }
    }

    /// Approximate bytes this record takes in a request body.
    pub fn wire_len(&self) -> usize {
        self.header.len() + self.payload.len() + self.hash.len() + self.signature.len() + 64
    }

    /// Decode into a [`Record`] (header strictly decoded; nothing verified yet).
    /// Hex must be lowercase: one spelling per record.
    pub fn to_record(&self) -> Result<Record, WireError> {
        let lower = |s: &str| !s.bytes().any(|b| b.is_ascii_uppercase());
        if !lower(&self.header) {
            return Err(WireError::Field {
                field: "header",
                expected: "lowercase hex",
            });
        }
        let header_bytes = hex::decode(&self.header).map_err(|_| WireError::Field {
            field: "header",
            expected: "lowercase hex",
        })?;
        let header = RecordHeader::decode(&header_bytes).map_err(|e| match e {
            crate::record::RecordError::Malformed(h) => WireError::Header(h),
            _ => WireError::Field {
                field: "header",
                expected: "a v1 header",
            },
        })?;
        let hash: Hash = self.hash.parse().map_err(|_| WireError::Field {
            field: "hash",
            expected: "32 bytes of lowercase hex",
        })?;
        let signature: [u8; 64] =
            crate::ids::decode_hex(&self.signature, "signature").map_err(|_| WireError::Field {
                field: "signature",
                expected: "64 bytes of lowercase hex",
            })?;
        Ok(Record {
            header,
            payload: self.payload.as_bytes().to_vec(),
            hash,
            signature,
        })
    }
}

/// `POST /v1/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LoginRequest {
    /// Login name.
    pub user: String,
    /// Password.
    pub password: String,
    /// The device's Ed25519 public key (hex), enrolled for this learner.
    pub public_key: String,
    /// The device's journal head (highest seq it holds): anchors its later records
    /// to the platform's clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_seq: Option<u64>,
    /// The hash (hex) of the record at `head_seq`: a commitment to the journal as
    /// it is now. A head above what the platform holds counts only with it (and the
    /// record at that seq must later arrive with this hash), so a device cannot
    /// claim to have held records it writes afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_hash: Option<String>,
    /// The key was made by `keshi simulate` (demos and tests): refused unless the
    /// platform accepts simulated devices, and credited apart.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
}

/// `POST /v1/heartbeat` (the body is optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HeartbeatRequest {
    /// The device's journal head now (see [`LoginRequest::head_seq`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_seq: Option<u64>,
    /// The hash of the record at `head_seq` (see [`LoginRequest::head_hash`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_hash: Option<String>,
}

/// A platform-signed offline lease: the device may study offline until
/// `offline_until_ms` (R-ID-3; segments outside it are flagged, not credited).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OfflineLease {
    /// Lease id.
    pub lease_id: String,
    /// Learner id.
    pub learner_id: String,
    /// Device id (hex).
    pub device_id: String,
    /// Issued at, Unix ms.
    pub issued_ms: i64,
    /// Offline study allowed until, Unix ms.
    pub offline_until_ms: i64,
    /// Ed25519 signature (hex) by the platform key over
    /// [`OfflineLease::message`].
    pub signature: String,
}

impl OfflineLease {
    /// The signed message: `KESHI-LEASE-v1|lease|learner|device|issued|until`.
    pub fn message(
        lease_id: &str,
        learner_id: &str,
        device_id: &str,
        issued_ms: i64,
        offline_until_ms: i64,
    ) -> Vec<u8> {
        format!("KESHI-LEASE-v1|{lease_id}|{learner_id}|{device_id}|{issued_ms}|{offline_until_ms}")
            .into_bytes()
    }

    /// Check the platform's signature with its public key.
    pub fn verify(&self, platform_public_key: &[u8; 32]) -> bool {
        let msg = Self::message(
            &self.lease_id,
            &self.learner_id,
            &self.device_id,
            self.issued_ms,
            self.offline_until_ms,
        );
        crate::sig::verify_hex_signature(platform_public_key, &msg, &self.signature)
    }
}

/// Answer to a login.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LoginResponse {
    /// Bearer token for this lease.
    pub token: String,
    /// Lease id.
    pub lease_id: String,
    /// Learner id.
    pub learner_id: String,
    /// Enrolled device id (hex).
    pub device_id: String,
    /// Online lease expiry (renewed by heartbeats), Unix ms.
    pub expires_ms: i64,
    /// The signed offline lease.
    pub offline_lease: OfflineLease,
    /// The platform's Ed25519 public key (hex).
    pub platform_public_key: String,
    /// Highest contiguous seq the platform holds for this device.
    pub acknowledged: u64,
    /// The platform's clock, Unix ms: a device stamps its records in the
    /// platform's time (its own clock may be off).
    #[serde(default)]
    pub server_ms: i64,
    /// The learner's quiz draw seed (hex): which questions each attempt asks is
    /// drawn from it ([`crate::draw`]); the platform grades other questions as
    /// failed.
    #[serde(default)]
    pub draw_seed: String,
}

/// Answer to `POST /v1/heartbeat`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HeartbeatResponse {
    /// Lease id.
    pub lease_id: String,
    /// New online expiry, Unix ms.
    pub expires_ms: i64,
    /// The renewed offline lease.
    pub offline_lease: OfflineLease,
    /// The platform's clock, Unix ms.
    #[serde(default)]
    pub server_ms: i64,
}

/// `POST /v1/records`: records of the lease's device, in seq order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PushRequest {
    /// The records.
    pub records: Vec<WireRecord>,
    /// The device's journal head when it sent them (its highest seq): a journal
    /// goes up in batches, so records after this batch's last were written before
    /// the push as well. With [`PushRequest::head_hash`] a commitment, as at a
    /// heartbeat; without it the push bounds no later record's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_seq: Option<u64>,
    /// The hash of the record at `head_seq` (hex): checked when that record arrives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_hash: Option<String>,
}

/// Answer to a push that the platform accepted entirely.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PushResponse {
    /// Highest contiguous seq the platform holds for this device.
    pub acknowledged: u64,
    /// Hash of that record (hex); `None` when it holds none.
    pub head_hash: Option<String>,
    /// Records newly stored by this request.
    pub accepted: u64,
    /// Records it already held (same hash): accepted once, answered the same.
    pub duplicates: u64,
}

/// Every error answer: a stable `code` (documented in
/// `docs/platform-api.md`), a message for humans, and for record refusals the
/// seq refused and what the platform holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(rename = "Error")
)]
pub struct ApiError {
    /// Stable machine-readable code, e.g. `bad_signature` (codes this build does
    /// not know read as [`ApiCode::Unrecognised`]).
    #[serde(deserialize_with = "ApiCode::deserialize_lenient")]
    pub code: ApiCode,
    /// Human-readable explanation.
    pub message: String,
    /// The record refused, when a record was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Highest contiguous seq the platform holds (record refusals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<u64>,
    /// Whether retrying the same request later can succeed.
    #[serde(default)]
    pub retryable: bool,
}

/// Answer to `GET /v1/devices/{device_id}/head`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeviceHead {
    /// Device id (hex).
    pub device_id: String,
    /// Highest contiguous seq the platform holds.
    pub acknowledged: u64,
    /// Its hash (hex), `None` when it holds none.
    pub head_hash: Option<String>,
}

/// Answer to `GET /v1/quiz/grades?after_seq=N`: the platform's grades of the lease
/// device's `quiz_answered` records after seq `N`, each signed with the platform key
/// (the device journals them as `quiz_graded`, issue 11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GradesResponse {
    /// The grades, in seq order.
    pub grades: Vec<crate::fact::QuizGraded>,
}

/// `POST /v1/progress/snapshots`: the device's progress snapshots (its own fold of
/// its journal, at the head the platform acknowledged), for the platform to
/// countersign (issue 11).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SnapshotsRequest {
    /// One per course, unsigned.
    pub snapshots: Vec<crate::fact::ProgressSnapshot>,
}

/// Answer to `POST /v1/progress/snapshots`: the snapshots the platform's own fold of
/// the device's records confirms, countersigned for the device (the device
/// journals them before it erases old payloads); the others are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SnapshotsResponse {
    /// The confirmed snapshots, signed.
    pub snapshots: Vec<crate::fact::ProgressSnapshot>,
}

/// A course the learner is enrolled in (`GET /v1/courses`, issue 12): what the app
/// lists and downloads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EnrolledCourse {
    /// Course id.
    pub id: String,
    /// The version served.
    pub version: u32,
    /// Title.
    pub title: String,
    /// The institution that publishes it.
    pub institution: String,
    /// Policy profile.
    pub profile: String,
    /// Class hours under the profile.
    pub class_hours: u32,
    /// SHA-256 (hex) of the manifest `GET /v1/courses/{id}/manifest` answers (answer
    /// keys removed): the device checks it before trusting the media hashes inside.
    pub manifest_sha256: String,
    /// Lesson media files to download.
    pub media_files: u32,
    /// Their total size in bytes.
    pub media_bytes: u64,
}

/// Answer to `GET /v1/courses`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CoursesResponse {
    /// The learner's courses, by id.
    pub courses: Vec<EnrolledCourse>,
}

/// `POST /v1/password/first`: a learner imported without a password sets one at
/// first sign-in, proving who they are with the ID number and the phone on record
/// (issue 12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FirstPasswordRequest {
    /// Login name.
    pub user: String,
    /// The ID number on record.
    pub id_number: String,
    /// The phone on record.
    pub phone: String,
    /// The new password (at least 8 characters).
    pub password: String,
}
