//! Courses from the platform to the app (issue 12).
//!
//! - **Publishing.** An institution (or the operator for one) publishes a course
//!   version: the manifest with its quiz bank and the policy profile. Every lesson's
//!   media must be in the blob store first, named by its SHA-256 — uploaded in
//!   resumable chunks (`PUT /v1/staff/media/{sha256}?offset=N&total=T`), hashed
//!   when complete and dropped when the bytes are not the name's. Versions are
//!   immutable: each publication adds one, publishing the same manifest again
//!   answers the version held, a course id belongs to the institution that first
//!   published it, and once learners started a course no new version replaces
//!   the one they study (`409`: publish the change under a new id).
//! - **Enrolment.** Staff enrol learners of the course's institution by login name
//!   or by class; an unknown name enrols nobody.
//! - **Download.** A signed-in learner lists the courses they are enrolled in
//!   (`GET /v1/courses`), fetches the manifest without answer keys (its SHA-256 is
//!   in the list) and the media by SHA-256 with HTTP ranges, so a cut download
//!   resumes. Media of a course the learner is not enrolled in does not exist for
//!   them (404), and capture photos are never served here.

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use keshi_protocol::codes::ApiCode;
use keshi_protocol::manifest::{Course, MediaSource};
use keshi_protocol::staff::{
    EnrolRequest, EnrolResponse, PublishRequest, PublishResponse, StaffCourse, StaffCourses,
    StaffRole, UploadState,
};
use keshi_protocol::wire::{CoursesResponse, EnrolledCourse};
use sqlx::Row;

use crate::api::{authenticate, body_json, AppState, Failure, Need};
use crate::blob::BlobStore;
use crate::staff::{append_audit, AuditRow, Scope, Staff};
use crate::store::{Store, StoreError};

/// Why a course cannot be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The manifest is not valid, or not against its profile.
    #[error("{0}")]
    Invalid(String),
    /// A lesson's media is not in the blob store.
    #[error("lesson {lesson}: its media {sha256} has not been uploaded")]
    MediaMissing {
        /// Lesson id.
        lesson: String,
        /// The media's SHA-256.
        sha256: String,
    },
    /// The course id belongs to another institution.
    #[error("course {0:?} belongs to another institution")]
    NotOwner(String),
    /// Learners have started the course: its version is fixed.
    #[error("learners have started course {0:?}: its version is immutable now; publish the change under a new course id")]
    Started(String),
    /// The storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PublishError> for Failure {
    fn from(e: PublishError) -> Failure {
        match e {
            PublishError::Invalid(m) => {
                Failure::new(StatusCode::UNPROCESSABLE_ENTITY, ApiCode::InvalidCourse, m)
            }
            e @ PublishError::MediaMissing { .. } => Failure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ApiCode::MediaMissing,
                e.to_string(),
            ),
            e @ PublishError::Started(_) => {
                Failure::new(StatusCode::CONFLICT, ApiCode::InvalidCourse, e.to_string())
            }
            e @ PublishError::NotOwner(_) => {
                Failure::new(StatusCode::FORBIDDEN, ApiCode::Forbidden, e.to_string())
            }
            PublishError::Store(e) => e.into(),
        }
    }
}

