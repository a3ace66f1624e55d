//! The administrator's operations — integrate accounts, select buckets, review, start, follow
//! and control jobs — as one service. The CLI prints what it returns and the HTTP API serves it
//! as JSON, so both always show the same figures and refuse the same inputs with the same words.

use std::collections::BTreeMap;

use serde::{Deserialize as _, Serialize};
use serde_json::Value;
use trawl_common::aws::S3Clients;
use trawl_common::job::{AccountAccess, JobSpec, MemberAccount, Selection, role_arn};
use trawl_common::state::{
    Account, AccountStatus, Classification, Resource, Schedule, State, StateStore,
};
use trawl_common::store::{JobInfo, JobStatus, JobStore, StoreError};

use crate::encryption::BucketEncryptionReport;
use crate::estimate::{self, BucketSelection, Review};
use crate::pricing::{Pricing, PricingConfig};
use crate::review::ReviewSelection;

/// What kind of failure an operation met: it decides the HTTP status and the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorKind {
    /// The input is invalid (a bad account ID, bucket name, option…).
    InvalidArgument,
    /// The account, resource, job or review does not exist.
    NotFound,
    /// The operation conflicts with the current state (a job that cannot be paused, a
    /// selection already made, selections changed since the review…).
    Conflict,
    /// The job may not start as reviewed (unverified accounts, unreadable buckets…).
    Refused,
    /// Redis, S3 or another dependency failed.
    Internal,
}

/// An operation's failure, with a message that names the input and what is wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct AdminError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The message for people.
    pub message: String,
}

impl AdminError {
    /// Returns an error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
}

impl From<StoreError> for AdminError {
    fn from(error: StoreError) -> Self {
        let kind = match error {
            StoreError::NoSuchJob(_) => ErrorKind::NotFound,
            _ => ErrorKind::Internal,
        };
        Self::new(kind, error.to_string())
    }
}

impl From<trawl_common::job::JobError> for AdminError {
    fn from(error: trawl_common::job::JobError) -> Self {
        Self::invalid(error.to_string())
    }
}

impl From<crate::pricing::PricingError> for AdminError {
    fn from(error: crate::pricing::PricingError) -> Self {
        Self::invalid(error.to_string())
    }
}

/// Result of an operation.
pub type AdminResult<T> = Result<T, AdminError>;

/// What happened to one account ID of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountChange {
    /// The account ID.
    pub id: String,
    /// `ADDED`, `ALREADY_INTEGRATED`, `REMOVED` or `NOT_INTEGRATED`.
    pub outcome: &'static str,
}

/// The master account and the integrated members.
#[derive(Debug, Clone, Serialize)]
pub struct AccountsView {
    /// The account whose credentials Trawl runs with, if they could be read.
    pub master: Option<String>,
    /// Member accounts, by ID.
    pub members: Vec<Account>,
}

/// An account's monthly byte quota and what it used this month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuotaView {
    /// The account ID.
    pub account: String,
    /// Bytes it may classify per calendar month (UTC); `None` is no quota.
    pub quota_bytes: Option<u64>,
    /// The month, `YYYY-MM`.
    pub month: String,
    /// Bytes classified in it so far.
    pub used_bytes: u64,
}

/// A selection to add: a bucket, optionally prefixes, in one account.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceInput {
    /// 12-digit account ID (the master or a member).
    pub account: String,
    /// Bucket name.
    pub bucket: String,
    /// Prefixes; none is the whole bucket.
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// Classification of existing objects (default FULL).
    #[serde(default)]
    pub classification: Option<Classification>,
    /// Continuous classification.
    #[serde(default)]
    pub schedule: Option<Schedule>,
}

/// Changes to a selection; absent fields keep their value.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceEdit {
    /// New prefixes; an empty list selects the whole bucket.
    #[serde(default)]
    pub prefixes: Option<Vec<String>>,
    /// New classification of existing objects.
    #[serde(default)]
    pub classification: Option<Classification>,
    /// New schedule: `Some(None)` (JSON `null`) turns continuous classification off.
    #[serde(default, deserialize_with = "present")]
    pub schedule: Option<Option<Schedule>>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Ok(Some(Option::deserialize(deserializer)?))
}

