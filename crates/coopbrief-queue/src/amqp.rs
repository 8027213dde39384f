//! RabbitMQ job transport (lapin): one connection, a publishing channel in confirm mode,
//! one channel per consumer, and a durable quorum queue declared idempotently on connect.

use std::fmt;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tracing::{debug, info, warn};

use crate::{
    DEFAULT_AMQP_URL, DEFAULT_PREFETCH, DEFAULT_QUEUE, Deliveries, Delivery, Error, Job, JobQueue, Result, Settle,
};

/// AMQP delivery mode that makes the broker write the message to disk.
const PERSISTENT: u8 = 2;

/// Where and how to reach RabbitMQ. `Debug` and [`AmqpSettings::redacted_url`] hide the password.
#[derive(Clone)]
pub struct AmqpSettings {
    /// `amqp://user:password@host:port/vhost` (the vhost URL-encoded, `%2f` for `/`).
    pub url: String,
    pub queue: String,
    /// Unacked deliveries one consumer may hold (`basic.qos`).
    pub prefetch: u16,
}

impl AmqpSettings {
    /// The url with its password replaced by `***`, safe to log.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

impl Default for AmqpSettings {
    fn default() -> Self {
        AmqpSettings { url: DEFAULT_AMQP_URL.to_owned(), queue: DEFAULT_QUEUE.to_owned(), prefetch: DEFAULT_PREFETCH }
    }
}

impl fmt::Debug for AmqpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpSettings")
            .field("url", &self.redacted_url())
            .field("queue", &self.queue)
            .field("prefetch", &self.prefetch)
            .finish()
    }
}

impl fmt::Display for AmqpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} queue {}", self.redacted_url(), self.queue)
    }
}

/// Replaces the password of `scheme://user:password@host/...` with `***`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // Not a URL we understand: anything before an `@` may be a secret.
        return match url.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => url.to_owned(),
        };
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// The RabbitMQ job queue. Dropping it closes the connection once no consumer or
/// unsettled delivery still holds one of its channels.
pub struct AmqpQueue {
    settings: AmqpSettings,
    connection: Connection,
    /// In confirm mode, so that `publish` can wait for the broker to take responsibility.
    publisher: Channel,
}

