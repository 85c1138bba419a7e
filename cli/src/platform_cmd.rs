//! `keshi login` and `keshi sync [--watch]`: talk to the platform (issue 4).
//!
//! The sync logic (outbox, batching, backoff, stop states) is
//! `player_core::sync`; this module is its HTTP transport (reqwest, blocking) and
//! the command-line glue. Lease and token live in the journal's `sync_state`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use player_core::http::{self, Heartbeat, HttpTransport};
use player_core::journal::Journal;
use player_core::sync::{self, BatchLimits, SyncEngine, SyncOptions, SyncStatus};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// `keshi login`.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Platform base URL, e.g. http://127.0.0.1:8080
    #[arg(long)]
    platform: String,
    /// Login name.
    #[arg(long)]
    user: String,
    /// Password.
    #[arg(long, env = "KESHI_PASSWORD")]
    password: String,
    /// The study journal whose device key is enrolled.
    #[arg(long)]
    journal: PathBuf,
    /// The journal is (or will be) written by `keshi simulate`: it is signed by the
    /// simulation's own throw-away key, and the platform is told so (it accepts it
    /// only when started with `--accept-simulated`; the credit is kept apart).
    #[arg(long)]
    simulated: bool,
}

/// `keshi sync`.
#[derive(Args, Debug)]
pub struct SyncArgs {
    /// Platform base URL (default: the one `keshi login` used).
    #[arg(long)]
    platform: Option<String>,
    /// The study journal.
    #[arg(long)]
    journal: PathBuf,
    /// Keep running: heartbeat and sync every --interval seconds (for the app).
    #[arg(long)]
    watch: bool,
    /// Seconds between rounds in --watch mode.
    #[arg(long, default_value_t = 30)]
    interval: u64,
    /// Retries per batch on network errors / 5xx before giving up (not in --watch).
    #[arg(long, default_value_t = 8)]
    max_retries: u32,
    /// Most records per request.
    #[arg(long, default_value_t = 1000)]
    batch_records: usize,
    /// Most bytes per request.
    #[arg(long, default_value_t = 1 << 20)]
    batch_bytes: usize,
    /// Request timeout, seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// First backoff delay, milliseconds.
    #[arg(long, default_value_t = 200)]
    backoff_ms: u64,
    /// Keep acknowledged records' payloads this many days, then erase them after a
    /// signed progress snapshot (headers stay, the journal still verifies).
    #[arg(long, default_value_t = 30)]
    retain_days: u64,
}

/// `keshi courses`.
#[derive(Args, Debug)]
pub struct CoursesArgs {
    /// Platform base URL (default: the one `keshi login` used).
    #[arg(long)]
    platform: Option<String>,
    /// The journal that signed in (`keshi login`).
    #[arg(long)]
    journal: PathBuf,
    /// Print JSON (one line).
    #[arg(long)]
    json: bool,
}

