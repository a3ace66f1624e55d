//! `trawl accounts …`, `trawl resources …`, `trawl estimate` and `trawl start`: the flow a user
//! goes through — integrate member accounts, select buckets and prefixes, review what a full
//! classification will process and cost, then start exactly what was reviewed.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Subcommand, ValueEnum};
use trawl_common::aws::S3Clients;
use trawl_common::job::{
    AccountAccess, DEFAULT_ROLE_NAME, JobSpec, MemberAccount, Selection, role_arn,
};
use trawl_common::state::{
    Account, AccountStatus, Classification, Resource, Schedule, State, StateStore,
};
use trawl_coordinator::estimate::{self, BucketSelection};
use trawl_coordinator::pricing::{Pricing, PricingConfig};
use trawl_coordinator::review::{ReviewOutcome, ReviewSelection};

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
    /// Configuration file with a `[pricing]` table (profiles and request prices).
    #[arg(long, env = "TRAWL_CONFIG")]
    pub(crate) config: Option<std::path::PathBuf>,
    /// Pricing profile (default: the config's, else classic-macie).
    #[arg(long)]
    pub(crate) pricing_profile: Option<String>,
    /// JSON output.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) async fn accounts<St: StateStore>(
    state: &St,
    clients: &S3Clients,
    command: AccountsCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        AccountsCommand::Add {
            ids,
            role_name,
            external_id,
        } => {
            // Every ID is checked before anything is added.
            let ids = trawl_common::job::parse_account_ids(&ids.join(","))?;
            if ids.is_empty() {
                bail!("no account ID given: trawl accounts add 111122223333[,444455556666…]");
            }
            let current = state.load_state().await?;
            for id in ids {
                if current.accounts.contains_key(&id) {
                    println!("{id}: already integrated");
                    continue;
                }
                state
                    .put_account(&Account {
                        id: id.clone(),
                        role_name: role_name.clone(),
                        external_id: external_id.clone(),
                        status: AccountStatus::Unverified,
                        error: None,
                        num_buckets: None,
                        added_ms: trawl_common::now_ms(),
                        verified_ms: 0,
                    })
                    .await?;
                println!(
                    "{id}: added (role {role_name}); verify it with `trawl accounts verify {id}`"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AccountsCommand::List { json } => {
            let current = state.load_state().await?;
            let master = trawl_common::aws::caller_account(clients.sdk_config())
                .await
                .ok();
            if json {
                let value = serde_json::json!({ "master": master, "members": current.accounts.values().collect::<Vec<_>>() });
                println!("{}", serde_json::to_string_pretty(&value)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<14} {:<8} {:<11} {:<32} {:>8}  ERROR",
                "ACCOUNT", "KIND", "STATUS", "ROLE", "BUCKETS"
            );
            if let Some(master) = &master {
                println!(
                    "{master:<14} {:<8} {:<11} {:<32} {:>8}",
                    "master", "-", "(default credentials)", "-"
                );
            }
            for account in current.accounts.values() {
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
            let current = state.load_state().await?;
            let wanted = trawl_common::job::parse_account_ids(&ids.join(","))?;
            let mut failed = false;
            for account in current.accounts.values() {
                if !wanted.is_empty() && !wanted.contains(&account.id) {
                    continue;
                }
                let mut account = account.clone();
                let access = member_access(&account);
                let outcome = match clients.verify_credentials(&access).await {
                    Err(error) => Err(error.to_string()),
                    Ok(()) => clients
                        .client(&access)
                        .await
                        .list_buckets()
                        .send()
                        .await
                        .map(|out| out.buckets().len() as u64)
                        .map_err(|e| trawl_common::s3_error::display_chain(&e)),
                };
                account.verified_ms = trawl_common::now_ms();
                match outcome {
                    Ok(num_buckets) => {
                        account.status = AccountStatus::Verified;
                        account.error = None;
                        account.num_buckets = Some(num_buckets);
                        println!(
                            "{}: VERIFIED ({num_buckets} buckets visible through {})",
                            account.id, account.role_name
                        );
                    }
                    Err(error) => {
                        failed = true;
                        account.status = AccountStatus::Failed;
                        account.error = Some(error.clone());
                        account.num_buckets = None;
                        println!("{}: FAILED: {error}", account.id);
                    }
                }
                state.put_account(&account).await?;
            }
            for id in &wanted {
                if !current.accounts.contains_key(id) {
                    failed = true;
                    println!("{id}: not integrated (trawl accounts add {id})");
                }
            }
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        AccountsCommand::Quota { .. } => unreachable!("quotas are set by quota()"),
        AccountsCommand::Remove { ids } => {
            let ids = trawl_common::job::parse_account_ids(&ids.join(","))?;
            for id in ids {
                if state.remove_account(&id).await? {
                    println!("{id}: removed");
                } else {
                    println!("{id}: not integrated");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `trawl accounts quota ID BYTES|off`.
pub(crate) async fn quota<S: trawl_common::store::JobStore>(
    store: &S,
    id: &str,
    bytes: &str,
) -> anyhow::Result<ExitCode> {
    if !trawl_common::job::is_account_id(id) {
        bail!("invalid AWS account ID {id:?}: an account ID is exactly 12 digits");
    }
    let quota =
        match bytes {
            "off" | "none" => None,
            _ => Some(bytes.parse::<u64>().map_err(|_| {
                anyhow::anyhow!("invalid quota {bytes:?}: a number of bytes, or off")
            })?),
        };
    store.set_quota(id, quota).await?;
    let month = trawl_common::month_of(trawl_common::now_ms());
    let used = store.usage(id, &month).await?;
    match quota {
        Some(n) => println!("{id}: monthly quota {n} bytes ({used} classified in {month})"),
        None => println!("{id}: no monthly quota ({used} bytes classified in {month})"),
    }
    Ok(ExitCode::SUCCESS)
}

fn member_access(account: &Account) -> AccountAccess {
    AccountAccess {
        account: account.id.clone(),
        role_arn: Some(role_arn(&account.id, &account.role_name)),
        external_id: account.external_id.clone(),
    }
}

/// Returns how `account_id` is reached: a member's role, or the master's default credentials.
fn access_for(
    state: &State,
    master: Option<&str>,
    account_id: &str,
) -> anyhow::Result<AccountAccess> {
    if let Some(account) = state.accounts.get(account_id) {
        return Ok(member_access(account));
    }
    match master {
        Some(master) if master == account_id => Ok(AccountAccess {
            account: account_id.to_string(),
            role_arn: None,
            external_id: None,
        }),
        Some(master) => bail!(
            "account {account_id} is not integrated (trawl accounts add {account_id}) and is not the master account ({master})"
        ),
        None => bail!(
            "account {account_id} is not integrated, and the master account cannot be determined from the credentials"
        ),
    }
}

pub(crate) async fn resources<St: StateStore>(
    state: &St,
    clients: &S3Clients,
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
            check_selection(&account, &bucket)?;
            let current = state.load_state().await?;
            if current
                .resources
                .contains_key(&format!("{account}/{bucket}"))
            {
                bail!(
                    "bucket {bucket} (account {account}) is already selected: use `trawl resources edit`"
                );
            }
            let master = trawl_common::aws::caller_account(clients.sdk_config())
                .await
                .ok();
            let access = access_for(&current, master.as_deref(), &account)?;
            let resource = Resource {
                account: account.clone(),
                bucket: bucket.clone(),
                prefixes: prefixes.into_iter().filter(|p| !p.is_empty()).collect(),
                classification: classification.into(),
                schedule: schedule.and_then(ScheduleArg::schedule),
                last_run_ms: None,
                added_ms: trawl_common::now_ms(),
            };
            state.put_resource(&resource).await?;
            println!(
                "selected bucket {bucket} (account {account}){}",
                describe_prefixes(&resource.prefixes)
            );
            if let Some(problem) = bucket_problem(clients, &access, &bucket).await {
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
            check_selection(&account, &bucket)?;
            let current = state.load_state().await?;
            let Some(mut resource) = current
                .resources
                .get(&format!("{account}/{bucket}"))
                .cloned()
            else {
                bail!(
                    "bucket {bucket} (account {account}) is not selected: use `trawl resources add`"
                );
            };
            if whole_bucket {
                resource.prefixes.clear();
            } else if !prefixes.is_empty() {
                resource.prefixes = prefixes.into_iter().filter(|p| !p.is_empty()).collect();
            }
            if let Some(classification) = classification {
                resource.classification = classification.into();
            }
            if let Some(schedule) = schedule {
                resource.schedule = schedule.schedule();
            }
            state.put_resource(&resource).await?;
            println!(
                "updated bucket {bucket} (account {account}){}",
                describe_prefixes(&resource.prefixes)
            );
            Ok(ExitCode::SUCCESS)
        }
        ResourcesCommand::List { json } => {
            let current = state.load_state().await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&current.resources.values().collect::<Vec<_>>())?
                );
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<14} {:<40} {:<15} {:<9} PREFIXES",
                "ACCOUNT", "BUCKET", "CLASSIFICATION", "SCHEDULE"
            );
            for resource in current.resources.values() {
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
            check_selection(&account, &bucket)?;
            if state.remove_resource(&account, &bucket).await? {
                println!("removed bucket {bucket} (account {account})");
                Ok(ExitCode::SUCCESS)
            } else {
                bail!("bucket {bucket} (account {account}) is not selected");
            }
        }
    }
}

fn check_selection(account: &str, bucket: &str) -> anyhow::Result<()> {
    if !trawl_common::job::is_account_id(account) {
        bail!("invalid AWS account ID {account:?}: an account ID is exactly 12 digits");
    }
    trawl_common::job::check_bucket_name(bucket).map_err(|reason| {
        anyhow::anyhow!("invalid bucket name {bucket:?} (account {account}): {reason}")
    })
}

fn describe_prefixes(prefixes: &[String]) -> String {
    if prefixes.is_empty() {
        " (whole bucket)".into()
    } else {
        format!(", prefixes {}", prefixes.join(", "))
    }
}

async fn bucket_problem(
    clients: &S3Clients,
    access: &AccountAccess,
    bucket: &str,
) -> Option<String> {
    let client = clients.client(access).await;
    match client.head_bucket().bucket(bucket).send().await {
        Ok(_) => None,
        Err(error) => {
            let failure = trawl_common::s3_error::classify("HeadBucket", bucket, "", &error);
            Some(failure.bucket_problem(&access.account))
        }
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

/// Loads the pricing profile from the config file (if any) and the chosen profile name.
pub(crate) fn pricing(args: &ReviewArgs) -> anyhow::Result<Pricing> {
    let config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config file {}", path.display()))?;
            PricingConfig::from_toml(&text)
                .with_context(|| format!("config file {}", path.display()))?
        }
        None => PricingConfig::default(),
    };
    Ok(config.resolve(args.pricing_profile.as_deref())?)
}

/// What the selected resources make: the review's selections and the job spec to start.
pub(crate) struct Plan {
    pub(crate) selections: Vec<ReviewSelection>,
    pub(crate) spec: JobSpec,
    /// Accounts a job may not use yet (unverified or failed members), one message each.
    pub(crate) unusable: Vec<String>,
}

pub(crate) async fn plan<St: StateStore>(state: &St, clients: &S3Clients) -> anyhow::Result<Plan> {
    let current = state.load_state().await?;
    if current.resources.is_empty() {
        bail!(
            "no bucket is selected: add one with `trawl resources add --account ID --bucket NAME`"
        );
    }
    let master = trawl_common::aws::caller_account(clients.sdk_config())
        .await
        .ok();
    let mut selections = Vec::new();
    let mut spec = JobSpec {
        name: Some(format!("classification {}", chrono_like_now())),
        ..JobSpec::default()
    };
    let mut unusable = Vec::new();
    for resource in current.resources.values() {
        let access = access_for(&current, master.as_deref(), &resource.account)?;
        if let Some(account) = current.accounts.get(&resource.account) {
            match account.status {
                AccountStatus::Verified => {}
                AccountStatus::Unverified => unusable.push(format!(
                    "account {} is not verified: run `trawl accounts verify {}`",
                    account.id, account.id
                )),
                AccountStatus::Failed => unusable.push(format!(
                    "account {} failed verification: {}",
                    account.id,
                    account.error.as_deref().unwrap_or("unknown error")
                )),
            }
            if !spec.accounts.iter().any(|m| m.id == account.id) {
                spec.accounts.push(MemberAccount {
                    id: account.id.clone(),
                    role_name: account.role_name.clone(),
                    external_id: account.external_id.clone(),
                });
            }
        }
        let classification = match resource.classification {
            Classification::Full => estimate::Classification::Full,
            Classification::None => estimate::Classification::None,
        };
        selections.push(ReviewSelection {
            access,
            selection: BucketSelection {
                account: resource.account.clone(),
                bucket: resource.bucket.clone(),
                prefixes: resource.prefixes.clone(),
                classification,
            },
        });
        if resource.classification == Classification::Full {
            spec.selections.push(Selection {
                account: resource.account.clone(),
                bucket: resource.bucket.clone(),
                prefixes: resource.prefixes.clone(),
            });
        }
    }
    unusable.sort();
    unusable.dedup();
    Ok(Plan {
        selections,
        spec,
        unusable,
    })
}

fn chrono_like_now() -> String {
    let ms = trawl_common::now_ms();
    let (y, m, d) = trawl_common::civil_date(ms);
    let secs = ms / 1000;
    let (hh, mm) = (secs.rem_euclid(86_400) / 3600, secs.rem_euclid(3600) / 60);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC")
}

/// Computes and prints the review, with each bucket's encryption pre-flight; returns it.
pub(crate) async fn print_review(
    clients: &S3Clients,
    pricing: &Pricing,
    plan: &Plan,
    json: bool,
) -> anyhow::Result<ReviewOutcome> {
    let outcome = trawl_coordinator::review::review(clients, pricing, &plan.selections, 8).await?;
    // Default encryption of each listed bucket and whether the workers may use its KMS key,
    // before the job spends anything.
    let mut encryption = Vec::new();
    for selection in &plan.selections {
        let bucket = &selection.selection.bucket;
        if outcome.review.buckets.iter().any(|b| &b.bucket == bucket)
            && !encryption.iter().any(
                |r: &trawl_coordinator::encryption::BucketEncryptionReport| &r.bucket == bucket,
            )
        {
            encryption.push(
                trawl_coordinator::encryption::bucket_encryption_preflight(
                    clients,
                    &selection.access,
                    bucket,
                )
                .await,
            );
        }
    }
    if json {
        let value = serde_json::json!({
            "review": outcome.review,
            "encryption": encryption,
            "problems": outcome.problems,
            "unusable_accounts": plan.unusable,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("{}", outcome.review.render_table());
        println!("Default encryption:");
        for report in &encryption {
            let default = report.default_encryption.as_deref().unwrap_or("unknown");
            println!(
                "  {} ({}): {default}{}",
                report.bucket,
                report.account,
                report
                    .error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            );
            if let Some(key) = &report.kms_key {
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
        for problem in &outcome.problems {
            println!("problem: {problem}");
        }
        for problem in &plan.unusable {
            println!("problem: {problem}");
        }
    }
    Ok(outcome)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_render_in_utc() {
        let rendered = chrono_like_now();
        assert!(
            rendered.len() == 20 && rendered.ends_with(" UTC"),
            "{rendered}"
        );
    }
}
