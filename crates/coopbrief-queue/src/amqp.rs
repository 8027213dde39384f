//! RabbitMQ job transport (lapin): one connection, a publishing channel in confirm mode,
//! one channel per consumer, and a durable quorum queue declared idempotently on connect.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

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
    /// Heartbeat interval in seconds asked of the broker; a connection that goes silent for
    /// about twice this long is taken as dead. `None` keeps the URL's or the broker's value.
    pub heartbeat: Option<u16>,
    /// `x-delivery-limit` of the job queue: a job delivered this many times without an ack
    /// (a worker crashing on it) goes to the dead-letter queue instead of cycling forever.
    pub delivery_limit: u32,
    /// Waits before a job that failed transiently is delivered again: attempt 1 waits the
    /// first, attempt 2 the second …, later attempts the last. One delay queue each.
    pub retry_delays: Vec<Duration>,
}

impl AmqpSettings {
    /// Settings for `queue` at `url` with every other setting at its default.
    pub fn new(url: impl Into<String>, queue: impl Into<String>) -> AmqpSettings {
        AmqpSettings { url: url.into(), queue: queue.into(), ..AmqpSettings::default() }
    }

    /// Settings from the command-line flags the services share; delays in seconds.
    pub fn from_flags(
        url: &str,
        queue: &str,
        prefetch: u16,
        heartbeat: u16,
        delivery_limit: u32,
        retry_delays_secs: &[f64],
    ) -> AmqpSettings {
        AmqpSettings {
            prefetch,
            heartbeat: Some(heartbeat),
            delivery_limit,
            retry_delays: retry_delays_secs.iter().map(|s| Duration::from_secs_f64(s.clamp(0.0, 86_400.0))).collect(),
            ..AmqpSettings::new(url, queue)
        }
    }

    /// The url with its password replaced by `***`, safe to log.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// Where jobs that will not be retried go, for an operator to inspect and replay.
    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dead", self.queue)
    }

    /// The delay queue for retry number `index` (0-based).
    pub fn retry_queue(&self, index: usize) -> String {
        format!("{}.retry.{index}", self.queue)
    }

    /// The URL with the heartbeat setting applied.
    fn connect_url(&self) -> String {
        match self.heartbeat {
            Some(h) if !self.url.contains("heartbeat=") => {
                let sep = if self.url.contains('?') { '&' } else { '?' };
                format!("{}{sep}heartbeat={h}", self.url)
            }
            _ => self.url.clone(),
        }
    }
}

impl Default for AmqpSettings {
    fn default() -> Self {
        AmqpSettings {
            url: DEFAULT_AMQP_URL.to_owned(),
            queue: DEFAULT_QUEUE.to_owned(),
            prefetch: DEFAULT_PREFETCH,
            heartbeat: Some(10),
            delivery_limit: 5,
            retry_delays: vec![Duration::from_secs(2), Duration::from_secs(10), Duration::from_secs(60)],
        }
    }
}

impl fmt::Debug for AmqpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpSettings")
            .field("url", &self.redacted_url())
            .field("queue", &self.queue)
            .field("prefetch", &self.prefetch)
            .field("heartbeat", &self.heartbeat)
            .field("delivery_limit", &self.delivery_limit)
            .field("retry_delays", &self.retry_delays)
            .finish()
    }
}

impl fmt::Display for AmqpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} queue {}", self.redacted_url(), self.queue)
    }
}

