//! The staff API's wire types (issue 12, R-SV-1): the people who run training —
//! the platform operator, labour authorities, auditors, enterprises and
//! institutions — each see their own scope. Documented in `docs/platform-api.md`.

use serde::{Deserialize, Serialize};

/// A staff member's role; the scope it works in is set with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum StaffRole {
    /// Runs the platform: every institution and region.
    Operator,
    /// A labour authority of a province, city or district (a region and everything
    /// under it).
    Authority,
    /// Reads, never changes, within a region.
    Auditor,
    /// An enterprise whose employees study (its own learners).
    Enterprise,
    /// A training institution (its learners, courses and classes).
    Institution,
}

impl StaffRole {
    /// Every role.
    pub const ALL: &'static [StaffRole] = &[
        StaffRole::Operator,
        StaffRole::Authority,
        StaffRole::Auditor,
        StaffRole::Enterprise,
        StaffRole::Institution,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Operator => "operator",
            StaffRole::Authority => "authority",
            StaffRole::Auditor => "auditor",
            StaffRole::Enterprise => "enterprise",
            StaffRole::Institution => "institution",
        }
    }

    /// The role named `s`.
    pub fn parse(s: &str) -> Option<StaffRole> {
        StaffRole::ALL.iter().copied().find(|r| r.as_str() == s)
    }

    /// Whether the role's scope is a region (else an institution or enterprise, or
    /// everything for the operator).
    pub fn regional(self) -> bool {
        matches!(self, StaffRole::Authority | StaffRole::Auditor)
    }

    /// Whether the role may change data (auditors only read).
    pub fn writes(self) -> bool {
        !matches!(self, StaffRole::Auditor)
    }
}

impl std::fmt::Display for StaffRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `POST /v1/staff/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StaffLoginRequest {
    /// Login name.
    pub user: String,
    /// Password.
    pub password: String,
}

/// Answer to `POST /v1/staff/login`; the session is also set as an HttpOnly
/// cookie (`keshi_staff`) for the console.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StaffLoginResponse {
    /// Bearer token for scripts (`Authorization: Bearer`).
    pub token: String,
    /// Anti-CSRF token: a request that changes data with the cookie carries it in
    /// the `X-CSRF-Token` header.
    pub csrf: String,
    /// The role.
    pub role: StaffRole,
    /// The scope: a region path (`shanxi/taiyuan`), an institution's name, or `*`.
    pub scope: String,
    /// When the session ends, Unix ms.
    pub expires_ms: i64,
}

/// A learner as staff see them (the ID number masked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StaffLearner {
    /// Login name.
    pub user: String,
    /// Real name (R-ID-1).
    pub real_name: String,
    /// ID number, masked: the first six and last four characters.
    pub id_number: String,
    /// The institution's name.
    pub institution: String,
    /// The learner's class (班级) in the institution, if any.
    #[serde(default)]
    pub class: String,
}

/// Answer to `GET /v1/staff/learners?after=USER`: the learners in scope by login
/// name, at most 500 after `after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StaffLearners {
    /// The learners.
    pub learners: Vec<StaffLearner>,
}

/// Answer to `GET /v1/staff/learners/{user}` (404 outside the scope).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StaffLearnerDetail {
    /// Who.
    pub learner: StaffLearner,
    /// Credit the platform derived (real devices), seconds.
    pub credited_seconds: f64,
    /// Class hours completed.
    pub class_hours_completed: u32,
    /// Records held.
    pub records: u64,
    /// Findings on the learner's records.
    pub flags_total: u64,
}

/// A learner studying now, as `GET /v1/staff/live` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LiveLearner {
    /// Who.
    pub learner: StaffLearner,
    /// The device (hex).
    pub device_id: String,
    /// The course of the device's current session, when one is open on a
    /// published course.
    pub course: Option<String>,
    /// The device's last contact with the platform (login, heartbeat or upload),
    /// Unix ms.
    pub last_contact_ms: i64,
    /// When the online lease runs out unless renewed, Unix ms.
    pub online_until_ms: i64,
    /// Capture photos the platform received from the learner today (China
    /// Standard Time), newest first, by SHA-256 (`GET /v1/staff/captures/{sha256}`).
    #[serde(default)]
    pub photos_today: Vec<String>,
    /// Whether the learner has an enrolment face photo
    /// (`GET /v1/staff/learners/{user}/photo`).
    #[serde(default)]
    pub enrolment_photo: bool,
    /// The lesson at the device's last segment (its title), when known.
    #[serde(default)]
    pub lesson: Option<String>,
    /// Whether the platform is crediting the learner now: the last segment earned
    /// time and ended less than three minutes ago.
    #[serde(default)]
    pub crediting: bool,
    /// Why not, when not: the platform's finding on the last segment (a flag
    /// kind), `not_credited_on_device`, `no_recent_study` or `no_study_yet`.
    #[serde(default)]
    pub why_not: Option<String>,
}

