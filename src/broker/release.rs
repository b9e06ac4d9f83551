//! Retried and deferred messages brought back to the main queue by the bridge itself.
//!
//! A message waiting in a `.retry.<step>` or `.retry.defer.<step>` queue is taken by a
//! consumer on that queue as soon as it arrives, kept unacked until its due time, then
//! re-published to the main queue with the broker's confirm, and only then acked. The
//! broker's dead-lettering is not on its path: on quorum queues it is lossy at-most-once,
//! and at-least-once stalled for minutes on RabbitMQ 3.10 when the main queue's leader node
//! died, holding every retry due in the meantime; quorum holding queues therefore have no
//! TTL and no dead-letter target. Classic ones keep both, as the way back when no bridge
//! runs and for messages beyond [`WINDOW`].
//!
//! At least once: a bridge that dies between confirm and ack leaves the message in its
//! holding queue, to be brought back a second time by another.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::stream::{repeat, Repeat, SelectAll, StreamExt, Zip};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use super::headers::{self, DUE_AT};
use super::topology::holding_queues;
use super::{publish_confirmed, BrokerError};
use crate::clock::now_ms;

/// Messages held at once per holding queue; the rest wait in the queue (on classic queues,
/// should they expire there, they come back by the broker's dead-lettering).
pub const WINDOW: u16 = 1000;

/// How long a re-publish the broker refused waits before it is tried again.
const AGAIN_AFTER: Duration = Duration::from_secs(1);

/// How often the schedule is looked at again for new retry steps: a reload may add some.
const RESCAN: Duration = Duration::from_secs(2);

/// A holding queue's deliveries, each with the longest wait that queue allows.
type Held = Zip<lapin::Consumer, Repeat<Duration>>;

/// Takes every message of the holding queues of `main` (one per step that `steps` gives,
/// looked at again every few seconds, and the defer queues) on `channel` (in confirm mode)
/// and brings each back to `main` when due, until `stop` fires (held messages then return
/// to their queues with the channel) or the channel fails (`Err`).
pub async fn run(
    channel: Channel,
    main: String,
    steps: impl Fn() -> Vec<Duration>,
    stop: CancellationToken,
) -> Result<(), BrokerError> {
    channel
        .basic_qos(WINDOW, BasicQosOptions::default())
        .await
        .map_err(BrokerError::Channel)?;
    let mut consumed = HashSet::new();
    let mut deliveries = SelectAll::new();
    let mut rescan = tokio::time::interval(RESCAN);
    let held = TaskTracker::new();
    let ended = loop {
        let next = tokio::select! {
            _ = stop.cancelled() => break Ok(()),
            _ = rescan.tick() => {
                let holding = holding_queues(&main, &steps());
                match consume_new(&channel, holding, &mut consumed, &mut deliveries).await {
                    Ok(()) => continue,
                    Err(e) => break Err(e),
                }
            }
            next = deliveries.next(), if !deliveries.is_empty() => next,
        };
        match next {
            Some((Ok(delivery), longest)) => {
                let wait = due_in(&delivery.properties, now_ms(), longest);
                let (channel, main, stop) = (channel.clone(), main.clone(), stop.clone());
                held.spawn(async move { bring_back(&channel, &main, delivery, wait, &stop).await });
            }
            Some((Err(e), _)) => break Err(BrokerError::Channel(e)),
            None => break Err(BrokerError::Released),
        }
    };
    // Held messages still waiting go back to their queues when the channel closes.
    stop.cancel();
    held.close();
    held.wait().await;
    ended
}

/// Starts consuming each of `holding` not consumed yet.
async fn consume_new(
    channel: &Channel,
    holding: Vec<(String, Duration)>,
    consumed: &mut HashSet<String>,
    deliveries: &mut SelectAll<Held>,
) -> Result<(), BrokerError> {
    for (queue, step) in holding {
        if consumed.contains(&queue) {
            continue;
        }
        let consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|source| BrokerError::Queue {
                queue: queue.clone(),
                source,
            })?;
        // No wait is longer than twice the step (Retry-After's bound).
        deliveries.push(consumer.zip(repeat(step * 2)));
        consumed.insert(queue);
    }
    Ok(())
}

