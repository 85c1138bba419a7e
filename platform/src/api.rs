//! The HTTP API (axum). Every error is `{code, message, …}`
//! ([`keshi_protocol::wire::ApiError`]); codes are listed in
//! `docs/platform-api.md` and `platform/openapi.json`.
//!
//! Handlers are thin: authenticate the bearer token, call the store and the pure
//! modules ([`crate::ingest`], [`crate::credit`]), map errors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use keshi_protocol::codes::ApiCode;
use keshi_protocol::record::{DeviceId, Hash};
use keshi_protocol::wire::{
    ApiError, HeartbeatResponse, LoginRequest, LoginResponse, OfflineLease, PushRequest,
    PushResponse,
};
use ring::signature::{Ed25519KeyPair, KeyPair};

use crate::blob::BlobStore;
use crate::ingest;
use crate::store::{CommitJob, Lease, NewRow, QuarantineRow, Store, StoreError};

/// Service settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Online lease lifetime, renewed by heartbeats.
    pub lease_ttl_ms: i64,
    /// Offline lease: how long a device may study without contact (R-ID-3).
    pub offline_ms: i64,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Most records per push.
    pub max_batch_records: usize,
    /// Largest capture image.
    pub max_capture_bytes: usize,
    /// Clock difference tolerated between a device and the platform when records
    /// are anchored to the platform's clock.
    pub skew_ms: i64,
    /// Accept devices enrolled by `keshi simulate` (demos and tests only: their
    /// credit is kept apart and never reaches reports).
    pub accept_simulated: bool,
    /// Devices a learner may enrol (more need staff approval).
    pub max_devices_per_learner: usize,
    /// Largest payload of one record.
    pub max_payload_bytes: usize,
    /// Records a learner may upload per day (platform time, UTC days): an honest day
    /// of study writes a few thousand.
    pub max_records_per_day: u64,
    /// Capture photos a learner may upload per day: a class hour asks one or two,
    /// so a day of study needs a few dozen (bounds the storage one learner can
    /// fill).
    pub max_photos_per_day: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lease_ttl_ms: 15 * 60 * 1000,
            offline_ms: 7 * 24 * 3600 * 1000,
            max_body_bytes: 8 << 20,
            max_batch_records: 5000,
            max_capture_bytes: 2 << 20,
            skew_ms: 10 * 60 * 1000,
            accept_simulated: false,
            max_devices_per_learner: 3,
            max_payload_bytes: 64 << 10,
            max_records_per_day: 50_000,
            max_photos_per_day: 200,
        }
    }
}

/// A clock (passed in so tests can move time).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The platform's clock: wall time, Unix ms. Every time the platform decides with
/// is its own (received, issued, revoked), never a device's.
pub fn wall_now_ms() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// The system clock, Unix ms.
pub fn system_clock() -> Clock {
    Arc::new(wall_now_ms)
}

/// Shared state of the service.
#[derive(Clone)]
pub struct AppState {
    /// Database.
    pub store: Store,
    /// Settings.
    pub config: Config,
    /// Clock.
    pub clock: Clock,
    /// Lease-signing key.
    pub key: Arc<Ed25519KeyPair>,
    /// Capture images.
    pub blobs: Arc<dyn BlobStore>,
    /// The course catalogue (see [`AppState::catalogue_for`] for when it reloads).
    pub catalogue: Arc<std::sync::RwLock<Arc<crate::catalogue::Catalogue>>>,
    /// The catalogue's stamp when loaded, and when the database was last asked.
    catalogue_seen: Arc<Mutex<CatalogueSeen>>,
    /// Login throttling (per account and per address) and the Argon2 gate.
    pub guard: Arc<crate::auth::LoginGuard>,
    /// Throttling of staff sign-ins (apart from learners').
    pub staff_guard: Arc<crate::auth::LoginGuard>,
    learner_locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// Records accepted per learner on one day: `(day, learner → count)`.
    quotas: Arc<Mutex<(i64, HashMap<String, u64>)>>,
    /// Countersigning calls per device today (each folds the device's history).
    countersigns: Arc<Mutex<(i64, HashMap<String, u32>)>>,
    /// The face check of capture photos (issue 14).
    pub faces: Arc<crate::faces::Faces>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Build the state; loads (or creates) the lease-signing key.
    pub async fn new(
        store: Store,
        config: Config,
        clock: Clock,
        blobs: Arc<dyn BlobStore>,
    ) -> Result<AppState, StoreError> {
        let now = clock();
        let key = crate::platform_key(&store, now).await?;
        let stamp = store.catalogue_stamp().await?;
        let catalogue = crate::load_catalogue(&store).await?;
        if config.accept_simulated {
            tracing::warn!("accepting simulated devices (--accept-simulated): their credit is marked simulated");
        }
        Ok(AppState {
            store,
            config,
            clock,
            key: Arc::new(key),
            blobs,
            catalogue: Arc::new(std::sync::RwLock::new(Arc::new(catalogue))),
            catalogue_seen: Arc::new(Mutex::new(CatalogueSeen {
                stamp,
                checked_ms: now,
            })),
            guard: Arc::new(crate::auth::LoginGuard::default()),
            staff_guard: Arc::new(crate::auth::LoginGuard::default()),
            learner_locks: Arc::default(),
            quotas: Arc::default(),
            countersigns: Arc::default(),
            faces: Arc::default(),
        })
    }

    /// The learner's quiz draw seed ([`crate::draw_seed`]).
    pub fn draw_seed(&self, learner_id: &str) -> Vec<u8> {
        crate::draw_seed(&self.key, learner_id)
    }