/// `keshi course fetch`.
#[derive(Args, Debug)]
pub struct FetchArgs {
    /// Platform base URL (default: the one `keshi login` used).
    #[arg(long)]
    platform: Option<String>,
    /// The journal that signed in (`keshi login`).
    #[arg(long)]
    journal: PathBuf,
    /// The course id.
    #[arg(long)]
    course: String,
    /// The course directory to write (`course.json` and its media).
    #[arg(long)]
    out: PathBuf,
    /// Request timeout, seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

/// The platform URL and lease token a signed-in journal holds.
fn session(
    home: Option<PathBuf>,
    journal: &Path,
    platform: Option<String>,
) -> Result<(String, String)> {
    let journal = open_journal(home, journal)?;
    let platform = match platform {
        Some(p) => p,
        None => journal
            .sync_state(sync::KEY_PLATFORM)?
            .context("no --platform given and this journal never logged in (run `keshi login`)")?,
    };
    let token = journal
        .sync_state(sync::KEY_TOKEN)?
        .context("this journal is not signed in (run `keshi login`)")?;
    Ok((platform, token))
}

/// `keshi courses`: the learner's enrolled courses.
pub fn courses(home: Option<PathBuf>, args: CoursesArgs) -> Result<ExitCode> {
    let (platform, token) = session(home, &args.journal, args.platform)?;
    let http = HttpTransport::new(&platform, Duration::from_secs(30))?;
    let courses = player_core::fetch::list(&http, &token)?;
    if args.json {
        super::print_json(&serde_json::json!({ "courses": courses }))?;
    } else {
        for c in &courses {
            println!(
                "{}  v{}  {}  ({} class hours, {} files, {} bytes)",
                c.id, c.version, c.title, c.class_hours, c.media_files, c.media_bytes
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `keshi course fetch`: download and check one course; progress on stderr, one
/// JSON line on stdout when done.
pub fn fetch(home: Option<PathBuf>, args: FetchArgs) -> Result<ExitCode> {
    let (platform, token) = session(home, &args.journal, args.platform)?;
    let http = HttpTransport::new(&platform, Duration::from_secs(args.timeout.max(1)))?;
    let mut last = std::time::Instant::now();
    let manifest = player_core::fetch::fetch(
        &http,
        &token,
        &args.course,
        &args.out,
        &mut |p| {
            if last.elapsed() >= Duration::from_millis(500) || p.files_done == p.files {
                last = std::time::Instant::now();
                eprintln!(
                    "{}: {}/{} files, {}/{} bytes",
                    p.course, p.files_done, p.files, p.bytes_done, p.bytes
                );
            }
        },
        &mut std::thread::sleep,
    )
    .with_context(|| format!("fetching course {}", args.course))?;
    super::print_json(&serde_json::json!({
        "course": args.course, "manifest": manifest, "verified": true,
    }))?;
    Ok(ExitCode::SUCCESS)
}

fn open_journal(home: Option<PathBuf>, path: &Path) -> Result<Journal> {
    let key = super::journal_key(home, path)?;
    Journal::open(path, Arc::new(key)).with_context(|| format!("journal {}", path.display()))
}

/// `keshi login`: log in, enrol this journal's device key, store the lease.
pub fn login(home: Option<PathBuf>, args: LoginArgs) -> Result<ExitCode> {
    let mut journal = if args.simulated {
        super::simulated_journal(&args.journal)?
    } else {
        open_journal(home, &args.journal)?
    };
    let lease = http::login(
        &mut journal,
        &args.platform,
        &args.user,
        &args.password,
        Duration::from_secs(30),
    )
    .with_context(|| format!("login at {}", args.platform))?;
    let ack = journal
        .sync_state(sync::KEY_ACKNOWLEDGED)?
        .and_then(|a| a.parse::<u64>().ok())
        .unwrap_or(0);
    super::print_json(&serde_json::json!({
        "logged_in": true, "user": args.user, "learner_id": lease.learner_id,
        "device_id": lease.device_id, "lease_id": lease.lease_id, "expires_ms": lease.expires_ms,
        "offline_until_ms": lease.offline_lease.offline_until_ms, "acknowledged": ack,
        "records": journal.len(),
    }))?;
    Ok(ExitCode::SUCCESS)
}

/// `keshi sync`: upload the outbox; one JSON line per round.
///
/// Exit codes: 0 all acknowledged; 3 records still pending (platform
/// unreachable after retries); 4 the platform refused (revoked lease, unknown
/// device, refused record, not logged in).
pub fn sync(home: Option<PathBuf>, args: SyncArgs) -> Result<ExitCode> {
    let mut journal = open_journal(home.clone(), &args.journal)?;
    let platform = match args.platform.clone() {
        Some(p) => p,
        None => journal
            .sync_state(sync::KEY_PLATFORM)?
            .context("no --platform given and this journal never logged in (run `keshi login`)")?,
    };
    let mut http = HttpTransport::new(&platform, Duration::from_secs(args.timeout.max(1)))?;
    let engine = SyncEngine::new(SyncOptions {
        limits: BatchLimits {
            max_records: args.batch_records.max(1),
            max_bytes: args.batch_bytes.max(1),
        },
        max_retries: if args.watch {
            None
        } else {
            Some(args.max_retries)
        },
        backoff_base: Duration::from_millis(args.backoff_ms),
        backoff_max: Duration::from_secs(30),
        photos: Some(sync::PhotoStore::beside(&args.journal)),
    });
    let mut rng = ChaCha20Rng::from_os_rng();
    loop {
        if args.watch {
            if let Some(stop) = heartbeat(&mut journal, &http)? {
                super::print_json(&stop)?;
                eprintln!(
                    "keshi: sync stopped: {}",
                    stop["message"].as_str().unwrap_or("lease revoked")
                );
                return Ok(ExitCode::from(4));
            }
        }
        let upload = |journal: &mut Journal, http: &mut HttpTransport, rng: &mut ChaCha20Rng| {
            engine.run(
                journal,
                http,
                rng,
                &mut std::thread::sleep,
                &mut player_core::clock::wall_now_ms,
                &mut || true,
            )
        };
        let mut report = upload(&mut journal, &mut http, &mut rng)?;
        // The platform graded the quiz answers just uploaded: its signed grades are
        // journaled (issue 11) and uploaded too, so the platform holds the journal.
        if report.status == SyncStatus::Synced
            && http::pull_grades(&mut journal, &http, player_core::clock::wall_now_ms())
                .unwrap_or_else(|e| {
                    eprintln!("keshi: quiz grades not fetched (the next sync asks again): {e}");
                    0
                })
                > 0
        {
            report = report.then(upload(&mut journal, &mut http, &mut rng)?);
        }
        super::print_json(&report)?;
        if report.status.is_refusal() {
            let why = report
                .error
                .as_ref()
                .map(|e| format!("{} ({})", e.message, e.code))
                .unwrap_or_else(|| "not logged in: run `keshi login`".into());
            eprintln!("keshi: the platform refused: {why}");
            return Ok(ExitCode::from(4));
        }
        if report.status == SyncStatus::Synced {
            let keep_ms = args.retain_days.saturating_mul(86_400_000);
            let now = player_core::clock::wall_now_ms();
            // The platform countersigns the journal's snapshots (asked only when
            // something would be erased; without them nothing is).
            let proposed = player_core::retention::propose(&journal, keep_ms, now)?;
            let snapshots = player_core::http::countersign_snapshots(&journal, &http, proposed)
                .unwrap_or_else(|e| {
                    eprintln!("keshi: progress snapshots not countersigned ({e}); nothing erased");
                    Vec::new()
                });
            let kept = player_core::retention::retain(&mut journal, keep_ms, now, &snapshots)?;
            if kept.erased > 0 {
                eprintln!(
                    "keshi: erased the payloads of {} acknowledged records older than {} days (up to record {})",
                    kept.erased, args.retain_days, kept.up_to_seq
                );
            }
        }
        if !args.watch {
            return Ok(if report.status == SyncStatus::Synced {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "keshi: {} records still pending (platform unreachable?)",
                    report.pending
                );
                ExitCode::from(3)
            });
        }
        std::thread::sleep(Duration::from_secs(args.interval.max(1)));
        // Re-point the engine at records a live session appended meanwhile.
        journal = reopen(journal, home.clone())?;
        http = HttpTransport::new(&platform, Duration::from_secs(args.timeout.max(1)))?;
    }
}

fn reopen(journal: Journal, home: Option<PathBuf>) -> Result<Journal> {
    // Journal caches its head; a session in another process may have appended.
    let path = journal.path().to_owned();
    drop(journal);
    open_journal(home, &path)
}

/// Renew the lease; on revocation journal it and return the stop line.
fn heartbeat(journal: &mut Journal, http: &HttpTransport) -> Result<Option<serde_json::Value>> {
    Ok(
        match http::heartbeat(journal, http, player_core::clock::wall_now_ms())? {
            Heartbeat::Renewed | Heartbeat::Offline(_) => None,
            Heartbeat::NotLoggedIn => {
                Some(serde_json::json!({"status": "not_logged_in", "message": "run `keshi login`"}))
            }
            Heartbeat::Refused(status, error) => Some(
                serde_json::json!({"status": status, "code": error.code, "message": error.message}),
            ),
        },
    )
}
