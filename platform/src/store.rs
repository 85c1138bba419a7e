//! Storage: one schema and one migration set for SQLite and PostgreSQL.
//!
//! Why sqlx's `Any` driver: the same SQL text runs on both (queries use `$N`
//! placeholders, which SQLite also accepts), so there is one code path to test,
//! and the backend is chosen by the URL at run time (`sqlite:PATH` or
//! `postgres://…`). The schema keeps to the common subset: `TEXT` and `BIGINT`
//! columns only (hashes, keys and signatures as lowercase hex, payloads as their
//! exact UTF-8 JSON text), natural or random text keys instead of
//! `AUTOINCREMENT`/`SERIAL`, `ON CONFLICT` upserts. Migrations are append-only
//! (`MIGRATIONS`), recorded in `schema_migrations`.
//!
//! Durability: SQLite runs in WAL mode with `synchronous=FULL`; PostgreSQL with its
//! default `synchronous_commit=on`. A push is answered only after its transaction
//! committed, so an acknowledged record is on disk (R-SV-4).

use std::collections::HashMap;
use std::time::Duration;

use keshi_protocol::record::Hash;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

/// Storage errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The URL is neither `sqlite:` nor `postgres://`.
    #[error("unsupported database URL {0:?}: use sqlite:PATH or postgres://…")]
    BadUrl(String),
    /// Another writer moved the device head meanwhile (retry).
    #[error("concurrent update of device {0}")]
    Conflict(String),
    /// A stored value does not parse.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// The data key file (ID numbers and phones at rest) failed.
    #[error(transparent)]
    DataKey(#[from] crate::datakey::DataKeyError),
    /// The data key is not the one the database's values were encrypted with.
    #[error("the data key {0} is not the one this database was encrypted with: name the right key file (--data-key, KESHI_DATA_KEY)")]
    WrongDataKey(std::path::PathBuf),
}

