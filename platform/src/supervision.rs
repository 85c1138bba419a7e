//! The staff API of supervision (issue 13): attendance, course-farming findings and
//! their review, certificates and the settlement, each within the staff member's
//! scope (the console uses the same endpoints).
//!
//! - `GET /v1/staff/attendance?course=ID` — every role, in scope.
//! - `GET /v1/staff/flags[?learner=U]` — every role, in scope (runs no checks: the
//!   service's nightly job and `admin flags` do).
//! - `POST /v1/staff/flags/{id}/review` `{decision, reason}` — the operator and
//!   labour authorities only (an institution does not judge its own learners;
//!   auditors read).
//! - `GET /v1/staff/certificates/{user}/{course}` — the PDF of a qualified learner in
//!   scope (operator, authority, institution, enterprise); `409 not_qualified`, with
//!   what is missing, for anyone else.
//! - `GET /v1/staff/certificates?course=ID` — every qualified learner's certificate
//!   of the course in scope as one ZIP (as the single certificate: not auditors).
//! - `GET /v1/staff/settlement?quarter=YYYYQn` — operator, authorities, auditors.
//! - `GET /v1/staff/district-report?date=YYYY-MM-DD` — operator, authorities,
//!   auditors (R-SV-7).
//! - `GET /v1/staff/plans`, `POST /v1/staff/plans` `{course, total_class_hours}` —
//!   training plans (R-SV-8); filed by the operator, institutions and enterprises,
//!   `422 online_share_exceeded` above the profile's online share.
//! - `GET /v1/staff/spot-checks`, `GET /v1/staff/spot-checks/{id}` — every role, the
//!   checks whose scope lies within theirs; `POST /v1/staff/spot-checks` `{scope,
//!   date, size}` and `POST /v1/staff/spot-checks/{id}/results` `{learner, method,
//!   result, note}` — the operator and labour authorities (R-SV-6).
//! - `GET /v1/staff/exports/{table}?format=csv|xlsx[&course=ID][&quarter=YYYYQn]` —
//!   `learners`, `hours`, `attendance`, `flags` for every role, `settlement` for
//!   those who see it; in scope, streamed (`export.rs`), audit-logged.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use keshi_protocol::codes::ApiCode;
use keshi_protocol::staff::StaffRole;
use serde::{Deserialize, Serialize};

use crate::api::{AppState, Failure};
use crate::staff::{query_value, staff};

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/staff/attendance", get(attendance))
        .route("/v1/staff/flags", get(flags))
        .route("/v1/staff/flags/{id}/review", post(review))
        .route("/v1/staff/certificates/{user}/{course}", get(certificate))
        .route("/v1/staff/certificates", get(certificates_zip))
        .route("/v1/staff/settlement", get(settlement))
        .route("/v1/staff/exports/{table}", get(export))
        .route("/v1/staff/district-report", get(district_report))
        .route("/v1/staff/plans", get(plans).post(file_plan))
        .route(
            "/v1/staff/spot-checks",
            get(spot_checks).post(draw_spot_check),
        )
        .route("/v1/staff/spot-checks/{id}", get(spot_check))
        .route(
            "/v1/staff/spot-checks/{id}/results",
            post(record_spot_check),
        )
}

fn forbidden(why: &str) -> Failure {
    Failure::new(StatusCode::FORBIDDEN, ApiCode::Forbidden, why)
}

/// Reports over the whole scope (settlement, district report) are for the
/// operator, labour authorities and auditors.
fn supervises(s: &crate::staff::Staff, what: &str) -> Result<(), Failure> {
    if matches!(
        s.role,
        StaffRole::Operator | StaffRole::Authority | StaffRole::Auditor
    ) {
        Ok(())
    } else {
        Err(forbidden(&format!(
            "{what} is for the operator, labour authorities and auditors"
        )))
    }
}

/// Certificates are issued (one or as a ZIP) by everyone but auditors.
fn issues_certificates(s: &crate::staff::Staff) -> Result<(), Failure> {
    if matches!(s.role, StaffRole::Auditor) {
        Err(forbidden(
            "auditors read; certificates are issued by institutions, authorities and the operator",
        ))
    } else {
        Ok(())
    }
}

