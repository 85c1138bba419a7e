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

/// HTTP transport over reqwest's blocking client.
#[derive(Debug)]
pub struct HttpTransport {
    base: String,
    client: reqwest::blocking::Client,
}

impl HttpTransport {
    /// A client for `base` with a per-request timeout.
    pub fn new(base: &str, timeout: Duration) -> Result<HttpTransport, TransportError> {
        let client = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .build()
            .map_err(|e| TransportError::Retryable(format!("building the HTTP client: {e}")))?;
        Ok(HttpTransport {
            base: base.trim_end_matches('/').to_owned(),
            client,
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
        let mut req = self.client.post(format!("{}{path}", self.base));
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
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(TransportError::Retryable(format!(
                "platform answered {status}: {}",
                String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(200)
                    .collect::<String>()
            )));
        }
        let error = serde_json::from_slice::<ApiError>(&bytes).unwrap_or_else(|_| ApiError {
            code: ApiCode::Unrecognised,
            message: format!(
                "HTTP {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ),
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

/// The device that signs in: its key, its journal head (anchors its later records
/// to the platform's clock) and whether `keshi simulate` made it.
#[derive(Debug, Clone, Copy)]
pub struct LoginDevice {
    /// Ed25519 public key.
    pub public_key: [u8; 32],
    /// The journal's head seq.
    pub head_seq: u64,
    /// A simulated key (`keshi simulate`).
    pub simulated: bool,
}

impl LoginDevice {
    /// The device that signs `journal` (simulated when the journal says so).
    pub fn of(journal: &Journal) -> Result<LoginDevice, JournalError> {
        Ok(LoginDevice {
            public_key: journal.public_key(),
            head_seq: journal.len(),
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
    journal.set_sync_state("platform_public_key", &lease.platform_public_key)?;
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
