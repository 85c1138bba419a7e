//! The institution console (issue 12): a web page served by the platform at
//! `/console` for the people who run training, on the same staff API scripts use,
//! and the staff endpoints it needs beyond the learner list: the session, a
//! learner's timeline re-derived from the signed records, capture and enrolment
//! photos — each within the staff member's scope, in SQL.
//!
//! The page is three static files compiled into the binary (`platform/console/`):
//! no framework and no build step, Simplified Chinese first with English, usable
//! from 360 px up. It is never the learner app and never runs in its web view. It is
//! served with a strict Content-Security-Policy (scripts and styles from the
//! platform only, no inline code, no framing).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use keshi_protocol::codes::ApiCode;
use keshi_protocol::fact::Fact;
use keshi_protocol::staff::{StaffSession, StaffTimeline, TimelineEntry, TimelineGrade};
use sqlx::Row;

use crate::api::{AppState, Failure};
use crate::courses::internal;
use crate::staff::{before_ms, photo_blob, query_value, staff, Scope};
use crate::store::{Store, StoreError};

const INDEX: &str = include_str!("../console/index.html");
const APP_JS: &str = include_str!("../console/app.js");
const DOM_JS: &str = include_str!("../console/dom.js");
const MERKLE_JS: &str = include_str!("../console/merkle.js");
const STYLE: &str = include_str!("../console/style.css");
const ZH: &str = include_str!("../console/i18n/zh-CN.json");
const EN: &str = include_str!("../console/i18n/en.json");

/// The console's Content-Security-Policy.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; \
                   connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Records per timeline page.
pub const TIMELINE_PAGE: u32 = 500;

/// The console's routes and the staff endpoints it adds.
pub fn routes() -> Router<AppState> {
    let mut r = Router::new();
    for (path, body, content_type) in [
        ("/console", INDEX, "text/html; charset=utf-8"),
        ("/console/", INDEX, "text/html; charset=utf-8"),
        ("/console/app.js", APP_JS, "text/javascript; charset=utf-8"),
        ("/console/dom.js", DOM_JS, "text/javascript; charset=utf-8"),
        (
            "/console/merkle.js",
            MERKLE_JS,
            "text/javascript; charset=utf-8",
        ),
        ("/console/style.css", STYLE, "text/css; charset=utf-8"),
        ("/console/i18n/zh-CN.json", ZH, "application/json"),
        ("/console/i18n/en.json", EN, "application/json"),
    ] {
        r = r.route(path, get(move || async move { page(body, content_type) }));
    }
    r.route("/v1/staff/session", get(session))
        .route("/v1/staff/learners/{user}/timeline", get(timeline))
        .route(
            "/v1/staff/learners/{user}/photo",
            get(enrolment_photo).put(put_enrolment_photo),
        )
        .route("/v1/staff/captures/{sha256}", get(capture))
        .route(
            "/v1/staff/learners/import",
            axum::routing::post(import_learners),
        )
        .route(
            "/v1/staff/institutions",
            get(institutions).post(create_institution),
        )
        .route("/v1/staff/accounts", axum::routing::post(create_account))
}