/// Publishes `manifest` for `institution_id` under `profile` (shared by
/// `admin publish-course` and `POST /v1/staff/courses`): checks the manifest, its
/// profile, its answer keys and that every lesson's media is held; appends the
/// audit entry. Answers the version held when the manifest and profile are those of
/// the newest version already.
pub async fn publish(
    store: &Store,
    blobs: &dyn BlobStore,
    institution_id: &str,
    manifest: &str,
    profile: &str,
    actor: &str,
    now: i64,
) -> Result<PublishResponse, PublishError> {
    let course = Course::parse(std::path::Path::new("manifest.json"), manifest)
        .map_err(|e| PublishError::Invalid(e.to_string()))?;
    let policy = keshi_protocol::policy::Policy::by_id(profile)
        .map_err(|e| PublishError::Invalid(e.to_string()))?;
    course
        .check_against(&policy)
        .map_err(|e| PublishError::Invalid(e.to_string()))?;
    if let Some(q) = course.missing_answer() {
        return Err(PublishError::Invalid(format!(
            "question {} has no answer key: the platform grades every quiz (R-AS-1)",
            q.id
        )));
    }
    for l in &course.lessons {
        // A learner's photo is never course media, whoever names its hash.
        let personal = sqlx::query("SELECT 1 FROM captures WHERE sha256 = $1")
            .bind(&l.media.sha256)
            .fetch_optional(&store.pool)
            .await
            .map_err(StoreError::from)?
            .is_some();
        if matches!(l.media.source, MediaSource::Path(_))
            && (personal || blobs.size(&l.media.sha256).is_none())
        {
            return Err(PublishError::MediaMissing {
                lesson: l.id.clone(),
                sha256: l.media.sha256.clone(),
            });
        }
    }
    let mut tx = store.begin_write().await.map_err(StoreError::from)?;
    let newest = sqlx::query(
        "SELECT version, institution_id, profile, manifest FROM courses WHERE id = $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(&course.id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    let mut version = 1;
    if let Some(r) = newest {
        let held: i64 = r.try_get(0).map_err(StoreError::from)?;
        let owner: String = r.try_get(1).map_err(StoreError::from)?;
        if owner != institution_id {
            return Err(PublishError::NotOwner(course.id));
        }
        let same_profile = r.try_get::<String, _>(2).map_err(StoreError::from)? == profile;
        if same_profile && r.try_get::<String, _>(3).map_err(StoreError::from)? == manifest {
            return Ok(PublishResponse {
                course_id: course.id,
                version: u32::try_from(held).unwrap_or(u32::MAX),
            });
        }
        // Once learners started, the version they study is the course: a change
        // goes under a new course id, never under their feet.
        let started = sqlx::query("SELECT 1 FROM learner_progress WHERE course = $1 LIMIT 1")
            .bind(&course.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from)?
            .is_some();
        if started {
            return Err(PublishError::Started(course.id));
        }
        version = held + 1;
    }
    sqlx::query(
        "INSERT INTO courses(id, version, institution_id, profile, manifest, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&course.id)
    .bind(version)
    .bind(institution_id)
    .bind(profile)
    .bind(manifest)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    let after = serde_json::json!({
        "version": version, "profile": profile, "title": course.title,
        "class_hours": course.class_hours(&policy), "lessons": course.lessons.len(),
    });
    append_audit(
        &mut tx,
        &AuditRow {
            actor,
            action: "course.publish",
            target: &course.id,
            institution_id: Some(institution_id),
            region: None,
            before: None,
            after: Some(&after),
        },
        now,
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    tracing::info!(course = %course.id, version, "course published");
    Ok(PublishResponse {
        course_id: course.id,
        version: u32::try_from(version).unwrap_or(u32::MAX),
    })
}

/// Why learners cannot be enrolled.
#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    /// No such course (in the scope).
    #[error("no course {0:?}")]
    NoCourse(String),
    /// Neither learners nor a class were named.
    #[error("name learners or a class to enrol")]
    NobodyNamed,
    /// The storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The institution (id, name) that published `course`, if it is in `scope`.
pub(crate) async fn course_institution(
    store: &Store,
    scope: &Scope,
    course: &str,
) -> Result<Option<(String, String)>, StoreError> {
    let (cond, values) = scope.condition(2);
    let sql = format!(
        "SELECT c.institution_id, i.name FROM courses c JOIN institutions i ON i.id = c.institution_id \
         WHERE c.id = $1 AND {cond} LIMIT 1"
    );
    let mut q = sqlx::query(&sql).bind(course);
    for v in &values {
        q = q.bind(v);
    }
    q.fetch_optional(&store.pool)
        .await?
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .transpose()
}

/// Enrols learners of the course's institution, by login name and/or by class, in
/// one transaction with one audit entry. Unknown names enrol nobody (they are
/// answered in `unknown`).
pub async fn enrol(
    store: &Store,
    scope: &Scope,
    req: &EnrolRequest,
    actor: &str,
    now: i64,
) -> Result<EnrolResponse, EnrolError> {
    let class = req
        .class
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if req.learners.is_empty() && class.is_none() {
        return Err(EnrolError::NobodyNamed);
    }
    let (institution, _) = course_institution(store, scope, &req.course)
        .await?
        .ok_or_else(|| EnrolError::NoCourse(req.course.clone()))?;
    let mut ids = Vec::new();
    let mut unknown = Vec::new();
    for name in &req.learners {
        let r = sqlx::query("SELECT id FROM learners WHERE username = $1 AND institution_id = $2")
            .bind(name.trim())
            .bind(&institution)
            .fetch_optional(&store.pool)
            .await
            .map_err(StoreError::from)?;
        match r {
            Some(r) => ids.push(r.try_get::<String, _>(0).map_err(StoreError::from)?),
            None => unknown.push(name.clone()),
        }
    }
    if !unknown.is_empty() {
        return Ok(EnrolResponse {
            enrolled: 0,
            already: 0,
            unknown,
        });
    }
    if let Some(class) = class {
        for r in sqlx::query(
            "SELECT id FROM learners WHERE class = $1 AND institution_id = $2 ORDER BY username",
        )
        .bind(class)
        .bind(&institution)
        .fetch_all(&store.pool)
        .await
        .map_err(StoreError::from)?
        {
            ids.push(r.try_get::<String, _>(0).map_err(StoreError::from)?);
        }
    }
    ids.sort();
    ids.dedup();
    let mut tx = store.begin_write().await.map_err(StoreError::from)?;
    let (mut enrolled, mut already) = (0u64, 0u64);
    for id in &ids {
        let held = sqlx::query("SELECT 1 FROM enrolments WHERE course_id = $1 AND learner_id = $2")
            .bind(&req.course)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        if held.is_some() {
            already += 1;
            continue;
        }
        sqlx::query(
            "INSERT INTO enrolments(course_id, learner_id, enrolled_ms, actor) VALUES ($1, $2, $3, $4)",
        )
        .bind(&req.course)
        .bind(id)
        .bind(now)
        .bind(actor)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        enrolled += 1;
    }
    let after = serde_json::json!({
        "learners": req.learners, "class": class, "enrolled": enrolled, "already": already,
    });
    append_audit(
        &mut tx,
        &AuditRow {
            actor,
            action: "course.enrol",
            target: &req.course,
            institution_id: Some(&institution),
            region: None,
            before: None,
            after: Some(&after),
        },
        now,
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(EnrolResponse {
        enrolled,
        already,
        unknown,
    })
}

impl From<EnrolError> for Failure {
    fn from(e: EnrolError) -> Failure {
        match e {
            e @ EnrolError::NoCourse(_) => {
                Failure::new(StatusCode::NOT_FOUND, ApiCode::NotFound, e.to_string())
            }
            e @ EnrolError::NobodyNamed => Failure::new(
                StatusCode::BAD_REQUEST,
                ApiCode::MalformedBody,
                e.to_string(),
            ),
            EnrolError::Store(e) => e.into(),
        }
    }
}

impl Store {
    /// The ids of the courses `learner_id` is enrolled in.
    pub async fn enrolled_course_ids(&self, learner_id: &str) -> Result<Vec<String>, StoreError> {
        sqlx::query("SELECT course_id FROM enrolments WHERE learner_id = $1 ORDER BY course_id")
            .bind(learner_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
    }

    /// Whether `learner_id` is enrolled in `course`.
    pub async fn is_enrolled(&self, learner_id: &str, course: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT 1 FROM enrolments WHERE learner_id = $1 AND course_id = $2")
                .bind(learner_id)
                .bind(course)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// The courses in `scope` (newest version each) with their enrolment counts:
    /// `(id, version, institution name, profile, enrolled)`.
    pub async fn courses_in_scope(
        &self,
        scope: &Scope,
    ) -> Result<Vec<(String, u32, String, u64)>, StoreError> {
        let (cond, values) = scope.condition(1);
        let sql = format!(
            "SELECT c.id, MAX(c.version), i.name, \
             (SELECT COUNT(*) FROM enrolments e WHERE e.course_id = c.id) \
             FROM courses c JOIN institutions i ON i.id = c.institution_id WHERE {cond} \
             GROUP BY c.id, i.name ORDER BY c.id"
        );
        let mut q = sqlx::query(&sql);
        for v in &values {
            q = q.bind(v);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    u32::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0),
                    r.try_get(2)?,
                    u64::try_from(r.try_get::<i64, _>(3)?).unwrap_or(0),
                ))
            })
            .collect()
    }

    /// An institution's name by id.
    pub async fn institution_name(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query("SELECT name FROM institutions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?)
    }
}

/// The manifest as a learner's device gets it: the published text with every
/// answer key removed (the platform grades, issue 11), as compact JSON.
pub fn learner_manifest(published: &str) -> Result<Vec<u8>, serde_json::Error> {
    let mut v: serde_json::Value = serde_json::from_str(published)?;
    if let Some(banks) = v.get_mut("quizzes").and_then(|q| q.as_array_mut()) {
        for bank in banks {
            if let Some(qs) = bank.get_mut("questions").and_then(|q| q.as_array_mut()) {
                for q in qs {
                    if let Some(q) = q.as_object_mut() {
                        q.remove("answer");
                    }
                }
            }
        }
    }
    serde_json::to_vec(&v)
}

/// The routes of this module (learner and staff).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/courses", get(list))
        .route("/v1/courses/{id}/manifest", get(manifest))
        .route("/v1/courses/{id}/media/{sha256}", get(media))
        .route("/v1/staff/courses", get(staff_courses).post(staff_publish))
        .route("/v1/staff/enrolments", axum::routing::post(staff_enrol))
        .route(
            "/v1/staff/media/{sha256}",
            get(upload_state_get).put(upload_chunk),
        )
}

/// An unexpected failure while `what`.
pub(crate) fn internal(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        ApiCode::Internal,
        format!("{what}: {e}"),
    )
}

fn no_course() -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        ApiCode::NotFound,
        "no such course among yours",
    )
}

