//! Trawl's worker: consumes classification tasks, streams each object from S3, classifies it
//! and records the result in Redis.
//!
//! # Layout
//! - [`run`]: the consume loop — prefetch-bounded, one spawned handler per delivery on a
//!   `TaskTracker`, graceful drain on shutdown (stop consuming, finish in-flight tasks within a
//!   deadline, close the channel; the broker redelivers whatever was left unacked).
//! - [`process`]: one task: one streamed GET → decide from its headers (archived, SSE-C,
//!   client-side encrypted) or its refusal (KMS key unusable, SSE-C) → classify on the
//!   blocking pool → result record and counters.
//! - [`encryption`]: client-side envelopes, encrypted-file headers and KMS key look-ups.
//! - [`report`]: the result record (protobuf) and its counters in the job, account and bucket
//!   scopes, recorded in one atomic, idempotent Redis step; ack only after it succeeded.
//!
//! Delivery is at-least-once and recording is idempotent (the ledger bit of the task), so
//! every object is counted exactly once however often it is delivered.
#![warn(missing_docs)]

pub mod encryption;
pub mod process;
pub mod report;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use trawl_classifier::Engine;
use trawl_common::amqp::{AmqpError, RabbitQueue, Topology};
use trawl_common::aws::S3Clients;
use trawl_common::config::ServiceConfig;
use trawl_common::queue::{Delivery, Incoming, QueueError, TaskConsumer, TaskQueue};
use trawl_common::retry::{RetryParams, retry};
use trawl_common::store::{JobStatus, JobStore, RecordOutcome, RedisStore, StoreError};
use trawl_proto::Message;
use trawl_proto::v1::ClassifyTask;

use crate::process::Outcome;

/// Errors that stop a worker.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
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

/// Result type of the worker.
pub type Result<T, E = WorkerError> = std::result::Result<T, E>;

/// Tuning of a worker.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Services and endpoints.
    pub service: ServiceConfig,
    /// Unacknowledged deliveries the broker sends at most (basic.qos).
    pub prefetch: u16,
    /// Objects processed at once.
    pub concurrency: usize,
    /// How long in-flight tasks may take to finish after a shutdown signal.
    pub shutdown_deadline: Duration,
    /// Name of this worker in result records and logs.
    pub worker_id: String,
}

impl WorkerConfig {
    /// Returns the default tuning for `service`.
    pub fn new(service: ServiceConfig) -> Self {
        let concurrency = 16;
        Self {
            service,
            prefetch: (concurrency * 2) as u16,
            concurrency,
            shutdown_deadline: Duration::from_secs(25),
            worker_id: format!(
                "{}-{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into()),
                std::process::id()
            ),
        }
    }
}

/// Everything a task handler needs; shared by all handlers of a worker.
pub struct Context<S> {
    /// Job state and results.
    pub store: S,
    /// S3 clients per account.
    pub clients: S3Clients,
    /// The compiled classifier.
    pub engine: Arc<Engine>,
    /// Worker name.
    pub worker_id: String,
    /// Retry policy for S3 calls.
    pub retry: RetryParams,
    /// DescribeKey answers per job and key, shared by all handlers.
    pub kms_keys: encryption::KmsKeyCache,
    /// Job statuses, cached briefly so cancelled jobs are noticed without a store read per task.
    statuses: Mutex<HashMap<String, (Option<JobStatus>, Instant)>>,
    /// Monthly quotas per account, cached briefly.
    quotas: Mutex<HashMap<String, (Option<u64>, Instant)>>,
}

impl<S: JobStore> Context<S> {
    /// Creates a context.
    pub fn new(store: S, clients: S3Clients, engine: Arc<Engine>, worker_id: String) -> Self {
        Self {
            store,
            clients,
            engine,
            worker_id,
            retry: RetryParams {
                base_delay: Duration::from_millis(100),
                max_delay: Duration::from_secs(3),
                max_attempts: 4,
            },
            kms_keys: encryption::KmsKeyCache::default(),
            statuses: Mutex::default(),
            quotas: Mutex::default(),
        }
    }

