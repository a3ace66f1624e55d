//! `trawl`: find sensitive data in Amazon S3 across many AWS accounts.
//!
//! A thin binary: it parses flags, reads configuration from the environment, sets up logging
//! and a shutdown token, and calls into the `coordinator`, `worker` and `classifier` crates.

mod demo;
mod embedded;
mod jobs;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;
use trawl_common::config::ServiceConfig;
use trawl_common::job::{JobSpec, MemberAccount, Selection};

#[derive(Parser)]
#[command(
    name = "trawl",
    version,
    about = "Find sensitive data in Amazon S3 across many AWS accounts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the coordinator service: claims submitted jobs, lists buckets, dispatches tasks.
    Coordinator,
    /// Run a worker: consumes tasks, classifies objects, records results. Run as many as you like.
    Worker {
        /// Objects processed at once.
        #[arg(long, env = "TRAWL_WORKER_CONCURRENCY", default_value_t = 16)]
        concurrency: usize,
        /// Unacknowledged tasks held at most (defaults to twice the concurrency).
        #[arg(long, env = "TRAWL_WORKER_PREFETCH")]
        prefetch: Option<u16>,
        /// Seconds in-flight tasks may take to finish after SIGTERM or SIGINT.
        #[arg(long, env = "TRAWL_SHUTDOWN_DEADLINE_SECS", default_value_t = 25)]
        shutdown_deadline_secs: u64,
    },
    /// Submit a job (from a file and/or flags) and follow it to the end.
    Run(RunArgs),
    /// List and inspect jobs.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Run the whole flow on sample buckets in two accounts on a local S3-compatible endpoint.
    Demo,
    /// Classify local files and folders with the engine the workers use (JSON Lines out).
    Classify {
        /// Files or folders (recursively).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ClassifyFormat::Json)]
        format: ClassifyFormat,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ClassifyFormat {
    /// One JSON object per file.
    Json,
    /// A table for people.
    Table,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Job file (TOML, or JSON by extension).
    job_file: Option<PathBuf>,
    /// Select a bucket or prefix: ACCOUNT:BUCKET[/PREFIX] (repeatable).
    #[arg(long = "select", value_name = "ACCOUNT:BUCKET[/PREFIX]")]
    selections: Vec<String>,
    /// A member account reached through AssumeRole: ACCOUNT[:ROLE_NAME[:EXTERNAL_ID]] (repeatable).
    #[arg(long = "member", value_name = "ACCOUNT[:ROLE[:EXTERNAL_ID]]")]
    members: Vec<String>,
    /// Job name.
    #[arg(long)]
    name: Option<String>,
    /// Submit and print the job ID without following it.
    #[arg(long)]
    detach: bool,
    /// Print the final figures as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum JobsCommand {
    /// List recent jobs.
    List {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Show a job's progress and figures.
    Show {
        /// Job ID.
        id: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
        /// Follow progress until the job ends.
        #[arg(long)]
        follow: bool,
    },
    /// Print a job's result records (JSON Lines).
    Results {
        /// Job ID.
        id: String,
        /// Only records with findings.
        #[arg(long)]
        findings: bool,
    },
}

fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRAWL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("TRAWL_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Cancels the returned token on SIGTERM or SIGINT.
fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler should not fail");
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        }
        cancel.cancel();
    });
    token
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Classify { paths, format } = &cli.command {
        init_logging("warn");
        return classify(paths, *format);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("building the tokio runtime should not fail");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn classify(paths: &[PathBuf], format: ClassifyFormat) -> ExitCode {
    let engine = trawl_classifier::Engine::default();
    let format = match format {
        ClassifyFormat::Json => trawl_classifier::local::OutputFormat::JsonLines,
        ClassifyFormat::Table => trawl_classifier::local::OutputFormat::Table,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match trawl_classifier::local::classify_paths(&engine, paths, format, &mut out) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Coordinator => {
            init_logging("info");
            let service = ServiceConfig::from_env()?;
            let shutdown = shutdown_on_signals();
            trawl_coordinator::run_distributed(
                trawl_coordinator::CoordinatorConfig::new(service),
                shutdown,
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Worker {
            concurrency,
            prefetch,
            shutdown_deadline_secs,
        } => {
            init_logging("info");
            let service = ServiceConfig::from_env()?;
            let mut config = trawl_worker::WorkerConfig::new(service);
            config.concurrency = concurrency.max(1);
            config.prefetch =
                prefetch.unwrap_or((concurrency.max(1) * 2).min(u16::MAX as usize) as u16);
            config.shutdown_deadline = Duration::from_secs(shutdown_deadline_secs);
            let engine = Arc::new(trawl_classifier::Engine::default());
            let shutdown = shutdown_on_signals();
            trawl_worker::run_distributed(config, engine, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => {
            init_logging("warn");
            let spec = build_spec(&args)?;
            // Every input is checked before anything is stored.
            spec.validate()?;
            let service = ServiceConfig::from_env()?;
            if service.distributed {
                let store = jobs::connect(&service).await?;
                let id = trawl_coordinator::submit(&store, &spec).await?;
                if args.detach {
                    println!("{id}");
                    return Ok(ExitCode::SUCCESS);
                }
                eprintln!("submitted job {id}");
                jobs::follow(&store, &id, args.json).await
            } else {
                let store = embedded::open_store()?;
                let id = trawl_coordinator::submit(&store, &spec).await?;
                eprintln!(
                    "submitted job {id} (embedded: set TRAWL_REDIS_URL and TRAWL_AMQP_URL to use a deployment)"
                );
                let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
                let services = embedded::Embedded::start(&service, store.clone(), workers).await;
                let code = jobs::follow(&store, &id, args.json).await;
                services.stop().await?;
                store.flush()?;
                code
            }
        }
        Command::Jobs { command } => {
            init_logging("warn");
            let service = ServiceConfig::from_env()?;
            if service.distributed {
                jobs_command(&jobs::connect(&service).await?, command).await
            } else {
                jobs_command(&embedded::open_store()?, command).await
            }
        }
        Command::Demo => {
            init_logging("warn");
            demo::run().await
        }
        Command::Classify { .. } => unreachable!("classify runs without a runtime"),
    }
}

async fn jobs_command<S: trawl_common::store::JobStore>(
    store: &S,
    command: JobsCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        JobsCommand::List { limit, json } => jobs::list(store, limit, json).await,
        JobsCommand::Show { id, json, follow } => {
            if follow {
                jobs::follow(store, &id, json).await
            } else {
                jobs::show(store, &id, json).await
            }
        }
        JobsCommand::Results { id, findings } => jobs::results(store, &id, findings).await,
    }
}

/// Builds the job spec from the job file and the `--select`/`--member` flags.
fn build_spec(args: &RunArgs) -> anyhow::Result<JobSpec> {
    let mut spec = match &args.job_file {
        Some(path) => JobSpec::from_file(path)?,
        None => JobSpec::default(),
    };
    if let Some(name) = &args.name {
        spec.name = Some(name.clone());
    }
    for select in &args.selections {
        let (account, rest) = select.split_once(':').with_context(|| {
            format!("invalid --select {select:?}: expected ACCOUNT:BUCKET[/PREFIX]")
        })?;
        let (bucket, prefix) = match rest.split_once('/') {
            Some((bucket, prefix)) => (bucket, Some(prefix)),
            None => (rest, None),
        };
        spec.selections.push(Selection {
            account: account.trim().to_string(),
            bucket: bucket.to_string(),
            prefixes: prefix
                .filter(|p| !p.is_empty())
                .map(|p| vec![p.to_string()])
                .unwrap_or_default(),
        });
    }
    for member in &args.members {
        let mut parts = member.splitn(3, ':');
        let id = parts.next().unwrap_or_default().trim().to_string();
        let role_name = parts
            .next()
            .filter(|r| !r.is_empty())
            .unwrap_or(trawl_common::job::DEFAULT_ROLE_NAME)
            .to_string();
        let external_id = parts.next().map(str::to_string);
        spec.accounts.push(MemberAccount {
            id,
            role_name,
            external_id,
        });
    }
    if args.job_file.is_none() && spec.selections.is_empty() {
        anyhow::bail!(
            "nothing to run: give a job file or at least one --select ACCOUNT:BUCKET[/PREFIX]"
        );
    }
    Ok(spec)
}
