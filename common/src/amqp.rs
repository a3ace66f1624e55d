//! RabbitMQ connection and topology.
//!
//! Tasks travel on a durable **quorum** queue (`<queue>`) with a delivery limit; a task
//! redelivered more often than that is dead-lettered (at-least-once) through the exchange
//! `<queue>.dlx` into `<queue>.dead`, where a worker turns it into a FAILED result so the job
//! still completes. Messages that are not tasks at all are parked in `<queue>.parked` for a
//! person to look at, never dropped.

use std::time::{Duration, Instant};

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};

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