/// A static file of the console (or the public verify page) with its headers.
pub(crate) fn page(body: &'static str, content_type: &'static str) -> Response {
    let mut r = Response::new(axum::body::Body::from(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn not_found(what: &str) -> Failure {
    Failure::new(StatusCode::NOT_FOUND, ApiCode::NotFound, what.to_owned())
}

async fn session(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
) -> Result<Json<StaffSession>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    let institution = match &s.scope {
        Scope::Institution(id) => state.store.institution_name(id).await?,
        _ => None,
    };
    Ok(Json(StaffSession {
        user: s.username,
        role: s.role,
        scope: s.scope_value,
        institution,
        csrf: s.csrf,
    }))
}

impl Store {
    /// A learner's newest records received before `before_ms` (at most `limit`),
    /// newest first: `(device, seq, kind, wall_ms, payload, received_ms)`.
    async fn timeline_records(
        &self,
        learner_id: &str,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<(String, u64, String, i64, String, i64)>, StoreError> {
        let sql = format!(
            "SELECT device_id, seq, kind, wall_ms, payload, received_ms FROM records \
             WHERE learner_id = $1 AND received_ms < $2 ORDER BY received_ms DESC, device_id, seq DESC LIMIT {limit}"
        );
        sqlx::query(&sql)
            .bind(learner_id)
            .bind(before_ms)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    u64::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0),
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                    r.try_get(5)?,
                ))
            })
            .collect()
    }

    /// The flags on a learner's records: `(device, seq) → kinds`.
    async fn flag_kinds(
        &self,
        learner_id: &str,
    ) -> Result<std::collections::HashMap<(String, u64), Vec<String>>, StoreError> {
        let mut out: std::collections::HashMap<(String, u64), Vec<String>> =
            std::collections::HashMap::new();
        for r in sqlx::query("SELECT device_id, seq, kind FROM flags WHERE learner_id = $1")
            .bind(learner_id)
            .fetch_all(&self.pool)
            .await?
        {
            let seq = u64::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0);
            out.entry((r.try_get(0)?, seq))
                .or_default()
                .push(r.try_get(2)?);
        }
        Ok(out)
    }

    /// A learner's grades, newest first (at most 200).
    async fn timeline_grades(&self, learner_id: &str) -> Result<Vec<TimelineGrade>, StoreError> {
        let n = |r: &sqlx::any::AnyRow, i: usize| -> Result<u32, StoreError> {
            Ok(u32::try_from(r.try_get::<i64, _>(i)?).unwrap_or(0))
        };
        sqlx::query(
            "SELECT course, class_hour, attempt, correct, total, passed, graded_ms FROM quiz_grades \
             WHERE learner_id = $1 ORDER BY graded_ms DESC LIMIT 200",
        )
        .bind(learner_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(TimelineGrade {
                course: r.try_get(0)?,
                class_hour: n(r, 1)?,
                attempt: n(r, 2)?,
                correct: n(r, 3)?,
                total: n(r, 4)?,
                passed: r.try_get::<i64, _>(5)? != 0,
                graded_ms: r.try_get(6)?,
            })
        })
        .collect()
    }

    /// A learner's capture photos, newest first (at most 200): `(sha256, stored_ms)`.
    async fn learner_photos(&self, learner_id: &str) -> Result<Vec<(String, i64)>, StoreError> {
        sqlx::query(
            "SELECT sha256, stored_ms FROM captures WHERE learner_id = $1 ORDER BY stored_ms DESC LIMIT 200",
        )
        .bind(learner_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
    }

    /// A learner's enrolment photo reference, if in `scope`.
    async fn face_photo_in_scope(
        &self,
        scope: &Scope,
        user: &str,
    ) -> Result<Option<Option<String>>, StoreError> {
        let (cond, values) = scope.condition(2);
        let sql = format!(
            "SELECT l.face_photo_ref FROM learners l JOIN institutions i ON i.id = l.institution_id \
             WHERE l.username = $1 AND {cond}"
        );
        let mut q = sqlx::query(&sql).bind(user);
        for v in &values {
            q = q.bind(v);
        }
        q.fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(StoreError::from)
    }

    /// The content type of a capture photo whose learner is in `scope`.
    async fn capture_in_scope(
        &self,
        scope: &Scope,
        sha256: &str,
    ) -> Result<Option<String>, StoreError> {
        let (cond, values) = scope.condition(2);
        let sql = format!(
            "SELECT c.content_type FROM captures c JOIN learners l ON l.id = c.learner_id \
             JOIN institutions i ON i.id = l.institution_id WHERE c.sha256 = $1 AND {cond}"
        );
        let mut q = sqlx::query(&sql).bind(sha256);
        for v in &values {
            q = q.bind(v);
        }
        q.fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(StoreError::from)
    }
}

async fn timeline(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<StaffTimeline>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    let before = before_ms(query.as_deref())?;
    let (id, learner) = state
        .store
        .learner_in_scope(&s.scope, &user)
        .await?
        .ok_or_else(|| not_found("no such learner in your scope"))?;
    let flags = state.store.flag_kinds(&id).await?;
    let entries = state
        .store
        .timeline_records(&id, before, TIMELINE_PAGE)
        .await?
        .into_iter()
        .map(|(device_id, seq, kind, wall_ms, payload, received_ms)| {
            let fact = Fact::decode(&kind, payload.as_bytes()).payload();
            let flags = flags
                .get(&(device_id.clone(), seq))
                .cloned()
                .unwrap_or_default();
            TimelineEntry {
                device_id,
                seq,
                kind,
                wall_ms,
                received_ms,
                fact,
                flags,
            }
        })
        .collect();
    let face = state.store.face_photo_in_scope(&s.scope, &user).await?;
    let photos = state.store.learner_photos(&id).await?;
    let shas: Vec<String> = photos.iter().map(|(sha, _)| sha.clone()).collect();
    Ok(Json(StaffTimeline {
        learner,
        entries,
        grades: state.store.timeline_grades(&id).await?,
        photo_checks: crate::faces::checks_of(&state.store, &shas).await?,
        photos,
        enrolment_photo: face
            .flatten()
            .as_deref()
            .and_then(|r| photo_blob(Some(r)))
            .is_some_and(|sha| state.blobs.size(sha).is_some()),
    }))
}