/// The append-only migration list: `(version, statements)`.
const MIGRATIONS: &[(i64, &[&str])] = &[(
    1,
    &[
        "CREATE TABLE institutions (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_ms BIGINT NOT NULL)",
        "CREATE TABLE learners (id TEXT PRIMARY KEY, institution_id TEXT NOT NULL REFERENCES institutions(id), \
         username TEXT NOT NULL UNIQUE, real_name TEXT NOT NULL, id_number TEXT NOT NULL, \
         face_photo_ref TEXT, password_hash TEXT NOT NULL, created_ms BIGINT NOT NULL)",
        "CREATE TABLE devices (device_id TEXT PRIMARY KEY, learner_id TEXT NOT NULL REFERENCES learners(id), \
         public_key TEXT NOT NULL UNIQUE, enrolled_ms BIGINT NOT NULL, head_seq BIGINT NOT NULL, head_hash TEXT NOT NULL)",
        "CREATE INDEX devices_learner ON devices(learner_id)",
        "CREATE TABLE leases (id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, learner_id TEXT NOT NULL, \
         device_id TEXT NOT NULL, issued_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL, \
         offline_until_ms BIGINT NOT NULL, revoked_ms BIGINT, revoked_reason TEXT)",
        "CREATE INDEX leases_learner ON leases(learner_id)",
        "CREATE TABLE records (device_id TEXT NOT NULL, seq BIGINT NOT NULL, learner_id TEXT NOT NULL, \
         kind TEXT NOT NULL, wall_ms BIGINT NOT NULL, mono_ms BIGINT NOT NULL, header TEXT NOT NULL, \
         payload TEXT NOT NULL, hash TEXT NOT NULL, signature TEXT NOT NULL, received_ms BIGINT NOT NULL, \
         PRIMARY KEY (device_id, seq))",
        "CREATE INDEX records_learner ON records(learner_id)",
        "CREATE TABLE quarantine (id TEXT PRIMARY KEY, received_ms BIGINT NOT NULL, learner_id TEXT, \
         device_id TEXT, seq BIGINT, code TEXT NOT NULL, message TEXT NOT NULL, record TEXT NOT NULL)",
        "CREATE TABLE captures (sha256 TEXT PRIMARY KEY, learner_id TEXT NOT NULL, content_type TEXT NOT NULL, \
         size BIGINT NOT NULL, stored_ms BIGINT NOT NULL)",
        "CREATE TABLE platform_keys (id TEXT PRIMARY KEY, pkcs8 TEXT NOT NULL, created_ms BIGINT NOT NULL)",
    ],
), (
    // Issue 11: the course catalogue and the platform's own, incremental replay.
    2,
    &[
        "CREATE TABLE courses (id TEXT NOT NULL, version BIGINT NOT NULL, institution_id TEXT NOT NULL, \
         profile TEXT NOT NULL, manifest TEXT NOT NULL, created_ms BIGINT NOT NULL, PRIMARY KEY (id, version))",
        "CREATE TABLE device_folds (device_id TEXT PRIMARY KEY, state TEXT NOT NULL)",
        "CREATE TABLE learner_progress (learner_id TEXT NOT NULL, course TEXT NOT NULL, simulated BIGINT NOT NULL, \
         progress TEXT NOT NULL, violations TEXT NOT NULL, updated_ms BIGINT NOT NULL, PRIMARY KEY (learner_id, course, simulated))",
        "CREATE TABLE credit_intervals (device_id TEXT NOT NULL, seq BIGINT NOT NULL, learner_id TEXT NOT NULL, \
         course TEXT NOT NULL, start_ms BIGINT NOT NULL, end_ms BIGINT NOT NULL, PRIMARY KEY (device_id, seq))",
        "CREATE INDEX credit_intervals_learner ON credit_intervals(learner_id, start_ms)",
        "CREATE TABLE flags (id TEXT PRIMARY KEY, learner_id TEXT NOT NULL, device_id TEXT NOT NULL, seq BIGINT NOT NULL, \
         kind TEXT NOT NULL, detail TEXT NOT NULL, created_ms BIGINT NOT NULL)",
        "CREATE INDEX flags_learner ON flags(learner_id)",
        "CREATE TABLE pending_photos (sha256 TEXT NOT NULL, learner_id TEXT NOT NULL, course TEXT NOT NULL, \
         class_hour BIGINT NOT NULL, simulated BIGINT NOT NULL, PRIMARY KEY (sha256, learner_id, course, class_hour, simulated))",
        "ALTER TABLE devices ADD COLUMN simulated BIGINT NOT NULL DEFAULT 0",
    ],
), (
    // One photo is the evidence of one capture only (issue 11).
    3,
    &["CREATE TABLE photo_claims (sha256 TEXT PRIMARY KEY, learner_id TEXT NOT NULL,        device_id TEXT NOT NULL, seq BIGINT NOT NULL, claimed_ms BIGINT NOT NULL)"],
), (
    // Devices beyond the free allowance, approved by staff one at a time (issue 11).
    4,
    &["ALTER TABLE learners ADD COLUMN extra_devices BIGINT NOT NULL DEFAULT 0"],
), (
    // The platform's grades of quiz answers, fetched signed by the device (issue 11).
    5,
    &["CREATE TABLE quiz_grades (device_id TEXT NOT NULL, seq BIGINT NOT NULL, learner_id TEXT NOT NULL, \
       course TEXT NOT NULL, class_hour BIGINT NOT NULL, attempt BIGINT NOT NULL, correct BIGINT NOT NULL, \
       total BIGINT NOT NULL, passed BIGINT NOT NULL, graded_ms BIGINT NOT NULL, PRIMARY KEY (device_id, seq))"],
), (
    // A learner's summary counts segments and reads the newest flags by index, not
    // by scanning every record or flag of the learner.
    6,
    &[
        "CREATE INDEX records_learner_kind ON records(learner_id, kind)",
        "CREATE INDEX flags_learner_time ON flags(learner_id, created_ms, device_id, seq)",
    ],
), (
    // A learner's segment and flag counts, kept by ingest in the same transaction
    // as the rows they count: a summary reads two numbers, not 100,000 index
    // entries (on PostgreSQL a count also visits the heap until vacuum runs).
    7,
    &[
        "CREATE TABLE learner_tallies (learner_id TEXT PRIMARY KEY, segments BIGINT NOT NULL, flags BIGINT NOT NULL)",
        "INSERT INTO learner_tallies(learner_id, segments, flags) SELECT l.id, \
         (SELECT COUNT(*) FROM records r WHERE r.learner_id = l.id AND r.kind = 'segment'), \
         (SELECT COUNT(*) FROM flags f WHERE f.learner_id = l.id) FROM learners l",
    ],
), (
    // Quarantine rows are counted per learner at every refusal (kept to a bound).
    8,
    &["CREATE INDEX quarantine_learner ON quarantine(learner_id, received_ms)"],
), (
    // Staff, their sessions and the audit trail (issue 12, R-SV-1); institutions
    // get the region a labour authority's scope covers.
    9,
    &[
        "ALTER TABLE institutions ADD COLUMN region TEXT NOT NULL DEFAULT ''",
        "CREATE TABLE staff (id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, role TEXT NOT NULL, \
         scope TEXT NOT NULL, password_hash TEXT NOT NULL, created_ms BIGINT NOT NULL)",
        "CREATE TABLE staff_sessions (token_hash TEXT PRIMARY KEY, staff_id TEXT NOT NULL, csrf TEXT NOT NULL, \
         created_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL)",
        "CREATE TABLE audit (id TEXT PRIMARY KEY, at_ms BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, \
         target TEXT NOT NULL, institution_id TEXT, region TEXT, before_json TEXT, after_json TEXT)",
        "CREATE INDEX audit_time ON audit(at_ms)",
    ],
), (
    // Who is online now: leases by online expiry (the live view).
    10,
    &["CREATE INDEX leases_expires ON leases(expires_ms)"],
), (
    // Learners imported in bulk: phone, class, and whether a password is still to
    // be set (issue 12).
    11,
    &[
        "ALTER TABLE learners ADD COLUMN phone TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE learners ADD COLUMN class TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE learners ADD COLUMN must_set_password BIGINT NOT NULL DEFAULT 0",
    ],
), (
    // Enrolments: which learner may download and study which course (issue 12).
    12,
    &[
        "CREATE TABLE enrolments (course_id TEXT NOT NULL, learner_id TEXT NOT NULL, enrolled_ms BIGINT NOT NULL, \
         actor TEXT NOT NULL, PRIMARY KEY (course_id, learner_id))",
        "CREATE INDEX enrolments_learner ON enrolments(learner_id, course_id)",
    ],
), (
    // ID numbers and phones encrypted at rest (R-ID-1, R-SV-2): the blind index of
    // the ID number for duplicate checks, the ID-card photo, and the check value of
    // the data key the values are encrypted with (see `datakey.rs`). Rows of an
    // older database are encrypted when the store connects.
    13,
    &[
        "ALTER TABLE learners ADD COLUMN id_number_index TEXT",
        "ALTER TABLE learners ADD COLUMN idcard_photo_ref TEXT",
        "CREATE INDEX learners_id_number_index ON learners(id_number_index)",
        "CREATE TABLE data_key_check (id TEXT PRIMARY KEY, check_value TEXT NOT NULL, created_ms BIGINT NOT NULL)",
    ],
), (
    // Today's capture photos of the learners in the live view (issue 12).
    14,
    &["CREATE INDEX captures_learner ON captures(learner_id, stored_ms)"],
), (
    // The append-only log of accepted records and its signed checkpoints (issue 13
    // item 8, see `ledger.rs`): each record's leaf index, the leaves (naming their
    // record), the perfect subtrees proofs are built from, the tree's size and
    // root, and every checkpoint signed.
    15,
    &[
        "ALTER TABLE records ADD COLUMN leaf_index BIGINT",
        "CREATE UNIQUE INDEX records_leaf ON records(leaf_index)",
        "CREATE INDEX records_unsequenced ON records(received_ms, device_id, seq) WHERE leaf_index IS NULL",
        "CREATE TABLE merkle_leaves (idx BIGINT PRIMARY KEY, device_id TEXT NOT NULL, seq BIGINT NOT NULL, hash TEXT NOT NULL)",
        "CREATE TABLE merkle_nodes (level BIGINT NOT NULL, idx BIGINT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (level, idx))",
        "CREATE TABLE merkle_state (id BIGINT PRIMARY KEY, size BIGINT NOT NULL, root TEXT NOT NULL, updated_ms BIGINT NOT NULL)",
        "INSERT INTO merkle_state(id, size, root, updated_ms) VALUES \
         (1, 0, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 0)",
        "CREATE TABLE merkle_checkpoints (size BIGINT PRIMARY KEY, root TEXT NOT NULL, time_ms BIGINT NOT NULL, \
         key TEXT NOT NULL, signature TEXT NOT NULL)",
    ],
), (
    // Effective hours, attendance and qualification per learner and course, as
    // `results.rs` computes them (issue 13): reports read this table.
    16,
    &[
        "CREATE TABLE course_results (learner_id TEXT NOT NULL, course TEXT NOT NULL, level TEXT NOT NULL, \
         credited_ms BIGINT NOT NULL, class_hours_completed BIGINT NOT NULL, class_hours_planned BIGINT NOT NULL, \
         attendance_permille BIGINT NOT NULL, score BIGINT NOT NULL, qualified BIGINT NOT NULL, \
         at_risk BIGINT NOT NULL, confirmed_flags BIGINT NOT NULL, computed_ms BIGINT NOT NULL, \
         PRIMARY KEY (learner_id, course))",
        "CREATE INDEX course_results_course ON course_results(course, qualified)",
    ],
), (
    // Course-farming findings and their review (issue 13, R-SV-3, `farming.rs`);
    // the network address each lease was issued to (the shared-address rule).
    17,
    &[
        "ALTER TABLE leases ADD COLUMN address TEXT",
        "CREATE TABLE findings (id TEXT PRIMARY KEY, rules_version TEXT NOT NULL, rule TEXT NOT NULL, \
         severity TEXT NOT NULL, learner_id TEXT NOT NULL, course TEXT, dedupe TEXT NOT NULL, observed TEXT NOT NULL, \
         limit_value TEXT NOT NULL, clause TEXT NOT NULL, evidence TEXT NOT NULL, affected_ms BIGINT NOT NULL, \
         status TEXT NOT NULL, reviewer TEXT, reason TEXT, reviewed_ms BIGINT, created_ms BIGINT NOT NULL, \
         UNIQUE (rule, learner_id, dedupe))",
        "CREATE INDEX findings_learner ON findings(learner_id, status)",
    ],
), (
    // Certificates issued (issue 13, R-AS-6), settled per quarter (R-QA-3).
    18,
    &[
        "CREATE TABLE certificates (serial TEXT PRIMARY KEY, learner_id TEXT NOT NULL, course TEXT NOT NULL, \
         level TEXT NOT NULL, class_hours BIGINT NOT NULL, score BIGINT NOT NULL, issued_ms BIGINT NOT NULL, \
         checkpoint_size BIGINT NOT NULL, statement TEXT NOT NULL, simulated BIGINT NOT NULL, \
         UNIQUE (learner_id, course, simulated))",
        "CREATE INDEX certificates_issued ON certificates(issued_ms)",
    ],
), (
    // Spot checks (issue 13, R-SV-6, `spotcheck.rs`): the draws, the checks made on
    // the sampled learners, and their classes' attendance at each draw.
    19,
    &[
        "CREATE TABLE spot_checks (id TEXT PRIMARY KEY, scope TEXT NOT NULL, day TEXT NOT NULL, seed TEXT NOT NULL, \
         checkpoint_size BIGINT NOT NULL, checkpoint_root TEXT NOT NULL, population BIGINT NOT NULL, \
         size BIGINT NOT NULL, actor TEXT NOT NULL, created_ms BIGINT NOT NULL, UNIQUE (scope, day))",
        "CREATE TABLE spot_check_items (check_id TEXT NOT NULL, learner_id TEXT NOT NULL, draw_rank BIGINT NOT NULL, \
         method TEXT, result TEXT, note TEXT, recorder TEXT, recorded_ms BIGINT, PRIMARY KEY (check_id, learner_id))",
        "CREATE TABLE spot_check_classes (check_id TEXT NOT NULL, institution_id TEXT NOT NULL, class TEXT NOT NULL, \
         attendance_permille BIGINT NOT NULL, PRIMARY KEY (check_id, institution_id, class))",
    ],
), (
    // Training plans (issue 13, R-SV-8, `plans.rs`): the class hours of a course's
    // whole programme, online and offline, filed by its institution.
    20,
    &["CREATE TABLE course_plans (institution_id TEXT NOT NULL, course TEXT NOT NULL, \
       online_class_hours BIGINT NOT NULL, total_class_hours BIGINT NOT NULL, actor TEXT NOT NULL, \
       created_ms BIGINT NOT NULL, PRIMARY KEY (institution_id, course))"],
), (
    // Retention (issue 13, R-SV-4, `retention.rs`): the signed tombstones of purged
    // learners and the log's leaves each covers.
    21,
    &[
        "CREATE TABLE tombstones (id TEXT PRIMARY KEY, learner_ref TEXT NOT NULL, statement TEXT NOT NULL, \
         signature TEXT NOT NULL, created_ms BIGINT NOT NULL)",
        "CREATE TABLE tombstone_leaves (idx BIGINT PRIMARY KEY, tombstone_id TEXT NOT NULL)",
    ],
), (
    // A finding's figures as data (`observation.rs`): the console words them in
    // Chinese or English. Older findings keep their English text only.
    22,
    &["ALTER TABLE findings ADD COLUMN detail TEXT"],
), (
    // The platform's face check of each capture photo (issue 14, `faces.rs`):
    // distances in millionths.
    23,
    &["CREATE TABLE capture_checks (sha256 TEXT PRIMARY KEY, verdict TEXT NOT NULL, \
       distance_micro BIGINT, threshold_micro BIGINT NOT NULL, model TEXT NOT NULL, checked_ms BIGINT NOT NULL)"],
)];