/// The published course `id` if `learner_id` is enrolled in it.
async fn enrolled(
    state: &AppState,
    learner_id: &str,
    id: &str,
) -> Result<std::sync::Arc<crate::catalogue::Catalogue>, Failure> {
    if !state.store.is_enrolled(learner_id, id).await? {
        return Err(no_course());
    }
    let catalogue = state.catalogue_for(&[id.to_owned()]).await?;
    if catalogue.get(id).is_none() {
        return Err(no_course());
    }
    Ok(catalogue)
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<CoursesResponse>, Failure> {
    let lease = authenticate(&state, &headers, Need::Lease).await?;
    let ids = state.store.enrolled_course_ids(&lease.learner_id).await?;
    let catalogue = state.catalogue_for(&ids).await?;
    let mut courses = Vec::new();
    for id in ids {
        let Some(p) = catalogue.get(&id) else {
            continue;
        };
        let Some((_, text)) = state.store.course_manifest(&id, p.version).await? else {
            continue;
        };
        let served = learner_manifest(&text).map_err(|e| internal(&format!("course {id}"), e))?;
        let mut media_files = 0;
        let mut media_bytes = 0;
        for l in &p.course.lessons {
            if matches!(l.media.source, MediaSource::Path(_)) {
                media_files += 1;
                media_bytes += state.blobs.size(&l.media.sha256).unwrap_or(0);
            }
        }
        courses.push(EnrolledCourse {
            id: id.clone(),
            version: p.version,
            title: p.course.title.clone(),
            institution: state
                .store
                .institution_name(&p.institution_id)
                .await?
                .unwrap_or_default(),
            profile: p.policy.id.clone(),
            class_hours: p.course.class_hours(&p.policy),
            manifest_sha256: keshi_protocol::ids::Hash::of(&served).to_hex(),
            media_files,
            media_bytes,
        });
    }
    Ok(Json(CoursesResponse { courses }))
}

async fn manifest(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let lease = authenticate(&state, &headers, Need::Lease).await?;
    let catalogue = enrolled(&state, &lease.learner_id, &id).await?;
    let version = catalogue.get(&id).map_or(0, |p| p.version);
    let (_, text) = state
        .store
        .course_manifest(&id, version)
        .await?
        .ok_or_else(no_course)?;
    let served = learner_manifest(&text).map_err(|e| internal(&format!("course {id}"), e))?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Bytes::from(served),
    )
        .into_response())
}