/// Answer to `GET /v1/staff/live?after=USER`: learners in scope with an online
/// lease now, by login name, at most 1,000 after `after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StaffLive {
    /// The platform's clock, Unix ms.
    pub now_ms: i64,
    /// Who is online.
    pub online: Vec<LiveLearner>,
}

/// One entry of the audit trail: who changed what, when, before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AuditEntry {
    /// When, Unix ms (the platform's clock).
    pub at_ms: i64,
    /// Who: `staff:<user>` or `cli` (the administration command line).
    pub actor: String,
    /// What, e.g. `staff.create`, `institution.create`, `learner.create`.
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// The state before (absent for a creation).
    pub before: Option<serde_json::Value>,
    /// The state after.
    pub after: Option<serde_json::Value>,
}

/// Answer to `GET /v1/staff/audit?before_ms=T`: the newest entries in scope
/// before `T`, at most 500.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AuditResponse {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
}

/// An ID number as staff see it: the first six (region) and last four characters,
/// the rest masked. Short values are masked whole.
pub fn mask_id_number(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() < 12 {
        return "*".repeat(chars.len());
    }
    let n = chars.len();
    chars[..6]
        .iter()
        .chain(std::iter::repeat_n(&'*', n - 10))
        .chain(chars[n - 4..].iter())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers_are_masked_but_for_region_and_tail() {
        assert_eq!(mask_id_number("11010519491231002X"), "110105********002X");
        assert_eq!(mask_id_number("12345"), "*****");
    }

    #[test]
    fn roles_round_trip() {
        for r in StaffRole::ALL {
            assert_eq!(StaffRole::parse(r.as_str()), Some(*r));
        }
        assert_eq!(StaffRole::parse("admin"), None);
    }
}

/// `POST /v1/staff/courses`: publish a course into the catalogue (institutions and
/// enterprises, for themselves; the operator for any). Every lesson's media must
/// have been uploaded first (`PUT /v1/staff/media/{sha256}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PublishRequest {
    /// The manifest (`keshi-course/1`), with its quiz bank's answer keys.
    pub manifest: serde_json::Value,
    /// The policy profile the course runs under (`shanxi`, …).
    pub profile: String,
    /// For the operator: the institution (name or id) that owns the course.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution: Option<String>,
}

/// A course version published (`POST /v1/staff/courses`, `admin publish-course`).
/// Versions are immutable: publishing the same manifest again answers the version
/// already held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PublishResponse {
    /// The course id.
    pub course_id: String,
    /// Its version (1, 2, …).
    pub version: u32,
}

/// How much of a media file the platform holds (`GET|PUT /v1/staff/media/{sha256}`):
/// an upload resumes at `received`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UploadState {
    /// Bytes received so far (the whole size once complete).
    pub received: u64,
    /// Whether the file is complete and its SHA-256 checked.
    pub complete: bool,
}

/// `POST /v1/staff/enrolments`: enrol learners (by login name) or a whole class of
/// the course's institution in a course.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EnrolRequest {
    /// The course id.
    pub course: String,
    /// Learners by login name.
    #[serde(default)]
    pub learners: Vec<String>,
    /// A class (every learner of the course's institution in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
}

/// Answer to an enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EnrolResponse {
    /// Learners newly enrolled.
    pub enrolled: u64,
    /// Learners that were enrolled already.
    pub already: u64,
    /// Login names that name no learner of the course's institution (nothing is
    /// enrolled when any does).
    pub unknown: Vec<String>,
}

/// One course in a staff member's scope (`GET /v1/staff/courses`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StaffCourse {
    /// Course id.
    pub id: String,
    /// Newest version.
    pub version: u32,
    /// Title.
    pub title: String,
    /// The institution that publishes it.
    pub institution: String,
    /// Policy profile.
    pub profile: String,
    /// Class hours under the profile.
    pub class_hours: u32,
    /// Learners enrolled.
    pub enrolled: u64,
}