/// Adds to a learner's tallies (see migration 7), in the caller's transaction.
async fn bump_tallies(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    learner_id: &str,
    segments: u64,
    flags: u64,
) -> Result<(), StoreError> {
    if segments == 0 && flags == 0 {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO learner_tallies(learner_id, segments, flags) VALUES ($1, $2, $3) \
         ON CONFLICT (learner_id) DO UPDATE SET segments = learner_tallies.segments + excluded.segments, \
         flags = learner_tallies.flags + excluded.flags",
    )
    .bind(learner_id)
    .bind(i(segments))
    .bind(i(flags))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    /// Whether this is SQLite (single writer: fewer connections).
    pub sqlite: bool,
    writer: Option<tokio::sync::mpsc::Sender<(CommitJob, Reply)>>,
    /// The key of ID numbers and phones at rest.
    pub(crate) data_key: std::sync::Arc<crate::datakey::DataKey>,
}

type Reply = tokio::sync::oneshot::Sender<Result<(), StoreError>>;

/// One push to commit: see [`Store::commit_batch`].
#[derive(Debug, Clone)]
pub struct CommitJob {
    /// Device (hex).
    pub device_id: String,
    /// Its learner.
    pub learner_id: String,
    /// The head the records extend.
    pub old_head: u64,
    /// Accepted records, in seq order.
    pub rows: Vec<NewRow>,
    /// A refused record to quarantine.
    pub quarantine: Option<QuarantineRow>,
    /// Receive time.
    pub now: i64,
    /// What the replay of the accepted records derived (written in the same
    /// transaction, so credit never disagrees with the records held).
    pub derived: Option<Derived>,
}

/// The derived state a push writes beside its records.
#[derive(Debug, Clone, Default)]
pub struct Derived {
    /// The device's fold state (JSON).
    pub device_fold: String,
    /// Whether the device is simulated (its credit is kept apart).
    pub simulated: bool,
    /// Courses whose progress changed: `(course, progress JSON, violations JSON)`.
    pub progress: Vec<(String, String, String)>,
    /// Credited wall-time intervals.
    pub intervals: Vec<crate::replay::Interval>,
    /// Findings.
    pub flags: Vec<crate::replay::Flag>,
    /// Passed captures waiting for their photo.
    pub pending: Vec<crate::replay::PendingPhoto>,
    /// Photos this batch's captures claimed as their evidence: `(sha256, seq)`.
    pub claims: Vec<(String, u64)>,
    /// Quiz answers graded.
    pub grades: Vec<crate::replay::GradeRow>,
}

/// Most jobs per SQLite group commit.
const GROUP_MAX_JOBS: usize = 256;

/// The SQLite group-commit writer.
async fn writer_task(pool: AnyPool, mut rx: tokio::sync::mpsc::Receiver<(CommitJob, Reply)>) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < GROUP_MAX_JOBS {
            match rx.try_recv() {
                Ok(j) => group.push(j),
                Err(_) => break,
            }
        }
        let (jobs, replies): (Vec<CommitJob>, Vec<Reply>) = group.into_iter().unzip();
        match run_group(&pool, true, &jobs).await {
            Ok(()) => {
                for reply in replies {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(e) if jobs.len() == 1 => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, jobs = jobs.len(), "group commit failed; committing its jobs one by one");
                for (job, reply) in jobs.iter().zip(replies) {
                    let _ = reply.send(run_group(&pool, true, std::slice::from_ref(job)).await);
                }
            }
        }
    }
}

/// Commit `jobs` in one transaction.
async fn run_group(pool: &AnyPool, sqlite: bool, jobs: &[CommitJob]) -> Result<(), StoreError> {
    // On SQLite the write lock at BEGIN: see `Store::begin_write`.
    let mut tx = if sqlite {
        pool.begin_with("BEGIN IMMEDIATE").await?
    } else {
        pool.begin().await?
    };
    for job in jobs {
        apply_job(&mut tx, job).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn apply_job(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    job: &CommitJob,
) -> Result<(), StoreError> {
    let CommitJob {
        device_id,
        learner_id,
        old_head,
        rows,
        quarantine,
        now,
        derived,
    } = job;
    let (old_head, now) = (*old_head, *now);
    if let Some(last) = rows.last() {
        let n = sqlx::query(
            "UPDATE devices SET head_seq = $1, head_hash = $2 WHERE device_id = $3 AND head_seq = $4",
        )
        .bind(i(last.seq))
        .bind(&last.hash)
        .bind(device_id)
        .bind(i(old_head))
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Err(StoreError::Conflict(device_id.to_owned()));
        }
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let sql = multi_row_insert(
                "INSERT INTO records(device_id, seq, learner_id, kind, wall_ms, mono_ms, header, payload, hash, signature, received_ms)",
                11,
                chunk.len(),
                "",
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(device_id)
                    .bind(i(r.seq))
                    .bind(learner_id)
                    .bind(&r.kind)
                    .bind(r.wall_ms)
                    .bind(i(r.mono_ms))
                    .bind(&r.header)
                    .bind(&r.payload)
                    .bind(&r.hash)
                    .bind(&r.signature)
                    .bind(now);
            }
            q.execute(&mut **tx).await?;
        }
        let segments = rows.iter().filter(|r| r.kind == "segment").count() as u64;
        bump_tallies(tx, learner_id, segments, 0).await?;
    }
    if let Some(qr) = quarantine {
        insert_quarantine(tx, qr, now).await?;
    }
    if let Some(d) = derived {
        write_derived(tx, device_id, learner_id, d, now).await?;
    }
    Ok(())
}