/// A `Range: bytes=START-[END]` header: `(start, inclusive end)` within `len`.
/// `Ok(None)` for no header; `Err` for a range beyond the end.
fn range(headers: &HeaderMap, len: u64) -> Result<Option<(u64, u64)>, Failure> {
    let Some(v) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let unsatisfiable = || {
        Failure::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            ApiCode::RangeNotSatisfiable,
            format!("the range {v:?} is not within the file's {len} bytes"),
        )
    };
    // A range this does not serve (another unit, several ranges, unreadable) is
    // ignored: the whole file is sent (RFC 9110 §14.2).
    let Some((a, b)) = v
        .strip_prefix("bytes=")
        .filter(|s| !s.contains(','))
        .and_then(|spec| spec.split_once('-'))
    else {
        return Ok(None);
    };
    let (start, end) = if a.trim().is_empty() {
        // The last N bytes.
        let Ok(n) = b.trim().parse::<u64>() else {
            return Ok(None);
        };
        (len.saturating_sub(n), len.saturating_sub(1))
    } else {
        let Ok(start) = a.trim().parse::<u64>() else {
            return Ok(None);
        };
        let end = if b.trim().is_empty() {
            len.saturating_sub(1)
        } else {
            match b.trim().parse::<u64>() {
                Ok(e) => e.min(len.saturating_sub(1)),
                Err(_) => return Ok(None),
            }
        };
        (start, end)
    };
    if start >= len || end < start {
        return Err(unsatisfiable());
    }
    Ok(Some((start, end)))
}

