//! Keshi reference platform service (issue 4).
//!
//! - Enrolment of institutions, learners (real name, ID number, face photo
//!   reference — R-ID-1) and device keys (Ed25519, enrolled at login).
//! - Single-login leases (R-ID-3): a login revokes the learner's older leases;
//!   heartbeats renew; a platform-signed offline lease bounds offline study.
//! - Verified, idempotent ingest of signed study records ([`ingest`]) using
//!   the protocol's frozen record checks (R-ST-6); refusals get stable codes and
//!   are quarantined, never dropped (R-SV-3, R-SV-4).
//! - Credit re-derived from signed segment records, with flags ([`credit`]).
//! - Capture images by SHA-256 behind a [`blob::BlobStore`] (R-ST-3).
//! - One schema for SQLite and PostgreSQL ([`store`]).
//!
//! The API is described in `platform/openapi.json` (served at `/openapi.json`)
//! and `docs/platform-api.md`.
// A silently truncated number is a wrong credit: cast with try_from or say why not.
#![cfg_attr(not(test), deny(clippy::cast_possible_truncation))]

pub mod api;
pub mod archive;
pub mod auth;
pub mod backup;
pub mod blob;
pub mod calendar;
pub mod catalogue;
pub mod certificate;
pub mod console;
pub mod courses;
pub mod credit;
pub mod datakey;
pub mod export;
pub mod faces;
pub mod farming;
pub mod import;
pub mod ingest;
pub mod ledger;
pub mod observation;
pub mod openapi;
pub mod photos;
pub mod plans;
pub mod replay;
pub mod reports;
pub mod results;
pub mod retention;
pub mod serve;
pub mod spotcheck;
pub mod staff;
pub mod store;
pub mod supervision;
pub mod verify;

use serde::Serialize;

pub use api::{router, AppState, Config};
pub use store::{Store, StoreError};

/// What the platform holds for one device.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceSummary {
    /// Device id (hex).
    pub device_id: String,
    /// Records held.
    pub records: u64,
    /// Highest contiguous seq held.
    pub head_seq: u64,
    /// Its hash (hex), `None` when empty.
    pub head_hash: Option<String>,
    /// Enrolled by `keshi simulate`: its credit is kept apart (never in reports).
    pub simulated: bool,
}

/// One course of a learner, as the platform re-derives it.
#[derive(Debug, Clone, Serialize)]
pub struct CourseProgress {
    /// Credited seconds.
    pub credited_seconds: f64,
    /// Class hours completed.
    pub class_hours_completed: u32,
    /// Class hours the course offers.
    pub class_hours_total: u32,
    /// Capture evidence per class hour (the hours with any), by number.
    pub class_hours: std::collections::BTreeMap<u32, HourCaptures>,
}

/// A class hour's capture photos as the platform holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HourCaptures {
    /// Captures that passed on the device and whose photo the platform received.
    pub captures_received: u32,
    /// Captures that passed on the device and whose photo has not arrived (they
    /// count once it does).
    pub captures_missing: u32,
}

/// What the platform holds for one learner (`keshi-platform admin records`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Learner id.
    pub learner_id: String,
    /// Login name.
    pub username: String,
    /// Records held over all devices.
    pub records: u64,
    /// Per device.
    pub devices: Vec<DeviceSummary>,
    /// Credited seconds as the platform re-derived them.
    pub credited_seconds: f64,
    /// Class hours completed over all courses, re-derived by the shared fold
    /// (credit reached, captures and quiz passed).
    pub class_hours_completed: u32,
    /// Per course, credited seconds.
    pub courses: std::collections::BTreeMap<String, f64>,
    /// Per course: credited seconds and class hours completed / offered.
    pub course_progress: std::collections::BTreeMap<String, CourseProgress>,
    /// Credited seconds of simulated devices (`keshi simulate` on a platform started
    /// with `--accept-simulated`): shown, never in reports, certificates or
    /// settlement.
    pub simulated_seconds: f64,
    /// Per course, simulated credited seconds.
    pub simulated_courses: std::collections::BTreeMap<String, f64>,
    /// Class hours simulated devices completed (as the platform's replay found them).
    pub simulated_class_hours: u32,
    /// Segment records held.
    pub segments: u64,
    /// Findings (anti-fraud flags: staff see them, learners do not): the newest
    /// [`FLAGS_SHOWN`].
    pub flags: Vec<credit::Flag>,
    /// How many flags there are in all.
    pub flags_total: u64,
    /// Refused uploads kept in quarantine: `{code, device_id, seq}`.
    pub quarantined: Vec<serde_json::Value>,
}

