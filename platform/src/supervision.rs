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
//! - `GET /v1/staff/settlement?quarter=YYYYQn` — operator, authorities, auditors.

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
        .route("/v1/staff/settlement", get(settlement))
}

fn forbidden(why: &str) -> Failure {
    Failure::new(StatusCode::FORBIDDEN, ApiCode::Forbidden, why)
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
    if matches!(s.role, StaffRole::Auditor) {
        return Err(forbidden(
            "auditors read; certificates are issued by institutions, authorities and the operator",
        ));
    }
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
        font,
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

async fn settlement(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    RawQuery(query): RawQuery,
) -> Result<Json<crate::reports::Settlement>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    if !matches!(
        s.role,
        StaffRole::Operator | StaffRole::Authority | StaffRole::Auditor
    ) {
        return Err(forbidden(
            "the settlement is for the operator, labour authorities and auditors",
        ));
    }
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
