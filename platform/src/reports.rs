//! Certificates issued to qualified learners, the quarterly subsidy settlement and
//! the bi-weekly district report (issue 13 items 5 and 7; R-AS-2, R-AS-6, R-QA-3,
//! R-SV-7). Every certificate and report cites a checkpoint of the platform's log
//! ([`crate::ledger`]) signed when it was made, so the figures it rests on can be
//! audited later.
//!
//! - A certificate is issued only to a learner [`crate::results`] finds qualified
//!   (every planned class hour completed with photos and a passed quiz, score at
//!   least the profile's pass ratio, attendance at the threshold, no confirmed
//!   course-farming finding). One per learner and course: issuing again gives the
//!   same statement, and so the same PDF bytes. A demo or test platform may
//!   certify simulated study: its serial starts `SIM-` (printed on the PDF) and it
//!   is never settled (a settlement of simulated certificates is a preview, marked
//!   `simulated`).
//! - Settlement (R-QA-3): certificates issued in the quarter (China time) whose
//!   learner still has no confirmed finding against the course, × the course's
//!   class hours × the rate of its level in the course's profile (fen).
//! - District report (R-SV-7): per region, the real-name registered learners, the
//!   learners who studied in the fortnight (person-times, unfinished included), and
//!   the platform they studied on.

use std::collections::BTreeMap;

use keshi_protocol::certificate::CertificateStatement;
use keshi_protocol::ids::Hash;
use serde::Serialize;
use sqlx::Row;

use crate::calendar::{day_label, day_of, days_from_civil, CHINA_OFFSET_MS};
use crate::catalogue::Catalogue;
use crate::certificate::{CertificateError, FontData};
use crate::staff::Scope;
use crate::store::{Store, StoreError};

/// Why a certificate was not issued.
#[derive(Debug, thiserror::Error)]
pub enum CertifyError {
    /// No such learner.
    #[error("no learner {0:?}")]
    NoLearner(String),
    /// No such course in the catalogue.
    #[error("no course {0:?} is published on this platform")]
    NoCourse(String),
    /// Not qualified (R-AS-2), with why.
    #[error("{user} has not qualified in {course}: {why}")]
    NotQualified {
        /// Login name.
        user: String,
        /// Course.
        course: String,
        /// What is missing.
        why: String,
    },
    /// Rendering failed.
    #[error(transparent)]
    Render(#[from] CertificateError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A certificate as issued: its statement and the sealed PDF.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The signed statement.
    pub statement: CertificateStatement,
    /// The PDF.
    pub pdf: Vec<u8>,
}

/// The digest of a learner's device heads at issue time: SHA-256 over the lines
/// `<device>:<head seq>:<head hash>\n` of the learner's real devices, sorted —
/// whoever holds the journals can recompute it.
pub fn journal_head(heads: &[(String, u64, String)]) -> String {
    let mut lines: Vec<String> = heads
        .iter()
        .map(|(d, s, h)| format!("{d}:{s}:{h}\n"))
        .collect();
    lines.sort();
    Hash::of(lines.concat().as_bytes()).to_hex()
}

/// Whose certificate.
#[derive(Debug, Clone, Copy)]
pub struct CertifyRequest<'a> {
    /// Login name.
    pub user: &'a str,
    /// Course id.
    pub course: &'a str,
    /// Certify simulated study (a demo or test platform; serial `SIM-`).
    pub simulated: bool,
    /// Who asks (`staff:<user>`, `cli`): the audit trail names them.
    pub actor: &'a str,
}

/// What a caller issuing many certificates already holds, so each is not computed
/// again per learner (the bulk download: one summary, one checkpoint).
#[derive(Debug, Clone, Copy, Default)]
pub struct Known<'a> {
    /// The learner's result in the course, computed now.
    pub result: Option<&'a crate::results::CourseResult>,
    /// A checkpoint signed now, for new certificates to cite.
    pub checkpoint: Option<&'a keshi_protocol::merkle::Checkpoint>,
}

/// Draws a certificate's PDF: [`crate::certificate::issue`] inline (the command
/// line), or on the blocking pool so a render never holds an async worker (the
/// service). Gives the statement back with the PDF.
pub trait Render {
    /// Draws `statement`.
    fn render(
        &self,
        statement: CertificateStatement,
    ) -> impl std::future::Future<Output = Result<(CertificateStatement, Vec<u8>), CertificateError>>
           + Send;
}

