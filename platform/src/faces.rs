//! Face verification on the platform (issue 14, R-ID-2, R-ST-3): every capture
//! photo a learner uploads is compared with the learner's enrolment photo by the
//! platform itself — the device's own check is advisory (it can be patched); this
//! one is what supervision reads. Detect → landmarks → 5-point warp → embedding →
//! distance to the enrolment template (`capture::verify`, models shipped in the
//! binary), with the quality gate.
//!
//! A background task ([`run`]) works through the captures without a check, oldest
//! first, a few at a time on the blocking pool; an upload wakes it, so a check
//! lands seconds after its photo and an upload never waits for one. A platform
//! restarted, or one whose models fail to load, catches up later: nothing is lost.
//! The results land in `capture_checks` (one row per photo): the console shows
//! each capture with its distance and verdict, and the `face_mismatch` rule
//! (`farming.rs`) raises a finding for each photo that is not the learner.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use capture::verify::{FaceVerifier, Template};
use sqlx::Row;

use crate::blob::BlobStore;
use crate::store::{Store, StoreError};

pub use keshi_protocol::staff::{FaceVerdict as Verdict, PhotoCheck};

/// A distance this small is the same picture, not two camera frames of one face
/// (frames seconds apart differ by 0.1 or more; a re-encoded copy by far less).
pub const COPY_DISTANCE: f32 = 0.02;

/// Photos checked per round of the background task.
const BATCH: i64 = 16;
/// Enrolment templates kept in memory (a learner's template is reused for every
/// capture of theirs).
const TEMPLATES: usize = 4096;

/// The platform's verifier: the models, loaded once on first use, and the
/// enrolment templates computed so far (by enrolment photo).
#[derive(Default)]
pub struct Faces {
    verifier: OnceLock<Option<FaceVerifier>>,
    templates: Mutex<HashMap<String, Option<Template>>>,
    wake: tokio::sync::Notify,
}

impl std::fmt::Debug for Faces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faces")
            .field("loaded", &self.verifier.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Faces {
    /// A photo was uploaded: check it soon.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn verifier(&self) -> Option<&FaceVerifier> {
        self.verifier
            .get_or_init(|| match FaceVerifier::for_photos() {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::error!(error = %e, "face models did not load: capture photos are not verified");
                    None
                }
            })
            .as_ref()
    }

    /// The threshold in use.
    pub fn threshold(&self) -> f32 {
        self.verifier()
            .map_or(capture::verify::DEFAULT_THRESHOLD, FaceVerifier::threshold)
    }

    /// Compares a capture photo with an enrolment photo (`(sha256, bytes)`; `None`
    /// when the learner has none). CPU work: call on the blocking pool. `None` when
    /// the models are not available.
    pub fn check(
        &self,
        enrolment: Option<(&str, &[u8])>,
        capture_photo: &[u8],
    ) -> Option<(Verdict, Option<f32>)> {
        let v = self.verifier()?;
        let Some((enrol_sha, enrol_bytes)) = enrolment else {
            return Some((Verdict::NoEnrolment, None));
        };
        if keshi_protocol::ids::Hash::of(capture_photo).to_hex() == enrol_sha {
            return Some((Verdict::EnrolmentCopy, Some(0.0)));
        }
        let template = {
            let cached = self
                .templates
                .lock()
                .ok()
                .and_then(|t| t.get(enrol_sha).cloned());
            match cached {
                Some(t) => t,
                None => {
                    let t = image::load_from_memory(enrol_bytes)
                        .ok()
                        .and_then(|img| v.enrol(&[img.to_rgb8()]).ok())
                        .map(|e| e.template);
                    if let Ok(mut map) = self.templates.lock() {
                        if map.len() >= TEMPLATES {
                            map.clear();
                        }
                        map.insert(enrol_sha.to_owned(), t.clone());
                    }
                    t
                }
            }
        };
        let Some(template) = template else {
            return Some((Verdict::NoEnrolment, None));
        };
        let Ok(img) = image::load_from_memory(capture_photo) else {
            return Some((Verdict::Unreadable, None));
        };
        match v.verify_frames(&template, &[img.to_rgb8()]) {
            Ok(r) => Some(match r.comparison {
                Some(c) if c.distance < COPY_DISTANCE => (Verdict::EnrolmentCopy, Some(c.distance)),
                Some(c) if c.same => (Verdict::Match, Some(c.distance)),
                Some(c) => (Verdict::Mismatch, Some(c.distance)),
                None => (Verdict::NoFace, None),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "a capture photo could not be verified");
                Some((Verdict::Unreadable, None))
            }
        }
    }
}

/// Distances are stored in millionths (integers in both databases).
#[allow(clippy::cast_possible_truncation)] // distances and thresholds are a few units
fn to_micro(d: f32) -> i64 {
    (f64::from(d) * 1e6).round() as i64
}

