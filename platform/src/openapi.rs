//! The OpenAPI document, generated: component schemas from the wire types
//! (`keshi_protocol::wire`, through schemars) and paths from the route table below.
//! `/openapi.json` serves it; `platform/openapi.json` is a committed copy that
//! `tests/openapi.rs` regenerates and compares (drift fails CI; regenerate with
//! `KESHI_UPDATE_OPENAPI=1 cargo test -p keshi-platform --test openapi`).

use keshi_protocol::codes::ApiCode;
use keshi_protocol::wire::{
    ApiError, DeviceHead, GradesResponse, HeartbeatResponse, LoginRequest, LoginResponse,
    OfflineLease, PushRequest, PushResponse, SnapshotsRequest, SnapshotsResponse, WireRecord,
};
use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

/// One operation of the API.
struct Op {
    path: &'static str,
    method: &'static str,
    summary: &'static str,
    bearer: bool,
    request: Option<&'static str>,
    /// (status, description, schema name or content type)
    ok: (&'static str, &'static str, Body),
    errors: &'static [&'static str],
    params: &'static [&'static str],
}

#[derive(Clone, Copy)]
enum Body {
    Json(&'static str),
    Text,
    Image,
    Binary,
    Empty,
}

const OPS: &[Op] = &[
    Op {
        path: "/healthz",
        method: "get",
        summary: "liveness probe",
        bearer: false,
        request: None,
        ok: ("200", "the service answers", Body::Text),
        errors: &[],
        params: &[],
    },
    Op {
        path: "/openapi.json",
        method: "get",
        summary: "this document",
        bearer: false,
        request: None,
        ok: ("200", "the OpenAPI document", Body::Json("")),
        errors: &[],
        params: &[],
    },
    Op {
        path: "/v1/login",
        method: "post",
        summary:
            "log a learner in and enrol the device key; revokes the learner's other leases (R-ID-3)",
        bearer: false,
        request: Some("LoginRequest"),
        ok: ("200", "a lease", Body::Json("LoginResponse")),
        errors: &["400", "401", "409", "413", "503"],
        params: &[],
    },
    Op {
        path: "/v1/heartbeat",
        method: "post",
        summary: "renew the lease (no body)",
        bearer: true,
        request: None,
        ok: ("200", "renewed", Body::Json("HeartbeatResponse")),
        errors: &["401", "403", "503"],
        params: &[],
    },
    Op {
        path: "/v1/records",
        method: "post",
        summary: "upload signed records of the lease's device, in seq order; idempotent",
        bearer: true,
        request: Some("PushRequest"),
        ok: (
            "200",
            "all accepted (new or duplicate)",
            Body::Json("PushResponse"),
        ),
        errors: &["400", "401", "403", "413", "422", "503"],
        params: &[],
    },
    Op {
        path: "/v1/devices/{device_id}/head",
        method: "get",
        summary: "what the platform holds for one of the learner's devices",
        bearer: true,
        request: None,
        ok: ("200", "the device head", Body::Json("DeviceHead")),
        errors: &["401", "403", "503"],
        params: &["device_id"],
    },
    Op {
        path: "/v1/quiz/grades",
        method: "get",
        summary: "the platform's signed grades of the lease device's quiz answers after seq `after_seq` (0 when absent), in seq order, at most 500",
        bearer: true,
        request: None,
        ok: ("200", "the grades", Body::Json("GradesResponse")),
        errors: &["400", "401", "403", "503"],
        params: &["?after_seq"],
    },
    Op {
        path: "/v1/progress/snapshots",
        method: "post",
        summary: "countersigns the lease device's progress snapshots that the platform's own fold of the device's records (up to the seq it holds) confirms; the others are left out",
        bearer: true,
        request: Some("SnapshotsRequest"),
        ok: ("200", "the snapshots", Body::Json("SnapshotsResponse")),
        errors: &["400", "401", "403", "413", "503"],
        params: &[],
    },
    Op {
        path: "/v1/learners/{learner_id}/summary",
        method: "get",
        summary: "the learner's records and credit as the platform re-derives them",
        bearer: true,
        request: None,
        ok: ("200", "the summary", Body::Json("")),
        errors: &["401", "403", "503"],
        params: &["learner_id"],
    },
    Op {
        path: "/v1/captures/{sha256}",
        method: "put",
        summary: "upload a capture image (JPEG or PNG) by its lowercase SHA-256",
        bearer: true,
        request: None,
        ok: ("201", "stored (200: already held)", Body::Empty),
        errors: &["400", "401", "403", "413", "415", "503"],
        params: &["sha256"],
    },
    Op {
        path: "/v1/captures/{sha256}",
        method: "get",
        summary: "a capture image of the learner",
        bearer: true,
        request: None,
        ok: ("200", "the image", Body::Image),
        errors: &["401", "403", "404", "503"],
        params: &["sha256"],
    },
    Op {
        path: "/v1/staff/login",
        method: "post",
        summary: "staff sign-in (issue 12): a session as an HttpOnly SameSite=Strict cookie `keshi_staff` and a bearer token; throttled per account and address",
        bearer: false,
        request: Some("StaffLoginRequest"),
        ok: ("200", "the session", Body::Json("StaffLoginResponse")),
        errors: &["400", "401", "429", "503"],
        params: &[],
    },
    Op {
        path: "/v1/staff/logout",
        method: "post",
        summary: "ends the staff session (with the cookie, the `X-CSRF-Token` header is required)",
        bearer: true,
        request: None,
        ok: ("204", "signed out", Body::Empty),
        errors: &["401", "403"],
        params: &[],
    },
    Op {
        path: "/v1/staff/learners",
        method: "get",
        summary: "the learners in the staff member's scope, by login name, at most 500 after `after`",
        bearer: true,
        request: None,
        ok: ("200", "the learners", Body::Json("StaffLearners")),
        errors: &["401", "503"],
        params: &["?after"],
    },
    Op {
        path: "/v1/staff/learners/{user}",
        method: "get",
        summary: "one learner in scope with the platform's credit (404 outside the scope)",
        bearer: true,
        request: None,
        ok: ("200", "the learner", Body::Json("StaffLearnerDetail")),
        errors: &["401", "404", "503"],
        params: &["user"],
    },
    Op {
        path: "/v1/staff/live",
        method: "get",
        summary: "who is studying now in scope: learners with an online lease, their device, open course and last contact, at most 1,000 after `after`",
        bearer: true,
        request: None,
        ok: ("200", "who is online", Body::Json("StaffLive")),
        errors: &["401", "503"],
        params: &["?after"],
    },
    Op {
        path: "/v1/staff/audit",
        method: "get",
        summary: "the audit trail in scope, newest first, at most 500 before `before_ms` (operator and auditors)",
        bearer: true,
        request: None,
        ok: ("200", "the entries", Body::Json("AuditResponse")),
        errors: &["400", "401", "403", "503"],
        params: &["?before_ms"],
    },
    Op {
        path: "/v1/ledger/checkpoint",
        method: "get",
        summary: "the newest checkpoint the platform signed of its log of accepted records (issue 13): size, root, time, key, signature; 404 before the first",
        bearer: false,
        request: None,
        ok: ("200", "the checkpoint", Body::Json("Checkpoint")),
        errors: &["404", "503"],
        params: &[],
    },
    Op {
        path: "/v1/ledger/consistency",
        method: "get",
        summary: "RFC 9162 consistency proof that the log's tree of `second` leaves extends the tree of `first` leaves",
        bearer: false,
        request: None,
        ok: ("200", "the proof", Body::Json("ConsistencyProof")),
        errors: &["400", "503"],
        params: &["?first", "?second"],
    },
    Op {
        path: "/v1/ledger/inclusion",
        method: "get",
        summary: "RFC 9162 audit path of record (`device`, `seq`) in the tree of `size` leaves (default: the newest checkpoint's); 404 when not in it",
        bearer: false,
        request: None,
        ok: ("200", "the proof", Body::Json("InclusionProof")),
        errors: &["400", "404", "503"],
        params: &["?device", "?seq", "?size"],
    },
    Op {
        path: "/v1/staff/attendance",
        method: "get",
        summary: "attendance of a course in scope (issue 13, R-AS-5): `{course, results:[{user, real_name, class, institution, course, level, credited_seconds, class_hours_completed, class_hours_planned, attendance, at_risk, score, qualified, not_counted, confirmed_flags}]}` (docs/supervision.md)",
        bearer: true,
        request: None,
        ok: ("200", "the results", Body::Json("")),
        errors: &["400", "401", "404", "503"],
        params: &["?course"],
    },
    Op {
        path: "/v1/staff/flags",
        method: "get",
        summary: "course-farming findings in scope, newest first (issue 13, R-SV-3): `{findings:[{id, rule, rules_version, severity, learner, course, observed, limit, clause, evidence:[{device, seq_from, seq_to, hashes}], affected_ms, status, reviewer, reason, created_ms, detail?:{kind, …figures}}]}` (`observed` and `limit` in English; `detail` holds their figures for wording them in the reader's language)",
        bearer: true,
        request: None,
        ok: ("200", "the findings", Body::Json("")),
        errors: &["401", "503"],
        params: &["?learner"],
    },
    Op {
        path: "/v1/staff/flags/{id}/review",
        method: "post",
        summary: "confirm or dismiss a finding `{decision: confirm|dismiss, reason}` (operator and labour authorities; audited `finding.confirm` / `finding.dismiss`); 409 `already_reviewed`",
        bearer: true,
        request: Some(""),
        ok: ("200", "the finding as reviewed", Body::Json("")),
        errors: &["400", "401", "403", "404", "409", "503"],
        params: &["id"],
    },
    Op {
        path: "/v1/staff/certificates/{user}/{course}",
        method: "get",
        summary: "the certificate PDF of a qualified learner in scope (issue 13, R-AS-6; not auditors); 409 `not_qualified` saying what is missing",
        bearer: true,
        request: None,
        ok: ("200", "the sealed PDF", Body::Binary),
        errors: &["401", "403", "404", "409", "503"],
        params: &["user", "course"],
    },
    Op {
        path: "/v1/staff/certificates",
        method: "get",
        summary: "every qualified learner's certificate of `?course=` in scope as one ZIP (issue 13, R-AS-6; not auditors); withdrawn certificates left out; `X-Certificates` says how many",
        bearer: true,
        request: None,
        ok: ("200", "the ZIP", Body::Binary),
        errors: &["400", "401", "403", "404", "503"],
        params: &["?course", "?simulated"],
    },
    Op {
        path: "/v1/staff/settlement",
        method: "get",
        summary: "the quarter's subsidy settlement in scope (issue 13, R-QA-3; operator, authorities, auditors), citing the checkpoint it was computed from",
        bearer: true,
        request: None,
        ok: ("200", "the settlement", Body::Json("")),
        errors: &["400", "401", "403", "503"],
        params: &["?quarter"],
    },
    Op {
        path: "/v1/staff/plans",
        method: "get",
        summary: "the training plans filed in scope (issue 13, R-SV-8): online and total class hours, the share and the profile's cap with its clause",
        bearer: true,
        request: None,
        ok: ("200", "the plans", Body::Json("")),
        errors: &["401", "503"],
        params: &[],
    },
    Op {
        path: "/v1/staff/plans",
        method: "post",
        summary: "file a course's training plan `{course, total_class_hours}` (operator, institutions, enterprises; audited `plan.file`); 422 `online_share_exceeded` when the course's online class hours are above the profile's share of the total (R-SV-8), citing the clause",
        bearer: true,
        request: Some(""),
        ok: ("200", "the plan as filed", Body::Json("")),
        errors: &["400", "401", "403", "404", "422", "503"],
        params: &[],
    },
    Op {
        path: "/v1/staff/spot-checks",
        method: "get",
        summary: "the spot checks whose scope lies within the caller's (issue 13, R-SV-6), newest first, with how many were checked and found abnormal",
        bearer: true,
        request: None,
        ok: ("200", "the checks", Body::Json("")),
        errors: &["401", "503"],
        params: &[],
    },
    Op {
        path: "/v1/staff/spot-checks",
        method: "post",
        summary: "draw a spot check `{scope, date, size}` (operator and labour authorities; a scope within theirs): the sample from the newest checkpoint's root, the date and the scope, recomputable by anyone; drawing again the same day answers the same check",
        bearer: true,
        request: Some(""),
        ok: ("200", "the check", Body::Json("")),
        errors: &["400", "401", "403", "503"],
        params: &[],
    },
    Op {
        path: "/v1/staff/spot-checks/{id}",
        method: "get",
        summary: "one spot check: seed, checkpoint, sample, the checks made, the classes' attendance and the classes no longer eligible",
        bearer: true,
        request: None,
        ok: ("200", "the check", Body::Json("")),
        errors: &["401", "404", "503"],
        params: &["id"],
    },
    Op {
        path: "/v1/staff/spot-checks/{id}/results",
        method: "post",
        summary: "record the check made on a sampled learner `{learner, method: video|phone|data, result: normal|abnormal, note}` (operator and labour authorities; audited `spot_check.record`); abnormal (with a note) removes the learner's subsidy",
        bearer: true,
        request: Some(""),
        ok: ("200", "the check", Body::Json("")),
        errors: &["400", "401", "403", "404", "503"],
        params: &["id"],
    },
    Op {
        path: "/v1/verify",
        method: "post",
        summary: "the public certificate check (issue 13, R-AS-6; no sign-in, the page is `/verify`): the body is a certificate PDF or its QR text; `{valid, code, message, statement, standing: issued|withdrawn|simulated|purged|unknown}`",
        bearer: false,
        request: Some(""),
        ok: ("200", "the verdict", Body::Json("")),
        errors: &["413", "503"],
        params: &[],
    },
    Op {
        path: "/v1/staff/district-report",
        method: "get",
        summary: "the bi-weekly district report (issue 13, R-SV-7; operator, authorities, auditors): per district in scope, registered learners and online training person-times (unfinished included) by the date and in the period since the previous report date, citing a checkpoint",
        bearer: true,
        request: None,
        ok: ("200", "the report", Body::Json("")),
        errors: &["400", "401", "403", "503"],
        params: &["?date"],
    },
    Op {
        path: "/v1/staff/exports/{table}",
        method: "get",
        summary: "export `learners`, `hours`, `attendance`, `flags` or `settlement` in scope as CSV or XLSX (issue 13, R-AS-6, R-SV-2), streamed; ID numbers masked; audited `export.<table>` (the settlement: operator, authorities, auditors)",
        bearer: true,
        request: None,
        ok: ("200", "the file (text/csv or the XLSX media type)", Body::Binary),
        errors: &["400", "401", "403", "404", "503"],
        params: &["table", "?format", "?course", "?quarter"],
    },
    Op {
        path: "/v1/courses",
        method: "get",
        summary: "the courses the learner is enrolled in (issue 12), each with the SHA-256 of the manifest it downloads and the size of its media",
        bearer: true,
        request: None,
        ok: ("200", "the courses", Body::Json("CoursesResponse")),
        errors: &["401", "403", "503"],
        params: &[],
    },
    Op {
        path: "/v1/courses/{id}/manifest",
        method: "get",
        summary: "the newest version's manifest without answer keys (404 unless enrolled)",
        bearer: true,
        request: None,
        ok: ("200", "the manifest (`keshi-course/1`)", Body::Json("")),
        errors: &["401", "403", "404", "503"],
        params: &["id"],
    },
    Op {
        path: "/v1/courses/{id}/media/{sha256}",
        method: "get",
        summary: "a lesson's media by SHA-256 (404 unless enrolled and the course's own); honours `Range: bytes=N-` (206) so a cut download resumes",
        bearer: true,
        request: None,
        ok: ("200", "the bytes (206 for a range)", Body::Binary),
        errors: &["401", "403", "404", "416", "503"],
        params: &["id", "sha256"],
    },
    Op {
        path: "/v1/staff/courses",
        method: "get",
        summary: "the courses in the staff member's scope (newest version each, with enrolment counts)",
        bearer: true,
        request: None,
        ok: ("200", "the courses", Body::Json("StaffCourses")),
        errors: &["401", "503"],
        params: &[],
    },
    Op {
        path: "/v1/staff/courses",
        method: "post",
        summary: "publish a course version (institutions and enterprises for themselves, the operator naming one): every lesson's media uploaded first; same manifest, same version; a course id belongs to its first publisher",
        bearer: true,
        request: Some("PublishRequest"),
        ok: ("200", "the version", Body::Json("PublishResponse")),
        errors: &["400", "401", "403", "404", "422", "503"],
        params: &[],
    },
    Op {
        path: "/v1/staff/media/{sha256}",
        method: "get",
        summary: "how much of a media upload the platform holds (resume from `received`)",
        bearer: true,
        request: None,
        ok: ("200", "the upload's state", Body::Json("UploadState")),
        errors: &["400", "401", "403", "503"],
        params: &["sha256"],
    },
    Op {
        path: "/v1/staff/media/{sha256}",
        method: "put",
        summary: "one chunk of a media upload at `offset` of `total` bytes (409 `upload_offset` when `offset` is not what is held); the last chunk is hashed, and a file whose bytes are not its name is dropped (422 `media_hash_mismatch`)",
        bearer: true,
        request: None,
        ok: ("200", "the upload's state", Body::Json("UploadState")),
        errors: &["400", "401", "403", "409", "413", "422", "503"],
        params: &["sha256", "?offset", "?total"],
    },
    Op {
        path: "/v1/staff/enrolments",
        method: "post",
        summary: "enrol learners (login names) or a class of the course's institution; unknown names enrol nobody",
        bearer: true,
        request: Some("EnrolRequest"),
        ok: ("200", "what was done", Body::Json("EnrolResponse")),
        errors: &["400", "401", "403", "404", "503"],
        params: &[],
    },
    Op {
        path: "/v1/staff/session",
        method: "get",
        summary: "who is signed in: user, role, scope, institution and the session's anti-CSRF token (the console reads it after a reload)",
        bearer: true,
        request: None,
        ok: ("200", "the session", Body::Json("StaffSession")),
        errors: &["401", "503"],
        params: &[],
    },
    Op {
        path: "/v1/staff/learners/{user}/timeline",
        method: "get",
        summary: "a learner's newest records (at most 500 received before `before_ms`) with the platform's findings, grades and capture photos (404 outside the scope)",
        bearer: true,
        request: None,
        ok: ("200", "the timeline", Body::Json("StaffTimeline")),
        errors: &["400", "401", "404", "503"],
        params: &["user", "?before_ms"],
    },
    Op {
        path: "/v1/staff/learners/{user}/photo",
        method: "get",
        summary: "the learner's enrolment face photo (404 outside the scope or when none is held)",
        bearer: true,
        request: None,
        ok: ("200", "the image", Body::Image),
        errors: &["401", "404", "503"],
        params: &["user"],
    },
    Op {
        path: "/v1/staff/captures/{sha256}",
        method: "get",
        summary: "a capture photo of a learner in scope (404 otherwise)",
        bearer: true,
        request: None,
        ok: ("200", "the image", Body::Image),
        errors: &["401", "404", "503"],
        params: &["sha256"],
    },
    Op {
        path: "/v1/staff/learners/import",
        method: "post",
        summary: "learners in bulk from an uploaded CSV or XLSX file (`format`), the same checks as `admin import-learners`: `dry_run=1` only checks; otherwise all or nothing, or the good rows with `partial=1`; the operator names `institution` → `{imported, rejected:[{row, code, message}], good}`",
        bearer: true,
        request: None,
        ok: ("200", "the report", Body::Json("")),
        errors: &["400", "401", "403", "404", "413", "422", "503"],
        params: &["?format", "?partial", "?dry_run", "?institution"],
    },
    Op {
        path: "/v1/staff/institutions",
        method: "get",
        summary: "the institutions in scope `{institutions:[{id, name, region}]}`",
        bearer: true,
        request: None,
        ok: ("200", "the institutions", Body::Json("")),
        errors: &["401", "503"],
        params: &[],
    },
    Op {
        path: "/v1/staff/institutions",
        method: "post",
        summary: "the operator creates an institution `{name, region}` (audited `institution.create`; 409 when the name exists)",
        bearer: true,
        request: Some(""),
        ok: ("200", "`{institution_id, name, region}`", Body::Json("")),
        errors: &["400", "401", "403", "409", "503"],
        params: &[],
    },
    Op {
        path: "/v1/staff/accounts",
        method: "post",
        summary: "the operator creates a staff account `{user, role, scope, password}` as `admin create-staff` does (audited `staff.create`)",
        bearer: true,
        request: Some(""),
        ok: ("200", "`{staff_id, user, role}`", Body::Json("")),
        errors: &["400", "401", "403", "422", "503"],
        params: &[],
    },
    Op {
        path: "/v1/staff/learners/{user}/photo",
        method: "put",
        summary: "a learner's enrolment face photo (`kind=face`) or ID-card photo (`kind=idcard`), one by one (JPEG or PNG, at most 2 MiB; institutions and enterprises for their learners, the operator for any; audited `learner.photo`)",
        bearer: true,
        request: None,
        ok: ("200", "`{user, kind, sha256}`", Body::Json("")),
        errors: &["400", "401", "403", "404", "413", "415", "503"],
        params: &["user", "?kind"],
    },
    Op {
        path: "/v1/password/first",
        method: "post",
        summary: "a learner imported without a password sets one, proving who they are with the ID number and phone on record (throttled like a sign-in; audited `learner.password_set`); then signs in as usual",
        bearer: false,
        request: Some("FirstPasswordRequest"),
        ok: ("204", "the password is set", Body::Empty),
        errors: &["400", "401", "429", "503"],
        params: &[],
    },
];

fn json_body(schema: &str) -> Value {
    let schema = if schema.is_empty() {
        json!({"type": "object"})
    } else {
        json!({"$ref": format!("#/components/schemas/{schema}")})
    };
    json!({"application/json": {"schema": schema}})
}

fn operation(op: &Op) -> Value {
    let mut o = Map::new();
    o.insert("summary".into(), json!(op.summary));
    if op.bearer {
        o.insert("security".into(), json!([{"bearer": []}]));
    }
    if !op.params.is_empty() {
        let params: Vec<Value> = op
            .params
            .iter()
            .map(|p| match p.strip_prefix('?') {
                // `?name`: an optional query parameter, an integer when it names a
                // seq or a time (`…_seq`, `…_ms`), else a string.
                Some(q) if q.ends_with("_seq") || q.ends_with("_ms") => json!({"name": q, "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0}}),
                Some(q) => json!({"name": q, "in": "query", "required": false, "schema": {"type": "string"}}),
                None => json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}),
            })
            .collect();
        o.insert("parameters".into(), json!(params));
    }
    if let Some(req) = op.request {
        o.insert(
            "requestBody".into(),
            json!({"required": true, "content": json_body(req)}),
        );
    } else if op.path.ends_with("/import") || (op.method == "put" && op.path.contains("/media/")) {
        o.insert(
            "requestBody".into(),
            json!({"required": true, "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}),
        );
    } else if op.method == "put" {
        o.insert(
            "requestBody".into(),
            json!({"required": true, "content": {
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}}}}),
        );
    }
    let mut responses = Map::new();
    let (status, description, body) = op.ok;
    let content = match body {
        Body::Json(s) => Some(json_body(s)),
        Body::Text => Some(json!({"text/plain": {"schema": {"type": "string"}}})),
        Body::Image => Some(json!({
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            "image/png": {"schema": {"type": "string", "format": "binary"}}})),
        Body::Binary => Some(json!({
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}})),
        Body::Empty => None,
    };
    let mut ok = Map::new();
    ok.insert("description".into(), json!(description));
    if let Some(c) = content {
        ok.insert("content".into(), c);
    }
    responses.insert(status.into(), Value::Object(ok));
    for e in op.errors {
        responses.insert(
            (*e).into(),
            json!({"description": "error; see `code`", "content": json_body("Error")}),
        );
    }
    o.insert("responses".into(), Value::Object(responses));
    Value::Object(o)
}