    /// The platform's lease-signing public key (hex).
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.public_key().as_ref())
    }

    fn sign_lease(
        &self,
        lease_id: &str,
        learner: &str,
        device: &str,
        issued: i64,
        until: i64,
    ) -> OfflineLease {
        let msg = OfflineLease::message(lease_id, learner, device, issued, until);
        OfflineLease {
            lease_id: lease_id.into(),
            learner_id: learner.into(),
            device_id: device.into(),
            issued_ms: issued,
            offline_until_ms: until,
            signature: hex::encode(self.key.sign(&msg).as_ref()),
        }
    }

    /// Records a contact of `device` at server time `now` with its journal head.
    /// Under the learner's lock: a push reads and writes the same fold, and a
    /// contact written between its read and its write would roll its state back.
    /// A login or heartbeat: the device says how far its journal goes. Without a
    /// head, or with a head beyond what the platform holds but no hash of that
    /// record to commit to it, the contact vouches only for what the platform holds
    /// (an unproven claim would let records written later pass as older).
    async fn contact(
        &self,
        learner: &str,
        device: &str,
        now: i64,
        head: Option<u64>,
        hash: Option<String>,
    ) -> Result<(), StoreError> {
        let lock = self.learner_lock(learner);
        let _guard = lock.lock().await;
        let held = self.store.device(device).await?.map_or(0, |d| d.head_seq);
        let hash = hash.filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        let (head, hash) = match (head, hash) {
            (Some(h), _) if h <= held => (h, None),
            (Some(h), Some(hash)) => (h, Some(hash.to_ascii_lowercase())),
            _ => (held, None),
        };
        let mut fold: crate::replay::DeviceFold = match self.store.device_fold(device).await? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| StoreError::Corrupt(format!("device fold of {device}: {e}")))?,
            None => Default::default(),
        };
        fold.commit(now, head, hash);
        let json = serde_json::to_string(&fold)
            .map_err(|e| StoreError::Corrupt(format!("device fold: {e}")))?;
        self.store.set_device_fold(device, &json).await
    }

    /// Replays the accepted records of a push (see [`crate::replay`]): loads the
    /// device's fold, the learner's progress, leases, the intervals of other
    /// devices and the photos held, folds off the async workers, and returns what to
    /// write with the records.
    async fn derive(
        &self,
        device: &crate::store::Device,
        learner_id: &str,
        accepted: &[(
            keshi_protocol::record::Record,
            keshi_protocol::wire::WireRecord,
        )],
        stated: Option<(u64, Option<String>)>,
        now: i64,
    ) -> Result<crate::store::Derived, Failure> {
        use keshi_protocol::fact::Fact;
        let mut fold: crate::replay::DeviceFold =
            match self.store.device_fold(&device.device_id).await? {
                Some(json) => serde_json::from_str(&json)
                    .map_err(|e| StoreError::Corrupt(format!("device fold: {e}")))?,
                None => Default::default(),
            };
        // What the batch names: courses (catalogue), photos, its wall span.
        let mut courses = Vec::new();
        let mut photos = Vec::new();
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for (r, w) in accepted {
            match Fact::decode(&r.header.kind, w.payload.as_bytes()) {
                Fact::SessionStart(s) => courses.push(s.course),
                Fact::CaptureResult(c) => {
                    if let Some(h) = c.image() {
                        photos.push(h.to_owned());
                    }
                }
                Fact::Segment(s) => {
                    let clock = i64::try_from(s.t1_ms.saturating_sub(s.t0_ms)).unwrap_or(i64::MAX);
                    lo = lo.min(r.header.wall_ms.saturating_sub(clock));
                    hi = hi.max(r.header.wall_ms);
                }
                _ => {}
            }
        }
        let catalogue = self.catalogue_for(&courses).await?;
        let held = self.store.captures_held(learner_id, &photos).await?;
        let claimed = self.store.photos_claimed(&photos).await?;
        let others = if lo <= hi {
            self.store.intervals_overlapping(learner_id, lo, hi).await?
        } else {
            Vec::new()
        };
        let leases: Vec<crate::replay::Window> = self
            .store
            .lease_windows(learner_id)
            .await?
            .into_iter()
            .filter(|(d, _, _)| *d == device.device_id)
            .map(|(_, from_ms, until_ms)| crate::replay::Window { from_ms, until_ms })
            .collect();
        let mut progress = std::collections::BTreeMap::new();
        let mut violations: std::collections::BTreeMap<
            String,
            std::collections::BTreeMap<String, u32>,
        > = Default::default();
        for (course, simulated, p, v) in self.store.learner_progress(learner_id).await? {
            if simulated != device.simulated {
                continue;
            }
            let p: keshi_protocol::fold::Progress = serde_json::from_str(&p)
                .map_err(|e| StoreError::Corrupt(format!("progress of {course}: {e}")))?;
            violations.insert(course.clone(), serde_json::from_str(&v).unwrap_or_default());
            progress.insert(course, p);
        }
        let rows: Vec<(u64, String, i64, String)> = accepted
            .iter()
            .map(|(r, w)| {
                (
                    r.seq(),
                    r.header.kind.clone(),
                    r.header.wall_ms,
                    w.payload.clone(),
                )
            })
            .collect();
        let device_id = device.device_id.clone();
        let anchor = crate::replay::Anchor {
            received_ms: now,
            skew_ms: self.config.skew_ms,
            enforced: !device.simulated,
        };
        let simulated = device.simulated;
        let draw_seed = self.draw_seed(learner_id);
        let head = accepted.last().map_or(device.head_seq, |(r, _)| r.seq());
        let arriving: Vec<(u64, String)> = accepted
            .iter()
            .map(|(r, _)| (r.seq(), r.hash.to_hex()))
            .collect();
        let held_before = device.head_seq;
        let derived = tokio::task::spawn_blocking(move || {
            // What earlier contacts committed to is checked before the time rules
            // use them.
            let arriving: Vec<(u64, &str)> =
                arriving.iter().map(|(seq, h)| (*seq, h.as_str())).collect();
            let broken = fold.check_commitments(&arriving, held_before);
            let rows: Vec<crate::replay::Row<'_>> = rows
                .iter()
                .map(|(seq, kind, wall_ms, payload)| crate::replay::Row {
                    seq: *seq,
                    kind,
                    wall_ms: *wall_ms,
                    payload: payload.as_bytes(),
                })
                .collect();
            let received = |sha: &str| held.contains(sha);
            let already = |sha: &str| claimed.contains(sha);
            let mut out = crate::replay::replay(
                &mut fold,
                &progress,
                &rows,
                &crate::replay::Context {
                    device_id: &device_id,
                    catalogue: &catalogue,
                    anchor,
                    leases: &leases,
                    others: &others,
                    photo_received: &received,
                    photo_claimed: &already,
                    draw_seed: &draw_seed,
                },
            );
            for (at_ms, seq) in broken {
                out.flags.push(crate::replay::Flag {
                    kind: "commitment_broken",
                    device_id: device_id.clone(),
                    seq,
                    detail: format!(
                        "record {seq} arrived with another hash than the device committed to at {at_ms}: \
                         its journal was rewritten after that contact, so the records since count from then"
                    ),
                });
            }
            // This push is a contact when it says the journal's head: the device
            // held exactly that then (a commitment to its hash, checked when that
            // record arrives). The batch's own last record bounds nothing: a journal
            // goes up in batches, and the records after a batch's last were written
            // before the push too (taking it as the head once named a long offline
            // day's last records "backdated").
            match stated {
                Some((h, Some(hash))) if h > head => fold.commit(now, h, Some(hash)),
                Some((h, _)) if h == head => fold.contact(now, head),
                _ => {}
            }
            fold.held_up_to(head);
            for ((course, kind), n) in &out.violations {
                *violations
                    .entry(course.clone())
                    .or_default()
                    .entry(kind.code().to_owned())
                    .or_default() += n;
            }
            let progress = out
                .courses
                .iter()
                .map(|(c, p)| {
                    (
                        c.clone(),
                        serde_json::to_string(p).unwrap_or_default(),
                        serde_json::to_string(&violations.get(c).cloned().unwrap_or_default())
                            .unwrap_or_default(),
                    )
                })
                .collect();
            crate::store::Derived {
                device_fold: serde_json::to_string(&fold).unwrap_or_default(),
                simulated,
                progress,
                intervals: out.intervals,
                flags: out.flags,
                pending: out.pending,
                claims: out.claims,
                grades: out.grades,
            }
        })
        .await
        .map_err(|_| {
            Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ApiCode::Internal,
                "replay failed",
            )
        })?;
        Ok(derived)
    }

    /// One push or photo of a learner at a time: their derived progress is read,
    /// folded and written as one step.
    fn learner_lock(&self, learner: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = lock(&self.learner_locks);
        // Locks nobody holds are dropped now and then: the map is as large as the
        // learners busy at once, not every learner since start.
        if map.len() >= 1_024 {
            map.retain(|_, l| Arc::strong_count(l) > 1);
        }
        map.entry(learner.to_owned()).or_default().clone()
    }

    /// Takes `n` records from the learner's quota for the day of `now`; `Err` with
    /// the milliseconds until the next day when they do not fit (nothing taken).
    fn take_quota(&self, learner: &str, n: u64, now: i64) -> Result<(), i64> {
        self.take(learner, n, self.config.max_records_per_day, now)
    }

    /// Takes `n` from the count `key` keeps for the day of `now`, up to `limit`.
    fn take(&self, key: &str, n: u64, limit: u64, now: i64) -> Result<(), i64> {
        let day = now.div_euclid(DAY);
        let mut q = lock(&self.quotas);
        // One day's counts: a new day starts them all again.
        if q.0 != day {
            *q = (day, HashMap::new());
        }
        let entry = q.1.entry(key.to_owned()).or_insert(0);
        if entry.saturating_add(n) > limit {
            return Err((day + 1) * DAY - now);
        }
        *entry += n;
        Ok(())
    }

    /// Gives back what [`AppState::take_quota`] took for a batch that was not
    /// stored after all.
    fn refund_quota(&self, learner: &str, n: u64, now: i64) {
        self.refund(learner, n, now);
    }

    /// Gives back what [`AppState::take`] took.
    fn refund(&self, key: &str, n: u64, now: i64) {
        let mut q = lock(&self.quotas);
        if q.0 == now.div_euclid(DAY) {
            if let Some(e) = q.1.get_mut(key) {
                *e = e.saturating_sub(n);
            }
        }
    }

    /// The catalogue, current to within [`CATALOGUE_RECHECK_MS`]: versions are only
    /// ever added, so a cheap stamp of the `courses` table says whether anything was
    /// published since it was loaded (by this process or by `admin publish-course`).
    /// A batch naming a course the catalogue lacks asks at once — one small query,
    /// and a reload only when the stamp moved: records naming courses that do not
    /// exist never make the platform re-read its catalogue.
    pub async fn catalogue_for(
        &self,
        need: &[String],
    ) -> Result<Arc<crate::catalogue::Catalogue>, StoreError> {
        let current = match self.catalogue.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        };
        let now = (self.clock)();
        let (loaded, checked_ms) = {
            let seen = lock(&self.catalogue_seen);
            (seen.stamp, seen.checked_ms)
        };
        let known = need.iter().all(|c| current.get(c).is_some());
        if known && now.saturating_sub(checked_ms) < CATALOGUE_RECHECK_MS {
            return Ok(current);
        }
        let stamp = self.store.catalogue_stamp().await?;
        if stamp == loaded {
            lock(&self.catalogue_seen).checked_ms = now;
            return Ok(current);
        }
        let fresh = Arc::new(crate::load_catalogue(&self.store).await?);
        match self.catalogue.write() {
            Ok(mut c) => *c = fresh.clone(),
            Err(p) => *p.into_inner() = fresh.clone(),
        }
        *lock(&self.catalogue_seen) = CatalogueSeen {
            stamp,
            checked_ms: now,
        };
        tracing::info!(courses = fresh.iter().count(), "catalogue reloaded");
        Ok(fresh)
    }
}

