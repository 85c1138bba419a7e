//! The record vocabulary, typed: every record kind of format v1 as a variant of
//! [`Fact`], with the v1 field names.
//!
//! A record's *kind* lives in its signed header and its *payload* is the JSON the
//! header commits to; a [`Fact`] is the two together. [`Fact::decode`] reads a stored
//! payload for a kind, [`Fact::to_new_record`] writes one (compact JSON, keys sorted:
//! [`crate::record::canonical_json`]). Decoding never fails: a payload that does not
//! fit its kind becomes [`Fact::Malformed`], a kind this build does not know
//! [`Fact::Unknown`], so the vocabulary can grow and a hostile payload cannot stop a
//! fold. The byte format is frozen; journals written by earlier builds decode to the
//! same facts (pinned by `tests/legacy_journal.rs`).
//!
//! | kind | written by | what it says |
//! |---|---|---|
//! | `session_start` | core | a study session opens on a course (profile, class hours, course length) |
//! | `resume` | core | where a resumed session starts (the breakpoint, R-ST-2) |
//! | `state` | core | play, pause, focus, blur, visible, hidden |
//! | `segment` | core | a stretch of playback: its clock interval, positions, credited ranges |
//! | `seek` | core | an accepted seek (inside the watched frontier) |
//! | `violation` | core | time that did not count or a refused request, and why (R-ST-1, R-ST-4) |
//! | `capture_requested` | core | a random face capture is due (R-ST-3) |
//! | `capture_result` | core | its result (image hash, reasons) |
//! | `capture_unsolicited` | core | a capture result nobody asked for (a script) |
//! | `capture_detail` | shell | what the camera saw (faces, liveness metrics, device) |
//! | `login_check` | shell | the login liveness check (R-ID-2) |
//! | `quiz_due` | core | the end-of-hour quiz opens (R-AS-1) |
//! | `quiz_answered` | core | the answers (and, in journals of this format, the device's grade) |
//! | `quiz_unsolicited` | core | answers nobody asked for |
//! | `class_hour_completed` | core | a class hour completed (informational: folds re-derive it) |
//! | `ended` | core | the course end was reached |
//! | `session_end` | core | the session closed |
//! | `progress_snapshot` | retention | progress folded so far, before old payloads are erased |
//! | `lease_revoked` | sync | the platform revoked the login lease (R-ID-3) |

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fold::Progress;
use crate::record::{canonical_json, NewRecord};
use crate::time::MonoMs;

/// One quiz answer: an option index, an option letter (`"A"`), or the option text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Answer {
    /// 0-based option index.
    Index(usize),
    /// Option letter or option text.
    Text(String),
}

impl Answer {
    /// The option this answer picks among `options`, if any.
    pub fn picks(&self, options: &[String]) -> Option<usize> {
        match self {
            Answer::Index(i) => Some(*i),
            Answer::Text(t) => {
                let t = t.trim();
                let b = t.as_bytes();
                if b.len() == 1 && b[0].is_ascii_alphabetic() {
                    Some(usize::from(b[0].to_ascii_uppercase() - b'A'))
                } else {
                    options.iter().position(|o| o == t)
                }
            }
        }
    }
}

/// Why time was not credited, or a request refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, export_to = "../../ui/src/bindings/")
)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// Seek or position jump beyond the watched frontier (R-ST-1).
    SeekAhead,
    /// A playback rate other than 1.0 (R-ST-1).
    RateChange,
    /// Focus lost while playing.
    FocusLost,
    /// Window hidden (minimised, screen locked) while playing.
    Hidden,
    /// No user activity within the idle timeout (R-ST-4).
    Idle,
    /// A capture failed its checks (R-ST-3).
    CaptureFailed,
    /// A capture was not answered in time (R-ST-3).
    CaptureOverdue,
    /// A quiz attempt did not pass (R-AS-1).
    QuizFailed,
    /// The login lease was revoked (R-ID-3).
    LeaseRevoked,
}

