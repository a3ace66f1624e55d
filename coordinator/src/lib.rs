//! Trawl's coordinator: turns a job's selections into per-object classification tasks.
//!
//! # Layout
//! - [`submit`]: validates a job spec and stores it as CREATED for a coordinator to claim.
//! - [`run`]: the long-running service. It holds a lease in Redis (one active coordinator,
//!   others stand by), resumes RUNNING jobs whose listing was interrupted, and claims submitted
//!   ones.
//! - [`dispatch`]: pre-flight (credentials, buckets), then the listing of every selected
//!   bucket and prefix — concurrently across buckets, page by page, never holding a whole
//!   listing — and the publishing of one protobuf task per object with publisher confirms and a
//!   bounded confirm window. See `README.md` beside this file for how selections become tasks.
#![warn(missing_docs)]

pub mod admin;
pub mod api;
pub mod dispatch;
pub mod encryption;
pub mod estimate;
pub mod pricing;
pub mod review;
pub mod schedule;
pub mod views;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use trawl_common::amqp::{AmqpError, RabbitQueue, Topology};
use trawl_common::aws::S3Clients;
use trawl_common::config::ServiceConfig;
use trawl_common::job::{JobError, JobSpec};
use trawl_common::queue::{QueueError, TaskQueue};
use trawl_common::store::{JobStore, RedisStore, StoreError};

pub use dispatch::DispatchError;

/// Errors of the coordinator.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// The job is invalid.
    #[error(transparent)]
    Job(#[from] JobError),
    /// Redis failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// RabbitMQ failed.
    #[error(transparent)]
    Amqp(#[from] AmqpError),
    /// The task queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Tuning of the coordinator.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// Services and endpoints.
    pub service: ServiceConfig,
    /// Published tasks awaiting a broker confirm, at most.
    pub confirm_window: usize,
    /// Buckets listed at once.
    pub list_concurrency: usize,
    /// Keys per ListObjectsV2 page (S3 caps it at 1,000).
    pub page_size: i32,
}

impl CoordinatorConfig {
    /// Returns the default tuning for `service`.
    pub fn new(service: ServiceConfig) -> Self {
        Self {
            service,
            confirm_window: 4096,
            list_concurrency: 8,
            page_size: 1000,
        }
    }
}

/// Validates `spec` and stores it as a CREATED job for a coordinator; returns the job ID.
pub async fn submit<S: JobStore>(store: &S, spec: &JobSpec) -> Result<String, CoordinatorError> {
    let plan = spec.validate()?;
    let id = trawl_common::store::new_job_id();
    let spec_json = serde_json::to_string(spec).expect("a job spec should serialise to JSON");
    let plan_json = serde_json::to_string(&plan).expect("a job plan should serialise to JSON");
    store
        .create_job(&id, &plan.name, &spec_json, &plan_json)
        .await?;
    tracing::info!(job_id = %id, name = %plan.name, buckets = plan.buckets.len(), "job submitted");
    Ok(id)
}

/// Connects to Redis and RabbitMQ and runs the coordinator service until `shutdown`.
pub async fn run_distributed(
    config: CoordinatorConfig,
    shutdown: CancellationToken,
) -> Result<(), CoordinatorError> {
    let connect_timeout = Duration::from_secs(config.service.connect_timeout_secs);
    let store = RedisStore::connect(&config.service.redis_url, connect_timeout)
        .await?
        .for_queue(&config.service.task_queue);
    let queue = RabbitQueue::connect(
        &config.service.amqp_url,
        "trawl-coordinator",
        connect_timeout,
        Topology::from_config(&config.service),
        config.confirm_window,
    )
    .await?;
    let clients = S3Clients::from_config(&config.service).await;
    // Scheduled runs of continuous classification, checked every minute.
    let schedules = {
        let (store, shutdown) = (store.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                match schedule::run_due(&store, &store, trawl_common::now_ms(), false).await {
                    Ok(runs) => {
                        for (resource, error) in runs.failed {
                            tracing::warn!(resource, error = %error, "cannot start a scheduled run");
                        }
                    }
                    Err(error) => tracing::warn!(error = %error, "cannot start scheduled runs"),
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                }
            }
        })
    };
    let result = run(config, store, queue.clone(), clients, shutdown).await;
    schedules.abort();
    queue.close().await;
    result
}

/// Runs the coordinator service on `store` and `queue` until `shutdown` is cancelled.
pub async fn run<S: JobStore, Q: TaskQueue>(
    config: CoordinatorConfig,
    store: S,
    queue: Q,
    clients: S3Clients,
    shutdown: CancellationToken,
) -> Result<(), CoordinatorError> {
    let dispatcher = Arc::new(dispatch::Dispatcher::new(
        store.clone(),
        queue,
        clients,
        config.clone(),
        shutdown.clone(),
    ));

    let holder = format!("{}-{}", hostname(), std::process::id());
    let running: Arc<Mutex<HashSet<String>>> = Arc::default();
    let tracker = TaskTracker::new();
    let mut holding = false;
    tracing::info!(holder = %holder, queue = %config.service.task_queue, "coordinator started");
    while !shutdown.is_cancelled() {
        let held = match store
            .hold_coordinator_lease(&holder, Duration::from_secs(10))
            .await
        {
            Ok(held) => held,
            Err(error) => {
                tracing::warn!(error = %error, "cannot renew coordinator lease");
                false
            }
        };
        if held != holding {
            tracing::info!(held, "coordinator lease changed");
            holding = held;
        }
        if !held {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
            }
        }
        // Resume jobs whose listing a previous coordinator left unfinished.
        match store
            .jobs_in_status(trawl_common::store::JobStatus::Running)
            .await
        {
            Ok(ids) => {
                for id in ids {
                    spawn_job(&tracker, &dispatcher, &running, id);
                }
            }
            Err(error) => tracing::warn!(error = %error, "cannot list running jobs"),
        }
        let claimed = tokio::select! {
            _ = shutdown.cancelled() => break,
            claimed = store.claim_pending(Duration::from_secs(1)) => claimed,
        };
        match claimed {
            Ok(Some(id)) => spawn_job(&tracker, &dispatcher, &running, id),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(error = %error, "cannot claim pending jobs");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    tracing::info!("coordinator stopping");
    tracker.close();
    // Dispatch loops watch the same token; they stop between pages, leaving checkpoints.
    tracker.wait().await;
    if holding && let Err(error) = store.release_coordinator_lease(&holder).await {
        tracing::warn!(error = %error, "cannot release coordinator lease");
    }
    Ok(())
}

fn spawn_job<S: JobStore, Q: TaskQueue>(
    tracker: &TaskTracker,
    dispatcher: &Arc<dispatch::Dispatcher<S, Q>>,
    running: &Arc<Mutex<HashSet<String>>>,
    id: String,
) {
    {
        let mut set = running
            .lock()
            .expect("the running-jobs lock should not be poisoned");
        if !set.insert(id.clone()) {
            return;
        }
    }
    let dispatcher = dispatcher.clone();
    let running = running.clone();
    tracker.spawn(async move {
        if let Err(error) = dispatcher.run_job(&id).await {
            tracing::error!(job_id = %id, error = %error, "job dispatch stopped");
        }
        running
            .lock()
            .expect("the running-jobs lock should not be poisoned")
            .remove(&id);
    });
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "coordinator".into())
}