/// Locks a std mutex; a panic elsewhere while it was held leaves data that is
/// still consistent here (counters and maps), so poisoning is ignored.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A day in ms: quotas count per day of the platform's clock (UTC).
const DAY: i64 = 86_400_000;

/// How long a loaded catalogue is used before the database is asked whether a
/// course was published since.
pub const CATALOGUE_RECHECK_MS: i64 = 2_000;

#[derive(Debug, Clone, Copy)]
struct CatalogueSeen {
    stamp: (i64, i64),
    checked_ms: i64,
}

/// Serves the API on `listener` until `shutdown` completes, with the server
/// loop's limits ([`crate::serve::Limits`]: connection cap, header, body and
/// request deadlines).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The log's sequencer runs as long as the service (issue 13 item 8).
    let sequencer = tokio::spawn(crate::ledger::run_sequencer(
        state.store.clone(),
        state.clock.clone(),
    ));
    let jobs = tokio::spawn(crate::supervision::run_jobs(
        state.store.clone(),
        state.clock.clone(),
    ));
    let faces = tokio::spawn(crate::faces::run(
        state.store.clone(),
        state.blobs.clone(),
        state.faces.clone(),
        state.clock.clone(),
    ));
    let served = crate::serve::serve(
        listener,
        router(state),
        crate::serve::Limits::default(),
        shutdown,
    )
    .await;
    sequencer.abort();
    jobs.abort();
    faces.abort();
    served
}