fn bad(why: impl Into<String>) -> Failure {
    Failure::new(StatusCode::BAD_REQUEST, ApiCode::MalformedBody, why)
}

/// `GET /v1/staff/attendance` answer.
#[derive(Debug, Serialize)]
pub struct AttendanceResponse {
    /// The course.
    pub course: String,
    /// One per learner in scope.
    pub results: Vec<crate::results::CourseResult>,
}

async fn attendance(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    RawQuery(query): RawQuery,
) -> Result<Json<AttendanceResponse>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    let course =
        query_value(query.as_deref(), "course").ok_or_else(|| bad("name a course: ?course=ID"))?;
    let catalogue = crate::load_catalogue(&state.store).await?;
    if catalogue.get(&course).is_none() {
        return Err(Failure::new(
            StatusCode::NOT_FOUND,
            ApiCode::NotFound,
            "no such course",
        ));
    }
    let results = crate::results::summarise_with(
        &state.store,
        &catalogue,
        Some(&course),
        &s.scope,
        false,
        false,
        (state.clock)(),
    )
    .await?;
    Ok(Json(AttendanceResponse { course, results }))
}

/// `GET /v1/staff/flags` answer.
#[derive(Debug, Serialize)]
pub struct FlagsResponse {
    /// The findings in scope, newest first.
    pub findings: Vec<crate::farming::StoredFinding>,
}

async fn flags(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    RawQuery(query): RawQuery,
) -> Result<Json<FlagsResponse>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    let learner = query_value(query.as_deref(), "learner");
    let findings = crate::farming::list(&state.store, &s.scope, learner.as_deref()).await?;
    Ok(Json(FlagsResponse { findings }))
}

/// `POST /v1/staff/flags/{id}/review` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// `confirm` or `dismiss`.
    pub decision: crate::farming::Decision,
    /// Why (required).
    pub reason: String,
}

async fn review(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    Path(id): Path<String>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<crate::farming::StoredFinding>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    if !matches!(s.role, StaffRole::Operator | StaffRole::Authority) {
        return Err(forbidden(
            "findings are reviewed by the operator and labour authorities",
        ));
    }
    let bytes = body.map_err(|e| bad(e.to_string()))?;
    let req: ReviewRequest = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let actor = format!("staff:{}", s.username);
    match crate::farming::review(
        &state.store,
        &s.scope,
        &id,
        req.decision,
        &req.reason,
        &actor,
        (state.clock)(),
    )
    .await
    {
        Ok(f) => Ok(Json(f)),
        Err(crate::farming::ReviewError::NotFound(_)) => Err(Failure::new(
            StatusCode::NOT_FOUND,
            ApiCode::NotFound,
            "no such finding in your scope",
        )),
        Err(e @ crate::farming::ReviewError::Reviewed { .. }) => Err(Failure::new(
            StatusCode::CONFLICT,
            ApiCode::AlreadyReviewed,
            e.to_string(),
        )),
        Err(e @ crate::farming::ReviewError::NoReason) => Err(bad(e.to_string())),
        Err(crate::farming::ReviewError::Store(e)) => Err(e.into()),
    }
}

/// The certificate font, loaded once (5 MB).
fn font() -> Result<&'static crate::certificate::FontData, crate::certificate::CertificateError> {
    static FONT: std::sync::OnceLock<crate::certificate::FontData> = std::sync::OnceLock::new();
    if let Some(f) = FONT.get() {
        return Ok(f);
    }
    let f = crate::certificate::FontData::load(crate::certificate::DEFAULT_FONT)?;
    Ok(FONT.get_or_init(|| f))
}

