//! The stable codes that cross from the platform to its clients, as types. The
//! platform sends them, the sync engine maps them to stop states, the app shows them
//! in the learner's words (every code has zh-CN and English text: a UI test
//! enumerates [`ApiCode::ALL`]). Documented in `docs/platform-api.md`.

use serde::{Deserialize, Serialize};

macro_rules! codes {
    (
        $(#[$meta:meta])* $vis:vis enum $name:ident {
            $( $(#[$doc:meta])* $variant:ident = $code:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, export_to = "../../ui/src/bindings/"))]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        $vis enum $name {
            $( $(#[$doc])* #[serde(rename = $code)] $variant, )*
        }

        impl $name {
            /// Every code.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )* ];

            /// The wire code.
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $code, )* }
            }

            /// The code named `s`, if any.
            pub fn parse(s: &str) -> Option<$name> {
                match s { $( $code => Some($name::$variant), )* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

codes! {
    /// Why the platform refused one uploaded record (HTTP 422). The refused record is
    /// quarantined; records before it are stored.
    pub enum RefusalCode {
        /// The record does not decode (hex, header layout, signature length).
        MalformedRecord = "malformed_record",
        /// Header fields invalid (version, kind, seq 0).
        BadHeader = "bad_header",
        /// The stated hash is not SHA-256 of the header: an edited header.
        HashMismatch = "hash_mismatch",
        /// The seq is beyond the next one expected: records are missing.
        SequenceGap = "sequence_gap",
        /// The seq is below the expected one where nothing is held.
        Reordered = "reordered",
        /// Signed by another enrolled device than the lease's (a replay).
        WrongDevice = "wrong_device",
        /// Signed by a device the platform never enrolled.
        UnknownDevice = "unknown_device",
        /// `prev_hash` is not the hash of the record before it.
        BrokenLink = "broken_link",
        /// Payload length or SHA-256 differs from the header: an edited payload.
        PayloadMismatch = "payload_mismatch",
        /// The Ed25519 signature does not verify with the enrolled key.
        BadSignature = "bad_signature",
        /// The platform holds a different record at this seq (a fork or rewrite).
        ConflictingRecord = "conflicting_record",
        /// The payload is larger than its kind allows.
        PayloadTooLarge = "payload_too_large",
    }
}

codes! {
    /// Every `code` of a platform error answer (`{code, message, …}`).
    pub enum ApiCode {
        /// Body is not the expected JSON.
        MalformedBody = "malformed_body",
        /// Body above the size limit.
        BodyTooLarge = "body_too_large",
        /// More records than allowed in one push.
        BatchTooLarge = "batch_too_large",
        /// No or unknown bearer token.
        Unauthenticated = "unauthenticated",
        /// Login: unknown user or wrong password.
        InvalidCredentials = "invalid_credentials",
        /// The learner logged in elsewhere (R-ID-3).
        LeaseRevoked = "lease_revoked",
        /// The lease ran out; log in again.
        LeaseExpired = "lease_expired",
        /// The device is not enrolled (lease) or never was (record).
        UnknownDevice = "unknown_device",
        /// Login: this device key belongs to another learner.
        DeviceTaken = "device_taken",
        /// Login: the device's public key is of small order or not canonical (under
        /// such a key a signature can be made without the secret).
        WeakKey = "weak_key",
        /// Login: a simulated device (`keshi simulate`) on a platform that does not
        /// accept them.
        SimulatedRefused = "simulated_refused",
        /// Login: the learner has enrolled as many devices as allowed; staff must
        /// approve another.
        DeviceLimit = "device_limit",
        /// Too many failed sign-ins for this account or address; retry later.
        TooManyAttempts = "too_many_attempts",
        /// The platform is busy (too many password checks waiting); retry later.
        Busy = "busy",
        /// A record's payload is larger than its kind allows.
        PayloadTooLarge = "payload_too_large",
        /// The learner's uploads today reached the daily quota; the rest waits for
        /// tomorrow (`Retry-After`), nothing is lost.
        QuotaExceeded = "quota_exceeded",
        /// Another learner's data.
        Forbidden = "forbidden",
        /// Another upload of this device committed meanwhile; retry.
        ConcurrentPush = "concurrent_push",
        /// Database failure; retry.
        StorageUnavailable = "storage_unavailable",
        /// An unexpected failure of the platform.
        Internal = "internal",
        /// No such thing.
        NotFound = "not_found",
        /// Capture image above the limit.
        CaptureTooLarge = "capture_too_large",
        /// Capture not JPEG/PNG, or bytes not of the declared type.
        UnsupportedCaptureType = "unsupported_capture_type",
        /// Capture body's SHA-256 is not the path's.
        CaptureHashMismatch = "capture_hash_mismatch",
        /// An uploaded media file's bytes do not hash to its name (the upload is
        /// dropped; send it again from offset 0).
        MediaHashMismatch = "media_hash_mismatch",
        /// A media chunk's offset is not what the platform holds (resume from the
        /// `received` it reports).
        UploadOffset = "upload_offset",
        /// A course manifest the platform cannot publish (invalid, not gradable, or
        /// against its profile).
        InvalidCourse = "invalid_course",
        /// A lesson's media has not been uploaded yet.
        MediaMissing = "media_missing",
        /// A download range beyond the file's end.
        RangeNotSatisfiable = "range_not_satisfiable",
        /// The learner was imported without a password: set one first
        /// (`POST /v1/password/first` with the ID number and phone on record).
        PasswordNotSet = "password_not_set",
        /// A certificate asked for a learner who has not qualified (R-AS-2); the
        /// message says what is missing.
        NotQualified = "not_qualified",
        /// A course-farming finding already confirmed or dismissed.
        AlreadyReviewed = "already_reviewed",
        /// A training plan whose online class hours exceed the profile's share of
        /// the total (R-SV-8); the message cites the clause.
        OnlineShareExceeded = "online_share_exceeded",
        /// Record refusal: see [`RefusalCode::MalformedRecord`].
        MalformedRecord = "malformed_record",
        /// Record refusal: see [`RefusalCode::BadHeader`].
        BadHeader = "bad_header",
        /// Record refusal: see [`RefusalCode::HashMismatch`].
        HashMismatch = "hash_mismatch",
        /// Record refusal: see [`RefusalCode::SequenceGap`].
        SequenceGap = "sequence_gap",
        /// Record refusal: see [`RefusalCode::Reordered`].
        Reordered = "reordered",
        /// Record refusal: see [`RefusalCode::WrongDevice`].
        WrongDevice = "wrong_device",
        /// Record refusal: see [`RefusalCode::BrokenLink`].
        BrokenLink = "broken_link",
        /// Record refusal: see [`RefusalCode::PayloadMismatch`].
        PayloadMismatch = "payload_mismatch",
        /// Record refusal: see [`RefusalCode::BadSignature`].
        BadSignature = "bad_signature",
        /// Record refusal: see [`RefusalCode::ConflictingRecord`].
        ConflictingRecord = "conflicting_record",
        /// Not a platform answer: the client got an error it could not read (a
        /// proxy's page, a newer platform's code).
        Unrecognised = "unrecognised",
    }
}

impl From<RefusalCode> for ApiCode {
    fn from(c: RefusalCode) -> ApiCode {
        // Every refusal code is also an API code, spelled the same.
        ApiCode::parse(c.as_str()).unwrap_or(ApiCode::Unrecognised)
    }
}

impl ApiCode {
    /// The record-level refusal this code is, if it is one (`unknown_device` is one
    /// when it names a record's signer; see [`RefusalCode::UnknownDevice`]).
    pub fn refusal(self) -> Option<RefusalCode> {
        RefusalCode::parse(self.as_str())
    }

    /// Reads a wire code; codes this build does not know become
    /// [`ApiCode::Unrecognised`].
    pub fn from_wire(s: &str) -> ApiCode {
        ApiCode::parse(s).unwrap_or(ApiCode::Unrecognised)
    }

    /// Serde `deserialize_with` for a `code` field: lenient ([`ApiCode::from_wire`]).
    pub fn deserialize_lenient<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<ApiCode, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(ApiCode::from_wire(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_is_an_api_code_spelled_the_same() {
        for r in RefusalCode::ALL {
            let a = ApiCode::from(*r);
            assert_ne!(a, ApiCode::Unrecognised, "{r}");
            assert_eq!(a.as_str(), r.as_str());
            assert_eq!(a.refusal(), Some(*r));
        }
    }

    #[test]
    fn codes_round_trip_through_json() {
        for c in ApiCode::ALL {
            let s = serde_json::to_string(c).unwrap();
            assert_eq!(s, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<ApiCode>(&s).unwrap(), *c);
        }
        let distinct: std::collections::BTreeSet<_> =
            ApiCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(distinct.len(), ApiCode::ALL.len());
        let e: crate::wire::ApiError =
            serde_json::from_str(r#"{"code":"from_the_future","message":"m"}"#).unwrap();
        assert_eq!(e.code, ApiCode::Unrecognised);
    }
}