/// The router.
pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi))
        .route("/v1/login", post(login))
        .route("/v1/password/first", post(first_password))
        .route("/v1/heartbeat", post(heartbeat))
        .route("/v1/records", post(push))
        .route("/v1/devices/{device_id}/head", get(device_head))
        .route("/v1/quiz/grades", get(quiz_grades))
        .route("/v1/progress/snapshots", post(progress_snapshots))
        .route("/v1/learners/{learner_id}/summary", get(learner_summary))
        .route("/v1/captures/{sha256}", put(put_capture).get(get_capture))
        .merge(crate::courses::routes())
        .merge(crate::console::routes())
        .merge(crate::staff::routes())
        .merge(crate::ledger::routes())
        .merge(crate::supervision::routes())
        .merge(crate::verify::routes())
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::map_response(no_store))
        .with_state(state)
}

/// Every API answer is personal or changes by the second: no cache keeps one
/// (a browser's cache outlives the staff member who signed in). Answers that set
/// their own policy (the console's files) keep it.
async fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(axum::http::HeaderValue::from_static("no-store"));
    r
}

/// Liveness, and whether this platform accepts simulated devices (a demo or test
/// platform says so here and in its log).
async fn healthz(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "accept_simulated": state.config.accept_simulated,
    }))
}

async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document_text(),
    )
}

/// An error answer.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    pub(crate) body: ApiError,
    /// `Retry-After`, seconds.
    retry_after_s: Option<u64>,
}

impl Failure {
    pub(crate) fn new(status: StatusCode, code: ApiCode, message: impl Into<String>) -> Failure {
        Failure {
            status,
            retry_after_s: None,
            body: ApiError {
                code,
                message: message.into(),
                seq: None,
                acknowledged: None,
                retryable: status.is_server_error(),
            },
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(self.body)).into_response();
        if let Some(s) = self.retry_after_s {
            if let Ok(v) = axum::http::HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        tracing::error!(error = %e, "storage failure");
        match e {
            StoreError::Conflict(_) => Failure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ApiCode::ConcurrentPush,
                "another upload for this device is in progress; retry",
            ),
            _ => Failure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ApiCode::StorageUnavailable,
                "storage failure; retry later",
            ),
        }
    }
}

pub(crate) fn body_json<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Failure> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Failure::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ApiCode::BodyTooLarge,
                e.body_text(),
            )
        } else {
            Failure::new(
                StatusCode::BAD_REQUEST,
                ApiCode::MalformedBody,
                e.body_text(),
            )
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            ApiCode::MalformedBody,
            format!("request body is not the expected JSON: {e}"),
        )
    })
}

pub(crate) fn token_hash(token: &str) -> String {
    Hash::of(token.as_bytes()).to_hex()
}

/// Which checks an authenticated call needs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Any lease that is not revoked (reads).
    Lease,
    /// A lease that is not revoked and not past its offline end (uploads).
    Upload,
    /// The same, to renew it (heartbeats).
    Renew,
}

/// The client's address (recorded by the server loop).
pub(crate) struct ClientAddr(pub(crate) Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(crate::serve::client_addr(parts).map(|a| a.ip())))
    }
}

/// `429 quota_exceeded`, retryable after `wait_ms`.
fn quota_exceeded(message: String, wait_ms: i64) -> Failure {
    let mut f = Failure::new(
        StatusCode::TOO_MANY_REQUESTS,
        ApiCode::QuotaExceeded,
        message,
    );
    f.body.retryable = true;
    f.retry_after_s = Some(u64::try_from(wait_ms / 1000 + 1).unwrap_or(1));
    f
}

pub(crate) fn throttled(t: crate::auth::Throttled) -> Failure {
    let (status, code, ms, what) = match t {
        crate::auth::Throttled::TooManyAttempts(ms) => (
            StatusCode::TOO_MANY_REQUESTS,
            ApiCode::TooManyAttempts,
            ms,
            "too many failed sign-ins; wait before trying again",
        ),
        crate::auth::Throttled::Busy(ms) => (
            StatusCode::SERVICE_UNAVAILABLE,
            ApiCode::Busy,
            ms,
            "the platform is busy signing others in; retry shortly",
        ),
    };
    let mut f = Failure::new(status, code, what);
    f.body.retryable = true;
    f.retry_after_s = Some(u64::try_from((ms + 999) / 1000).unwrap_or(1).max(1));
    f
}

pub(crate) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    need: Need,
) -> Result<Lease, Failure> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            Failure::new(
                StatusCode::UNAUTHORIZED,
                ApiCode::Unauthenticated,
                "missing bearer token",
            )
        })?;
    let lease = state
        .store
        .lease_by_token(&token_hash(token.trim()))
        .await?
        .ok_or_else(|| {
            Failure::new(
                StatusCode::UNAUTHORIZED,
                ApiCode::Unauthenticated,
                "unknown token",
            )
        })?;
    if let Some(reason) = lease
        .revoked_ms
        .map(|_| lease.revoked_reason.clone().unwrap_or_default())
    {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            ApiCode::LeaseRevoked,
            format!("lease revoked: {reason} (R-ID-3); log in again"),
        ));
    }
    if lease.public_key.is_none() {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            ApiCode::UnknownDevice,
            "this lease's device is not enrolled for the learner",
        ));
    }
    // The online expiry is checked on every call: past it the device counts as
    // offline, and past the offline lease nothing revives the lease — not a
    // heartbeat, not an upload (R-ID-3).
    let now = (state.clock)();
    if now > lease.offline_until_ms && matches!(need, Need::Upload | Need::Renew) {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            ApiCode::LeaseExpired,
            "the offline lease ran out; log in again",
        ));
    }
    if now > lease.expires_ms {
        tracing::debug!(lease = %lease.id, "online lease expired: the device was offline");
    }
    Ok(lease)
}