async fn media(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, sha256)): Path<(String, String)>,
) -> Result<Response, Failure> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let lease = authenticate(&state, &headers, Need::Lease).await?;
    let catalogue = enrolled(&state, &lease.learner_id, &id).await?;
    let in_course = catalogue.get(&id).is_some_and(|p| {
        p.course
            .lessons
            .iter()
            .any(|l| matches!(l.media.source, MediaSource::Path(_)) && l.media.sha256 == sha256)
    });
    if !in_course {
        return Err(Failure::new(
            StatusCode::NOT_FOUND,
            ApiCode::NotFound,
            "no such media in this course",
        ));
    }
    let missing = || {
        Failure::new(
            StatusCode::NOT_FOUND,
            ApiCode::MediaMissing,
            "the platform does not hold this media",
        )
    };
    let len = state.blobs.size(&sha256).ok_or_else(missing)?;
    let part = range(&headers, len)?;
    let (start, end) = part.unwrap_or((0, len.saturating_sub(1)));
    let count = if len == 0 { 0 } else { end - start + 1 };
    let body = match state.blobs.file(&sha256) {
        Some(path) => {
            let mut f = tokio::fs::File::open(&path)
                .await
                .map_err(|e| internal("opening the media", e))?;
            f.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(|e| internal("reading the media", e))?;
            Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
                f.take(count),
                1 << 16,
            ))
        }
        None => {
            let bytes = state
                .blobs
                .get(&sha256)
                .map_err(|e| internal("reading the media", e))?
                .ok_or_else(missing)?;
            let s = usize::try_from(start)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            let e = usize::try_from(start + count)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            Body::from(bytes[s..e].to_vec())
        }
    };
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&count.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{sha256}\"")) {
        h.insert(header::ETAG, v);
    }
    if part.is_some() {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
            h.insert(header::CONTENT_RANGE, v);
        }
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(r)
}

/// A staff member who may publish and enrol (not an authority or an auditor), and
/// the institution they act for: their own, or for the operator the one named.
pub(crate) async fn publisher(
    state: &AppState,
    s: &Staff,
    institution: Option<&str>,
) -> Result<String, Failure> {
    match (&s.scope, s.role) {
        (Scope::Institution(id), StaffRole::Institution | StaffRole::Enterprise) => Ok(id.clone()),
        (Scope::All, StaffRole::Operator) => {
            let name = institution.ok_or_else(|| {
                Failure::new(
                    StatusCode::BAD_REQUEST,
                    ApiCode::MalformedBody,
                    "the operator names the institution that publishes",
                )
            })?;
            state.store.institution(name).await?.ok_or_else(|| {
                Failure::new(
                    StatusCode::NOT_FOUND,
                    ApiCode::NotFound,
                    format!("no institution {name:?}"),
                )
            })
        }
        _ => Err(not_a_publisher()),
    }
}

