//! Spot checks (issue 13 item 4, R-SV-6): a sample of learners drawn from a seed
//! nobody can choose, the checks made on them (video, phone callback, data pull)
//! and what follows: abnormal data removes the learner's subsidy; a class below 80%
//! attendance in two spot checks loses its eligibility.
//!
//! The draw is reproducible by anyone holding the published checkpoint and the list
//! of learners in the scope:
//! - `seed = SHA-256("keshi-spot-check-v1\n" + checkpoint root (hex) + "\n" + date
//!   (YYYY-MM-DD) + "\n" + scope + "\n")` — the checkpoint is the newest one the
//!   platform signed before the draw (signed then if there is none);
//! - each learner's rank is `SHA-256(seed || login name)` (hex); the sample is the
//!   `n` lowest ranks.
//!
//! One draw per scope and date: drawing again answers the same sample.

use serde::Serialize;
use sqlx::Row;

use crate::staff::Scope;
use crate::store::{Store, StoreError};

/// A class below this attendance (thousandths) in two spot checks loses its
/// eligibility (R-SV-6: 抽查两次到课率低于80%).
pub const CLASS_ATTENDANCE_PERMILLE: i64 = 800;

/// The seed of a draw.
pub fn seed(checkpoint_root: &str, day: &str, scope: &str) -> [u8; 32] {
    keshi_protocol::ids::Hash::of(
        format!("keshi-spot-check-v1\n{checkpoint_root}\n{day}\n{scope}\n").as_bytes(),
    )
    .0
}

/// The `n` learners of `users` with the lowest rank under `seed`, lowest first.
pub fn sample(seed: &[u8; 32], users: &[String], n: usize) -> Vec<String> {
    let mut ranked: Vec<(String, &String)> = users
        .iter()
        .map(|u| {
            let mut buf = seed.to_vec();
            buf.extend_from_slice(u.as_bytes());
            (keshi_protocol::ids::Hash::of(&buf).to_hex(), u)
        })
        .collect();
    ranked.sort();
    ranked.into_iter().take(n).map(|(_, u)| u.clone()).collect()
}

/// A class's attendance when a check was drawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassAttendance {
    /// Institution name.
    pub institution: String,
    /// Class.
    pub class: String,
    /// Mean attendance of its learners' courses, thousandths.
    pub attendance_permille: i64,
}

/// A drawn spot check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpotCheck {
    /// Id (to record results against).
    pub id: String,
    /// The scope drawn from (an institution's name, a region, or `*`).
    pub scope: String,
    /// The date (China time).
    pub date: String,
    /// The seed (hex).
    pub seed: String,
    /// The checkpoint it was drawn from.
    pub checkpoint_size: u64,
    /// Its root.
    pub checkpoint_root: String,
    /// Learners in the scope.
    pub population: u64,
    /// The sample, lowest rank first.
    pub sample: Vec<String>,
    /// The sampled learners' classes, with their attendance then.
    pub classes: Vec<ClassAttendance>,
    /// Classes that have now been below the threshold in two checks or more.
    pub ineligible_classes: Vec<ClassAttendance>,
    /// The checks made on the sampled learners so far, in sample order.
    pub checks: Vec<SampledLearner>,
}

/// A sampled learner and the check made on them, if any yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SampledLearner {
    /// Login name.
    pub user: String,
    /// `video`, `phone` or `data`, once checked.
    pub method: Option<String>,
    /// `normal` or `abnormal`, once checked.
    pub result: Option<String>,
    /// What the checker noted.
    pub note: Option<String>,
    /// Who recorded it.
    pub recorder: Option<String>,
    /// When (platform ms).
    pub recorded_ms: Option<i64>,
}

/// A spot check as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpotCheckSummary {
    /// Id.
    pub id: String,
    /// The scope drawn from.
    pub scope: String,
    /// The date.
    pub date: String,
    /// Learners sampled.
    pub size: u64,
    /// Of them, checked so far.
    pub checked: u64,
    /// Of them, found abnormal.
    pub abnormal: u64,
}