/// Build the summary of a learner (by id or login name) from what ingest derived
/// (no re-derivation per request: see [`replay`]).
pub async fn summary(
    store: &Store,
    catalogue: &catalogue::Catalogue,
    learner: &str,
) -> Result<Summary, StoreError> {
    summary_for(store, catalogue, learner, true).await
}

/// Flags a summary lists (the newest; `flags_total` counts them all).
pub const FLAGS_SHOWN: u32 = 1_000;

/// [`summary`], for staff (with the anti-fraud flags) or for the learner (without:
/// they are not even read).
pub async fn summary_for(
    store: &Store,
    catalogue: &catalogue::Catalogue,
    learner: &str,
    staff: bool,
) -> Result<Summary, StoreError> {
    let l = store
        .learner(learner)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("no learner {learner:?}")))?;
    let mut credited_ms = 0u64;
    let mut simulated_ms = 0u64;
    let mut class_hours_completed = 0u32;
    let mut simulated_class_hours = 0u32;
    let mut courses = std::collections::BTreeMap::new();
    let mut simulated_courses = std::collections::BTreeMap::new();
    let mut course_progress = std::collections::BTreeMap::new();
    for (course, simulated, progress, _violations) in store.learner_progress(&l.id).await? {
        let p: keshi_protocol::fold::Progress = serde_json::from_str(&progress)
            .map_err(|e| StoreError::Corrupt(format!("progress of {course}: {e}")))?;
        let c = credit::course_credit(&p, &course, catalogue);
        if simulated {
            simulated_ms = simulated_ms.saturating_add(c.credited_ms);
            simulated_courses.insert(course, c.credited_ms as f64 / 1000.0);
            simulated_class_hours = simulated_class_hours.saturating_add(c.class_hours_completed);
            continue;
        }
        credited_ms = credited_ms.saturating_add(c.credited_ms);
        class_hours_completed = class_hours_completed.saturating_add(c.class_hours_completed);
        courses.insert(course.clone(), c.credited_ms as f64 / 1000.0);
        let class_hours = p
            .hours
            .iter()
            .filter(|(_, h)| h.captures_passed > 0)
            .map(|(&n, h)| {
                (
                    n,
                    HourCaptures {
                        captures_received: h.captures_passed,
                        captures_missing: 0,
                    },
                )
            })
            .collect();
        course_progress.insert(
            course,
            CourseProgress {
                credited_seconds: c.credited_ms as f64 / 1000.0,
                class_hours_completed: c.class_hours_completed,
                class_hours_total: c.class_hours_total,
                class_hours,
            },
        );
    }
    // Captures still waiting for their photo (real devices).
    for (course, hour) in store.pending_photos_of(&l.id).await? {
        if let Some(c) = course_progress.get_mut(&course) {
            let h = c.class_hours.entry(hour).or_default();
            h.captures_missing = h.captures_missing.saturating_add(1);
        }
    }
    let devices: Vec<DeviceSummary> = store
        .devices_of(&l.id)
        .await?
        .into_iter()
        .map(|d| DeviceSummary {
            records: d.head_seq,
            head_hash: (d.head_seq > 0).then(|| d.head_hash.to_hex()),
            head_seq: d.head_seq,
            device_id: d.device_id,
            simulated: d.simulated,
        })
        .collect();
    let quarantined = store
        .quarantined(Some(&l.id))
        .await?
        .into_iter()
        .map(|(code, device_id, seq)| serde_json::json!({"code": code, "device_id": device_id, "seq": seq}))
        .collect();
    let (segments, flags_total) = store.tallies(&l.id).await?;
    Ok(Summary {
        learner_id: l.id.clone(),
        username: l.username,
        records: devices.iter().map(|d| d.records).sum(),
        devices,
        credited_seconds: credited_ms as f64 / 1000.0,
        class_hours_completed,
        courses,
        course_progress,
        simulated_seconds: simulated_ms as f64 / 1000.0,
        simulated_courses,
        simulated_class_hours,
        segments,
        flags: if staff {
            store.flags(&l.id, FLAGS_SHOWN).await?
        } else {
            Vec::new()
        },
        flags_total: if staff { flags_total } else { 0 },
        quarantined,
    })
}

