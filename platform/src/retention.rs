//! Retention (issue 13, R-SV-4: data kept at least three years). A learner whose
//! last study, certificate and finding are all older than the retention period
//! may be purged: every row about them goes (records, photos, progress, results,
//! certificates, the learner), and a **tombstone** signed with the platform key
//! stays in their place. The log keeps its leaves (hashes only), so every
//! checkpoint still rebuilds; the auditor ([`crate::ledger::audit`]) accepts a
//! leaf whose record is gone only when a valid tombstone covers it.
//!
//! A tombstone is valid when its signature verifies under the platform key and
//! the checkpoint it cites was signed at least [`RETENTION_MS`] before the purge and
//! already held every leaf it covers (its root is checked against the rebuilt log
//! like any checkpoint). So whoever can write to the database — and could sign
//! with a key kept there — can never hide a record younger than the retention
//! period behind a tombstone: the auditor's own older checkpoints pin the
//! history, and a tombstone can only cover leaves they already held three years
//! before.

use keshi_protocol::merkle::{self, Checkpoint};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::store::{Store, StoreError};

/// The retention period: three years (1,096 days, a leap day included).
pub const RETENTION_MS: i64 = 1_096 * 86_400_000;

/// What a tombstone says (signed as canonical JSON after [`DOMAIN`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TombstoneStatement {
    /// Format version, 1.
    pub v: u32,
    /// SHA-256 of `keshi-learner\n` + the learner's id (no name, no ID number).
    pub learner_ref: String,
    /// The learner's institution (id).
    pub institution_id: String,
    /// Records purged.
    pub records: u64,
    /// Their leaves in the log.
    pub leaves: Vec<u64>,
    /// The Merkle root (RFC 6962) of their record hashes in leaf order: a record
    /// kept elsewhere (an archive) is shown to be one of them with its path.
    pub records_root: String,
    /// The serials of the learner's certificates (the public check then says
    /// "purged after the retention period", not "unknown").
    pub certificates: Vec<String>,
    /// The checkpoint that already held every leaf, signed at least the retention
    /// period before the purge.
    pub covered_by: Checkpoint,
    /// When (platform ms).
    pub purged_ms: i64,
}

/// A stored tombstone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// Id.
    pub id: String,
    /// What it says.
    pub statement: TombstoneStatement,
    /// The platform's Ed25519 signature over [`DOMAIN`] + the canonical statement,
    /// hex.
    pub signature: String,
}

/// The signing domain.
pub const DOMAIN: &[u8] = b"keshi-tombstone-v1\n";

/// The bytes a tombstone's signature covers.
pub fn signing_bytes(s: &TombstoneStatement) -> Vec<u8> {
    let mut out = DOMAIN.to_vec();
    // serde_json writes struct fields in declaration order: one canonical form.
    out.extend_from_slice(&serde_json::to_vec(s).unwrap_or_default());
    out
}

impl Tombstone {
    /// Whether it is valid under `platform_key` (see the module documentation);
    /// `Err` says why not. The cited checkpoint's root is the caller's to compare
    /// with the rebuilt log.
    pub fn check(&self, platform_key: &[u8; 32]) -> Result<(), String> {
        let s = &self.statement;
        let sig = hex::decode(&self.signature)
            .ok()
            .filter(|b| b.len() == 64)
            .ok_or("the signature is not 64 bytes of hex")?;
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, platform_key)
            .verify(&signing_bytes(s), &sig)
            .map_err(|_| "the signature does not verify under the platform key")?;
        s.covered_by
            .verify(Some(platform_key))
            .map_err(|e| format!("its checkpoint: {e}"))?;
        if s.purged_ms - s.covered_by.time_ms < RETENTION_MS {
            return Err(format!(
                "its checkpoint was signed {} days before the purge: the retention period is {} days (R-SV-4)",
                (s.purged_ms - s.covered_by.time_ms) / 86_400_000,
                RETENTION_MS / 86_400_000
            ));
        }
        if let Some(l) = s.leaves.iter().find(|l| **l >= s.covered_by.size) {
            return Err(format!(
                "leaf {l} was not in its checkpoint of {} records",
                s.covered_by.size
            ));
        }
        Ok(())
    }
}