/// `POST /v1/password/first`: a learner imported without a password sets one,
/// proving who they are with the ID number and phone on record; throttled and
/// locked out like a sign-in; audited (`learner.password_set`). Once set, the
/// account signs in as any other and this answers `401` for it.
async fn first_password(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let req: keshi_protocol::wire::FirstPasswordRequest = body_json(body)?;
    let user = req.user.trim().to_owned();
    let bad = || {
        Failure::new(
            StatusCode::UNAUTHORIZED,
            ApiCode::InvalidCredentials,
            "unknown user, or the ID number or phone is not the one on record",
        )
    };
    if user.len() > MAX_LOGIN_NAME_BYTES || req.password.len() > MAX_PASSWORD_BYTES {
        return Err(bad());
    }
    if req.password.chars().count() < 8 {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            ApiCode::MalformedBody,
            "a password has at least 8 characters",
        ));
    }
    state
        .guard
        .begin(&user, addr, (state.clock)())
        .map_err(throttled)?;
    let on_record = state.store.first_password_check(&user).await?;
    // Both must match, and a phone must be on record: an account imported without
    // one cannot be claimed with the ID number alone (staff set its password).
    let matches = on_record.as_ref().is_some_and(|(_, id, phone)| {
        !phone.is_empty()
            && id.eq_ignore_ascii_case(req.id_number.trim())
            && phone == req.phone.trim()
    });
    let Some((learner_id, _, _)) = on_record.filter(|_| matches) else {
        return Err(bad());
    };
    let password = req.password.clone();
    let hash = state
        .guard
        .hash(move || crate::auth::hash_password(&password).map_err(|e| e.to_string()))
        .await
        .map_err(throttled)?
        .map_err(|e| {
            Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ApiCode::Internal,
                format!("hashing the password: {e}"),
            )
        })?;
    if !state
        .store
        .set_first_password(&learner_id, &user, &hash, (state.clock)())
        .await?
    {
        // Another request set it first.
        return Err(bad());
    }
    state.guard.succeeded(&user, addr);
    tracing::info!(learner = %learner_id, "first password set");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Longest login name accepted (bytes).
pub(crate) const MAX_LOGIN_NAME_BYTES: usize = 128;
/// Longest password accepted (bytes).
pub(crate) const MAX_PASSWORD_BYTES: usize = 1024;

/// The sign-in check shared by learners and staff: charges the attempt to `guard`
/// before the password is checked (parallel guesses cannot all get through before
/// the first failure is counted), looks the account up with `find` (its password
/// hash and what to return), and runs Argon2 behind the guard's bounded queue with
/// the same work for an unknown user (no enumeration by timing). Refunds the
/// attempt on success or when the platform, not the password, failed.
pub(crate) async fn check_password<T, F, Fut>(
    state: &AppState,
    guard: &crate::auth::LoginGuard,
    addr: Option<std::net::IpAddr>,
    user: &str,
    password: &str,
    find: F,
) -> Result<T, Failure>
where
    F: FnOnce(Store, String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<(String, T)>, StoreError>>,
{
    let bad = || {
        Failure::new(
            StatusCode::UNAUTHORIZED,
            ApiCode::InvalidCredentials,
            "unknown user or wrong password",
        )
    };
    let user = user.trim().to_owned();
    // Login names are short; a long one is no one's (and would bloat the throttle's
    // memory), and a long password only costs Argon2 time.
    if user.len() > MAX_LOGIN_NAME_BYTES || password.len() > MAX_PASSWORD_BYTES {
        return Err(bad());
    }
    guard
        .begin(&user, addr, (state.clock)())
        .map_err(throttled)?;
    let account = match find(state.store.clone(), user.clone()).await {
        Ok(a) => a,
        Err(e) => {
            guard.refund(&user, addr);
            return Err(e.into());
        }
    };
    let (hash, password) = (account.as_ref().map(|a| a.0.clone()), password.to_owned());
    let ok = match guard
        .hash(move || crate::auth::verify_or_dummy(&password, hash.as_deref()))
        .await
    {
        Ok(ok) => ok,
        Err(t) => {
            guard.refund(&user, addr);
            return Err(throttled(t));
        }
    };
    let Some((_, found)) = account.filter(|_| ok) else {
        return Err(bad());
    };
    guard.succeeded(&user, addr);
    Ok(found)
}

async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<LoginResponse>, Failure> {
    let req: LoginRequest = body_json(body)?;
    // An account imported without a password cannot sign in until one is set
    // (the answer says so: the learner's app offers to set it). Asking costs an
    // attempt of the sign-in throttle, so it cannot list such accounts quickly.
    if state.store.must_set_password(req.user.trim()).await? {
        state
            .guard
            .begin(req.user.trim(), addr, (state.clock)())
            .map_err(throttled)?;
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            ApiCode::PasswordNotSet,
            "this account has no password yet: set one with the ID number and phone on record (POST /v1/password/first)",
        ));
    }
    let learner = check_password(
        &state,
        &state.guard,
        addr,
        &req.user,
        &req.password,
        |store, user| async move {
            Ok(store
                .learner(&user)
                .await?
                .map(|l| (l.password_hash.clone(), l)))
        },
    )
    .await?;
    let pk: [u8; 32] = keshi_protocol::ids::decode_hex(req.public_key.trim(), "public key")
        .map_err(|_| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                ApiCode::MalformedBody,
                "public_key must be 32 bytes of lowercase hex",
            )
        })?;
    if let Err(e) = keshi_protocol::sig::PublicKey::parse(&pk) {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            ApiCode::WeakKey,
            format!("public_key refused: {e}"),
        ));
    }
    if req.simulated && !state.config.accept_simulated {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            ApiCode::SimulatedRefused,
            "this platform does not accept simulated devices (keshi simulate); start it with --accept-simulated for a demo",
        ));
    }
    let device_id = DeviceId::from_public_key(&pk).to_hex();
    let now = (state.clock)();
    let known = state.store.device(&device_id).await?;
    if known.is_none() {
        let devices = state.store.devices_of(&learner.id).await?;
        let allowed = (state.config.max_devices_per_learner as u64)
            .saturating_add(state.store.extra_devices(&learner.id).await?);
        if devices.len() as u64 >= allowed {
            return Err(Failure::new(
                StatusCode::FORBIDDEN,
                ApiCode::DeviceLimit,
                format!(
                    "this learner already enrolled {} devices; staff must approve another (keshi-platform admin approve-device)",
                    devices.len()
                ),
            ));
        }
        state
            .store
            .enrol_device(
                &device_id,
                &learner.id,
                &hex::encode(pk),
                req.simulated,
                now,
            )
            .await?;
    }
    let device = state.store.device(&device_id).await?.ok_or_else(|| {
        Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ApiCode::StorageUnavailable,
            "device vanished",
        )
    })?;
    if device.learner_id != learner.id {
        return Err(Failure::new(
            StatusCode::CONFLICT,
            ApiCode::DeviceTaken,
            "this device key is enrolled for another learner",
        ));
    }
    state
        .contact(&learner.id, &device_id, now, req.head_seq, req.head_hash)
        .await?;
    let token = crate::auth::new_token();
    let lease_id = crate::store::random_id();
    let expires = now + state.config.lease_ttl_ms;
    let until = now + state.config.offline_ms;
    let revoked = state
        .store
        .issue_lease(
            &lease_id,
            &token_hash(&token),
            &learner.id,
            &device_id,
            now,
            expires,
            until,
        )
        .await?;
    if let Some(a) = addr {
        state
            .store
            .set_lease_address(&lease_id, &a.to_string())
            .await?;
    }
    tracing::info!(learner = %learner.id, device = %device_id, revoked, "login: lease issued");
    let draw_seed = hex::encode(state.draw_seed(&learner.id));
    Ok(Json(LoginResponse {
        token,
        offline_lease: state.sign_lease(&lease_id, &learner.id, &device_id, now, until),
        lease_id,
        learner_id: learner.id,
        device_id,
        expires_ms: expires,
        platform_public_key: state.public_key_hex(),
        acknowledged: device.head_seq,
        server_ms: now,
        draw_seed,
    }))
}