impl ViolationKind {
    /// Every kind, in declaration order.
    pub const ALL: [ViolationKind; 9] = [
        ViolationKind::SeekAhead,
        ViolationKind::RateChange,
        ViolationKind::FocusLost,
        ViolationKind::Hidden,
        ViolationKind::Idle,
        ViolationKind::CaptureFailed,
        ViolationKind::CaptureOverdue,
        ViolationKind::QuizFailed,
        ViolationKind::LeaseRevoked,
    ];

    /// Stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            ViolationKind::SeekAhead => "seek_ahead",
            ViolationKind::RateChange => "rate_change",
            ViolationKind::FocusLost => "focus_lost",
            ViolationKind::Hidden => "hidden",
            ViolationKind::Idle => "idle",
            ViolationKind::CaptureFailed => "capture_failed",
            ViolationKind::CaptureOverdue => "capture_overdue",
            ViolationKind::QuizFailed => "quiz_failed",
            ViolationKind::LeaseRevoked => "lease_revoked",
        }
    }
}

/// The player states a `state` record names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlayerState {
    /// Playing.
    Play,
    /// Paused.
    Pause,
    /// The window gained focus.
    Focus,
    /// The window lost focus.
    Blur,
    /// The window became visible.
    Visible,
    /// The window was hidden or minimised.
    Hidden,
}

/// Serde helper for a field that may be absent, `null`, or a value (three states
/// the frozen payloads distinguish).
mod present {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// `session_start`: a study session opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStart {
    /// Session number on this course (1-based).
    pub session: u32,
    /// Course id.
    pub course: String,
    /// Policy profile id the device ran under (a claim: the platform uses its own).
    pub profile: String,
    /// Class hours the course offers under that profile.
    pub class_hours: u32,
    /// Course length, ms.
    pub course_ms: u64,
}

/// `resume`: where a resumed session starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    /// The breakpoint.
    pub pos_ms: u64,
    /// The watched frontier.
    pub frontier_ms: u64,
    /// Credited so far (the device's count).
    pub credited_ms: u64,
    /// Class hours completed so far (the device's count).
    pub class_hours_completed: u32,
}

/// `state`: a player or window state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The new state.
    pub state: PlayerState,
    /// Position then.
    pub pos_ms: u64,
}

/// `segment`: a stretch of playback on the session's monotonic clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Session number.
    pub session: u32,
    /// Start, session clock ms.
    pub t0_ms: u64,
    /// End, session clock ms.
    pub t1_ms: u64,
    /// Position at the start.
    pub pos0_ms: u64,
    /// Position at the end.
    pub pos_ms: u64,
    /// Watched frontier at the end.
    pub frontier_ms: u64,
    /// Sum of `covered` (newly credited course time).
    pub credited_ms: u64,
    /// Newly credited course ranges `[from, to)`, ms.
    pub covered: Vec<[u64; 2]>,
    /// Credited on the course after this segment (the device's count).
    pub total_credited_ms: u64,
}

/// `seek`: an accepted seek.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seek {
    /// From.
    pub from_ms: u64,
    /// Asked for.
    pub to_ms: u64,
    /// Where the position went (never beyond the frontier).
    pub pos_ms: u64,
    /// `seek` (a request) or `position` (a report that jumped).
    pub source: String,
    /// Always true (refused seeks are violations).
    pub accepted: bool,
}

