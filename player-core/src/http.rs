//! The platform's HTTP transport and login (feature `http`): shared by the `keshi`
//! CLI and the desktop app, so neither re-implements how a lease is checked and stored.
//!
//! The sync logic (outbox, batching, backoff, stop states) is [`crate::sync`]; this
//! module only moves bytes (reqwest, blocking) and keeps lease and token in the
//! journal's `sync_state` (R-ID-3).

use std::time::Duration;

use crate::codes::ApiCode;
use crate::journal::{Journal, JournalError};
use crate::sync::{self, SyncStatus, Transport, TransportError};
use crate::wire::{
    ApiError, HeartbeatResponse, LoginRequest, LoginResponse, PushRequest, PushResponse,
};

/// Why a login did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// The platform said no (wrong password, unknown user, disabled account…).
    #[error("login refused: {} ({})", .0.message, .0.code)]
    Refused(ApiError),
    /// The platform could not be reached, or failed.
    #[error("the platform could not be reached: {0}")]
    Unreachable(String),
    /// The platform's answer cannot be trusted (bad key, bad signature, wrong device).
    #[error("the platform's answer cannot be trusted: {0}")]
    Untrusted(String),
    /// Storing the lease failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// How long one media download request may take; a larger file resumes where the
/// cut left it.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// HTTP transport over reqwest's blocking client.
#[derive(Debug)]
pub struct HttpTransport {
    base: String,
    client: reqwest::blocking::Client,
    /// For downloads: a longer timeout (a file cut by it resumes).
    streaming: reqwest::blocking::Client,
}

impl HttpTransport {
    /// A client for `base` with a per-request timeout.
    pub fn new(base: &str, timeout: Duration) -> Result<HttpTransport, TransportError> {
        let client = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .build()
            .map_err(|e| TransportError::Retryable(format!("building the HTTP client: {e}")))?;
        let streaming = reqwest::blocking::Client::builder()
            .timeout(DOWNLOAD_TIMEOUT.max(timeout))
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .build()
            .map_err(|e| TransportError::Retryable(format!("building the HTTP client: {e}")))?;
        Ok(HttpTransport {
            base: base.trim_end_matches('/').to_owned(),
            client,
            streaming,
        })
    }

    /// The platform's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// POSTs `body` (JSON) to `path` and parses the JSON answer. 5xx, 429, network
    /// errors and unreadable answers are retryable; other statuses are refusals
    /// carrying the platform's `{code, message}`.
    pub fn call<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<T, TransportError> {
        self.request(
            self.client.post(format!("{}{path}", self.base)),
            token,
            body,
        )
    }

    /// GETs `path` (with its query) and parses the JSON answer, like [`Self::call`].
    pub fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> Result<T, TransportError> {
        self.request(self.client.get(format!("{}{path}", self.base)), token, None)
    }

