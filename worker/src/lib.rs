//! Trawl's worker: consumes classification tasks, streams each object from S3, classifies it
//! and records the result in Redis.
//!
//! # Layout
//! - [`run`]: the consume loop — prefetch-bounded, one spawned handler per delivery on a
//!   `TaskTracker`, graceful drain on shutdown (stop consuming, finish in-flight tasks within a
//!   deadline, close the channel; the broker redelivers whatever was left unacked).
//! - [`process`]: one task: one streamed GET → decide from its headers (archived, SSE-C,
//!   client-side encrypted) → classify on the blocking pool → result record and counters.
//! - [`report`]: the result record (protobuf) and its counters in the job, account and bucket
//!   scopes, recorded in one atomic, idempotent Redis step; ack only after it succeeded.
//!
//! Delivery is at-least-once and recording is idempotent (the ledger bit of the task), so
//! every object is counted exactly once however often it is delivered.
#![warn(missing_docs)]

pub mod process;
pub mod report;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use trawl_classifier::Engine;
use trawl_common::amqp::{AmqpError, Topology};
use trawl_common::aws::S3Clients;
use trawl_common::config::ServiceConfig;
use trawl_common::retry::{RetryParams, retry};
use trawl_common::store::{JobStatus, RecordOutcome, Store, StoreError};
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
pub struct Context {
    /// Redis.
    pub store: Store,
    /// S3 clients per account.
    pub clients: S3Clients,
    /// The compiled classifier.
    pub engine: Arc<Engine>,
    /// Worker name.
    pub worker_id: String,
    /// Retry policy for S3 calls.
    pub retry: RetryParams,
    /// Job statuses, cached briefly so cancelled jobs are noticed without a Redis read per task.
    statuses: Mutex<HashMap<String, (Option<JobStatus>, Instant)>>,
}

