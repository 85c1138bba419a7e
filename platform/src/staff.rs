//! Staff: accounts with a role and a scope, their sessions, the audit trail, and
//! the staff API (issue 12, R-SV-1).
//!
//! - **Scope is SQL.** Every staff query joins the learner's institution and adds
//!   the staff member's [`Scope`] as a condition with bound values: the operator
//!   sees everything, a labour authority or an auditor a region and everything
//!   under it (`shanxi` covers `shanxi/taiyuan`), an institution or an enterprise
//!   itself. Outside the scope a learner does not exist (404).
//! - **Sessions.** `POST /v1/staff/login` checks the Argon2id password behind its
//!   own [`crate::auth::LoginGuard`] (rate limit, lockout, a dummy hash for unknown
//!   users) and answers a session: an HttpOnly, SameSite=Strict cookie for the
//!   console and a bearer token for scripts. A request that changes data with the
//!   cookie must carry the session's anti-CSRF token in `X-CSRF-Token`.
//! - **Audit.** Every change of data by staff or by the administration command line
//!   appends an entry (who, what, when, before and after); the operator and
//!   auditors read it within their scope. Nothing updates or deletes an entry.

use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use keshi_protocol::codes::ApiCode;
use keshi_protocol::staff::{
    mask_id_number, AuditEntry, AuditResponse, LiveLearner, StaffLearner, StaffLearnerDetail,
    StaffLearners, StaffLive, StaffLoginRequest, StaffLoginResponse, StaffRole,
};
use sqlx::Row;

use crate::api::{body_json, check_password, token_hash, AppState, ClientAddr, Failure};
use crate::store::{random_id, Store, StoreError};

/// How long a staff session lasts.
pub const SESSION_MS: i64 = 8 * 3_600_000;
/// The session cookie.
pub const COOKIE: &str = "keshi_staff";
/// Learners or audit entries per page.
pub const PAGE: u32 = 500;

/// Where a staff member may look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything (the operator).
    All,
    /// A region and everything under it (`shanxi/taiyuan`).
    Region(String),
    /// One institution or enterprise, by id.
    Institution(String),
}

impl Scope {
    /// The SQL condition on the institutions alias `i`, with its values (bound from
    /// placeholder `$first` on).
    pub(crate) fn condition(&self, first: usize) -> (String, Vec<String>) {
        match self {
            Scope::All => ("1 = 1".into(), Vec::new()),
            Scope::Region(r) => (
                format!("(i.region = ${first} OR i.region LIKE ${})", first + 1),
                vec![r.clone(), format!("{r}/%")],
            ),
            Scope::Institution(id) => (format!("i.id = ${first}"), vec![id.clone()]),
        }
    }
}

/// A region path as stored: lower case, `/`-separated, no empty parts, and none of
/// SQL `LIKE`'s wildcards (`%`, `_`) or its escape.
pub fn normalize_region(region: &str) -> String {
    region
        .split('/')
        .map(|p| {
            p.chars()
                .filter(|c| !matches!(c, '%' | '_' | '\\'))
                .collect::<String>()
                .trim()
                .to_lowercase()
        })
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// A signed-in staff member.
#[derive(Debug, Clone)]
pub struct Staff {
    /// Id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: StaffRole,
    /// The scope as stored (`*`, a region, an institution id).
    pub scope_value: String,
    /// The scope.
    pub scope: Scope,
    /// The session's anti-CSRF token.
    pub csrf: String,
}

fn scope_of(role: StaffRole, value: &str) -> Scope {
    match role {
        StaffRole::Operator => Scope::All,
        StaffRole::Authority | StaffRole::Auditor => Scope::Region(value.to_owned()),
        StaffRole::Enterprise | StaffRole::Institution => Scope::Institution(value.to_owned()),
    }
}

/// Why a staff account cannot be created.
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    /// The storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No institution by that name or id.
    #[error("no institution {0:?}: create it first")]
    NoInstitution(String),
    /// A region scope that names nothing.
    #[error("a region scope needs a path such as shanxi/taiyuan")]
    EmptyRegion,
    /// The login name is taken.
    #[error("the staff login {0:?} is taken")]
    Taken(String),
}