    /// Drops a job's cached status (after this worker changed it).
    pub fn forget_status(&self, job_id: &str) {
        self.statuses
            .lock()
            .expect("the status cache lock should not be poisoned")
            .remove(job_id);
    }

    /// Drops an account's cached quota.
    pub fn forget_quota(&self, account: &str) {
        self.quotas
            .lock()
            .expect("the quota cache lock should not be poisoned")
            .remove(account);
    }

    /// Returns an account's monthly quota of classified bytes, cached for ten seconds.
    pub async fn quota(&self, account: &str) -> Result<Option<u64>, StoreError> {
        if let Some((quota, at)) = self
            .quotas
            .lock()
            .expect("the quota cache lock should not be poisoned")
            .get(account)
            && at.elapsed() < Duration::from_secs(10)
        {
            return Ok(*quota);
        }
        let quota = self.store.quota(account).await?;
        self.quotas
            .lock()
            .expect("the quota cache lock should not be poisoned")
            .insert(account.to_string(), (quota, Instant::now()));
        Ok(quota)
    }

    /// Returns the job's status, cached for two seconds.
    pub async fn job_status(&self, job_id: &str) -> Result<Option<JobStatus>, StoreError> {
        if let Some((status, at)) = self
            .statuses
            .lock()
            .expect("the status cache lock should not be poisoned")
            .get(job_id)
            && at.elapsed() < Duration::from_secs(2)
        {
            return Ok(*status);
        }
        let status = self.store.job_status(job_id).await?;
        self.statuses
            .lock()
            .expect("the status cache lock should not be poisoned")
            .insert(job_id.to_string(), (status, Instant::now()));
        Ok(status)
    }
}

/// Connects to Redis and RabbitMQ and runs a worker until `shutdown`, then drains.
pub async fn run_distributed(
    config: WorkerConfig,
    engine: Arc<Engine>,
    shutdown: CancellationToken,
) -> Result<()> {
    let connect_timeout = Duration::from_secs(config.service.connect_timeout_secs);
    let store = RedisStore::connect(&config.service.redis_url, connect_timeout).await?;
    let queue = RabbitQueue::connect(
        &config.service.amqp_url,
        &format!("trawl-worker {}", config.worker_id),
        connect_timeout,
        Topology::from_config(&config.service),
        1,
    )
    .await?;
    let clients = S3Clients::from_config(&config.service).await;
    let result = run(config, store, queue.clone(), clients, engine, shutdown).await;
    queue.close().await;
    result
}

/// Runs a worker on `store` and `queue` until `shutdown` is cancelled, then drains in-flight
/// tasks within the configured deadline.
pub async fn run<S: JobStore, Q: TaskQueue>(
    config: WorkerConfig,
    store: S,
    queue: Q,
    clients: S3Clients,
    engine: Arc<Engine>,
    shutdown: CancellationToken,
) -> Result<()> {
    let mut consumer = queue.consumer(&config.worker_id, config.prefetch).await?;
    let ctx = Arc::new(Context::new(
        store,
        clients,
        engine,
        config.worker_id.clone(),
    ));
    let limiter = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let tracker = TaskTracker::new();
    tracing::info!(worker_id = %config.worker_id, queue = %config.service.task_queue, prefetch = config.prefetch, concurrency = config.concurrency, "worker started");

    loop {
        let permit = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            permit = limiter.clone().acquire_owned() => permit.expect("the limiter is never closed"),
        };
        let incoming = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            incoming = consumer.next() => incoming,
        };
        let Some(incoming) = incoming else { break };
        let ctx = ctx.clone();
        tracker.spawn(async move {
            match incoming {
                Incoming::Task(delivery) => handle_task(&ctx, delivery).await,
                Incoming::Dead(delivery) => handle_dead(&ctx, delivery).await,
            }
            drop(permit);
        });
    }

    tracing::info!(in_flight = tracker.len(), "worker draining");
    consumer.stop().await;
    tracker.close();
    if tokio::time::timeout(config.shutdown_deadline, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            in_flight = tracker.len(),
            "shutdown deadline passed; unacked tasks return to the queue"
        );
    }
    tracing::info!("worker stopped");
    Ok(())
}