fn not_a_publisher() -> Failure {
    Failure::new(
        StatusCode::FORBIDDEN,
        ApiCode::Forbidden,
        "only institutions, enterprises and the operator publish courses and enrol",
    )
}

/// Whether `s` may change an institution's content without naming one: staff of
/// an institution or enterprise for their own, the operator for any (authorities
/// and auditors may not).
pub(crate) fn may_publish(s: &Staff) -> Result<(), Failure> {
    match (&s.scope, s.role) {
        (Scope::Institution(_), StaffRole::Institution | StaffRole::Enterprise)
        | (Scope::All, StaffRole::Operator) => Ok(()),
        _ => Err(not_a_publisher()),
    }
}

async fn staff_courses(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
) -> Result<Json<StaffCourses>, Failure> {
    let s = crate::staff::staff(&state, &headers, &method).await?;
    let rows = state.store.courses_in_scope(&s.scope).await?;
    let ids: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let catalogue = state.catalogue_for(&ids).await?;
    let courses = rows
        .into_iter()
        .map(|(id, version, institution, enrolled)| {
            let p = catalogue.get(&id);
            StaffCourse {
                title: p.map(|p| p.course.title.clone()).unwrap_or_default(),
                profile: p.map(|p| p.policy.id.clone()).unwrap_or_default(),
                class_hours: p.map_or(0, |p| p.course.class_hours(&p.policy)),
                id,
                version,
                institution,
                enrolled,
            }
        })
        .collect();
    Ok(Json(StaffCourses { courses }))
}

async fn staff_publish(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<PublishResponse>, Failure> {
    let s = crate::staff::staff(&state, &headers, &method).await?;
    let req: PublishRequest = body_json(body)?;
    let institution = publisher(&state, &s, req.institution.as_deref()).await?;
    let now = (state.clock)();
    let r = publish(
        &state.store,
        state.blobs.as_ref(),
        &institution,
        &req.manifest.to_string(),
        &req.profile,
        &format!("staff:{}", s.username),
        now,
    )
    .await?;
    Ok(Json(r))
}

async fn staff_enrol(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<EnrolResponse>, Failure> {
    let s = crate::staff::staff(&state, &headers, &method).await?;
    if !s.role.writes() || s.role == StaffRole::Authority {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            ApiCode::Forbidden,
            "only institutions, enterprises and the operator enrol learners",
        ));
    }
    let req: EnrolRequest = body_json(body)?;
    let now = (state.clock)();
    let r = enrol(
        &state.store,
        &s.scope,
        &req,
        &format!("staff:{}", s.username),
        now,
    )
    .await?;
    Ok(Json(r))
}

fn valid_sha(sha256: &str) -> Result<(), Failure> {
    if sha256.len() == 64
        && sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(Failure::new(
            StatusCode::BAD_REQUEST,
            ApiCode::MalformedBody,
            "media is named by its SHA-256 in lowercase hex",
        ))
    }
}

fn upload_state(state: &AppState, sha256: &str) -> UploadState {
    match state.blobs.size(sha256) {
        Some(n) => UploadState {
            received: n,
            complete: true,
        },
        None => UploadState {
            received: state.blobs.part_size(sha256),
            complete: false,
        },
    }
}

/// Largest media file accepted (a lesson's video).
pub const MAX_MEDIA_BYTES: u64 = 8 << 30;

async fn upload_state_route(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    sha256: &str,
) -> Result<UploadState, Failure> {
    let s = crate::staff::staff(state, headers, method).await?;
    // The operator uploads without naming an institution.
    may_publish(&s)?;
    valid_sha(sha256)?;
    Ok(upload_state(state, sha256))
}

async fn upload_state_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    Path(sha256): Path<String>,
) -> Result<Json<UploadState>, Failure> {
    upload_state_route(&state, &headers, &method, &sha256)
        .await
        .map(Json)
}