async fn certificate(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    Path((user, course)): Path<(String, String)>,
) -> Result<Response, Failure> {
    let s = staff(&state, &headers, &method).await?;
    issues_certificates(&s)?;
    // The learner must be in scope: the same 404 as any learner outside it.
    if state
        .store
        .learner_in_scope(&s.scope, &user)
        .await?
        .is_none()
    {
        return Err(Failure::new(
            StatusCode::NOT_FOUND,
            ApiCode::NotFound,
            "no such learner in your scope",
        ));
    }
    let font = font().map_err(|e| crate::courses::internal("the certificate font", e))?;
    let actor = format!("staff:{}", s.username);
    let catalogue = crate::load_catalogue(&state.store).await?;
    let issued = crate::reports::certify(
        &state.store,
        &state.key,
        &catalogue,
        crate::reports::CertifyRequest {
            user: &user,
            course: &course,
            simulated: false,
            actor: &actor,
        },
        crate::reports::Known::default(),
        &crate::reports::Blocking(state.key.clone(), font),
        (state.clock)(),
    )
    .await;
    match issued {
        Ok(i) => Ok((
            [
                (header::CONTENT_TYPE, "application/pdf".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"{}\"",
                        crate::certificate::file_name(&i.statement)
                    ),
                ),
            ],
            i.pdf,
        )
            .into_response()),
        Err(e @ crate::reports::CertifyError::NotQualified { .. }) => Err(Failure::new(
            StatusCode::CONFLICT,
            ApiCode::NotQualified,
            e.to_string(),
        )),
        Err(crate::reports::CertifyError::NoCourse(c)) => Err(Failure::new(
            StatusCode::NOT_FOUND,
            ApiCode::NotFound,
            format!("no course {c:?}"),
        )),
        Err(crate::reports::CertifyError::NoLearner(_)) => Err(Failure::new(
            StatusCode::NOT_FOUND,
            ApiCode::NotFound,
            "no such learner in your scope",
        )),
        Err(crate::reports::CertifyError::Render(e)) => {
            Err(crate::courses::internal("the certificate", e))
        }
        Err(crate::reports::CertifyError::Store(e)) => Err(e.into()),
    }
}

/// The certificates of every qualified learner of a course in scope, as one ZIP
/// (R-AS-6: bulk download). Each is issued as the single download would (the same
/// statement and PDF when issued before); withdrawn ones are left out. Written one
/// PDF at a time to a temporary file, then streamed from it.
async fn certificates_zip(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let s = staff(&state, &headers, &method).await?;
    issues_certificates(&s)?;
    let course =
        query_value(query.as_deref(), "course").ok_or_else(|| bad("name a course: ?course=ID"))?;
    // A demo platform's certificates of simulated study (`SIM-` serials), as
    // `admin certificate --simulated`; a real platform has none to give.
    let simulated = query_value(query.as_deref(), "simulated").as_deref() == Some("1");
    if simulated && !state.config.accept_simulated {
        return Err(bad("this platform does not take simulated study"));
    }
    let catalogue = crate::load_catalogue(&state.store).await?;
    if catalogue.get(&course).is_none() {
        return Err(Failure::new(
            StatusCode::NOT_FOUND,
            ApiCode::NotFound,
            "no such course",
        ));
    }
    let now = (state.clock)();
    let results = crate::results::summarise_with(
        &state.store,
        &catalogue,
        Some(&course),
        &s.scope,
        simulated,
        false,
        now,
    )
    .await?;
    let font = font().map_err(|e| crate::courses::internal("the certificate font", e))?;
    let part = tempfile::NamedTempFile::new()
        .map_err(|e| crate::courses::internal("the download file", e))?;
    let file = part
        .reopen()
        .map_err(|e| crate::courses::internal("the download file", e))?;
    let mut zip = crate::certificate::BulkZip::new(std::io::BufWriter::new(file));
    let actor = format!("staff:{}", s.username);
    // One summary (above) and one checkpoint for the whole download; each PDF drawn
    // on the blocking pool.
    let checkpoint = crate::ledger::checkpoint(&state.store, &state.key, now).await?;
    let render = crate::reports::Blocking(state.key.clone(), font);
    for r in results.iter().filter(|r| r.qualified) {
        let issued = crate::reports::certify(
            &state.store,
            &state.key,
            &catalogue,
            crate::reports::CertifyRequest {
                user: &r.user,
                course: &course,
                simulated,
                actor: &actor,
            },
            crate::reports::Known {
                result: Some(r),
                checkpoint: Some(&checkpoint),
            },
            &render,
            now,
        )
        .await;
        match issued {
            Ok(i) => zip
                .add(&crate::certificate::file_name(&i.statement), &i.pdf)
                .map_err(|e| crate::courses::internal("the download", e))?,
            // Withdrawn since it qualified: not handed out.
            Err(crate::reports::CertifyError::NotQualified { .. }) => {}
            Err(crate::reports::CertifyError::Store(e)) => return Err(e.into()),
            Err(e) => return Err(crate::courses::internal("a certificate", e)),
        }
    }
    let count = zip.len();
    let mut out = zip
        .finish()
        .map_err(|e| crate::courses::internal("the download", e))?;
    std::io::Write::flush(&mut out).map_err(|e| crate::courses::internal("the download", e))?;
    drop(out);
    let file = tokio::fs::File::open(part.path())
        .await
        .map_err(|e| crate::courses::internal("the download file", e))?;
    let len = file
        .metadata()
        .await
        .map_err(|e| crate::courses::internal("the download file", e))?
        .len();
    drop(part);
    tracing::info!(course = %course, certificates = count, bytes = len, "bulk certificates");
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"keshi-certificates-{course}.zip\""),
            ),
            (header::CONTENT_LENGTH, len.to_string()),
            (
                header::HeaderName::from_static("x-certificates"),
                count.to_string(),
            ),
        ],
        axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file)),
    )
        .into_response())
}