/// Waits `wait`, re-publishes `delivery` to `main` and acks it. Gives up (leaving it
/// unacked, to return with the channel) on `stop` or once the channel is gone.
async fn bring_back(
    channel: &Channel,
    main: &str,
    delivery: Delivery,
    wait: Duration,
    stop: &CancellationToken,
) {
    tokio::select! {
        _ = stop.cancelled() => return,
        _ = tokio::time::sleep(wait) => {}
    }
    let properties = released(&delivery.properties);
    loop {
        match publish_confirmed(channel, main, &delivery.data, properties.clone()).await {
            Ok(()) => break,
            Err(_) if !channel.status().connected() => return,
            Err(e) => {
                warn!(error = %e, "could not bring a retry back to the main queue; trying again")
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(AGAIN_AFTER) => {}
        }
    }
    if let Err(e) = delivery.acker.ack(BasicAckOptions::default()).await {
        // It stays in its holding queue and comes back once more: at least once.
        debug!(error = %e, "a brought-back retry could not be acked");
    }
}

/// How long until a held message is due, at most `longest` (a skewed clock elsewhere must
/// not hold it longer) and at most its expiration (what the broker would have waited). One
/// held by a version without due times waits its expiration.
fn due_in(properties: &BasicProperties, now_ms: u64, longest: Duration) -> Duration {
    let expiration = properties
        .expiration()
        .as_ref()
        .and_then(|e| e.as_str().parse::<u64>().ok())
        .map(Duration::from_millis);
    let due = headers::due_at(properties)
        .map(|at| Duration::from_millis(at.saturating_sub(now_ms)))
        .or(expiration)
        .unwrap_or(Duration::ZERO);
    due.min(expiration.unwrap_or(longest)).min(longest)
}

/// The properties a message goes back to the main queue with: its own, without the
/// expiration (it would expire there) and the due time, as the broker's dead-lettering
/// would have sent it.
fn released(properties: &BasicProperties) -> BasicProperties {
    let p = properties;
    let mut out = BasicProperties::default();
    macro_rules! keep {
        ($($get:ident => $with:ident),* $(,)?) => {
            $(if let Some(v) = p.$get() { out = out.$with(v.clone()); })*
        };
    }
    keep!(
        content_type => with_content_type,
        content_encoding => with_content_encoding,
        delivery_mode => with_delivery_mode,
        priority => with_priority,
        correlation_id => with_correlation_id,
        reply_to => with_reply_to,
        message_id => with_message_id,
        timestamp => with_timestamp,
        kind => with_type,
        user_id => with_user_id,
        app_id => with_app_id,
        cluster_id => with_cluster_id,
    );
    if let Some(table) = p.headers() {
        let mut table = table.inner().clone();
        table.remove(&ShortString::from(DUE_AT));
        out = out.with_headers(FieldTable::from(table));
    }
    out
}

#[cfg(test)]
mod tests {
    use lapin::types::AMQPValue;

    use super::*;

    fn held(due_at: Option<u64>, expiration: Option<&str>) -> BasicProperties {
        let mut table = FieldTable::default();
        table.insert("x-notify-attempt".into(), AMQPValue::LongUInt(2));
        if let Some(at) = due_at {
            table.insert(DUE_AT.into(), headers::epoch_ms(at));
        }
        let mut p = BasicProperties::default()
            .with_headers(table)
            .with_message_id("m-1".into());
        if let Some(e) = expiration {
            p = p.with_expiration(e.into());
        }
        p
    }

    #[test]
    fn waits_until_due_bounded_by_the_expiration_and_twice_the_step() {
        let ms = Duration::from_millis;
        let long = ms(4_000);
        assert_eq!(
            due_in(&held(Some(10_500), Some("1000")), 10_000, long),
            ms(500)
        );
        assert_eq!(due_in(&held(Some(10_500), None), 10_000, long), ms(500));
        // Past due: at once.
        assert_eq!(
            due_in(&held(Some(9_000), Some("1000")), 10_000, long),
            ms(0)
        );
        // A due time far off (a skewed clock) waits no longer than the broker would have,
        // nor than twice the step.
        assert_eq!(
            due_in(&held(Some(99_000), Some("1000")), 10_000, long),
            ms(1000)
        );
        assert_eq!(due_in(&held(Some(99_000), None), 10_000, long), long);
        // Held by a version without due times: its expiration once more.
        assert_eq!(due_in(&held(None, Some("2000")), 10_000, long), ms(2000));
        assert_eq!(due_in(&held(None, None), 10_000, long), ms(0));
    }

    #[test]
    fn goes_back_without_expiration_or_due_time() {
        let p = released(&held(Some(1), Some("1000")));
        assert!(p.expiration().is_none());
        let headers = p.headers().as_ref().unwrap().inner();
        assert!(!headers.contains_key(DUE_AT));
        assert_eq!(
            headers.get("x-notify-attempt"),
            Some(&AMQPValue::LongUInt(2))
        );
        assert_eq!(p.message_id().as_ref().unwrap().as_str(), "m-1");
    }
}
