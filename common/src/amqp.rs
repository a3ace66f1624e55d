//! RabbitMQ connection and topology.
//!
//! Tasks travel on a durable **quorum** queue (`<queue>`) with a delivery limit; a task
//! redelivered more often than that is dead-lettered (at-least-once) through the exchange
//! `<queue>.dlx` into `<queue>.dead`, where a worker turns it into a FAILED result so the job
//! still completes. Messages that are not tasks at all are parked in `<queue>.parked` for a
//! person to look at, never dropped.

use std::time::{Duration, Instant};

use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use trawl_proto::Message as _;
use trawl_proto::v1::ClassifyTask;

/// Deliveries of one task before it is dead-lettered.
pub const DEFAULT_DELIVERY_LIMIT: i64 = 5;

/// Errors talking to RabbitMQ.
#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    /// The broker could not be reached within the connect timeout.
    #[error("cannot reach RabbitMQ at {url} after {waited_secs} s: {message}")]
    Unreachable {
        /// The URL, password redacted.
        url: String,
        /// How long we tried.
        waited_secs: u64,
        /// The last connection error.
        message: String,
    },
    /// A protocol-level failure (declare, publish, consume).
    #[error("rabbitmq {operation} failed: {source}")]
    Protocol {
        /// What we were doing.
        operation: &'static str,
        /// The lapin error.
        source: lapin::Error,
    },
}

/// Names of the queues and exchange derived from the task queue's name.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Task queue.
    pub tasks: String,
    /// Dead-letter exchange.
    pub dead_letter_exchange: String,
    /// Dead-letter queue.
    pub dead: String,
    /// Queue for messages that are not tasks.
    pub parked: String,
    /// Deliveries before dead-lettering.
    pub delivery_limit: i64,
    /// Delete the queues after this long unused (`x-expires`), if set.
    pub expires_ms: Option<u64>,
}

impl Topology {
    /// Derives the topology from the task queue name.
    pub fn new(task_queue: &str) -> Self {
        Self {
            tasks: task_queue.to_string(),
            dead_letter_exchange: format!("{task_queue}.dlx"),
            dead: format!("{task_queue}.dead"),
            parked: format!("{task_queue}.parked"),
            delivery_limit: DEFAULT_DELIVERY_LIMIT,
            expires_ms: None,
        }
    }

    /// Derives the topology of the configured task queue.
    pub fn from_config(config: &crate::config::ServiceConfig) -> Self {
        Self {
            expires_ms: config.queue_expires_ms,
            ..Self::new(&config.task_queue)
        }
    }

    /// Declares the queues and exchange (idempotent; every process does it at start-up).
    pub async fn declare(&self, channel: &Channel) -> Result<(), AmqpError> {
        let protocol = |operation| move |source| AmqpError::Protocol { operation, source };
        channel
            .exchange_declare(
                self.dead_letter_exchange.as_str().into(),
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(protocol("exchange declare"))?;
        let mut quorum = FieldTable::default();
        quorum.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(LongString::from("quorum")),
        );
        if let Some(ms) = self.expires_ms {
            // Every queue of the topology goes once unused (tests, benchmarks).
            quorum.insert(
                "x-expires".into(),
                AMQPValue::LongLongInt(i64::try_from(ms).unwrap_or(i64::MAX)),
            );
        }
        for queue in [&self.dead, &self.parked] {
            channel
                .queue_declare(queue.as_str().into(), durable(), quorum.clone())
                .await
                .map_err(protocol("queue declare"))?;
        }
        channel
            .queue_bind(
                self.dead.as_str().into(),
                self.dead_letter_exchange.as_str().into(),
                self.dead.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(protocol("queue bind"))?;
        let mut args = quorum;
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(self.delivery_limit),
        );
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(LongString::from(self.dead_letter_exchange.as_str())),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(LongString::from(self.dead.as_str())),
        );
        // At-least-once dead-lettering: a dead-lettered task is never lost on the way.
        args.insert(
            "x-dead-letter-strategy".into(),
            AMQPValue::LongString(LongString::from("at-least-once")),
        );
        args.insert(
            "x-overflow".into(),
            AMQPValue::LongString(LongString::from("reject-publish")),
        );
        channel
            .queue_declare(self.tasks.as_str().into(), durable(), args)
            .await
            .map_err(protocol("queue declare"))?;
        Ok(())
    }
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..Default::default()
    }
}

