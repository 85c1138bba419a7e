//! Effective hours, attendance and qualification per learner and course (issue 13
//! items 1–2; R-AS-2, R-AS-3, R-AS-5), computed from what the platform derived from
//! the signed records alone (`learner_progress`, `quiz_grades`: the shared fold with
//! the catalogue's rules and the platform's own evidence) and written to the
//! `course_results` summary table, so reports are plain SQL.
//!
//! The formula (profile-driven; `docs/supervision.md` states it for staff):
//! - `credited_seconds`: course time credited by the platform's replay (no seek,
//!   1.0x, focus, idle, lease and overlap rules — each refusal is counted in
//!   `not_counted` by its code);
//! - `class_hours_completed`: class hours whose credit was reached, whose capture
//!   photos the platform received, and whose quiz the platform graded as passed;
//! - `class_hours_planned`: the class hours of the published course
//!   (`course length / class_hour_minutes` of its profile);
//! - `attendance = min(1, completed / planned)` — to-class rate (到课率, R-AS-5); a
//!   learner below the profile's `attendance_threshold` (0.8 in every profile so
//!   far) is *at risk*;
//! - `score`: the platform-graded quiz accuracy, 0–100: over the class hours with a
//!   graded quiz, the right answers of each hour's best attempt over its questions;
//! - `qualified` (R-AS-2): every planned class hour completed, `score >=
//!   quiz_pass_ratio × 100` (60), the attendance threshold met, and no confirmed
//!   course-farming finding against the course — the learners a certificate and a
//!   subsidy may follow.
//!
//! Study of devices enrolled by `keshi simulate` never counts here; a demo or test
//! platform (`serve --accept-simulated`) can ask for it separately (`simulated`),
//! and those results are never written to the summary table.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use crate::catalogue::Catalogue;
use crate::staff::Scope;
use crate::store::{Store, StoreError};

/// One learner's result in one course.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CourseResult {
    /// Login name.
    pub user: String,
    /// Real name.
    pub real_name: String,
    /// Class.
    pub class: String,
    /// Institution name.
    pub institution: String,
    /// Course id.
    pub course: String,
    /// The course's level (`junior`, `intermediate`, `senior`).
    pub level: String,
    /// Credited course time, seconds.
    pub credited_seconds: f64,
    /// The same, milliseconds (as stored).
    #[serde(skip)]
    pub credited_ms: u64,
    /// Class hours completed (credit, photos received, quiz passed here).
    pub class_hours_completed: u32,
    /// Class hours the course plans.
    pub class_hours_planned: u32,
    /// `min(1, completed / planned)`.
    pub attendance: f64,
    /// Below the profile's attendance threshold.
    pub at_risk: bool,
    /// Platform-graded quiz accuracy, 0–100.
    pub score: u32,
    /// Qualified (R-AS-2): see the module documentation.
    pub qualified: bool,
    /// Why study did not count, by code, with how often (the fold's violations).
    pub not_counted: BTreeMap<String, u32>,
    /// Confirmed course-farming findings against this course.
    pub confirmed_flags: u32,
}

/// The to-class rate of `completed` of `planned` class hours, in `0..=1`.
pub fn attendance(completed: u32, planned: u32) -> f64 {
    if planned == 0 {
        return 0.0;
    }
    (f64::from(completed) / f64::from(planned)).min(1.0)
}

/// The to-class rate in thousandths, as stored (integers in the database).
pub fn permille(completed: u32, planned: u32) -> i64 {
    if planned == 0 {
        return 0;
    }
    i64::from(completed.min(planned)) * 1000 / i64::from(planned)
}

/// Quiz accuracy 0–100 from each class hour's best attempt `(correct, total)`.
pub fn score(best: &BTreeMap<u32, (u32, u32)>) -> u32 {
    let (c, t) = best.values().fold((0u64, 0u64), |(c, t), (bc, bt)| {
        (c + u64::from(*bc), t + u64::from(*bt))
    });
    if t == 0 {
        return 0;
    }
    u32::try_from(c * 100 / t).unwrap_or(100)
}

/// Computes the results of every enrolled or studying learner of `course` (every
/// course when `None`), writes them to `course_results`, and returns them ordered by
/// class and login name.
pub async fn summarise(
    store: &Store,
    catalogue: &Catalogue,
    course: Option<&str>,
    scope: &Scope,
    simulated: bool,
    now: i64,
) -> Result<Vec<CourseResult>, StoreError> {
    summarise_with(store, catalogue, course, scope, simulated, true, now).await
}

/// [`summarise`], writing the summary table only when `write` (a staff member's
/// request reads; the service's job and the admin command write).
pub async fn summarise_with(
    store: &Store,
    catalogue: &Catalogue,
    course: Option<&str>,
    scope: &Scope,
    simulated: bool,
    write: bool,
    now: i64,
) -> Result<Vec<CourseResult>, StoreError> {
    let courses: Vec<String> = match course {
        Some(c) => vec![c.to_owned()],
        None => catalogue.iter().map(|p| p.course.id.clone()).collect(),
    };
    let mut out = Vec::new();
    for course in courses {
        out.extend(
            summarise_course(store, catalogue, &course, scope, simulated, write, now).await?,
        );
    }
    Ok(out)
}