/// A photo answer. `no-store`: a photo is personal data, and a browser's cache is
/// not scoped to the staff member who signed in (the next one on the same computer
/// would be shown it).
fn image(bytes: Vec<u8>, content_type: &str) -> Response {
    let ct = if content_type == "image/png" {
        "image/png"
    } else {
        "image/jpeg"
    };
    let mut r = (StatusCode::OK, Bytes::from(bytes)).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn read_blob(state: &AppState, sha: &str) -> Result<Vec<u8>, Failure> {
    state
        .blobs
        .get(sha)
        .map_err(|e| internal("reading the photo", e))?
        .ok_or_else(|| not_found("the photo has not arrived"))
}

async fn capture(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    Path(sha256): Path<String>,
) -> Result<Response, Failure> {
    let s = staff(&state, &headers, &method).await?;
    let ct = state
        .store
        .capture_in_scope(&s.scope, &sha256)
        .await?
        .ok_or_else(|| not_found("no such photo in your scope"))?;
    Ok(image(read_blob(&state, &sha256)?, &ct))
}

async fn enrolment_photo(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    Path(user): Path<String>,
) -> Result<Response, Failure> {
    let s = staff(&state, &headers, &method).await?;
    let face = state
        .store
        .face_photo_in_scope(&s.scope, &user)
        .await?
        .ok_or_else(|| not_found("no such learner in your scope"))?;
    let sha = photo_blob(face.as_deref())
        .ok_or_else(|| not_found("no enrolment photo is held for this learner"))?
        .to_owned();
    let bytes = read_blob(&state, &sha)?;
    let ct = if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else {
        "image/jpeg"
    };
    Ok(image(bytes, ct))
}

/// `POST /v1/staff/learners/import?format=csv|xlsx&partial=0|1&dry_run=0|1[&institution=NAME]`:
/// the same checks and transaction as `admin import-learners` on an uploaded file
/// (at most the platform's body limit; larger files go through the command line).
/// `dry_run=1` only checks, so the console can show every bad row and offer
/// "import the good rows" before anything is committed.
async fn import_learners(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    RawQuery(query): RawQuery,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<serde_json::Value>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    let q = query.as_deref();
    let flag = |name: &str| query_value(q, name).is_some_and(|v| v == "1" || v == "true");
    let institution =
        crate::courses::publisher(&state, &s, query_value(q, "institution").as_deref()).await?;
    let bytes = body.map_err(|e| {
        Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ApiCode::BodyTooLarge,
            format!("{e}: import larger files with `keshi-platform admin import-learners`"),
        )
    })?;
    let xlsx = query_value(q, "format").is_some_and(|f| f == "xlsx");
    let taken = state.store.learner_names().await?;
    let taken_ids = state.store.learner_id_indexes().await?;
    let key = state.store.data_key.clone();
    let mut checked = tokio::task::spawn_blocking(move || {
        let lookups = crate::import::Taken {
            user: &|u| taken.contains(u),
            id_number: &|id| taken_ids.contains(&key.blind_index(id)),
        };
        if xlsx {
            crate::import::check_xlsx_bytes(&bytes, lookups).map_err(|e| e.to_string())
        } else {
            Ok(crate::import::check_csv(bytes.as_ref(), lookups))
        }
    })
    .await
    .map_err(|e| internal("checking the file", e))?
    .map_err(|e| Failure::new(StatusCode::UNPROCESSABLE_ENTITY, ApiCode::MalformedBody, e))?;
    let good = checked.rows.len();
    let commit = !flag("dry_run") && (checked.rejected.is_empty() || flag("partial"));
    let imported = if commit {
        let rows = std::mem::take(&mut checked.rows);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let ready =
            tokio::task::spawn_blocking(move || crate::import::hash_passwords(rows, threads))
                .await
                .map_err(|e| internal("hashing passwords", e))?
                .map_err(|e| internal("hashing passwords", e))?;
        let now = (state.clock)();
        state
            .store
            .import_learners(
                &format!("staff:{}", s.username),
                &institution,
                &ready,
                &std::collections::HashMap::new(),
                now,
            )
            .await?
    } else {
        0
    };
    Ok(Json(serde_json::json!({
        "imported": imported, "rejected": checked.rejected, "good": good,
    })))
}

