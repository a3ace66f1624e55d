//! The task queue behind a trait: RabbitMQ in distributed mode, an in-process queue when Trawl
//! runs embedded. Both have the same semantics:
//! - publishing returns once every task is durably accepted (publisher confirms);
//! - delivery is at-least-once: a task is delivered again until it is acked;
//! - [`Delivery::retry`] gives a task back and counts toward a delivery limit, past which the
//!   task is dead-lettered and arrives as [`Incoming::Dead`], so it still ends as a result;
//! - [`Delivery::park`] sets aside a message that is not a task at all, never dropping it.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use trawl_proto::v1::ClassifyTask;

use crate::amqp::AmqpError;

/// Errors of a task queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// RabbitMQ failed.
    #[error(transparent)]
    Amqp(#[from] AmqpError),
    /// The broker kept refusing tasks.
    #[error("the queue refused {refused} task(s) of job {job_id} after retries")]
    Refused {
        /// Job.
        job_id: String,
        /// Tasks not accepted.
        refused: usize,
    },
}

/// A message from the queue.
#[derive(Debug)]
pub enum Incoming<D> {
    /// A task to process.
    Task(D),
    /// A task that exceeded the delivery limit: record it as failed.
    Dead(D),
}

/// One delivered message; acknowledge it exactly once.
pub trait Delivery: Send + Sync + 'static {
    /// Returns the payload (a protobuf `ClassifyTask`).
    fn data(&self) -> &[u8];
    /// Whether the message was delivered before (to this or another consumer): its result may
    /// already be recorded.
    fn redelivered(&self) -> bool;
    /// Acknowledges the message: it will not be delivered again.
    fn ack(&self) -> impl Future<Output = ()> + Send;
    /// Gives the message back for another delivery (counts toward the delivery limit).
    fn retry(&self) -> impl Future<Output = ()> + Send;
    /// Sets aside a message that is not a task, then acknowledges it.
    fn park(&self) -> impl Future<Output = ()> + Send;
}

/// A consumer of tasks and dead-lettered tasks.
pub trait TaskConsumer: Send + 'static {
    /// The delivery type.
    type Delivery: Delivery;
    /// Waits for the next message; `None` once the consumer is stopped or the queue closed.
    fn next(&mut self) -> impl Future<Output = Option<Incoming<Self::Delivery>>> + Send;
    /// Stops receiving new messages (deliveries already received can still be acked).
    fn stop(&mut self) -> impl Future<Output = ()> + Send;
}

/// A task queue.
pub trait TaskQueue: Clone + Send + Sync + 'static {
    /// The consumer type.
    type Consumer: TaskConsumer;
    /// Publishes tasks; returns once every one is durably accepted.
    fn publish(
        &self,
        job_id: &str,
        tasks: &[ClassifyTask],
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
    /// Starts a consumer that holds at most `prefetch` unacknowledged messages.
    fn consumer(
        &self,
        name: &str,
        prefetch: u16,
    ) -> impl Future<Output = Result<Self::Consumer, QueueError>> + Send;
}

/// An in-process queue with RabbitMQ's semantics (see the module docs). Cheap to clone.
#[derive(Clone, Default)]
pub struct MemoryQueue {
    inner: Arc<MemoryInner>,
}

#[derive(Default)]
struct MemoryInner {
    state: Mutex<MemoryState>,
    notify: Notify,
}

#[derive(Default)]
struct MemoryState {
    ready: VecDeque<Message>,
    dead: VecDeque<Message>,
    parked: Vec<Vec<u8>>,
    unacked: HashMap<u64, Message>,
    next_tag: u64,
    delivery_limit: u32,
}

#[derive(Clone)]
struct Message {
    data: Arc<[u8]>,
    num_deliveries: u32,
}

impl MemoryQueue {
    /// Creates an empty queue with RabbitMQ's default delivery limit of Trawl's topology.
    pub fn new() -> Self {
        let queue = Self::default();
        queue.lock().delivery_limit = crate::amqp::DEFAULT_DELIVERY_LIMIT as u32;
        queue
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.inner
            .state
            .lock()
            .expect("the memory queue lock should not be poisoned")
    }

    /// Returns (ready, unacked, dead, parked) message counts.
    pub fn depths(&self) -> (usize, usize, usize, usize) {
        let state = self.lock();
        (
            state.ready.len(),
            state.unacked.len(),
            state.dead.len(),
            state.parked.len(),
        )
    }
}

impl TaskQueue for MemoryQueue {
    type Consumer = MemoryConsumer;

    async fn publish(&self, _job_id: &str, tasks: &[ClassifyTask]) -> Result<(), QueueError> {
        use trawl_proto::Message as _;
        {
            let mut state = self.lock();
            for task in tasks {
                state.ready.push_back(Message {
                    data: task.encode_to_vec().into(),
                    num_deliveries: 0,
                });
            }
        }
        self.inner.notify.notify_waiters();
        Ok(())
    }

    async fn consumer(&self, _name: &str, _prefetch: u16) -> Result<MemoryConsumer, QueueError> {
        Ok(MemoryConsumer {
            queue: self.clone(),
            stopped: false,
        })
    }
}