    fn request<T: serde::de::DeserializeOwned>(
        &self,
        mut req: reqwest::blocking::RequestBuilder,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<T, TransportError> {
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req
            .send()
            .map_err(|e| TransportError::Retryable(format!("request failed: {e}")))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .map_err(|e| TransportError::Retryable(format!("reading the answer failed: {e}")))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                TransportError::Retryable(format!("unreadable answer ({status}): {e}"))
            });
        }
        Err(failure(status, &bytes))
    }

    /// POSTs `body` (JSON) to `path` expecting an empty answer (`204`).
    pub fn post_empty(&self, path: &str, body: Vec<u8>) -> Result<(), TransportError> {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .map_err(|e| TransportError::Retryable(format!("request failed: {e}")))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .map_err(|e| TransportError::Retryable(format!("reading the answer failed: {e}")))?;
        if status.is_success() {
            return Ok(());
        }
        Err(failure(status, &bytes))
    }

    /// GETs `path` and answers the body's bytes (errors as [`Self::call`]).
    pub fn get_bytes(&self, path: &str, token: Option<&str>) -> Result<Vec<u8>, TransportError> {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .map_err(|e| TransportError::Retryable(format!("request failed: {e}")))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .map_err(|e| TransportError::Retryable(format!("reading the answer failed: {e}")))?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        Err(failure(status, &bytes))
    }

    /// GETs `path` from byte `from` on (`Range`, when `from > 0`) and answers the
    /// response to stream (200, 206 or 416); other statuses are errors as in
    /// [`Self::call`]. One request may take 10 minutes; a cut one resumes.
    pub fn get_range(
        &self,
        path: &str,
        token: &str,
        from: u64,
    ) -> Result<reqwest::blocking::Response, TransportError> {
        let mut req = self
            .streaming
            .get(format!("{}{path}", self.base))
            .bearer_auth(token);
        if from > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={from}-"));
        }
        let resp = req
            .send()
            .map_err(|e| TransportError::Retryable(format!("request failed: {e}")))?;
        let status = resp.status();
        if status.is_success() || status.as_u16() == 416 {
            return Ok(resp);
        }
        let bytes = resp.bytes().unwrap_or_default();
        Err(failure(status, &bytes))
    }
}

/// A platform's error answer as a transport error: 5xx and 429 are retryable,
/// others refusals with the platform's `{code, message}`.
fn failure(status: reqwest::StatusCode, bytes: &[u8]) -> TransportError {
    if status.is_server_error() || status.as_u16() == 429 {
        return TransportError::Retryable(format!(
            "platform answered {status}: {}",
            String::from_utf8_lossy(bytes)
                .chars()
                .take(200)
                .collect::<String>()
        ));
    }
    let error = serde_json::from_slice::<ApiError>(bytes).unwrap_or_else(|_| ApiError {
        code: ApiCode::Unrecognised,
        message: format!(
            "HTTP {}: {}",
            status.as_u16(),
            String::from_utf8_lossy(bytes)
                .chars()
                .take(200)
                .collect::<String>()
        ),
        seq: None,
        acknowledged: None,
        retryable: false,
    });
    TransportError::Refused {
        status: status.as_u16(),
        error,
    }
}

impl Transport for HttpTransport {
    fn push(&mut self, token: &str, request: &PushRequest) -> Result<PushResponse, TransportError> {
        let body = serde_json::to_vec(request)
            .map_err(|e| TransportError::Retryable(format!("encoding the batch: {e}")))?;
        self.call("/v1/records", Some(token), Some(body))
    }

    fn put_photo(
        &mut self,
        token: &str,
        sha256: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), TransportError> {
        let resp = self
            .client
            .put(format!("{}/v1/captures/{sha256}", self.base))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .map_err(|e| TransportError::Retryable(format!("request failed: {e}")))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let body = resp.bytes().unwrap_or_default();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(TransportError::Retryable(format!(
                "platform answered {status}"
            )));
        }
        let error = serde_json::from_slice::<ApiError>(&body).unwrap_or_else(|_| ApiError {
            code: ApiCode::Unrecognised,
            message: format!("HTTP {}", status.as_u16()),
            seq: None,
            acknowledged: None,
            retryable: false,
        });
        Err(TransportError::Refused {
            status: status.as_u16(),
            error,
        })
    }
}

/// Sets the first password of a learner imported without one
/// (`POST /v1/password/first`), proving who they are with the ID number and phone
/// on record. Then the learner signs in as usual.
pub fn set_first_password(
    platform: &str,
    request: &crate::wire::FirstPasswordRequest,
    timeout: Duration,
) -> Result<(), LoginError> {
    let http = HttpTransport::new(platform, timeout)
        .map_err(|e| LoginError::Unreachable(e.to_string()))?;
    let body = serde_json::to_vec(request)
        .map_err(|e| LoginError::Unreachable(format!("encoding the request: {e}")))?;
    match http.post_empty("/v1/password/first", body) {
        Ok(()) => Ok(()),
        Err(TransportError::Refused { error, .. }) => Err(LoginError::Refused(error)),
        Err(TransportError::Retryable(e)) => Err(LoginError::Unreachable(e)),
    }
}