/// A selection as stored, with the problem found when reading its bucket, if any.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceView {
    /// The selection.
    #[serde(flatten)]
    pub resource: Resource,
    /// Why the bucket cannot be classified (missing, access denied…), naming its account.
    pub problem: Option<String>,
}

/// What the selected resources make: the review's selections and the job spec to start.
#[derive(Debug, Clone)]
pub struct Plan {
    /// What the review lists (every selected bucket, FULL or NONE).
    pub selections: Vec<ReviewSelection>,
    /// The job that starts (FULL selections only).
    pub spec: JobSpec,
    /// Accounts a job may not use yet (unverified or failed members), one message each.
    pub unusable: Vec<String>,
}

/// The review shown before a job starts.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewReport {
    /// Per-bucket and total objects, bytes and cost.
    pub review: Review,
    /// Each listed bucket's default encryption and KMS key check.
    pub encryption: Vec<BucketEncryptionReport>,
    /// Buckets that could not be listed, each naming its account.
    pub problems: Vec<String>,
    /// Accounts a job may not use yet.
    pub unusable_accounts: Vec<String>,
    /// Whether a job may start from this review.
    pub startable: bool,
    /// Why not, when it may not.
    pub refusal: Option<String>,
}

/// A job control action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// RUNNING → USER_PAUSED.
    Pause,
    /// USER_PAUSED or PAUSED → RUNNING.
    Resume,
    /// Any live status → CANCELLED.
    Cancel,
}

impl Control {
    /// Parses `pause`, `resume` or `cancel`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pause" => Some(Self::Pause),
            "resume" => Some(Self::Resume),
            "cancel" => Some(Self::Cancel),
            _ => None,
        }
    }

    fn transition(self) -> (JobStatus, &'static [JobStatus]) {
        use JobStatus::*;
        match self {
            Self::Pause => (UserPaused, &[Running]),
            Self::Resume => (Running, &[UserPaused, Paused]),
            Self::Cancel => (Cancelled, &[Created, Running, UserPaused, Paused]),
        }
    }
}

/// A page of result records.
#[derive(Debug, Clone, Serialize)]
pub struct ResultsPage {
    /// Records, oldest first (the shape of `trawl jobs results`).
    pub records: Vec<Value>,
    /// Pass as `after` to read the next page; `None` when this page was the last one so far.
    pub next: Option<String>,
}

/// The administrator's operations on a job store, a state store and AWS.
#[derive(Clone)]
pub struct Admin<S, St> {
    store: S,
    state: St,
    clients: S3Clients,
    pricing: PricingConfig,
}

impl<S: JobStore, St: StateStore> Admin<S, St> {
    /// Returns the service over `store` (jobs), `state` (accounts and resources) and AWS through
    /// `clients`, pricing reviews with `pricing`.
    pub fn new(store: S, state: St, clients: S3Clients, pricing: PricingConfig) -> Self {
        Self {
            store,
            state,
            clients,
            pricing,
        }
    }

    /// Returns the job store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Returns the state store.
    pub fn state(&self) -> &St {
        &self.state
    }

    /// Returns the pricing profile `name`, or the configured default.
    pub fn pricing(&self, name: Option<&str>) -> AdminResult<Pricing> {
        Ok(self.pricing.resolve(name)?)
    }

    /// Returns the names of the pricing profiles.
    pub fn pricing_profiles(&self) -> Vec<String> {
        self.pricing.profile_names()
    }

    async fn master(&self) -> Option<String> {
        trawl_common::aws::caller_account(self.clients.sdk_config())
            .await
            .ok()
    }

    // ---- Accounts -------------------------------------------------------------------------