/// A consumer of a [`MemoryQueue`].
pub struct MemoryConsumer {
    queue: MemoryQueue,
    stopped: bool,
}

impl TaskConsumer for MemoryConsumer {
    type Delivery = MemoryDelivery;

    async fn next(&mut self) -> Option<Incoming<MemoryDelivery>> {
        loop {
            if self.stopped {
                return None;
            }
            let notified = self.queue.inner.notify.notified();
            {
                let mut state = self.queue.lock();
                let (dead, message) = match state.dead.pop_front() {
                    Some(message) => (true, Some(message)),
                    None => (false, state.ready.pop_front()),
                };
                if let Some(mut message) = message {
                    message.num_deliveries += 1;
                    let tag = state.next_tag;
                    state.next_tag += 1;
                    state.unacked.insert(tag, message.clone());
                    let delivery = MemoryDelivery {
                        queue: self.queue.clone(),
                        tag,
                        data: message.data,
                        redelivered: message.num_deliveries > 1,
                    };
                    return Some(if dead {
                        Incoming::Dead(delivery)
                    } else {
                        Incoming::Task(delivery)
                    });
                }
            }
            notified.await;
        }
    }

    async fn stop(&mut self) {
        self.stopped = true;
    }
}

/// A message delivered by a [`MemoryQueue`].
pub struct MemoryDelivery {
    queue: MemoryQueue,
    tag: u64,
    data: Arc<[u8]>,
    redelivered: bool,
}

impl Delivery for MemoryDelivery {
    fn data(&self) -> &[u8] {
        &self.data
    }

    fn redelivered(&self) -> bool {
        self.redelivered
    }

    async fn ack(&self) {
        self.queue.lock().unacked.remove(&self.tag);
    }

    async fn retry(&self) {
        {
            let mut state = self.queue.lock();
            let Some(message) = state.unacked.remove(&self.tag) else {
                return;
            };
            if message.num_deliveries >= state.delivery_limit {
                state.dead.push_back(Message {
                    data: message.data,
                    num_deliveries: 0,
                });
            } else {
                // Like a quorum queue's return: back at the head, delivery count kept.
                state.ready.push_front(message);
            }
        }
        self.queue.inner.notify.notify_waiters();
    }

    async fn park(&self) {
        let mut state = self.queue.lock();
        if let Some(message) = state.unacked.remove(&self.tag) {
            state.parked.push(message.data.to_vec());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trawl_proto::Message as _;

    fn task(seq: u64) -> ClassifyTask {
        ClassifyTask {
            job_id: "j".into(),
            seq,
            ..Default::default()
        }
    }

    fn seq_of<D: Delivery>(delivery: &D) -> u64 {
        ClassifyTask::decode(delivery.data()).unwrap().seq
    }

    #[tokio::test]
    async fn delivers_in_order_and_forgets_acked_messages() {
        let queue = MemoryQueue::new();
        queue.publish("j", &[task(0), task(1)]).await.unwrap();
        let mut consumer = queue.consumer("c", 10).await.unwrap();
        let Some(Incoming::Task(first)) = consumer.next().await else {
            panic!("a task")
        };
        assert_eq!(seq_of(&first), 0);
        first.ack().await;
        let Some(Incoming::Task(second)) = consumer.next().await else {
            panic!("a task")
        };
        assert_eq!(seq_of(&second), 1);
        assert_eq!(queue.depths(), (0, 1, 0, 0));
        second.ack().await;
        assert_eq!(queue.depths(), (0, 0, 0, 0));
    }

    #[tokio::test]
    async fn retried_past_the_limit_a_task_is_dead_lettered() {
        let queue = MemoryQueue::new();
        queue.publish("j", &[task(7)]).await.unwrap();
        let mut consumer = queue.consumer("c", 10).await.unwrap();
        for attempt in 0..crate::amqp::DEFAULT_DELIVERY_LIMIT {
            let Some(Incoming::Task(delivery)) = consumer.next().await else {
                panic!("a task")
            };
            assert_eq!(delivery.redelivered(), attempt > 0, "delivery {attempt}");
            delivery.retry().await;
        }
        let Some(Incoming::Dead(dead)) = consumer.next().await else {
            panic!("a dead task")
        };
        assert_eq!(seq_of(&dead), 7);
        dead.ack().await;
        assert_eq!(queue.depths(), (0, 0, 0, 0));
    }

    #[tokio::test]
    async fn a_waiting_consumer_wakes_on_publish_and_parks_garbage() {
        let queue = MemoryQueue::new();
        let mut consumer = queue.consumer("c", 10).await.unwrap();
        let waiting = tokio::spawn(async move {
            let Some(Incoming::Task(delivery)) = consumer.next().await else {
                panic!("a task")
            };
            delivery.park().await;
        });
        tokio::task::yield_now().await;
        queue.publish("j", &[task(1)]).await.unwrap();
        waiting.await.unwrap();
        assert_eq!(queue.depths(), (0, 0, 0, 1));
    }
}