/// The device that signs in: its key, its journal head (anchors its later records
/// to the platform's clock) and whether `keshi simulate` made it.
#[derive(Debug, Clone, Copy)]
pub struct LoginDevice {
    /// Ed25519 public key.
    pub public_key: [u8; 32],
    /// The journal's head seq.
    pub head_seq: u64,
    /// The hash of the record at `head_seq` (a commitment, see
    /// [`LoginRequest::head_hash`]).
    pub head_hash: Option<[u8; 32]>,
    /// A simulated key (`keshi simulate`).
    pub simulated: bool,
}

impl LoginDevice {
    /// The device that signs `journal` (simulated when the journal says so).
    pub fn of(journal: &Journal) -> Result<LoginDevice, JournalError> {
        Ok(LoginDevice {
            public_key: journal.public_key(),
            head_seq: journal.len(),
            head_hash: journal.head().map(|(_, h)| h.0),
            simulated: journal.sync_state(sync::KEY_SIMULATED)?.as_deref() == Some("true"),
        })
    }
}

/// Logs `user` in at `platform` with the device key `public_key` (network only: no
/// journal is held while the request runs) and checks the answer: the platform's
/// key (when the brand pins one), its offline-lease signature and that the enrolled
/// device is this key's.
pub fn login_request(
    platform: &str,
    user: &str,
    password: &str,
    device: &LoginDevice,
    pinned_key: Option<&[u8; 32]>,
    timeout: Duration,
) -> Result<LoginResponse, LoginError> {
    let public_key = &device.public_key;
    let http = HttpTransport::new(platform, timeout)
        .map_err(|e| LoginError::Unreachable(e.to_string()))?;
    let body = serde_json::to_vec(&LoginRequest {
        user: user.to_owned(),
        password: password.to_owned(),
        public_key: hex::encode(public_key),
        head_seq: Some(device.head_seq),
        head_hash: device.head_hash.map(hex::encode),
        simulated: device.simulated,
    })
    .map_err(|e| LoginError::Unreachable(format!("encoding the request: {e}")))?;
    let lease: LoginResponse = match http.call("/v1/login", None, Some(body)) {
        Ok(l) => l,
        Err(TransportError::Refused { error, .. }) => return Err(LoginError::Refused(error)),
        Err(TransportError::Retryable(e)) => return Err(LoginError::Unreachable(e)),
    };
    let platform_key: [u8; 32] = hex::decode(&lease.platform_public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| LoginError::Untrusted("malformed platform public key".into()))?;
    if let Some(pinned) = pinned_key {
        if pinned != &platform_key {
            return Err(LoginError::Untrusted(format!(
                "the platform's key {} is not the one this app's brand pins ({})",
                lease.platform_public_key,
                hex::encode(pinned)
            )));
        }
    }
    if !lease.offline_lease.verify(&platform_key) {
        return Err(LoginError::Untrusted(
            "the offline lease signature does not verify".into(),
        ));
    }
    let device = crate::record::DeviceId::from_public_key(public_key);
    if lease.device_id != device.to_hex() {
        return Err(LoginError::Untrusted(format!(
            "the platform enrolled device {}, but this key is device {device}",
            lease.device_id
        )));
    }
    Ok(lease)
}

