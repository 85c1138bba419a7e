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

pub mod api;
pub mod auth;
pub mod blob;
pub mod credit;
pub mod ingest;
pub mod store;

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
    /// Segment records considered.
    pub segments: u64,
    /// Findings about segments.
    pub flags: Vec<credit::Flag>,
    /// Refused uploads kept in quarantine: `{code, device_id, seq}`.
    pub quarantined: Vec<serde_json::Value>,
}

/// Build the summary of a learner (by id or login name).
pub async fn summary(store: &Store, learner: &str) -> Result<Summary, StoreError> {
    let l = store
        .learner(learner)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("no learner {learner:?}")))?;
    let rows = store.learner_records(&l.id).await?;
    let mut records = Vec::with_capacity(rows.len());
    let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
    for (device_id, seq, kind, wall_ms, payload, _hash) in rows {
        *counts.entry(device_id.clone()).or_default() += 1;
        records.push(credit::StoredRecord {
            device_id,
            seq,
            kind,
            wall_ms,
            payload,
        });
    }
    let leases: Vec<credit::LeaseWindow> = store
        .lease_windows(&l.id)
        .await?
        .into_iter()
        .map(|(device_id, from_ms, until_ms)| credit::LeaseWindow {
            device_id,
            from_ms,
            until_ms,
        })
        .collect();
    let report = credit::derive(&records, &leases);
    let devices = store
        .devices_of(&l.id)
        .await?
        .into_iter()
        .map(|d| DeviceSummary {
            records: counts.get(&d.device_id).copied().unwrap_or(0),
            head_hash: (d.head_seq > 0).then(|| d.head_hash.to_hex()),
            head_seq: d.head_seq,
            device_id: d.device_id,
        })
        .collect();
    let quarantined = store
        .quarantined(Some(&l.id))
        .await?
        .into_iter()
        .map(|(code, device_id, seq)| serde_json::json!({"code": code, "device_id": device_id, "seq": seq}))
        .collect();
    Ok(Summary {
        learner_id: l.id,
        username: l.username,
        records: records.len() as u64,
        devices,
        credited_seconds: report.credited_ms as f64 / 1000.0,
        class_hours_completed: report
            .courses
            .values()
            .map(|c| c.class_hours_completed)
            .sum(),
        courses: report
            .courses
            .iter()
            .map(|(c, p)| (c.clone(), p.credited_ms as f64 / 1000.0))
            .collect(),
        course_progress: report
            .courses
            .iter()
            .map(|(c, p)| {
                (
                    c.clone(),
                    CourseProgress {
                        credited_seconds: p.credited_ms as f64 / 1000.0,
                        class_hours_completed: p.class_hours_completed,
                        class_hours_total: p.class_hours_total,
                    },
                )
            })
            .collect(),
        segments: report.segments,
        flags: report.flags,
        quarantined,
    })
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