/// `violation`: what did not count, or a request refused. The detail fields depend
/// on the kind; absent ones are not written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// Which rule.
    pub kind: ViolationKind,
    /// Position then.
    pub pos_ms: u64,
    /// `rate_change`: the rate asked for (`null` when not a finite number).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "present")]
    pub requested: Option<Option<f64>>,
    /// `seek_ahead`: from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_ms: Option<u64>,
    /// `seek_ahead`: asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_ms: Option<u64>,
    /// `seek_ahead`: `seek` or `position`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `seek_ahead`: the frontier then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontier_ms: Option<u64>,
    /// `idle`: the idle timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_ms: Option<u64>,
    /// `capture_*`: the capture id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `capture_*`, `quiz_failed`: the class hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_hour: Option<u32>,
    /// `capture_failed`: reason codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<String>>,
    /// `quiz_failed`: right answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct: Option<u32>,
    /// `quiz_failed`: questions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u32>,
    /// `lease_revoked`: the platform's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Violation {
    /// A violation of `kind` at `pos_ms` with no detail.
    pub fn new(kind: ViolationKind, pos_ms: u64) -> Violation {
        Violation {
            kind,
            pos_ms,
            requested: None,
            from_ms: None,
            to_ms: None,
            source: None,
            frontier_ms: None,
            idle_ms: None,
            id: None,
            class_hour: None,
            reasons: None,
            correct: None,
            total: None,
            reason: None,
        }
    }
}

/// `capture_requested`: a face capture is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureRequested {
    /// Capture id (`s<session>-c<n>`).
    pub id: String,
    /// Class hour it belongs to.
    pub class_hour: u32,
    /// Credited then.
    pub credited_ms: u64,
    /// A retry after a failure (no deadline).
    pub retry: bool,
    /// Position then.
    pub pos_ms: u64,
}

/// `capture_result`: the outcome of a requested capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureResult {
    /// Capture id.
    pub id: String,
    /// Class hour.
    pub class_hour: u32,
    /// Passed the device's face checks.
    pub ok: bool,
    /// SHA-256 (lowercase hex) of the kept image; absent on an overdue capture.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "present")]
    pub image_sha256: Option<Option<String>>,
    /// Failure reason codes (`overdue` when not answered in time).
    pub reasons: Vec<String>,
    /// Position then.
    pub pos_ms: u64,
}

impl CaptureResult {
    /// The kept image's hash, if any.
    pub fn image(&self) -> Option<&str> {
        self.image_sha256.as_ref().and_then(|h| h.as_deref())
    }
}

/// `capture_unsolicited`: a result nobody asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureUnsolicited {
    /// What it claimed.
    pub ok: bool,
}

/// `quiz_due`: the end-of-hour quiz opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuizDue {
    /// Class hour.
    pub class_hour: u32,
    /// Attempt (1-based).
    pub attempt: u32,
    /// Question ids drawn.
    pub questions: Vec<String>,
}

/// `quiz_answered`: the learner's answers. The device holds no answer keys: the
/// platform grades them ([`QuizGraded`]). Journals written before issue 11 also carry
/// the device's own grade (`correct`, `total`, `passed`), which only the device's
/// display of old journals reads; the platform never does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuizAnswered {
    /// Class hour.
    pub class_hour: u32,
    /// Attempt.
    pub attempt: u32,
    /// Question ids, in the order answered.
    pub questions: Vec<String>,
    /// The answers.
    pub answers: Vec<Answer>,
    /// Right answers, as a pre-issue-11 device graded them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct: Option<u32>,
    /// Questions, as a pre-issue-11 device counted them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u32>,
    /// Passed, as a pre-issue-11 device graded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
}

/// `quiz_graded`: the platform's grade of one `quiz_answered` record, signed with the
/// platform's key; the device journals it as it came and believes it only when the
/// signature verifies under the platform key it knows (issue 11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QuizGraded {
    /// Course id.
    pub course: String,
    /// Class hour.
    pub class_hour: u32,
    /// Attempt.
    pub attempt: u32,
    /// The device that answered (hex).
    pub device_id: String,
    /// Seq of its `quiz_answered` record.
    pub answered_seq: u64,
    /// Right answers by the platform's bank.
    pub correct: u32,
    /// Questions graded (fewer than the profile asks never pass).
    pub total: u32,
    /// Passed under the course's profile (R-AS-2).
    pub passed: bool,
    /// When the platform graded it, Unix ms (its own clock).
    pub graded_ms: i64,
    /// Ed25519 signature (hex) by the platform key over [`QuizGraded::message`].
    pub signature: String,
}