    /// Integrates the member accounts in `ids` (comma-separated; spaces tolerated). Every ID is
    /// checked first: one bad entry fails the request, naming it, and nothing is added.
    pub async fn add_accounts(
        &self,
        ids: &str,
        role_name: &str,
        external_id: Option<&str>,
    ) -> AdminResult<Vec<AccountChange>> {
        let ids = trawl_common::job::parse_account_ids(ids)?;
        if ids.is_empty() {
            return Err(AdminError::invalid(
                "no account ID given: give one or more 12-digit IDs, comma-separated",
            ));
        }
        check_role_name(role_name)?;
        if let Some(external_id) = external_id {
            check_external_id(external_id)?;
        }
        let current = self.state.load_state().await?;
        let mut changes = Vec::new();
        for id in ids {
            if current.accounts.contains_key(&id) {
                changes.push(AccountChange {
                    id,
                    outcome: "ALREADY_INTEGRATED",
                });
                continue;
            }
            self.state
                .put_account(&Account {
                    id: id.clone(),
                    role_name: role_name.to_string(),
                    external_id: external_id.map(str::to_string),
                    status: AccountStatus::Unverified,
                    error: None,
                    num_buckets: None,
                    added_ms: trawl_common::now_ms(),
                    verified_ms: 0,
                })
                .await?;
            changes.push(AccountChange {
                id,
                outcome: "ADDED",
            });
        }
        Ok(changes)
    }

    /// Returns the master account and the members.
    pub async fn accounts(&self) -> AdminResult<AccountsView> {
        let current = self.state.load_state().await?;
        Ok(AccountsView {
            master: self.master().await,
            members: current.accounts.into_values().collect(),
        })
    }

