//! AMQP transport against a real RabbitMQ (COOPBRIEF_AMQP_URL, default 127.0.0.1:5672):
//! each test uses a fresh queue and deletes it; an unreachable broker fails the test.

use std::time::Duration;

use coopbrief_queue::{AmqpQueue, AmqpSettings, DEFAULT_AMQP_URL, Deliveries, Delivery, Error, Job, JobQueue};
use futures::StreamExt;

fn settings(prefetch: u16) -> AmqpSettings {
    AmqpSettings {
        prefetch,
        retry_delays: vec![Duration::from_millis(200), Duration::from_millis(400)],
        ..AmqpSettings::new(
            std::env::var("COOPBRIEF_AMQP_URL").unwrap_or_else(|_| DEFAULT_AMQP_URL.to_owned()),
            format!("coopbrief.test.{}", uuid::Uuid::now_v7()),
        )
    }
}

async fn connect(settings: &AmqpSettings) -> AmqpQueue {
    match AmqpQueue::connect(settings.clone()).await {
        Ok(queue) => queue,
        Err(err) => panic!(
            "RabbitMQ at {} (default 127.0.0.1:5672) is unreachable or refused us: {err} ({err:?}); \
             start it with `rabbitmq-server -detached`",
            settings.redacted_url()
        ),
    }
}

async fn publish_all(queue: &AmqpQueue, ids: &[&str]) {
    for id in ids {
        queue.publish(Job::new(*id)).await.expect("publish confirmed");
    }
}

async fn next(deliveries: &mut Deliveries) -> Delivery {
    tokio::time::timeout(Duration::from_secs(5), deliveries.next())
        .await
        .expect("a delivery within 5 s")
        .expect("consumer stream still open")
        .expect("delivery is ok")
}

async fn assert_nothing_within(deliveries: &mut Deliveries, wait: Duration) {
    if let Ok(item) = tokio::time::timeout(wait, deliveries.next()).await {
        let what = item.map(|delivery| delivery.map(|d| d.job));
        panic!("expected no delivery within {wait:?}, got {what:?}");
    }
}

#[tokio::test]
async fn round_trip_in_order_then_nothing_more() {
    let settings = settings(10);
    let queue = connect(&settings).await;
    publish_all(&queue, &["r-1", "r-2", "r-3"]).await;

    let mut deliveries = queue.consume().await.expect("consume");
    for id in ["r-1", "r-2", "r-3"] {
        let delivery = next(&mut deliveries).await;
        assert_eq!(delivery.job, Job::new(id));
        assert!(!delivery.redelivered);
        delivery.ack().await.expect("ack");
    }
    drop(deliveries);
    // Closing the connection would requeue anything not really acked.
    queue.close().await.expect("close");

    let fresh = connect(&settings).await;
    let mut again = fresh.consume().await.expect("consume again");
    assert_nothing_within(&mut again, Duration::from_millis(500)).await;
    drop(again);
    assert_eq!(fresh.delete_queue().await.expect("delete queue"), 0);
}

#[tokio::test]
async fn nack_with_requeue_redelivers() {
    let settings = settings(1);
    let queue = connect(&settings).await;
    publish_all(&queue, &["again"]).await;

    let mut deliveries = queue.consume().await.expect("consume");
    let first = next(&mut deliveries).await;
    assert!(!first.redelivered);
    first.nack(true).await.expect("nack with requeue");

    let second = next(&mut deliveries).await;
    assert_eq!(second.job, Job::new("again"));
    assert!(second.redelivered, "a requeued job comes back as redelivered");
    second.ack().await.expect("ack");
    drop(deliveries);
    assert_eq!(queue.delete_queue().await.expect("delete queue"), 0);
}

#[tokio::test]
async fn nack_without_requeue_dead_letters_the_job() {
    let settings = settings(1);
    let queue = connect(&settings).await;
    publish_all(&queue, &["drop-me"]).await;

    let mut deliveries = queue.consume().await.expect("consume");
    next(&mut deliveries).await.nack(false).await.expect("nack");
    assert_nothing_within(&mut deliveries, Duration::from_millis(500)).await;
    assert_eq!(queue.dead_letter_count().await.expect("count"), 1, "a rejected job waits in the dead-letter queue");
    drop(deliveries);
    assert_eq!(queue.delete_queue().await.expect("delete queue"), 0);
}