async fn heartbeat(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<HeartbeatResponse>, Failure> {
    let lease = authenticate(&state, &headers, Need::Renew).await?;
    let req: keshi_protocol::wire::HeartbeatRequest = match body {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Default::default(),
        other => body_json(other)?,
    };
    let now = (state.clock)();
    state
        .contact(
            &lease.learner_id,
            &lease.device_id,
            now,
            req.head_seq,
            req.head_hash,
        )
        .await?;
    let (expires, until) = (
        now + state.config.lease_ttl_ms,
        now + state.config.offline_ms,
    );
    if !state.store.renew_lease(&lease.id, expires, until).await? {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            ApiCode::LeaseRevoked,
            "lease revoked (R-ID-3); log in again",
        ));
    }
    Ok(Json(HeartbeatResponse {
        offline_lease: state.sign_lease(
            &lease.id,
            &lease.learner_id,
            &lease.device_id,
            lease.issued_ms,
            until,
        ),
        lease_id: lease.id,
        expires_ms: expires,
        server_ms: now,
    }))
}

async fn push(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PushResponse>, Failure> {
    let lease = authenticate(&state, &headers, Need::Upload).await?;
    let req: PushRequest = body_json(body)?;
    if req.records.len() > state.config.max_batch_records {
        return Err(Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ApiCode::BatchTooLarge,
            format!(
                "at most {} records per request",
                state.config.max_batch_records
            ),
        ));
    }
    let pk_hex = lease.public_key.clone().unwrap_or_default();
    let pk = keshi_protocol::ids::decode_hex::<32>(&pk_hex, "device key")
        .ok()
        .and_then(|b| keshi_protocol::sig::PublicKey::parse(&b).ok())
        .ok_or_else(|| {
            Failure::new(
                StatusCode::FORBIDDEN,
                ApiCode::UnknownDevice,
                "the enrolled device key is not acceptable (weak or corrupt); enrol again",
            )
        })?;
    let lock = state.learner_lock(&lease.learner_id);
    let _guard = lock.lock().await;
    let device = state.store.device(&lease.device_id).await?.ok_or_else(|| {
        Failure::new(
            StatusCode::FORBIDDEN,
            ApiCode::UnknownDevice,
            "device not enrolled",
        )
    })?;
    // The journal head the device states (its hash a commitment, as at a heartbeat).
    let stated = req.head_seq.map(|h| {
        let hash = req
            .head_hash
            .as_deref()
            .filter(|x| x.len() == 64 && x.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_ascii_lowercase);
        (h, hash)
    });
    let records = req.records;
    let decoded = ingest::decode(&records);
    let compare = ingest::seqs_to_compare(&decoded, device.head_seq);
    let stored = state
        .store
        .stored_hashes(&device.device_id, &compare)
        .await?;
    let head = (device.head_seq, device.head_hash);
    let max_payload = state.config.max_payload_bytes;
    let verdict = {
        let records = records.clone();
        tokio::task::spawn_blocking(move || {
            ingest::check_batch(&pk, head, decoded, &records, &stored, max_payload)
        })
        .await
        .map_err(|_| {
            Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ApiCode::Internal,
                "verifier failed",
            )
        })?
    };
    let mut refusal = verdict.refusal;
    if let Some(r) = refusal.as_mut() {
        if r.code == keshi_protocol::codes::RefusalCode::WrongDevice {
            if let Some(dev) = r.device_id {
                if state.store.device(&dev.to_hex()).await?.is_none() {
                    r.code = keshi_protocol::codes::RefusalCode::UnknownDevice;
                    r.message = format!(
                        "record signed by device {dev}, which the platform has never enrolled"
                    );
                }
            }
        }
    }
    let rows: Vec<NewRow> = verdict
        .accepted
        .iter()
        .map(|(r, w)| NewRow {
            seq: r.seq(),
            kind: r.header.kind.clone(),
            wall_ms: r.header.wall_ms,
            mono_ms: r.header.mono_ms,
            header: w.header.clone(),
            payload: w.payload.clone(),
            hash: r.hash.to_hex(),
            signature: w.signature.clone(),
        })
        .collect();
    let quarantine = refusal.as_ref().map(|r| QuarantineRow {
        learner_id: Some(lease.learner_id.clone()),
        device_id: r
            .device_id
            .map(|d| d.to_hex())
            .or(Some(lease.device_id.clone())),
        seq: r.seq,
        code: r.code.as_str().to_owned(),
        message: r.message.clone(),
        record: records
            .get(r.index)
            .map(crate::ingest::quarantine_excerpt)
            .unwrap_or_default(),
    });
    let now = (state.clock)();
    // The daily quota (issue 11): the batch waits, nothing is stored or lost.
    if let Err(wait_ms) = state.take_quota(&lease.learner_id, rows.len() as u64, now) {
        return Err(quota_exceeded(
            format!(
                "at most {} records a day per learner; the rest waits for tomorrow",
                state.config.max_records_per_day
            ),
            wait_ms,
        ));
    }
    // What was taken is given back when the batch is not stored after all.
    let taken = rows.len() as u64;
    let refund = || state.refund_quota(&lease.learner_id, taken, now);
    let derived = if verdict.accepted.is_empty() {
        None
    } else {
        Some(
            state
                .derive(&device, &lease.learner_id, &verdict.accepted, stated, now)
                .await
                .inspect_err(|_| refund())?,
        )
    };
    let (acknowledged, head_hash) = match rows.last() {
        Some(last) => (last.seq, last.hash.clone()),
        None => (device.head_seq, device.head_hash.to_hex()),
    };
    let accepted = rows.len() as u64;
    state
        .store
        .commit_batch(CommitJob {
            device_id: device.device_id.clone(),
            learner_id: lease.learner_id.clone(),
            old_head: device.head_seq,
            rows,
            quarantine,
            now,
            derived,
        })
        .await
        .inspect_err(|_| refund())?;
    if let Some(r) = refusal {
        tracing::warn!(device = %device.device_id, code = r.code.as_str(), seq = ?r.seq, "record refused and quarantined");
        let mut f = Failure::new(StatusCode::UNPROCESSABLE_ENTITY, r.code.into(), r.message);
        f.body.seq = r.seq;
        f.body.acknowledged = Some(acknowledged);
        return Err(f);
    }
    Ok(Json(PushResponse {
        acknowledged,
        head_hash: (acknowledged > 0).then_some(head_hash),
        accepted,
        duplicates: verdict.duplicates,
    }))
}

