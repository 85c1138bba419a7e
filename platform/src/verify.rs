//! The public certificate check (issue 13, R-AS-6): `GET /verify` is a page where
//! anyone — an employer, a labour bureau, the learner — drops a Keshi certificate
//! PDF or pastes the text of its QR code; `POST /v1/verify` answers whether this
//! platform issued it, unaltered (the checks of `keshi verify-certificate`, with
//! the platform's own key), and where it stands in the platform's records:
//! `issued`, `withdrawn` (a course-farming finding or an abnormal spot check was
//! confirmed since), `simulated` (a demo certificate, never paid), `purged` (the
//! learner's data was purged after the retention period), or `unknown`
//! (signed by this platform's key but not in its records: the database lost it —
//! the audit tool and a backup say how).
//!
//! No sign-in and nothing personal beyond what the certificate itself carries.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use keshi_protocol::certificate::{verify_pdf, verify_qr, CertificateStatement};
use serde::Serialize;
use sqlx::Row;

use crate::api::AppState;
use crate::store::{Store, StoreError};

const PAGE: &str = include_str!("../console/verify.html");
const SCRIPT: &str = include_str!("../console/verify.js");

/// Largest upload taken (an issued PDF is about 75 KB).
pub const MAX_BYTES: usize = 2 << 20;

/// Where an issued certificate stands in the platform's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Issued and standing.
    Issued,
    /// Issued, then withdrawn: a finding against the course confirmed since.
    Withdrawn,
    /// A demo platform's certificate of simulated study (never paid).
    Simulated,
    /// Issued, then purged with the learner's data after the retention period
    /// (R-SV-4): a tombstone names it.
    Purged,
    /// Signed by this platform, yet not in its records.
    Unknown,
}

/// `POST /v1/verify` answer.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyResponse {
    /// The signatures verify under this platform's key and nothing was altered.
    pub valid: bool,
    /// Why not: a stable code (`bad_signature`, `altered`, `not_keshi`, …).
    pub code: Option<String>,
    /// Why not, in words.
    pub message: Option<String>,
    /// The statement, when valid.
    pub statement: Option<CertificateStatement>,
    /// Where it stands, when valid.
    pub standing: Option<Standing>,
}

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/verify",
            get(|| async { crate::console::page(PAGE, "text/html; charset=utf-8") }),
        )
        .route(
            "/verify/verify.js",
            get(|| async { crate::console::page(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route("/v1/verify", post(verify))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BYTES))
}

/// Where the certificate `serial` stands.
pub async fn standing(store: &Store, serial: &str) -> Result<Standing, StoreError> {
    let Some(r) =
        sqlx::query("SELECT learner_id, course, simulated FROM certificates WHERE serial = $1")
            .bind(serial)
            .fetch_optional(&store.pool)
            .await?
    else {
        // Only tombstones whose text names the serial are read (the public check
        // never loads them all); the match is then exact.
        let escaped = serial
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let purged = sqlx::query(
            "SELECT statement FROM tombstones WHERE statement LIKE $1 ESCAPE '\\' LIMIT 20",
        )
        .bind(format!("%\"{escaped}\"%"))
        .fetch_all(&store.pool)
        .await?
        .iter()
        .filter_map(|r| r.try_get::<String, _>(0).ok())
        .filter_map(|t| serde_json::from_str::<crate::retention::TombstoneStatement>(&t).ok())
        .any(|t| t.certificates.iter().any(|c| c == serial));
        return Ok(if purged {
            Standing::Purged
        } else {
            Standing::Unknown
        });
    };
    if r.try_get::<i64, _>(2)? != 0 {
        return Ok(Standing::Simulated);
    }
    let learner: String = r.try_get(0)?;
    let course: String = r.try_get(1)?;
    Ok(
        if crate::reports::confirmed_findings(store, &learner, &course).await? > 0 {
            Standing::Withdrawn
        } else {
            Standing::Issued
        },
    )
}

/// Checks a certificate: the PDF's bytes, or its QR code's text.
pub async fn check(
    store: &Store,
    platform_key: &[u8; 32],
    body: &[u8],
) -> Result<VerifyResponse, StoreError> {
    let verified = if body.starts_with(b"%PDF-") {
        verify_pdf(body, platform_key)
    } else {
        match std::str::from_utf8(body) {
            Ok(text) => verify_qr(text.trim(), platform_key),
            Err(_) => Err(keshi_protocol::certificate::CertError::NotKeshi),
        }
    };
    Ok(match verified {
        Ok(statement) => VerifyResponse {
            valid: true,
            code: None,
            message: None,
            standing: Some(standing(store, &statement.serial).await?),
            statement: Some(statement),
        },
        Err(e) => VerifyResponse {
            valid: false,
            code: Some(e.code().to_owned()),
            message: Some(e.to_string()),
            statement: None,
            standing: None,
        },
    })
}

async fn verify(
    State(state): State<AppState>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<VerifyResponse>, crate::api::Failure> {
    let body = body.map_err(|e| {
        crate::api::Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            keshi_protocol::codes::ApiCode::BodyTooLarge,
            format!("a certificate is at most {MAX_BYTES} bytes: {e}"),
        )
    })?;
    let key = hex::decode(state.public_key_hex())
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| crate::courses::internal("the platform key", "not 32 bytes"))?;
    Ok(Json(check(&state.store, &key, &body).await?))
}