    /// Verifies the members in `ids` (all when empty): assumes each role with its external ID
    /// and lists its buckets, and records VERIFIED or FAILED with the AWS error. IDs that are
    /// not integrated are reported with status `NOT_INTEGRATED`.
    pub async fn verify_accounts(&self, ids: &str) -> AdminResult<Vec<Verification>> {
        let wanted = trawl_common::job::parse_account_ids(ids)?;
        let current = self.state.load_state().await?;
        let mut outcomes = Vec::new();
        for account in current.accounts.values() {
            if !wanted.is_empty() && !wanted.contains(&account.id) {
                continue;
            }
            let mut account = account.clone();
            let access = member_access(&account);
            let outcome = match self.clients.verify_credentials(&access).await {
                Err(error) => Err(error.to_string()),
                Ok(()) => self
                    .clients
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
                }
                Err(error) => {
                    account.status = AccountStatus::Failed;
                    account.error = Some(error);
                    account.num_buckets = None;
                }
            }
            self.state.put_account(&account).await?;
            outcomes.push(Verification {
                id: account.id.clone(),
                status: account_status_name(account.status),
                role_name: Some(account.role_name.clone()),
                num_buckets: account.num_buckets,
                error: account.error.clone(),
            });
        }
        for id in wanted {
            if !current.accounts.contains_key(&id) {
                outcomes.push(Verification {
                    error: Some(format!("account {id} is not integrated")),
                    id,
                    status: "NOT_INTEGRATED",
                    role_name: None,
                    num_buckets: None,
                });
            }
        }
        Ok(outcomes)
    }

    /// Removes the members in `ids`.
    pub async fn remove_accounts(&self, ids: &str) -> AdminResult<Vec<AccountChange>> {
        let ids = trawl_common::job::parse_account_ids(ids)?;
        let mut changes = Vec::new();
        for id in ids {
            let outcome = if self.state.remove_account(&id).await? {
                "REMOVED"
            } else {
                "NOT_INTEGRATED"
            };
            changes.push(AccountChange { id, outcome });
        }
        Ok(changes)
    }

    /// Returns `id`'s monthly quota and this month's usage.
    pub async fn quota(&self, id: &str) -> AdminResult<QuotaView> {
        check_account_id(id)?;
        let month = trawl_common::month_of(trawl_common::now_ms());
        Ok(QuotaView {
            account: id.to_string(),
            quota_bytes: self.store.quota(id).await?,
            used_bytes: self.store.usage(id, &month).await?,
            month,
        })
    }

    /// Sets (or with `None` removes) `id`'s monthly byte quota.
    pub async fn set_quota(&self, id: &str, quota_bytes: Option<u64>) -> AdminResult<QuotaView> {
        check_account_id(id)?;
        self.store.set_quota(id, quota_bytes).await?;
        self.quota(id).await
    }

    // ---- Resources ------------------------------------------------------------------------

    /// Selects a bucket (and prefixes) in the master or a member account. The bucket is read
    /// once: a missing or unreadable bucket is stored but reported in `problem`.
    pub async fn add_resource(&self, input: ResourceInput) -> AdminResult<ResourceView> {
        check_selection(&input.account, &input.bucket)?;
        let current = self.state.load_state().await?;
        if current
            .resources
            .contains_key(&format!("{}/{}", input.account, input.bucket))
        {
            return Err(AdminError::new(
                ErrorKind::Conflict,
                format!(
                    "bucket {} (account {}) is already selected: edit it instead",
                    input.bucket, input.account
                ),
            ));
        }
        let master = self.master().await;
        let access = access_for(&current, master.as_deref(), &input.account)?;
        let resource = Resource {
            account: input.account,
            bucket: input.bucket,
            prefixes: clean_prefixes(input.prefixes)?,
            classification: input.classification.unwrap_or_default(),
            schedule: input.schedule,
            last_run_ms: None,
            added_ms: trawl_common::now_ms(),
        };
        self.state.put_resource(&resource).await?;
        let problem = self.bucket_problem(&access, &resource.bucket).await;
        Ok(ResourceView { resource, problem })
    }

    /// Changes a selection.
    pub async fn edit_resource(
        &self,
        account: &str,
        bucket: &str,
        edit: ResourceEdit,
    ) -> AdminResult<Resource> {
        check_selection(account, bucket)?;
        let prefixes = edit.prefixes.map(clean_prefixes).transpose()?;
        // Changed in one step on the stored resource, so a scheduled run claimed meanwhile (its
        // `last_run_ms`) or another edit is not overwritten with what was read before.
        let updated = self
            .state
            .update_resource(account, bucket, |resource| {
                if let Some(prefixes) = &prefixes {
                    resource.prefixes.clone_from(prefixes);
                }
                if let Some(classification) = edit.classification {
                    resource.classification = classification;
                }
                if let Some(schedule) = edit.schedule {
                    resource.schedule = schedule;
                }
                true
            })
            .await?;
        let Some((_, resource)) = updated else {
            return Err(AdminError::new(
                ErrorKind::NotFound,
                format!("bucket {bucket} (account {account}) is not selected: add it first"),
            ));
        };
        Ok(resource)
    }

    /// Returns the selections.
    pub async fn resources(&self) -> AdminResult<Vec<Resource>> {
        Ok(self
            .state
            .load_state()
            .await?
            .resources
            .into_values()
            .collect())
    }

    /// Removes a selection.
    pub async fn remove_resource(&self, account: &str, bucket: &str) -> AdminResult<()> {
        check_selection(account, bucket)?;
        if self.state.remove_resource(account, bucket).await? {
            Ok(())
        } else {
            Err(AdminError::new(
                ErrorKind::NotFound,
                format!("bucket {bucket} (account {account}) is not selected"),
            ))
        }
    }

    async fn bucket_problem(&self, access: &AccountAccess, bucket: &str) -> Option<String> {
        let client = self.clients.client(access).await;
        match client.head_bucket().bucket(bucket).send().await {
            Ok(_) => None,
            Err(error) => {
                let failure = trawl_common::s3_error::classify("HeadBucket", bucket, "", &error);
                Some(failure.bucket_problem(&access.account))
            }
        }
    }

    // ---- Review and start -----------------------------------------------------------------

    /// Builds the plan from the selected resources.
    pub async fn plan(&self) -> AdminResult<Plan> {
        let current = self.state.load_state().await?;
        if current.resources.is_empty() {
            return Err(AdminError::new(
                ErrorKind::Refused,
                "no bucket is selected: select one first (trawl resources add --account ID --bucket NAME)",
            ));
        }
        let master = self.master().await;
        let mut selections = Vec::new();
        let mut spec = JobSpec {
            name: Some(format!("classification {}", utc_minute_now())),
            ..JobSpec::default()
        };
        let mut unusable = Vec::new();
        for resource in current.resources.values() {
            let access = access_for(&current, master.as_deref(), &resource.account)?;
            if let Some(account) = current.accounts.get(&resource.account) {
                match account.status {
                    AccountStatus::Verified => {}
                    AccountStatus::Unverified => unusable.push(format!(
                        "account {} is not verified: verify it first (trawl accounts verify {})",
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

    /// Lists every selected bucket and computes the review with pricing profile `profile`
    /// (the configured default when `None`), with each bucket's encryption pre-flight.
    pub async fn review(&self, profile: Option<&str>) -> AdminResult<(Plan, ReviewReport)> {
        let pricing = self.pricing(profile)?;
        let plan = self.plan().await?;
        let outcome = crate::review::review(&self.clients, &pricing, &plan.selections, 8)
            .await
            .map_err(|e| AdminError::new(ErrorKind::Internal, e.to_string()))?;
        let mut encryption: Vec<BucketEncryptionReport> = Vec::new();
        for selection in &plan.selections {
            let bucket = &selection.selection.bucket;
            if outcome.review.buckets.iter().any(|b| &b.bucket == bucket)
                && !encryption.iter().any(|r| &r.bucket == bucket)
            {
                encryption.push(
                    crate::encryption::bucket_encryption_preflight(
                        &self.clients,
                        &selection.access,
                        bucket,
                    )
                    .await,
                );
            }
        }
        let refusal = refusal(&plan, &outcome.problems);
        let report = ReviewReport {
            review: outcome.review,
            encryption,
            problems: outcome.problems,
            unusable_accounts: plan.unusable.clone(),
            startable: refusal.is_none(),
            refusal,
        };
        Ok((plan, report))
    }

    /// Starts exactly what was reviewed: submits `plan`'s job and stores `report`'s figures
    /// beside it. Refused when the review named a problem.
    pub async fn start(&self, plan: &Plan, report: &ReviewReport) -> AdminResult<String> {
        if let Some(refusal) = &report.refusal {
            return Err(AdminError::new(ErrorKind::Refused, refusal.clone()));
        }
        let id = self.submit(&plan.spec).await?;
        let review_json = serde_json::to_string(&report.review)
            .map_err(|e| AdminError::new(ErrorKind::Internal, e.to_string()))?;
        self.store.save_review(&id, &review_json).await?;
        Ok(id)
    }

    /// Validates and submits a job spec (a batch pipeline's own selections).
    pub async fn submit(&self, spec: &JobSpec) -> AdminResult<String> {
        crate::submit(&self.store, spec).await.map_err(|e| match e {
            crate::CoordinatorError::Job(e) => AdminError::invalid(e.to_string()),
            other => AdminError::new(ErrorKind::Internal, other.to_string()),
        })
    }

    // ---- Jobs -----------------------------------------------------------------------------

    /// Returns the most recent jobs.
    pub async fn jobs(&self, limit: usize) -> AdminResult<Vec<JobInfo>> {
        Ok(self.store.list_jobs(limit).await?)
    }

    /// Returns a job with its figures per scope and its running cost beside the estimate.
    pub async fn job(&self, id: &str) -> AdminResult<(JobInfo, BTreeMap<String, i64>, Value)> {
        let job = self.store.job(id).await?;
        let stats = self.store.stats(id).await?;
        let review = self.store.review(id).await?;
        let value = crate::views::job_json(&job, &stats, review.as_deref());
        Ok((job, stats, value))
    }

    /// Pauses, resumes or cancels a job; returns its new status.
    pub async fn control(&self, id: &str, action: Control) -> AdminResult<JobStatus> {
        let (to, from) = action.transition();
        if self.store.transition(id, to, from, None).await? {
            return Ok(to);
        }
        let current = self.store.job(id).await?.status;
        Err(AdminError::new(
            ErrorKind::Conflict,
            format!(
                "job {id} is {} and cannot become {}",
                current.as_str(),
                to.as_str()
            ),
        ))
    }

    /// Reads up to `limit` result records after stream position `after` ("0" for the start),
    /// only those with findings when `findings_only`.
    pub async fn results(
        &self,
        id: &str,
        after: &str,
        limit: usize,
        findings_only: bool,
    ) -> AdminResult<ResultsPage> {
        self.store.job(id).await?;
        let limit = limit.clamp(1, 10_000);
        let mut after = after.to_string();
        let mut records = Vec::new();
        loop {
            let batch = self.store.results(id, &after, limit).await?;
            let Some((last, _)) = batch.last() else {
                return Ok(ResultsPage {
                    records,
                    next: None,
                });
            };
            after = last.clone();
            let full = batch.len() >= limit;
            for (_, record) in &batch {
                if !findings_only || !record.detections.is_empty() {
                    records.push(crate::views::result_json(record));
                }
            }
            if records.len() >= limit || !full {
                return Ok(ResultsPage {
                    records,
                    next: full.then_some(after),
                });
            }
        }
    }
}

/// One account's verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// The account ID.
    pub id: String,
    /// `VERIFIED`, `FAILED` or `NOT_INTEGRATED`.
    pub status: &'static str,
    /// The role assumed.
    pub role_name: Option<String>,
    /// Buckets the role could list.
    pub num_buckets: Option<u64>,
    /// The AWS error, when it failed.
    pub error: Option<String>,
}

fn account_status_name(status: AccountStatus) -> &'static str {
    match status {
        AccountStatus::Unverified => "UNVERIFIED",
        AccountStatus::Verified => "VERIFIED",
        AccountStatus::Failed => "FAILED",
    }
}

/// Why a job may not start from a review, if it may not.
fn refusal(plan: &Plan, problems: &[String]) -> Option<String> {
    if !plan.unusable.is_empty() {
        return Some(format!("the job is refused: {}", plan.unusable.join("; ")));
    }
    if !problems.is_empty() {
        return Some(format!(
            "the job is refused: {} (fix them or remove the buckets from the selection)",
            problems.join("; ")
        ));
    }
    if plan.spec.selections.is_empty() {
        return Some("nothing to classify: every selected bucket has classification NONE".into());
    }
    None
}

fn member_access(account: &Account) -> AccountAccess {
    AccountAccess {
        account: account.id.clone(),
        role_arn: Some(role_arn(&account.id, &account.role_name)),
        external_id: account.external_id.clone(),
    }
}

/// Returns how `account_id` is reached: a member's role, or the master's default credentials.
fn access_for(state: &State, master: Option<&str>, account_id: &str) -> AdminResult<AccountAccess> {
    if let Some(account) = state.accounts.get(account_id) {
        return Ok(member_access(account));
    }
    match master {
        Some(master) if master == account_id => Ok(AccountAccess {
            account: account_id.to_string(),
            role_arn: None,
            external_id: None,
        }),
        Some(master) => Err(AdminError::invalid(format!(
            "account {account_id} is not integrated (add it first) and is not the master account ({master})"
        ))),
        None => Err(AdminError::new(
            ErrorKind::Internal,
            format!(
                "account {account_id} is not integrated, and the master account cannot be determined from the credentials"
            ),
        )),
    }
}

fn check_account_id(id: &str) -> AdminResult<()> {
    if trawl_common::job::is_account_id(id) {
        Ok(())
    } else {
        Err(AdminError::invalid(format!(
            "invalid AWS account ID {id:?}: an account ID is exactly 12 digits"
        )))
    }
}

fn check_selection(account: &str, bucket: &str) -> AdminResult<()> {
    check_account_id(account)?;
    trawl_common::job::check_bucket_name(bucket).map_err(|reason| {
        AdminError::invalid(format!(
            "invalid bucket name {bucket:?} (account {account}): {reason}"
        ))
    })
}

/// IAM role names: 1–64 characters of `[A-Za-z0-9+=,.@_-]`.
fn check_role_name(name: &str) -> AdminResult<()> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    if (1..=64).contains(&name.len()) && name.chars().all(valid_char) {
        Ok(())
    } else {
        Err(AdminError::invalid(format!(
            "invalid role name {name:?}: 1 to 64 letters, digits or +=,.@_-"
        )))
    }
}

/// STS external IDs: 2–1,224 characters of `[\w+=,.@:/-]`.
fn check_external_id(id: &str) -> AdminResult<()> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c);
    if (2..=1224).contains(&id.len()) && id.chars().all(valid_char) {
        Ok(())
    } else {
        Err(AdminError::invalid(
            "invalid external ID: 2 to 1,224 letters, digits or _+=,.@:/- (the value is not shown)",
        ))
    }
}