/// Rendering inline.
#[derive(Debug)]
pub struct Inline<'a>(pub &'a ring::signature::Ed25519KeyPair, pub &'a FontData);

impl Render for Inline<'_> {
    async fn render(
        &self,
        statement: CertificateStatement,
    ) -> Result<(CertificateStatement, Vec<u8>), CertificateError> {
        let pdf = crate::certificate::issue(self.0, &statement, self.1)?;
        Ok((statement, pdf))
    }
}

/// Rendering on the blocking pool.
#[derive(Debug)]
pub struct Blocking(
    pub std::sync::Arc<ring::signature::Ed25519KeyPair>,
    pub &'static FontData,
);

impl Render for Blocking {
    async fn render(
        &self,
        statement: CertificateStatement,
    ) -> Result<(CertificateStatement, Vec<u8>), CertificateError> {
        let (key, font) = (self.0.clone(), self.1);
        tokio::task::spawn_blocking(move || {
            let pdf = crate::certificate::issue(&key, &statement, font)?;
            Ok((statement, pdf))
        })
        .await
        .map_err(|e| CertificateError::Pdf(format!("the render task ended: {e}")))?
    }
}

/// Issues (or issues again) the certificate of a learner in a course.
pub async fn certify(
    store: &Store,
    key: &ring::signature::Ed25519KeyPair,
    catalogue: &Catalogue,
    req: CertifyRequest<'_>,
    known: Known<'_>,
    render: &impl Render,
    now: i64,
) -> Result<Issued, CertifyError> {
    use ring::signature::KeyPair;
    let CertifyRequest {
        user,
        course,
        simulated,
        actor,
    } = req;
    let learner = store
        .learner(user)
        .await?
        .ok_or_else(|| CertifyError::NoLearner(user.to_owned()))?;
    let published = catalogue
        .get(course)
        .ok_or_else(|| CertifyError::NoCourse(course.to_owned()))?;
    if let Some(r) = sqlx::query(
        "SELECT statement FROM certificates WHERE learner_id = $1 AND course = $2 AND simulated = $3",
    )
        .bind(&learner.id)
        .bind(course)
        .bind(i64::from(simulated))
        .fetch_optional(&store.pool)
        .await
        .map_err(StoreError::from)?
    {
        // Issued once; withdrawn when a finding against the course was confirmed
        // since (the PDF already handed out stays signed: the settlement withholds
        // it and this platform no longer hands it out).
        let confirmed = confirmed_findings(store, &learner.id, course).await?;
        if confirmed > 0 {
            return Err(CertifyError::NotQualified {
                user: user.to_owned(),
                course: course.to_owned(),
                why: format!("the certificate is withdrawn: {confirmed} course-farming finding(s) confirmed since it was issued"),
            });
        }
        let text: String = r.try_get(0).map_err(StoreError::from)?;
        let statement: CertificateStatement = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("certificate statement: {e}")))?;
        let (statement, pdf) = render.render(statement).await?;
        return Ok(Issued { statement, pdf });
    }
    let computed;
    let r = match known.result {
        Some(r) if r.user == learner.username && r.course == course => Some(r),
        _ => {
            computed = crate::results::summarise(
                store,
                catalogue,
                Some(course),
                &Scope::All,
                simulated,
                now,
            )
            .await?;
            computed.iter().find(|r| r.user == learner.username)
        }
    };
    let Some(r) = r else {
        return Err(CertifyError::NotQualified {
            user: user.to_owned(),
            course: course.to_owned(),
            why: "not enrolled and no study recorded".into(),
        });
    };
    if !r.qualified {
        let mut why = Vec::new();
        if r.class_hours_completed < r.class_hours_planned {
            why.push(format!(
                "{} of {} class hours completed",
                r.class_hours_completed, r.class_hours_planned
            ));
        }
        let pass = published.policy.quiz_pass_ratio.value * 100.0;
        if f64::from(r.score) < pass {
            why.push(format!("quiz score {} below {pass:.0}", r.score));
        }
        if r.at_risk {
            why.push(format!(
                "attendance {:.0}% below the threshold",
                r.attendance * 100.0
            ));
        }
        if r.confirmed_flags > 0 {
            why.push(format!(
                "{} confirmed course-farming finding(s)",
                r.confirmed_flags
            ));
        }
        return Err(CertifyError::NotQualified {
            user: user.to_owned(),
            course: course.to_owned(),
            why: why.join("; "),
        });
    }
    let checkpoint = match known.checkpoint {
        Some(c) => c.clone(),
        None => crate::ledger::checkpoint(store, key, now).await?,
    };
    let heads: Vec<(String, u64, String)> = store
        .devices_of(&learner.id)
        .await?
        .into_iter()
        .filter(|d| d.simulated == simulated)
        .map(|d| (d.device_id, d.head_seq, d.head_hash.to_hex()))
        .collect();
    let institution: String = sqlx::query("SELECT name FROM institutions WHERE id = $1")
        .bind(&learner.institution_id)
        .fetch_one(&store.pool)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(StoreError::from)?;
    // Simulated study (a demo or test platform) is certified under a serial that
    // says so on the PDF, and never settled.
    let serial = format!(
        "{}-{}",
        if simulated { "SIM" } else { "KS" },
        &Hash::of(format!("{}|{course}", learner.id).as_bytes()).to_hex()[..16]
    );
    let statement = CertificateStatement {
        v: 1,
        serial,
        learner: learner.username.clone(),
        name: learner.real_name.clone(),
        id_number_masked: keshi_protocol::staff::mask_id_number(&learner.id_number),
        institution,
        course_id: course.to_owned(),
        course_title: published.course.title.clone(),
        level: published.course.level.as_str().to_owned(),
        class_hours: r.class_hours_completed,
        credited_seconds: r.credited_ms / 1000,
        score: r.score,
        journal_head: journal_head(&heads),
        checkpoint_size: checkpoint.size,
        checkpoint_root: checkpoint.root.clone(),
        issued_date: day_label(day_of(now)),
        platform_key: hex::encode(key.public_key().as_ref()),
    };
    let (statement, pdf) = render.render(statement).await?;
    let mut tx = store.begin_write().await.map_err(StoreError::from)?;
    // Two requests at once: the first stored is the certificate; the other answers it.
    let stored = sqlx::query(
        "INSERT INTO certificates(serial, learner_id, course, level, class_hours, score, issued_ms, checkpoint_size, \
         statement, simulated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
    )
    .bind(&statement.serial)
    .bind(&learner.id)
    .bind(course)
    .bind(&statement.level)
    .bind(i64::from(statement.class_hours))
    .bind(i64::from(statement.score))
    .bind(now)
    .bind(i64::try_from(checkpoint.size).unwrap_or(i64::MAX))
    .bind(serde_json::to_string(&statement).unwrap_or_default())
    .bind(i64::from(simulated))
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?
    .rows_affected();
    if stored == 0 {
        tx.rollback().await.map_err(StoreError::from)?;
        let r = sqlx::query(
            "SELECT statement FROM certificates WHERE learner_id = $1 AND course = $2 AND simulated = $3",
        )
        .bind(&learner.id)
        .bind(course)
        .bind(i64::from(simulated))
        .fetch_one(&store.pool)
        .await
        .map_err(StoreError::from)?;
        let text: String = r.try_get(0).map_err(StoreError::from)?;
        let statement: CertificateStatement = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("certificate statement: {e}")))?;
        let (statement, pdf) = render.render(statement).await?;
        return Ok(Issued { statement, pdf });
    }
    let after = serde_json::json!({"serial": statement.serial, "course": course, "class_hours": statement.class_hours});
    crate::staff::append_audit(
        &mut tx,
        &crate::staff::AuditRow {
            actor,
            action: "certificate.issue",
            target: &learner.username,
            institution_id: Some(&learner.institution_id),
            region: None,
            before: None,
            after: Some(&after),
        },
        now,
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Issued { statement, pdf })
}