impl fmt::Debug for AmqpQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpQueue").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl AmqpQueue {
    /// Connects, declares the queue (durable, quorum; a no-op if it already exists with
    /// the same arguments) and opens the publishing channel in confirm mode.
    pub async fn connect(settings: AmqpSettings) -> Result<AmqpQueue> {
        let url = settings.redacted_url();
        let properties = ConnectionProperties::default().with_connection_name("coopbrief-queue".into());
        let connection = Connection::connect(&settings.url, properties)
            .await
            .map_err(|source| Error::Connect { url: url.clone(), source })?;
        let publisher = connection.create_channel().await.map_err(amqp_error("channel.open", &settings.queue))?;
        declare_queue(&publisher, &settings.queue).await?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(amqp_error("confirm.select", &settings.queue))?;
        info!(url = %url, queue = %settings.queue, prefetch = settings.prefetch, "connected to the message broker");
        Ok(AmqpQueue { settings, connection, publisher })
    }

    /// The settings this queue was connected with.
    pub fn settings(&self) -> &AmqpSettings {
        &self.settings
    }

    /// Closes the connection gracefully. Unacked deliveries of its consumers go back to
    /// the queue, and settling them afterwards fails.
    pub async fn close(&self) -> Result<()> {
        self.connection.close(200, "OK".into()).await.map_err(amqp_error("connection.close", &self.settings.queue))?;
        info!(queue = %self.settings.queue, "closed the broker connection");
        Ok(())
    }

    /// Deletes the queue with whatever it holds and returns how many messages that was.
    /// For tests and tooling: the service never deletes its queue.
    pub async fn delete_queue(&self) -> Result<u32> {
        let dropped = self
            .publisher
            .queue_delete(self.settings.queue.as_str().into(), QueueDeleteOptions::default())
            .await
            .map_err(amqp_error("queue.delete", &self.settings.queue))?;
        info!(queue = %self.settings.queue, dropped, "deleted queue");
        Ok(dropped)
    }

    async fn publish_job(&self, job: Job) -> Result<()> {
        let queue = &self.settings.queue;
        let properties =
            BasicProperties::default().with_delivery_mode(PERSISTENT).with_content_type("text/plain".into());
        let confirm = self
            .publisher
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                // mandatory: an unroutable job (no such queue) comes back instead of vanishing.
                BasicPublishOptions { mandatory: true, immediate: false },
                job.report_id.as_bytes(),
                properties,
            )
            .await
            .map_err(amqp_error("basic.publish", queue))?;
        let confirmation = confirm.await.map_err(amqp_error("publisher confirm", queue))?;
        match confirmation {
            Confirmation::Ack(None) => {
                debug!(report_id = %job.report_id, queue = %queue, "job published");
                Ok(())
            }
            Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)) => {
                warn!(
                    report_id = %job.report_id,
                    queue = %queue,
                    reply_code = returned.reply_code,
                    reply_text = %returned.reply_text,
                    "job returned as unroutable"
                );
                Err(Error::Unroutable {
                    queue: queue.clone(),
                    report_id: job.report_id,
                    reply_code: returned.reply_code,
                    reply_text: returned.reply_text.to_string(),
                })
            }
            Confirmation::Nack(None) => {
                warn!(report_id = %job.report_id, queue = %queue, "job nacked by the broker");
                Err(Error::Nacked { queue: queue.clone(), report_id: job.report_id })
            }
            Confirmation::NotRequested => Err(Error::NotConfirmed { queue: queue.clone(), report_id: job.report_id }),
        }
    }

    async fn start_consumer(&self) -> Result<Deliveries> {
        let queue = self.settings.queue.clone();
        let channel = self.connection.create_channel().await.map_err(amqp_error("channel.open", &queue))?;
        channel
            .basic_qos(self.settings.prefetch, BasicQosOptions::default())
            .await
            .map_err(amqp_error("basic.qos", &queue))?;
        let tag = format!("coopbrief-{}", uuid::Uuid::now_v7());
        let consumer = channel
            .basic_consume(
                queue.as_str().into(),
                tag.as_str().into(),
                // no_ack: false, so every delivery waits for our ack or nack.
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(amqp_error("basic.consume", &queue))?;
        info!(queue = %queue, consumer_tag = %tag, prefetch = self.settings.prefetch, "consuming");
        let deliveries = consumer.filter_map(move |item| {
            let queue = queue.clone();
            let channel = channel.clone();
            async move { to_delivery(item, queue, channel).await }
        });
        Ok(deliveries.boxed())
    }
}

impl JobQueue for AmqpQueue {
    fn publish(&self, job: Job) -> BoxFuture<'_, Result<()>> {
        self.publish_job(job).boxed()
    }

    fn consume(&self) -> BoxFuture<'_, Result<Deliveries>> {
        self.start_consumer().boxed()
    }
}

/// Durable quorum queue: survives a broker restart and replicates once there is a cluster.
async fn declare_queue(channel: &Channel, queue: &str) -> Result<()> {
    let mut arguments = FieldTable::default();
    arguments.insert("x-queue-type".into(), AMQPValue::LongString(LongString::from("quorum")));
    let declared = channel
        .queue_declare(queue.into(), QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() }, arguments)
        .await
        .map_err(amqp_error("queue.declare", queue))?;
    debug!(queue = %queue, messages = declared.message_count(), consumers = declared.consumer_count(), "declared queue");
    Ok(())
}