impl Store {
    /// Creates a staff account: `scope` is a region path for authorities and
    /// auditors, an institution's name or id for institutions and enterprises, and
    /// ignored (`*`) for the operator. Audited as `staff.create` by `actor`.
    pub async fn create_staff(
        &self,
        actor: &str,
        username: &str,
        role: StaffRole,
        scope: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<String, StaffError> {
        let (value, institution, region) = match role {
            StaffRole::Operator => ("*".to_owned(), None, None),
            StaffRole::Authority | StaffRole::Auditor => {
                let r = normalize_region(scope);
                // `*` is the operator's; a region scope names a region.
                if r.is_empty() || r.contains('*') {
                    return Err(StaffError::EmptyRegion);
                }
                (r.clone(), None, Some(r))
            }
            StaffRole::Enterprise | StaffRole::Institution => {
                let row = sqlx::query("SELECT id FROM institutions WHERE id = $1 OR name = $1")
                    .bind(scope)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(StoreError::from)?
                    .ok_or_else(|| StaffError::NoInstitution(scope.to_owned()))?;
                let id: String = row.try_get(0).map_err(StoreError::from)?;
                (id.clone(), Some(id), None)
            }
        };
        let taken = sqlx::query("SELECT 1 FROM staff WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)?;
        if taken.is_some() {
            return Err(StaffError::Taken(username.to_owned()));
        }
        let id = random_id();
        let mut tx = self.begin_write().await.map_err(StoreError::from)?;
        sqlx::query(
            "INSERT INTO staff(id, username, role, scope, password_hash, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(username)
        .bind(role.as_str())
        .bind(&value)
        .bind(password_hash)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let after = serde_json::json!({"user": username, "role": role.as_str(), "scope": scope});
        append_audit(
            &mut tx,
            &AuditRow {
                actor,
                action: "staff.create",
                target: &format!("staff:{username}"),
                institution_id: institution.as_deref(),
                region: region.as_deref(),
                before: None,
                after: Some(&after),
            },
            now,
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(id)
    }

    /// A staff account's id and password hash by login name.
    pub async fn staff_password(
        &self,
        username: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query("SELECT id, password_hash FROM staff WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// Starts a session for staff `id`; returns its (role, scope value).
    pub async fn start_staff_session(
        &self,
        id: &str,
        token_hash: &str,
        csrf: &str,
        now: i64,
    ) -> Result<(StaffRole, String), StoreError> {
        sqlx::query("DELETE FROM staff_sessions WHERE expires_ms < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO staff_sessions(token_hash, staff_id, csrf, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(id)
        .bind(csrf)
        .bind(now)
        .bind(now + SESSION_MS)
        .execute(&self.pool)
        .await?;
        let r = sqlx::query("SELECT role, scope FROM staff WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        let role: String = r.try_get(0)?;
        let role = StaffRole::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("staff role {role:?}")))?;
        Ok((role, r.try_get(1)?))
    }

    /// The staff member of a live session.
    pub async fn staff_session(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<Staff>, StoreError> {
        let row = sqlx::query(
            "SELECT s.id, s.username, s.role, s.scope, x.csrf FROM staff_sessions x \
             JOIN staff s ON s.id = x.staff_id WHERE x.token_hash = $1 AND x.expires_ms > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let role: String = r.try_get(2)?;
        let role = StaffRole::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("staff role {role:?}")))?;
        let scope_value: String = r.try_get(3)?;
        Ok(Some(Staff {
            id: r.try_get(0)?,
            username: r.try_get(1)?,
            role,
            scope: scope_of(role, &scope_value),
            scope_value,
            csrf: r.try_get(4)?,
        }))
    }

    /// Ends a session.
    pub async fn end_staff_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM staff_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The learners in `scope` by login name after `after`, at most `limit`.
    pub async fn learners_in_scope(
        &self,
        scope: &Scope,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(String, StaffLearner)>, StoreError> {
        let (cond, values) = scope.condition(2);
        let sql = format!(
            "SELECT l.id, l.username, l.real_name, l.id_number, i.name, l.class FROM learners l \
             JOIN institutions i ON i.id = l.institution_id WHERE l.username > $1 AND {cond} \
             ORDER BY l.username LIMIT {limit}"
        );
        let mut q = sqlx::query(&sql).bind(after);
        for v in &values {
            q = q.bind(v);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| learner_row(&self.data_key, r))
            .collect()
    }

    /// One learner by login name, if in `scope`: (learner id, the row).
    pub async fn learner_in_scope(
        &self,
        scope: &Scope,
        user: &str,
    ) -> Result<Option<(String, StaffLearner)>, StoreError> {
        let (cond, values) = scope.condition(2);
        let sql = format!(
            "SELECT l.id, l.username, l.real_name, l.id_number, i.name, l.class FROM learners l \
             JOIN institutions i ON i.id = l.institution_id WHERE l.username = $1 AND {cond}"
        );
        let mut q = sqlx::query(&sql).bind(user);
        for v in &values {
            q = q.bind(v);
        }
        q.fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(|r| learner_row(&self.data_key, r))
            .transpose()
    }

    /// Learners in `scope` with an online lease at `now` (not revoked, not past its
    /// online expiry), by login name after `after`, at most `limit`, with their
    /// device's fold state (JSON, for the open course and the last contact).
    pub async fn live_in_scope(
        &self,
        scope: &Scope,
        now: i64,
        after: &str,
        limit: u32,
    ) -> Result<Vec<LiveRow>, StoreError> {
        let (cond, values) = scope.condition(3);
        let sql = format!(
            "SELECT l.id, l.username, l.real_name, l.id_number, i.name, x.device_id, x.expires_ms, f.state, l.face_photo_ref, l.class \
             FROM leases x JOIN learners l ON l.id = x.learner_id \
             JOIN institutions i ON i.id = l.institution_id \
             LEFT JOIN device_folds f ON f.device_id = x.device_id \
             WHERE x.expires_ms > $1 AND x.revoked_ms IS NULL AND l.username > $2 AND {cond} \
             ORDER BY l.username LIMIT {limit}"
        );
        let mut q = sqlx::query(&sql).bind(now).bind(after);
        for v in &values {
            q = q.bind(v);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                let (id, learner) = learner_row(&self.data_key, r)?;
                Ok(LiveRow {
                    learner_id: id,
                    learner,
                    device_id: r.try_get(5)?,
                    expires_ms: r.try_get(6)?,
                    fold: r.try_get(7)?,
                    face_photo_ref: r.try_get(8)?,
                })
            })
            .collect()
    }

    /// Capture photos received from these learners since `since_ms`, newest first:
    /// learner id → SHA-256s.
    pub async fn photos_since(
        &self,
        learner_ids: &[String],
        since_ms: i64,
    ) -> Result<std::collections::HashMap<String, Vec<String>>, StoreError> {
        let mut out: std::collections::HashMap<String, Vec<String>> =
            std::collections::HashMap::new();
        for chunk in learner_ids.chunks(500) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT learner_id, sha256 FROM captures WHERE stored_ms >= $1 AND learner_id IN ({}) \
                 ORDER BY stored_ms DESC",
                marks.join(", ")
            );
            let mut q = sqlx::query(&sql).bind(since_ms);
            for id in chunk {
                q = q.bind(id);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.entry(r.try_get(0)?).or_default().push(r.try_get(1)?);
            }
        }
        Ok(out)
    }

    /// Appends an audit entry on its own (the administration command line).
    pub async fn audit(&self, row: &AuditRow<'_>, now: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        append_audit(&mut tx, row, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest audit entries in `scope` before `before_ms`, at most `limit`.
    pub async fn audit_in_scope(
        &self,
        scope: &Scope,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        // An entry is in a region's scope by its institution's region or its own.
        let (cond, values) = match scope {
            Scope::All => ("1 = 1".to_owned(), Vec::new()),
            Scope::Region(r) => (
                "(i.region = $2 OR i.region LIKE $3 OR a.region = $2 OR a.region LIKE $3)"
                    .to_owned(),
                vec![r.clone(), format!("{r}/%")],
            ),
            Scope::Institution(id) => ("a.institution_id = $2".to_owned(), vec![id.clone()]),
        };
        let sql = format!(
            "SELECT a.at_ms, a.actor, a.action, a.target, a.before_json, a.after_json FROM audit a \
             LEFT JOIN institutions i ON i.id = a.institution_id WHERE a.at_ms < $1 AND {cond} \
             ORDER BY a.at_ms DESC, a.id LIMIT {limit}"
        );
        let mut q = sqlx::query(&sql).bind(before_ms);
        for v in &values {
            q = q.bind(v);
        }
        let json = |s: Option<String>| s.and_then(|t| serde_json::from_str(&t).ok());
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    at_ms: r.try_get(0)?,
                    actor: r.try_get(1)?,
                    action: r.try_get(2)?,
                    target: r.try_get(3)?,
                    before: json(r.try_get(4)?),
                    after: json(r.try_get(5)?),
                })
            })
            .collect()
    }
}

/// A learner row for staff: the ID number decrypted (R-SV-2), then masked — staff
/// never see it whole (R-ID-1).
fn learner_row(
    key: &crate::datakey::DataKey,
    r: &sqlx::any::AnyRow,
) -> Result<(String, StaffLearner), StoreError> {
    let id: String = r.try_get(0)?;
    let id_number = key.decrypt("id_number", &id, &r.try_get::<String, _>(3)?)?;
    Ok((
        id,
        StaffLearner {
            user: r.try_get(1)?,
            real_name: r.try_get(2)?,
            id_number: mask_id_number(&id_number),
            institution: r.try_get(4)?,
            class: r.try_get("class")?,
        },
    ))
}

/// A learner online now, as the live view reads it.
#[derive(Debug, Clone)]
pub struct LiveRow {
    /// Learner id.
    pub learner_id: String,
    /// The learner as staff see them.
    pub learner: StaffLearner,
    /// The lease's device.
    pub device_id: String,
    /// The online lease's end.
    pub expires_ms: i64,
    /// The device's fold (JSON), if any.
    pub fold: Option<String>,
    /// The enrolment face photo's reference.
    pub face_photo_ref: Option<String>,
}

/// Whether a face photo reference names a blob (a SHA-256), not an outside file.
pub fn photo_blob(reference: Option<&str>) -> Option<&str> {
    reference.filter(|r| r.len() == 64 && r.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// One audit entry to append.
#[derive(Debug)]
pub struct AuditRow<'a> {
    /// `staff:<user>` or `cli`.
    pub actor: &'a str,
    /// What was done (`learner.create`, …).
    pub action: &'a str,
    /// To what.
    pub target: &'a str,
    /// The institution concerned (scopes the entry).
    pub institution_id: Option<&'a str>,
    /// The region concerned, when no institution is.
    pub region: Option<&'a str>,
    /// Before.
    pub before: Option<&'a serde_json::Value>,
    /// After.
    pub after: Option<&'a serde_json::Value>,
}

pub(crate) async fn append_audit(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    row: &AuditRow<'_>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit(id, at_ms, actor, action, target, institution_id, region, before_json, after_json) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(random_id())
    .bind(now)
    .bind(row.actor)
    .bind(row.action)
    .bind(row.target)
    .bind(row.institution_id.map(str::to_owned))
    .bind(row.region.map(str::to_owned))
    .bind(row.before.map(|v| v.to_string()))
    .bind(row.after.map(|v| v.to_string()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The staff API's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/staff/login", post(login))
        .route("/v1/staff/logout", post(logout))
        .route("/v1/staff/learners", get(learners))
        .route("/v1/staff/learners/{user}", get(learner))
        .route("/v1/staff/audit", get(audit))
        .route("/v1/staff/live", get(live))
}

fn unauthenticated(message: &str) -> Failure {
    Failure::new(StatusCode::UNAUTHORIZED, ApiCode::Unauthenticated, message)
}

fn not_found() -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        ApiCode::NotFound,
        "no such learner in your scope",
    )
}

/// The session token of a request: the bearer token, else the cookie (and whether
/// it came from the cookie).
fn session_token(headers: &HeaderMap) -> Option<(String, bool)> {
    if let Some(t) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some((t.trim().to_owned(), false));
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| (v.to_owned(), true))
}

/// The signed-in staff member; a request that changes data with the cookie must
/// carry the session's anti-CSRF token.
pub(crate) async fn staff(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Staff, Failure> {
    let (token, from_cookie) =
        session_token(headers).ok_or_else(|| unauthenticated("sign in as staff"))?;
    let now = (state.clock)();
    let s = state
        .store
        .staff_session(&token_hash(&token), now)
        .await?
        .ok_or_else(|| unauthenticated("the staff session is unknown or ended; sign in again"))?;
    let changes = !matches!(*method, Method::GET | Method::HEAD);
    if changes && from_cookie {
        let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
        if sent != Some(s.csrf.as_str()) {
            return Err(Failure::new(
                StatusCode::FORBIDDEN,
                ApiCode::Forbidden,
                "missing or wrong X-CSRF-Token",
            ));
        }
    }
    Ok(s)
}

async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, Failure> {
    let req: StaffLoginRequest = body_json(body)?;
    let guard = state.staff_guard.clone();
    let id = check_password(
        &state,
        &guard,
        addr,
        &req.user,
        &req.password,
        |store, user| async move {
            Ok(store
                .staff_password(&user)
                .await?
                .map(|(id, hash)| (hash, id)))
        },
    )
    .await?;
    let user = req.user.trim().to_owned();
    let now = (state.clock)();
    let token = crate::auth::new_token();
    let csrf = crate::auth::new_token();
    let (role, scope) = state
        .store
        .start_staff_session(&id, &token_hash(&token), &csrf, now)
        .await?;
    tracing::info!(staff = %user, role = %role, "staff signed in");
    let cookie = format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        SESSION_MS / 1000
    );
    let body = StaffLoginResponse {
        token,
        csrf,
        role,
        scope,
        expires_ms: now + SESSION_MS,
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
) -> Result<Response, Failure> {
    staff(&state, &headers, &method).await?;
    if let Some((token, _)) = session_token(&headers) {
        state.store.end_staff_session(&token_hash(&token)).await?;
    }
    let cookie = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    Ok(([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response())
}

/// `name=value` pairs of a query.
pub(crate) fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
}

/// A query value as sent (`%XX` and `+` decoded; an invalid escape is kept as it
/// is): an institution's name in Chinese arrives percent-encoded.
fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let escaped = (b[i] == b'%')
            .then(|| b.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (escaped, b[i]) {
            (Some(x), _) => {
                out.push(x);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, c) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn learners(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    RawQuery(query): RawQuery,
) -> Result<Json<StaffLearners>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    let after = query_value(query.as_deref(), "after").unwrap_or_default();
    let learners = state
        .store
        .learners_in_scope(&s.scope, &after, PAGE)
        .await?
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    Ok(Json(StaffLearners { learners }))
}

async fn learner(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    Path(user): Path<String>,
) -> Result<Json<StaffLearnerDetail>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    let (id, learner) = state
        .store
        .learner_in_scope(&s.scope, &user)
        .await?
        .ok_or_else(not_found)?;
    let catalogue = state.catalogue_for(&[]).await?;
    let sum = crate::summary_for(&state.store, &catalogue, &id, true).await?;
    Ok(Json(StaffLearnerDetail {
        learner,
        credited_seconds: sum.credited_seconds,
        class_hours_completed: sum.class_hours_completed,
        records: sum.records,
        flags_total: sum.flags_total,
    }))
}

async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    RawQuery(query): RawQuery,
) -> Result<Json<AuditResponse>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    if !matches!(s.role, StaffRole::Operator | StaffRole::Auditor) {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            ApiCode::Forbidden,
            "the audit trail is for the operator and auditors",
        ));
    }
    let before = before_ms(query.as_deref())?;
    let entries = state.store.audit_in_scope(&s.scope, before, PAGE).await?;
    Ok(Json(AuditResponse { entries }))
}

