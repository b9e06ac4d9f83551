//! The queue topology, named and built in one place: the main queue, one `.retry.<step>`
//! queue per schedule step, one `.retry.defer.<step>` queue per [`DEFER_STEPS`] entry, and
//! the parking lot `.dead`. The bridge brings held messages back itself (`release`);
//! classic holding queues also dead-letter back to the main queue, should no bridge run.

use std::collections::BTreeMap;
use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ErrorKind};
use tracing::warn;

use super::{BrokerConfig, BrokerError, QueueArgument};

/// The waits a deferred message can get, each with a queue of its own: messages expire
/// only at the head of a queue, so one queue for every wait would let a long wait at its
/// head hold back the short ones behind it.
pub const DEFER_STEPS: [Duration; 9] = {
    let mut steps = [Duration::ZERO; 9];
    let mut i = 0;
    while i < steps.len() {
        steps[i] = Duration::from_secs(1 << i);
        i += 1;
    }
    steps
};

/// `<queue>.dead`: the parking lot, where messages wait for an operator.
pub fn dead_queue(queue: &str) -> String {
    format!("{queue}.dead")
}

/// `<queue>.retry.<step>`: holds messages for `step`, then dead-letters them back to `queue`.
pub fn retry_queue(queue: &str, step: Duration) -> String {
    format!("{queue}.retry.{}", step_name(step))
}

/// `<queue>.retry.defer.<step>`: where stalled channels' surplus waits, unattempted.
pub fn defer_queue(queue: &str, step: Duration) -> String {
    format!("{queue}.retry.defer.{}", step_name(step))
}

/// A step as it appears in a retry queue's name: `500ms`, `5s`, `3m`, `2h`.
pub fn step_name(step: Duration) -> String {
    let ms = step.as_millis();
    match ms {
        0 => "0s".into(),
        _ if ms.is_multiple_of(3_600_000) => format!("{}h", ms / 3_600_000),
        _ if ms.is_multiple_of(60_000) => format!("{}m", ms / 60_000),
        _ if ms.is_multiple_of(1_000) => format!("{}s", ms / 1_000),
        _ => format!("{ms}ms"),
    }
}

/// Declares (or, with `declare = false`, checks) the main queue, and declares the parking
/// lot, one retry queue per schedule step and the defer queues, on a channel of its own.
pub async fn declare_topology(
    connection: &Connection,
    broker: &BrokerConfig,
    retry_steps: &[Duration],
) -> Result<(), BrokerError> {
    let mut channel = open(connection).await?;
    let main = QueueDeclareOptions {
        durable: true,
        passive: !broker.declare,
        ..QueueDeclareOptions::default()
    };
    let arguments = arguments(&broker.queue_arguments);
    declare(&channel, &broker.queue, main, arguments.clone()).await?;
    let durable = QueueDeclareOptions::durable();
    declare(&channel, &broker.dead_queue(), durable, arguments.clone()).await?;
    // Classic: messages carry their own expiration (step plus jitter or Retry-After, at
    // most twice the step); each queue's TTL is the backstop at that bound.
    for (name, step) in holding_queues(&broker.queue, retry_steps) {
        let table = holding(&arguments, &broker.queue, step * 2);
        match declare(&channel, &name, durable, table).await {
            Ok(()) => {}
            // Declared by an earlier version (quorum holding queues then dead-lettered
            // at-least-once): its messages come back all the same, so it is used as it is.
            Err(BrokerError::QueueMismatch { queue, detail }) => {
                warn!(queue = %queue, detail = %detail, "retry queue has the arguments of an earlier version; using it as it is (delete it once empty to drop them)");
                channel = open(connection).await?;
            }
            Err(e) => return Err(e),
        }
    }
    let _ = channel.close(200, "declared".into()).await;
    Ok(())
}

async fn open(connection: &Connection) -> Result<Channel, BrokerError> {
    connection
        .create_channel()
        .await
        .map_err(BrokerError::Channel)
}

/// Whether messages in holding queues expire and dead-letter back by themselves: classic
/// queues do, as a second way back; quorum ones are brought back by the bridge only, and a
/// message must not expire there (with no dead-letter target it would be dropped).
pub fn holding_expires(broker: &BrokerConfig) -> bool {
    !is_quorum(&arguments(&broker.queue_arguments))
}

/// The queues where messages wait to come back to `queue`, each with its step: one retry
/// queue per schedule step, then the defer queues.
pub fn holding_queues(queue: &str, retry_steps: &[Duration]) -> Vec<(String, Duration)> {
    let retry = retry_steps.iter().map(|s| (retry_queue(queue, *s), *s));
    let defer = DEFER_STEPS.iter().map(|s| (defer_queue(queue, *s), *s));
    retry.chain(defer).collect()
}

/// Arguments of a holding queue. A classic one holds messages up to `ttl`, then
/// dead-letters them to `queue`. A quorum one has neither: its dead-lettering is lossy
/// at-most-once, and at-least-once stalled for minutes on RabbitMQ 3.10 when the main
/// queue's leader node died, so only the bridge brings its messages back.
pub fn holding(arguments: &FieldTable, queue: &str, ttl: Duration) -> FieldTable {
    let mut table = arguments.clone();
    if is_quorum(arguments) {
        return table;
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

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn only_classic_holding_queues_expire_and_dead_letter() {
        let mut quorum = FieldTable::default();
        quorum.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        let table = holding(&quorum, "q", Duration::from_secs(2));
        assert_eq!(table, quorum);
        let classic = holding(&FieldTable::default(), "q", Duration::from_secs(2));
        assert!(classic.contains_key("x-message-ttl"));
        assert!(classic.contains_key("x-dead-letter-routing-key"));
    }

    #[test]
    fn step_names_are_compact() {
        assert_eq!(step_name(Duration::from_millis(250)), "250ms");
        assert_eq!(step_name(5 * S), "5s");
        assert_eq!(step_name(300 * S), "5m");
        assert_eq!(step_name(7200 * S), "2h");
        assert_eq!(step_name(90 * S), "90s");
    }
}