/// Confirmed findings against the learner (id) in `course`, or in all their
/// courses (an abnormal spot check): any one withdraws the certificate and
/// withholds it from the settlement.
pub(crate) async fn confirmed_findings(
    store: &Store,
    learner_id: &str,
    course: &str,
) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM findings WHERE learner_id = $1 AND status = 'confirmed' \
         AND (course = $2 OR course IS NULL)",
    )
    .bind(learner_id)
    .bind(course)
    .fetch_one(&store.pool)
    .await?
    .try_get(0)?;
    Ok(crate::store::u(n))
}

/// The checkpoint a report cites: one signed in the last 10 minutes serves (a
/// report asked again and again does not sign one each time), else a new one.
async fn report_checkpoint(
    store: &Store,
    key: &ring::signature::Ed25519KeyPair,
    now: i64,
) -> Result<keshi_protocol::merkle::Checkpoint, StoreError> {
    Ok(match crate::ledger::latest_checkpoint(store).await? {
        Some(cp) if now - cp.time_ms < 10 * 60_000 => cp,
        _ => crate::ledger::checkpoint(store, key, now).await?,
    })
}

/// The year and month (China time) of platform ms `ms`.
pub fn year_month(ms: i64) -> (i64, i64) {
    let label = day_label(day_of(ms));
    let y = label[..4].parse().unwrap_or(1970);
    let m = label[5..7].parse().unwrap_or(1);
    (y, m)
}