/// The document.
pub fn document() -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    // Each named type lands in the definitions, under its name (ApiError as
    // `Error`), with the types it refers to (ApiCode…).
    generator.subschema_for::<ApiError>();
    generator.subschema_for::<WireRecord>();
    generator.subschema_for::<PushRequest>();
    generator.subschema_for::<PushResponse>();
    generator.subschema_for::<LoginRequest>();
    generator.subschema_for::<OfflineLease>();
    generator.subschema_for::<LoginResponse>();
    generator.subschema_for::<HeartbeatResponse>();
    generator.subschema_for::<DeviceHead>();
    generator.subschema_for::<GradesResponse>();
    generator.subschema_for::<SnapshotsRequest>();
    generator.subschema_for::<SnapshotsResponse>();
    generator.subschema_for::<keshi_protocol::staff::StaffLoginRequest>();
    generator.subschema_for::<keshi_protocol::staff::StaffLoginResponse>();
    generator.subschema_for::<keshi_protocol::staff::StaffLearners>();
    generator.subschema_for::<keshi_protocol::staff::StaffLearnerDetail>();
    generator.subschema_for::<keshi_protocol::staff::AuditResponse>();
    generator.subschema_for::<keshi_protocol::staff::StaffLive>();
    generator.subschema_for::<keshi_protocol::wire::CoursesResponse>();
    generator.subschema_for::<keshi_protocol::staff::StaffCourses>();
    generator.subschema_for::<keshi_protocol::staff::PublishRequest>();
    generator.subschema_for::<keshi_protocol::staff::PublishResponse>();
    generator.subschema_for::<keshi_protocol::staff::UploadState>();
    generator.subschema_for::<keshi_protocol::staff::EnrolRequest>();
    generator.subschema_for::<keshi_protocol::staff::EnrolResponse>();
    generator.subschema_for::<keshi_protocol::staff::StaffSession>();
    generator.subschema_for::<keshi_protocol::wire::FirstPasswordRequest>();
    generator.subschema_for::<keshi_protocol::staff::StaffTimeline>();
    generator.subschema_for::<keshi_protocol::merkle::Checkpoint>();
    generator.subschema_for::<crate::ledger::ConsistencyProof>();
    generator.subschema_for::<crate::ledger::InclusionProof>();
    let schemas: Map<String, Value> = generator.take_definitions(true);
    let mut paths = Map::new();
    for op in OPS {
        let entry = paths
            .entry(op.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(op.method.into(), operation(op));
        }
    }
    let codes: Vec<&str> = ApiCode::ALL.iter().map(|c| c.as_str()).collect();
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Keshi reference platform",
            "version": "1.0.0",
            "description": format!(
                "Enrolment, single-login leases (R-ID-3), verified ingest of signed study records (R-ST-6), capture images (R-ST-3). Generated from the wire types (keshi_protocol::wire). Every error body is {{code, message, seq?, acknowledged?, retryable}}; codes: {}. See docs/platform-api.md.",
                codes.join(", ")
            ),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "paths": paths,
    })
}

/// The document as pretty JSON with a final newline (the committed form).
pub fn document_text() -> String {
    let mut s = serde_json::to_string_pretty(&document()).unwrap_or_default();
    s.push('\n');
    s
}