fn operator_only(s: &crate::staff::Staff) -> Result<(), Failure> {
    if s.role == keshi_protocol::staff::StaffRole::Operator {
        Ok(())
    } else {
        Err(Failure::new(
            StatusCode::FORBIDDEN,
            ApiCode::Forbidden,
            "only the platform operator creates institutions and staff accounts",
        ))
    }
}

impl Store {
    /// The institutions in `scope`: `(id, name, region)` by name.
    pub async fn institutions_in_scope(
        &self,
        scope: &Scope,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        let (cond, values) = scope.condition(1);
        let sql = format!(
            "SELECT i.id, i.name, i.region FROM institutions i WHERE {cond} ORDER BY i.name"
        );
        let mut q = sqlx::query(&sql);
        for v in &values {
            q = q.bind(v);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }
}

/// `GET /v1/staff/institutions`: the institutions in scope.
async fn institutions(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
) -> Result<Json<serde_json::Value>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    let list: Vec<serde_json::Value> = state
        .store
        .institutions_in_scope(&s.scope)
        .await?
        .into_iter()
        .map(|(id, name, region)| serde_json::json!({"id": id, "name": name, "region": region}))
        .collect();
    Ok(Json(serde_json::json!({ "institutions": list })))
}

/// `POST /v1/staff/institutions {name, region}` (operator): creates an institution
/// in a region, audited as `admin create-institution` is.
async fn create_institution(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<serde_json::Value>, Failure> {
    #[derive(serde::Deserialize)]
    struct Req {
        name: String,
        #[serde(default)]
        region: String,
    }
    let s = staff(&state, &headers, &method).await?;
    operator_only(&s)?;
    let req: Req = crate::api::body_json(body)?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            ApiCode::MalformedBody,
            "an institution's name has 1 to 100 characters",
        ));
    }
    if state.store.institution(name).await?.is_some() {
        return Err(Failure::new(
            StatusCode::CONFLICT,
            ApiCode::MalformedBody,
            format!("an institution named {name:?} exists"),
        ));
    }
    let now = (state.clock)();
    let id = state.store.create_institution(name, now).await?;
    let region = crate::staff::normalize_region(&req.region);
    state.store.set_institution_region(&id, &region).await?;
    let after = serde_json::json!({"name": name, "region": region});
    state
        .store
        .audit(
            &crate::staff::AuditRow {
                actor: &format!("staff:{}", s.username),
                action: "institution.create",
                target: &format!("institution:{name}"),
                institution_id: Some(&id),
                region: None,
                before: None,
                after: Some(&after),
            },
            now,
        )
        .await?;
    Ok(Json(
        serde_json::json!({"institution_id": id, "name": name, "region": region}),
    ))
}

/// `POST /v1/staff/accounts {user, role, scope, password}` (operator): a staff
/// account, as `admin create-staff` makes one (password at least 8 characters,
/// Argon2id, audited).
async fn create_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<serde_json::Value>, Failure> {
    #[derive(serde::Deserialize)]
    struct Req {
        user: String,
        role: keshi_protocol::staff::StaffRole,
        #[serde(default)]
        scope: String,
        password: String,
    }
    let s = staff(&state, &headers, &method).await?;
    operator_only(&s)?;
    let req: Req = crate::api::body_json(body)?;
    let bad = |m: &str| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            ApiCode::MalformedBody,
            m.to_owned(),
        )
    };
    let user = req.user.trim().to_owned();
    if user.is_empty() || user.len() > crate::api::MAX_LOGIN_NAME_BYTES {
        return Err(bad("a login name has 1 to 128 bytes"));
    }
    if req.password.chars().count() < 8 || req.password.len() > 1024 {
        return Err(bad("a staff password has 8 to 1024 characters"));
    }
    let password = req.password;
    let hash = tokio::task::spawn_blocking(move || crate::auth::hash_password(&password))
        .await
        .map_err(|e| internal("hashing the password", e))?
        .map_err(|e| internal("hashing the password", e))?;
    let now = (state.clock)();
    let id = state
        .store
        .create_staff(
            &format!("staff:{}", s.username),
            &user,
            req.role,
            &req.scope,
            &hash,
            now,
        )
        .await
        .map_err(|e| match e {
            crate::staff::StaffError::Store(e) => Failure::from(e),
            e => Failure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ApiCode::MalformedBody,
                e.to_string(),
            ),
        })?;
    Ok(Json(
        serde_json::json!({"staff_id": id, "user": user, "role": req.role}),
    ))
}