async fn summarise_course(
    store: &Store,
    catalogue: &Catalogue,
    course: &str,
    scope: &Scope,
    simulated: bool,
    write_results: bool,
    now: i64,
) -> Result<Vec<CourseResult>, StoreError> {
    let published = catalogue.get(course);
    let planned = published.map_or(0, |p| p.rules.class_hours);
    let level = published.map_or(String::new(), |p| p.course.level.as_str().to_owned());
    let threshold = published.map_or(0.8, |p| p.policy.attendance_threshold.value);
    let pass = published.map_or(0.6, |p| p.policy.quiz_pass_ratio.value);
    // Enrolled learners and learners with progress in the course.
    let (cond, values) = scope.condition(3);
    let sql = format!(
        "SELECT l.id, l.username, l.real_name, l.class, i.name, p.progress, p.violations \
         FROM learners l JOIN institutions i ON i.id = l.institution_id \
         LEFT JOIN learner_progress p ON p.learner_id = l.id AND p.course = $1 AND p.simulated = $2 \
         WHERE (p.learner_id IS NOT NULL \
            OR EXISTS (SELECT 1 FROM enrolments e WHERE e.learner_id = l.id AND e.course_id = $1)) \
           AND {cond} ORDER BY l.class, l.username"
    );
    let mut q = sqlx::query(&sql).bind(course).bind(i64::from(simulated));
    for v in &values {
        q = q.bind(v);
    }
    let rows = q.fetch_all(&store.pool).await?;
    // Each learner's best graded attempt per class hour (real devices only).
    let grades = sqlx::query(
        "SELECT g.learner_id, g.class_hour, g.correct, g.total FROM quiz_grades g \
         JOIN devices d ON d.device_id = g.device_id WHERE g.course = $1 AND d.simulated = $2",
    )
    .bind(course)
    .bind(i64::from(simulated))
    .fetch_all(&store.pool)
    .await?;
    let mut best: BTreeMap<String, BTreeMap<u32, (u32, u32)>> = BTreeMap::new();
    for g in &grades {
        let learner: String = g.try_get(0)?;
        let hour = u32::try_from(g.try_get::<i64, _>(1)?).unwrap_or(0);
        let correct = u32::try_from(g.try_get::<i64, _>(2)?).unwrap_or(0);
        let total = u32::try_from(g.try_get::<i64, _>(3)?).unwrap_or(0);
        let slot = best
            .entry(learner)
            .or_default()
            .entry(hour)
            .or_insert((0, total));
        // The better ratio (cross-multiplied: no floats).
        if u64::from(correct) * u64::from(slot.1) > u64::from(slot.0) * u64::from(total)
            || slot.1 == 0
        {
            *slot = (correct, total);
        }
    }
    let removed = removed_by_findings(store, catalogue, course, simulated).await?;
    let mut out = Vec::with_capacity(rows.len());
    let mut ids = Vec::with_capacity(rows.len());
    for r in &rows {
        let learner_id: String = r.try_get(0)?;
        let progress: Option<String> = r.try_get(5)?;
        let violations: Option<String> = r.try_get(6)?;
        let none = Removed::default();
        let gone = removed.get(&learner_id).unwrap_or(&none);
        let (credited_ms, completed) = match &progress {
            Some(text) => {
                let p: keshi_protocol::fold::Progress = serde_json::from_str(text)
                    .map_err(|e| StoreError::Corrupt(format!("progress of {course}: {e}")))?;
                let completed = p
                    .hours
                    .iter()
                    .filter(|(h, hp)| hp.completed && !gone.hours.contains(h))
                    .count();
                (
                    p.credited_ms().saturating_sub(gone.ms),
                    u32::try_from(completed).unwrap_or(u32::MAX),
                )
            }
            None => (0, 0),
        };
        let not_counted: BTreeMap<String, u32> = match &violations {
            Some(text) => serde_json::from_str(text).unwrap_or_default(),
            None => BTreeMap::new(),
        };
        let rate = attendance(completed, planned);
        let score = best.get(&learner_id).map_or(0, score);
        let flags = gone.findings;
        let qualified = planned > 0
            && completed >= planned
            && f64::from(score) >= pass * 100.0 - 1e-9
            && rate + 1e-9 >= threshold
            && flags == 0;
        out.push(CourseResult {
            user: r.try_get(1)?,
            real_name: r.try_get(2)?,
            class: r.try_get(3)?,
            institution: r.try_get(4)?,
            course: course.to_owned(),
            level: level.clone(),
            credited_seconds: credited_ms as f64 / 1000.0,
            credited_ms,
            class_hours_completed: completed,
            class_hours_planned: planned,
            attendance: rate,
            at_risk: rate + 1e-9 < threshold,
            score,
            qualified,
            not_counted,
            confirmed_flags: flags,
        });
        ids.push(learner_id);
    }
    // Reports read real study only: simulated results are shown, never stored.
    if !simulated && write_results {
        write(store, &ids, &out, now).await?;
    }
    Ok(out)
}