/// Why a draw or a record was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpotCheckError {
    /// A date that is not YYYY-MM-DD.
    #[error("{0:?} is not a date: write YYYY-MM-DD")]
    BadDate(String),
    /// Unknown method or result.
    #[error("{0}")]
    Bad(String),
    /// No such check, or the learner is not in its sample.
    #[error("{0}")]
    NotFound(String),
    /// The learner's check is already recorded.
    #[error("{0}")]
    Recorded(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn db(e: sqlx::Error) -> SpotCheckError {
    SpotCheckError::Store(StoreError::from(e))
}

/// The scope a label names: `*`, an institution's name, else a region.
pub async fn scope_of(store: &Store, label: &str) -> Result<Scope, StoreError> {
    if label == "*" {
        return Ok(Scope::All);
    }
    Ok(match store.institution(label).await? {
        Some(id) => Scope::Institution(id),
        None => Scope::Region(crate::staff::normalize_region(label)),
    })
}

/// Draws (or answers again) the spot check of `scope_label` on `day`.
pub async fn draw(
    store: &Store,
    key: &ring::signature::Ed25519KeyPair,
    scope_label: &str,
    day: &str,
    n: usize,
    actor: &str,
    now: i64,
) -> Result<SpotCheck, SpotCheckError> {
    let valid_day = crate::calendar::parse_day(day).is_some();
    if !valid_day {
        return Err(SpotCheckError::BadDate(day.to_owned()));
    }
    let scope = scope_of(store, scope_label).await?;
    // One spelling per scope: the seed and the one-draw-per-day rule must not be
    // escaped by writing the same scope another way (`Shanxi/Taiyuan/`).
    let canonical = match &scope {
        Scope::All => "*".to_owned(),
        Scope::Institution(id) => store
            .institution_name(id)
            .await?
            .unwrap_or_else(|| scope_label.to_owned()),
        Scope::Region(r) => crate::staff::normalize_region(r),
    };
    let scope_label = canonical.as_str();
    let existing = sqlx::query("SELECT id FROM spot_checks WHERE scope = $1 AND day = $2")
        .bind(scope_label)
        .bind(day)
        .fetch_optional(&store.pool)
        .await
        .map_err(db)?;
    let id = match existing {
        Some(r) => r.try_get::<String, _>(0).map_err(db)?,
        None => {
            let cp = match crate::ledger::latest_checkpoint(store).await? {
                Some(cp) => cp,
                None => crate::ledger::checkpoint(store, key, now).await?,
            };
            let seed = seed(&cp.root, day, scope_label);
            let (cond, values) = scope.condition(1);
            let sql = format!(
                "SELECT l.username, l.id, l.institution_id, l.class FROM learners l \
                 JOIN institutions i ON i.id = l.institution_id WHERE {cond} ORDER BY l.username"
            );
            let mut q = sqlx::query(&sql);
            for v in &values {
                q = q.bind(v);
            }
            let rows = q.fetch_all(&store.pool).await.map_err(db)?;
            let users: Vec<String> = rows
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()
                .map_err(db)?;
            let picked = sample(&seed, &users, n);
            let id = crate::store::random_id();
            let mut tx = store.begin_write().await.map_err(db)?;
            sqlx::query(
                "INSERT INTO spot_checks(id, scope, day, seed, checkpoint_size, checkpoint_root, population, size, \
                 actor, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&id)
            .bind(scope_label)
            .bind(day)
            .bind(hex::encode(seed))
            .bind(i64::try_from(cp.size).unwrap_or(i64::MAX))
            .bind(&cp.root)
            .bind(i64::try_from(users.len()).unwrap_or(i64::MAX))
            .bind(i64::try_from(n).unwrap_or(i64::MAX))
            .bind(actor)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            let mut classes = std::collections::BTreeSet::new();
            for (rank, user) in picked.iter().enumerate() {
                let Some(r) = rows
                    .iter()
                    .find(|r| r.try_get::<String, _>(0).ok().as_deref() == Some(user))
                else {
                    continue;
                };
                let learner: String = r.try_get(1).map_err(db)?;
                classes.insert((
                    r.try_get::<String, _>(2).map_err(db)?,
                    r.try_get::<String, _>(3).map_err(db)?,
                ));
                sqlx::query("INSERT INTO spot_check_items(check_id, learner_id, draw_rank) VALUES ($1, $2, $3)")
                    .bind(&id)
                    .bind(&learner)
                    .bind(i64::try_from(rank).unwrap_or(i64::MAX))
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
            // The sampled learners' classes, with their attendance now (the
            // results of real study; a class with none counts 0).
            for (inst, class) in &classes {
                let r = sqlx::query(
                    "SELECT CAST(COALESCE(SUM(c.attendance_permille), 0) AS BIGINT), COUNT(*) FROM course_results c \
                     JOIN learners l ON l.id = c.learner_id WHERE l.institution_id = $1 AND l.class = $2",
                )
                .bind(inst)
                .bind(class)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
                let (sum, count): (i64, i64) =
                    (r.try_get(0).map_err(db)?, r.try_get(1).map_err(db)?);
                let avg = if count > 0 { sum / count } else { 0 };
                sqlx::query(
                    "INSERT INTO spot_check_classes(check_id, institution_id, class, attendance_permille) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&id)
                .bind(inst)
                .bind(class)
                .bind(avg)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
            let after = serde_json::json!({"scope": scope_label, "date": day, "sample": picked});
            crate::staff::append_audit(
                &mut tx,
                &crate::staff::AuditRow {
                    actor,
                    action: "spot_check.draw",
                    target: &id,
                    institution_id: match &scope {
                        Scope::Institution(i) => Some(i.as_str()),
                        _ => None,
                    },
                    region: match &scope {
                        Scope::Region(r) => Some(r.as_str()),
                        _ => None,
                    },
                    before: None,
                    after: Some(&after),
                },
                now,
            )
            .await?;
            tx.commit().await.map_err(db)?;
            id
        }
    };
    load(store, &id).await
}

/// A stored spot check.
pub async fn load(store: &Store, id: &str) -> Result<SpotCheck, SpotCheckError> {
    let r = sqlx::query(
        "SELECT scope, day, seed, checkpoint_size, checkpoint_root, population FROM spot_checks WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&store.pool)
    .await
    .map_err(db)?
    .ok_or_else(|| SpotCheckError::NotFound(format!("no spot check {id}")))?;
    let checks: Vec<SampledLearner> = sqlx::query(
        "SELECT l.username, s.method, s.result, s.note, s.recorder, s.recorded_ms FROM spot_check_items s \
         JOIN learners l ON l.id = s.learner_id WHERE s.check_id = $1 ORDER BY s.draw_rank",
    )
    .bind(id)
    .fetch_all(&store.pool)
    .await
    .map_err(db)?
    .iter()
    .map(|r| {
        Ok(SampledLearner {
            user: r.try_get(0)?,
            method: r.try_get(1)?,
            result: r.try_get(2)?,
            note: r.try_get(3)?,
            recorder: r.try_get(4)?,
            recorded_ms: r.try_get(5)?,
        })
    })
    .collect::<Result<_, sqlx::Error>>()
    .map_err(db)?;
    let sample = checks.iter().map(|c| c.user.clone()).collect();
    let classes = class_rows(
        store,
        "SELECT i.name, c.class, c.attendance_permille FROM spot_check_classes c \
         JOIN institutions i ON i.id = c.institution_id WHERE c.check_id = $1 ORDER BY i.name, c.class",
        Some(id),
    )
    .await?;
    Ok(SpotCheck {
        id: id.to_owned(),
        scope: r.try_get(0).map_err(db)?,
        date: r.try_get(1).map_err(db)?,
        seed: r.try_get(2).map_err(db)?,
        checkpoint_size: u64::try_from(r.try_get::<i64, _>(3).map_err(db)?).unwrap_or(0),
        checkpoint_root: r.try_get(4).map_err(db)?,
        population: u64::try_from(r.try_get::<i64, _>(5).map_err(db)?).unwrap_or(0),
        sample,
        classes,
        ineligible_classes: ineligible_classes(store).await?,
        checks,
    })
}

/// Whether the scope a check names (`label`) lies within a staff member's `scope`:
/// the operator's holds every label; a region holds itself, its sub-regions and
/// the institutions in them; an institution holds only itself.
pub async fn label_within(store: &Store, scope: &Scope, label: &str) -> Result<bool, StoreError> {
    let under = |region: &str, r: &str| r == region || r.starts_with(&format!("{region}/"));
    Ok(match (scope, scope_of(store, label).await?) {
        (Scope::All, _) => true,
        (_, Scope::All) => false,
        (Scope::Region(mine), Scope::Region(r)) => under(mine, &r),
        (Scope::Region(mine), Scope::Institution(id)) => {
            let region: Option<String> =
                sqlx::query("SELECT region FROM institutions WHERE id = $1")
                    .bind(&id)
                    .fetch_optional(&store.pool)
                    .await?
                    .map(|r| r.try_get(0))
                    .transpose()?;
            region.is_some_and(|r| under(mine, &r))
        }
        (Scope::Institution(mine), Scope::Institution(id)) => *mine == id,
        (Scope::Institution(_), Scope::Region(_)) => false,
    })
}

/// The spot checks whose scope lies within `scope`, newest first.
pub async fn list(store: &Store, scope: &Scope) -> Result<Vec<SpotCheckSummary>, StoreError> {
    let rows = sqlx::query(
        "SELECT c.id, c.scope, c.day, CAST(COUNT(s.learner_id) AS BIGINT), \
         CAST(SUM(CASE WHEN s.result IS NULL THEN 0 ELSE 1 END) AS BIGINT), \
         CAST(SUM(CASE WHEN s.result = 'abnormal' THEN 1 ELSE 0 END) AS BIGINT) \
         FROM spot_checks c LEFT JOIN spot_check_items s ON s.check_id = c.id \
         GROUP BY c.id, c.scope, c.day, c.created_ms ORDER BY c.created_ms DESC, c.id",
    )
    .fetch_all(&store.pool)
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let label: String = r.try_get(1)?;
        if !label_within(store, scope, &label).await? {
            continue;
        }
        let n = |i: usize| -> Result<u64, StoreError> {
            Ok(crate::store::u(
                r.try_get::<Option<i64>, _>(i)?.unwrap_or(0),
            ))
        };
        out.push(SpotCheckSummary {
            id: r.try_get(0)?,
            scope: label,
            date: r.try_get(2)?,
            size: n(3)?,
            checked: n(4)?,
            abnormal: n(5)?,
        });
    }
    Ok(out)
}

async fn class_rows(
    store: &Store,
    sql: &str,
    id: Option<&str>,
) -> Result<Vec<ClassAttendance>, SpotCheckError> {
    let mut q = sqlx::query(sql);
    if let Some(id) = id {
        q = q.bind(id);
    }
    q.fetch_all(&store.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| {
            Ok(ClassAttendance {
                institution: r.try_get(0).map_err(db)?,
                class: r.try_get(1).map_err(db)?,
                attendance_permille: r.try_get(2).map_err(db)?,
            })
        })
        .collect()
}

/// Classes below [`CLASS_ATTENDANCE_PERMILLE`] in two spot checks or more (R-SV-6):
/// they lose eligibility (the settlement withholds their learners). Their lowest
/// attendance is given.
pub async fn ineligible_classes(store: &Store) -> Result<Vec<ClassAttendance>, SpotCheckError> {
    class_rows(
        store,
        &format!(
            "SELECT i.name, c.class, MIN(c.attendance_permille) FROM spot_check_classes c \
             JOIN institutions i ON i.id = c.institution_id JOIN spot_checks k ON k.id = c.check_id \
             WHERE c.attendance_permille < {CLASS_ATTENDANCE_PERMILLE} \
             GROUP BY i.name, c.class HAVING COUNT(DISTINCT k.day) >= 2 ORDER BY i.name, c.class"
        ),
        None,
    )
    .await
}

/// Records a check made on a sampled learner (`video`, `phone`, `data`) and its
/// result (`normal`, `abnormal`), audit-logged. Abnormal removes the learner's
/// subsidy: a confirmed finding `spot_check` against all their courses.
#[allow(clippy::too_many_arguments)]
pub async fn record(
    store: &Store,
    check_id: &str,
    user: &str,
    method: &str,
    result: &str,
    note: &str,
    actor: &str,
    now: i64,
) -> Result<(), SpotCheckError> {
    if !["video", "phone", "data"].contains(&method) {
        return Err(SpotCheckError::Bad(format!(
            "method {method:?}: video, phone or data"
        )));
    }
    if !["normal", "abnormal"].contains(&result) {
        return Err(SpotCheckError::Bad(format!(
            "result {result:?}: normal or abnormal"
        )));
    }
    let r = sqlx::query(
        "SELECT l.id, l.institution_id FROM spot_check_items s JOIN learners l ON l.id = s.learner_id \
         WHERE s.check_id = $1 AND l.username = $2",
    )
    .bind(check_id)
    .bind(user)
    .fetch_optional(&store.pool)
    .await
    .map_err(db)?
    .ok_or_else(|| SpotCheckError::NotFound(format!("{user} is not in the sample of spot check {check_id}")))?;
    let learner: String = r.try_get(0).map_err(db)?;
    let inst: String = r.try_get(1).map_err(db)?;
    let mut tx = store.begin_write().await.map_err(db)?;
    // A result stands once recorded (an abnormal one has removed the subsidy): a
    // second record of the same learner is refused, not an overwrite.
    let done = sqlx::query(
        "UPDATE spot_check_items SET method = $1, result = $2, note = $3, recorder = $4, recorded_ms = $5 \
         WHERE check_id = $6 AND learner_id = $7 AND result IS NULL",
    )
    .bind(method)
    .bind(result)
    .bind(note)
    .bind(actor)
    .bind(now)
    .bind(check_id)
    .bind(&learner)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    if done.rows_affected() == 0 {
        tx.rollback().await.map_err(db)?;
        return Err(SpotCheckError::Recorded(format!(
            "the check of {user} in spot check {check_id} is already recorded"
        )));
    }
    if result == "abnormal" {
        let evidence = "[]";
        let detail = crate::observation::Observation::SpotCheck {
            method: method.to_owned(),
        };
        sqlx::query(
            "INSERT INTO findings(id, rules_version, rule, severity, learner_id, course, dedupe, observed, limit_value, \
             clause, evidence, affected_ms, status, reviewer, reason, reviewed_ms, created_ms, detail) \
             VALUES ($1, 'spot-checks/1', 'spot_check', 'high', $2, NULL, $3, $4, $10, $5, $6, 0, 'confirmed', $7, $8, $9, $9, $11) \
             ON CONFLICT (rule, learner_id, dedupe) DO NOTHING",
        )
        .bind(crate::store::random_id())
        .bind(&learner)
        .bind(check_id)
        .bind(detail.observed_en())
        .bind("R-SV-6: 抽查发现数据异常的，取消该学员补贴")
        .bind(evidence)
        .bind(actor)
        .bind(note)
        .bind(now)
        .bind(detail.limit_en())
        .bind(serde_json::to_string(&detail).unwrap_or_default())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    let after =
        serde_json::json!({"check": check_id, "method": method, "result": result, "note": note});
    crate::staff::append_audit(
        &mut tx,
        &crate::staff::AuditRow {
            actor,
            action: "spot_check.record",
            target: user,
            institution_id: Some(&inst),
            region: None,
            before: None,
            after: Some(&after),
        },
        now,
    )
    .await?;
    tx.commit().await.map_err(db)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_the_lowest_ranks_and_the_seed_moves_it() {
        let users: Vec<String> = (0..40).map(|i| format!("u{i:02}")).collect();
        let s1 = seed("ab", "2026-12-02", "shanxi");
        let a = sample(&s1, &users, 5);
        assert_eq!(a.len(), 5);
        assert_eq!(a, sample(&s1, &users, 5), "reproducible");
        // The ranks are the hash of seed and name: recomputed by hand.
        let rank = |u: &str| {
            let mut b = s1.to_vec();
            b.extend_from_slice(u.as_bytes());
            keshi_protocol::ids::Hash::of(&b).to_hex()
        };
        let mut all: Vec<(String, &String)> = users.iter().map(|u| (rank(u), u)).collect();
        all.sort();
        assert_eq!(
            a,
            all.iter().take(5).map(|x| x.1.clone()).collect::<Vec<_>>()
        );
        assert_ne!(a, sample(&seed("ab", "2026-12-03", "shanxi"), &users, 5));
        assert_ne!(a, sample(&seed("ac", "2026-12-02", "shanxi"), &users, 5));
        assert_eq!(sample(&s1, &users, 100).len(), 40);
    }
}
