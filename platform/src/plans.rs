//! Training plans (issue 13, R-SV-8): before it trains on a course, an institution
//! files its plan, the class hours of the whole programme, online and offline
//! (实施方案: 合理确定培训项目线上线下的培训课时). The online part is the course's
//! class hours as published; where the course's profile caps the online share
//! (Shanghai 50%, Shandong 40%), a plan above it is refused at creation, citing
//! the clause. Plans are audit-logged; one per institution and course (filing
//! again replaces it, the old one in the audit entry).

use serde::Serialize;
use sqlx::Row;

use crate::catalogue::Catalogue;
use crate::staff::{AuditRow, Scope};
use crate::store::{Store, StoreError};

/// A plan as filed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The institution's name.
    pub institution: String,
    /// The course.
    pub course: String,
    /// The course's profile.
    pub profile: String,
    /// Online class hours (the course as published).
    pub online_class_hours: u32,
    /// All class hours of the programme, online and offline.
    pub total_class_hours: u32,
    /// `online / total`.
    pub online_share: f64,
    /// The profile's cap, if it sets one.
    pub online_share_max: Option<f64>,
    /// Where the cap (or its absence) comes from.
    pub clause: String,
    /// Filed at (platform ms).
    pub created_ms: i64,
}

/// Why a plan was refused.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// No such course in the caller's scope.
    #[error("no course {0:?} in your scope")]
    NoCourse(String),
    /// A total below the online part.
    #[error("the plan's {total} class hours cannot hold the course's {online} online class hours: the total counts online and offline hours")]
    TotalTooSmall {
        /// Online class hours.
        online: u32,
        /// Total.
        total: u32,
    },
    /// R-SV-8.
    #[error("R-SV-8: {online} online class hours of {total} is {share:.1}% online, above the {cap:.0}% allowed ({clause}); plan at least {needed} class hours in all")]
    OverCap {
        /// Online class hours.
        online: u32,
        /// Total.
        total: u32,
        /// Percent online.
        share: f64,
        /// Percent allowed.
        cap: f64,
        /// The clause.
        clause: String,
        /// The smallest total the cap allows.
        needed: u32,
    },
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Files the plan of `course` with `total_class_hours` in all.
pub async fn create(
    store: &Store,
    catalogue: &Catalogue,
    scope: &Scope,
    course: &str,
    total_class_hours: u32,
    actor: &str,
    now: i64,
) -> Result<Plan, PlanError> {
    let published = catalogue
        .get(course)
        .ok_or_else(|| PlanError::NoCourse(course.to_owned()))?;
    let (institution_id, institution) = crate::courses::course_institution(store, scope, course)
        .await?
        .ok_or_else(|| PlanError::NoCourse(course.to_owned()))?;
    let online = published.rules.class_hours;
    if total_class_hours < online || total_class_hours == 0 {
        return Err(PlanError::TotalTooSmall {
            online,
            total: total_class_hours,
        });
    }
    let cap = &published.policy.online_share_max;
    let share = f64::from(online) / f64::from(total_class_hours);
    if let Some(max) = cap.value {
        if share > max + 1e-9 {
            // The smallest whole total with online / total <= max.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // small, positive
            let needed = (f64::from(online) / max - 1e-9).ceil() as u32;
            return Err(PlanError::OverCap {
                online,
                total: total_class_hours,
                share: share * 100.0,
                cap: max * 100.0,
                clause: cap.clause.clone(),
                needed,
            });
        }
    }
    let plan = Plan {
        institution,
        course: course.to_owned(),
        profile: published.policy.id.clone(),
        online_class_hours: online,
        total_class_hours,
        online_share: share,
        online_share_max: cap.value,
        clause: cap.clause.clone(),
        created_ms: now,
    };
    let mut tx = store.begin_write().await.map_err(StoreError::from)?;
    let before: Option<i64> = sqlx::query(
        "SELECT total_class_hours FROM course_plans WHERE institution_id = $1 AND course = $2",
    )
    .bind(&institution_id)
    .bind(course)
    .fetch_optional(&mut *tx)
    .await
    .map_err(StoreError::from)?
    .map(|r| r.try_get(0))
    .transpose()
    .map_err(StoreError::from)?;
    sqlx::query(
        "INSERT INTO course_plans(institution_id, course, online_class_hours, total_class_hours, actor, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (institution_id, course) DO UPDATE SET \
         online_class_hours = excluded.online_class_hours, total_class_hours = excluded.total_class_hours, \
         actor = excluded.actor, created_ms = excluded.created_ms",
    )
    .bind(&institution_id)
    .bind(course)
    .bind(i64::from(online))
    .bind(i64::from(total_class_hours))
    .bind(actor)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    let before = before.map(|t| serde_json::json!({ "total_class_hours": t }));
    let after = serde_json::json!({
        "online_class_hours": online, "total_class_hours": total_class_hours,
        "online_share_max": cap.value,
    });
    crate::staff::append_audit(
        &mut tx,
        &AuditRow {
            actor,
            action: "plan.file",
            target: course,
            institution_id: Some(&institution_id),
            region: None,
            before: before.as_ref(),
            after: Some(&after),
        },
        now,
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(plan)
}

/// The plans filed in `scope`, by institution and course.
pub async fn list(
    store: &Store,
    catalogue: &Catalogue,
    scope: &Scope,
) -> Result<Vec<Plan>, StoreError> {
    let (cond, values) = scope.condition(1);
    let sql = format!(
        "SELECT i.name, p.course, p.online_class_hours, p.total_class_hours, p.created_ms \
         FROM course_plans p JOIN institutions i ON i.id = p.institution_id WHERE {cond} \
         ORDER BY i.name, p.course"
    );
    let mut q = sqlx::query(&sql);
    for v in &values {
        q = q.bind(v);
    }
    let mut out = Vec::new();
    for r in q.fetch_all(&store.pool).await? {
        let course: String = r.try_get(1)?;
        let online = u32::try_from(r.try_get::<i64, _>(2)?).unwrap_or(0);
        let total = u32::try_from(r.try_get::<i64, _>(3)?).unwrap_or(0).max(1);
        let (profile, cap) = catalogue.get(&course).map_or_else(
            || (String::new(), None),
            |p| (p.policy.id.clone(), Some(&p.policy.online_share_max)),
        );
        out.push(Plan {
            institution: r.try_get(0)?,
            course,
            profile,
            online_class_hours: online,
            total_class_hours: total,
            online_share: f64::from(online) / f64::from(total),
            online_share_max: cap.and_then(|c| c.value),
            clause: cap.map(|c| c.clause.clone()).unwrap_or_default(),
            created_ms: r.try_get(4)?,
        });
    }
    Ok(out)
}