/// `url` with the password of `scheme://user:password@host/...` replaced by `***`, safe to log.
pub fn redact_url(url: &str) -> String {
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

/// The RabbitMQ job queue.
///
/// It keeps one connection and re-establishes it on demand: after a broker restart or a
/// dropped connection the next `publish` or `consume` reconnects and declares the topology
/// again, so neither the data service's relay nor a worker needs restarting.
pub struct AmqpQueue {
    settings: AmqpSettings,
    link: tokio::sync::Mutex<Option<Link>>,
}

/// A live connection and its publishing channel (in confirm mode).
#[derive(Clone)]
struct Link {
    connection: Arc<Connection>,
    publisher: Channel,
}

impl Link {
    fn is_alive(&self) -> bool {
        self.connection.status().connected() && self.publisher.status().connected()
    }
}

impl fmt::Debug for AmqpQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpQueue").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl AmqpQueue {
    /// Connects now, declaring the topology; fails if the broker cannot be reached.
    pub async fn connect(settings: AmqpSettings) -> Result<AmqpQueue> {
        let queue = AmqpQueue::lazy(settings);
        queue.link().await?;
        Ok(queue)
    }

    /// A queue that connects on first use (and again whenever the connection is lost), so
    /// a service can start while the broker is down.
    pub fn lazy(settings: AmqpSettings) -> AmqpQueue {
        AmqpQueue { settings, link: tokio::sync::Mutex::new(None) }
    }

    /// The settings this queue was connected with.
    pub fn settings(&self) -> &AmqpSettings {
        &self.settings
    }

    /// The live link, reconnecting (and declaring the topology) if there is none.
    async fn link(&self) -> Result<Link> {
        let mut guard = self.link.lock().await;
        if let Some(link) = guard.as_ref().filter(|l| l.is_alive()) {
            return Ok(link.clone());
        }
        if guard.take().is_some() {
            warn!(queue = %self.settings.queue, "broker connection lost; reconnecting");
        }
        let url = self.settings.redacted_url();
        let properties = ConnectionProperties::default().with_connection_name("coopbrief".into());
        let connection = Connection::connect(&self.settings.connect_url(), properties)
            .await
            .map_err(|source| Error::Connect { url: url.clone(), source })?;
        let queue = &self.settings.queue;
        let publisher = connection.create_channel().await.map_err(amqp_error("channel.open", queue))?;
        declare_topology(&publisher, &self.settings).await?;
        publisher.confirm_select(ConfirmSelectOptions::default()).await.map_err(amqp_error("confirm.select", queue))?;
        info!(url = %url, queue = %queue, prefetch = self.settings.prefetch, "connected to the message broker");
        let link = Link { connection: Arc::new(connection), publisher };
        *guard = Some(link.clone());
        Ok(link)
    }

    /// Forgets the link after a failure, so the next call reconnects.
    async fn drop_link(&self) {
        self.link.lock().await.take();
    }

    /// Closes the connection gracefully. Unacked deliveries of its consumers go back to
    /// the queue, and settling them afterwards fails.
    pub async fn close(&self) -> Result<()> {
        if let Some(link) = self.link.lock().await.take() {
            link.connection
                .close(200, "OK".into())
                .await
                .map_err(amqp_error("connection.close", &self.settings.queue))?;
            info!(queue = %self.settings.queue, "closed the broker connection");
        }
        Ok(())
    }

    /// Deletes the job queue, its delay queues and its dead-letter queue, and returns how
    /// many messages the job queue held. For tests and tooling: the service never does this.
    pub async fn delete_queue(&self) -> Result<u32> {
        // lapin may fail a connection when a dropped consumer's cancel-ok crosses another
        // call; one retry on a fresh connection covers that.
        match self.try_delete_queue().await {
            Ok(n) => Ok(n),
            Err(_) => {
                self.drop_link().await;
                self.try_delete_queue().await
            }
        }
    }

    async fn try_delete_queue(&self) -> Result<u32> {
        let link = self.link().await?;
        let channel =
            link.connection.create_channel().await.map_err(amqp_error("channel.open", &self.settings.queue))?;
        let mut others = vec![self.settings.dead_letter_queue()];
        others.extend((0..self.settings.retry_delays.len()).map(|i| self.settings.retry_queue(i)));
        for q in others {
            channel
                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await
                .map_err(amqp_error("queue.delete", &q))?;
        }
        let dropped = channel
            .queue_delete(self.settings.queue.as_str().into(), QueueDeleteOptions::default())
            .await
            .map_err(amqp_error("queue.delete", &self.settings.queue))?;
        let _ = channel.close(200, "OK".into()).await;
        info!(queue = %self.settings.queue, dropped, "deleted queue");
        Ok(dropped)
    }

    /// How many messages wait in the dead-letter queue (a passive declare).
    pub async fn dead_letter_count(&self) -> Result<u32> {
        match self.try_dead_letter_count().await {
            Ok(n) => Ok(n),
            Err(_) => {
                self.drop_link().await;
                self.try_dead_letter_count().await
            }
        }
    }

    async fn try_dead_letter_count(&self) -> Result<u32> {
        let link = self.link().await?;
        let q = self.settings.dead_letter_queue();
        let channel = link.connection.create_channel().await.map_err(amqp_error("channel.open", &q))?;
        let declared = channel
            .queue_declare(
                q.as_str().into(),
                QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() },
                FieldTable::default(),
            )
            .await
            .map_err(amqp_error("queue.declare (passive)", &q))?;
        let _ = channel.close(200, "OK".into()).await;
        Ok(declared.message_count())
    }

    /// Publishes `job` to `routing_key` on the default exchange and waits for the broker's
    /// confirm. Any failure drops the link so the next publish reconnects.
    async fn publish_to(&self, routing_key: &str, job: Job, reason: Option<&str>) -> Result<()> {
        let link = self.link().await?;
        let result = publish_on(&link.publisher, routing_key, job, reason).await;
        if let Err(Error::Amqp { .. }) = &result {
            self.drop_link().await;
        }
        result
    }

    async fn start_consumer(&self) -> Result<Deliveries> {
        let queue = self.settings.queue.clone();
        let link = self.link().await?;
        let channel = match link.connection.create_channel().await {
            Ok(c) => c,
            Err(e) => {
                self.drop_link().await;
                return Err(Error::Amqp { operation: "channel.open", queue, source: e });
            }
        };
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
        async move { self.publish_to(&self.settings.queue, job, None).await }.boxed()
    }

    fn consume(&self) -> BoxFuture<'_, Result<Deliveries>> {
        self.start_consumer().boxed()
    }

    fn retry(&self, job: Job) -> BoxFuture<'_, Result<()>> {
        async move {
            let last = self.settings.retry_delays.len().saturating_sub(1);
            let index = (job.attempt.max(1) as usize - 1).min(last);
            let next = Job { attempt: job.attempt + 1, ..job };
            self.publish_to(&self.settings.retry_queue(index), next, None).await
        }
        .boxed()
    }

    fn dead_letter(&self, job: Job, reason: &str) -> BoxFuture<'_, Result<()>> {
        let reason = reason.to_owned();
        async move { self.publish_to(&self.settings.dead_letter_queue(), job, Some(&reason)).await }.boxed()
    }
}