async fn settlement(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    RawQuery(query): RawQuery,
) -> Result<Json<crate::reports::Settlement>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    supervises(&s, "the settlement")?;
    let quarter = query_value(query.as_deref(), "quarter")
        .ok_or_else(|| bad("name a quarter: ?quarter=2026Q4"))?;
    let catalogue = crate::load_catalogue(&state.store).await?;
    crate::reports::settlement(
        &state.store,
        &state.key,
        &catalogue,
        &s.scope,
        &quarter,
        false,
        (state.clock)(),
    )
    .await?
    .map(Json)
    .ok_or_else(|| bad(format!("{quarter:?} is not a quarter: write YYYYQn")))
}

/// `GET /v1/staff/spot-checks` answer.
#[derive(Debug, Serialize)]
pub struct SpotChecksResponse {
    /// Newest first.
    pub checks: Vec<crate::spotcheck::SpotCheckSummary>,
}

async fn spot_checks(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
) -> Result<Json<SpotChecksResponse>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    let checks = crate::spotcheck::list(&state.store, &s.scope).await?;
    Ok(Json(SpotChecksResponse { checks }))
}

fn spot_failure(e: crate::spotcheck::SpotCheckError) -> Failure {
    use crate::spotcheck::SpotCheckError as E;
    match e {
        E::BadDate(_) | E::Bad(_) => bad(e.to_string()),
        E::NotFound(m) => Failure::new(StatusCode::NOT_FOUND, ApiCode::NotFound, m),
        E::Recorded(m) => Failure::new(StatusCode::CONFLICT, ApiCode::AlreadyReviewed, m),
        E::Store(e) => e.into(),
    }
}

fn checks_spot(s: &crate::staff::Staff) -> Result<(), Failure> {
    if matches!(s.role, StaffRole::Operator | StaffRole::Authority) {
        Ok(())
    } else {
        Err(forbidden(
            "spot checks are drawn and recorded by the operator and labour authorities",
        ))
    }
}

/// `check` as the caller may see it: the classes no longer eligible are the
/// platform's list, narrowed to the institutions in the caller's scope.
async fn restrict(
    state: &AppState,
    s: &crate::staff::Staff,
    mut check: crate::spotcheck::SpotCheck,
) -> Result<crate::spotcheck::SpotCheck, Failure> {
    use sqlx::Row;
    let (cond, values) = s.scope.condition(1);
    let sql = format!("SELECT i.name FROM institutions i WHERE {cond}");
    let mut q = sqlx::query(&sql);
    for v in &values {
        q = q.bind(v);
    }
    let names: std::collections::HashSet<String> = q
        .fetch_all(&state.store.pool)
        .await
        .map_err(crate::store::StoreError::from)?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(crate::store::StoreError::from)?;
    check
        .ineligible_classes
        .retain(|c| names.contains(&c.institution));
    Ok(check)
}