fn from_micro(m: i64) -> f64 {
    m as f64 / 1e6
}

/// Checks up to a batch (16) of capture photos that have none yet, oldest first; returns
/// how many it checked (0 when there is nothing to do or the models are missing).
pub async fn check_pending(
    store: &Store,
    blobs: &Arc<dyn BlobStore>,
    faces: &Arc<Faces>,
    now: i64,
) -> Result<u64, StoreError> {
    let rows = sqlx::query(
        "SELECT c.sha256, l.face_photo_ref, l.id FROM captures c JOIN learners l ON l.id = c.learner_id \
         LEFT JOIN capture_checks k ON k.sha256 = c.sha256 WHERE k.sha256 IS NULL \
         ORDER BY c.stored_ms, c.sha256 LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(&store.pool)
    .await?;
    let mut done = 0;
    for r in &rows {
        let sha: String = r.try_get(0)?;
        let face_ref: Option<String> = r.try_get(1)?;
        let learner: String = r.try_get(2)?;
        let enrol_sha = crate::staff::photo_blob(face_ref.as_deref()).map(str::to_owned);
        let (blobs, faces, sha2) = (blobs.clone(), faces.clone(), sha.clone());
        let checked = tokio::task::spawn_blocking(move || {
            let photo = blobs.get(&sha2).ok().flatten();
            let enrolment = enrol_sha
                .as_deref()
                .and_then(|e| blobs.get(e).ok().flatten().map(|b| (e.to_owned(), b)));
            let verdict = match photo {
                None => Some((Verdict::Unreadable, None)),
                Some(p) => faces.check(
                    enrolment.as_ref().map(|(s, b)| (s.as_str(), b.as_slice())),
                    &p,
                ),
            };
            verdict.map(|v| (v, faces.threshold()))
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("face check task: {e}")))?;
        let Some(((verdict, distance), threshold)) = checked else {
            // No models: nothing can be checked now.
            return Ok(done);
        };
        // The enrolment photo changed while this one was checked: check it again.
        let now_ref: Option<String> =
            sqlx::query("SELECT face_photo_ref FROM learners WHERE id = $1")
                .bind(&learner)
                .fetch_optional(&store.pool)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?
                .flatten();
        if now_ref != face_ref {
            continue;
        }
        sqlx::query(
            "INSERT INTO capture_checks(sha256, verdict, distance_micro, threshold_micro, model, checked_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(&sha)
        .bind(verdict.as_str())
        .bind(distance.map(to_micro))
        .bind(to_micro(threshold))
        .bind(capture::verify::MODEL_ID)
        .bind(now)
        .execute(&store.pool)
        .await?;
        done += 1;
    }
    Ok(done)
}

/// Forgets the checks of a learner's capture photos (their enrolment photo
/// changed): the background task checks them again.
pub async fn forget_learner(store: &Store, learner_id: &str) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "DELETE FROM capture_checks WHERE sha256 IN (SELECT sha256 FROM captures WHERE learner_id = $1)",
    )
    .bind(learner_id)
    .execute(&store.pool)
    .await?
    .rows_affected())
}

/// The checks of these photos (those checked so far).
pub async fn checks_of(store: &Store, shas: &[String]) -> Result<Vec<PhotoCheck>, StoreError> {
    let mut out = Vec::new();
    for chunk in shas.chunks(200) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT sha256, verdict, distance_micro, threshold_micro, model, checked_ms FROM capture_checks \
             WHERE sha256 IN ({})",
            marks.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for s in chunk {
            q = q.bind(s);
        }
        for r in q.fetch_all(&store.pool).await? {
            out.push(PhotoCheck {
                sha256: r.try_get(0)?,
                verdict: Verdict::parse(&r.try_get::<String, _>(1)?).unwrap_or(Verdict::Unreadable),
                distance: r.try_get::<Option<i64>, _>(2)?.map(from_micro),
                threshold: from_micro(r.try_get(3)?),
                model: r.try_get(4)?,
                checked_ms: r.try_get(5)?,
            });
        }
    }
    Ok(out)
}

/// The service's face-check task: woken by each upload, and every minute to catch
/// up; checks what has none until nothing is left.
pub async fn run(
    store: Store,
    blobs: Arc<dyn BlobStore>,
    faces: Arc<Faces>,
    clock: crate::api::Clock,
) {
    loop {
        loop {
            match check_pending(&store, &blobs, &faces, clock()).await {
                Ok(0) => break,
                Ok(n) => tracing::debug!(n, "capture photos verified"),
                Err(e) => {
                    tracing::warn!(error = %e, "face checks failed; retrying in a minute");
                    break;
                }
            }
        }
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(60), faces.wake.notified()).await;
    }
}
