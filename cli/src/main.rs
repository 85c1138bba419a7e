//! `keshi`: drive the Keshi core without a UI.
//!
//! See the README's "CLI" section for the commands and the timeline vocabulary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use player_core::identity::{DeviceKey, KeyStore};
use player_core::journal::{Journal, JournalReader};
use player_core::manifest::Course;
use player_core::policy::Policy;
use player_core::session::Session;
use player_core::simulate;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

mod capture_cmd;
mod certificate_cmd;
mod demo_media;
mod platform_cmd;

#[derive(Parser, Debug)]
#[command(
    name = "keshi",
    version,
    about = "Keshi (课时) learner core: simulate, journals, demo courses"
)]
struct Cli {
    /// Where the device key file lives when no OS key store exists
    /// (default: $KESHI_HOME, else the user's data directory + /keshi).
    #[arg(long, global = true, env = "KESHI_HOME")]
    home: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replay a timeline through the rules engine, journaling every fact.
    Simulate {
        /// Course manifest (JSON).
        #[arg(long)]
        course: PathBuf,
        /// Policy profile: shanghai, shandong, chongqing, shanxi, shapingba.
        #[arg(long)]
        profile: String,
        /// Timeline (JSON Lines).
        #[arg(long)]
        timeline: PathBuf,
        /// Study journal (SQLite); created if missing, continued if present.
        #[arg(long)]
        journal: PathBuf,
        /// Seed for the capture schedule and quiz draw (default: from the OS CSPRNG).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Study journals.
    Journal {
        #[command(subcommand)]
        command: JournalCommand,
    },
    /// Course manifests.
    Course {
        #[command(subcommand)]
        command: CourseCommand,
    },
    /// This device's identity.
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Policy profiles.
    Profile {
        #[command(subcommand)]
        command: ProfileCommand,
    },
    /// Face checks on image files.
    Capture {
        #[command(subcommand)]
        command: CaptureCommand,
    },
    /// Log in to a platform and enrol the device that signs a journal.
    Login(platform_cmd::LoginArgs),
    /// Upload the journal's unacknowledged records to the platform.
    Sync(platform_cmd::SyncArgs),
    /// List the courses the journal's learner is enrolled in on the platform.
    Courses(platform_cmd::CoursesArgs),
    /// Verify an issued certificate — its PDF or its QR text — under the
    /// platform's public key (R-AS-6): exit 0 valid, 1 forged or altered.
    VerifyCertificate(certificate_cmd::VerifyArgs),
    /// Verify a learner's archive (R-SV-5) on its own: records, their inclusion in
    /// the signed checkpoint, photos, certificates. Exit 0 valid, 1 not.
    VerifyArchive(certificate_cmd::VerifyArchiveArgs),
}

#[derive(Subcommand, Debug)]
enum CaptureCommand {
    /// Run the face detector and the quality gate on image files: one JSON line each.
    Check {
        /// Image files (JPEG, PNG).
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Compare the faces of two photos (issue 14).
    Verify(capture_cmd::VerifyArgs),
    /// Score every pair of a labelled folder of face photos (issue 14).
    VerifyEval(capture_cmd::VerifyEvalArgs),
}

#[derive(Subcommand, Debug)]
enum JournalCommand {
    /// Verify hash chain, signatures, sequence and head checkpoint.
    Verify {
        /// The journal.
        journal: PathBuf,
        /// Also require this device public key (64 hex digits).
        #[arg(long)]
        public_key: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the records.
    Show {
        /// The journal.
        journal: PathBuf,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum CourseCommand {
    /// Write the demo course manifest (and, with --render-media, its lesson videos).
    Demo {
        /// Class hours.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=200))]
        class_hours: u32,
        /// Minutes per class hour: 45 for the province profiles, 2 for `--profile demo`.
        #[arg(long, default_value_t = 45, value_parser = clap::value_parser!(u32).range(1..=240))]
        class_hour_minutes: u32,
        /// Lessons per class hour (their durations are whole seconds adding up to it).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=26))]
        lessons_per_hour: u32,
        /// Render every lesson with ffmpeg into OUT_DIR/media/LESSON_ID.mp4 (H.264 +
        /// AAC) and write the files' SHA-256 into the manifest.
        #[arg(long)]
        render_media: bool,
        /// The ffmpeg executable (with --render-media).
        #[arg(long, env = "KESHI_FFMPEG", default_value = "ffmpeg")]
        ffmpeg: PathBuf,
        /// Font with Chinese glyphs for the lesson titles (default: the first found of
        /// WenQuanYi Micro Hei, Noto Sans CJK, Droid Sans Fallback, …).
        #[arg(long, requires = "render_media")]
        font: Option<PathBuf>,
        /// ffmpeg processes at once (default: one per core, at most 4).
        #[arg(long, requires = "render_media", value_parser = clap::value_parser!(u32).range(1..=64))]
        jobs: Option<u32>,
        /// Leave out the answer keys: the copy a learner's device gets (the platform
        /// grades; its published copy keeps the keys).
        #[arg(long)]
        without_answers: bool,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Download an enrolled course from the platform into a course directory (issue
    /// 12): manifest and media, resumable, every file checked against the
    /// manifest's SHA-256 before it can be played.
    Fetch(platform_cmd::FetchArgs),
    /// Validate a manifest (optionally against a profile).
    Check {
        /// The manifest.
        manifest: PathBuf,
        /// Profile to check it against.
        #[arg(long)]
        profile: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum DeviceCommand {
    /// Print the device id and public key (for enrolment), creating the key if needed.
    Export,
}

#[derive(Subcommand, Debug)]
enum ProfileCommand {
    /// Print a profile with the clause behind every value.
    Show {
        /// Profile id.
        id: String,
    },
    /// List the profiles.
    List,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KESHI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("keshi: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn home_dir(home: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(h) = home {
        return Ok(h);
    }
    let base = if cfg!(windows) {
        std::env::var_os("APPDATA").map(PathBuf::from)
    } else if cfg!(target_os = "macos") {
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join("Library/Application Support"))
    } else {
        std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
    };
    base.map(|b| b.join("keshi"))
        .context("cannot find a data directory: set KESHI_HOME or --home")
}

/// The throw-away key `keshi simulate` signs with, kept beside the journal
/// (`<journal>.simkey`): a simulated journal never carries this device's key, and
/// the platform knows it for what it is (`simulated` at login).
pub fn simulated_key_path(journal: &Path) -> PathBuf {
    let mut s = std::ffi::OsString::from(journal.as_os_str());
    s.push(".simkey");
    PathBuf::from(s)
}

/// Where `keshi simulate` keeps the key its simulated platform signs grades with.
pub fn simulated_grader_key_path(journal: &Path) -> PathBuf {
    let mut s = std::ffi::OsString::from(journal.as_os_str());
    s.push(".gradekey");
    PathBuf::from(s)
}

/// Opens (creating) a journal of `keshi simulate`: its own throw-away key. A
/// journal of this device's real key is refused.
pub(crate) fn simulated_journal(path: &Path) -> Result<Journal> {
    let key_path = simulated_key_path(path);
    if path.exists() && !key_path.exists() {
        bail!(
            "{} is signed by this device's own key: keshi simulate writes journals of a throw-away key of its own (use a new journal file)",
            path.display()
        );
    }
    let key =
        DeviceKey::load_or_create(&KeyStore::File(key_path)).context("the simulation's key")?;
    let mut journal = Journal::open(path, Arc::new(key))
        .with_context(|| format!("journal {}", path.display()))?;
    journal.set_sync_state(player_core::sync::KEY_SIMULATED, "true")?;
    Ok(journal)
}

/// The key that signs the journal at `path`: the simulation's own key when
/// `keshi simulate` made it, else this device's key.
fn journal_key(home: Option<PathBuf>, path: &Path) -> Result<DeviceKey> {
    let sim = simulated_key_path(path);
    if sim.exists() {
        return DeviceKey::load_or_create(&KeyStore::File(sim)).context("the simulation's key");
    }
    device_key(home)
}

fn device_key(home: Option<PathBuf>) -> Result<DeviceKey> {
    let home = home_dir(home)?;
    std::fs::create_dir_all(&home).with_context(|| format!("cannot create {}", home.display()))?;
    let choice = std::env::var(player_core::identity::KEYSTORE_ENV).ok();
    let store =
        KeyStore::from_choice(&home, choice.as_deref()).context("choosing the device key store")?;
    DeviceKey::load_or_create(&store).context("loading the device key")
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Simulate {
            course,
            profile,
            timeline,
            journal,
            seed,
        } => {
            let policy = Policy::by_id(&profile)?;
            let course = Course::load(&course)?;
            course.check_against(&policy)?;
            let text = std::fs::read_to_string(&timeline)
                .with_context(|| format!("cannot read timeline {}", timeline.display()))?;
            let mut events = simulate::parse_timeline(&text)
                .with_context(|| format!("timeline {}", timeline.display()))?;
            // Photos named by the timeline are kept with the journal (`keshi sync`
            // uploads them); the capture carries their hash.
            let photos = player_core::sync::PhotoStore::beside(&journal);
            let base = timeline.parent().unwrap_or(Path::new("."));
            for ev in &mut events {
                if let simulate::Scripted::Capture {
                    image: Some(file),
                    image_sha256,
                    ..
                } = &mut ev.event
                {
                    let path = base.join(&*file);
                    let bytes = std::fs::read(&path).with_context(|| {
                        format!("timeline line {}: photo {}", ev.line, path.display())
                    })?;
                    *image_sha256 = Some(
                        photos
                            .put(&bytes)
                            .with_context(|| format!("storing photo {}", path.display()))?,
                    );
                }
            }
            let journal_path = journal.clone();
            let mut journal = simulated_journal(&journal)?;
            // The platform's part: a course with its answer keys is graded here, with
            // a key of the simulation's own (a real platform ignores these grades and
            // grades the answers itself). A journal never logged in believes it.
            let grader = match course.missing_answer() {
                None => {
                    let key = DeviceKey::load_or_create(&KeyStore::File(
                        simulated_grader_key_path(&journal_path),
                    ))
                    .context("the simulated platform's key")?;
                    if journal.platform_key()?.is_none() {
                        journal.set_sync_state(
                            player_core::sync::KEY_PLATFORM_PUBLIC_KEY,
                            &key.public_key_hex(),
                        )?;
                    }
                    Some(simulate::Grader::new(key, &course, &policy))
                }
                Some(_) => None,
            };
            let rng = match seed {
                Some(s) => ChaCha20Rng::seed_from_u64(s),
                None => ChaCha20Rng::from_os_rng(),
            };
            let wall = player_core::clock::wall_now_ms();
            let (mut session, _) = Session::open(journal, &course, &policy, rng, wall)?;
            simulate::replay(&mut session, &events, grader.as_ref())?;
            print_json(&simulate::summarize(&session, &course, &policy))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Journal { command } => journal_cmd(command),
        Command::Login(args) => platform_cmd::login(cli.home, args),
        Command::Sync(args) => platform_cmd::sync(cli.home, args),
        Command::Courses(args) => platform_cmd::courses(cli.home, args),
        Command::VerifyCertificate(args) => certificate_cmd::verify(args),
        Command::VerifyArchive(args) => certificate_cmd::verify_archive(args),
        Command::Course { command } => match command {
            CourseCommand::Fetch(args) => platform_cmd::fetch(cli.home, args),
            CourseCommand::Demo {
                class_hours,
                class_hour_minutes,
                lessons_per_hour,
                render_media,
                ffmpeg,
                font,
                jobs,
                without_answers,
                out,
            } => {
                let mut v = player_core::demo::course_with(
                    class_hours,
                    class_hour_minutes,
                    lessons_per_hour,
                );
                if without_answers {
                    for bank in v["quizzes"].as_array_mut().into_iter().flatten() {
                        for q in bank["questions"].as_array_mut().into_iter().flatten() {
                            if let Some(q) = q.as_object_mut() {
                                q.remove("answer");
                            }
                        }
                    }
                }
                if render_media {
                    let opts = demo_media::RenderOptions {
                        ffmpeg,
                        font,
                        jobs: jobs.map_or_else(demo_media::default_jobs, |j| j as usize),
                    };
                    demo_media::render_into(&mut v, &out, &opts)?;
                }
                let mut text = serde_json::to_string_pretty(&v)?;
                text.push('\n');
                write_atomic(&out, text.as_bytes())?;
                eprintln!(
                    "wrote {} ({class_hours} class hours of {class_hour_minutes} min, {} lessons)",
                    out.display(),
                    class_hours * lessons_per_hour
                );
                Ok(ExitCode::SUCCESS)
            }
            CourseCommand::Check { manifest, profile } => {
                let course = Course::load(&manifest)?;
                let mut summary = serde_json::json!({
                    "course": course.id, "lessons": course.lessons.len(),
                    "duration_seconds": course.duration_seconds(), "valid": true,
                });
                if let Some(p) = profile {
                    let policy = Policy::by_id(&p)?;
                    course.check_against(&policy)?;
                    summary["class_hours"] = course.class_hours(&policy).into();
                    summary["profile"] = p.into();
                }
                print_json(&summary)?;
                Ok(ExitCode::SUCCESS)
            }
        },
        Command::Device { command } => match command {
            DeviceCommand::Export => {
                let key = device_key(cli.home)?;
                print_json(&serde_json::json!({
                    "device_id": key.device_id().to_hex(),
                    "public_key": key.public_key_hex(),
                    "algorithm": "Ed25519",
                }))?;
                Ok(ExitCode::SUCCESS)
            }
        },
        Command::Capture { command } => match command {
            CaptureCommand::Check { images } => {
                let checker = capture::Checker::for_files().context("loading the face model")?;
                let mut unreadable = false;
                for image in &images {
                    let report = capture::check_image_file(image, &checker);
                    unreadable |= report.error.is_some();
                    print_json(&report)?;
                }
                Ok(if unreadable {
                    ExitCode::from(1)
                } else {
                    ExitCode::SUCCESS
                })
            }
            CaptureCommand::Verify(args) => capture_cmd::verify(args),
            CaptureCommand::VerifyEval(args) => capture_cmd::verify_eval(args),
        },
        Command::Profile { command } => match command {
            ProfileCommand::Show { id } => {
                print_json(&Policy::by_id(&id)?)?;
                Ok(ExitCode::SUCCESS)
            }
            ProfileCommand::List => {
                for id in Policy::ids() {
                    let p = Policy::by_id(id)?;
                    println!("{id}\t{}\t{}", p.name_zh, p.document);
                }
                Ok(ExitCode::SUCCESS)
            }
        },
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn journal_cmd(command: JournalCommand) -> Result<ExitCode> {
    match command {
        JournalCommand::Verify {
            journal,
            public_key,
            json,
        } => {
            if !journal.exists() {
                bail!("{}: no such journal", journal.display());
            }
            let expected = match public_key {
                Some(h) => {
                    let bytes = hex::decode(h.trim()).context("--public-key is not hex")?;
                    let key: [u8; 32] = bytes.try_into().map_err(|_| {
                        anyhow::anyhow!("--public-key must be 32 bytes (64 hex digits)")
                    })?;
                    Some(key)
                }
                None => None,
            };
            let result = match expected {
                Some(k) => player_core::verify::verify_journal_expecting(&journal, &k),
                None => player_core::verify::verify_journal(&journal),
            };
            match result {
                Ok(report) => {
                    if json {
                        print_json(&serde_json::json!({ "valid": true, "report": report }))?;
                    } else {
                        println!(
                            "{}: valid — {} records, head {} {}",
                            journal.display(),
                            report.records,
                            report.head_seq,
                            report.head_hash.map(|h| h.to_hex()).unwrap_or_default()
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    if json {
                        print_json(&serde_json::json!({
                            "valid": false, "error": e.to_string(), "seq": e.seq(),
                        }))?;
                    }
                    eprintln!("{}: INVALID: {e}", journal.display());
                    Ok(ExitCode::from(1))
                }
            }
        }
        JournalCommand::Show { journal, json } => {
            let reader = JournalReader::open(&journal)
                .with_context(|| format!("journal {}", journal.display()))?;
            let mut out = std::io::stdout().lock();
            reader.for_each_from(1, |r| {
                let payload = if r.payload_erased() {
                    serde_json::Value::Null
                } else {
                    r.payload_json()
                        .unwrap_or_else(|e| serde_json::json!({ "unreadable": e.to_string() }))
                };
                let res = if json {
                    serde_json::to_writer(
                        &mut out,
                        &serde_json::json!({
                            "seq": r.seq(), "kind": r.header.kind, "wall_ms": r.header.wall_ms,
                            "mono_ms": r.header.mono_ms, "prev_hash": r.header.prev_hash.to_hex(),
                            "hash": r.hash.to_hex(), "payload": payload,
                        }),
                    )
                    .map_err(std::io::Error::other)
                    .and_then(|_| writeln!(out))
                } else {
                    writeln!(
                        out,
                        "{:>6}  {:<22} t={:>10.3}s  {}",
                        r.seq(),
                        r.header.kind,
                        r.header.mono_ms as f64 / 1000.0,
                        payload
                    )
                };
                // A closed pipe (`| head`) ends the listing quietly.
                if res.is_ok() {
                    std::ops::ControlFlow::Continue(())
                } else {
                    std::ops::ControlFlow::Break(())
                }
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