async fn upload_chunk(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    Path(sha256): Path<String>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<UploadState>, Failure> {
    let held = upload_state_route(&state, &headers, &method, &sha256).await?;
    let bytes = body.map_err(|e| {
        Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ApiCode::BodyTooLarge,
            format!("a chunk is at most the platform's body limit: {e}"),
        )
    })?;
    let number = |name: &str| -> Result<u64, Failure> {
        crate::staff::query_value(query.as_deref(), name)
            .ok_or_else(|| {
                Failure::new(
                    StatusCode::BAD_REQUEST,
                    ApiCode::MalformedBody,
                    format!("`{name}` is required"),
                )
            })?
            .parse()
            .map_err(|_| {
                Failure::new(
                    StatusCode::BAD_REQUEST,
                    ApiCode::MalformedBody,
                    format!("`{name}` must be a whole number"),
                )
            })
    };
    let offset = number("offset")?;
    let total = number("total")?;
    if held.complete {
        return Ok(Json(held));
    }
    if total > MAX_MEDIA_BYTES || offset + bytes.len() as u64 > total {
        return Err(Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ApiCode::BodyTooLarge,
            format!(
                "a media file is at most {MAX_MEDIA_BYTES} bytes and a chunk ends within `total`"
            ),
        ));
    }
    let blobs = state.blobs.clone();
    let key = sha256.clone();
    let received = tokio::task::spawn_blocking(move || blobs.append_part(&key, offset, &bytes))
        .await
        .map_err(|e| internal("storing the chunk", e))?
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidInput {
                let mut f =
                    Failure::new(StatusCode::CONFLICT, ApiCode::UploadOffset, e.to_string());
                f.body.acknowledged = Some(state.blobs.part_size(&sha256));
                f
            } else {
                Failure::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    ApiCode::Internal,
                    format!("storing the chunk: {e}"),
                )
            }
        })?;
    if received < total {
        return Ok(Json(UploadState {
            received,
            complete: false,
        }));
    }
    let blobs = state.blobs.clone();
    let key = sha256.clone();
    let ok = tokio::task::spawn_blocking(move || blobs.finish_part(&key))
        .await
        .map_err(|e| internal("checking the upload", e))?
        .map_err(|e| internal("checking the upload", e))?;
    if !ok {
        return Err(Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ApiCode::MediaHashMismatch,
            "the uploaded bytes do not hash to the name; the upload was dropped, send it again",
        ));
    }
    Ok(Json(UploadState {
        received,
        complete: true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::RANGE, HeaderValue::from_str(v).unwrap());
        m
    }

    #[test]
    fn ranges_resume_within_the_file_and_refuse_beyond_it() {
        assert_eq!(range(&HeaderMap::new(), 10).ok().flatten(), None);
        assert_eq!(range(&h("bytes=4-"), 10).ok().flatten(), Some((4, 9)));
        assert_eq!(range(&h("bytes=0-3"), 10).ok().flatten(), Some((0, 3)));
        assert_eq!(range(&h("bytes=8-100"), 10).ok().flatten(), Some((8, 9)));
        assert_eq!(range(&h("bytes=-3"), 10).ok().flatten(), Some((7, 9)));
        assert!(range(&h("bytes=10-"), 10).is_err());
        assert!(range(&h("bytes=5-2"), 10).is_err());
        // What is not served is ignored (the whole file), not refused.
        assert_eq!(range(&h("bytes=0-1,4-5"), 10).ok().flatten(), None);
        assert_eq!(range(&h("items=0-1"), 10).ok().flatten(), None);
        assert_eq!(range(&h("bytes=x-"), 10).ok().flatten(), None);
    }

    #[test]
    fn the_learners_manifest_carries_no_answer_key() {
        let m = keshi_protocol::demo::course(1).to_string();
        assert!(m.contains("\"answer\""));
        let served = String::from_utf8(learner_manifest(&m).unwrap()).unwrap();
        assert!(!served.contains("\"answer\""));
        let c = Course::parse(std::path::Path::new("m.json"), &served).unwrap();
        assert!(c.missing_answer().is_some());
    }
}
