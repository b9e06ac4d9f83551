//! RabbitMQ plumbing: connect, declare the topology, publish with confirms.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use std::collections::BTreeMap;
use std::time::Duration;

use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ErrorKind};

use super::settle::{defer_queue, retry_queue};
use crate::broker::{BrokerConfig, QueueArgument};
use crate::pipeline::DEFER_STEPS;
use crate::secret::Secret;

/// Why the broker could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot connect to {url}: {source}")]
    Connect { url: String, source: lapin::Error },
    #[error("queue `{queue}`: {source}")]
    Queue { queue: String, source: lapin::Error },
    #[error("queue `{queue}` already exists with other arguments than broker.queue_arguments asks for ({detail}); make the setting match the queue, or move its messages away and delete it")]
    QueueMismatch { queue: String, detail: String },
    #[error("broker channel: {0}")]
    Channel(#[source] lapin::Error),
    #[error("publish to `{queue}` failed: {source}")]
    Publish { queue: String, source: lapin::Error },
    #[error("publish to `{0}` was refused by the broker")]
    Nacked(String),
    #[error("the broker ended the consumer (queue deleted, or connection lost)")]
    ConsumerEnded,
    #[error("the broker connection was lost")]
    ConnectionLost,
    #[error("a message could not be settled; stopped so unacked messages return to the queue")]
    SettleFailed,
    #[error("settled messages could not be acked ({0}); they return to the queue")]
    Acks(#[from] super::acks::AckError),
    #[error("publish to `{0}` went over a channel without confirms")]
    Unconfirmed(String),
    #[error("publish to `{0}` was not routed (does the queue exist?)")]
    Unroutable(String),
}

/// The URI with its password replaced, safe for logs and errors.
pub fn redacted_url(url: &Secret) -> String {
    match url::Url::parse(url.expose()) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("****"));
            }
            parsed.to_string()
        }
        Err(_) => "<unparseable amqp url>".into(),
    }
}

/// Opens a connection named so operators can find it in the management UI.
pub async fn connect(url: &Secret, name: &str) -> Result<Connection, BrokerError> {
    let props = ConnectionProperties::default().with_connection_name(name.into());
    Connection::connect(url.expose(), props)
        .await
        .map_err(|source| BrokerError::Connect {
            url: redacted_url(url),
            source,
        })
}

/// A channel in confirm mode, for publishes that must be durable before an ack.
pub async fn confirm_channel(connection: &Connection) -> Result<Channel, BrokerError> {
    let channel = connection
        .create_channel()
        .await
        .map_err(BrokerError::Channel)?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(BrokerError::Channel)?;
    Ok(channel)
}

/// Declares (or, with `declare = false`, checks) the main queue, and declares the parking
/// lot and one retry queue per schedule step.
pub async fn declare_topology(
    channel: &Channel,
    broker: &BrokerConfig,
    retry_steps: &[Duration],
) -> Result<(), BrokerError> {
    let main = QueueDeclareOptions {
        durable: true,
        passive: !broker.declare,
        ..QueueDeclareOptions::default()
    };
    let arguments = arguments(&broker.queue_arguments);
    declare(channel, &broker.queue, main, arguments.clone()).await?;
    let durable = QueueDeclareOptions::durable();
    declare(channel, &broker.dead_queue(), durable, arguments.clone()).await?;
    // Messages carry their own expiration (step plus jitter or Retry-After, at most twice
    // the step); each queue's TTL is the backstop at that bound.
    for step in retry_steps {
        let retry = holding(&arguments, &broker.queue, *step * 2);
        declare(channel, &retry_queue(&broker.queue, *step), durable, retry).await?;
    }
    for step in DEFER_STEPS {
        let defer = holding(&arguments, &broker.queue, step * 2);
        declare(channel, &defer_queue(&broker.queue, step), durable, defer).await?;
    }
    Ok(())
}