/// A quarter, `YYYYQn`, as a half-open range of platform ms (China time).
pub fn quarter_range(quarter: &str) -> Option<(i64, i64)> {
    let (y, q) = quarter.split_once(['Q', 'q'])?;
    let y: i64 = y.parse().ok()?;
    let q: i64 = q.parse().ok()?;
    if !(1..=4).contains(&q) || !(1970..=9999).contains(&y) {
        return None;
    }
    let start = days_from_civil(y, (q - 1) * 3 + 1, 1);
    let end = if q == 4 {
        days_from_civil(y + 1, 1, 1)
    } else {
        days_from_civil(y, q * 3 + 1, 1)
    };
    Some((
        start * 86_400_000 - CHINA_OFFSET_MS,
        end * 86_400_000 - CHINA_OFFSET_MS,
    ))
}

/// One line of a settlement: an institution's certified learners of one level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettlementLine {
    /// Institution.
    pub institution: String,
    /// Level.
    pub level: String,
    /// Certified learners.
    pub learners: u64,
    /// Their class hours.
    pub class_hours: u64,
    /// Rate per class hour, fen (the profile's, cited).
    pub rate_fen: u64,
    /// Where the rate comes from.
    pub clause: String,
    /// `class_hours × rate_fen`.
    pub amount_fen: u64,
}

/// The quarterly settlement (R-QA-3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settlement {
    /// `YYYYQn`.
    pub quarter: String,
    /// A demo platform's preview of simulated certificates (never paid).
    pub simulated: bool,
    /// The checkpoint it was computed from.
    pub checkpoint: keshi_protocol::merkle::Checkpoint,
    /// Lines by institution and level.
    pub lines: Vec<SettlementLine>,
    /// Certificates left out: a finding against the course confirmed since, an
    /// abnormal spot check, or a class that lost its eligibility (R-SV-6).
    pub withheld: u64,
    /// The sum, fen.
    pub total_fen: u64,
}

/// The settlement of `quarter` within `scope`.
pub async fn settlement(
    store: &Store,
    key: &ring::signature::Ed25519KeyPair,
    catalogue: &Catalogue,
    scope: &Scope,
    quarter: &str,
    simulated: bool,
    now: i64,
) -> Result<Option<Settlement>, StoreError> {
    let Some((from, to)) = quarter_range(quarter) else {
        return Ok(None);
    };
    let checkpoint = report_checkpoint(store, key, now).await?;
    let (cond, values) = scope.condition(4);
    let sql = format!(
        "SELECT i.name, c.course, c.level, c.class_hours, c.learner_id, l.class FROM certificates c \
         JOIN learners l ON l.id = c.learner_id JOIN institutions i ON i.id = l.institution_id \
         WHERE c.issued_ms >= $1 AND c.issued_ms < $2 AND c.simulated = $3 AND {cond} \
         ORDER BY i.name, c.level, c.serial"
    );
    let mut q = sqlx::query(&sql)
        .bind(from)
        .bind(to)
        .bind(i64::from(simulated));
    for v in &values {
        q = q.bind(v);
    }
    let rows = q.fetch_all(&store.pool).await?;
    let ineligible: std::collections::BTreeSet<(String, String)> =
        match crate::spotcheck::ineligible_classes(store).await {
            Ok(v) => v.into_iter().map(|c| (c.institution, c.class)).collect(),
            Err(crate::spotcheck::SpotCheckError::Store(e)) => return Err(e),
            Err(e) => return Err(StoreError::Corrupt(e.to_string())),
        };
    let mut lines: BTreeMap<(String, String, u64), SettlementLine> = BTreeMap::new();
    let mut withheld = 0;
    for r in &rows {
        let institution: String = r.try_get(0)?;
        let course: String = r.try_get(1)?;
        let level: String = r.try_get(2)?;
        let hours = u64::try_from(r.try_get::<i64, _>(3)?).unwrap_or(0);
        let learner: String = r.try_get(4)?;
        let class: String = r.try_get(5)?;
        // R-SV-6: a class below 80% in two spot checks has lost its eligibility.
        if ineligible.contains(&(institution.clone(), class)) {
            withheld += 1;
            continue;
        }
        if confirmed_findings(store, &learner, &course).await? > 0 {
            withheld += 1;
            continue;
        }
        let (rate, clause) = catalogue
            .get(&course)
            .and_then(|p| {
                // The level the certificate was issued at, priced in the course's
                // profile.
                let lv = [
                    keshi_protocol::policy::Level::Junior,
                    keshi_protocol::policy::Level::Intermediate,
                    keshi_protocol::policy::Level::Senior,
                ]
                .into_iter()
                .find(|l| l.as_str() == level)?;
                p.policy.subsidy_fen_per_class_hour.value.get(&lv).map(|r| {
                    (
                        u64::from(*r),
                        p.policy.subsidy_fen_per_class_hour.clause.clone(),
                    )
                })
            })
            .unwrap_or((0, "course not in the catalogue".into()));
        let line = lines
            .entry((institution.clone(), level.clone(), rate))
            .or_insert(SettlementLine {
                institution,
                level,
                learners: 0,
                class_hours: 0,
                rate_fen: rate,
                clause,
                amount_fen: 0,
            });
        line.learners += 1;
        line.class_hours += hours;
        line.amount_fen += hours * rate;
    }
    let lines: Vec<SettlementLine> = lines.into_values().collect();
    let total_fen = lines.iter().map(|l| l.amount_fen).sum();
    Ok(Some(Settlement {
        quarter: quarter.to_owned(),
        simulated,
        checkpoint,
        lines,
        withheld,
        total_fen,
    }))
}

