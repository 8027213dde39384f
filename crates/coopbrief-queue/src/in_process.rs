//! In-process job transport: a tokio unbounded channel behind [`JobQueue`], for tests and
//! single-binary setups. Nothing survives the process.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tracing::debug;

use crate::{Deliveries, Delivery, Error, Job, JobQueue, Result, Settle};

/// A job in the channel, with whether it was handed out before.
type Entry = (Job, bool);

/// An in-process queue. Clones are handles to the same queue; it has at most one consumer.
#[derive(Clone, Debug)]
pub struct InProcessQueue {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    sender: UnboundedSender<Entry>,
    /// Taken by the first `consume`; `None` afterwards, which is how a second call is refused.
    receiver: Mutex<Option<UnboundedReceiver<Entry>>>,
    retry_delays: Vec<Duration>,
    /// Jobs set aside with the reason; kept for the life of the process.
    dead: Mutex<Vec<(Job, String)>>,
}

impl InProcessQueue {
    /// An empty queue with no consumer yet; jobs published before `consume` are buffered.
    pub fn new() -> InProcessQueue {
        InProcessQueue::with_retry_delays(vec![
            Duration::from_millis(200),
            Duration::from_secs(1),
            Duration::from_secs(5),
        ])
    }

    /// A queue whose retries wait these delays (attempt 1 the first, later ones the last).
    pub fn with_retry_delays(retry_delays: Vec<Duration>) -> InProcessQueue {
        let (sender, receiver) = unbounded_channel();
        InProcessQueue {
            inner: Arc::new(Inner {
                sender,
                receiver: Mutex::new(Some(receiver)),
                retry_delays,
                dead: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The jobs dead-lettered so far, with their reasons.
    pub fn dead_letters(&self) -> Vec<(Job, String)> {
        self.inner.dead.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Default for InProcessQueue {
    fn default() -> Self {
        InProcessQueue::new()
    }
}

impl JobQueue for InProcessQueue {
    fn publish(&self, job: Job) -> BoxFuture<'_, Result<()>> {
        let result = send(&self.inner.sender, job, false);
        async move { result }.boxed()
    }

    fn consume(&self) -> BoxFuture<'_, Result<Deliveries>> {
        let taken = self.inner.receiver.lock().unwrap_or_else(PoisonError::into_inner).take();
        let requeue = self.inner.sender.clone();
        async move {
            let mut receiver = taken.ok_or(Error::AlreadyConsuming)?;
            let stream = futures::stream::poll_fn(move |cx| receiver.poll_recv(cx)).map(move |(job, redelivered)| {
                Ok(Delivery {
                    job,
                    redelivered,
                    settle: Settle::InProcess(InProcessSettle { requeue: requeue.clone() }),
                })
            });
            Ok(stream.boxed())
        }
        .boxed()
    }

    fn retry(&self, job: Job) -> BoxFuture<'_, Result<()>> {
        let delay = retry_delay(&self.inner.retry_delays, job.attempt);
        let sender = self.inner.sender.clone();
        let next = Job { attempt: job.attempt + 1, ..job };
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = send(&sender, next, true);
        });
        async { Ok(()) }.boxed()
    }

    fn dead_letter(&self, job: Job, reason: &str) -> BoxFuture<'_, Result<()>> {
        debug!(report_id = %job.report_id, reason, "in-process job dead-lettered");
        self.inner.dead.lock().unwrap_or_else(PoisonError::into_inner).push((job, reason.to_owned()));
        async { Ok(()) }.boxed()
    }
}

fn retry_delay(delays: &[Duration], attempt: u32) -> Duration {
    let index = (attempt.max(1) as usize - 1).min(delays.len().saturating_sub(1));
    delays.get(index).copied().unwrap_or_default()
}

fn send(sender: &UnboundedSender<Entry>, job: Job, redelivered: bool) -> Result<()> {
    sender.send((job, redelivered)).map_err(|rejected| Error::Closed { report_id: (rejected.0).0.report_id })
}

/// Settles an in-process delivery: ack forgets it, nack with requeue sends it back.
#[derive(Debug)]
pub(crate) struct InProcessSettle {
    requeue: UnboundedSender<Entry>,
}

impl InProcessSettle {
    pub(crate) fn ack(self, job: &Job) -> Result<()> {
        debug!(report_id = %job.report_id, "in-process job acked");
        Ok(())
    }