/// Largest enrolment photo accepted.
pub const MAX_ENROLMENT_PHOTO_BYTES: usize = 2 << 20;

/// `PUT /v1/staff/learners/{user}/photo?kind=face|idcard`: a learner's enrolment
/// face photo or ID-card photo, one by one (R-ID-1; a ZIP of many goes through
/// `admin import-learners --photos`). JPEG or PNG, at most 2 MiB; institutions and
/// enterprises for their learners, the operator for any; audited (`learner.photo`,
/// before and after).
async fn put_enrolment_photo(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<serde_json::Value>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    crate::courses::may_publish(&s)?;
    let column = match query_value(query.as_deref(), "kind").as_deref() {
        None | Some("face") => "face_photo_ref",
        Some("idcard") => "idcard_photo_ref",
        Some(_) => {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                ApiCode::MalformedBody,
                "kind is face or idcard",
            ))
        }
    };
    let (learner_id, _) = state
        .store
        .learner_in_scope(&s.scope, &user)
        .await?
        .ok_or_else(|| not_found("no such learner in your scope"))?;
    let bytes = body.map_err(|e| {
        Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ApiCode::CaptureTooLarge,
            e.to_string(),
        )
    })?;
    if bytes.len() > MAX_ENROLMENT_PHOTO_BYTES {
        return Err(Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ApiCode::CaptureTooLarge,
            "an enrolment photo is at most 2 MiB",
        ));
    }
    if crate::photos::sniff(&bytes).is_none() {
        return Err(Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiCode::UnsupportedCaptureType,
            "an enrolment photo is a JPEG or PNG image",
        ));
    }
    let sha = keshi_protocol::ids::Hash::of(&bytes).to_hex();
    let blobs = state.blobs.clone();
    let key = sha.clone();
    tokio::task::spawn_blocking(move || blobs.put(&key, &bytes))
        .await
        .map_err(|e| internal("storing the photo", e))?
        .map_err(|e| internal("storing the photo", e))?;
    let now = (state.clock)();
    let before = state
        .store
        .set_learner_photo(&learner_id, column, &sha)
        .await?;
    if column == "face_photo_ref" && before.as_deref() != Some(sha.as_str()) {
        // A new enrolment photo: the learner's captures are checked again against it
        // (those checked before it, or against the old one, say nothing of this one).
        crate::faces::forget_learner(&state.store, &learner_id).await?;
        state.faces.wake();
    }
    let (before, after) = (
        serde_json::json!({ column: before }),
        serde_json::json!({ column: sha }),
    );
    state
        .store
        .audit(
            &crate::staff::AuditRow {
                actor: &format!("staff:{}", s.username),
                action: "learner.photo",
                target: &format!("learner:{user}"),
                institution_id: state
                    .store
                    .learner_institution(&learner_id)
                    .await?
                    .as_deref(),
                region: None,
                before: Some(&before),
                after: Some(&after),
            },
            now,
        )
        .await?;
    Ok(Json(
        serde_json::json!({"user": user, "kind": column, "sha256": sha}),
    ))
}

impl Store {
    /// Sets a learner's enrolment photo reference (`column` is `face_photo_ref` or
    /// `idcard_photo_ref`); answers the one it replaces.
    async fn set_learner_photo(
        &self,
        learner_id: &str,
        column: &'static str,
        sha: &str,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.begin_write().await?;
        let before: Option<String> =
            sqlx::query(&format!("SELECT {column} FROM learners WHERE id = $1"))
                .bind(learner_id)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
        sqlx::query(&format!("UPDATE learners SET {column} = $1 WHERE id = $2"))
            .bind(sha)
            .bind(learner_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(before)
    }

    /// A learner's institution id.
    async fn learner_institution(&self, learner_id: &str) -> Result<Option<String>, StoreError> {
        sqlx::query("SELECT institution_id FROM learners WHERE id = $1")
            .bind(learner_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(StoreError::from)
    }
}
