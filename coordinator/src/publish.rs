//! Publishing tasks with publisher confirms and a bounded confirm window.

use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel};
use trawl_common::amqp::AmqpError;
use trawl_common::retry::RetryParams;
use trawl_proto::Message;
use trawl_proto::v1::ClassifyTask;

use crate::dispatch::DispatchError;

/// Publishes tasks to the task queue on a channel in confirm mode.
#[derive(Clone)]
pub struct Publisher {
    channel: Channel,
    queue: String,
    confirm_window: usize,
}

impl Publisher {
    /// Switches `channel` to confirm mode and publishes to `queue` with at most `confirm_window`
    /// tasks awaiting a confirm at once (backpressure: the broker is never flooded).
    pub async fn new(
        channel: Channel,
        queue: &str,
        confirm_window: usize,
    ) -> Result<Self, AmqpError> {
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|source| AmqpError::Protocol {
                operation: "confirm select",
                source,
            })?;
        Ok(Self {
            channel,
            queue: queue.to_string(),
            confirm_window: confirm_window.max(1),
        })
    }

    /// Publishes tasks, persistent, and waits until the broker confirms every one; at most
    /// `confirm_window` tasks await a confirm at once. Refused tasks are published again.
    pub async fn publish(&self, job_id: &str, tasks: &[ClassifyTask]) -> Result<(), DispatchError> {
        let params = RetryParams {
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_attempts: 8,
        };
        let mut todo: Vec<&ClassifyTask> = tasks.iter().collect();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut refused: Vec<&ClassifyTask> = Vec::new();
            let mut in_flight: FuturesUnordered<BoxFuture<'_, (&ClassifyTask, bool)>> =
                FuturesUnordered::new();
            let mut publish_error = None;
            for task in todo.iter().copied() {
                while in_flight.len() >= self.confirm_window.max(1) {
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
                        self.queue.as_str().into(),
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
                        publish_error = Some(error);
                        refused.push(task);
                        break;
                    }
                }
            }
            while let Some((task, ok)) = in_flight.next().await {
                if !ok {
                    refused.push(task);
                }
            }
            if publish_error.is_some() {
                // Everything after the failed publish was not sent either.
                let sent: std::collections::HashSet<u64> = refused.iter().map(|t| t.seq).collect();
                let start = todo.iter().position(|t| sent.contains(&t.seq)).unwrap_or(0);
                refused.extend(
                    todo[start..]
                        .iter()
                        .copied()
                        .filter(|t| !sent.contains(&t.seq)),
                );
            }
            if refused.is_empty() {
                return Ok(());
            }
            if attempt >= params.max_attempts {
                return Err(DispatchError::Refused {
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
}