/// Stores a checked lease in the journal's `sync_state` (R-ID-3).
pub fn store_login(
    journal: &mut Journal,
    platform: &str,
    lease: &LoginResponse,
    local_now_ms: i64,
) -> Result<(), LoginError> {
    let lease_json = serde_json::to_string(lease)
        .map_err(|e| LoginError::Untrusted(format!("lease does not encode: {e}")))?;
    journal.set_sync_state(sync::KEY_TOKEN, &lease.token)?;
    journal.set_sync_state(sync::KEY_LEASE, &lease_json)?;
    journal.set_sync_state(sync::KEY_PLATFORM, platform)?;
    journal.set_sync_state(
        crate::sync::KEY_PLATFORM_PUBLIC_KEY,
        &lease.platform_public_key,
    )?;
    if !lease.draw_seed.is_empty() {
        journal.set_sync_state(sync::KEY_DRAW_SEED, &lease.draw_seed)?;
    }
    // The platform's word on what it holds (lower than ours: it lost data; re-send).
    let ack = lease.acknowledged.min(journal.len());
    journal.set_sync_state(sync::KEY_ACKNOWLEDGED, &ack.to_string())?;
    journal.set_sync_state(sync::KEY_STATUS, "logged_in")?;
    if lease.server_ms != 0 {
        sync::store_clock_offset(journal, lease.server_ms, local_now_ms)?;
    }
    Ok(())
}

/// [`login_request`] then [`store_login`] (the CLI, which holds the journal alone).
pub fn login(
    journal: &mut Journal,
    platform: &str,
    user: &str,
    password: &str,
    timeout: Duration,
) -> Result<LoginResponse, LoginError> {
    let device = LoginDevice::of(journal)?;
    let lease = login_request(platform, user, password, &device, None, timeout)?;
    store_login(journal, platform, &lease, crate::clock::wall_now_ms())?;
    Ok(lease)
}

/// What a heartbeat found.
#[derive(Debug, Clone, PartialEq)]
pub enum Heartbeat {
    /// The lease was renewed.
    Renewed,
    /// The platform could not be reached: study goes on under the offline lease.
    Offline(String),
    /// No lease is stored: log in first.
    NotLoggedIn,
    /// The platform refused (revoked lease, unknown device…); already journaled when
    /// the lease was revoked.
    Refused(SyncStatus, ApiError),
}

/// Renews the lease; on revocation journals it (R-ID-3).
pub fn heartbeat(
    journal: &mut Journal,
    http: &HttpTransport,
    wall_now_ms: i64,
) -> Result<Heartbeat, JournalError> {
    let Some(token) = journal.sync_state(sync::KEY_TOKEN)? else {
        return Ok(Heartbeat::NotLoggedIn);
    };
    let body = serde_json::to_vec(&crate::wire::HeartbeatRequest {
        head_seq: Some(journal.len()),
        head_hash: journal.head().map(|(_, h)| h.to_hex()),
    })
    .ok();
    match http.call::<HeartbeatResponse>("/v1/heartbeat", Some(&token), body) {
        Ok(hb) => {
            if hb.server_ms != 0 {
                sync::store_clock_offset(journal, hb.server_ms, wall_now_ms)?;
            }
            Ok(Heartbeat::Renewed)
        }
        Err(TransportError::Refused { error, .. }) => {
            let status = sync::classify_refusal(&error);
            if status == SyncStatus::LeaseRevoked {
                sync::journal_revocation(journal, &error, wall_now_ms)?;
            }
            journal.set_sync_state(sync::KEY_STATUS, status.as_str())?;
            Ok(Heartbeat::Refused(status, error))
        }
        Err(e) => {
            tracing::info!(error = %e, "heartbeat failed; studying offline under the offline lease");
            Ok(Heartbeat::Offline(e.to_string()))
        }
    }
}

