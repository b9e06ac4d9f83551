//! Replaying parked messages: a `dead replay` run over the lot, and one message by its id.
//!
//! A run moves each message at most once and ends, even while the bridge parks its replays
//! again at once (bad input, a `park_on` status): it takes no more than the lot held when it
//! began, and every message it re-publishes carries [`REPLAY_RUN`]; meeting one of its own
//! means the lot has come round, so that message goes back to the tail and the run ends.
//!
//! Replaying one id (`POST /deliveries/{id}/replay`) takes that id's parked copies out of the
//! lot in the same step, so a later `dead replay` cannot deliver it a second time. The lot
//! lives in the broker, so this holds whichever replica serves the request, and whatever
//! journal (SQLite per replica, or a shared PostgreSQL) it keeps.

use lapin::message::BasicGetMessage;
use lapin::types::{AMQPValue, LongString};
use lapin::BasicProperties;
use tracing::info;

use super::{describe, fresh, pass::Pass, Filter, Parked};
use crate::broker::headers::REPLAY_RUN;
use crate::broker::{self, BrokerConfig, BrokerError};

/// Moves matching parked messages back to the main queue, stripped of their retry history,
/// so each starts its channel's schedule afresh. Returns those moved, in order.
pub async fn replay(broker: &BrokerConfig, filter: &Filter) -> Result<Vec<Parked>, BrokerError> {
    let run = format!("{:016x}", rand::random::<u64>());
    replay_run(broker, filter, &run).await
}

/// [`replay`] as the run `run`: the id it stamps on what it moves, and logs. Runs must not
/// share an id; two that did would each stop at the other's messages.
pub async fn replay_run(
    broker: &BrokerConfig,
    filter: &Filter,
    run: &str,
) -> Result<Vec<Parked>, BrokerError> {
    let mut pass = Pass::open(broker, "dead replay").await?;
    let mut moved = Vec::new();
    while filter.has_room(moved.len()) {
        let Some(message) = pass.next().await? else {
            break;
        };
        if run_of(&message).as_deref() == Some(run) {
            pass.to_tail(&message).await?;
            break;
        }
        let parked = describe(&message);
        if !filter.matches(&parked) {
            pass.hold(message.delivery.delivery_tag);
            continue;
        }
        let properties = stamped(fresh(&message.delivery.properties), run);
        let body = &message.delivery.data;
        broker::publish_confirmed(&pass.channel, &broker.queue, body, properties).await?;
        // Acked only after the confirm: a crash here replays twice, never loses one.
        pass.remove(message.delivery.delivery_tag).await?;
        info!(id = %parked.id, channel = %parked.channel, reason = %parked.reason, %run, "replayed from the parking lot");
        moved.push(parked);
    }
    pass.finish().await?;
    Ok(moved)
}

/// What replaying one id did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayedId {
    /// Parked copies of the id removed from the lot (0 when none was parked).
    pub taken_from_lot: usize,
}

/// Re-publishes message `id` to the main queue for a fresh schedule — `original` (body and
/// properties) when the caller has it, else its parked copy — and removes its parked copies,
/// only once the re-publish is confirmed. `None` when there is neither.
///
/// The whole lot is scanned, held unacked meanwhile; copies another pass holds at that
/// moment (a concurrent `dead list`) are not seen, which `taken_from_lot` shows.
pub async fn replay_id(
    broker: &BrokerConfig,
    id: &str,
    original: Option<(Vec<u8>, BasicProperties)>,
) -> Result<Option<ReplayedId>, BrokerError> {
    let mut pass = Pass::open(broker, "replay").await?;
    let mut copies = Vec::new();
    while let Some(message) = pass.next().await? {
        if describe(&message).id == id {
            copies.push(message);
        } else {
            pass.hold(message.delivery.delivery_tag);
        }
    }
    let chosen = original.or_else(|| {
        let copy = &copies.first()?.delivery;
        let properties = fresh(&copy.properties).with_message_id(id.into());
        Some((copy.data.clone(), properties))
    });
    let Some((body, properties)) = chosen else {
        pass.finish().await?;
        return Ok(None);
    };
    broker::publish_confirmed(&pass.channel, &broker.queue, &body, properties).await?;
    for copy in &copies {
        pass.remove(copy.delivery.delivery_tag).await?;
    }
    info!(%id, taken_from_lot = copies.len(), "replayed by id");
    let taken_from_lot = copies.len();
    pass.finish().await?;
    Ok(Some(ReplayedId { taken_from_lot }))
}

fn run_of(message: &BasicGetMessage) -> Option<String> {
    let headers = message.delivery.properties.headers().as_ref()?;
    match headers.inner().get(REPLAY_RUN)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        _ => None,
    }
}

fn stamped(properties: BasicProperties, run: &str) -> BasicProperties {
    let mut headers = properties.headers().clone().unwrap_or_default();
    headers.insert(
        REPLAY_RUN.into(),
        AMQPValue::LongString(LongString::from(run.as_bytes().to_vec())),
    );
    properties.with_headers(headers)
}