/// What the district report names as the platform learners studied on (R-SV-7:
/// 纳入补贴性目录的线上培训平台).
pub const PLATFORM_NAME: &str = "课时 Keshi";

/// One district's line of the bi-weekly report (R-SV-7, 线上培训行动实施情况双周调度表).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DistrictLine {
    /// The district: the region path of its institutions (`chongqing/shapingba`);
    /// institutions without a region are reported under `""`.
    pub district: String,
    /// Real-name registered learners by the report date (实名注册学员人次数).
    pub registered_learners: u64,
    /// Of them, registered in the period.
    pub registered_in_period: u64,
    /// Online training person-times by the report date, unfinished included: each
    /// learner and course with credited study (线上培训总人次数).
    pub person_times: u64,
    /// Person-times with credited study in the period.
    pub person_times_in_period: u64,
    /// The platforms its learners studied on.
    pub platforms: Vec<String>,
}

/// The bi-weekly district report (R-SV-7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DistrictReport {
    /// The report date, `YYYY-MM-DD` (reports are due on the 12th and the 25th).
    pub date: String,
    /// The period's first day (China time): the day after the previous report
    /// date (the 25th before a 12th, the 12th before a 25th; for another date, the
    /// 14 days up to it).
    pub period_from: String,
    /// The period's last day: the report date (the figures include it).
    pub period_to: String,
    /// One line per district in scope with learners.
    pub lines: Vec<DistrictLine>,
    /// The checkpoint the figures were computed at.
    pub checkpoint: keshi_protocol::merkle::Checkpoint,
}

/// The days a report dated `day` covers, `[first, last]`: from the day after the
/// previous report date through the report date.
pub fn report_period(day: i64) -> (i64, i64) {
    let (y, m, d) = crate::calendar::civil_from_days(day);
    let previous = match d {
        12 => {
            let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
            days_from_civil(py, pm, 25)
        }
        25 => days_from_civil(y, m, 12),
        _ => day - 14,
    };
    (previous + 1, day)
}