/// Connects to RabbitMQ, retrying with backoff until `timeout`, with automatic recovery
/// (reconnect and topology replay) turned on for the life of the connection.
pub async fn connect(url: &str, name: &str, timeout: Duration) -> Result<Connection, AmqpError> {
    let started = Instant::now();
    let mut attempt = 0;
    let params = crate::retry::RetryParams {
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(3),
        max_attempts: u32::MAX,
    };
    loop {
        attempt += 1;
        let properties = ConnectionProperties::default()
            .with_connection_name(LongString::from(name))
            .enable_auto_recover();
        // lapin's own reconnect backoff also applies to the first connection; bound each attempt
        // by what is left of the timeout so an unreachable broker fails on time.
        let remaining = timeout
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(100));
        let attempt_result =
            match tokio::time::timeout(remaining, Connection::connect(url, properties)).await {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no connection within {} ms", remaining.as_millis())),
            };
        match attempt_result {
            Ok(connection) => return Ok(connection),
            Err(error) => {
                let delay = params.delay(attempt);
                if started.elapsed() + delay >= timeout {
                    return Err(AmqpError::Unreachable {
                        url: crate::redact_url(url),
                        waited_secs: started.elapsed().as_secs(),
                        message: error,
                    });
                }
                tracing::warn!(url = %crate::redact_url(url), attempt, error = %error, "rabbitmq not reachable yet, retrying");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Returns the number of times a message was delivered before, from the quorum queue's
/// `x-delivery-count` header (absent on the first delivery).
pub fn delivery_count(properties: &lapin::BasicProperties) -> i64 {
    properties
        .headers()
        .as_ref()
        .and_then(|headers| {
            headers
                .inner()
                .get(&ShortString::from("x-delivery-count"))
                .cloned()
        })
        .and_then(|value| match value {
            AMQPValue::LongLongInt(n) => Some(n),
            AMQPValue::LongInt(n) => Some(n as i64),
            AMQPValue::LongUInt(n) => Some(n as i64),
            AMQPValue::ShortInt(n) => Some(n as i64),
            _ => None,
        })
        .unwrap_or(0)
}

/// The RabbitMQ task queue: publishes on a channel in confirm mode with a bounded confirm
/// window; each consumer gets its own channel with `basic.qos(prefetch)`.
#[derive(Clone)]
pub struct RabbitQueue {
    connection: std::sync::Arc<Connection>,
    channel: Channel,
    topology: Topology,
    confirm_window: usize,
}

impl RabbitQueue {
    /// Connects (retrying until `timeout`), declares the topology and enables confirms.
    pub async fn connect(
        url: &str,
        name: &str,
        timeout: Duration,
        topology: Topology,
        confirm_window: usize,
    ) -> Result<Self, AmqpError> {
        let connection = connect(url, name, timeout).await?;
        let protocol = |operation| move |source| AmqpError::Protocol { operation, source };
        let channel = connection
            .create_channel()
            .await
            .map_err(protocol("open channel"))?;
        topology.declare(&channel).await?;
        channel
            .confirm_select(lapin::options::ConfirmSelectOptions::default())
            .await
            .map_err(protocol("confirm select"))?;
        Ok(Self {
            connection: std::sync::Arc::new(connection),
            channel,
            topology,
            confirm_window: confirm_window.max(1),
        })
    }

    /// Returns the topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Returns the publishing channel (tests and tools).
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Closes the channel and the connection.
    pub async fn close(&self) {
        let _ = self.channel.close(200, "closing".into()).await;
        let _ = self.connection.close(200, "closing".into()).await;
    }
}

impl crate::queue::TaskQueue for RabbitQueue {
    type Consumer = RabbitConsumer;

    /// Publishes tasks, persistent, and waits until the broker confirms every one; at most
    /// `confirm_window` tasks await a confirm at once. Refused tasks are published again.
    async fn publish(
        &self,
        job_id: &str,
        tasks: &[ClassifyTask],
    ) -> Result<(), crate::queue::QueueError> {
        use futures::stream::{FuturesUnordered, StreamExt};
        let params = crate::retry::RetryParams {
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_attempts: 8,
        };
        let mut todo: Vec<&ClassifyTask> = tasks.iter().collect();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut refused: Vec<&ClassifyTask> = Vec::new();
            let mut in_flight: FuturesUnordered<
                futures::future::BoxFuture<'_, (&ClassifyTask, bool)>,
            > = FuturesUnordered::new();
            let mut publish_error = None;
            for (index, task) in todo.iter().copied().enumerate() {
                while in_flight.len() >= self.confirm_window {
                    if let Some((task, ok)) = in_flight.next().await
                        && !ok
                    {
                        refused.push(task);
                    }
                }
                let properties = BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_content_type("application/x-protobuf".into())
                    .with_message_id(format!("{}:{}", task.job_id, task.seq).into());
                match self
                    .channel
                    .basic_publish(
                        "".into(),
                        self.topology.tasks.as_str().into(),
                        BasicPublishOptions::default(),
                        &task.encode_to_vec(),
                        properties,
                    )
                    .await
                {
                    Ok(confirm) => in_flight.push(Box::pin(async move {
                        let ok = matches!(confirm.await, Ok(c) if c.is_ack());
                        (task, ok)
                    })),
                    Err(error) => {
                        // This task and every one after it were not sent.
                        refused.extend(todo[index..].iter().copied());
                        publish_error = Some(error);
                        break;
                    }
                }
            }
            while let Some((task, ok)) = in_flight.next().await {
                if !ok {
                    refused.push(task);
                }
            }
            if refused.is_empty() {
                return Ok(());
            }
            if attempt >= params.max_attempts {
                return Err(crate::queue::QueueError::Refused {
                    job_id: job_id.to_string(),
                    refused: refused.len(),
                });
            }
            tracing::warn!(job_id, refused = refused.len(), attempt, error = ?publish_error.as_ref().map(ToString::to_string), "tasks not confirmed, publishing again");
            tokio::time::sleep(params.delay(attempt)).await;
            if let Some(error) = publish_error {
                // With auto-recovery on, wait until lapin has reconnected before publishing again.
                let _ = self.channel.wait_for_recovery(error).await;
            }
            todo = refused;
        }
    }

    async fn consumer(
        &self,
        name: &str,
        prefetch: u16,
    ) -> Result<RabbitConsumer, crate::queue::QueueError> {
        let protocol = |operation| move |source| AmqpError::Protocol { operation, source };
        let channel = self
            .connection
            .create_channel()
            .await
            .map_err(protocol("open channel"))?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(protocol("basic.qos"))?;
        let tasks_tag = format!("{name}-tasks");
        let dead_tag = format!("{name}-dead");
        let tasks = channel
            .basic_consume(
                self.topology.tasks.as_str().into(),
                tasks_tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(protocol("basic.consume"))?;
        let dead = channel
            .basic_consume(
                self.topology.dead.as_str().into(),
                dead_tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(protocol("basic.consume"))?;
        Ok(RabbitConsumer {
            channel,
            tasks,
            dead,
            tags: vec![tasks_tag, dead_tag],
            parked: self.topology.parked.clone(),
            stopped: false,
        })
    }
}

/// A consumer of the task and dead-letter queues on its own channel.
pub struct RabbitConsumer {
    channel: Channel,
    tasks: lapin::Consumer,
    dead: lapin::Consumer,
    tags: Vec<String>,
    parked: String,
    stopped: bool,
}

impl crate::queue::TaskConsumer for RabbitConsumer {
    type Delivery = RabbitDelivery;

    async fn next(&mut self) -> Option<crate::queue::Incoming<RabbitDelivery>> {
        use crate::queue::Incoming;
        use futures::StreamExt;
        loop {
            if self.stopped {
                return None;
            }
            let (dead, next) = tokio::select! {
                next = self.tasks.next() => (false, next),
                next = self.dead.next() => (true, next),
            };
            match next {
                Some(Ok(delivery)) => {
                    let delivery = RabbitDelivery {
                        delivery,
                        channel: self.channel.clone(),
                        parked: self.parked.clone(),
                    };
                    return Some(if dead {
                        Incoming::Dead(delivery)
                    } else {
                        Incoming::Task(delivery)
                    });
                }
                Some(Err(error)) => {
                    tracing::warn!(error = %error, "consumer error; waiting for recovery");
                    if self.channel.wait_for_recovery(error).await.is_err() {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                None => return None,
            }
        }
    }

    async fn stop(&mut self) {
        self.stopped = true;
        for tag in &self.tags {
            if let Err(error) = self
                .channel
                .basic_cancel(
                    tag.as_str().into(),
                    lapin::options::BasicCancelOptions::default(),
                )
                .await
            {
                tracing::warn!(error = %error, "cannot cancel consumer");
            }
        }
    }
}

/// A RabbitMQ delivery.
pub struct RabbitDelivery {
    delivery: lapin::message::Delivery,
    channel: Channel,
    parked: String,
}

impl crate::queue::Delivery for RabbitDelivery {
    fn data(&self) -> &[u8] {
        &self.delivery.data
    }

    fn redelivered(&self) -> bool {
        self.delivery.redelivered
    }

    async fn ack(&self) {
        // After a reconnect the delivery tag is stale: lapin answers Ok(false) and the broker
        // redelivers; the ledger makes that harmless.
        match self
            .delivery
            .ack(lapin::options::BasicAckOptions::default())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!("ack after reconnect ignored; the task will be redelivered")
            }
            Err(error) => {
                tracing::warn!(error = %error, "ack failed; the task will be redelivered")
            }
        }
    }

    async fn retry(&self) {
        let options = lapin::options::BasicNackOptions {
            requeue: true,
            ..Default::default()
        };
        if let Err(error) = self.delivery.nack(options).await {
            tracing::warn!(error = %error, "nack failed; the task will be redelivered");
        }
    }

    async fn park(&self) {
        let published = self
            .channel
            .basic_publish(
                "".into(),
                self.parked.as_str().into(),
                BasicPublishOptions::default(),
                &self.delivery.data,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await;
        match published {
            Ok(_) => self.ack().await,
            Err(error) => {
                tracing::error!(error = %error, "cannot park message; it goes back to the queue");
                self.retry().await;
            }
        }
    }
}
