//! Continuous classification: a resource with a schedule (daily, weekly, monthly) gets a
//! scheduled run when its period has passed since the previous run; the run classifies only
//! objects created or changed since the previous run started (the first one: since the
//! resource was added).

use trawl_common::job::{JobSpec, MemberAccount, Selection};
use trawl_common::state::{State, StateStore};
use trawl_common::store::JobStore;

use crate::CoordinatorError;

/// Starts a job for every scheduled resource that is due at `now_ms` (every scheduled resource
/// when `force`), records the run on the resource, and returns the job IDs.
pub async fn run_due<S: JobStore, St: StateStore>(
    store: &S,
    state: &St,
    now_ms: i64,
    force: bool,
) -> Result<Vec<String>, CoordinatorError> {
    let current: State = state.load_state().await?;
    let mut started = Vec::new();
    for resource in current.resources.values() {
        let Some(schedule) = resource.schedule else {
            continue;
        };
        let since_ms = resource.last_run_ms.unwrap_or(resource.added_ms);
        let due = force
            || resource
                .last_run_ms
                .is_none_or(|last| now_ms - last >= schedule.period_ms());
        if !due {
            continue;
        }
        let mut spec = JobSpec {
            name: Some(format!(
                "scheduled {} {}",
                format!("{schedule:?}").to_lowercase(),
                resource.bucket
            )),
            accounts: Vec::new(),
            selections: vec![Selection {
                account: resource.account.clone(),
                bucket: resource.bucket.clone(),
                prefixes: resource.prefixes.clone(),
            }],
            modified_since_ms: Some(since_ms),
        };
        if let Some(account) = current.accounts.get(&resource.account) {
            spec.accounts.push(MemberAccount {
                id: account.id.clone(),
                role_name: account.role_name.clone(),
                external_id: account.external_id.clone(),
            });
        }
        let id = crate::submit(store, &spec).await?;
        let mut updated = resource.clone();
        updated.last_run_ms = Some(now_ms);
        state.put_resource(&updated).await?;
        tracing::info!(job_id = %id, bucket = %resource.bucket, since_ms, "scheduled run started");
        started.push(id);
    }
    Ok(started)
}