impl Context {
    /// Creates a context.
    pub fn new(store: Store, clients: S3Clients, engine: Arc<Engine>, worker_id: String) -> Self {
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
            statuses: Mutex::default(),
        }
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

/// Runs a worker until `shutdown` is cancelled, then drains in-flight tasks.
pub async fn run(
    config: WorkerConfig,
    engine: Arc<Engine>,
    shutdown: CancellationToken,
) -> Result<()> {
    let connect_timeout = Duration::from_secs(config.service.connect_timeout_secs);
    let store = Store::connect(&config.service.redis_url, connect_timeout).await?;
    let connection = trawl_common::amqp::connect(
        &config.service.amqp_url,
        &format!("trawl-worker {}", config.worker_id),
        connect_timeout,
    )
    .await?;
    let protocol = |operation| move |source| AmqpError::Protocol { operation, source };
    let channel = connection
        .create_channel()
        .await
        .map_err(protocol("open channel"))?;
    let topology = Topology::new(&config.service.task_queue);
    topology.declare(&channel).await?;
    channel
        .basic_qos(config.prefetch, BasicQosOptions::default())
        .await
        .map_err(protocol("basic.qos"))?;
    let tag = format!("{}-tasks", config.worker_id);
    let dead_tag = format!("{}-dead", config.worker_id);
    let mut tasks = channel
        .basic_consume(
            topology.tasks.as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(protocol("basic.consume"))?;
    let mut dead = channel
        .basic_consume(
            topology.dead.as_str().into(),
            dead_tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(protocol("basic.consume"))?;

    let clients = S3Clients::from_config(&config.service).await;
    let ctx = Arc::new(Context::new(
        store,
        clients,
        engine,
        config.worker_id.clone(),
    ));
    let limiter = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let tracker = TaskTracker::new();
    tracing::info!(worker_id = %config.worker_id, queue = %topology.tasks, prefetch = config.prefetch, concurrency = config.concurrency, "worker started");

    loop {
        let permit = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            permit = limiter.clone().acquire_owned() => permit.expect("the limiter is never closed"),
        };
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            next = tasks.next() => match next {
                Some(Ok(delivery)) => {
                    let ctx = ctx.clone();
                    let channel = channel.clone();
                    let topology = topology.clone();
                    tracker.spawn(async move {
                        handle_task(&ctx, &channel, &topology, delivery).await;
                        drop(permit);
                    });
                }
                Some(Err(error)) => {
                    tracing::warn!(error = %error, "task consumer error; waiting for recovery");
                    let _ = channel.wait_for_recovery(error).await;
                }
                None => break,
            },
            next = dead.next() => match next {
                Some(Ok(delivery)) => {
                    let ctx = ctx.clone();
                    let channel = channel.clone();
                    let topology = topology.clone();
                    tracker.spawn(async move {
                        handle_dead(&ctx, &channel, &topology, delivery).await;
                        drop(permit);
                    });
                }
                Some(Err(error)) => {
                    tracing::warn!(error = %error, "dead-letter consumer error; waiting for recovery");
                    let _ = channel.wait_for_recovery(error).await;
                }
                None => break,
            },
        }
    }

    tracing::info!(in_flight = tracker.len(), "worker draining");
    for consumer_tag in [tag, dead_tag] {
        if let Err(error) = channel
            .basic_cancel(consumer_tag.as_str().into(), BasicCancelOptions::default())
            .await
        {
            tracing::warn!(error = %error, "cannot cancel consumer");
        }
    }
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
    let _ = channel.close(200, "worker shutting down".into()).await;
    let _ = connection.close(200, "worker shutting down".into()).await;
    tracing::info!("worker stopped");
    Ok(())
}

/// Handles one task delivery: process, record, then ack (or nack for a retry).
async fn handle_task(ctx: &Context, channel: &Channel, topology: &Topology, delivery: Delivery) {
    let task = match ClassifyTask::decode(delivery.data.as_slice()) {
        Ok(task) => task,
        Err(error) => {
            tracing::error!(error = %error, num_bytes = delivery.data.len(), "message is not a task; parking it");
            park(channel, topology, &delivery).await;
            return;
        }
    };
    let outcome = process::process(ctx, &task).await;
    match outcome {
        Outcome::Drop(why) => {
            tracing::debug!(job_id = %task.job_id, seq = task.seq, why, "task dropped");
            ack(&delivery).await;
        }
        Outcome::Result(result) => {
            let recorded = record(ctx, &task, &result).await;
            match recorded {
                Ok(outcome) => {
                    if outcome == RecordOutcome::Duplicate {
                        tracing::debug!(job_id = %task.job_id, seq = task.seq, "result already recorded");
                    }
                    ack(&delivery).await;
                }
                Err(error) => {
                    tracing::warn!(job_id = %task.job_id, seq = task.seq, error = %error, "cannot record result; task goes back to the queue");
                    nack(&delivery).await;
                }
            }
        }
        Outcome::Retry(message) => {
            tracing::warn!(job_id = %task.job_id, seq = task.seq, error = %message, "transient failure; task goes back to the queue");
            if let Err(error) = ctx
                .store
                .set_last_error(&task.job_id, task.seq, &message)
                .await
            {
                tracing::warn!(error = %error, "cannot store last error");
            }
            nack(&delivery).await;
        }
    }
}

/// Handles a dead-lettered task: it kept failing, so it ends as a FAILED result.
async fn handle_dead(ctx: &Context, channel: &Channel, topology: &Topology, delivery: Delivery) {
    let task = match ClassifyTask::decode(delivery.data.as_slice()) {
        Ok(task) => task,
        Err(_) => {
            park(channel, topology, &delivery).await;
            return;
        }
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
        Ok(_) => ack(&delivery).await,
        Err(error) => {
            tracing::warn!(error = %error, "cannot record failed task; it stays on the dead-letter queue");
            nack(&delivery).await;
        }
    }
}

async fn record(
    ctx: &Context,
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

async fn ack(delivery: &Delivery) {
    // After a reconnect the delivery tag is stale: lapin answers Ok(false) and the broker will
    // redeliver; the ledger makes that harmless.
    match delivery.ack(BasicAckOptions::default()).await {
        Ok(true) => {}
        Ok(false) => tracing::debug!("ack after reconnect ignored; the task will be redelivered"),
        Err(error) => tracing::warn!(error = %error, "ack failed; the task will be redelivered"),
    }
}

async fn nack(delivery: &Delivery) {
    let options = BasicNackOptions {
        requeue: true,
        ..Default::default()
    };
    if let Err(error) = delivery.nack(options).await {
        tracing::warn!(error = %error, "nack failed; the task will be redelivered");
    }
}

/// Moves a message that is not a task to the parked queue, then acks it; nothing is dropped.
async fn park(channel: &Channel, topology: &Topology, delivery: &Delivery) {
    let published = channel
        .basic_publish(
            "".into(),
            topology.parked.as_str().into(),
            BasicPublishOptions::default(),
            &delivery.data,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await;
    match published {
        Ok(_) => ack(delivery).await,
        Err(error) => {
            tracing::error!(error = %error, "cannot park message; it goes back to the queue");
            nack(delivery).await;
        }
    }
}