/// Arguments of a queue that holds messages up to `ttl`, then dead-letters them to `queue`.
///
/// On quorum queues dead-lettering is at-most-once unless asked otherwise: a message can be
/// lost on its way back while the main queue's leader changes. So, unless configured
/// otherwise, quorum holding queues dead-letter at-least-once, which RabbitMQ honours only
/// with `reject-publish` overflow.
pub fn holding(arguments: &FieldTable, queue: &str, ttl: Duration) -> FieldTable {
    let mut table = arguments.clone();
    if is_quorum(arguments) {
        for (name, value) in [
            ("x-dead-letter-strategy", "at-least-once"),
            ("x-overflow", "reject-publish"),
        ] {
            if !table.contains_key(name) {
                table.insert(name.into(), AMQPValue::LongString(value.into()));
            }
        }
    }
    let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    table.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl));
    table.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("".into()),
    );
    table.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(queue.into()),
    );
    table
}

fn is_quorum(arguments: &FieldTable) -> bool {
    matches!(
        arguments.inner().get("x-queue-type"),
        Some(AMQPValue::LongString(t)) if t.as_bytes() == b"quorum"
    )
}

fn arguments(configured: &BTreeMap<String, QueueArgument>) -> FieldTable {
    let mut table = FieldTable::default();
    for (name, value) in configured {
        let value = match value {
            QueueArgument::Int(i) => AMQPValue::LongLongInt(*i),
            QueueArgument::Bool(b) => AMQPValue::Boolean(*b),
            QueueArgument::Text(s) => AMQPValue::LongString(s.as_str().into()),
        };
        table.insert(name.as_str().into(), value);
    }
    table
}

async fn declare(
    channel: &Channel,
    queue: &str,
    options: QueueDeclareOptions,
    arguments: FieldTable,
) -> Result<(), BrokerError> {
    channel
        .queue_declare(queue.into(), options, arguments)
        .await
        .map(|_| ())
        .map_err(|source| match source.kind() {
            ErrorKind::ProtocolError(e)
                if *e.kind() == AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED) =>
            {
                BrokerError::QueueMismatch {
                    queue: queue.to_owned(),
                    detail: e.get_message().to_string(),
                }
            }
            _ => BrokerError::Queue {
                queue: queue.to_owned(),
                source,
            },
        })
}

/// Publishes a persistent message to `queue` and waits for the broker's confirm.
pub async fn publish_confirmed(
    channel: &Channel,
    queue: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), BrokerError> {
    publish_to(channel, "", queue, body, properties).await
}

/// Publishes a persistent, mandatory message and waits for the broker's confirm: `Ok` only
/// once the broker has taken responsibility for it. Errors name the routing key (the queue,
/// on the default exchange).
pub async fn publish_to(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), BrokerError> {
    let publish_error = |source| BrokerError::Publish {
        queue: routing_key.to_owned(),
        source,
    };
    let confirm = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions {
                // Unroutable must be an error, not a silent drop.
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            body,
            properties.with_delivery_mode(2),
        )
        .await
        .map_err(publish_error)?
        .await
        .map_err(publish_error)?;
    match confirm {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(_)) => Err(BrokerError::Unroutable(routing_key.to_owned())),
        Confirmation::Nack(_) => Err(BrokerError::Nacked(routing_key.to_owned())),
        Confirmation::NotRequested => Err(BrokerError::Unconfirmed(routing_key.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_holding_queues_dead_letter_at_least_once() {
        let mut quorum = FieldTable::default();
        quorum.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        let table = holding(&quorum, "q", Duration::from_secs(2));
        let text = |k: &str| match table.inner().get(k) {
            Some(AMQPValue::LongString(s)) => s.to_string(),
            other => format!("{other:?}"),
        };
        assert_eq!(text("x-dead-letter-strategy"), "at-least-once");
        assert_eq!(text("x-overflow"), "reject-publish");
        let classic = holding(&FieldTable::default(), "q", Duration::from_secs(2));
        assert!(!classic.contains_key("x-dead-letter-strategy"));
    }

    #[test]
    fn redacts_the_password() {
        let url = Secret::new("amqp://user:s3cr3t@rabbit:5672/%2f");
        let shown = redacted_url(&url);
        assert!(!shown.contains("s3cr3t"));
        assert!(shown.contains("user:****@rabbit"));
    }
}
