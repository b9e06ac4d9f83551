//! Declaring the queues on the default broker: quorum arguments reach every queue, and a
//! queue that exists with other arguments is refused with an error that says so.

use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties};
use notify_bridge::broker::topology::declare_topology;
use notify_bridge::broker::topology::DEFER_STEPS;
use notify_bridge::broker::topology::{defer_queue, retry_queue};
use notify_bridge::broker::BrokerError;

use crate::support::broker::TestBroker;
use crate::support::{amqp_url, settings, unique_queue};
use crate::CONFIG;

const QUORUM: &str = "queue_arguments = { \"x-queue-type\" = \"quorum\" }\n[channels.shop]";

#[tokio::test]
async fn a_classic_queue_where_quorum_is_configured_is_a_clear_error() {
    let queue = unique_queue("mismatch");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let settings = settings(&CONFIG.replacen("[channels.shop]", QUORUM, 1), &queue);
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .unwrap();
    let steps = [Duration::from_millis(200)];
    let error = declare_topology(&connection, &settings.broker, &steps)
        .await
        .unwrap_err();
    assert!(
        matches!(error, BrokerError::QueueMismatch { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "queue `{queue}` already exists with other arguments"
        )),
        "{text}"
    );
    assert!(text.contains("broker.queue_arguments"), "{text}");
    let _ = connection.close(200, "done".into()).await;
}

#[tokio::test]
async fn quorum_reaches_every_queue_the_bridge_declares() {
    let queue = unique_queue("quorum");
    let settings = settings(&CONFIG.replacen("[channels.shop]", QUORUM, 1), &queue);
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .unwrap();
    let steps = settings.retry_steps();
    declare_topology(&connection, &settings.broker, &steps)
        .await
        .unwrap();
    // Declaring again with the same arguments is accepted (a restart, another replica).
    declare_topology(&connection, &settings.broker, &steps)
        .await
        .unwrap();
    // A classic declare of a quorum queue is refused: each really is quorum.
    let mut declared = vec![queue.to_string(), settings.broker.dead_queue()];
    declared.extend(steps.iter().map(|s| retry_queue(&queue, *s)));
    declared.extend(DEFER_STEPS.map(|s| defer_queue(&queue, s)));
    for name in &declared {
        let probe = connection.create_channel().await.unwrap();
        let classic = probe
            .queue_declare(
                name.as_str().into(),
                QueueDeclareOptions::durable(),
                Default::default(),
            )
            .await;
        assert!(classic.is_err(), "{name} is not quorum");
    }
    let _ = connection.close(200, "done".into()).await;
}

/// A quorum retry queue declared by an earlier version (dead-lettering at-least-once back to
/// the main queue) has other arguments than this one declares: it is used as it is.
#[tokio::test]
async fn a_quorum_retry_queue_of_an_earlier_version_is_used_as_it_is() {
    let queue = unique_queue("earlier");
    let settings = settings(&CONFIG.replacen("[channels.shop]", QUORUM, 1), &queue);
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .unwrap();
    let step = Duration::from_millis(200);
    let mut earlier = FieldTable::default();
    for (name, value) in [
        ("x-queue-type", "quorum"),
        ("x-dead-letter-strategy", "at-least-once"),
        ("x-overflow", "reject-publish"),
        ("x-dead-letter-exchange", ""),
        ("x-dead-letter-routing-key", queue.as_str()),
    ] {
        earlier.insert(name.into(), AMQPValue::LongString(value.into()));
    }
    earlier.insert("x-message-ttl".into(), AMQPValue::LongLongInt(400));
    let retry = retry_queue(&queue, step);
    let channel = connection.create_channel().await.unwrap();
    channel
        .queue_declare(
            retry.as_str().into(),
            QueueDeclareOptions::durable(),
            earlier,
        )
        .await
        .unwrap();
    declare_topology(&connection, &settings.broker, &[step])
        .await
        .expect("the earlier retry queue is accepted");
    // Every other queue was declared after it, on a fresh channel: the last defer queue is
    // there, and quorum.
    let last = defer_queue(&queue, DEFER_STEPS[DEFER_STEPS.len() - 1]);
    let probe = connection.create_channel().await.unwrap();
    let classic = probe
        .queue_declare(
            last.as_str().into(),
            QueueDeclareOptions::durable(),
            FieldTable::default(),
        )
        .await;
    assert!(classic.is_err(), "{last} is quorum");
    let _ = connection.close(200, "done".into()).await;
}