/// Header carrying how many times a job has been attempted.
const ATTEMPT_HEADER: &str = "x-coopbrief-attempt";
/// Header carrying why a job was dead-lettered.
const REASON_HEADER: &str = "x-coopbrief-error";
/// Header carrying the W3C trace context of the publishing span (the standard name).
const TRACEPARENT_HEADER: &str = "traceparent";
/// The longest `traceparent` taken from a message (version 00 has 55 characters).
const MAX_TRACEPARENT: usize = 128;

async fn publish_on(channel: &Channel, routing_key: &str, job: Job, reason: Option<&str>) -> Result<()> {
    let mut headers = FieldTable::default();
    headers.insert(ATTEMPT_HEADER.into(), AMQPValue::LongUInt(job.attempt));
    if let Some(reason) = reason {
        headers.insert(REASON_HEADER.into(), AMQPValue::LongString(LongString::from(reason)));
    }
    if let Some(traceparent) = &job.traceparent {
        headers.insert(TRACEPARENT_HEADER.into(), AMQPValue::LongString(LongString::from(traceparent.as_str())));
    }
    let properties = BasicProperties::default()
        .with_delivery_mode(PERSISTENT)
        .with_content_type("text/plain".into())
        .with_headers(headers);
    let confirm = channel
        .basic_publish(
            "".into(),
            routing_key.into(),
            // mandatory: an unroutable job (no such queue) comes back instead of vanishing.
            BasicPublishOptions { mandatory: true, immediate: false },
            job.report_id.as_bytes(),
            properties,
        )
        .await
        .map_err(amqp_error("basic.publish", routing_key))?;
    let confirmation = confirm.await.map_err(amqp_error("publisher confirm", routing_key))?;
    let queue = routing_key.to_owned();
    match confirmation {
        Confirmation::Ack(None) => {
            debug!(report_id = %job.report_id, queue = %queue, attempt = job.attempt, "job published");
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
                queue,
                report_id: job.report_id,
                reply_code: returned.reply_code,
                reply_text: returned.reply_text.to_string(),
            })
        }
        Confirmation::Nack(None) => {
            warn!(report_id = %job.report_id, queue = %queue, "job nacked by the broker");
            Err(Error::Nacked { queue, report_id: job.report_id })
        }
        Confirmation::NotRequested => Err(Error::NotConfirmed { queue, report_id: job.report_id }),
    }
}

