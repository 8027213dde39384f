//! Job transport of Coopbrief: one small [`JobQueue`] trait, a RabbitMQ implementation
//! ([`AmqpQueue`], via lapin) and an in-process one ([`InProcessQueue`], a tokio channel).
//!
//! A [`Job`] carries only a report id; the worker loads everything else from the store.
//! Delivery is at-least-once: every [`Delivery`] must be settled with [`Delivery::ack`] or
//! [`Delivery::nack`], and a delivery that is never settled comes back once its consumer is gone.

mod amqp;
mod in_process;

use futures::future::BoxFuture;
use futures::stream::BoxStream;

pub use amqp::{AmqpQueue, AmqpSettings, redact_url};
pub use in_process::InProcessQueue;

/// Where RabbitMQ listens by default (the local development broker).
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// The queue that carries report jobs.
pub const DEFAULT_QUEUE: &str = "coopbrief.reports";
/// Unacked deliveries a consumer holds by default: one, since a render is slow and
/// fair dispatch across workers matters more than throughput.
pub const DEFAULT_PREFETCH: u16 = 1;

/// A report job: only the report's id, no payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub report_id: String,
    /// Which attempt this is: 1 the first time, one more after each retry.
    pub attempt: u32,
    /// The W3C trace context of the span that published the job (a `traceparent` header),
    /// when traces are on; kept through retries and dead-lettering.
    pub traceparent: Option<String>,
}

impl Job {
    /// A first-attempt job for the report with this id.
    pub fn new(report_id: impl Into<String>) -> Job {
        Job { report_id: report_id.into(), attempt: 1, traceparent: None }
    }

    /// The job carrying this trace context.
    pub fn with_traceparent(self, traceparent: Option<String>) -> Job {
        Job { traceparent, ..self }
    }
}

/// The job transport: one small trait, two implementations (RabbitMQ and in-process).
pub trait JobQueue: Send + Sync + 'static {
    /// Publishes and returns only once the transport has taken responsibility
    /// (broker confirm, not returned as unroutable).
    fn publish(&self, job: Job) -> BoxFuture<'_, Result<()>>;

    /// Starts consuming; each delivery must be acked (or nacked) by the caller.
    fn consume(&self) -> BoxFuture<'_, Result<Deliveries>>;

    /// Publishes the job again, as attempt `job.attempt + 1`, to be delivered after the
    /// backoff for its attempt (exponential, through delay queues). The caller then acks
    /// the delivery it came from.
    fn retry(&self, job: Job) -> BoxFuture<'_, Result<()>>;

    /// Sets the job aside in the dead-letter queue with the reason, for an operator to
    /// inspect and replay. The caller then acks the delivery it came from.
    fn dead_letter(&self, job: Job, reason: &str) -> BoxFuture<'_, Result<()>>;
}

/// The deliveries of one consumer. The stream ends when the consumer is cancelled or the
/// transport closes; a transport failure is yielded as an `Err` item first.
pub type Deliveries = BoxStream<'static, Result<Delivery>>;

/// One job handed to a consumer, to be settled exactly once.
#[derive(Debug)]
pub struct Delivery {
    pub job: Job,
    /// The transport has handed this job out before (it was nacked with requeue, or its
    /// consumer went away before settling it).
    pub redelivered: bool,
    settle: Settle,
}

/// How a delivery is settled: through the transport that delivered it.
#[derive(Debug)]
enum Settle {
    Amqp(amqp::AmqpSettle),
    InProcess(in_process::InProcessSettle),
}

impl Delivery {
    /// Tells the transport the job is done; it will not be delivered again.
    pub async fn ack(self) -> Result<()> {
        match self.settle {
            Settle::Amqp(settle) => settle.ack(&self.job).await,
            Settle::InProcess(settle) => settle.ack(&self.job),
        }
    }

    /// Gives the job back: with `requeue` it will be delivered again (with `redelivered`
    /// set), without it the transport drops it (or dead-letters it, if so configured).
    pub async fn nack(self, requeue: bool) -> Result<()> {
        match self.settle {
            Settle::Amqp(settle) => settle.nack(&self.job, requeue).await,
            Settle::InProcess(settle) => settle.nack(self.job, requeue),
        }
    }
}

/// Errors of the job transport.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The broker could not be reached or refused the connection. `url` is redacted.
    #[error("failed to connect to the message broker at {url}")]
    Connect {
        url: String,
        #[source]
        source: lapin::Error,
    },
    /// An AMQP operation failed (channel or connection error).
    #[error("amqp {operation} failed on queue {queue}")]
    Amqp {
        operation: &'static str,
        queue: String,
        #[source]
        source: lapin::Error,
    },
    /// The broker refused responsibility for a published job (publisher confirm nack).
    #[error("broker nacked the job for report {report_id} on queue {queue}")]
    Nacked { queue: String, report_id: String },
    /// The broker returned a mandatory publish as unroutable: no queue took the job.
    #[error(
        "job for report {report_id} was returned as unroutable by the broker \
         (queue {queue} does not exist?): {reply_code} {reply_text}"
    )]
    Unroutable { queue: String, report_id: String, reply_code: u16, reply_text: String },
    /// The publishing channel is not in confirm mode, so nobody confirmed the job.
    #[error("job for report {report_id} on queue {queue} was not confirmed by the broker")]
    NotConfirmed { queue: String, report_id: String },
    /// The ack or nack could not be delivered: its channel is closed or was poisoned,
    /// so the broker will redeliver the job.
    #[error("{operation} of the job for report {report_id} was not delivered: its channel is gone")]
    NotSettled { operation: &'static str, report_id: String },
    /// `consume` was called a second time on an in-process queue.
    #[error("the in-process queue already has a consumer")]
    AlreadyConsuming,
    /// The in-process queue's consumer is gone, so the job has nowhere to go.
    #[error("the in-process queue is closed: job for report {report_id} was not taken")]
    Closed { report_id: String },
}

/// Result of the job transport.
pub type Result<T, E = Error> = std::result::Result<T, E>;