/// The district report dated `date` (`YYYY-MM-DD`) for the districts in `scope`;
/// `None` when `date` is not a date.
pub async fn district_report(
    store: &Store,
    key: &ring::signature::Ed25519KeyPair,
    scope: &Scope,
    date: &str,
    now: i64,
) -> Result<Option<DistrictReport>, StoreError> {
    let Some(day) = crate::calendar::parse_day(date) else {
        return Ok(None);
    };
    let (from_day, to_day) = report_period(day);
    let (from, to) = (
        crate::calendar::day_start_ms(from_day),
        crate::calendar::day_start_ms(to_day + 1),
    );
    let checkpoint = report_checkpoint(store, key, now).await?;
    let (cond, values) = scope.condition(3);
    let mut lines: BTreeMap<String, DistrictLine> = BTreeMap::new();
    let registered = format!(
        "SELECT i.region, CAST(COUNT(*) AS BIGINT), \
         CAST(SUM(CASE WHEN l.created_ms >= $1 THEN 1 ELSE 0 END) AS BIGINT) \
         FROM learners l JOIN institutions i ON i.id = l.institution_id \
         WHERE l.created_ms < $2 AND {cond} GROUP BY i.region"
    );
    let mut q = sqlx::query(&registered).bind(from).bind(to);
    for v in &values {
        q = q.bind(v);
    }
    for r in q.fetch_all(&store.pool).await? {
        let d: String = r.try_get(0)?;
        let e = lines.entry(d.clone()).or_insert_with(|| empty_line(d));
        e.registered_learners = crate::store::u(r.try_get(1)?);
        e.registered_in_period = crate::store::u(r.try_get::<Option<i64>, _>(2)?.unwrap_or(0));
    }
    // A person-time is one learner studying one course (unfinished included):
    // counted once, by its first credited study, and in the period when any of its
    // credited study falls in it. Simulated study (a demo platform) never counts.
    let studied = format!(
        "SELECT i.region, CAST(COUNT(*) AS BIGINT), \
         CAST(SUM(CASE WHEN p.last_ms >= $1 THEN 1 ELSE 0 END) AS BIGINT) FROM \
         (SELECT learner_id, course, MIN(start_ms) AS first_ms, MAX(CASE WHEN start_ms < $2 THEN end_ms ELSE 0 END) AS last_ms \
          FROM credit_intervals ci WHERE NOT EXISTS \
          (SELECT 1 FROM devices d WHERE d.device_id = ci.device_id AND d.simulated <> 0) \
          GROUP BY learner_id, course) p \
         JOIN learners l ON l.id = p.learner_id JOIN institutions i ON i.id = l.institution_id \
         WHERE p.first_ms < $2 AND {cond} GROUP BY i.region"
    );
    let mut q = sqlx::query(&studied).bind(from).bind(to);
    for v in &values {
        q = q.bind(v);
    }
    for r in q.fetch_all(&store.pool).await? {
        let d: String = r.try_get(0)?;
        let e = lines.entry(d.clone()).or_insert_with(|| empty_line(d));
        e.person_times = crate::store::u(r.try_get(1)?);
        e.person_times_in_period = crate::store::u(r.try_get::<Option<i64>, _>(2)?.unwrap_or(0));
        if e.person_times > 0 {
            e.platforms = vec![PLATFORM_NAME.to_owned()];
        }
    }
    Ok(Some(DistrictReport {
        date: day_label(day),
        period_from: day_label(from_day),
        period_to: day_label(to_day),
        lines: lines.into_values().collect(),
        checkpoint,
    }))
}

fn empty_line(district: String) -> DistrictLine {
    DistrictLine {
        district,
        registered_learners: 0,
        registered_in_period: 0,
        person_times: 0,
        person_times_in_period: 0,
        platforms: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_covers_the_days_since_the_previous_report_date() {
        let d = |y, m, d| days_from_civil(y, m, d);
        assert_eq!(
            report_period(d(2026, 12, 12)),
            (d(2026, 11, 26), d(2026, 12, 12))
        );
        assert_eq!(
            report_period(d(2026, 12, 25)),
            (d(2026, 12, 13), d(2026, 12, 25))
        );
        assert_eq!(
            report_period(d(2027, 1, 12)),
            (d(2026, 12, 26), d(2027, 1, 12))
        );
        assert_eq!(
            report_period(d(2026, 12, 2)),
            (d(2026, 11, 19), d(2026, 12, 2))
        );
    }

    #[test]
    fn quarters_are_china_time() {
        let (a, b) = quarter_range("2026Q4").unwrap();
        assert_eq!(day_label(day_of(a)), "2026-10-01");
        assert_eq!(day_label(day_of(a - 1)), "2026-09-30");
        assert_eq!(day_label(day_of(b - 1)), "2026-12-31");
        assert_eq!(day_label(day_of(b)), "2027-01-01");
        assert_eq!(quarter_range("2026Q5"), None);
        assert_eq!(quarter_range("Q1"), None);
    }

    #[test]
    fn the_journal_head_digest_ignores_order() {
        let a = ("d1".to_owned(), 3, "aa".to_owned());
        let b = ("d2".to_owned(), 9, "bb".to_owned());
        assert_eq!(journal_head(&[a.clone(), b.clone()]), journal_head(&[b, a]));
    }
}
