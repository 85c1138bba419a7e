//! `keshi-platform`: the reference platform service and its admin commands.
//!
//! ```text
//! keshi-platform serve --db sqlite:PATH|postgres://… --listen ADDR [--demo] [--blobs DIR]
//! keshi-platform admin create-institution --db URL --name NAME
//! keshi-platform admin create-learner --db URL --institution NAME|ID --user U --password P \
//!     --real-name NAME --id-number ID [--face-photo-ref REF]
//! keshi-platform admin records --db URL --learner U --json
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
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
    },
    /// Administration (direct database access).
    Admin {
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
    },
    /// Create a learner (R-ID-1; prints the id).
    CreateLearner {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// Institution name or id (created when a name is unknown).
        #[arg(long)]
        institution: String,
        #[arg(long)]
        user: String,
        #[arg(long)]
        password: String,
        #[arg(long)]
        real_name: String,
        #[arg(long)]
        id_number: String,
        #[arg(long)]
        face_photo_ref: Option<String>,
    },
    /// What the platform holds for a learner: records, heads, re-derived credit, flags.
    Records {
        #[arg(long, env = "KESHI_PLATFORM_DB")]
        db: String,
        /// Login name or learner id.
        #[arg(long)]
        learner: String,
        /// Print JSON (one line).
        #[arg(long)]
        json: bool,
    },
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

async fn institution_id(store: &Store, name_or_id: &str) -> Result<String> {
    Ok(store.create_institution(name_or_id, now()).await?)
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
        } => {
            let store = Store::connect(&db)
                .await
                .with_context(|| format!("database {db}"))?;
            let blob_dir = blobs.unwrap_or_else(|| match db.strip_prefix("sqlite:") {
                Some(p) => PathBuf::from(format!("{}.blobs", p.trim_start_matches("//"))),
                None => PathBuf::from("keshi-blobs"),
            });
            let blobs = blob::DiskBlobStore::new(&blob_dir)
                .with_context(|| format!("blob directory {}", blob_dir.display()))?;
            let config = Config {
                lease_ttl_ms: lease_ttl_secs * 1000,
                offline_ms: offline_hours * 3600 * 1000,
                max_batch_records,
                max_body_bytes,
                ..Config::default()
            };
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
                line["demo"] = serde_json::json!({
                    "institution": DEMO_INSTITUTION, "institution_id": inst,
                    "user": DEMO_USER, "password": DEMO_PASSWORD, "learner_id": learner,
                    "course": keshi_protocol::demo::course_with(2, 2, 2).get("id").cloned(),
                });
            }
            println!("{line}");
            tracing::info!(%addr, "keshi-platform listening");
            axum::serve(listener, api::router(state))
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await?;
            Ok(())
        }
        Command::Admin { command } => {
            match command {
                Admin::CreateInstitution { db, name } => {
                    let store = Store::connect(&db).await?;
                    let id = institution_id(&store, &name).await?;
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
                    password,
                    real_name,
                    id_number,
                    face_photo_ref,
                } => {
                    let store = Store::connect(&db).await?;
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
                    println!(
                        "{}",
                        serde_json::json!({"learner_id": id, "user": user, "institution_id": inst})
                    );
                    Ok(())
                }
                Admin::Records { db, learner, json } => {
                    let store = Store::connect(&db).await?;
                    let s = keshi_platform::summary(&store, &learner).await?;
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