/// Declares, idempotently, the job queue (durable quorum, with a delivery limit and the
/// dead-letter queue behind it), the dead-letter queue, and one delay queue per retry
/// delay (messages wait out their TTL there, then dead-letter back into the job queue).
async fn declare_topology(channel: &Channel, settings: &AmqpSettings) -> Result<()> {
    let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    let text = |s: &str| AMQPValue::LongString(LongString::from(s));
    let queue = settings.queue.as_str();
    let dead = settings.dead_letter_queue();

    let mut dead_args = FieldTable::default();
    dead_args.insert("x-queue-type".into(), text("quorum"));
    declare(channel, &dead, durable, dead_args).await?;

    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), text("quorum"));
    args.insert("x-delivery-limit".into(), AMQPValue::LongUInt(settings.delivery_limit));
    args.insert("x-dead-letter-exchange".into(), text(""));
    args.insert("x-dead-letter-routing-key".into(), text(&dead));
    declare(channel, queue, durable, args).await?;

    for (i, delay) in settings.retry_delays.iter().enumerate() {
        let mut args = FieldTable::default();
        args.insert("x-message-ttl".into(), AMQPValue::LongUInt(delay.as_millis().min(u32::MAX as u128) as u32));
        args.insert("x-dead-letter-exchange".into(), text(""));
        args.insert("x-dead-letter-routing-key".into(), text(queue));
        declare(channel, &settings.retry_queue(i), durable, args).await?;
    }
    Ok(())
}

async fn declare(channel: &Channel, queue: &str, options: QueueDeclareOptions, args: FieldTable) -> Result<()> {
    let declared =
        channel.queue_declare(queue.into(), options, args).await.map_err(amqp_error("queue.declare", queue))?;
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
    let headers = delivery.properties.headers().as_ref();
    let attempt = headers
        .and_then(|h| h.inner().get(ATTEMPT_HEADER).cloned())
        .and_then(|v| match v {
            AMQPValue::LongUInt(n) => Some(n),
            AMQPValue::LongLongInt(n) => u32::try_from(n).ok(),
            AMQPValue::ShortUInt(n) => Some(u32::from(n)),
            _ => None,
        })
        .unwrap_or(1);
    let traceparent = headers.and_then(|h| traceparent_of(h.inner().get(TRACEPARENT_HEADER)));
    let acker = delivery.acker;
    match String::from_utf8(delivery.data) {
        Ok(report_id) => Some(Ok(Delivery {
            job: Job { report_id, attempt, traceparent },
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

/// The `traceparent` header's text, if it is short printable ASCII (the tracing layer parses it).
fn traceparent_of(value: Option<&AMQPValue>) -> Option<String> {
    let bytes = match value? {
        AMQPValue::LongString(s) => s.as_bytes(),
        AMQPValue::ShortString(s) => s.as_str().as_bytes(),
        _ => return None,
    };
    let text = std::str::from_utf8(bytes).ok()?;
    (text.len() <= MAX_TRACEPARENT && text.bytes().all(|b| b.is_ascii_graphic())).then(|| text.to_owned())
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
        let settings = AmqpSettings::new("amqp://svc:hunter2@broker:5672/%2f", "q");
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

    /// `amqps://` speaks TLS from the first byte: a listener that is no broker sees a TLS
    /// ClientHello (record type 22, handshake type 1) naming the URL's host, not AMQP's
    /// `AMQP\0\0\9\1` header, and the connect fails (it answers nothing) without a password shown.
    #[tokio::test]
    async fn an_amqps_url_connects_with_tls() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let first_bytes = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut bytes = vec![0u8; 512];
            let n = conn.read(&mut bytes).await.unwrap();
            bytes.truncate(n);
            bytes
        });
        let settings =
            AmqpSettings { url: format!("amqps://guest:topsecret@localhost:{port}/%2f"), ..AmqpSettings::default() };
        let err = AmqpQueue::connect(settings).await.expect_err("the listener is no broker");
        assert!(!err.to_string().contains("topsecret"), "{err}");
        let bytes = first_bytes.await.unwrap();
        assert_eq!(bytes.first(), Some(&0x16), "a TLS handshake record, not {:?}", String::from_utf8_lossy(&bytes));
        assert_eq!(bytes.get(5), Some(&0x01), "a ClientHello");
        assert!(bytes.windows(9).any(|w| w == b"localhost"), "the server name (SNI) is the URL's host");
    }
}