async fn write_derived(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    device_id: &str,
    learner_id: &str,
    d: &Derived,
    now: i64,
) -> Result<(), StoreError> {
    upsert_device_fold(tx, device_id, &d.device_fold).await?;
    let sim = i64::from(d.simulated);
    for (course, progress, violations) in &d.progress {
        sqlx::query(
            "INSERT INTO learner_progress(learner_id, course, simulated, progress, violations, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (learner_id, course, simulated) \
             DO UPDATE SET progress = excluded.progress, violations = excluded.violations, updated_ms = excluded.updated_ms",
        )
        .bind(learner_id)
        .bind(course)
        .bind(sim)
        .bind(progress)
        .bind(violations)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    for chunk in d.intervals.chunks(ROWS_PER_INSERT) {
        let sql = multi_row_insert(
            "INSERT INTO credit_intervals(device_id, seq, learner_id, course, start_ms, end_ms)",
            6,
            chunk.len(),
            " ON CONFLICT (device_id, seq) DO NOTHING",
        );
        let mut q = sqlx::query(&sql);
        for iv in chunk {
            q = q
                .bind(&iv.device_id)
                .bind(i(iv.seq))
                .bind(learner_id)
                .bind(&iv.course)
                .bind(iv.start_ms)
                .bind(iv.end_ms);
        }
        q.execute(&mut **tx).await?;
    }
    for chunk in d.flags.chunks(ROWS_PER_INSERT) {
        let sql = multi_row_insert(
            "INSERT INTO flags(id, learner_id, device_id, seq, kind, detail, created_ms)",
            7,
            chunk.len(),
            "",
        );
        let mut q = sqlx::query(&sql);
        for f in chunk {
            q = q
                .bind(random_id())
                .bind(learner_id)
                .bind(&f.device_id)
                .bind(i(f.seq))
                .bind(f.kind)
                .bind(&f.detail)
                .bind(now);
        }
        q.execute(&mut **tx).await?;
    }
    bump_tallies(tx, learner_id, 0, d.flags.len() as u64).await?;
    for (sha, seq) in &d.claims {
        sqlx::query(
            "INSERT INTO photo_claims(sha256, learner_id, device_id, seq, claimed_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha)
        .bind(learner_id)
        .bind(device_id)
        .bind(i(*seq))
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    for g in &d.grades {
        sqlx::query(
            "INSERT INTO quiz_grades(device_id, seq, learner_id, course, class_hour, attempt, correct, total, passed, graded_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (device_id, seq) DO NOTHING",
        )
        .bind(device_id)
        .bind(i(g.seq))
        .bind(learner_id)
        .bind(&g.course)
        .bind(i64::from(g.class_hour))
        .bind(i64::from(g.attempt))
        .bind(i64::from(g.grade.correct))
        .bind(i64::from(g.grade.total))
        .bind(i64::from(g.grade.passed))
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    for p in &d.pending {
        sqlx::query(
            "INSERT INTO pending_photos(sha256, learner_id, course, class_hour, simulated) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (sha256, learner_id, course, class_hour, simulated) DO NOTHING",
        )
        .bind(&p.sha256)
        .bind(learner_id)
        .bind(&p.course)
        .bind(i64::from(p.class_hour))
        .bind(sim)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn upsert_device_fold(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    device_id: &str,
    state: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO device_folds(device_id, state) VALUES ($1, $2) \
         ON CONFLICT (device_id) DO UPDATE SET state = excluded.state",
    )
    .bind(device_id)
    .bind(state)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A stored grade (see [`Store::grades_after`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGrade {
    /// Seq of the `quiz_answered` record.
    pub seq: u64,
    /// Course.
    pub course: String,
    /// Class hour.
    pub class_hour: u32,
    /// Attempt.
    pub attempt: u32,
    /// Right answers.
    pub correct: u32,
    /// Questions graded.
    pub total: u32,
    /// Passed.
    pub passed: bool,
    /// When graded, Unix ms.
    pub graded_ms: i64,
}

/// One learner's progress row: `(course, simulated, progress JSON, violations JSON)`.
pub type ProgressRow = (String, bool, String, String);

/// A published course row: `(id, version, institution id, profile, manifest)`.
pub type CourseRow = (String, u32, String, String, String);

/// A learner row.
#[derive(Debug, Clone)]
pub struct Learner {
    /// Id.
    pub id: String,
    /// Institution id.
    pub institution_id: String,
    /// Login name.
    pub username: String,
    /// Real name (R-ID-1).
    pub real_name: String,
    /// ID-card number (R-ID-1).
    pub id_number: String,
    /// Reference to the registration face photo (R-ID-1).
    pub face_photo_ref: Option<String>,
    /// Argon2 PHC string.
    pub password_hash: String,
}

/// A lease row joined with its device.
#[derive(Debug, Clone)]
pub struct Lease {
    /// Id.
    pub id: String,
    /// Learner.
    pub learner_id: String,
    /// Device (hex).
    pub device_id: String,
    /// Issued.
    pub issued_ms: i64,
    /// Online expiry.
    pub expires_ms: i64,
    /// Offline lease end.
    pub offline_until_ms: i64,
    /// Revocation time.
    pub revoked_ms: Option<i64>,
    /// Why.
    pub revoked_reason: Option<String>,
    /// The device's public key (hex), `None` when the device row is gone.
    pub public_key: Option<String>,
}

/// A device row.
#[derive(Debug, Clone)]
pub struct Device {
    /// Id (hex).
    pub device_id: String,
    /// Owner.
    pub learner_id: String,
    /// Public key (hex).
    pub public_key: String,
    /// Highest contiguous seq held.
    pub head_seq: u64,
    /// Its hash.
    pub head_hash: Hash,
    /// Enrolled by `keshi simulate` (its credit is kept apart).
    pub simulated: bool,
}

/// One row to insert into `records`.
#[derive(Debug, Clone)]
pub struct NewRow {
    /// Seq.
    pub seq: u64,
    /// Kind.
    pub kind: String,
    /// Wall ms.
    pub wall_ms: i64,
    /// Mono ms.
    pub mono_ms: u64,
    /// Header hex.
    pub header: String,
    /// Payload text.
    pub payload: String,
    /// Hash hex.
    pub hash: String,
    /// Signature hex.
    pub signature: String,
}

/// A quarantined record.
#[derive(Debug, Clone)]
pub struct QuarantineRow {
    /// Learner, when known.
    pub learner_id: Option<String>,
    /// Device, when known.
    pub device_id: Option<String>,
    /// Seq, when known.
    pub seq: Option<u64>,
    /// Refusal code.
    pub code: String,
    /// Message.
    pub message: String,
    /// The record as received (JSON).
    pub record: String,
}

/// Rows per multi-row INSERT: sqlx's bind cost grows faster than linearly with the
/// statement size; 32 measured fastest (BENCHMARKS.md).
const ROWS_PER_INSERT: usize = 32;

/// `{head} VALUES ($1, …), (…)…{tail}` for `rows` rows of `cols` columns (`$N`
/// placeholders work on SQLite and PostgreSQL alike).
pub(crate) fn multi_row_insert(head: &str, cols: usize, rows: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * cols * 5 + 8);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for k in 0..rows {
        if k > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push(',');
            }
            sql.push('$');
            sql.push_str(&(k * cols + c + 1).to_string());
        }
        sql.push(')');
    }
    sql.push_str(tail);
    sql
}

/// A count or size as the database stores it (BIGINT), saturating.
pub(crate) fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A stored BIGINT as a count or size (a negative one reads as 0).
pub(crate) fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A platform database URL (`sqlite:PATH`, `sqlite://PATH`, `postgres://…`) as
/// `sqlx::AnyPool` takes it (a SQLite file is created when missing); installs the
/// drivers. Tools and tests that read the tables directly connect with it.
pub fn sqlx_url(url: &str) -> Result<String, StoreError> {
    sqlx::any::install_default_drivers();
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.trim_start_matches("//");
        let sep = if path.contains('?') { '&' } else { '?' };
        Ok(format!("sqlite://{path}{sep}mode=rwc"))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(url.to_owned())
    } else {
        Err(StoreError::BadUrl(url.to_owned()))
    }
}

/// Random id / token: 16 random bytes, hex.
pub fn random_id() -> String {
    let b: [u8; 16] = rand::random();
    hex::encode(b)
}

fn parse_hash(s: &str) -> Result<Hash, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("hash {s:?}")))
}

impl Store {
    /// Connect (creating a SQLite file if needed) and apply migrations, with the
    /// data key file at its default place
    /// ([`crate::datakey::default_key_path`]): see [`Store::connect_with_key`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::connect_with_key(url, None).await
    }

    /// Connect (creating a SQLite file if needed), apply migrations, and load the
    /// data key (R-ID-1, R-SV-2) from `key_file` (default:
    /// [`crate::datakey::default_key_path`]; created when missing). A key other
    /// than the one the database's values were encrypted with is refused. ID
    /// numbers and phones still in plaintext (an older database) are encrypted
    /// here, and their blind index filled in.
    pub async fn connect_with_key(
        url: &str,
        key_file: Option<&std::path::Path>,
    ) -> Result<Store, StoreError> {
        let key_path = key_file
            .map(std::path::Path::to_path_buf)
            .unwrap_or_else(|| crate::datakey::default_key_path(url));
        let key_existed = key_path.exists();
        let data_key = {
            let p = key_path.clone();
            tokio::task::spawn_blocking(move || crate::datakey::DataKey::load_or_create(&p))
                .await
                .map_err(|e| StoreError::Corrupt(format!("loading the data key: {e}")))??
        };
        let sqlite = url.starts_with("sqlite:");
        let url = sqlx_url(url)?;
        let opts = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 16 })
            .acquire_timeout(Duration::from_secs(30));
        let opts = if sqlite {
            opts.after_connect(|conn, _| {
                Box::pin(async move {
                    for p in [
                        "PRAGMA journal_mode=WAL",
                        "PRAGMA synchronous=FULL",
                        "PRAGMA busy_timeout=30000",
                        "PRAGMA foreign_keys=ON",
                    ] {
                        sqlx::query(p).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
        } else {
            opts
        };
        let pool = opts.connect(&url).await?;
        let writer = sqlite.then(|| {
            let (tx, rx) = tokio::sync::mpsc::channel(4096);
            tokio::spawn(writer_task(pool.clone(), rx));
            tx
        });
        let store = Store {
            pool,
            sqlite,
            writer,
            data_key: std::sync::Arc::new(data_key),
        };
        store.migrate().await?;
        if let Err(e) = store.check_data_key(&key_path).await {
            // A key made just now for a database encrypted under another is of no
            // use to anyone: it goes, and the error says which key is needed.
            if !key_existed && matches!(e, StoreError::WrongDataKey(_)) {
                let _ = std::fs::remove_file(&key_path);
            }
            return Err(e);
        }
        store.encrypt_plaintext().await?;
        Ok(store)
    }

    /// Records the data key's check value on first use; refuses another key.
    async fn check_data_key(&self, path: &std::path::Path) -> Result<(), StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        sqlx::query(
            "INSERT INTO data_key_check(id, check_value, created_ms) VALUES ('current', $1, $2) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(self.data_key.check_value())
        .bind(now)
        .execute(&self.pool)
        .await?;
        let held: String =
            sqlx::query("SELECT check_value FROM data_key_check WHERE id = 'current'")
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?;
        if held != self.data_key.check_value() {
            return Err(StoreError::WrongDataKey(path.to_owned()));
        }
        Ok(())
    }

    /// Encrypts the ID numbers and phones still held in plaintext (a database from
    /// before migration 13) and fills in their blind index. Returns how many
    /// learners. A row changed meanwhile by another process is left to it.
    pub async fn encrypt_plaintext(&self) -> Result<u64, StoreError> {
        let rows = sqlx::query(
            "SELECT id, id_number, phone FROM learners WHERE id_number_index IS NULL \
             OR id_number NOT LIKE 'v1:%' OR (phone <> '' AND phone NOT LIKE 'v1:%')",
        )
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        for r in &rows {
            let id: String = r.try_get(0)?;
            let id_number: String = r.try_get(1)?;
            let phone: String = r.try_get(2)?;
            let plain_id = self.data_key.decrypt("id_number", &id, &id_number)?;
            let plain_phone = self.data_key.decrypt("phone", &id, &phone)?;
            sqlx::query(
                "UPDATE learners SET id_number = $1, phone = $2, id_number_index = $3 \
                 WHERE id = $4 AND id_number = $5 AND phone = $6",
            )
            .bind(self.data_key.encrypt("id_number", &id, &plain_id)?)
            .bind(self.data_key.encrypt("phone", &id, &plain_phone)?)
            .bind(self.data_key.blind_index(&plain_id))
            .bind(&id)
            .bind(&id_number)
            .bind(&phone)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        tracing::warn!(
            learners = rows.len(),
            "encrypted ID numbers and phones held in plaintext"
        );
        Ok(rows.len() as u64)
    }

    /// A write transaction. On SQLite it takes the write lock at `BEGIN IMMEDIATE`,
    /// waiting the busy timeout for it: a deferred transaction that reads first and
    /// writes later fails at once with `SQLITE_BUSY` when another connection (the
    /// log's sequencer, an admin command) commits in between, because its snapshot
    /// is stale — no busy timeout helps that.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        if self.sqlite {
            self.pool.begin_with("BEGIN IMMEDIATE").await
        } else {
            self.pool.begin().await
        }
    }

    /// The data key (ID numbers and phones at rest).
    pub fn data_key(&self) -> &crate::datakey::DataKey {
        &self.data_key
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
        )
        .execute(&self.pool)
        .await?;
        for (version, stmts) in MIGRATIONS {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(*version)
                .fetch_optional(&mut *tx)
                .await?;
            if done.is_some() {
                continue;
            }
            for s in *stmts {
                sqlx::query(s).execute(&mut *tx).await?;
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            // A concurrent first start may have applied it: then this fails and
            // the whole migration rolls back, which is what we want.
            sqlx::query("INSERT INTO schema_migrations(version, applied_ms) VALUES ($1, $2)")
                .bind(*version)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(version, "migration applied");
        }
        Ok(())
    }

    /// The captures of a learner's real devices still waiting for their photo:
    /// `(course, class hour)` each.
    pub async fn pending_photos_of(
        &self,
        learner_id: &str,
    ) -> Result<Vec<(String, u32)>, StoreError> {
        sqlx::query(
            "SELECT course, class_hour FROM pending_photos WHERE learner_id = $1 AND simulated = 0",
        )
        .bind(learner_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get(0)?,
                u32::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0),
            ))
        })
        .collect()
    }

    /// Sets the region an institution is in (what authorities' scopes cover).
    pub async fn set_institution_region(&self, id: &str, region: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE institutions SET region = $1 WHERE id = $2")
            .bind(region)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Create an institution; returns its id (existing id when the name exists).
    pub async fn create_institution(&self, name: &str, now: i64) -> Result<String, StoreError> {
        if let Some(r) = sqlx::query("SELECT id FROM institutions WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
        {
            return Ok(r.try_get(0)?);
        }
        let id = random_id();
        sqlx::query("INSERT INTO institutions(id, name, created_ms) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(name)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(id)
    }

    /// The id of the institution whose id or name is `name_or_id`, if any.
    pub async fn institution(&self, name_or_id: &str) -> Result<Option<String>, StoreError> {
        sqlx::query("SELECT id FROM institutions WHERE id = $1 OR name = $1 ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END")
            .bind(name_or_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get(0).map_err(StoreError::from))
            .transpose()
    }

    /// Create a learner; returns its id.
    pub async fn create_learner(&self, l: &Learner, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO learners(id, institution_id, username, real_name, id_number, face_photo_ref, password_hash, created_ms, id_number_index) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&l.id)
        .bind(&l.institution_id)
        .bind(&l.username)
        .bind(&l.real_name)
        .bind(self.data_key.encrypt("id_number", &l.id, &l.id_number)?)
        .bind(l.face_photo_ref.clone())
        .bind(&l.password_hash)
        .bind(now)
        .bind(self.data_key.blind_index(&l.id_number))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Find a learner by login name or id.
    pub async fn learner(&self, user: &str) -> Result<Option<Learner>, StoreError> {
        let row = sqlx::query(
            "SELECT id, institution_id, username, real_name, id_number, face_photo_ref, password_hash \
             FROM learners WHERE username = $1 OR id = $1",
        )
        .bind(user)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            let id: String = r.try_get(0)?;
            let id_number: String = r.try_get(4)?;
            Ok(Learner {
                id_number: self.data_key.decrypt("id_number", &id, &id_number)?,
                id,
                institution_id: r.try_get(1)?,
                username: r.try_get(2)?,
                real_name: r.try_get(3)?,
                face_photo_ref: r.try_get(5)?,
                password_hash: r.try_get(6)?,
            })
        })
        .transpose()
    }

    fn device_from(r: &AnyRow) -> Result<Device, StoreError> {
        Ok(Device {
            device_id: r.try_get(0)?,
            learner_id: r.try_get(1)?,
            public_key: r.try_get(2)?,
            head_seq: u(r.try_get(3)?),
            head_hash: parse_hash(&r.try_get::<String, _>(4)?)?,
            simulated: r.try_get::<i64, _>(5)? != 0,
        })
    }

    /// A device by id.
    pub async fn device(&self, device_id: &str) -> Result<Option<Device>, StoreError> {
        sqlx::query("SELECT device_id, learner_id, public_key, head_seq, head_hash, simulated FROM devices WHERE device_id = $1")
            .bind(device_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| Self::device_from(&r))
            .transpose()
    }

    /// A learner's devices.
    pub async fn devices_of(&self, learner_id: &str) -> Result<Vec<Device>, StoreError> {
        sqlx::query("SELECT device_id, learner_id, public_key, head_seq, head_hash, simulated FROM devices WHERE learner_id = $1 ORDER BY device_id")
            .bind(learner_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(Self::device_from)
            .collect()
    }

    /// A learner's stored records, as a re-derivation reads them.
    pub async fn stored_records(
        &self,
        learner_id: &str,
    ) -> Result<Vec<crate::credit::StoredRecord>, StoreError> {
        sqlx::query(
            "SELECT device_id, seq, kind, wall_ms, received_ms, payload FROM records \
             WHERE learner_id = $1 ORDER BY received_ms, device_id, seq",
        )
        .bind(learner_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(crate::credit::StoredRecord {
                device_id: r.try_get(0)?,
                seq: u64::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0),
                kind: r.try_get(2)?,
                wall_ms: r.try_get(3)?,
                received_ms: r.try_get(4)?,
                payload: r.try_get(5)?,
            })
        })
        .collect()
    }

    /// Every record the platform holds of one device, in seq order: `(seq, kind,
    /// payload)`.
    pub async fn device_records(
        &self,
        device_id: &str,
    ) -> Result<Vec<(u64, String, String)>, StoreError> {
        sqlx::query("SELECT seq, kind, payload FROM records WHERE device_id = $1 ORDER BY seq")
            .bind(device_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    u64::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0),
                    r.try_get(1)?,
                    r.try_get(2)?,
                ))
            })
            .collect()
    }

    /// The photos a learner uploaded (SHA-256).
    pub async fn captures_of(
        &self,
        learner_id: &str,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        sqlx::query_scalar("SELECT sha256 FROM captures WHERE learner_id = $1")
            .bind(learner_id)
            .fetch_all(&self.pool)
            .await
            .map(|v: Vec<String>| v.into_iter().collect())
            .map_err(Into::into)
    }

    /// Learners with records on a device that has no derived state (a database
    /// from before the derived tables): their state must be derived again.
    pub async fn learners_without_derived_state(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT d.learner_id FROM devices d WHERE d.head_seq > 0 AND NOT EXISTS \
             (SELECT 1 FROM device_folds f WHERE f.device_id = d.device_id) ORDER BY d.learner_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every learner id.
    pub async fn learner_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM learners ORDER BY id")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Replaces everything derived for `learner_id` by `derived` (one
    /// [`Derived`] per device; progress rows are written in order, the last one of a
    /// course wins), in one transaction: nothing half-replaced is ever seen.
    pub async fn replace_derived(
        &self,
        learner_id: &str,
        derived: &[(String, Derived)],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for table in [
            "learner_progress",
            "credit_intervals",
            "flags",
            "pending_photos",
            "photo_claims",
            "quiz_grades",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE learner_id = $1"))
                .bind(learner_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE learner_tallies SET flags = 0 WHERE learner_id = $1")
            .bind(learner_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM device_folds WHERE device_id IN (SELECT device_id FROM devices WHERE learner_id = $1)",
        )
        .bind(learner_id)
        .execute(&mut *tx)
        .await?;
        for (device_id, d) in derived {
            write_derived(&mut tx, device_id, learner_id, d, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The grades of `device_id`'s quiz answers after `after_seq`, in seq order, at
    /// most `limit`.
    pub async fn grades_after(
        &self,
        device_id: &str,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<StoredGrade>, StoreError> {
        sqlx::query(
            "SELECT seq, course, class_hour, attempt, correct, total, passed, graded_ms FROM quiz_grades \
             WHERE device_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(device_id)
        .bind(i(after_seq))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            let n = |k: usize| -> Result<u32, StoreError> {
                Ok(u32::try_from(r.try_get::<i64, _>(k)?).unwrap_or(0))
            };
            Ok(StoredGrade {
                seq: u64::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0),
                course: r.try_get(1)?,
                class_hour: n(2)?,
                attempt: n(3)?,
                correct: n(4)?,
                total: n(5)?,
                passed: r.try_get::<i64, _>(6)? != 0,
                graded_ms: r.try_get(7)?,
            })
        })
        .collect()
    }

    /// Devices staff approved for `learner_id` beyond the free allowance.
    pub async fn extra_devices(&self, learner_id: &str) -> Result<u64, StoreError> {
        let n: Option<i64> = sqlx::query_scalar("SELECT extra_devices FROM learners WHERE id = $1")
            .bind(learner_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(n.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
    }

    /// Staff approve one more device for `learner_id`; returns the extra devices
    /// now approved.
    pub async fn approve_extra_device(&self, learner_id: &str) -> Result<u64, StoreError> {
        sqlx::query("UPDATE learners SET extra_devices = extra_devices + 1 WHERE id = $1")
            .bind(learner_id)
            .execute(&self.pool)
            .await?;
        self.extra_devices(learner_id).await
    }

    /// Enrol a device for a learner (no-op when already enrolled to them).
    pub async fn enrol_device(
        &self,
        device_id: &str,
        learner_id: &str,
        public_key: &str,
        simulated: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO devices(device_id, learner_id, public_key, enrolled_ms, head_seq, head_hash, simulated) \
             VALUES ($1, $2, $3, $4, 0, $5, $6) ON CONFLICT (device_id) DO NOTHING",
        )
        .bind(device_id)
        .bind(learner_id)
        .bind(public_key)
        .bind(now)
        .bind(Hash::ZERO.to_hex())
        .bind(i64::from(simulated))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Revoke every open lease of the learner, then issue a new one (one
    /// transaction: R-ID-3, one place at a time).
    #[allow(clippy::too_many_arguments)]
    pub async fn issue_lease(
        &self,
        lease_id: &str,
        token_hash: &str,
        learner_id: &str,
        device_id: &str,
        now: i64,
        expires_ms: i64,
        offline_until_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let revoked = sqlx::query(
            "UPDATE leases SET revoked_ms = $1, \
             revoked_reason = CASE WHEN device_id = $3 THEN 'superseded by a new login on this device' \
             ELSE 'logged in on another device' END \
             WHERE learner_id = $2 AND revoked_ms IS NULL",
        )
        .bind(now)
        .bind(learner_id)
        .bind(device_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "INSERT INTO leases(id, token_hash, learner_id, device_id, issued_ms, expires_ms, offline_until_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(lease_id)
        .bind(token_hash)
        .bind(learner_id)
        .bind(device_id)
        .bind(now)
        .bind(expires_ms)
        .bind(offline_until_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(revoked)
    }

    /// Records the network address a lease was issued to (course-farming checks).
    pub async fn set_lease_address(&self, lease_id: &str, address: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE leases SET address = $1 WHERE id = $2")
            .bind(address)
            .bind(lease_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The lease of a bearer token (by its SHA-256), with the device key.
    pub async fn lease_by_token(&self, token_hash: &str) -> Result<Option<Lease>, StoreError> {
        let row = sqlx::query(
            "SELECT l.id, l.learner_id, l.device_id, l.issued_ms, l.expires_ms, l.offline_until_ms, \
             l.revoked_ms, l.revoked_reason, d.public_key \
             FROM leases l LEFT JOIN devices d ON d.device_id = l.device_id AND d.learner_id = l.learner_id \
             WHERE l.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Lease {
                id: r.try_get(0)?,
                learner_id: r.try_get(1)?,
                device_id: r.try_get(2)?,
                issued_ms: r.try_get(3)?,
                expires_ms: r.try_get(4)?,
                offline_until_ms: r.try_get(5)?,
                revoked_ms: r.try_get(6)?,
                revoked_reason: r.try_get(7)?,
                public_key: r.try_get(8)?,
            })
        })
        .transpose()
    }

    /// Renew a lease that is not revoked; false when it is.
    pub async fn renew_lease(
        &self,
        lease_id: &str,
        expires_ms: i64,
        offline_until_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE leases SET expires_ms = $2, offline_until_ms = $3 WHERE id = $1 AND revoked_ms IS NULL",
        )
        .bind(lease_id)
        .bind(expires_ms)
        .bind(offline_until_ms)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Lease windows of a learner: `(device, issued, end)` where end is the
    /// revocation or the offline-lease end, whichever is first.
    pub async fn lease_windows(
        &self,
        learner_id: &str,
    ) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT device_id, issued_ms, offline_until_ms, revoked_ms FROM leases WHERE learner_id = $1",
        )
        .bind(learner_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let until: i64 = r.try_get(2)?;
                let revoked: Option<i64> = r.try_get(3)?;
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    revoked.map_or(until, |x| x.min(until)),
                ))
            })
            .collect()
    }

    /// Hashes the platform holds for `seqs` of a device.
    pub async fn stored_hashes(
        &self,
        device_id: &str,
        seqs: &[u64],
    ) -> Result<HashMap<u64, Hash>, StoreError> {
        let mut out = HashMap::new();
        let (Some(lo), Some(hi)) = (seqs.iter().min(), seqs.iter().max()) else {
            return Ok(out);
        };
        let rows = sqlx::query(
            "SELECT seq, hash FROM records WHERE device_id = $1 AND seq >= $2 AND seq <= $3",
        )
        .bind(device_id)
        .bind(i(*lo))
        .bind(i(*hi))
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            out.insert(u(r.try_get(0)?), parse_hash(&r.try_get::<String, _>(1)?)?);
        }
        Ok(out)
    }

    /// Store accepted records, move the device head from `old_head` to the last of
    /// them, and quarantine a refused record — atomically, durable on return.
    /// Fails with [`StoreError::Conflict`] when the head moved meanwhile (nothing
    /// stored).
    ///
    /// On SQLite (one writer, one fsync per commit) jobs go to a group-commit
    /// writer task: concurrent pushes of many devices share one transaction and one
    /// fsync. If a group fails, each of its jobs is retried alone, so one bad job
    /// cannot fail the others. PostgreSQL commits concurrently from the pool.
    pub async fn commit_batch(&self, job: CommitJob) -> Result<(), StoreError> {
        match &self.writer {
            Some(tx) => {
                let (reply, rx) = tokio::sync::oneshot::channel();
                tx.send((job, reply))
                    .await
                    .map_err(|_| StoreError::Conflict("writer stopped".into()))?;
                rx.await
                    .map_err(|_| StoreError::Conflict("writer stopped".into()))?
            }
            None => run_group(&self.pool, self.sqlite, std::slice::from_ref(&job)).await,
        }
    }

    /// Quarantine a refused record outside a batch transaction.
    pub async fn quarantine(&self, qr: &QuarantineRow, now: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_quarantine(&mut tx, qr, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Quarantine rows of a learner (or all with `None`): `(code, device, seq)`.
    pub async fn quarantined(
        &self,
        learner_id: Option<&str>,
    ) -> Result<Vec<(String, Option<String>, Option<i64>)>, StoreError> {
        let rows = match learner_id {
            Some(l) => {
                sqlx::query("SELECT code, device_id, seq FROM quarantine WHERE learner_id = $1 ORDER BY received_ms LIMIT 1000")
                    .bind(l)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT code, device_id, seq FROM quarantine ORDER BY received_ms")
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// Bytes the quarantine holds for a learner (what a flood of refused uploads
    /// costs the platform: a hash and a bounded excerpt each).
    pub async fn quarantine_bytes(&self, learner_id: &str) -> Result<u64, StoreError> {
        let rows = sqlx::query("SELECT record FROM quarantine WHERE learner_id = $1")
            .bind(learner_id)
            .fetch_all(&self.pool)
            .await?;
        let mut total = 0u64;
        for r in &rows {
            let record: String = r.try_get(0)?;
            total = total.saturating_add(record.len() as u64);
        }
        Ok(total)
    }

    /// All records of a learner: `(device, seq, kind, wall_ms, payload, hash)`.
    pub async fn learner_records(
        &self,
        learner_id: &str,
    ) -> Result<Vec<(String, u64, String, i64, String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT device_id, seq, kind, wall_ms, payload, hash FROM records WHERE learner_id = $1 ORDER BY device_id, seq",
        )
        .bind(learner_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    u(r.try_get(1)?),
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                    r.try_get(5)?,
                ))
            })
            .collect()
    }

    /// The stored record hashes of one device in seq order.
    pub async fn device_hashes(&self, device_id: &str) -> Result<Vec<(u64, String)>, StoreError> {
        let rows = sqlx::query("SELECT seq, hash FROM records WHERE device_id = $1 ORDER BY seq")
            .bind(device_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((u(r.try_get(0)?), r.try_get(1)?)))
            .collect()
    }

    /// The platform's signing key (PKCS#8 hex), created on first use.
    pub async fn platform_key(
        &self,
        fresh_pkcs8: impl FnOnce() -> String,
        now: i64,
    ) -> Result<String, StoreError> {
        if let Some(r) = sqlx::query("SELECT pkcs8 FROM platform_keys WHERE id = 'lease-signing'")
            .fetch_optional(&self.pool)
            .await?
        {
            return Ok(r.try_get(0)?);
        }
        sqlx::query("INSERT INTO platform_keys(id, pkcs8, created_ms) VALUES ('lease-signing', $1, $2) ON CONFLICT (id) DO NOTHING")
            .bind(fresh_pkcs8())
            .bind(now)
            .execute(&self.pool)
            .await?;
        let r = sqlx::query("SELECT pkcs8 FROM platform_keys WHERE id = 'lease-signing'")
            .fetch_one(&self.pool)
            .await?;
        Ok(r.try_get(0)?)
    }

    /// The state of a device's fold (JSON), if any.
    pub async fn device_fold(&self, device_id: &str) -> Result<Option<String>, StoreError> {
        sqlx::query("SELECT state FROM device_folds WHERE device_id = $1")
            .bind(device_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get(0).map_err(StoreError::from))
            .transpose()
    }

    /// Replaces a device's fold state (a contact outside a push: login, heartbeat).
    pub async fn set_device_fold(&self, device_id: &str, state: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        upsert_device_fold(&mut tx, device_id, state).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A learner's progress rows (both real and simulated).
    pub async fn learner_progress(&self, learner_id: &str) -> Result<Vec<ProgressRow>, StoreError> {
        sqlx::query(
            "SELECT course, simulated, progress, violations FROM learner_progress WHERE learner_id = $1 ORDER BY course, simulated",
        )
        .bind(learner_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get::<i64, _>(1)? != 0, r.try_get(2)?, r.try_get(3)?)))
        .collect()
    }

    /// The learner's credited intervals that overlap `[from_ms, to_ms]`.
    pub async fn intervals_overlapping(
        &self,
        learner_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<crate::replay::Interval>, StoreError> {
        sqlx::query(
            "SELECT device_id, seq, course, start_ms, end_ms FROM credit_intervals \
             WHERE learner_id = $1 AND start_ms < $3 AND end_ms > $2",
        )
        .bind(learner_id)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(crate::replay::Interval {
                device_id: r.try_get(0)?,
                seq: u(r.try_get(1)?),
                course: r.try_get(2)?,
                start_ms: r.try_get(3)?,
                end_ms: r.try_get(4)?,
            })
        })
        .collect()
    }

    /// Which of `shas` are capture images of `learner_id` the platform holds.
    pub async fn captures_held(
        &self,
        learner_id: &str,
        shas: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut out = std::collections::HashSet::new();
        for sha in shas {
            if let Some((owner, _)) = self.capture(sha).await? {
                if owner == learner_id {
                    out.insert(sha.clone());
                }
            }
        }
        Ok(out)
    }

    /// Which of `shas` a capture has already claimed as its evidence.
    pub async fn photos_claimed(
        &self,
        shas: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut out = std::collections::HashSet::new();
        for sha in shas {
            if sqlx::query("SELECT seq FROM photo_claims WHERE sha256 = $1")
                .bind(sha)
                .fetch_optional(&self.pool)
                .await?
                .is_some()
            {
                out.insert(sha.clone());
            }
        }
        Ok(out)
    }

    /// The flags raised on a learner's records.
    pub async fn flags(
        &self,
        learner_id: &str,
        newest: u32,
    ) -> Result<Vec<crate::credit::Flag>, StoreError> {
        let mut rows = sqlx::query(
            "SELECT kind, device_id, seq, detail FROM flags WHERE learner_id = $1 \
             ORDER BY created_ms DESC, device_id DESC, seq DESC LIMIT $2",
        )
        .bind(learner_id)
        .bind(i64::from(newest))
        .fetch_all(&self.pool)
        .await?;
        rows.reverse();
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get(0)?;
                Ok(crate::credit::Flag {
                    kind: crate::credit::flag_kind(&kind),
                    device_id: r.try_get(1)?,
                    seq: u(r.try_get(2)?),
                    detail: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// A learner's segment and flag counts (migration 7), one row.
    pub async fn tallies(&self, learner_id: &str) -> Result<(u64, u64), StoreError> {
        let r = sqlx::query("SELECT segments, flags FROM learner_tallies WHERE learner_id = $1")
            .bind(learner_id)
            .fetch_optional(&self.pool)
            .await?;
        match r {
            Some(r) => Ok((u(r.try_get(0)?), u(r.try_get(1)?))),
            None => Ok((0, 0)),
        }
    }

    /// Publishes a course version (immutable: a version is never rewritten).
    pub async fn publish_course(
        &self,
        id: &str,
        institution_id: &str,
        profile: &str,
        manifest: &str,
        now: i64,
    ) -> Result<u32, StoreError> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM courses WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let last: i64 = r.try_get(0)?;
        let version = last + 1;
        sqlx::query(
            "INSERT INTO courses(id, version, institution_id, profile, manifest, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(version)
        .bind(institution_id)
        .bind(profile)
        .bind(manifest)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(u32::try_from(version).unwrap_or(u32::MAX))
    }

    /// The profile and manifest of one course version.
    pub async fn course_manifest(
        &self,
        id: &str,
        version: u32,
    ) -> Result<Option<(String, String)>, StoreError> {
        sqlx::query("SELECT profile, manifest FROM courses WHERE id = $1 AND version = $2")
            .bind(id)
            .bind(i64::from(version))
            .fetch_optional(&self.pool)
            .await?
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .transpose()
    }

    /// Every published course version.
    pub async fn courses(&self) -> Result<Vec<CourseRow>, StoreError> {
        sqlx::query("SELECT id, version, institution_id, profile, manifest FROM courses ORDER BY id, version")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    u32::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0),
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                ))
            })
            .collect()
    }

    /// What identifies the catalogue's contents cheaply: `(rows, newest created_ms)`
    /// (versions are immutable and only ever added).
    pub async fn catalogue_stamp(&self) -> Result<(i64, i64), StoreError> {
        let r = sqlx::query("SELECT COUNT(*), COALESCE(MAX(created_ms), 0) FROM courses")
            .fetch_one(&self.pool)
            .await?;
        Ok((r.try_get(0)?, r.try_get(1)?))
    }

    /// A photo arrived: every capture of `learner_id` waiting for it now counts
    /// (`apply` turns a progress JSON into the new one), in one transaction.
    pub async fn photo_arrived(
        &self,
        sha256: &str,
        learner_id: &str,
        apply: impl Fn(&str, u32, &str) -> Option<String>,
        now: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let pending = sqlx::query(
            "SELECT course, class_hour, simulated FROM pending_photos WHERE sha256 = $1 AND learner_id = $2",
        )
        .bind(sha256)
        .bind(learner_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut n = 0;
        for r in &pending {
            let course: String = r.try_get(0)?;
            let hour = u32::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0);
            let sim: i64 = r.try_get(2)?;
            let row = sqlx::query(
                "SELECT progress FROM learner_progress WHERE learner_id = $1 AND course = $2 AND simulated = $3",
            )
            .bind(learner_id)
            .bind(&course)
            .bind(sim)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else { continue };
            let before: String = row.try_get(0)?;
            if let Some(after) = apply(&course, hour, &before) {
                sqlx::query(
                    "UPDATE learner_progress SET progress = $4, updated_ms = $5 WHERE learner_id = $1 AND course = $2 AND simulated = $3",
                )
                .bind(learner_id)
                .bind(&course)
                .bind(sim)
                .bind(after)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                n += 1;
            }
        }
        sqlx::query("DELETE FROM pending_photos WHERE sha256 = $1 AND learner_id = $2")
            .bind(sha256)
            .bind(learner_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Record a stored capture image.
    pub async fn put_capture(
        &self,
        sha256: &str,
        learner_id: &str,
        content_type: &str,
        size: u64,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO captures(sha256, learner_id, content_type, size, stored_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256)
        .bind(learner_id)
        .bind(content_type)
        .bind(i(size))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A capture's owner and content type.
    pub async fn capture(&self, sha256: &str) -> Result<Option<(String, String)>, StoreError> {
        sqlx::query("SELECT learner_id, content_type FROM captures WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .transpose()
    }
}

/// Quarantine rows kept per learner (the newest refusals beyond it are answered
/// but not kept).
pub const QUARANTINE_PER_LEARNER: u32 = 1_000;

async fn insert_quarantine(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    qr: &QuarantineRow,
    now: i64,
) -> Result<(), StoreError> {
    // At most QUARANTINE_PER_LEARNER rows per learner: a flood of refused uploads
    // costs a bounded amount of storage (the refusal itself is still answered).
    sqlx::query(&format!(
        "INSERT INTO quarantine(id, received_ms, learner_id, device_id, seq, code, message, record) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE (SELECT COUNT(*) FROM \
         (SELECT 1 FROM quarantine WHERE learner_id = $3 LIMIT {QUARANTINE_PER_LEARNER}) kept) < {QUARANTINE_PER_LEARNER}",
    ))
    .bind(random_id())
    .bind(now)
    .bind(qr.learner_id.clone())
    .bind(qr.device_id.clone())
    .bind(qr.seq.map(i))
    .bind(&qr.code)
    .bind(&qr.message)
    .bind(&qr.record)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Create a fresh, empty PostgreSQL database `name` on the server of `base_url`
/// and return its URL (tests and benchmarks: one database per run).
pub async fn create_pg_database(base_url: &str, name: &str) -> Result<String, StoreError> {
    sqlx::any::install_default_drivers();
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(StoreError::BadUrl(name.to_owned()));
    }
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(base_url)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await?;
    pool.close().await;
    let (prefix, rest) = base_url
        .rsplit_once('/')
        .ok_or_else(|| StoreError::BadUrl(base_url.to_owned()))?;
    let query = rest
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    Ok(format!("{prefix}/{name}{query}"))
}