#[tokio::test]
async fn unacked_deliveries_come_back_after_the_consumer_connection_closes() {
    let settings = settings(10);
    let publisher = connect(&settings).await;
    publish_all(&publisher, &["u-1", "u-2"]).await;

    let consumer = connect(&settings).await;
    let mut deliveries = consumer.consume().await.expect("consume");
    let held_1 = next(&mut deliveries).await;
    let held_2 = next(&mut deliveries).await;
    assert_eq!(held_1.job, Job::new("u-1"));
    assert_eq!(held_2.job, Job::new("u-2"));
    consumer.close().await.expect("close consumer connection");

    // Settling on a dead connection is an error, never a silent success.
    let late_ack =
        tokio::time::timeout(Duration::from_secs(5), held_1.ack()).await.expect("a late ack answers within 5 s");
    // lapin's acker answers Ok(false) on a poisoned channel; we must turn that into an error.
    assert!(
        matches!(late_ack, Err(Error::NotSettled { ref report_id, .. }) if report_id == "u-1"),
        "ack after close must fail as not settled: {late_ack:?}"
    );
    drop(held_2);
    drop(deliveries);

    let mut redelivered = publisher.consume().await.expect("consume again");
    for id in ["u-1", "u-2"] {
        let delivery = next(&mut redelivered).await;
        assert_eq!(delivery.job, Job::new(id));
        assert!(delivery.redelivered, "{id} comes back as redelivered");
        delivery.ack().await.expect("ack");
    }
    drop(redelivered);
    assert_eq!(publisher.delete_queue().await.expect("delete queue"), 0);
}

#[tokio::test]
async fn prefetch_limits_unacked_deliveries() {
    let settings = settings(2);
    let queue = connect(&settings).await;
    let ids = ["p-1", "p-2", "p-3", "p-4", "p-5"];
    publish_all(&queue, &ids).await;

    let mut deliveries = queue.consume().await.expect("consume");
    let mut held = vec![next(&mut deliveries).await, next(&mut deliveries).await];
    assert_nothing_within(&mut deliveries, Duration::from_millis(500)).await;

    let mut received = Vec::new();
    while !held.is_empty() {
        let delivery = held.remove(0);
        received.push(delivery.job.report_id.clone());
        delivery.ack().await.expect("ack");
        if received.len() + held.len() < ids.len() {
            held.push(next(&mut deliveries).await);
            assert!(held.len() <= 2, "prefetch 2 allows at most 2 unacked");
            assert_nothing_within(&mut deliveries, Duration::from_millis(200)).await;
        }
    }
    assert_eq!(received, ids);
    drop(deliveries);
    assert_eq!(queue.delete_queue().await.expect("delete queue"), 0);
}

#[tokio::test]
async fn declaring_twice_is_idempotent() {
    let settings = settings(10);
    let first = connect(&settings).await;
    let second = connect(&settings).await;
    publish_all(&first, &["from-first"]).await;
    publish_all(&second, &["from-second"]).await;

    let mut deliveries = second.consume().await.expect("consume");
    for id in ["from-first", "from-second"] {
        let delivery = next(&mut deliveries).await;
        assert_eq!(delivery.job, Job::new(id));
        delivery.ack().await.expect("ack");
    }
    drop(deliveries);
    assert_eq!(first.delete_queue().await.expect("delete queue"), 0);
}