/// Why a purge was refused.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    /// A cutoff inside the retention period.
    #[error("R-SV-4: data is kept at least three years; the cutoff must be on or before {0}")]
    TooRecent(String),
    /// A date that is not YYYY-MM-DD.
    #[error("{0:?} is not a date: write YYYY-MM-DD")]
    BadDate(String),
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a purge did (or, dry, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PurgeReport {
    /// The cutoff: learners with nothing since.
    pub before: String,
    /// Learners purged.
    pub learners: u64,
    /// Their records.
    pub records: u64,
    /// Photos deleted.
    pub photos: u64,
    /// Learners past the cutoff kept: their leaves are not yet in a checkpoint
    /// signed the retention period ago.
    pub kept: u64,
    /// The tombstones written.
    pub tombstones: Vec<Tombstone>,
    /// Nothing was changed.
    pub dry_run: bool,
}

/// Purges the learners with no study, certificate or finding since `before`
/// (`YYYY-MM-DD`, China time), which must lie the retention period before `now`.
pub async fn purge(
    store: &Store,
    key: &ring::signature::Ed25519KeyPair,
    blobs: &dyn crate::blob::BlobStore,
    before: &str,
    dry_run: bool,
    now: i64,
) -> Result<PurgeReport, PurgeError> {
    let day =
        crate::calendar::parse_day(before).ok_or_else(|| PurgeError::BadDate(before.into()))?;
    let cutoff = crate::calendar::day_start_ms(day);
    if cutoff > now - RETENTION_MS {
        return Err(PurgeError::TooRecent(crate::calendar::day_label(
            crate::calendar::day_of(now - RETENTION_MS),
        )));
    }
    crate::ledger::integrate_all(store, now).await?;
    // The newest checkpoint signed the retention period ago: what a tombstone cites.
    let covered_by = crate::ledger::stored_checkpoints(store)
        .await?
        .into_iter()
        .rfind(|cp| cp.time_ms <= now - RETENTION_MS);
    let candidates: Vec<(String, String)> = sqlx::query(
        "SELECT l.id, l.institution_id FROM learners l WHERE l.created_ms < $1 \
         AND NOT EXISTS (SELECT 1 FROM records r WHERE r.learner_id = l.id AND r.received_ms >= $1) \
         AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.learner_id = l.id AND c.issued_ms >= $1) \
         AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.learner_id = l.id AND (f.status = 'open' OR f.created_ms >= $1)) \
         AND NOT EXISTS (SELECT 1 FROM enrolments e WHERE e.learner_id = l.id AND e.enrolled_ms >= $1) \
         AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.learner_id = l.id AND d.enrolled_ms >= $1) \
         AND NOT EXISTS (SELECT 1 FROM leases s WHERE s.learner_id = l.id AND (s.issued_ms >= $1 OR s.offline_until_ms >= $1)) \
         AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.learner_id = l.id AND q.received_ms >= $1) \
         AND NOT EXISTS (SELECT 1 FROM pending_photos p WHERE p.learner_id = l.id) \
         ORDER BY l.id",
    )
    .bind(cutoff)
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::from)?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect::<Result<_, sqlx::Error>>()
    .map_err(StoreError::from)?;
    let mut report = PurgeReport {
        before: crate::calendar::day_label(day),
        dry_run,
        ..PurgeReport::default()
    };
    for (learner, institution) in candidates {
        let rows = sqlx::query(
            "SELECT leaf_index, hash FROM records WHERE learner_id = $1 ORDER BY leaf_index",
        )
        .bind(&learner)
        .fetch_all(&store.pool)
        .await
        .map_err(StoreError::from)?;
        let mut leaves = Vec::with_capacity(rows.len());
        let mut hashes = Vec::with_capacity(rows.len());
        for r in &rows {
            let idx: Option<i64> = r.try_get(0).map_err(StoreError::from)?;
            let hash: String = r.try_get(1).map_err(StoreError::from)?;
            leaves.push(idx.map(crate::store::u));
            hashes.push(merkle::parse_digest(&hash).unwrap_or([0; 32]));
        }
        let Some(leaves) = leaves.into_iter().collect::<Option<Vec<u64>>>() else {
            report.kept += 1;
            continue;
        };
        let Some(cp) = covered_by
            .as_ref()
            .filter(|cp| leaves.iter().all(|l| *l < cp.size))
        else {
            report.kept += 1;
            continue;
        };
        let certificates: Vec<String> =
            sqlx::query("SELECT serial FROM certificates WHERE learner_id = $1 ORDER BY serial")
                .bind(&learner)
                .fetch_all(&store.pool)
                .await
                .map_err(StoreError::from)?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()
                .map_err(StoreError::from)?;
        let mut tree = merkle::Frontier::new();
        for h in &hashes {
            tree.push(merkle::leaf_hash(h));
        }
        let statement = TombstoneStatement {
            v: 1,
            learner_ref: keshi_protocol::ids::Hash::of(
                format!("keshi-learner\n{learner}").as_bytes(),
            )
            .to_hex(),
            institution_id: institution,
            records: leaves.len() as u64,
            records_root: hex::encode(tree.root()),
            certificates,
            leaves,
            covered_by: cp.clone(),
            purged_ms: now,
        };
        let tombstone = Tombstone {
            id: crate::store::random_id(),
            signature: hex::encode(key.sign(&signing_bytes(&statement)).as_ref()),
            statement,
        };
        if !dry_run {
            match erase(store, blobs, &learner, &tombstone, now).await? {
                Some(photos) => report.photos += photos,
                None => {
                    // Something arrived for them meanwhile: kept.
                    report.kept += 1;
                    continue;
                }
            }
        }
        report.learners += 1;
        report.records += tombstone.statement.records;
        report.tombstones.push(tombstone);
    }
    Ok(report)
}