/// The check `id` if its scope lies within the caller's; 404 otherwise.
async fn spot_in_scope(
    state: &AppState,
    s: &crate::staff::Staff,
    id: &str,
) -> Result<crate::spotcheck::SpotCheck, Failure> {
    let check = crate::spotcheck::load(&state.store, id)
        .await
        .map_err(spot_failure)?;
    if !crate::spotcheck::label_within(&state.store, &s.scope, &check.scope).await? {
        return Err(Failure::new(
            StatusCode::NOT_FOUND,
            ApiCode::NotFound,
            "no such spot check in your scope",
        ));
    }
    restrict(state, s, check).await
}

async fn spot_check(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    Path(id): Path<String>,
) -> Result<Json<crate::spotcheck::SpotCheck>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    spot_in_scope(&state, &s, &id).await.map(Json)
}

/// `POST /v1/staff/spot-checks` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrawRequest {
    /// An institution's name, a region, or `*` (the operator only); within the
    /// caller's scope.
    pub scope: String,
    /// The date, `YYYY-MM-DD`.
    pub date: String,
    /// Learners to sample (1..=500).
    pub size: usize,
}

async fn draw_spot_check(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<crate::spotcheck::SpotCheck>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    checks_spot(&s)?;
    let bytes = body.map_err(|e| bad(e.to_string()))?;
    let req: DrawRequest = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    if !(1..=500).contains(&req.size) {
        return Err(bad("size: 1 to 500 learners"));
    }
    // A check is drawn on its day: a date of one's choosing would be a seed of
    // one's choosing (R-SV-6).
    let today = crate::calendar::day_label(crate::calendar::day_of((state.clock)()));
    if req.date != today {
        return Err(bad(format!(
            "a spot check is drawn on its own day: today is {today} (China time)"
        )));
    }
    if !crate::spotcheck::label_within(&state.store, &s.scope, &req.scope).await? {
        return Err(forbidden("that scope is not within yours"));
    }
    let check = crate::spotcheck::draw(
        &state.store,
        &state.key,
        &req.scope,
        &req.date,
        req.size,
        &format!("staff:{}", s.username),
        (state.clock)(),
    )
    .await
    .map_err(spot_failure)?;
    restrict(&state, &s, check).await.map(Json)
}

/// `POST /v1/staff/spot-checks/{id}/results` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpotResultRequest {
    /// The sampled learner's login name.
    pub learner: String,
    /// `video`, `phone` or `data`.
    pub method: String,
    /// `normal` or `abnormal`.
    pub result: String,
    /// What was found.
    #[serde(default)]
    pub note: String,
}

async fn record_spot_check(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    Path(id): Path<String>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<crate::spotcheck::SpotCheck>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    checks_spot(&s)?;
    spot_in_scope(&state, &s, &id).await?;
    let bytes = body.map_err(|e| bad(e.to_string()))?;
    let req: SpotResultRequest = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    if req.result == "abnormal" && req.note.trim().is_empty() {
        return Err(bad("say what was abnormal: a note is required"));
    }
    crate::spotcheck::record(
        &state.store,
        &id,
        &req.learner,
        &req.method,
        &req.result,
        &req.note,
        &format!("staff:{}", s.username),
        (state.clock)(),
    )
    .await
    .map_err(spot_failure)?;
    let check = crate::spotcheck::load(&state.store, &id)
        .await
        .map_err(spot_failure)?;
    restrict(&state, &s, check).await.map(Json)
}

/// `GET /v1/staff/plans` answer.
#[derive(Debug, Serialize)]
pub struct PlansResponse {
    /// The plans in scope.
    pub plans: Vec<crate::plans::Plan>,
}

async fn plans(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
) -> Result<Json<PlansResponse>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    let catalogue = crate::load_catalogue(&state.store).await?;
    let plans = crate::plans::list(&state.store, &catalogue, &s.scope).await?;
    Ok(Json(PlansResponse { plans }))
}

/// `POST /v1/staff/plans` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// The course.
    pub course: String,
    /// All class hours of the programme, online and offline.
    pub total_class_hours: u32,
}