fn forbidden() -> Failure {
    Failure::new(
        StatusCode::FORBIDDEN,
        ApiCode::Forbidden,
        "this token cannot access another learner's data",
    )
}

async fn device_head(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(device_id): Path<String>,
) -> Result<Json<serde_json::Value>, Failure> {
    let lease = authenticate(&state, &headers, Need::Lease).await?;
    let device = state.store.device(&device_id).await?;
    match device {
        Some(d) if d.learner_id == lease.learner_id => Ok(Json(serde_json::json!({
            "device_id": d.device_id, "acknowledged": d.head_seq,
            "head_hash": (d.head_seq > 0).then(|| d.head_hash.to_hex()),
        }))),
        _ => Err(forbidden()),
    }
}

/// Grades returned by one `GET /v1/quiz/grades`.
const GRADES_PER_PAGE: u32 = 500;

/// `GET /v1/quiz/grades?after_seq=N`: the platform's grades of the lease device's
/// quiz answers, signed (issue 11: the device holds no answer keys).
async fn quiz_grades(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Json<keshi_protocol::wire::GradesResponse>, Failure> {
    let lease = authenticate(&state, &headers, Need::Lease).await?;
    let mut after_seq = 0u64;
    for pair in query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        if let Some(("after_seq", v)) = pair.split_once('=') {
            after_seq = v.parse().map_err(|_| {
                Failure::new(
                    StatusCode::BAD_REQUEST,
                    ApiCode::MalformedBody,
                    "after_seq must be a whole number",
                )
            })?;
        }
    }
    let grades = state
        .store
        .grades_after(&lease.device_id, after_seq, GRADES_PER_PAGE)
        .await?
        .into_iter()
        .map(|g| {
            let mut graded = keshi_protocol::fact::QuizGraded {
                course: g.course,
                class_hour: g.class_hour,
                attempt: g.attempt,
                device_id: lease.device_id.clone(),
                answered_seq: g.seq,
                correct: g.correct,
                total: g.total,
                passed: g.passed,
                graded_ms: g.graded_ms,
                signature: String::new(),
            };
            graded.signature = hex::encode(state.key.sign(&graded.message()).as_ref());
            graded
        })
        .collect();
    Ok(Json(keshi_protocol::wire::GradesResponse { grades }))
}

/// Countersigning snapshots sticks to what the platform can check: the rules of
/// its catalogue, a passed capture only with its photo received, grades and
/// snapshots only when it signed them, a device's own quiz verdict never.
struct Countersigning<'a> {
    platform_key: [u8; 32],
    photos: &'a std::collections::HashSet<String>,
}

impl keshi_protocol::fold::Evidence for Countersigning<'_> {
    fn capture_passed(&self, c: &keshi_protocol::fact::CaptureResult) -> bool {
        c.ok && c.image().is_some_and(|sha| self.photos.contains(sha))
    }
    fn quiz_passed(&self, _: &keshi_protocol::fact::QuizAnswered) -> Option<bool> {
        None
    }
    fn grade_believed(&self, g: &keshi_protocol::fact::QuizGraded) -> bool {
        g.verify(&self.platform_key)
    }
    fn snapshot_believed(&self, s: &keshi_protocol::fact::ProgressSnapshot) -> bool {
        s.verify(&self.platform_key)
    }
}

/// Countersignings a device may ask for per day.
const COUNTERSIGNS_PER_DAY: u32 = 24;