/// The catalogue as published in `store` (the latest version of each course). A
/// version that no longer parses (a manifest edited in the database by hand, a
/// profile this build dropped) is left out with an error in the log: its records
/// earn nothing, and every other course keeps working.
pub async fn load_catalogue(store: &Store) -> Result<catalogue::Catalogue, StoreError> {
    let mut published = Vec::new();
    for (id, version, institution_id, profile, manifest) in store.courses().await? {
        let parsed = keshi_protocol::policy::Policy::by_id(&profile)
            .map_err(|e| e.to_string())
            .and_then(|policy| {
                let course = keshi_protocol::manifest::Course::parse(
                    std::path::Path::new(&format!("{id}.json")),
                    &manifest,
                )
                .map_err(|e| e.to_string())?;
                catalogue::Published::new(course, version, institution_id, policy)
                    .map_err(|e| e.to_string())
            });
        match parsed {
            Ok(p) => published.push(p),
            Err(e) => tracing::error!(course = %id, version, "catalogue: course left out: {e}"),
        }
    }
    Ok(catalogue::Catalogue::new(published))
}

/// What [`rederive`] did for one learner.
#[derive(Debug, Clone, Serialize)]
pub struct Rederived {
    /// Learner id.
    pub learner_id: String,
    /// Records replayed.
    pub records: u64,
    /// Credited seconds now (real devices).
    pub credited_seconds: f64,
    /// Findings now.
    pub flags: u64,
}

/// The platform's signing key (leases, grades, draw seeds), created on first use.
pub async fn platform_key(
    store: &Store,
    now: i64,
) -> Result<ring::signature::Ed25519KeyPair, StoreError> {
    let pkcs8 = store
        .platform_key(
            || {
                let rng = ring::rand::SystemRandom::new();
                ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
                    .map(|d| hex::encode(d.as_ref()))
                    .unwrap_or_default()
            },
            now,
        )
        .await?;
    let bytes = hex::decode(&pkcs8).map_err(|_| StoreError::Corrupt("platform key hex".into()))?;
    ring::signature::Ed25519KeyPair::from_pkcs8(&bytes)
        .map_err(|_| StoreError::Corrupt("platform key".into()))
}

/// A learner's quiz draw seed: the platform's signature over
/// [`keshi_protocol::draw::seed_message`] (Ed25519 is deterministic, so it is
/// recomputed, never stored; only the platform can make it).
pub fn draw_seed(key: &ring::signature::Ed25519KeyPair, learner_id: &str) -> Vec<u8> {
    key.sign(keshi_protocol::draw::seed_message(learner_id).as_bytes())
        .as_ref()
        .to_vec()
}