async fn file_plan(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<crate::plans::Plan>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    if !matches!(
        s.role,
        StaffRole::Operator | StaffRole::Institution | StaffRole::Enterprise
    ) {
        return Err(forbidden(
            "training plans are filed by institutions, enterprises and the operator",
        ));
    }
    let bytes = body.map_err(|e| bad(e.to_string()))?;
    let req: PlanRequest = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let catalogue = crate::load_catalogue(&state.store).await?;
    let actor = format!("staff:{}", s.username);
    match crate::plans::create(
        &state.store,
        &catalogue,
        &s.scope,
        &req.course,
        req.total_class_hours,
        &actor,
        (state.clock)(),
    )
    .await
    {
        Ok(p) => Ok(Json(p)),
        Err(crate::plans::PlanError::NoCourse(c)) => Err(Failure::new(
            StatusCode::NOT_FOUND,
            ApiCode::NotFound,
            format!("no course {c:?} in your scope"),
        )),
        Err(e @ crate::plans::PlanError::TotalTooSmall { .. }) => Err(bad(e.to_string())),
        Err(e @ crate::plans::PlanError::OverCap { .. }) => Err(Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ApiCode::OnlineShareExceeded,
            e.to_string(),
        )),
        Err(crate::plans::PlanError::Store(e)) => Err(e.into()),
    }
}

async fn district_report(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    RawQuery(query): RawQuery,
) -> Result<Json<crate::reports::DistrictReport>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    supervises(&s, "the district report")?;
    let date = query_value(query.as_deref(), "date")
        .ok_or_else(|| bad("name a date: ?date=2026-12-12"))?;
    crate::reports::district_report(&state.store, &state.key, &s.scope, &date, (state.clock)())
        .await?
        .map(Json)
        .ok_or_else(|| bad(format!("{date:?} is not a date: write YYYY-MM-DD")))
}