/// What confirmed course-farming findings take out of one learner's course: the
/// credited segments in their evidence ranges (as the platform credited them, in
/// `credit_intervals`) — their credited time and the class hours their credit
/// filled (`HourRules::hour_of` over the segment's own running total).
#[derive(Debug, Default)]
struct Removed {
    findings: u32,
    ms: u64,
    hours: std::collections::BTreeSet<u32>,
}

async fn removed_by_findings(
    store: &Store,
    catalogue: &Catalogue,
    course: &str,
    simulated: bool,
) -> Result<BTreeMap<String, Removed>, StoreError> {
    let rules = catalogue.get(course).map(|p| p.rules);
    let mut out: BTreeMap<String, Removed> = BTreeMap::new();
    for (learner, (n, evidence, _)) in crate::farming::confirmed(store, course).await? {
        let r = out.entry(learner).or_default();
        r.findings = n;
        let mut seen = std::collections::BTreeSet::new();
        for e in evidence {
            let rows = sqlx::query(
                "SELECT ci.seq, ci.start_ms, ci.end_ms, r.payload FROM credit_intervals ci \
                 JOIN records r ON r.device_id = ci.device_id AND r.seq = ci.seq \
                 JOIN devices d ON d.device_id = ci.device_id \
                 WHERE ci.device_id = $1 AND ci.seq >= $2 AND ci.seq <= $3 AND ci.course = $4 \
                   AND d.simulated = $5",
            )
            .bind(&e.device)
            .bind(i64::try_from(e.seq_from).unwrap_or(i64::MAX))
            .bind(i64::try_from(e.seq_to).unwrap_or(i64::MAX))
            .bind(course)
            .bind(i64::from(simulated))
            .fetch_all(&store.pool)
            .await?;
            for row in rows {
                let seq: i64 = row.try_get(0)?;
                if !seen.insert((e.device.clone(), seq)) {
                    continue;
                }
                let (start, end): (i64, i64) = (row.try_get(1)?, row.try_get(2)?);
                r.ms += u64::try_from(end - start).unwrap_or(0);
                let payload: String = row.try_get(3)?;
                if let (Some(rules), Ok(v)) =
                    (&rules, serde_json::from_str::<serde_json::Value>(&payload))
                {
                    let total = v["total_credited_ms"].as_u64().unwrap_or(0);
                    let credited = v["credited_ms"].as_u64().unwrap_or(0);
                    if credited > 0 && total >= credited {
                        for h in rules.hour_of(total - credited)..=rules.hour_of(total - 1) {
                            r.hours.insert(h);
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Writes the results of one course (replacing the rows of those learners).
async fn write(
    store: &Store,
    ids: &[String],
    results: &[CourseResult],
    now: i64,
) -> Result<(), StoreError> {
    let mut tx = store.begin_write().await?;
    for (id, r) in ids.iter().zip(results) {
        // An upsert: two writers at once (the job of two instances) both succeed.
        sqlx::query(
            "INSERT INTO course_results(learner_id, course, level, credited_ms, class_hours_completed, \
             class_hours_planned, attendance_permille, score, qualified, at_risk, confirmed_flags, computed_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (learner_id, course) DO UPDATE SET level = excluded.level, \
             credited_ms = excluded.credited_ms, class_hours_completed = excluded.class_hours_completed, \
             class_hours_planned = excluded.class_hours_planned, attendance_permille = excluded.attendance_permille, \
             score = excluded.score, qualified = excluded.qualified, at_risk = excluded.at_risk, \
             confirmed_flags = excluded.confirmed_flags, computed_ms = excluded.computed_ms",
        )
        .bind(id)
        .bind(&r.course)
        .bind(&r.level)
        .bind(i64::try_from(r.credited_ms).unwrap_or(i64::MAX))
        .bind(i64::from(r.class_hours_completed))
        .bind(i64::from(r.class_hours_planned))
        .bind(permille(r.class_hours_completed, r.class_hours_planned))
        .bind(i64::from(r.score))
        .bind(i64::from(r.qualified))
        .bind(i64::from(r.at_risk))
        .bind(i64::from(r.confirmed_flags))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attendance_is_capped_and_zero_without_a_plan() {
        assert_eq!(attendance(0, 0), 0.0);
        assert_eq!(attendance(4, 5), 0.8);
        assert_eq!(attendance(7, 5), 1.0);
    }

    #[test]
    fn the_score_counts_each_hours_best_attempt() {
        let best = BTreeMap::from([(1, (5, 5)), (2, (3, 5))]);
        assert_eq!(score(&best), 80);
        assert_eq!(score(&BTreeMap::new()), 0);
    }
}