/// Handles one task delivery: process, record, then ack (or give it back for a retry).
async fn handle_task<S: JobStore, D: Delivery>(ctx: &Context<S>, delivery: D) {
    let task = match ClassifyTask::decode(delivery.data()) {
        Ok(task) => task,
        Err(error) => {
            tracing::error!(error = %error, num_bytes = delivery.data().len(), "message is not a task; parking it");
            delivery.park().await;
            return;
        }
    };
    let maybe_recorded = delivery.redelivered() || task.replayed;
    match process::process(ctx, &task, maybe_recorded).await {
        Outcome::Drop(why) => {
            tracing::debug!(job_id = %task.job_id, seq = task.seq, why, "task dropped");
            delivery.ack().await;
        }
        Outcome::Defer(why) => match ctx.store.defer_task(&task.job_id, delivery.data()).await {
            Ok(()) => {
                tracing::debug!(job_id = %task.job_id, seq = task.seq, why, "task set aside until the job resumes");
                delivery.ack().await;
            }
            Err(error) => {
                tracing::warn!(job_id = %task.job_id, seq = task.seq, error = %error, "cannot set task aside; it goes back to the queue");
                delivery.retry().await;
            }
        },
        Outcome::Result(result) => match record(ctx, &task, &result).await {
            Ok(outcome) => {
                if outcome == RecordOutcome::Duplicate {
                    tracing::debug!(job_id = %task.job_id, seq = task.seq, "result already recorded");
                }
                if outcome == RecordOutcome::Recorded && result.record.size_classified > 0 {
                    let month = trawl_common::month_of(trawl_common::now_ms());
                    if let Err(error) = ctx
                        .store
                        .add_usage(&task.account_id, &month, result.record.size_classified)
                        .await
                    {
                        tracing::warn!(error = %error, "cannot add to the account's monthly usage");
                    }
                }
                delivery.ack().await;
            }
            Err(error) => {
                tracing::warn!(job_id = %task.job_id, seq = task.seq, error = %error, "cannot record result; task goes back to the queue");
                delivery.retry().await;
            }
        },
        Outcome::Retry(message) => {
            tracing::warn!(job_id = %task.job_id, seq = task.seq, error = %message, "transient failure; task goes back to the queue");
            if let Err(error) = ctx
                .store
                .set_last_error(&task.job_id, task.seq, &message)
                .await
            {
                tracing::warn!(error = %error, "cannot store last error");
            }
            delivery.retry().await;
        }
    }
}

/// Handles a dead-lettered task: it kept failing, so it ends as a FAILED result.
async fn handle_dead<S: JobStore, D: Delivery>(ctx: &Context<S>, delivery: D) {
    let Ok(task) = ClassifyTask::decode(delivery.data()) else {
        delivery.park().await;
        return;
    };
    let last_error = ctx
        .store
        .last_error(&task.job_id, task.seq)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| "the task was delivered too often without a result".into());
    tracing::warn!(job_id = %task.job_id, seq = task.seq, bucket = %task.bucket, error = %last_error, "task dead-lettered; recording it as failed");
    let result = report::failed(ctx, &task, &last_error);
    match record(ctx, &task, &result).await {
        Ok(_) => delivery.ack().await,
        Err(error) => {
            tracing::warn!(error = %error, "cannot record failed task; it stays on the dead-letter queue");
            delivery.retry().await;
        }
    }
}

async fn record<S: JobStore>(
    ctx: &Context<S>,
    task: &ClassifyTask,
    result: &report::Report,
) -> Result<RecordOutcome, StoreError> {
    let payload = result.record.encode_to_vec();
    retry(&ctx.retry, StoreError::is_retryable, |_| {
        ctx.store
            .record_result(&task.job_id, task.seq, &payload, &result.counters)
    })
    .await
}