impl QuizGraded {
    /// The signed message:
    /// `KESHI-GRADE-v1|device|seq|course|hour|attempt|correct|total|passed|graded_ms`.
    pub fn message(&self) -> Vec<u8> {
        format!(
            "KESHI-GRADE-v1|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            self.device_id,
            self.answered_seq,
            self.course,
            self.class_hour,
            self.attempt,
            self.correct,
            self.total,
            self.passed,
            self.graded_ms
        )
        .into_bytes()
    }

    /// Whether the platform with `platform_public_key` signed this grade.
    pub fn verify(&self, platform_public_key: &[u8; 32]) -> bool {
        crate::sig::verify_hex_signature(platform_public_key, &self.message(), &self.signature)
    }
}

/// `quiz_unsolicited`: answers nobody asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuizUnsolicited {
    /// How many answers.
    pub answers: u64,
}

/// `class_hour_completed`: informational (folds derive completion themselves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassHourCompleted {
    /// Class hour.
    pub class_hour: u32,
    /// Credited then.
    pub credited_ms: u64,
}

/// `ended`: the course end was reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    /// Position (the course length).
    pub pos_ms: u64,
}

/// `session_end`: the session closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEnd {
    /// Session number.
    pub session: u32,
    /// The breakpoint.
    pub pos_ms: u64,
    /// The frontier.
    pub frontier_ms: u64,
    /// Credited (the device's count).
    pub credited_ms: u64,
    /// Class hours completed (the device's count).
    pub class_hours_completed: u32,
}

/// `progress_snapshot`: progress on a course folded from the device's journal,
/// written before old payloads are erased (`player_core::retention`). Since issue
/// 11 it is countersigned: the platform folds the device's records it holds (up to
/// `up_to_seq`) with the same fold and signs the snapshot only when it finds the
/// same progress; the device believes it only when the signature verifies under
/// the platform key (journals from before carry unsigned ones, believed only
/// there).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProgressSnapshot {
    /// Course id.
    pub course: String,
    /// Payloads up to this seq may be erased after it.
    pub up_to_seq: u64,
    /// The progress.
    pub progress: Progress,
    /// The device it was signed for (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// When the platform signed it, Unix ms (its clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_ms: Option<i64>,
    /// Ed25519 signature (hex) by the platform key over
    /// [`ProgressSnapshot::message`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl ProgressSnapshot {
    /// The signed message: `KESHI-SNAPSHOT-v1|device|course|up_to_seq|signed_ms|`
    /// followed by the progress as JSON.
    pub fn message(&self) -> Vec<u8> {
        let mut m = format!(
            "KESHI-SNAPSHOT-v1|{}|{}|{}|{}|",
            self.device_id.as_deref().unwrap_or(""),
            self.course,
            self.up_to_seq,
            self.signed_ms.unwrap_or(0)
        )
        .into_bytes();
        m.extend(serde_json::to_vec(&self.progress).unwrap_or_default());
        m
    }

    /// Whether the platform with `platform_public_key` signed this snapshot.
    pub fn verify(&self, platform_public_key: &[u8; 32]) -> bool {
        self.signature.as_deref().is_some_and(|sig| {
            crate::sig::verify_hex_signature(platform_public_key, &self.message(), sig)
        })
    }
}

/// `lease_revoked`: the platform revoked the lease (journaled by the sync engine).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRevoked {
    /// The platform's message.
    pub reason: String,
    /// The platform's code.
    pub code: String,
    /// The lease, when known.
    pub lease_id: Option<String>,
    /// Which part noticed (`sync`).
    pub detected_by: String,
}

