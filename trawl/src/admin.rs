//! `trawl accounts …`, `trawl resources …`, `trawl estimate` and `trawl start`: the flow a user
//! goes through — integrate member accounts, select buckets and prefixes, review what a full
//! classification will process and cost, then start exactly what was reviewed.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::bail;
use clap::{Subcommand, ValueEnum};
use trawl_common::job::DEFAULT_ROLE_NAME;
use trawl_common::state::{Classification, Schedule, StateStore};
use trawl_common::store::JobStore;
use trawl_coordinator::admin::{Admin, Plan, ResourceEdit, ResourceInput, ReviewReport};

#[derive(Subcommand)]
pub(crate) enum AccountsCommand {
    /// Integrate member accounts: one or more 12-digit IDs, comma-separated.
    Add {
        /// Account IDs, e.g. 111122223333,444455556666.
        ids: Vec<String>,
        /// Role to assume in each account.
        #[arg(long, default_value = DEFAULT_ROLE_NAME)]
        role_name: String,
        /// External ID presented with AssumeRole.
        #[arg(long)]
        external_id: Option<String>,
    },
    /// List integrated accounts and their status.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Assume each member's role (with its external ID) and list its buckets.
    Verify {
        /// Accounts to verify (default: all).
        ids: Vec<String>,
    },
    /// Set an account's monthly quota of classified bytes (`off` removes it); a job that
    /// reaches it is PAUSED until the quota is raised and the job resumed, or the month ends.
    Quota {
        /// Account ID (the master or a member).
        id: String,
        /// Bytes per calendar month (UTC), or `off`.
        bytes: String,
    },
    /// Remove member accounts.
    Remove {
        /// Account IDs.
        ids: Vec<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ClassificationArg {
    /// Every existing object, once.
    Full,
    /// No existing object.
    None,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ScheduleArg {
    /// Every day.
    Daily,
    /// Every week.
    Weekly,
    /// Every 30 days.
    Monthly,
    /// No scheduled runs.
    Off,
}

#[derive(Subcommand)]
pub(crate) enum ResourcesCommand {
    /// Select a bucket (and optionally prefixes) of the master or a member account.
    Add {
        /// 12-digit account ID.
        #[arg(long)]
        account: String,
        /// Bucket name.
        #[arg(long)]
        bucket: String,
        /// Key prefix (repeatable); none means the whole bucket.
        #[arg(long = "prefix")]
        prefixes: Vec<String>,
        /// Classification of existing objects.
        #[arg(long, value_enum, default_value_t = ClassificationArg::Full)]
        classification: ClassificationArg,
        /// Continuous classification: a scheduled run classifies objects new or changed since the last.
        #[arg(long, value_enum)]
        schedule: Option<ScheduleArg>,
    },
    /// Change a selected bucket's prefixes, classification or schedule.
    Edit {
        /// 12-digit account ID.
        #[arg(long)]
        account: String,
        /// Bucket name.
        #[arg(long)]
        bucket: String,
        /// Replace the prefixes (repeatable).
        #[arg(long = "prefix")]
        prefixes: Vec<String>,
        /// Select the whole bucket (drop every prefix).
        #[arg(long, conflicts_with = "prefixes")]
        whole_bucket: bool,
        /// Classification of existing objects.
        #[arg(long, value_enum)]
        classification: Option<ClassificationArg>,
        /// Continuous classification.
        #[arg(long, value_enum)]
        schedule: Option<ScheduleArg>,
    },
    /// List selected buckets.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Remove a selected bucket.
    Remove {
        /// 12-digit account ID.
        #[arg(long)]
        account: String,
        /// Bucket name.
        #[arg(long)]
        bucket: String,
    },
}

/// Options of `trawl estimate` and `trawl start`.
#[derive(clap::Args, Clone)]
pub(crate) struct ReviewArgs {
    /// Pricing profile (default: the config's, else classic-macie).
    #[arg(long)]
    pub(crate) pricing_profile: Option<String>,
    /// JSON output.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) async fn accounts<S: JobStore, St: StateStore>(
    admin: &Admin<S, St>,
    command: AccountsCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        AccountsCommand::Add {
            ids,
            role_name,
            external_id,
        } => {
            // Every ID is checked before anything is added.
            let changes = admin
                .add_accounts(&ids.join(","), &role_name, external_id.as_deref())
                .await?;
            for change in changes {
                let id = &change.id;
                if change.outcome == "ADDED" {
                    println!(
                        "{id}: added (role {role_name}); verify it with `trawl accounts verify {id}`"
                    );
                } else {
                    println!("{id}: already integrated");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AccountsCommand::List { json } => {
            let view = admin.accounts().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<14} {:<8} {:<11} {:<32} {:>8}  ERROR",
                "ACCOUNT", "KIND", "STATUS", "ROLE", "BUCKETS"
            );
            if let Some(master) = &view.master {
                println!(
                    "{master:<14} {:<8} {:<11} {:<32} {:>8}",
                    "master", "-", "(default credentials)", "-"
                );
            }
            for account in &view.members {
                println!(
                    "{:<14} {:<8} {:<11} {:<32} {:>8}  {}",
                    account.id,
                    "member",
                    format!("{:?}", account.status).to_uppercase(),
                    account.role_name,
                    account
                        .num_buckets
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "-".into()),
                    account.error.as_deref().unwrap_or("")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AccountsCommand::Verify { ids } => {
            let outcomes = admin.verify_accounts(&ids.join(",")).await?;
            let mut failed = false;
            for outcome in &outcomes {
                match outcome.status {
                    "VERIFIED" => println!(
                        "{}: VERIFIED ({} buckets visible through {})",
                        outcome.id,
                        outcome.num_buckets.unwrap_or(0),
                        outcome.role_name.as_deref().unwrap_or("-")
                    ),
                    "NOT_INTEGRATED" => {
                        failed = true;
                        println!(
                            "{}: not integrated (trawl accounts add {})",
                            outcome.id, outcome.id
                        );
                    }
                    _ => {
                        failed = true;
                        println!(
                            "{}: FAILED: {}",
                            outcome.id,
                            outcome.error.as_deref().unwrap_or("unknown error")
                        );
                    }
                }
            }
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        AccountsCommand::Quota { id, bytes } => {
            let quota = match bytes.as_str() {
                "off" | "none" => None,
                _ => Some(bytes.parse::<u64>().map_err(|_| {
                    anyhow::anyhow!("invalid quota {bytes:?}: a number of bytes, or off")
                })?),
            };
            let view = admin.set_quota(&id, quota).await?;
            match view.quota_bytes {
                Some(n) => println!(
                    "{id}: monthly quota {n} bytes ({} classified in {})",
                    view.used_bytes, view.month
                ),
                None => println!(
                    "{id}: no monthly quota ({} bytes classified in {})",
                    view.used_bytes, view.month
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        AccountsCommand::Remove { ids } => {
            for change in admin.remove_accounts(&ids.join(",")).await? {
                if change.outcome == "REMOVED" {
                    println!("{}: removed", change.id);
                } else {
                    println!("{}: not integrated", change.id);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub(crate) async fn resources<S: JobStore, St: StateStore>(
    admin: &Admin<S, St>,
    command: ResourcesCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        ResourcesCommand::Add {
            account,
            bucket,
            prefixes,
            classification,
            schedule,
        } => {
            let view = admin
                .add_resource(ResourceInput {
                    account,
                    bucket,
                    prefixes,
                    classification: Some(classification.into()),
                    schedule: schedule.and_then(ScheduleArg::schedule),
                })
                .await?;
            let resource = &view.resource;
            println!(
                "selected bucket {} (account {}){}",
                resource.bucket,
                resource.account,
                describe_prefixes(&resource.prefixes)
            );
            if let Some(problem) = &view.problem {
                eprintln!("warning: {problem}");
            }
            Ok(ExitCode::SUCCESS)
        }
        ResourcesCommand::Edit {
            account,
            bucket,
            prefixes,
            whole_bucket,
            classification,
            schedule,
        } => {
            let edit = ResourceEdit {
                prefixes: if whole_bucket {
                    Some(Vec::new())
                } else if prefixes.is_empty() {
                    None
                } else {
                    Some(prefixes)
                },
                classification: classification.map(Into::into),
                schedule: schedule.map(ScheduleArg::schedule),
            };
            let resource = admin.edit_resource(&account, &bucket, edit).await?;
            println!(
                "updated bucket {bucket} (account {account}){}",
                describe_prefixes(&resource.prefixes)
            );
            Ok(ExitCode::SUCCESS)
        }
        ResourcesCommand::List { json } => {
            let resources = admin.resources().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&resources)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<14} {:<40} {:<15} {:<9} PREFIXES",
                "ACCOUNT", "BUCKET", "CLASSIFICATION", "SCHEDULE"
            );
            for resource in &resources {
                println!(
                    "{:<14} {:<40} {:<15} {:<9} {}",
                    resource.account,
                    resource.bucket,
                    format!("{:?}", resource.classification).to_uppercase(),
                    resource
                        .schedule
                        .map(|s| format!("{s:?}").to_lowercase())
                        .unwrap_or_else(|| "-".into()),
                    if resource.prefixes.is_empty() {
                        "(whole bucket)".to_string()
                    } else {
                        resource.prefixes.join(", ")
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ResourcesCommand::Remove { account, bucket } => {
            admin.remove_resource(&account, &bucket).await?;
            println!("removed bucket {bucket} (account {account})");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn describe_prefixes(prefixes: &[String]) -> String {
    if prefixes.is_empty() {
        " (whole bucket)".into()
    } else {
        format!(", prefixes {}", prefixes.join(", "))
    }
}

impl From<ClassificationArg> for Classification {
    fn from(arg: ClassificationArg) -> Self {
        match arg {
            ClassificationArg::Full => Classification::Full,
            ClassificationArg::None => Classification::None,
        }
    }
}

impl ScheduleArg {
    fn schedule(self) -> Option<Schedule> {
        match self {
            ScheduleArg::Daily => Some(Schedule::Daily),
            ScheduleArg::Weekly => Some(Schedule::Weekly),
            ScheduleArg::Monthly => Some(Schedule::Monthly),
            ScheduleArg::Off => None,
        }
    }
}

/// Computes and prints the review, with each bucket's encryption pre-flight; returns it.
pub(crate) async fn print_review<S: JobStore, St: StateStore>(
    admin: &Admin<S, St>,
    args: &ReviewArgs,
) -> anyhow::Result<(Plan, ReviewReport)> {
    let (plan, report) = admin.review(args.pricing_profile.as_deref()).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok((plan, report));
    }
    println!("{}", report.review.render_table());
    println!("Default encryption:");
    for bucket in &report.encryption {
        let default = bucket.default_encryption.as_deref().unwrap_or("unknown");
        println!(
            "  {} ({}): {default}{}",
            bucket.bucket,
            bucket.account,
            bucket
                .error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
        if let Some(key) = &bucket.kms_key {
            println!(
                "    KMS key {} {}{}",
                key.key_arn,
                key.state,
                if key.usable {
                    ", usable by the workers"
                } else {
                    ""
                }
            );
            if let Some(problem) = &key.problem {
                println!("    problem: {problem}");
            }
            if let Some(fix) = &key.fix {
                println!("    fix: {fix}");
            }
        }
    }
    for problem in report.problems.iter().chain(&report.unusable_accounts) {
        println!("problem: {problem}");
    }
    Ok((plan, report))
}

/// Asks the person at the terminal to confirm; refuses without a terminal (use --yes).
pub(crate) fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("{question} needs confirmation: run with --yes to start without asking");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES"))
}
