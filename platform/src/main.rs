//! `keshi-platform`: the reference platform service and its admin commands.
//!
//! ```text
//! keshi-platform serve --db sqlite:PATH|postgres://… --listen ADDR [--demo] [--blobs DIR]
//! keshi-platform admin create-institution --db URL --name NAME
//! KESHI_PASSWORD=… keshi-platform admin create-learner --db URL --institution NAME|ID --user U \
//!     --real-name NAME --id-number ID [--face-photo-ref REF]
//! keshi-platform admin import-learners --db URL --institution NAME FILE.csv|FILE.xlsx \
//!     [--photos PHOTOS.zip] [--blobs DIR] [--partial] --json
//! keshi-platform admin learner-template --out FILE.xlsx
//! keshi-platform admin records --db URL --learner U --json
//! keshi-platform admin publish-course --db URL --institution NAME --manifest course.json --media DIR --json
//! keshi-platform admin enrol --db URL --course ID (--learner U ... | --class NAME)
//! keshi-platform admin export --db URL --table learners|hours|attendance|flags|settlement \
//!     --out FILE.csv|FILE.xlsx [--scope NAME|REGION|*] [--course ID] [--quarter YYYYQn] [--refresh]
//! ```
//!
//! Every command that opens the database takes `--data-key FILE` (env
//! `KESHI_DATA_KEY`): the key of ID numbers and phones at rest (R-SV-2, see
//! `keshi_platform::datakey`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use keshi_platform::{api, blob, AppState, Config, Store};

#[derive(Parser, Debug)]
#[command(
    name = "keshi-platform",
    version,
    about = "Keshi reference platform: enrolment, leases, verified record ingest"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the HTTP service.
    Serve {
        /// Database URL: sqlite:PATH or postgres://…
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// Address to listen on (port 0 picks a free port; the bound address is printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Seed a demo institution and learner and print their credentials.
        #[arg(long)]
        demo: bool,
        /// Directory for capture images (default: beside a SQLite database, else ./keshi-blobs).
        #[arg(long)]
        blobs: Option<PathBuf>,
        /// Offline lease length in hours.
        #[arg(long, default_value_t = 7 * 24)]
        offline_hours: i64,
        /// Online lease lifetime in seconds (renewed by heartbeats).
        #[arg(long, default_value_t = 900)]
        lease_ttl_secs: i64,
        /// Most records per push.
        #[arg(long, default_value_t = 5000)]
        max_batch_records: usize,
        /// Largest request body in bytes.
        #[arg(long, default_value_t = 8 << 20)]
        max_body_bytes: usize,
        /// Clock difference tolerated between a device and the platform, seconds.
        #[arg(long, default_value_t = 600)]
        skew_secs: i64,
        /// Records a learner may upload per day (more wait for the next day).
        #[arg(long, default_value_t = 50_000)]
        max_records_per_day: u64,
        /// Capture photos a learner may upload per day.
        #[arg(long, default_value_t = 200)]
        max_photos_per_day: u64,
        /// Accept devices enrolled by `keshi simulate` (demos and tests): their
        /// credit is marked simulated and never reaches reports.
        #[arg(long)]
        accept_simulated: bool,
        /// Key file of ID numbers and phones at rest (R-SV-2; default: beside a
        /// SQLite database as `<file>.datakey`, else ./keshi-data.key; created,
        /// mode 0600, when missing).
        #[arg(long, env = "KESHI_DATA_KEY")]
        data_key: Option<PathBuf>,
    },
    /// Check the platform's records against a checkpoint kept outside it (issue 13,
    /// read-only): every record re-verified, the log rebuilt from the records and
    /// compared with the checkpoint and every checkpoint signed since; a learner's
    /// records proven included. Exit 0 consistent, 1 not (each problem named).
    Audit {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// A checkpoint JSON file (from `admin checkpoint --json` or
        /// `GET /v1/ledger/checkpoint`).
        #[arg(long)]
        from: Option<PathBuf>,
        /// Also prove this learner's records included (login name).
        #[arg(long)]
        learner: Option<String>,
        /// The platform's public key as you know it (hex; default: the key the
        /// database holds, which whoever can edit the database can replace).
        #[arg(long)]
        platform_key: Option<String>,
        /// Key file of ID numbers and phones at rest (as `serve --data-key`).
        #[arg(long, env = "KESHI_DATA_KEY")]
        data_key: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Administration (direct database access).
    Admin {
        /// Key file of ID numbers and phones at rest (as `serve --data-key`).
        #[arg(long, env = "KESHI_DATA_KEY", global = true)]
        data_key: Option<PathBuf>,
        #[command(subcommand)]
        command: Admin,
    },
}