/// Drops empty prefixes (the whole bucket is no prefix) and refuses absurd ones.
fn clean_prefixes(prefixes: Vec<String>) -> AdminResult<Vec<String>> {
    let mut out = Vec::new();
    for prefix in prefixes {
        if prefix.len() > 1024 {
            return Err(AdminError::invalid(format!(
                "invalid prefix {:?}…: S3 keys are at most 1,024 bytes",
                prefix.chars().take(40).collect::<String>()
            )));
        }
        if !prefix.is_empty() && !out.contains(&prefix) {
            out.push(prefix);
        }
    }
    Ok(out)
}

/// The current minute, `YYYY-MM-DD HH:MM UTC`, for default job names.
pub fn utc_minute_now() -> String {
    let ms = trawl_common::now_ms();
    let (y, m, d) = trawl_common::civil_date(ms);
    let secs = ms / 1000;
    let (hh, mm) = (secs.rem_euclid(86_400) / 3600, secs.rem_euclid(3600) / 60);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_render_in_utc() {
        let rendered = utc_minute_now();
        assert!(
            rendered.len() == 20 && rendered.ends_with(" UTC"),
            "{rendered}"
        );
    }

    #[test]
    fn role_names_and_external_ids_follow_iam_rules() {
        assert!(check_role_name("TrawlClassificationRole").is_ok());
        assert!(check_role_name("path/role").is_err());
        assert!(check_role_name("").is_err());
        assert!(check_external_id("trawl-ext-1").is_ok());
        assert!(check_external_id("x").is_err());
        let error = check_external_id("has space").unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidArgument);
        assert!(!error.message.contains("has space"), "{}", error.message);
    }

    #[test]
    fn prefixes_are_cleaned() {
        assert_eq!(
            clean_prefixes(vec!["a/".into(), "".into(), "a/".into(), "b/".into()]).unwrap(),
            vec!["a/".to_string(), "b/".to_string()]
        );
        assert!(clean_prefixes(vec!["x".repeat(1025)]).is_err());
    }

    #[test]
    fn an_explicit_null_schedule_turns_it_off() {
        let edit: ResourceEdit = serde_json::from_str(r#"{"schedule": null}"#).unwrap();
        assert_eq!(edit.schedule, Some(None));
        let edit: ResourceEdit = serde_json::from_str(r#"{"prefixes": []}"#).unwrap();
        assert_eq!(edit.schedule, None);
        assert_eq!(edit.prefixes, Some(vec![]));
        let edit: ResourceEdit = serde_json::from_str(r#"{"schedule": "DAILY"}"#).unwrap();
        assert_eq!(edit.schedule, Some(Some(Schedule::Daily)));
        assert!(serde_json::from_str::<ResourceEdit>(r#"{"bogus": 1}"#).is_err());
    }

    #[test]
    fn controls_parse() {
        assert_eq!(Control::parse("pause"), Some(Control::Pause));
        assert_eq!(Control::parse("resume"), Some(Control::Resume));
        assert_eq!(Control::parse("cancel"), Some(Control::Cancel));
        assert_eq!(Control::parse("delete"), None);
    }
}