    /// A requeued job goes to the back of the queue (RabbitMQ keeps its position where it
    /// can); nothing here relies on either order.
    pub(crate) fn nack(self, job: Job, requeue: bool) -> Result<()> {
        debug!(report_id = %job.report_id, requeue, "in-process job nacked");
        if requeue { send(&self.requeue, job, true) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;

    use super::*;

    async fn next(deliveries: &mut Deliveries) -> Delivery {
        tokio::time::timeout(Duration::from_secs(1), deliveries.next())
            .await
            .expect("a delivery within 1 s")
            .expect("stream still open")
            .expect("delivery is ok")
    }

    #[tokio::test]
    async fn retry_comes_back_as_the_next_attempt_and_dead_letters_are_kept() {
        let queue = InProcessQueue::with_retry_delays(vec![Duration::from_millis(10)]);
        let mut deliveries = queue.consume().await.expect("consume");
        queue.publish(Job::new("a")).await.expect("publish");
        let first = next(&mut deliveries).await;
        assert_eq!(first.job.attempt, 1);
        queue.retry(first.job.clone()).await.expect("retry");
        first.ack().await.expect("ack");
        let second = next(&mut deliveries).await;
        assert_eq!((second.job.report_id.as_str(), second.job.attempt), ("a", 2));
        queue.dead_letter(second.job.clone(), "gave up").await.expect("dead letter");
        second.ack().await.expect("ack");
        assert_eq!(
            queue.dead_letters(),
            vec![(Job { report_id: "a".into(), attempt: 2, traceparent: None }, "gave up".into())]
        );
    }

    #[tokio::test]
    async fn publish_consume_ack_in_order() {
        let queue = InProcessQueue::new();
        for id in ["a", "b", "c"] {
            queue.publish(Job::new(id)).await.expect("publish");
        }
        let mut deliveries = queue.consume().await.expect("consume");
        for id in ["a", "b", "c"] {
            let delivery = next(&mut deliveries).await;
            assert_eq!(delivery.job, Job::new(id));
            assert!(!delivery.redelivered);
            delivery.ack().await.expect("ack");
        }
        let nothing = tokio::time::timeout(Duration::from_millis(100), deliveries.next()).await;
        assert!(nothing.is_err(), "no delivery expected after all were acked");
    }

    #[tokio::test]
    async fn clone_publishes_to_the_same_queue() {
        let queue = InProcessQueue::new();
        let handle = queue.clone();
        let mut deliveries = queue.consume().await.expect("consume");
        handle.publish(Job::new("from-clone")).await.expect("publish");
        assert_eq!(next(&mut deliveries).await.job, Job::new("from-clone"));
    }

    #[tokio::test]
    async fn nack_with_requeue_redelivers() {
        let queue = InProcessQueue::new();
        queue.publish(Job::new("r1")).await.expect("publish");
        let mut deliveries = queue.consume().await.expect("consume");
        let first = next(&mut deliveries).await;
        assert!(!first.redelivered);
        first.nack(true).await.expect("nack");
        let again = next(&mut deliveries).await;
        assert_eq!(again.job, Job::new("r1"));
        assert!(again.redelivered);
        again.ack().await.expect("ack");
    }

    #[tokio::test]
    async fn nack_without_requeue_drops() {
        let queue = InProcessQueue::new();
        queue.publish(Job::new("gone")).await.expect("publish");
        let mut deliveries = queue.consume().await.expect("consume");
        next(&mut deliveries).await.nack(false).await.expect("nack");
        let nothing = tokio::time::timeout(Duration::from_millis(100), deliveries.next()).await;
        assert!(nothing.is_err(), "a job nacked without requeue must not return");
    }

    #[tokio::test]
    async fn second_consume_errors() {
        let queue = InProcessQueue::new();
        let _deliveries = queue.consume().await.expect("first consume");
        let second = queue.clone().consume().await;
        assert!(matches!(second, Err(Error::AlreadyConsuming)));
    }

    #[tokio::test]
    async fn publish_after_consumer_dropped_errors() {
        let queue = InProcessQueue::new();
        drop(queue.consume().await.expect("consume"));
        let err = queue.publish(Job::new("orphan")).await.expect_err("no consumer left");
        assert!(matches!(err, Error::Closed { ref report_id } if report_id == "orphan"));
    }
}