/// Deletes every row about `learner` and stores its tombstone, in one write
/// transaction; then the photos' files. Returns the photos deleted, or `None` (and
/// changes nothing) when the learner's records are no longer exactly the ones the
/// tombstone names: a record arrived between the choice and the write.
async fn erase(
    store: &Store,
    blobs: &dyn crate::blob::BlobStore,
    learner: &str,
    tombstone: &Tombstone,
    now: i64,
) -> Result<Option<u64>, StoreError> {
    let photos: Vec<String> = sqlx::query("SELECT sha256 FROM captures WHERE learner_id = $1")
        .bind(learner)
        .fetch_all(&store.pool)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let mut tx = store.begin_write().await?;
    let held: Vec<Option<i64>> =
        sqlx::query("SELECT leaf_index FROM records WHERE learner_id = $1 ORDER BY leaf_index")
            .bind(learner)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
    let named: Vec<Option<i64>> = tombstone
        .statement
        .leaves
        .iter()
        .map(|l| Some(crate::store::i(*l)))
        .collect();
    if held != named {
        tx.rollback().await?;
        return Ok(None);
    }
    sqlx::query("INSERT INTO tombstones(id, learner_ref, statement, signature, created_ms) VALUES ($1, $2, $3, $4, $5)")
        .bind(&tombstone.id)
        .bind(&tombstone.statement.learner_ref)
        .bind(serde_json::to_string(&tombstone.statement).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        .bind(&tombstone.signature)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    for l in &tombstone.statement.leaves {
        sqlx::query("INSERT INTO tombstone_leaves(idx, tombstone_id) VALUES ($1, $2)")
            .bind(crate::store::i(*l))
            .bind(&tombstone.id)
            .execute(&mut *tx)
            .await?;
    }
    for statement in [
        "DELETE FROM device_folds WHERE device_id IN (SELECT device_id FROM devices WHERE learner_id = $1)",
        "DELETE FROM records WHERE learner_id = $1",
        "DELETE FROM credit_intervals WHERE learner_id = $1",
        "DELETE FROM flags WHERE learner_id = $1",
        "DELETE FROM capture_checks WHERE sha256 IN (SELECT sha256 FROM captures WHERE learner_id = $1)",
        "DELETE FROM captures WHERE learner_id = $1",
        "DELETE FROM pending_photos WHERE learner_id = $1",
        "DELETE FROM photo_claims WHERE learner_id = $1",
        "DELETE FROM quiz_grades WHERE learner_id = $1",
        "DELETE FROM learner_progress WHERE learner_id = $1",
        "DELETE FROM learner_tallies WHERE learner_id = $1",
        "DELETE FROM course_results WHERE learner_id = $1",
        "DELETE FROM findings WHERE learner_id = $1",
        "DELETE FROM certificates WHERE learner_id = $1",
        "DELETE FROM enrolments WHERE learner_id = $1",
        "DELETE FROM spot_check_items WHERE learner_id = $1",
        "DELETE FROM quarantine WHERE learner_id = $1",
        "DELETE FROM leases WHERE learner_id = $1",
        "DELETE FROM devices WHERE learner_id = $1",
        "DELETE FROM learners WHERE id = $1",
    ] {
        sqlx::query(statement).bind(learner).execute(&mut *tx).await?;
    }
    let after = serde_json::json!({
        "tombstone": tombstone.id, "learner_ref": tombstone.statement.learner_ref,
        "records": tombstone.statement.records,
    });
    crate::staff::append_audit(
        &mut tx,
        &crate::staff::AuditRow {
            actor: "retention",
            action: "learner.purge",
            target: &tombstone.statement.learner_ref,
            institution_id: Some(&tombstone.statement.institution_id),
            region: None,
            before: None,
            after: Some(&after),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    let mut gone = 0;
    for sha in photos {
        match blobs.delete(&sha) {
            Ok(()) => gone += 1,
            Err(e) => tracing::warn!(sha256 = %sha, error = %e, "a purged photo's file stays"),
        }
    }
    Ok(Some(gone))
}

/// The tombstones, with the leaves each covers.
pub async fn tombstones(store: &Store) -> Result<Vec<Tombstone>, StoreError> {
    sqlx::query("SELECT id, statement, signature FROM tombstones ORDER BY created_ms, id")
        .fetch_all(&store.pool)
        .await?
        .iter()
        .map(|r| {
            let text: String = r.try_get(1)?;
            Ok(Tombstone {
                id: r.try_get(0)?,
                statement: serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("tombstone: {e}")))?,
                signature: r.try_get(2)?,
            })
        })
        .collect()
}