/// Countersigns the lease device's progress snapshots (issue 11): the platform
/// folds the device's records it holds with the shared `StreamFold` and the
/// evidence it can check ([`Countersigning`]: catalogue rules, photos received, its
/// own grades and snapshots), and signs each proposed snapshot whose progress it
/// finds the same, at the seq it holds. A device believes only such snapshots, so
/// one its owner wrote, or progress from captures without photos or device-graded
/// quizzes, shows nothing.
async fn progress_snapshots(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<keshi_protocol::wire::SnapshotsResponse>, Failure> {
    let lease = authenticate(&state, &headers, Need::Lease).await?;
    let req: keshi_protocol::wire::SnapshotsRequest = body_json(body)?;
    let now = (state.clock)();
    // Each call folds the device's whole history (off the async workers): a few a
    // day are all retention needs.
    {
        let day = now.div_euclid(DAY);
        let mut c = lock(&state.countersigns);
        if c.0 != day {
            *c = (day, HashMap::new());
        }
        let n = c.1.entry(lease.device_id.clone()).or_insert(0);
        if *n >= COUNTERSIGNS_PER_DAY {
            return Err(quota_exceeded(
                format!("at most {COUNTERSIGNS_PER_DAY} snapshot countersignings a day per device"),
                (day + 1) * DAY - now,
            ));
        }

        *n += 1;
    }
    let Some(device) = state.store.device(&lease.device_id).await? else {
        return Ok(Json(keshi_protocol::wire::SnapshotsResponse {
            snapshots: Vec::new(),
        }));
    };
    let proposed: Vec<_> = req
        .snapshots
        .into_iter()
        .filter(|s| s.up_to_seq == device.head_seq)
        .take(1_000)
        .collect();
    if proposed.is_empty() {
        return Ok(Json(keshi_protocol::wire::SnapshotsResponse {
            snapshots: Vec::new(),
        }));
    }
    let records = state.store.device_records(&lease.device_id).await?;
    let photos = state.store.captures_of(&lease.learner_id).await?;
    let catalogue = state.catalogue_for(&[]).await?;
    let key = state.key.clone();
    let public: [u8; 32] = key.public_key().as_ref().try_into().unwrap_or([0; 32]);
    let device_id = lease.device_id.clone();
    let snapshots = tokio::task::spawn_blocking(move || {
        use keshi_protocol::fold::StreamFold;
        let evidence = Countersigning {
            platform_key: public,
            photos: &photos,
        };
        let mut fold = StreamFold::new(true);
        for (seq, kind, payload) in &records {
            fold.push(*seq, kind, Some(payload.as_bytes()), &*catalogue, &evidence);
        }
        proposed
            .into_iter()
            .filter(|s| fold.course(&s.course).map(|c| &c.progress) == Some(&s.progress))
            .map(|mut s| {
                s.device_id = Some(device_id.clone());
                s.signed_ms = Some(now);
                s.signature = None;
                s.signature = Some(hex::encode(key.sign(&s.message()).as_ref()));
                s
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|_| {
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ApiCode::Internal,
            "snapshot fold failed",
        )
    })?;
    Ok(Json(keshi_protocol::wire::SnapshotsResponse { snapshots }))
}

async fn learner_summary(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(learner_id): Path<String>,
) -> Result<Json<crate::Summary>, Failure> {
    let lease = authenticate(&state, &headers, Need::Lease).await?;
    if learner_id != lease.learner_id {
        return Err(forbidden());
    }
    let catalogue = state.catalogue_for(&[]).await?;
    // Learners see their credit, not the anti-fraud findings (staff do).
    let summary = crate::summary_for(&state.store, &catalogue, &learner_id, false).await?;
    Ok(Json(summary))
}

fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else {
        None
    }
}

async fn put_capture(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(sha256): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let lease = authenticate(&state, &headers, Need::Upload).await?;
    let bytes = body.map_err(|e| Failure::new(e.status(), ApiCode::BodyTooLarge, e.body_text()))?;
    if bytes.len() > state.config.max_capture_bytes {
        return Err(Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ApiCode::CaptureTooLarge,
            format!(
                "capture images are limited to {} bytes",
                state.config.max_capture_bytes
            ),
        ));
    }
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let sniffed = sniff_image(&bytes);
    if sniffed.is_none() || sniffed != Some(declared) {
        return Err(Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiCode::UnsupportedCaptureType,
            "capture images must be image/jpeg or image/png, and the bytes must match the type",
        ));
    }
    // One spelling per image: the path must be the lowercase SHA-256 of the body
    // (an upper-case spelling could otherwise claim a photo a second time).
    if Hash::of(&bytes).to_hex() != sha256 {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            ApiCode::CaptureHashMismatch,
            "the path must be the body's SHA-256 in lowercase hex",
        ));
    }
    let lock = state.learner_lock(&lease.learner_id);
    let _guard = lock.lock().await;
    let held = state.store.capture(&sha256).await?;
    if let Some((owner, _)) = &held {
        if owner != &lease.learner_id {
            return Err(forbidden());
        }
    } else {
        // A new photo takes from the day's photo quota (a photo sent again does not).
        let now = (state.clock)();
        let quota_key = format!("photos/{}", lease.learner_id);
        if let Err(wait_ms) = state.take(&quota_key, 1, state.config.max_photos_per_day, now) {
            return Err(quota_exceeded(
                format!(
                    "at most {} capture photos a day per learner; the rest waits for tomorrow",
                    state.config.max_photos_per_day
                ),
                wait_ms,
            ));
        }
        if let Err(e) = store_capture(&state, &lease.learner_id, &sha256, bytes, sniffed).await {
            state.refund(&quota_key, 1, now);
            return Err(e);
        }
        // The platform's own face check of the photo, in the background.
        state.faces.wake();
    }
    // Captures that passed on the device and waited for this photo count now (also
    // when the photo was held already: a crash between storing it and this step is
    // repaired by the client's retry).
    let catalogue = state.catalogue_for(&[]).await?;
    let counted = state
        .store
        .photo_arrived(
            &sha256,
            &lease.learner_id,
            |course, hour, progress| {
                let mut p: keshi_protocol::fold::Progress = serde_json::from_str(progress).ok()?;
                let pending = crate::replay::PendingPhoto {
                    course: course.to_owned(),
                    class_hour: hour,
                    sha256: sha256.clone(),
                };
                crate::replay::photo_arrived(&mut p, &pending, &catalogue);
                serde_json::to_string(&p).ok()
            },
            (state.clock)(),
        )
        .await?;
    if counted > 0 {
        tracing::info!(learner = %lease.learner_id, counted, "capture photo arrived: pending captures count");
    }
    Ok(if held.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    }
    .into_response())
}

/// Stores a capture image (blob, then its row).
async fn store_capture(
    state: &AppState,
    learner_id: &str,
    sha256: &str,
    bytes: Bytes,
    sniffed: Option<&'static str>,
) -> Result<(), Failure> {
    let blobs = state.blobs.clone();
    let key = sha256.to_owned();
    tokio::task::spawn_blocking(move || blobs.put(&key, &bytes))
        .await
        .map_err(|_| {
            Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ApiCode::Internal,
                "blob writer failed",
            )
        })?
        .map_err(|e| {
            Failure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ApiCode::StorageUnavailable,
                e.to_string(),
            )
        })?;
    let size = state.blobs.size(sha256).unwrap_or(0);
    state
        .store
        .put_capture(
            sha256,
            learner_id,
            sniffed.unwrap_or(""),
            size,
            (state.clock)(),
        )
        .await?;
    Ok(())
}

async fn get_capture(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(sha256): Path<String>,
) -> Result<Response, Failure> {
    let lease = authenticate(&state, &headers, Need::Lease).await?;
    match state.store.capture(&sha256).await? {
        Some((owner, ct)) if owner == lease.learner_id => {
            let blobs = state.blobs.clone();
            let bytes = tokio::task::spawn_blocking(move || blobs.get(&sha256))
                .await
                .map_err(|_| {
                    Failure::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        ApiCode::Internal,
                        "blob reader failed",
                    )
                })?
                .map_err(|e| {
                    Failure::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        ApiCode::StorageUnavailable,
                        e.to_string(),
                    )
                })?
                .ok_or_else(|| {
                    Failure::new(StatusCode::NOT_FOUND, ApiCode::NotFound, "capture missing")
                })?;
            Ok(([(header::CONTENT_TYPE, ct)], bytes).into_response())
        }
        Some(_) => Err(forbidden()),
        None => Err(Failure::new(
            StatusCode::NOT_FOUND,
            ApiCode::NotFound,
            "no such capture",
        )),
    }
}