/// Asks the platform to countersign `proposed` snapshots
/// (`POST /v1/progress/snapshots`); returns those it signed, each checked: signed by
/// the platform key learnt at login, addressed to this device, and the snapshot
/// proposed. Others are dropped with a warning. For [`crate::retention::retain`].
pub fn countersign_snapshots(
    journal: &Journal,
    http: &HttpTransport,
    proposed: Vec<crate::fact::ProgressSnapshot>,
) -> Result<Vec<crate::fact::ProgressSnapshot>, FetchGradesError> {
    let (Some(token), Some(key)) = (
        journal.sync_state(sync::KEY_TOKEN)?,
        journal.platform_key()?,
    ) else {
        return Ok(Vec::new());
    };
    if proposed.is_empty() {
        return Ok(Vec::new());
    }
    let device = journal.device_id().to_hex();
    let body = serde_json::to_vec(&crate::wire::SnapshotsRequest {
        snapshots: proposed.clone(),
    })
    .map_err(|e| TransportError::Retryable(format!("snapshots do not encode: {e}")))?;
    let answer: crate::wire::SnapshotsResponse =
        http.call("/v1/progress/snapshots", Some(&token), Some(body))?;
    Ok(answer
        .snapshots
        .into_iter()
        .filter(|s| {
            let asked = proposed
                .iter()
                .any(|p| p.course == s.course && p.up_to_seq == s.up_to_seq && p.progress == s.progress);
            let ok = asked && s.device_id.as_deref() == Some(device.as_str()) && s.verify(&key);
            if !ok {
                tracing::warn!(course = %s.course, "a countersigned snapshot that does not check out was dropped");
            }
            ok
        })
        .collect())
}

/// The platform's grades of this device's quiz answers not yet journaled (after
/// `sync_state.graded_seq`), each checked: signed by the platform key learnt at login
/// and addressed to this device. Grades that fail the check are dropped with a
/// warning (a hostile server or proxy cannot pass a quiz for the learner).
///
/// Returns the grades and the highest seq the platform answered for; once the
/// grades are journaled, that seq goes to `sync_state.graded_seq`
/// ([`sync::KEY_GRADED_SEQ`]).
pub fn fetch_grades(
    journal: &Journal,
    http: &HttpTransport,
) -> Result<(Vec<crate::fact::QuizGraded>, u64), FetchGradesError> {
    let Some(token) = journal.sync_state(sync::KEY_TOKEN)? else {
        return Ok((Vec::new(), 0));
    };
    let Some(key) = journal.platform_key()? else {
        return Ok((Vec::new(), 0));
    };
    let device = journal.device_id().to_hex();
    let mut after: u64 = journal
        .sync_state(sync::KEY_GRADED_SEQ)?
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut out = Vec::new();
    loop {
        let asked = after;
        let page: crate::wire::GradesResponse =
            http.get(&format!("/v1/quiz/grades?after_seq={after}"), Some(&token))?;
        let n = page.grades.len();
        for g in page.grades {
            after = after.max(g.answered_seq);
            if g.device_id != device || !g.verify(&key) {
                tracing::warn!(
                    seq = g.answered_seq,
                    "a quiz grade that does not verify was dropped"
                );
                continue;
            }
            out.push(g);
        }
        // A page shorter than the platform's page size is the last one (and a page
        // that does not move forward ends it too: a hostile server cannot loop us).
        if n < 500 || after == asked || out.len() > 100_000 {
            break;
        }
    }
    Ok((out, after))
}

/// [`fetch_grades`], then journals each grade as a `quiz_graded` record (no session
/// open: `keshi sync`; the app goes through its study service instead) and moves
/// `graded_seq` on. Returns how many were journaled. A crash between the two leaves
/// duplicates at worst, which every fold takes once.
pub fn pull_grades(
    journal: &mut Journal,
    http: &HttpTransport,
    wall_now_ms: i64,
) -> Result<usize, FetchGradesError> {
    let (grades, up_to) = fetch_grades(journal, http)?;
    let n = grades.len();
    if n > 0 {
        let batch = grades
            .into_iter()
            .map(|g| crate::fact::Fact::QuizGraded(g).to_new_record(wall_now_ms, 0))
            .collect();
        journal.append_batch(batch)?;
    }
    if up_to > 0 {
        journal.set_sync_state(sync::KEY_GRADED_SEQ, &up_to.to_string())?;
    }
    Ok(n)
}

/// Why grades could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchGradesError {
    /// The journal could not be read.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The platform could not be asked, or refused.
    #[error(transparent)]
    Transport(#[from] TransportError),
}