#[tokio::test]
async fn publishing_to_a_missing_queue_is_unroutable() {
    let settings = settings(1);
    let queue = connect(&settings).await;
    queue.delete_queue().await.expect("delete queue");

    let err = queue.publish(Job::new("lost")).await.expect_err("no queue takes the job");
    match &err {
        Error::Unroutable { queue: name, report_id, reply_code, .. } => {
            assert_eq!(name, &settings.queue);
            assert_eq!(report_id, "lost");
            assert_eq!(*reply_code, 312, "NO_ROUTE");
        }
        other => panic!("expected an unroutable error, got {other}: {other:?}"),
    }

    // A return is no channel error: once the queue exists again, publishing works.
    let redeclared = connect(&settings).await;
    publish_all(&queue, &["found"]).await;
    let mut deliveries = redeclared.consume().await.expect("consume");
    let delivery = next(&mut deliveries).await;
    assert_eq!(delivery.job, Job::new("found"));
    delivery.ack().await.expect("ack");
    drop(deliveries);
    assert_eq!(redeclared.delete_queue().await.expect("delete queue"), 0);
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_skipped() {
    let settings = settings(1);
    let queue = connect(&settings).await;

    // Publish raw bytes with lapin, as a foreign producer could.
    let connection = lapin::Connection::connect(&settings.url, lapin::ConnectionProperties::default())
        .await
        .expect("raw lapin connection");
    let channel = connection.create_channel().await.expect("raw channel");
    channel
        .basic_publish(
            "".into(),
            settings.queue.as_str().into(),
            lapin::options::BasicPublishOptions::default(),
            &[0xff, 0xfe, 0x00],
            lapin::BasicProperties::default(),
        )
        .await
        .expect("raw publish");
    publish_all(&queue, &["valid"]).await;

    let mut deliveries = queue.consume().await.expect("consume");
    let delivery = next(&mut deliveries).await;
    assert_eq!(delivery.job, Job::new("valid"));
    delivery.ack().await.expect("ack");
    assert_nothing_within(&mut deliveries, Duration::from_millis(500)).await;
    drop(deliveries);
    connection.close(200, "OK".into()).await.expect("close raw connection");
    assert_eq!(queue.delete_queue().await.expect("delete queue"), 0);
}

#[tokio::test]
async fn retry_waits_in_a_delay_queue_and_comes_back_as_the_next_attempt() {
    let settings = settings(1);
    let queue = connect(&settings).await;
    publish_all(&queue, &["flaky"]).await;
    let mut deliveries = queue.consume().await.expect("consume");
    let first = next(&mut deliveries).await;
    assert_eq!(first.job.attempt, 1);
    let started = std::time::Instant::now();
    queue.retry(first.job.clone()).await.expect("retry published");
    first.ack().await.expect("ack");
    let second = next(&mut deliveries).await;
    assert!(started.elapsed() >= Duration::from_millis(150), "waited out the delay: {:?}", started.elapsed());
    assert_eq!((second.job.report_id.as_str(), second.job.attempt), ("flaky", 2));
    queue.retry(second.job.clone()).await.expect("retry published");
    second.ack().await.expect("ack");
    let third = next(&mut deliveries).await;
    assert_eq!(third.job.attempt, 3);
    third.ack().await.expect("ack");
    drop(deliveries);
    queue.delete_queue().await.expect("delete queue");
}

#[tokio::test]
async fn the_trace_context_travels_in_the_headers_through_a_retry() {
    let settings = settings(1);
    let queue = connect(&settings).await;
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    queue.publish(Job::new("traced").with_traceparent(Some(traceparent.to_owned()))).await.expect("publish");
    publish_all(&queue, &["untraced"]).await;
    let mut deliveries = queue.consume().await.expect("consume");
    let first = next(&mut deliveries).await;
    assert_eq!(first.job.traceparent.as_deref(), Some(traceparent));
    // Through a delay queue (TTL, then dead-lettered back): the header stays.
    queue.retry(first.job.clone()).await.expect("retry published");
    first.ack().await.expect("ack");
    let untraced = next(&mut deliveries).await;
    assert_eq!((untraced.job.report_id.as_str(), untraced.job.traceparent.as_deref()), ("untraced", None));
    untraced.ack().await.expect("ack");
    let second = next(&mut deliveries).await;
    assert_eq!((second.job.attempt, second.job.traceparent.as_deref()), (2, Some(traceparent)));
    second.ack().await.expect("ack");
    drop(deliveries);
    queue.delete_queue().await.expect("delete queue");
}

#[tokio::test]
async fn dead_letters_are_kept_and_a_crash_loop_ends_there() {
    let settings = AmqpSettings { delivery_limit: 2, ..settings(1) };
    let queue = connect(&settings).await;
    publish_all(&queue, &["poison"]).await;
    queue.dead_letter(Job::new("set-aside"), "template failed").await.expect("dead letter");
    // A job whose consumer dies on it every time: requeued until the delivery limit.
    let mut deliveries = queue.consume().await.expect("consume");
    for _ in 0..3 {
        match tokio::time::timeout(Duration::from_secs(2), deliveries.next()).await {
            Ok(Some(Ok(d))) => d.nack(true).await.expect("nack"),
            _ => break,
        }
    }
    assert_nothing_within(&mut deliveries, Duration::from_millis(500)).await;
    drop(deliveries);
    assert_eq!(queue.dead_letter_count().await.expect("count"), 2, "the crash-looping job and the set-aside one");
    queue.delete_queue().await.expect("delete queue");
}

#[tokio::test]
async fn publish_and_consume_reconnect_after_the_connection_is_lost() {
    let settings = settings(1);
    let queue = connect(&settings).await;
    queue.close().await.expect("close");
    publish_all(&queue, &["after-reconnect"]).await;
    let mut deliveries = queue.consume().await.expect("consume after reconnect");
    let d = next(&mut deliveries).await;
    assert_eq!(d.job, Job::new("after-reconnect"));
    d.ack().await.expect("ack");
    drop(deliveries);
    queue.delete_queue().await.expect("delete queue");
}