/// Answer to `GET /v1/staff/courses`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StaffCourses {
    /// The courses, by id.
    pub courses: Vec<StaffCourse>,
}

/// Answer to `GET /v1/staff/session`: who is signed in (the console reads it after a
/// reload: the cookie is HttpOnly, the anti-CSRF token is not a secret from the page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StaffSession {
    /// Login name.
    pub user: String,
    /// Role.
    pub role: StaffRole,
    /// Scope as stored (`*`, a region, an institution id).
    pub scope: String,
    /// The institution's name, for institution and enterprise staff.
    pub institution: Option<String>,
    /// The anti-CSRF token for requests that change data.
    pub csrf: String,
}

/// One signed record of a learner as the platform holds it, with what the
/// platform's replay found on it (`GET /v1/staff/learners/{user}/timeline`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TimelineEntry {
    /// The device that signed it.
    pub device_id: String,
    /// Its seq on that device.
    pub seq: u64,
    /// Fact kind (`session_start`, `segment`, `capture_result`, `quiz_answered`, …).
    pub kind: String,
    /// The device's wall clock when written, Unix ms (the device's claim).
    pub wall_ms: i64,
    /// When the platform received it, Unix ms.
    pub received_ms: i64,
    /// The fact's payload as recorded.
    pub fact: serde_json::Value,
    /// The platform's findings on this record (flag kinds).
    pub flags: Vec<String>,
}

/// A quiz attempt as the platform graded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TimelineGrade {
    /// Course id.
    pub course: String,
    /// Class hour.
    pub class_hour: u32,
    /// Attempt.
    pub attempt: u32,
    /// Right answers.
    pub correct: u32,
    /// Questions.
    pub total: u32,
    /// Passed.
    pub passed: bool,
    /// When graded, Unix ms.
    pub graded_ms: i64,
}

/// Answer to `GET /v1/staff/learners/{user}/timeline?before_ms=T`: the learner's
/// newest records (at most 500 received before `T`), newest first, with the
/// platform's findings and grades and the capture photos received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StaffTimeline {
    /// Who.
    pub learner: StaffLearner,
    /// Records, newest first.
    pub entries: Vec<TimelineEntry>,
    /// The platform's grades, newest first.
    pub grades: Vec<TimelineGrade>,
    /// Capture photos received (SHA-256 and when), newest first, at most 200.
    pub photos: Vec<(String, i64)>,
    /// Whether an enrolment face photo is held.
    pub enrolment_photo: bool,
    /// The platform's face check of those photos (those checked so far).
    #[serde(default)]
    pub photo_checks: Vec<PhotoCheck>,
}

/// What the platform's face check found comparing a capture photo with the
/// learner's enrolment photo (issue 14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum FaceVerdict {
    /// The registered learner.
    Match,
    /// Someone else.
    Mismatch,
    /// The enrolment photo itself (or a copy of it), not a camera frame: a replay.
    EnrolmentCopy,
    /// No usable face in the photo (none, several, too small, blurred, turned away).
    NoFace,
    /// The learner has no usable enrolment photo to compare with.
    NoEnrolment,
    /// The photo could not be read.
    Unreadable,
}

impl FaceVerdict {
    /// Every verdict.
    pub const ALL: [FaceVerdict; 6] = [
        FaceVerdict::Match,
        FaceVerdict::Mismatch,
        FaceVerdict::EnrolmentCopy,
        FaceVerdict::NoFace,
        FaceVerdict::NoEnrolment,
        FaceVerdict::Unreadable,
    ];

    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            FaceVerdict::Match => "match",
            FaceVerdict::Mismatch => "mismatch",
            FaceVerdict::EnrolmentCopy => "enrolment_copy",
            FaceVerdict::NoFace => "no_face",
            FaceVerdict::NoEnrolment => "no_enrolment",
            FaceVerdict::Unreadable => "unreadable",
        }
    }

    /// From its stored form (`None` for an unknown one).
    pub fn parse(s: &str) -> Option<FaceVerdict> {
        FaceVerdict::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The platform's face check of one capture photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PhotoCheck {
    /// The photo (SHA-256, hex).
    pub sha256: String,
    /// The verdict.
    pub verdict: FaceVerdict,
    /// Embedding distance to the enrolment template (when both faces were usable).
    pub distance: Option<f64>,
    /// The threshold it was judged by (a distance at or above it is someone else).
    pub threshold: f64,
    /// The model.
    pub model: String,
    /// When, platform ms.
    pub checked_ms: i64,
}
