//! Continuous classification: a resource with a schedule (daily, weekly, monthly) gets a
//! scheduled run when its period has passed since the previous run; the run classifies only
//! objects created or changed since the previous run started (the first one: since the
//! resource was added).

use trawl_common::job::{JobSpec, MemberAccount, Selection};
use trawl_common::state::{Resource, State, StateStore};
use trawl_common::store::JobStore;

use crate::CoordinatorError;

/// What [`run_due`] did.
#[derive(Debug, Default)]
pub struct ScheduledRuns {
    /// The jobs started.
    pub started: Vec<String>,
    /// Resources (`<account>/<bucket>`) whose run could not be started, and why; each is due
    /// again at the next check.
    pub failed: Vec<(String, CoordinatorError)>,
}

/// Starts a job for every scheduled resource that is due at `now_ms` (every scheduled resource
/// when `force`) and records the run on the resource.
///
/// Each run is claimed before it is submitted: the resource's last run moves from what was
/// read to `now_ms` in one atomic step ([`StateStore::swap_last_run`]), so of several
/// coordinators, or a coordinator and `trawl schedules run`, that find the same run due,
/// exactly one starts it, and an edit made to the resource meanwhile is kept (the job uses the
/// resource as claimed). A run whose submission fails is given back (its last run restored)
/// and the other resources still get theirs.
pub async fn run_due<S: JobStore, St: StateStore>(
    store: &S,
    state: &St,
    now_ms: i64,
    force: bool,
) -> Result<ScheduledRuns, CoordinatorError> {
    let current: State = state.load_state().await?;
    let mut runs = ScheduledRuns::default();
    for seen in current.resources.values() {
        let Some(schedule) = seen.schedule else {
            continue;
        };
        let due = force
            || seen
                .last_run_ms
                .is_none_or(|last| now_ms - last >= schedule.period_ms());
        if !due {
            continue;
        }
        let claimed = match state
            .swap_last_run(&seen.account, &seen.bucket, seen.last_run_ms, Some(now_ms))
            .await
        {
            Ok(Some(claimed)) => claimed,
            Ok(None) => {
                tracing::debug!(bucket = %seen.bucket, "scheduled run claimed elsewhere or resource changed");
                continue;
            }
            Err(error) => {
                runs.failed.push((seen.key(), error.into()));
                continue;
            }
        };
        let Some(schedule) = claimed.schedule else {
            // The schedule was removed meanwhile: nothing to run.
            give_back(state, &claimed, now_ms).await;
            continue;
        };
        let since_ms = claimed.last_run_ms.unwrap_or(claimed.added_ms);
        let mut spec = JobSpec {
            name: Some(format!(
                "scheduled {} {}",
                format!("{schedule:?}").to_lowercase(),
                claimed.bucket
            )),
            accounts: Vec::new(),
            selections: vec![Selection {
                account: claimed.account.clone(),
                bucket: claimed.bucket.clone(),
                prefixes: claimed.prefixes.clone(),
            }],
            modified_since_ms: Some(since_ms),
        };
        if let Some(account) = current.accounts.get(&claimed.account) {
            spec.accounts.push(MemberAccount {
                id: account.id.clone(),
                role_name: account.role_name.clone(),
                external_id: account.external_id.clone(),
            });
        }
        match crate::submit(store, &spec).await {
            Ok(id) => {
                tracing::info!(job_id = %id, bucket = %claimed.bucket, since_ms, "scheduled run started");
                runs.started.push(id);
            }
            Err(error) => {
                tracing::warn!(bucket = %claimed.bucket, error = %error, "cannot start a scheduled run; it stays due");
                give_back(state, &claimed, now_ms).await;
                runs.failed.push((claimed.key(), error));
            }
        }
    }
    Ok(runs)
}

/// Gives a claimed run back: the resource's last run returns to what it was, unless it has
/// changed since the claim.
async fn give_back<St: StateStore>(state: &St, claimed: &Resource, now_ms: i64) {
    if let Err(error) = state
        .swap_last_run(
            &claimed.account,
            &claimed.bucket,
            Some(now_ms),
            claimed.last_run_ms,
        )
        .await
    {
        tracing::warn!(bucket = %claimed.bucket, error = %error, "cannot give back a scheduled run; it is due again next period");
    }
}
