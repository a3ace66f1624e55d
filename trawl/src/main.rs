//! `trawl`: find sensitive data in Amazon S3 across many AWS accounts.
//!
//! A thin binary: it parses flags, reads configuration from the environment, sets up logging
//! and a shutdown token, and calls into the `coordinator`, `worker` and `classifier` crates.

mod admin;
mod config;
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
use trawl_common::store::{JobStatus, JobStore};

#[derive(Parser)]
#[command(
    name = "trawl",
    version,
    about = "Find sensitive data in Amazon S3 across many AWS accounts"
)]
struct Cli {
    /// Configuration file: `[pricing]`, `[classifier]` (managed selection, custom identifiers,
    /// allow lists) and `[limits]` tables.
    #[arg(long, global = true, env = "TRAWL_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the coordinator service: claims submitted jobs, lists buckets, dispatches tasks, and
    /// serves the HTTP API and web console. With no broker or Redis configured it runs embedded,
    /// with in-process workers.
    Coordinator(CoordinatorArgs),
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
    /// Integrate member accounts (AssumeRole with an external ID) and verify them.
    Accounts {
        #[command(subcommand)]
        command: admin::AccountsCommand,
    },
    /// Select the S3 buckets and prefixes to classify, per account.
    Resources {
        #[command(subcommand)]
        command: admin::ResourcesCommand,
    },
    /// Review what a full classification of the selected buckets will process and cost.
    Estimate(admin::ReviewArgs),
    /// Review, then start classifying the selected buckets (exactly what was reviewed).
    Start {
        #[command(flatten)]
        review: admin::ReviewArgs,
        /// Start without asking.
        #[arg(long)]
        yes: bool,
        /// Print the job ID and return instead of following it (distributed mode).
        #[arg(long)]
        detach: bool,
    },
    /// Continuous classification.
    Schedules {
        #[command(subcommand)]
        command: SchedulesCommand,
    },
    /// List, inspect and control jobs.
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
    /// List the managed data identifiers: category, severity, keyword rule, and whether the
    /// configured selection runs them (the names `[classifier] managed` INCLUDE/EXCLUDE take).
    Identifiers {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct CoordinatorArgs {
    /// Address of the HTTP API and web console, or `off`.
    #[arg(long, env = "TRAWL_API_LISTEN", default_value = "127.0.0.1:8480")]
    api_listen: String,
    /// Bearer token every API request must present (required beyond loopback).
    #[arg(long, env = "TRAWL_API_TOKEN", hide_env_values = true)]
    api_token: Option<String>,
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
enum SchedulesCommand {
    /// Start the scheduled runs that are due (the coordinator does this every minute; this is
    /// for cron and for `--now`).
    Run {
        /// Start a run for every scheduled resource, due or not.
        #[arg(long)]
        now: bool,
    },
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
    /// Pause a running job: dispatching stops until it is resumed.
    Pause {
        /// Job ID.
        id: String,
    },
    /// Resume a paused job where it stopped.
    Resume {
        /// Job ID.
        id: String,
    },
    /// Cancel a job: dispatching stops and workers drop its remaining tasks uncounted.
    Cancel {
        /// Job ID.
        id: String,
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
    // The whole config file is checked before anything starts, whatever the command.
    let config = match config::TrawlConfig::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    if let Command::Classify { paths, format } = &cli.command {
        init_logging("warn");
        return classify(&config, paths, *format);
    }
    if let Command::Identifiers { json } = &cli.command {
        return list_identifiers(&config, *json);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("building the tokio runtime should not fail");
    match runtime.block_on(run(cli.command, config)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn classify(config: &config::TrawlConfig, paths: &[PathBuf], format: ClassifyFormat) -> ExitCode {
    let engine = match config.engine() {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
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

fn list_identifiers(config: &config::TrawlConfig, json: bool) -> ExitCode {
    let engine = match config.engine() {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let list = engine.managed_identifiers();
    let text = if json {
        let mut text = serde_json::to_string_pretty(&list)
            .expect("serialising plain identifier records should not fail");
        text.push('\n');
        text
    } else {
        use std::fmt::Write as _;
        let width = list.iter().map(|i| i.name.len()).max().unwrap_or(4);
        let mut text = format!(
            "{:<width$}  {:<21}  {:<8}  {:<12}  {:<11}  ENABLED\n",
            "NAME", "CATEGORY", "SEVERITY", "KEYWORDS", "RECOMMENDED"
        );
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        for i in &list {
            let _ = writeln!(
                text,
                "{:<width$}  {:<21}  {:<8}  {:<12}  {:<11}  {}",
                i.name,
                i.category,
                i.severity,
                i.keywords,
                yes_no(i.recommended),
                yes_no(i.enabled)
            );
        }
        let enabled = list.iter().filter(|i| i.enabled).count();
        let _ = writeln!(
            text,
            "{enabled} of {} enabled by the configured selection",
            list.len()
        );
        text
    };
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        // A reader that stops early (`| head`) is not an error.
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("error: writing the list: {error}");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}

async fn run(command: Command, config: config::TrawlConfig) -> anyhow::Result<ExitCode> {
    match command {
        Command::Coordinator(args) => {
            init_logging("info");
            let service = ServiceConfig::from_env()?;
            coordinator(service, args, config).await
        }
        Command::Worker {
            concurrency,
            prefetch,
            shutdown_deadline_secs,
        } => {
            init_logging("info");
            let service = ServiceConfig::from_env()?;
            let engine = Arc::new(config.engine()?);
            let mut config = trawl_worker::WorkerConfig::new(service);
            config.concurrency = concurrency.max(1);
            config.prefetch =
                prefetch.unwrap_or((concurrency.max(1) * 2).min(u16::MAX as usize) as u16);
            config.shutdown_deadline = Duration::from_secs(shutdown_deadline_secs);
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
                let services =
                    embedded::Embedded::start_per_core(&service, &store, config.engine()?).await;
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
        command @ (Command::Accounts { .. }
        | Command::Resources { .. }
        | Command::Estimate(_)
        | Command::Schedules { .. }) => {
            init_logging("warn");
            let service = ServiceConfig::from_env()?;
            admin_command(&service, config.pricing, command).await
        }
        Command::Start {
            review,
            yes,
            detach,
        } => {
            init_logging("warn");
            let service = ServiceConfig::from_env()?;
            if service.distributed {
                return admin_command(
                    &service,
                    config.pricing,
                    Command::Start {
                        review,
                        yes,
                        detach,
                    },
                )
                .await;
            }
            // Embedded: the coordinator and workers run in this process while the job runs.
            let store = embedded::open_store()?;
            let state =
                trawl_common::state::FileStateStore::new(&embedded::data_dir().join("state.json"));
            let clients = trawl_common::aws::S3Clients::from_config(&service).await;
            let pricing = config.pricing.clone();
            let admin =
                trawl_coordinator::admin::Admin::new(store.clone(), state, clients, pricing);
            let services =
                embedded::Embedded::start_per_core(&service, &store, config.engine()?).await;
            let code = match start_job(&admin, &review, yes).await {
                Ok(Some(id)) => jobs::follow(&store, &id, review.json).await,
                Ok(None) => Ok(ExitCode::FAILURE),
                Err(error) => Err(error),
            };
            services.stop().await?;
            store.flush()?;
            code
        }
        Command::Demo => {
            init_logging("warn");
            demo::run().await
        }
        Command::Classify { .. } | Command::Identifiers { .. } => {
            unreachable!("classify and identifiers run without a runtime")
        }
    }
}

/// `trawl coordinator`: the coordinator service and, beside it, the HTTP API and console.
async fn coordinator(
    service: ServiceConfig,
    args: CoordinatorArgs,
    config: config::TrawlConfig,
) -> anyhow::Result<ExitCode> {
    let api = match args.api_listen.as_str() {
        "off" | "" => None,
        listen => {
            let config = trawl_coordinator::api::ApiConfig {
                listen: listen.parse().with_context(|| {
                    format!("invalid --api-listen {listen:?}: expected HOST:PORT, e.g. 127.0.0.1:8480, or off")
                })?,
                token: args.api_token.clone().filter(|t| !t.is_empty()),
            };
            config.validate().map_err(anyhow::Error::msg)?;
            Some(config)
        }
    };
    let pricing = config.pricing.clone();
    let clients = trawl_common::aws::S3Clients::from_config(&service).await;
    let shutdown = shutdown_on_signals();
    let listener = match &api {
        Some(config) => {
            let (listener, addr) = trawl_coordinator::api::bind(config)
                .await
                .with_context(|| format!("cannot listen on {} for the API", config.listen))?;
            tracing::info!(%addr, "HTTP API and web console listening");
            eprintln!("Trawl console and API: http://{addr}/");
            Some(listener)
        }
        None => None,
    };
    let token = api.and_then(|c| c.token);
    if service.distributed {
        let timeout = Duration::from_secs(service.connect_timeout_secs);
        let store = trawl_common::store::RedisStore::connect(&service.redis_url, timeout)
            .await?
            .for_queue(&service.task_queue);
        let api_task = listener.map(|listener| {
            let admin = trawl_coordinator::admin::Admin::new(
                store.clone(),
                store.clone(),
                clients,
                pricing,
            );
            tokio::spawn(trawl_coordinator::api::serve(
                admin,
                listener,
                token,
                shutdown.clone(),
            ))
        });
        let outcome =
            trawl_coordinator::run_distributed(coordinator_config(service)?, shutdown.clone())
                .await;
        shutdown.cancel();
        if let Some(task) = api_task {
            task.await.context("the API server panicked")?;
        }
        outcome?;
    } else {
        // Embedded: coordinator and workers in this process, state in the data directory.
        let store = embedded::open_store()?;
        let state =
            trawl_common::state::FileStateStore::new(&embedded::data_dir().join("state.json"));
        eprintln!(
            "embedded mode (state in {}): set TRAWL_REDIS_URL and TRAWL_AMQP_URL to coordinate a deployment",
            embedded::data_dir().display()
        );
        let services = embedded::Embedded::start_per_core(&service, &store, config.engine()?).await;
        let admin = trawl_coordinator::admin::Admin::new(store.clone(), state, clients, pricing);
        match listener {
            Some(listener) => {
                trawl_coordinator::api::serve(admin, listener, token, shutdown.clone()).await
            }
            None => shutdown.cancelled().await,
        }
        services.stop().await?;
        store.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The coordinator's tuning: defaults, then `TRAWL_LIST_PAGE_SIZE` (keys per ListObjectsV2
/// page, 1–1000) and `TRAWL_CONFIRM_WINDOW` (tasks awaiting a broker confirm).
fn coordinator_config(
    service: ServiceConfig,
) -> anyhow::Result<trawl_coordinator::CoordinatorConfig> {
    let mut config = trawl_coordinator::CoordinatorConfig::new(service);
    if let Ok(value) = std::env::var("TRAWL_LIST_PAGE_SIZE") {
        config.page_size = value
            .parse::<i32>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                anyhow::anyhow!("invalid TRAWL_LIST_PAGE_SIZE {value:?}: expected 1 to 1000")
            })?;
    }
    if let Ok(value) = std::env::var("TRAWL_CONFIRM_WINDOW") {
        config.confirm_window =
            value
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "invalid TRAWL_CONFIRM_WINDOW {value:?}: expected a positive number"
                    )
                })?;
    }
    Ok(config)
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
        JobsCommand::Pause { id } => {
            control(store, &id, JobStatus::UserPaused, &[JobStatus::Running]).await
        }
        JobsCommand::Resume { id } => {
            control(
                store,
                &id,
                JobStatus::Running,
                &[JobStatus::UserPaused, JobStatus::Paused],
            )
            .await
        }
        JobsCommand::Cancel { id } => {
            let from = [
                JobStatus::Created,
                JobStatus::Running,
                JobStatus::UserPaused,
                JobStatus::Paused,
            ];
            control(store, &id, JobStatus::Cancelled, &from).await
        }
    }
}

async fn control<S: JobStore>(
    store: &S,
    id: &str,
    to: JobStatus,
    from: &[JobStatus],
) -> anyhow::Result<ExitCode> {
    if store.transition(id, to, from, None).await? {
        println!("job {id}: {}", to.as_str());
        Ok(ExitCode::SUCCESS)
    } else {
        let current = store.job(id).await?.status;
        anyhow::bail!(
            "job {id} is {} and cannot become {}",
            current.as_str(),
            to.as_str()
        )
    }
}

/// Reviews the selected buckets and, once confirmed, submits exactly what was reviewed, with
/// the review stored beside the job. Returns the job ID, or `None` when the person declined.
async fn start_job<S: JobStore, St: trawl_common::state::StateStore>(
    admin: &trawl_coordinator::admin::Admin<S, St>,
    review: &admin::ReviewArgs,
    yes: bool,
) -> anyhow::Result<Option<String>> {
    let (plan, report) = admin::print_review(admin, review).await?;
    if let Some(refusal) = &report.refusal {
        anyhow::bail!("{refusal}");
    }
    let totals = &report.review.totals;
    let question = format!(
        "Classify {} objects ({} bytes) for an estimated {}?",
        totals.processed.num_objects,
        totals.processed.num_bytes,
        trawl_coordinator::pricing::format_usd_cents(totals.cost_estimate_cents)
    );
    if !yes && !admin::confirm(&question)? {
        eprintln!("not started");
        return Ok(None);
    }
    let id = admin.start(&plan, &report).await?;
    eprintln!("started job {id}");
    Ok(Some(id))
}

async fn admin_command(
    service: &ServiceConfig,
    pricing: trawl_coordinator::pricing::PricingConfig,
    command: Command,
) -> anyhow::Result<ExitCode> {
    let clients = trawl_common::aws::S3Clients::from_config(service).await;
    if service.distributed {
        let store = jobs::connect(service).await?;
        let admin = trawl_coordinator::admin::Admin::new(store.clone(), store, clients, pricing);
        admin_with(&admin, command).await
    } else {
        let store = embedded::open_store()?;
        let state =
            trawl_common::state::FileStateStore::new(&embedded::data_dir().join("state.json"));
        let admin = trawl_coordinator::admin::Admin::new(store, state, clients, pricing);
        admin_with(&admin, command).await
    }
}

async fn admin_with<S: JobStore, St: trawl_common::state::StateStore>(
    admin: &trawl_coordinator::admin::Admin<S, St>,
    command: Command,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Accounts { command } => admin::accounts(admin, command).await,
        Command::Schedules {
            command: SchedulesCommand::Run { now },
        } => {
            let (store, state) = (admin.store(), admin.state());
            let runs =
                trawl_coordinator::schedule::run_due(store, state, trawl_common::now_ms(), now)
                    .await?;
            for id in &runs.started {
                println!("{id}");
            }
            for (resource, error) in &runs.failed {
                eprintln!("error: the scheduled run of {resource} was not started: {error}");
            }
            if runs.started.is_empty() && runs.failed.is_empty() {
                eprintln!("no scheduled run is due");
            }
            Ok(if runs.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Resources { command } => admin::resources(admin, command).await,
        Command::Estimate(args) => {
            let (_, report) = admin::print_review(admin, &args).await?;
            Ok(
                if report.problems.is_empty() && report.unusable_accounts.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                },
            )
        }
        Command::Start {
            review,
            yes,
            detach,
        } => {
            let Some(id) = start_job(admin, &review, yes).await? else {
                return Ok(ExitCode::FAILURE);
            };
            if detach {
                println!("{id}");
                Ok(ExitCode::SUCCESS)
            } else {
                jobs::follow(admin.store(), &id, review.json).await
            }
        }
        _ => unreachable!("admin_with handles account, resource, estimate and start commands"),
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