async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    Path(table): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    use crate::export::{self, Format, Table};
    let s = staff(&state, &headers, &method).await?;
    let table = Table::parse(&table).ok_or_else(|| {
        Failure::new(
            StatusCode::NOT_FOUND,
            ApiCode::NotFound,
            "no such export: learners, hours, attendance, flags or settlement",
        )
    })?;
    if table == Table::Settlement {
        supervises(&s, "the settlement")?;
    }
    let q = query.as_deref();
    let format = match query_value(q, "format") {
        None => Format::Csv,
        Some(f) => Format::parse(&f).ok_or_else(|| bad("format is csv or xlsx"))?,
    };
    let req = export::ExportRequest {
        table,
        scope: s.scope.clone(),
        course: query_value(q, "course"),
        quarter: query_value(q, "quarter"),
        simulated: false,
    };
    if table == Table::Settlement {
        let valid = req
            .quarter
            .as_deref()
            .is_some_and(|q| crate::reports::quarter_range(q).is_some());
        if !valid {
            return Err(bad("name a quarter: ?quarter=2026Q4"));
        }
    }
    let now = (state.clock)();
    // Who took which personal data out (R-SV-2).
    let (institution, region) = match &s.scope {
        crate::staff::Scope::Institution(id) => (Some(id.as_str()), None),
        crate::staff::Scope::Region(r) => (None, Some(r.as_str())),
        crate::staff::Scope::All => (None, None),
    };
    let after = serde_json::json!({
        "format": format.extension(), "course": req.course, "quarter": req.quarter,
    });
    state
        .store
        .audit(
            &crate::staff::AuditRow {
                actor: &format!("staff:{}", s.username),
                action: &format!("export.{}", table.name()),
                target: table.name(),
                institution_id: institution,
                region,
                before: None,
                after: Some(&after),
            },
            now,
        )
        .await?;
    let signing = export::Signing {
        key: state.key.clone(),
        catalogue: std::sync::Arc::new(crate::load_catalogue(&state.store).await?),
    };
    let name = format!(
        "keshi-{}-{}.{}",
        table.name(),
        crate::calendar::day_label(crate::calendar::day_of(now)),
        format.extension()
    );
    let disposition = format!("attachment; filename=\"{name}\"");
    match format {
        Format::Csv => {
            // Rows → CSV on a blocking thread → 64 KiB chunks → the body. A failure
            // after the first byte ends the body with an error (the client sees a
            // broken transfer, never a short file that looks whole).
            let (rows_tx, rows_rx) = tokio::sync::mpsc::channel(1024);
            let (body_tx, mut body_rx) = tokio::sync::mpsc::channel(8);
            let writer_tx = body_tx.clone();
            let store = state.store.clone();
            tokio::spawn(async move {
                let writer = tokio::task::spawn_blocking(move || {
                    export::write_csv(table, rows_rx, export::ChunkWriter::new(writer_tx))
                });
                let produced = export::produce(&store, &signing, &req, now, rows_tx).await;
                let written = writer.await;
                let failure = match (produced, written) {
                    (Ok(_), Ok(Ok(_))) => None,
                    (Err(export::ExportError::Closed), _) => None, // the client left
                    (Err(e), _) => Some(e.to_string()),
                    (_, Ok(Err(e))) => Some(e.to_string()),
                    (_, Err(e)) => Some(e.to_string()),
                };
                if let Some(why) = failure {
                    tracing::warn!(table = table.name(), %why, "export failed");
                    let _ = body_tx.send(Err(std::io::Error::other(why))).await;
                }
            });
            let stream = futures_util::stream::poll_fn(move |cx| body_rx.poll_recv(cx));
            Ok((
                [
                    (header::CONTENT_TYPE, format.content_type().to_owned()),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                axum::body::Body::from_stream(stream),
            )
                .into_response())
        }
        Format::Xlsx => {
            // A workbook is a ZIP file: written whole to a temporary file in constant
            // memory, then streamed from it (the file is unlinked once open).
            let dir = std::env::temp_dir();
            let part = tempfile::NamedTempFile::new_in(&dir)
                .map_err(|e| crate::courses::internal("the export file", e))?;
            let (rows_tx, rows_rx) = tokio::sync::mpsc::channel(1024);
            let path = part.path().to_path_buf();
            let writer = tokio::task::spawn_blocking(move || {
                export::write_xlsx(table, rows_rx, &path, &dir)
            });
            let produced = export::produce(&state.store, &signing, &req, now, rows_tx).await;
            let written = writer
                .await
                .map_err(|e| crate::courses::internal("the export", e))?;
            produced.map_err(|e| crate::courses::internal("the export", e))?;
            written.map_err(|e| crate::courses::internal("the export", e))?;
            let file = tokio::fs::File::open(part.path())
                .await
                .map_err(|e| crate::courses::internal("the export file", e))?;
            let len = file
                .metadata()
                .await
                .map_err(|e| crate::courses::internal("the export file", e))?
                .len();
            drop(part);
            Ok((
                [
                    (header::CONTENT_TYPE, format.content_type().to_owned()),
                    (header::CONTENT_DISPOSITION, disposition),
                    (header::CONTENT_LENGTH, len.to_string()),
                ],
                axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file)),
            )
                .into_response())
        }
    }
}

/// How often the service re-runs the checks and the summary (R-SV-3: a daily
/// self-check at least).
pub const JOB_INTERVAL: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// The service's supervision job: every [`JOB_INTERVAL`] (the first a minute after
/// start), the course-farming checks over real study, then the results of every
/// course into `course_results`. Errors are logged and retried next time.
pub async fn run_jobs(store: crate::store::Store, clock: crate::api::Clock) {
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    let mut tick = tokio::time::interval(JOB_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = clock();
        let done = async {
            let catalogue = crate::load_catalogue(&store).await?;
            let new = crate::farming::run(&store, &catalogue, false, now).await?;
            let results = crate::results::summarise(
                &store,
                &catalogue,
                None,
                &crate::staff::Scope::All,
                false,
                now,
            )
            .await?;
            Ok::<_, crate::store::StoreError>((new, results.len()))
        }
        .await;
        match done {
            Ok((new, results)) => {
                tracing::info!(new, results, "supervision job: checks and results done")
            }
            Err(e) => {
                tracing::warn!(error = %e, "supervision job failed; retrying at the next interval")
            }
        }
    }
}