macro_rules! facts {
    ($( $(#[$doc:meta])* $variant:ident($ty:ty) = $kind:literal, )*) => {
        /// The kinds of the v1 vocabulary.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum FactKind {
            $( $(#[$doc])* $variant, )*
        }

        impl FactKind {
            /// Every kind.
            pub const ALL: &'static [FactKind] = &[ $( FactKind::$variant, )* ];

            /// The record kind string.
            pub fn as_str(self) -> &'static str {
                match self { $( FactKind::$variant => $kind, )* }
            }

            /// The kind named `s`, if this build knows it.
            pub fn parse(s: &str) -> Option<FactKind> {
                match s { $( $kind => Some(FactKind::$variant), )* _ => None }
            }
        }

        /// A record's meaning: its kind and typed payload.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum Fact {
            $( $(#[$doc])* $variant($ty), )*
            /// A kind this build does not know (kept, never interpreted).
            Unknown {
                /// The kind.
                kind: String,
                /// The payload.
                payload: Value,
            },
            /// A known kind whose payload does not fit it (hostile or corrupt).
            Malformed {
                /// The kind.
                kind: FactKind,
                /// Why it does not fit.
                error: String,
            },
        }

        impl Fact {
            /// The record kind string.
            pub fn kind(&self) -> &str {
                match self {
                    $( Fact::$variant(_) => $kind, )*
                    Fact::Unknown { kind, .. } => kind,
                    Fact::Malformed { kind, .. } => kind.as_str(),
                }
            }

            /// The payload as JSON (`null` for a malformed one).
            pub fn payload(&self) -> Value {
                match self {
                    $( Fact::$variant(p) => to_value(p), )*
                    Fact::Unknown { payload, .. } => payload.clone(),
                    Fact::Malformed { .. } => Value::Null,
                }
            }

            /// Reads a stored payload of `kind`.
            pub fn decode(kind: &str, payload: &[u8]) -> Fact {
                match FactKind::parse(kind) {
                    $( Some(k @ FactKind::$variant) => match parse::<$ty>(payload) {
                        Ok(p) => Fact::$variant(p),
                        Err(error) => Fact::Malformed { kind: k, error },
                    }, )*
                    None => Fact::Unknown {
                        kind: kind.to_owned(),
                        payload: serde_json::from_slice(payload).unwrap_or(Value::Null),
                    },
                }
            }
        }
    };
}

facts! {
    /// A session opens.
    SessionStart(SessionStart) = "session_start",
    /// Where a resumed session starts.
    Resume(Resume) = "resume",
    /// A player or window state change.
    State(State) = "state",
    /// A stretch of playback.
    Segment(Segment) = "segment",
    /// An accepted seek.
    Seek(Seek) = "seek",
    /// Time that did not count, or a refused request.
    Violation(Violation) = "violation",
    /// A face capture is due.
    CaptureRequested(CaptureRequested) = "capture_requested",
    /// A capture's outcome.
    CaptureResult(CaptureResult) = "capture_result",
    /// A capture result nobody asked for.
    CaptureUnsolicited(CaptureUnsolicited) = "capture_unsolicited",
    /// What the camera saw (schema owned by `capture::CaptureOutcome`).
    CaptureDetail(Value) = "capture_detail",
    /// The login liveness check (schema owned by `capture::CaptureOutcome`).
    LoginCheck(Value) = "login_check",
    /// The end-of-hour quiz opens.
    QuizDue(QuizDue) = "quiz_due",
    /// Quiz answers.
    QuizAnswered(QuizAnswered) = "quiz_answered",
    /// Answers nobody asked for.
    QuizUnsolicited(QuizUnsolicited) = "quiz_unsolicited",
    /// The platform's signed grade of an attempt.
    QuizGraded(QuizGraded) = "quiz_graded",
    /// A class hour completed (informational).
    ClassHourCompleted(ClassHourCompleted) = "class_hour_completed",
    /// The course end was reached.
    Ended(Ended) = "ended",
    /// The session closed.
    SessionEnd(SessionEnd) = "session_end",
    /// Progress folded so far (retention).
    ProgressSnapshot(ProgressSnapshot) = "progress_snapshot",
    /// The platform revoked the lease.
    LeaseRevoked(LeaseRevoked) = "lease_revoked",
}

/// The largest payload a record of most kinds may carry (bytes): a few fields.
pub const SMALL_PAYLOAD_BYTES: usize = 4 << 10;
/// The largest payload of the kinds that carry lists (covered ranges, detections,
/// answers).
pub const LIST_PAYLOAD_BYTES: usize = 16 << 10;
/// The largest payload of a progress snapshot (a whole course's progress).
pub const SNAPSHOT_PAYLOAD_BYTES: usize = 64 << 10;

impl FactKind {
    /// The largest payload a record of this kind may carry. Honest records are far
    /// below it (a segment is ~200 bytes); the platform refuses bigger ones
    /// (`payload_too_large`) so a device cannot make it store junk.
    pub fn max_payload_bytes(self) -> usize {
        match self {
            FactKind::ProgressSnapshot => SNAPSHOT_PAYLOAD_BYTES,
            FactKind::Segment
            | FactKind::CaptureDetail
            | FactKind::LoginCheck
            | FactKind::QuizDue
            | FactKind::QuizAnswered
            | FactKind::QuizUnsolicited => LIST_PAYLOAD_BYTES,
            FactKind::QuizGraded => SMALL_PAYLOAD_BYTES,
            _ => SMALL_PAYLOAD_BYTES,
        }
    }
}

/// The largest payload a record of `kind` may carry (a kind this build does not
/// know: [`SMALL_PAYLOAD_BYTES`]).
pub fn max_payload_bytes(kind: &str) -> usize {
    FactKind::parse(kind).map_or(SMALL_PAYLOAD_BYTES, FactKind::max_payload_bytes)
}

fn to_value<T: Serialize>(v: &T) -> Value {
    // Serializing these plain structs to a Value cannot fail (string keys only).
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn parse<T: DeserializeOwned>(payload: &[u8]) -> Result<T, String> {
    serde_json::from_slice(payload).map_err(|e| e.to_string())
}

impl Fact {
    /// The canonical payload bytes of this fact.
    pub fn payload_bytes(&self) -> Vec<u8> {
        canonical_json(&self.payload())
    }

    /// The record to append for this fact, with both clocks.
    pub fn to_new_record(&self, wall_ms: i64, mono_ms: MonoMs) -> NewRecord {
        NewRecord::new(self.kind(), self.payload(), wall_ms, mono_ms)
    }

    /// The position this fact reports, for the facts that carry one.
    pub fn pos_ms(&self) -> Option<u64> {
        match self {
            Fact::Resume(f) => Some(f.pos_ms),
            Fact::State(f) => Some(f.pos_ms),
            Fact::Segment(f) => Some(f.pos_ms),
            Fact::Seek(f) => Some(f.pos_ms),
            Fact::Violation(f) => Some(f.pos_ms),
            Fact::CaptureRequested(f) => Some(f.pos_ms),
            Fact::CaptureResult(f) => Some(f.pos_ms),
            Fact::Ended(f) => Some(f.pos_ms),
            Fact::SessionEnd(f) => Some(f.pos_ms),
            _ => None,
        }
    }

    /// The frontier this fact reports, for the facts that carry one.
    pub fn frontier_ms(&self) -> Option<u64> {
        match self {
            Fact::Resume(f) => Some(f.frontier_ms),
            Fact::Segment(f) => Some(f.frontier_ms),
            Fact::SessionEnd(f) => Some(f.frontier_ms),
            Fact::Violation(f) => f.frontier_ms,
            _ => None,
        }
    }
}