/// Turns a lapin delivery into ours. A body that is not UTF-8 cannot be a report id and
/// would fail the same way on every redelivery, so it is rejected without requeue (dropped,
/// or dead-lettered if the queue has a dead-letter exchange) with a warning, and skipped.
async fn to_delivery(
    item: lapin::Result<lapin::message::Delivery>,
    queue: String,
    channel: Channel,
) -> Option<Result<Delivery>> {
    let delivery = match item {
        Ok(delivery) => delivery,
        Err(source) => {
            warn!(queue = %queue, error = %source, "consumer failed");
            return Some(Err(Error::Amqp { operation: "consume", queue, source }));
        }
    };
    let redelivered = delivery.redelivered;
    let acker = delivery.acker;
    match String::from_utf8(delivery.data) {
        Ok(report_id) => Some(Ok(Delivery {
            job: Job { report_id },
            redelivered,
            settle: Settle::Amqp(AmqpSettle { acker, queue, _channel: channel }),
        })),
        Err(err) => {
            let rejected = acker.reject(BasicRejectOptions { requeue: false }).await;
            warn!(
                queue = %queue,
                bytes = err.as_bytes().len(),
                rejected = ?rejected,
                "skipped a message whose body is not a UTF-8 report id"
            );
            None
        }
    }
}

/// Settles an AMQP delivery through its own acker, on the channel that delivered it.
#[derive(Debug)]
pub(crate) struct AmqpSettle {
    acker: lapin::Acker,
    queue: String,
    /// Keeps the delivering channel open until the delivery is settled, even if the
    /// consumer stream was dropped first.
    _channel: Channel,
}

impl AmqpSettle {
    pub(crate) async fn ack(self, job: &Job) -> Result<()> {
        let outcome = self.acker.ack(BasicAckOptions::default()).await;
        self.check("ack", job, outcome)
    }

    pub(crate) async fn nack(self, job: &Job, requeue: bool) -> Result<()> {
        let options = BasicNackOptions { multiple: false, requeue };
        let outcome = self.acker.nack(options).await;
        self.check(if requeue { "nack (requeue)" } else { "nack" }, job, outcome)
    }

    /// lapin's acker answers `Ok(false)` when it did nothing (channel poisoned or delivery
    /// already settled): that is a failure here, never a silent success.
    fn check(self, operation: &'static str, job: &Job, outcome: lapin::Result<bool>) -> Result<()> {
        match outcome {
            Ok(true) => {
                debug!(report_id = %job.report_id, queue = %self.queue, operation, "delivery settled");
                Ok(())
            }
            Ok(false) => Err(Error::NotSettled { operation, report_id: job.report_id.clone() }),
            Err(source) => Err(Error::Amqp { operation, queue: self.queue, source }),
        }
    }
}

fn amqp_error(operation: &'static str, queue: &str) -> impl FnOnce(lapin::Error) -> Error {
    let queue = queue.to_owned();
    move |source| Error::Amqp { operation, queue, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password() {
        let cases = [
            ("amqp://guest:guest@127.0.0.1:5672/%2f", "amqp://guest:***@127.0.0.1:5672/%2f"),
            ("amqps://user:p%40ss:w@host/vhost?x=1", "amqps://user:***@host/vhost?x=1"),
            ("amqp://user@host:5672", "amqp://user@host:5672"),
            ("amqp://127.0.0.1:5672/%2f", "amqp://127.0.0.1:5672/%2f"),
            ("user:secret@host", "***@host"),
        ];
        for (url, expected) in cases {
            assert_eq!(redact_url(url), expected, "redacting {url}");
        }
    }

    #[test]
    fn debug_and_display_hide_password() {
        let settings =
            AmqpSettings { url: "amqp://svc:hunter2@broker:5672/%2f".to_owned(), queue: "q".to_owned(), prefetch: 3 };
        let debug = format!("{settings:?}");
        let display = settings.to_string();
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!display.contains("hunter2"), "{display}");
        assert!(debug.contains("svc:***@broker"), "{debug}");
    }

    #[tokio::test]
    async fn unreachable_broker_is_an_error_with_a_redacted_url() {
        let settings = AmqpSettings {
            // Port 1 on loopback: nothing listens there, so the connect is refused.
            url: "amqp://guest:topsecret@127.0.0.1:1/%2f".to_owned(),
            ..AmqpSettings::default()
        };
        let err = AmqpQueue::connect(settings).await.expect_err("nothing listens on port 1");
        let message = err.to_string();
        assert!(matches!(err, Error::Connect { .. }), "{message}");
        assert!(message.contains("127.0.0.1:1"), "{message}");
        assert!(!message.contains("topsecret"), "{message}");
    }
}