#[derive(Subcommand, Debug)]
enum Admin {
    /// Create a training institution (prints its id).
    CreateInstitution {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        #[arg(long)]
        name: String,
        /// The region it is in (`shanxi/taiyuan`): what a labour authority's scope
        /// covers.
        #[arg(long)]
        region: Option<String>,
    },
    /// Create a staff account (issue 12). The password comes from `KESHI_PASSWORD`
    /// or is read from standard input, never from the command line.
    CreateStaff {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// operator, authority, auditor, enterprise or institution.
        #[arg(long)]
        role: String,
        /// A region (`shanxi/taiyuan`) for authorities and auditors, an institution
        /// name or id for institutions and enterprises, `*` for the operator.
        #[arg(long, default_value = "*")]
        scope: String,
        #[arg(long)]
        user: String,
    },
    /// Create a learner (R-ID-1; prints the id). The password comes from
    /// `KESHI_PASSWORD` or standard input, never from the command line.
    CreateLearner {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// Institution name or id (created when a name is unknown).
        #[arg(long)]
        institution: String,
        #[arg(long)]
        user: String,
        #[arg(long)]
        real_name: String,
        #[arg(long)]
        id_number: String,
        #[arg(long)]
        face_photo_ref: Option<String>,
    },
    /// Import learners from a CSV or XLSX file (issue 12): columns `user,real_name,
    /// id_number,phone,class,password` by header name (XLSX: the first worksheet).
    /// Prints `{"imported":N,"rejected":[{"row":R,"code":"…","message":"…"}]}`;
    /// exits 1 when a row or photo was rejected. Without `--partial` a file with a
    /// bad row imports nothing.
    ImportLearners {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// Institution name or id.
        #[arg(long)]
        institution: String,
        /// The file (`.csv`, UTF-8, or `.xlsx`).
        file: PathBuf,
        /// A ZIP of face and ID-card photos named by ID number (R-ID-1):
        /// `<ID>.jpg|.png` or `<ID>-face.jpg` and `<ID>-idcard.jpg`.
        #[arg(long)]
        photos: Option<PathBuf>,
        /// Directory for photos (default: beside a SQLite database, else ./keshi-blobs).
        #[arg(long)]
        blobs: Option<PathBuf>,
        /// Import the good rows even when others are rejected.
        #[arg(long)]
        partial: bool,
        /// Print JSON (one line).
        #[arg(long)]
        json: bool,
    },
    /// Write the XLSX template of `import-learners`: the header row, the ID number
    /// and phone columns formatted as text.
    LearnerTemplate {
        /// The file to write (`.xlsx`).
        #[arg(long)]
        out: PathBuf,
    },
    /// Publish a course into the catalogue (a new immutable version): its manifest,
    /// its lesson media checked against the manifest's SHA-256, its quiz bank.
    PublishCourse {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// Institution name or id.
        #[arg(long)]
        institution: String,
        /// The manifest (`keshi-course/1`).
        #[arg(long)]
        manifest: PathBuf,
        /// Folder the manifest's media paths are relative to.
        #[arg(long)]
        media: PathBuf,
        /// Policy profile the course runs under.
        #[arg(long, default_value = "shanxi")]
        profile: String,
        /// Directory for media (default: beside a SQLite database, else ./keshi-blobs).
        #[arg(long)]
        blobs: Option<PathBuf>,
        /// Print JSON (one line).
        #[arg(long)]
        json: bool,
    },
    /// Enrol learners, or a class, of the course's institution in a course (issue 12):
    /// the app lists it and downloads it.
    Enrol {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// The course id.
        #[arg(long)]
        course: String,
        /// Learners by login name (repeat, or several after one flag).
        #[arg(long, num_args = 1.., required_unless_present = "class")]
        learner: Vec<String>,
        /// Every learner of the class.
        #[arg(long)]
        class: Option<String>,
        /// Print JSON (one line).
        #[arg(long)]
        json: bool,
    },
    /// Approve one more device for a learner beyond the free allowance (three
    /// devices): the next new device may enrol.
    ApproveDevice(LearnerArgs),
    /// Derive credit, class hours, flags and grades again from the records held, with
    /// the catalogue as it is now (a course published after its records arrived, a
    /// database from an older build): one learner, or every learner.
    Rederive {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// Login name or learner id (default: every learner).
        #[arg(long)]
        learner: Option<String>,
        /// Clock difference tolerated between a device and the platform (seconds).
        #[arg(long, default_value_t = 600)]
        skew_secs: i64,
        /// Print JSON (one line per learner).
        #[arg(long)]
        json: bool,
    },
    /// What the platform holds for a learner: records, heads, re-derived credit, flags.
    Records(LearnerArgs),
    /// Attendance of a course (issue 13, R-AS-5): per learner enrolled or studying,
    /// credited time, class hours completed of planned, the to-class rate, the
    /// quiz score and whether they qualified (R-AS-2); see docs/supervision.md.
    Attendance {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// Course id.
        #[arg(long)]
        course: String,
        /// Print a JSON array, one object per learner.
        #[arg(long)]
        json: bool,
        /// The study of devices `keshi simulate` enrolled instead (a demo or test
        /// platform; never in reports).
        #[arg(long)]
        simulated: bool,
    },
    /// Run the course-farming checks (issue 13, R-SV-3; rule set `farming-rules/1`)
    /// and list the findings, each with its rule, severity, the value it was judged
    /// against and its evidence (device, seq range, record hashes).
    Flags {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// One learner (login name).
        #[arg(long)]
        learner: Option<String>,
        /// Check the study of devices `keshi simulate` enrolled instead (a demo or
        /// test platform).
        #[arg(long)]
        simulated: bool,
        /// List only; do not run the checks first.
        #[arg(long)]
        no_check: bool,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Confirm or dismiss a finding, with a reason (audit-logged as `cli`):
    /// a confirmed finding takes its study out of credit and settlement.
    ReviewFlag {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// The finding's id (from `flags`).
        #[arg(long)]
        id: String,
        /// `confirm` or `dismiss`.
        #[arg(long)]
        decision: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Issue the certificate of a learner who qualified in a course (issue 13,
    /// R-AS-2, R-AS-6): a PDF in Chinese with a QR code of the platform-signed
    /// statement, sealed; refused, saying why, when the learner has not qualified.
    Certificate {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// Login name.
        #[arg(long)]
        learner: String,
        /// Course id.
        #[arg(long)]
        course: String,
        /// Where to write the PDF.
        #[arg(long)]
        out: PathBuf,
        /// The CJK font (default: Debian's fonts-wqy-microhei).
        #[arg(long)]
        font: Option<PathBuf>,
        /// Certify simulated study (a demo or test platform: serial `SIM-`, never
        /// settled).
        #[arg(long)]
        simulated: bool,
    },
    /// The quarterly subsidy settlement (issue 13, R-QA-3): certified learners ×
    /// class hours × the level's rate of the course's profile, by institution.
    Settlement {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// The quarter, `YYYYQn` (China time).
        #[arg(long)]
        quarter: String,
        /// Preview the settlement of simulated certificates (a demo platform).
        #[arg(long)]
        simulated: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// File a course's training plan (issue 13, R-SV-8): the class hours of the whole
    /// programme, online and offline. Refused, citing the clause, when the course's
    /// online class hours are above the share its profile allows.
    Plan {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// The course.
        #[arg(long)]
        course: String,
        /// All class hours of the programme, online and offline.
        #[arg(long)]
        total_class_hours: u32,
    },
    /// Write a learner's electronic training archive (issue 13, R-SV-5): a ZIP of
    /// every record with its inclusion proof in a checkpoint signed now, the capture
    /// photos, the certificates and the results; `keshi verify-archive` checks it
    /// on its own with the platform's public key.
    Archive {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// The learner's login name.
        #[arg(long)]
        learner: String,
        /// The ZIP to write.
        #[arg(long)]
        out: PathBuf,
        /// The blobs directory (default: as `serve`).
        #[arg(long)]
        blobs: Option<PathBuf>,
        /// A font with CJK glyphs for the certificates (default: WenQuanYi Micro Hei).
        #[arg(long)]
        font: Option<PathBuf>,
    },
    /// Purge the learners with no study, certificate or finding since a date at
    /// least three years ago (issue 13, R-SV-4): every row about them and their
    /// photos go; a tombstone signed with the platform key stays, which the
    /// auditor checks. `--dry-run` lists what would go.
    Purge {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// The cutoff, YYYY-MM-DD: at least three years before today.
        #[arg(long)]
        before: String,
        /// Change nothing; say what would be purged.
        #[arg(long)]
        dry_run: bool,
        /// The blobs directory (default: as `serve`).
        #[arg(long)]
        blobs: Option<PathBuf>,
    },
    /// Back the platform up (issue 13, R-SV-4) into a new directory: the database
    /// (SQLite's online copy, or `pg_dump`), the blobs, and a manifest with every
    /// file's SHA-256 and a checkpoint signed just before. The data key is not in
    /// it: keep that apart. Safe while the service runs.
    Backup {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// The new directory to write.
        #[arg(long)]
        out: PathBuf,
        /// The blobs directory (default: as `serve`).
        #[arg(long)]
        blobs: Option<PathBuf>,
    },
    /// Restore a backup into an empty database (a new SQLite file, or an empty
    /// PostgreSQL database) and blobs directory, then audit it from the backup's
    /// checkpoint: exit 0 when the restored log extends it, 1 when not.
    Restore {
        /// The backup directory.
        #[arg(long)]
        from: PathBuf,
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// The blobs directory to fill (default: as `serve`).
        #[arg(long)]
        blobs: Option<PathBuf>,
        /// The platform's public key as you know it (hex): a backup whose
        /// checkpoint another key signed is refused.
        #[arg(long)]
        platform_key: Option<String>,
    },
    /// The bi-weekly district report (issue 13, R-SV-7): per district, real-name
    /// registered learners and online training person-times (unfinished included),
    /// by the report date and in the period since the previous one, citing a
    /// checkpoint.
    DistrictReport {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// The report date, YYYY-MM-DD (due on the 12th and the 25th).
        #[arg(long)]
        date: String,
        /// A region (`chongqing/shapingba`), an institution's name, or `*`.
        #[arg(long, default_value = "*")]
        scope: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export a table as CSV or XLSX (issue 13, R-AS-6, R-SV-2), streamed in
    /// constant memory: learners (ID numbers masked), hours, attendance, flags, or
    /// a quarter's settlement. Written under a temporary name and renamed into
    /// place when complete; prints `{"rows": N, "out": FILE}`.
    Export {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// The table.
        #[arg(long, value_enum)]
        table: keshi_platform::export::Table,
        /// The file format (default: the extension of `--out`).
        #[arg(long, value_enum)]
        format: Option<keshi_platform::export::Format>,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        /// An institution's name, a region (`shanxi/taiyuan`) or `*` (everything).
        #[arg(long, default_value = "*")]
        scope: String,
        /// One course only (hours, attendance, flags).
        #[arg(long)]
        course: Option<String>,
        /// The quarter, `YYYYQn` (the settlement).
        #[arg(long)]
        quarter: Option<String>,
        /// The settlement of simulated certificates (a demo platform's preview).
        #[arg(long)]
        simulated: bool,
        /// Recompute the hours and attendance summaries first (the service's jobs
        /// otherwise refresh them every 6 hours).
        #[arg(long)]
        refresh: bool,
    },
    /// Draw a spot check (issue 13, R-SV-6): a sample of the scope's learners from a
    /// seed of the newest checkpoint, the date and the scope (reproducible by
    /// anyone: see docs/supervision.md); drawing again the same day answers the
    /// same sample.
    SpotCheck {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// An institution's name, a region (`shanxi/taiyuan`) or `*`.
        #[arg(long)]
        scope: String,
        /// The date, YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// Learners to sample.
        #[arg(long, default_value_t = 10)]
        size: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Record a check made on a sampled learner: `--method video|phone|data`,
    /// `--result normal|abnormal` (abnormal removes the learner's subsidy).
    SpotCheckResult {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// The spot check's id.
        #[arg(long)]
        check: String,
        /// Login name.
        #[arg(long)]
        learner: String,
        /// video, phone or data.
        #[arg(long)]
        method: String,
        /// normal or abnormal.
        #[arg(long)]
        result: String,
        /// What was found.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Sequence every accepted record into the log and sign a checkpoint of it
    /// (issue 13, R-SV-4): keep the JSON outside the platform; `audit --from` checks
    /// the platform against it later.
    Checkpoint {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// Print the checkpoint as JSON (one line).
        #[arg(long)]
        json: bool,
    },
}

/// The arguments of an admin command about one learner.
#[derive(Args, Debug)]
struct LearnerArgs {
    #[arg(long, env = "KESHI_PLATFORM_DB")]
    db: String,
    /// Login name or learner id.
    #[arg(long)]
    learner: String,
    /// Print JSON (one line).
    #[arg(long)]
    json: bool,
}

/// A password from `KESHI_PASSWORD`, else one line of standard input (issue 12: a
/// password never goes on a command line, where process lists and shell history
/// keep it).
fn read_password(whose: &str) -> Result<String> {
    if let Ok(p) = std::env::var("KESHI_PASSWORD") {
        return Ok(p);
    }
    eprintln!("password for {whose} (or set KESHI_PASSWORD):");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// The learner `name` (login name or id) names, or an error saying there is none.
async fn find_learner(store: &Store, name: &str) -> anyhow::Result<keshi_platform::store::Learner> {
    store
        .learner(name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no learner {name:?}"))
}

const DEMO_INSTITUTION: &str = "Keshi Demo Vocational Training School";
const DEMO_USER: &str = "demo";
const DEMO_PASSWORD: &str = "keshi-demo-password";

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KESHI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keshi-platform: error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keshi-platform: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn now() -> i64 {
    keshi_platform::api::wall_now_ms()
}

/// An institution by id or name; a name not yet known creates it (an unknown
/// 32-hex id is taken as a name, as before, but an existing id is never).
async fn institution_id(store: &Store, name_or_id: &str) -> Result<String> {
    if let Some(id) = store.institution(name_or_id).await? {
        return Ok(id);
    }
    Ok(store.create_institution(name_or_id, now()).await?)
}

/// Where media and capture images go by default: beside a SQLite database, else
/// `./keshi-blobs`.
fn blob_dir(db: &str, given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| match db.strip_prefix("sqlite:") {
        Some(p) => PathBuf::from(format!("{}.blobs", p.trim_start_matches("//"))),
        None => PathBuf::from("keshi-blobs"),
    })
}

/// Publishes a manifest and its media (every file checked against the manifest's
/// SHA-256 before anything is stored), through the same checks as the console.
async fn publish(
    store: &Store,
    blobs: &blob::DiskBlobStore,
    institution_id: &str,
    manifest: &std::path::Path,
    media: &std::path::Path,
    profile: &str,
) -> Result<keshi_protocol::staff::PublishResponse> {
    use blob::BlobStore;
    use keshi_protocol::manifest::{Course, MediaSource};
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let course = Course::parse(manifest, &text)?;
    for l in &course.lessons {
        let MediaSource::Path(rel) = &l.media.source else {
            continue;
        };
        if blobs.size(&l.media.sha256).is_some() {
            continue;
        }
        let path = media.join(rel);
        let bytes = std::fs::read(&path)
            .with_context(|| format!("lesson {}: reading {}", l.id, path.display()))?;
        let sha = keshi_protocol::ids::Hash::of(&bytes).to_hex();
        if sha != l.media.sha256 {
            anyhow::bail!(
                "lesson {}: {} has SHA-256 {sha}, the manifest says {}",
                l.id,
                path.display(),
                l.media.sha256
            );
        }
        blobs.put(&sha, &bytes)?;
    }
    Ok(keshi_platform::courses::publish(
        store,
        blobs,
        institution_id,
        &text,
        profile,
        "admin",
        now(),
    )
    .await?)
}

/// The demo platform's catalogue holds the demo courses, once each: the one the app
/// plays (2 class hours of 2 minutes, profile `demo`) and the one `./run.sh --replay`
/// simulates (`keshi course demo --class-hours 2`: 45-minute hours, profile `shanxi`).
async fn publish_demo(store: &Store) -> Result<()> {
    let held = store.courses().await?;
    for (manifest, profile) in [
        (keshi_protocol::demo::course_with(2, 2, 2), "demo"),
        (keshi_protocol::demo::course(2), "shanxi"),
    ] {
        let id = manifest["id"].as_str().unwrap_or_default().to_owned();
        if held.iter().any(|c| c.0 == id) {
            continue;
        }
        let inst = institution_id(store, DEMO_INSTITUTION).await?;
        store
            .publish_course(&id, &inst, profile, &manifest.to_string(), now())
            .await?;
    }
    Ok(())
}

/// Many learners hold a connection each: raise the open-files limit to the hard one.
fn raise_fd_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::info!(limit = n, "open files limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open files limit"),
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve {
            db,
            listen,
            demo,
            blobs,
            offline_hours,
            lease_ttl_secs,
            max_batch_records,
            max_body_bytes,
            skew_secs,
            max_records_per_day,
            max_photos_per_day,
            accept_simulated,
            data_key,
        } => {
            let store = Store::connect_with_key(&db, data_key.as_deref())
                .await
                .with_context(|| format!("database {db}"))?;
            let blob_dir = blob_dir(&db, blobs);
            let blobs = blob::DiskBlobStore::new(&blob_dir)
                .with_context(|| format!("blob directory {}", blob_dir.display()))?;
            let config = Config {
                lease_ttl_ms: lease_ttl_secs * 1000,
                offline_ms: offline_hours * 3600 * 1000,
                max_batch_records,
                max_body_bytes,
                skew_ms: skew_secs.saturating_mul(1000),
                accept_simulated,
                max_records_per_day,
                max_photos_per_day,
                ..Config::default()
            };
            if demo {
                publish_demo(&store).await?;
            }
            // A database from before the derived tables: derive them before serving,
            // so the next push of such a device continues from its real state.
            let stale = store.learners_without_derived_state().await?;
            if !stale.is_empty() {
                let catalogue = keshi_platform::load_catalogue(&store).await?;
                tracing::warn!(
                    learners = stale.len(),
                    "deriving credit again for learners without derived state"
                );
                for learner in &stale {
                    let r = keshi_platform::rederive(
                        &store,
                        &catalogue,
                        learner,
                        config.skew_ms,
                        api::system_clock()(),
                    )
                    .await?;
                    tracing::info!(learner = %r.learner_id, records = r.records, credited_seconds = r.credited_seconds, "derived again");
                }
            }
            let state =
                AppState::new(store.clone(), config, api::system_clock(), Arc::new(blobs)).await?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let addr = listener.local_addr()?;
            let mut line = serde_json::json!({
                "listen": addr.to_string(),
                "url": format!("http://{addr}"),
                "platform_public_key": state.public_key_hex(),
            });
            if demo {
                let inst = institution_id(&store, DEMO_INSTITUTION).await?;
                let learner = match store.learner(DEMO_USER).await? {
                    Some(l) => l.id,
                    None => {
                        keshi_platform::create_learner(
                            &store,
                            &inst,
                            DEMO_USER,
                            DEMO_PASSWORD,
                            "张三 (demo)",
                            "110101199003074512",
                            Some("demo-face.jpg".into()),
                            now(),
                        )
                        .await?
                    }
                };
                // The demo learner is enrolled in the app's demo course: the app
                // lists it and downloads it once its media is published
                // (`./run.sh` renders and publishes them).
                if let Some(id) = keshi_protocol::demo::course_with(2, 2, 2)["id"].as_str() {
                    keshi_platform::courses::enrol(
                        &store,
                        &keshi_platform::staff::Scope::All,
                        &keshi_protocol::staff::EnrolRequest {
                            course: id.to_owned(),
                            learners: vec![DEMO_USER.into()],
                            class: None,
                        },
                        "demo",
                        now(),
                    )
                    .await?;
                }
                line["demo"] = serde_json::json!({
                    "institution": DEMO_INSTITUTION, "institution_id": inst,
                    "user": DEMO_USER, "password": DEMO_PASSWORD, "learner_id": learner,
                    "course": keshi_protocol::demo::course_with(2, 2, 2).get("id").cloned(),
                });
            }
            if accept_simulated {
                line["accept_simulated"] = serde_json::json!(true);
            }
            println!("{line}");
            tracing::info!(%addr, "keshi-platform listening");
            raise_fd_limit();
            api::serve(listener, state, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
            Ok(())
        }
        Command::Audit {
            db,
            from,
            learner,
            platform_key,
            data_key,
            json,
        } => {
            let from = match from {
                Some(p) => {
                    let text = std::fs::read_to_string(&p)
                        .with_context(|| format!("reading the checkpoint {}", p.display()))?;
                    Some(
                        serde_json::from_str::<keshi_protocol::merkle::Checkpoint>(&text)
                            .with_context(|| format!("{} is not a checkpoint", p.display()))?,
                    )
                }
                None => None,
            };
            let store = Store::connect_with_key(&db, data_key.as_deref())
                .await
                .with_context(|| format!("database {db}"))?;
            let platform_key = match platform_key {
                Some(hex) => Some(
                    keshi_protocol::merkle::parse_digest(&hex)
                        .context("--platform-key is not 32 bytes of hex")?,
                ),
                None => None,
            };
            let report = keshi_platform::ledger::audit(
                &store,
                from.as_ref(),
                platform_key,
                learner.as_deref(),
                Some(now()),
            )
            .await?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "audit: {} records re-verified, log of {} leaves (root {}), {} checkpoints compared, {} not yet sequenced, {} purged under tombstones",
                    report.records_checked,
                    report.tree_size,
                    report.root,
                    report.checkpoints_checked,
                    report.unsequenced,
                    report.tombstoned
                );
                if let Some(l) = &report.learner {
                    println!(
                        "learner {}: {} of {} records proven included in the checkpoint of {} leaves",
                        l.user, l.proven, l.records, l.tree_size
                    );
                }
                for p in &report.problems {
                    let at = match (&p.device, p.seq, p.leaf) {
                        (Some(d), Some(s), Some(l)) => format!(" (leaf {l}, device {d}, seq {s})"),
                        (Some(d), Some(s), None) => format!(" (device {d}, seq {s})"),
                        (_, _, Some(l)) => format!(" (leaf {l})"),
                        _ => String::new(),
                    };
                    println!("PROBLEM {:?}{at}: {}", p.code, p.message);
                }
                println!(
                    "{}",
                    if report.ok {
                        "consistent".to_owned()
                    } else {
                        format!("NOT consistent: {} problem(s)", report.problem_count)
                    }
                );
            }
            if !report.ok {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Admin { data_key, command } => {
            let data_key = data_key.as_deref();
            match command {
                Admin::CreateInstitution { db, name, region } => {
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let existed = store.institution(&name).await?.is_some();
                    let id = institution_id(&store, &name).await?;
                    let region = region
                        .map(|r| keshi_platform::staff::normalize_region(&r))
                        .unwrap_or_default();
                    if !existed || !region.is_empty() {
                        store.set_institution_region(&id, &region).await?;
                        let after = serde_json::json!({"name": name, "region": region});
                        store
                            .audit(
                                &keshi_platform::staff::AuditRow {
                                    actor: "cli",
                                    action: if existed {
                                        "institution.region"
                                    } else {
                                        "institution.create"
                                    },
                                    target: &format!("institution:{name}"),
                                    institution_id: Some(&id),
                                    region: None,
                                    before: None,
                                    after: Some(&after),
                                },
                                now(),
                            )
                            .await?;
                    }
                    println!(
                        "{}",
                        serde_json::json!({"institution_id": id, "name": name})
                    );
                    Ok(())
                }
                Admin::CreateLearner {
                    db,
                    institution,
                    user,
                    real_name,
                    id_number,
                    face_photo_ref,
                } => {
                    let password = read_password(&format!("learner {user}"))?;
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let inst = institution_id(&store, &institution).await?;
                    let id = keshi_platform::create_learner(
                        &store,
                        &inst,
                        &user,
                        &password,
                        &real_name,
                        &id_number,
                        face_photo_ref,
                        now(),
                    )
                    .await
                    .with_context(|| format!("creating learner {user}"))?;
                    let after = serde_json::json!({"user": user, "real_name": real_name,
                        "id_number": keshi_protocol::staff::mask_id_number(&id_number)});
                    store
                        .audit(
                            &keshi_platform::staff::AuditRow {
                                actor: "cli",
                                action: "learner.create",
                                target: &format!("learner:{user}"),
                                institution_id: Some(&inst),
                                region: None,
                                before: None,
                                after: Some(&after),
                            },
                            now(),
                        )
                        .await?;
                    println!(
                        "{}",
                        serde_json::json!({"learner_id": id, "user": user, "institution_id": inst})
                    );
                    Ok(())
                }
                Admin::CreateStaff {
                    db,
                    role,
                    scope,
                    user,
                } => {
                    let role = keshi_protocol::staff::StaffRole::parse(&role).with_context(|| {
                        format!("unknown role {role:?}: operator, authority, auditor, enterprise or institution")
                    })?;
                    let password = read_password(&format!("staff {user}"))?;
                    anyhow::ensure!(
                        password.len() >= 8,
                        "a staff password has at least 8 characters"
                    );
                    let hash = keshi_platform::auth::hash_password(&password)
                        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let id = store
                        .create_staff("cli", &user, role, &scope, &hash, now())
                        .await
                        .with_context(|| format!("creating staff {user}"))?;
                    println!(
                        "{}",
                        serde_json::json!({"staff_id": id, "user": user, "role": role.as_str()})
                    );
                    Ok(())
                }
                Admin::ImportLearners {
                    db,
                    institution,
                    file,
                    photos,
                    blobs,
                    partial,
                    json,
                } => {
                    let xlsx = file
                        .extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let inst = institution_id(&store, &institution).await?;
                    let taken = store.learner_names().await?;
                    let taken_ids = store.learner_id_indexes().await?;
                    let key = store.data_key();
                    let lookups = keshi_platform::import::Taken {
                        user: &|u| taken.contains(u),
                        id_number: &|id| taken_ids.contains(&key.blind_index(id)),
                    };
                    let mut checked = if xlsx {
                        keshi_platform::import::check_xlsx(&file, lookups)
                            .with_context(|| format!("reading {}", file.display()))?
                    } else {
                        let input = std::fs::File::open(&file)
                            .with_context(|| format!("reading {}", file.display()))?;
                        keshi_platform::import::check_csv(std::io::BufReader::new(input), lookups)
                    };
                    let limits = keshi_platform::photos::Limits::default();
                    let good: std::collections::HashSet<String> =
                        checked.rows.iter().map(|r| r.id_number.clone()).collect();
                    let held = match &photos {
                        Some(zip) => {
                            let c = keshi_platform::photos::check_zip(
                                zip,
                                &checked.id_rows,
                                &good,
                                &limits,
                            )
                            .with_context(|| format!("photos {}", zip.display()))?;
                            checked.rejected.extend(c.rejected);
                            c.photos
                        }
                        None => std::collections::HashMap::new(),
                    };
                    let imported = if checked.rejected.is_empty() || partial {
                        if let Some(zip) = &photos {
                            let dir = blob_dir(&db, blobs);
                            let blobs = blob::DiskBlobStore::new(&dir)
                                .with_context(|| format!("blob directory {}", dir.display()))?;
                            keshi_platform::photos::store_photos(
                                zip,
                                &held,
                                &|id| good.contains(id),
                                &blobs,
                                &limits,
                            )?;
                        }
                        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
                        let rows = std::mem::take(&mut checked.rows);
                        let ready = tokio::task::spawn_blocking(move || {
                            keshi_platform::import::hash_passwords(rows, threads)
                        })
                        .await?
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                        store
                            .import_learners("cli", &inst, &ready, &held, now())
                            .await?
                    } else {
                        0
                    };
                    let report =
                        serde_json::json!({"imported": imported, "rejected": checked.rejected});
                    if json {
                        println!("{report}");
                    } else {
                        println!(
                            "imported {imported} learners; {} rows rejected",
                            checked.rejected.len()
                        );
                        for r in &checked.rejected {
                            println!("row {}: {} ({})", r.row, r.message, r.code.as_str());
                        }
                    }
                    if !checked.rejected.is_empty() {
                        std::process::exit(1);
                    }
                    Ok(())
                }
                Admin::LearnerTemplate { out } => {
                    keshi_platform::import::write_template(&out)
                        .with_context(|| format!("writing {}", out.display()))?;
                    println!(
                        "{}",
                        serde_json::json!({"template": out, "columns": keshi_platform::import::COLUMNS})
                    );
                    Ok(())
                }
                Admin::PublishCourse {
                    db,
                    institution,
                    manifest,
                    media,
                    profile,
                    blobs,
                    json,
                } => {
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let inst = institution_id(&store, &institution).await?;
                    let blobs = blob::DiskBlobStore::new(blob_dir(&db, blobs))?;
                    let r = publish(&store, &blobs, &inst, &manifest, &media, &profile).await?;
                    if json {
                        println!("{}", serde_json::to_string(&r)?);
                    } else {
                        println!("published {} version {}", r.course_id, r.version);
                    }
                    Ok(())
                }
                Admin::Enrol {
                    db,
                    course,
                    learner,
                    class,
                    json,
                } => {
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let req = keshi_protocol::staff::EnrolRequest {
                        course,
                        learners: learner,
                        class,
                    };
                    let r = keshi_platform::courses::enrol(
                        &store,
                        &keshi_platform::staff::Scope::All,
                        &req,
                        "admin",
                        now(),
                    )
                    .await?;
                    if json {
                        println!("{}", serde_json::to_string(&r)?);
                    } else {
                        println!(
                            "{} enrolled in {}, {} already were",
                            r.enrolled, req.course, r.already
                        );
                    }
                    if !r.unknown.is_empty() {
                        anyhow::bail!(
                            "no learner {} in the course's institution: nobody was enrolled",
                            r.unknown.join(", ")
                        );
                    }
                    Ok(())
                }
                Admin::ApproveDevice(LearnerArgs { db, learner, json }) => {
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let l = find_learner(&store, &learner).await?;
                    let extra = store.approve_extra_device(&l.id).await?;
                    let enrolled = store.devices_of(&l.id).await?.len();
                    tracing::info!(learner = %l.id, extra, "staff approved another device");
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({"learner_id": l.id, "extra_devices": extra, "devices_enrolled": enrolled})
                        );
                    } else {
                        println!(
                            "learner {} ({}): {extra} extra device(s) approved, {enrolled} enrolled",
                            l.username, l.id
                        );
                    }
                    Ok(())
                }
                Admin::Rederive {
                    db,
                    learner,
                    skew_secs,
                    json,
                } => {
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let catalogue = keshi_platform::load_catalogue(&store).await?;
                    let learners = match learner {
                        Some(l) => vec![find_learner(&store, &l).await?.id],
                        None => store.learner_ids().await?,
                    };
                    for id in learners {
                        let r = keshi_platform::rederive(
                            &store,
                            &catalogue,
                            &id,
                            skew_secs.saturating_mul(1000),
                            api::system_clock()(),
                        )
                        .await?;
                        if json {
                            println!("{}", serde_json::to_string(&r)?);
                        } else {
                            println!(
                                "learner {}: {} records, {:.1} s credited, {} flags",
                                r.learner_id, r.records, r.credited_seconds, r.flags
                            );
                        }
                    }
                    Ok(())
                }
                Admin::Attendance {
                    db,
                    course,
                    json,
                    simulated,
                } => {
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let catalogue = keshi_platform::load_catalogue(&store).await?;
                    if catalogue.get(&course).is_none() {
                        anyhow::bail!("no course {course:?} is published on this platform");
                    }
                    let results = keshi_platform::results::summarise(
                        &store,
                        &catalogue,
                        Some(&course),
                        &keshi_platform::staff::Scope::All,
                        simulated,
                        now(),
                    )
                    .await?;
                    if json {
                        println!("{}", serde_json::to_string(&results)?);
                    } else {
                        println!("course {course}: {} learners", results.len());
                        for r in &results {
                            println!(
                                "  {:<16} {:<10} {:>5.0} s  {:>3}/{:<3} class hours  attendance {:>5.1}%  score {:>3}  {}",
                                r.user,
                                r.class,
                                r.credited_seconds,
                                r.class_hours_completed,
                                r.class_hours_planned,
                                r.attendance * 100.0,
                                r.score,
                                if r.qualified {
                                    "qualified"
                                } else if r.at_risk {
                                    "at risk"
                                } else {
                                    "not qualified"
                                }
                            );
                        }
                    }
                    Ok(())
                }
                Admin::Flags {
                    db,
                    learner,
                    simulated,
                    no_check,
                    json,
                } => {
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let scope = keshi_platform::staff::Scope::All;
                    if !no_check {
                        let catalogue = keshi_platform::load_catalogue(&store).await?;
                        let new =
                            keshi_platform::farming::run(&store, &catalogue, simulated, now())
                                .await?;
                        tracing::info!(new, "course-farming checks run");
                    }
                    let found =
                        keshi_platform::farming::list(&store, &scope, learner.as_deref()).await?;
                    if json {
                        println!("{}", serde_json::to_string(&found)?);
                    } else {
                        println!("{} finding(s)", found.len());
                        for f in &found {
                            println!(
                                "  {} [{}] {} {}: {} (limit {}; {}) — {}",
                                f.id,
                                f.severity,
                                f.learner,
                                f.rule,
                                f.observed,
                                f.limit,
                                f.clause,
                                f.status
                            );
                            for e in &f.evidence {
                                println!(
                                    "      device {} seq {}..={}",
                                    e.device, e.seq_from, e.seq_to
                                );
                            }
                        }
                    }
                    Ok(())
                }
                Admin::ReviewFlag {
                    db,
                    id,
                    decision,
                    reason,
                } => {
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let decision = match decision.as_str() {
                        "confirm" => keshi_platform::farming::Decision::Confirm,
                        "dismiss" => keshi_platform::farming::Decision::Dismiss,
                        other => {
                            anyhow::bail!("--decision must be confirm or dismiss, not {other:?}")
                        }
                    };
                    let f = keshi_platform::farming::review(
                        &store,
                        &keshi_platform::staff::Scope::All,
                        &id,
                        decision,
                        &reason,
                        "cli",
                        now(),
                    )
                    .await?;
                    println!("{}", serde_json::to_string(&f)?);
                    Ok(())
                }
                Admin::Certificate {
                    db,
                    learner,
                    course,
                    out,
                    font,
                    simulated,
                } => {
                    let font_path = font.unwrap_or_else(|| {
                        PathBuf::from(keshi_platform::certificate::DEFAULT_FONT)
                    });
                    let font = keshi_platform::certificate::FontData::load(&font_path)?;
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let catalogue = keshi_platform::load_catalogue(&store).await?;
                    let key = keshi_platform::platform_key(&store, now()).await?;
                    let issued = keshi_platform::reports::certify(
                        &store,
                        &key,
                        &catalogue,
                        keshi_platform::reports::CertifyRequest {
                            user: &learner,
                            course: &course,
                            simulated,
                            actor: "cli",
                        },
                        keshi_platform::reports::Known::default(),
                        &keshi_platform::reports::Inline(&key, &font),
                        now(),
                    )
                    .await?;
                    std::fs::write(&out, &issued.pdf)
                        .with_context(|| format!("writing {}", out.display()))?;
                    println!("{}", serde_json::to_string(&issued.statement)?);
                    Ok(())
                }
                Admin::Settlement {
                    db,
                    quarter,
                    simulated,
                    json,
                } => {
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let catalogue = keshi_platform::load_catalogue(&store).await?;
                    let key = keshi_platform::platform_key(&store, now()).await?;
                    let Some(s) = keshi_platform::reports::settlement(
                        &store,
                        &key,
                        &catalogue,
                        &keshi_platform::staff::Scope::All,
                        &quarter,
                        simulated,
                        now(),
                    )
                    .await?
                    else {
                        anyhow::bail!("{quarter:?} is not a quarter: write YYYYQn, e.g. 2026Q4");
                    };
                    if json {
                        println!("{}", serde_json::to_string(&s)?);
                    } else {
                        println!(
                            "settlement {} (checkpoint of {} records, root {}):",
                            s.quarter, s.checkpoint.size, s.checkpoint.root
                        );
                        for l in &s.lines {
                            println!(
                                "  {} {}: {} learners, {} class hours × {:.2} yuan = {:.2} yuan",
                                l.institution,
                                l.level,
                                l.learners,
                                l.class_hours,
                                l.rate_fen as f64 / 100.0,
                                l.amount_fen as f64 / 100.0
                            );
                        }
                        println!(
                            "  total {:.2} yuan; {} certificate(s) withheld (confirmed findings)",
                            s.total_fen as f64 / 100.0,
                            s.withheld
                        );
                    }
                    Ok(())
                }
                Admin::Plan {
                    db,
                    course,
                    total_class_hours,
                } => {
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let catalogue = keshi_platform::load_catalogue(&store).await?;
                    let plan = keshi_platform::plans::create(
                        &store,
                        &catalogue,
                        &keshi_platform::staff::Scope::All,
                        &course,
                        total_class_hours,
                        "cli",
                        now(),
                    )
                    .await?;
                    println!("{}", serde_json::to_string(&plan)?);
                    Ok(())
                }
                Admin::Archive {
                    db,
                    learner,
                    out,
                    blobs,
                    font,
                } => {
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let key = keshi_platform::platform_key(&store, now()).await?;
                    let blobs = blob::DiskBlobStore::new(blob_dir(&db, blobs))?;
                    let font_path = font.unwrap_or_else(|| {
                        PathBuf::from(keshi_platform::certificate::DEFAULT_FONT)
                    });
                    let font = keshi_platform::certificate::FontData::load(&font_path)?;
                    let part = keshi_platform::temp_beside(&out, ".keshi-archive-")?;
                    let made = keshi_platform::archive::write(
                        &store,
                        &key,
                        &blobs,
                        &font,
                        &learner,
                        std::io::BufWriter::new(part.reopen()?),
                        now(),
                    )
                    .await?;
                    part.persist(&out)?;
                    let m = made.manifest;
                    println!(
                        "{}",
                        serde_json::json!({
                            "out": out.display().to_string(), "learner": m.learner.user,
                            "records": m.records, "photos": m.photos.len(),
                            "certificates": m.certificates.len(), "checkpoint": m.checkpoint,
                        })
                    );
                    Ok(())
                }
                Admin::Purge {
                    db,
                    before,
                    dry_run,
                    blobs,
                } => {
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let key = keshi_platform::platform_key(&store, now()).await?;
                    let blobs = blob::DiskBlobStore::new(blob_dir(&db, blobs))?;
                    let report = keshi_platform::retention::purge(
                        &store,
                        &key,
                        &blobs,
                        &before,
                        dry_run,
                        now(),
                    )
                    .await?;
                    println!("{}", serde_json::to_string(&report)?);
                    Ok(())
                }
                Admin::Backup { db, out, blobs } => {
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let key = keshi_platform::platform_key(&store, now()).await?;
                    let blobs = blob_dir(&db, blobs);
                    let m = keshi_platform::backup::backup(
                        &store,
                        &key,
                        &db,
                        Some(&blobs),
                        &out,
                        now(),
                    )
                    .await?;
                    let bytes: u64 = m.files.iter().map(|f| f.bytes).sum();
                    println!(
                        "{}",
                        serde_json::json!({
                            "out": out.display().to_string(), "database": m.database,
                            "files": m.files.len(), "bytes": bytes, "checkpoint": m.checkpoint,
                            "data_key": "not in the backup: keep the data key file apart",
                        })
                    );
                    Ok(())
                }
                Admin::Restore {
                    from,
                    db,
                    blobs,
                    platform_key,
                } => {
                    let blobs = blob_dir(&db, blobs);
                    let platform_key = match platform_key {
                        Some(k) => Some(
                            hex::decode(k.trim())
                                .ok()
                                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                                .context("--platform-key must be 64 hex digits")?,
                        ),
                        None => None,
                    };
                    let r = keshi_platform::backup::restore(
                        &from,
                        &db,
                        Some(&blobs),
                        data_key,
                        platform_key,
                    )
                    .await?;
                    println!(
                        "{}",
                        serde_json::json!({
                            "ok": r.audit.ok, "files_checked": r.files_checked,
                            "checkpoint": r.manifest.checkpoint, "audit": r.audit,
                        })
                    );
                    if !r.audit.ok {
                        std::process::exit(1);
                    }
                    Ok(())
                }
                Admin::DistrictReport {
                    db,
                    date,
                    scope,
                    json,
                } => {
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let key = keshi_platform::platform_key(&store, now()).await?;
                    let scope = keshi_platform::spotcheck::scope_of(&store, &scope).await?;
                    let Some(r) = keshi_platform::reports::district_report(
                        &store,
                        &key,
                        &scope,
                        &date,
                        now(),
                    )
                    .await?
                    else {
                        anyhow::bail!("{date:?} is not a date: write YYYY-MM-DD");
                    };
                    if json {
                        println!("{}", serde_json::to_string(&r)?);
                    } else {
                        println!(
                            "线上培训行动实施情况双周调度表 {} ({} – {}), checkpoint of {} records:",
                            r.date, r.period_from, r.period_to, r.checkpoint.size
                        );
                        for l in &r.lines {
                            println!(
                                "  {}: {} registered ({} new), {} person-times ({} in the period), {}",
                                if l.district.is_empty() { "(no region)" } else { &l.district },
                                l.registered_learners,
                                l.registered_in_period,
                                l.person_times,
                                l.person_times_in_period,
                                l.platforms.join(", ")
                            );
                        }
                    }
                    Ok(())
                }
                Admin::Export {
                    db,
                    table,
                    format,
                    out,
                    scope,
                    course,
                    quarter,
                    simulated,
                    refresh,
                } => {
                    use keshi_platform::export::{self, Format};
                    let format = match format {
                        Some(f) => f,
                        None => match out.extension().and_then(|e| e.to_str()) {
                            Some("csv") => Format::Csv,
                            Some("xlsx") => Format::Xlsx,
                            _ => anyhow::bail!(
                                "say --format csv|xlsx (or name the file .csv or .xlsx)"
                            ),
                        },
                    };
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let catalogue = Arc::new(keshi_platform::load_catalogue(&store).await?);
                    let key = Arc::new(keshi_platform::platform_key(&store, now()).await?);
                    let scope = keshi_platform::spotcheck::scope_of(&store, &scope).await?;
                    if refresh && matches!(table, export::Table::Hours | export::Table::Attendance)
                    {
                        keshi_platform::results::summarise_with(
                            &store,
                            &catalogue,
                            course.as_deref(),
                            &scope,
                            simulated,
                            true,
                            now(),
                        )
                        .await?;
                    }
                    let req = export::ExportRequest {
                        table,
                        scope,
                        course,
                        quarter,
                        simulated,
                    };
                    let signing = export::Signing { key, catalogue };
                    let rows = export::to_file(&store, &signing, &req, format, &out, now())
                        .await
                        .with_context(|| {
                            format!("exporting {} to {}", table.name(), out.display())
                        })?;
                    println!(
                        "{}",
                        serde_json::json!({"rows": rows, "out": out.display().to_string()})
                    );
                    Ok(())
                }
                Admin::SpotCheck {
                    db,
                    scope,
                    date,
                    size,
                    json,
                } => {
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let key = keshi_platform::platform_key(&store, now()).await?;
                    let c = keshi_platform::spotcheck::draw(
                        &store,
                        &key,
                        &scope,
                        &date,
                        size,
                        "cli",
                        now(),
                    )
                    .await?;
                    if json {
                        println!("{}", serde_json::to_string(&c)?);
                    } else {
                        println!(
                            "spot check {} of {} on {}: {} of {} learners (seed {}, checkpoint of {} records)",
                            c.id, c.scope, c.date, c.sample.len(), c.population, c.seed, c.checkpoint_size
                        );
                        for u in &c.sample {
                            println!("  {u}");
                        }
                        for k in &c.ineligible_classes {
                            println!(
                                "  class {} of {}: below 80% in two checks (lowest {:.1}%): not eligible",
                                k.class,
                                k.institution,
                                k.attendance_permille as f64 / 10.0
                            );
                        }
                    }
                    Ok(())
                }
                Admin::SpotCheckResult {
                    db,
                    check,
                    learner,
                    method,
                    result,
                    note,
                } => {
                    let store = Store::connect_with_key(&db, data_key).await?;
                    keshi_platform::spotcheck::record(
                        &store,
                        &check,
                        &learner,
                        &method,
                        &result,
                        &note,
                        "cli",
                        now(),
                    )
                    .await?;
                    println!(
                        "{}",
                        serde_json::json!({"check": check, "learner": learner, "result": result})
                    );
                    Ok(())
                }
                Admin::Checkpoint { db, json } => {
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let key = keshi_platform::platform_key(&store, now()).await?;
                    let cp = keshi_platform::ledger::checkpoint(&store, &key, now()).await?;
                    if json {
                        println!("{}", serde_json::to_string(&cp)?);
                    } else {
                        println!(
                            "checkpoint: {} records, root {}, signed at {} by {}",
                            cp.size, cp.root, cp.time_ms, cp.key
                        );
                    }
                    Ok(())
                }
                Admin::Records(LearnerArgs { db, learner, json }) => {
                    let store = Store::connect_with_key(&db, data_key).await?;
                    let catalogue = keshi_platform::load_catalogue(&store).await?;
                    let s = keshi_platform::summary(&store, &catalogue, &learner).await?;
                    if json {
                        println!("{}", serde_json::to_string(&s)?);
                    } else {
                        println!(
                        "learner {} ({}): {} records, {:.1} s credited, {} flags, {} quarantined",
                        s.username, s.learner_id, s.records, s.credited_seconds, s.flags.len(), s.quarantined.len()
                    );
                        for d in &s.devices {
                            println!(
                                "  device {}: {} records, head {} {}",
                                d.device_id,
                                d.records,
                                d.head_seq,
                                d.head_hash.clone().unwrap_or_default()
                            );
                        }
                    }
                    Ok(())
                }
            }
        }
    }
}
