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
use crate::staff::{before_ms, photo_blob, staff, Scope};
use crate::store::{Store, StoreError};

const INDEX: &str = include_str!("../console/index.html");
const APP_JS: &str = include_str!("../console/app.js");
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
        ("/console/style.css", STYLE, "text/css; charset=utf-8"),
        ("/console/i18n/zh-CN.json", ZH, "application/json"),
        ("/console/i18n/en.json", EN, "application/json"),
    ] {
        r = r.route(path, get(move || async move { page(body, content_type) }));
    }
    r.route("/v1/staff/session", get(session))
        .route("/v1/staff/learners/{user}/timeline", get(timeline))
        .route("/v1/staff/learners/{user}/photo", get(enrolment_photo))
        .route("/v1/staff/captures/{sha256}", get(capture))
}

fn page(body: &'static str, content_type: &'static str) -> Response {
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
    Ok(Json(StaffTimeline {
        learner,
        entries,
        grades: state.store.timeline_grades(&id).await?,
        photos: state.store.learner_photos(&id).await?,
        enrolment_photo: face
            .flatten()
            .as_deref()
            .and_then(|r| photo_blob(Some(r)))
            .is_some_and(|sha| state.blobs.size(sha).is_some()),
    }))
}

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
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    r
}

fn read_blob(state: &AppState, sha: &str) -> Result<Vec<u8>, Failure> {
    state
        .blobs
        .get(sha)
        .map_err(|e| {
            Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ApiCode::Internal,
                format!("reading the photo: {e}"),
            )
        })?
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