/// The `before_ms` of a page request (`i64::MAX` when absent).
pub(crate) fn before_ms(query: Option<&str>) -> Result<i64, Failure> {
    match query_value(query, "before_ms") {
        Some(v) => v.parse::<i64>().map_err(|_| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                ApiCode::MalformedBody,
                "before_ms must be a whole number",
            )
        }),
        None => Ok(i64::MAX),
    }
}

/// A learner counts as being credited now when the last credited segment ended
/// this recently.
pub const LIVE_CREDITING_MS: i64 = 3 * 60_000;

/// Learners online now per page of the live view.
pub const LIVE_PAGE: u32 = 1_000;

async fn live(
    State(state): State<AppState>,
    headers: HeaderMap,
    method: Method,
    RawQuery(query): RawQuery,
) -> Result<Json<StaffLive>, Failure> {
    let s = staff(&state, &headers, &method).await?;
    let after = query_value(query.as_deref(), "after").unwrap_or_default();
    let now = (state.clock)();
    let ttl = state.config.lease_ttl_ms;
    let rows = state
        .store
        .live_in_scope(&s.scope, now, &after, LIVE_PAGE)
        .await?;
    let ids: Vec<String> = rows.iter().map(|r| r.learner_id.clone()).collect();
    let mut photos = state
        .store
        .photos_since(&ids, crate::calendar::day_start(now))
        .await?;
    let catalogue = state.catalogue_for(&[]).await?;
    let online = rows
        .into_iter()
        .map(|row| {
            let LiveRow {
                learner_id,
                learner,
                device_id,
                expires_ms,
                fold,
                face_photo_ref,
            } = row;
            let fold: crate::replay::DeviceFold = fold
                .and_then(|j| serde_json::from_str(&j).ok())
                .unwrap_or_default();
            // A heartbeat or login renews the online lease to now + ttl.
            let renewed = expires_ms.saturating_sub(ttl);
            let contact = fold.contacts.iter().map(|c| c.at_ms).max().unwrap_or(0);
            let course = fold.active.map(|(c, _)| c);
            let lesson = course
                .as_deref()
                .and_then(|c| catalogue.get(c))
                .zip(fold.last_segment.as_ref())
                .and_then(|(p, seg)| {
                    let pos = Duration::from_millis(seg.pos_ms).as_secs_f64();
                    p.course
                        .lesson_at(pos)
                        .and_then(|(i, _)| p.course.lessons.get(i))
                        .map(|l| l.title.clone())
                });
            let (crediting, why_not) = match &fold.last_segment {
                None => (false, Some("no_study_yet".to_owned())),
                Some(seg) if seg.why_not.is_some() => (false, seg.why_not.clone()),
                Some(seg) if now.saturating_sub(seg.end_ms) > LIVE_CREDITING_MS => {
                    (false, Some("no_recent_study".to_owned()))
                }
                Some(_) => (true, None),
            };
            LiveLearner {
                learner,
                device_id,
                course,
                lesson,
                crediting,
                why_not,
                last_contact_ms: renewed.max(contact).max(fold.floor_ms),
                online_until_ms: expires_ms,
                photos_today: photos.remove(&learner_id).unwrap_or_default(),
                enrolment_photo: photo_blob(face_photo_ref.as_deref()).is_some(),
            }
        })
        .collect();
    Ok(Json(StaffLive {
        now_ms: now,
        online,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(
            query_value(Some("a=1&institution=%E5%A4%AA%E5%8E%9F+x"), "institution").as_deref(),
            Some("太原 x")
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%41"), "A");
    }

    #[test]
    fn regions_are_normalized_paths() {
        assert_eq!(normalize_region(" Shanxi / Taiyuan/ "), "shanxi/taiyuan");
        assert_eq!(normalize_region("//"), "");
        assert_eq!(normalize_region("sh%anxi/_"), "shanxi");
    }

    #[test]
    fn a_region_covers_its_own_and_what_lies_under_it_only() {
        let (cond, values) = Scope::Region("shanxi".into()).condition(2);
        assert_eq!(cond, "(i.region = $2 OR i.region LIKE $3)");
        assert_eq!(values, vec!["shanxi".to_owned(), "shanxi/%".to_owned()]);
    }
}