/// Derives a learner's credit, class hours, flags and grades again from the records
/// the platform holds, with the current catalogue, and replaces what ingest stored
/// (one transaction). For a database from before the derived tables (done at start
/// for every learner without derived state) and for records that arrived before
/// their course was published (`keshi-platform admin rederive`).
pub async fn rederive(
    store: &Store,
    catalogue: &catalogue::Catalogue,
    learner_id: &str,
    skew_ms: i64,
    now: i64,
) -> Result<Rederived, StoreError> {
    let records = store.stored_records(learner_id).await?;
    let devices = store.devices_of(learner_id).await?;
    let leases: Vec<credit::LeaseWindow> = store
        .lease_windows(learner_id)
        .await?
        .into_iter()
        .map(|(device_id, from_ms, until_ms)| credit::LeaseWindow {
            device_id,
            from_ms,
            until_ms,
        })
        .collect();
    let photos = store.captures_of(learner_id).await?;
    let simulated: std::collections::HashSet<String> = devices
        .iter()
        .filter(|d| d.simulated)
        .map(|d| d.device_id.clone())
        .collect();
    let key = platform_key(store, now).await?;
    let r = credit::rederive(
        &records,
        &|d| simulated.contains(d),
        &leases,
        catalogue,
        &|sha| photos.contains(sha),
        skew_ms,
        &draw_seed(&key, learner_id),
    );
    let flags: u64 = r.devices.values().map(|d| d.flags.len() as u64).sum();
    let credited_ms: u64 = r
        .progress
        .iter()
        .filter(|((_, sim), _)| !sim)
        .map(|(_, (p, _))| p.credited_ms())
        .fold(0, u64::saturating_add);
    let mut out: Vec<(String, store::Derived)> = r
        .devices
        .into_iter()
        .map(|(device_id, d)| {
            let derived = store::Derived {
                device_fold: json(&d.fold),
                simulated: d.simulated,
                progress: Vec::new(),
                intervals: d.intervals,
                flags: d.flags,
                pending: d.pending,
                claims: d.claims,
                grades: d.grades,
            };
            (device_id, derived)
        })
        .collect();
    // The progress rows of each kind go with one device of that kind (progress is
    // the learner's, per course).
    for ((course, sim), (p, v)) in &r.progress {
        if let Some((_, d)) = out.iter_mut().find(|(_, d)| d.simulated == *sim) {
            d.progress.push((course.clone(), json(p), json(v)));
        }
    }
    store.replace_derived(learner_id, &out, now).await?;
    Ok(Rederived {
        learner_id: learner_id.to_owned(),
        records: records.len() as u64,
        credited_seconds: credited_ms as f64 / 1000.0,
        flags,
    })
}

/// JSON of a derived value (these plain structs always serialise).
fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// A temporary file beside `out` (same directory, so persisting it over `out` is a
/// rename): a file written there and renamed into place once complete leaves no
/// half file when writing fails.
pub fn temp_beside(
    out: &std::path::Path,
    prefix: &str,
) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| std::path::Path::new("."));
    tempfile::Builder::new().prefix(prefix).tempfile_in(dir)
}

/// Create a learner with a hashed password; returns the learner id.
#[allow(clippy::too_many_arguments)]
pub async fn create_learner(
    store: &Store,
    institution_id: &str,
    username: &str,
    password: &str,
    real_name: &str,
    id_number: &str,
    face_photo_ref: Option<String>,
    now: i64,
) -> Result<String, anyhow_free::CreateError> {
    let password_hash = auth::hash_password(password).map_err(anyhow_free::CreateError::Hash)?;
    let id = store::random_id();
    store
        .create_learner(
            &store::Learner {
                id: id.clone(),
                institution_id: institution_id.into(),
                username: username.into(),
                real_name: real_name.into(),
                id_number: id_number.into(),
                face_photo_ref,
                password_hash,
            },
            now,
        )
        .await?;
    Ok(id)
}

/// Error of [`create_learner`].
pub mod anyhow_free {
    /// Why a learner could not be created.
    #[derive(Debug, thiserror::Error)]
    pub enum CreateError {
        /// Hashing failed.
        #[error(transparent)]
        Hash(crate::auth::HashError),
        /// Storage failed (e.g. the user name exists).
        #[error(transparent)]
        Store(#[from] crate::StoreError),
    }
}
