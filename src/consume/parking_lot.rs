//! Operator tools for `<queue>.dead`: list what is parked, and replay it for a fresh schedule.

use lapin::message::BasicGetMessage;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};

use super::broker::{self, BrokerError};
use super::endpoints;
use crate::settings::Settings;

/// One parked message as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parked {
    pub id: String,
    pub channel: String,
    pub notify_type: String,
    pub attempts: String,
    pub status: String,
    pub reason: String,
}

/// Which parked messages to touch.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub channel: Option<String>,
    pub limit: Option<usize>,
}

/// Lists parked messages without removing them.
pub async fn list(settings: &Settings, filter: &Filter) -> Result<Vec<Parked>, BrokerError> {
    let (connection, channel) = open(settings).await?;
    let dead = settings.broker.dead_queue();
    let mut out = Vec::new();
    let mut held = Vec::new();
    while filter.limit.is_none_or(|l| out.len() < l) {
        let Some(message) = get(&channel, &dead).await? else {
            break;
        };
        let parked = describe(&message);
        if filter.channel.as_ref().is_none_or(|c| *c == parked.channel) {
            out.push(parked);
        }
        held.push(message);
    }
    release(held).await?;
    let _ = connection.close(200, "done".into()).await;
    Ok(out)
}

/// Moves matching parked messages back to the main queue, stripped of their retry history,
/// so each starts its channel's schedule afresh. Returns how many were replayed.
pub async fn replay(settings: &Settings, filter: &Filter) -> Result<usize, BrokerError> {
    let (connection, channel) = open(settings).await?;
    let dead = settings.broker.dead_queue();
    let mut replayed = 0;
    let mut held = Vec::new();
    while filter.limit.is_none_or(|l| replayed < l) {
        let Some(message) = get(&channel, &dead).await? else {
            break;
        };
        if filter
            .channel
            .as_ref()
            .is_some_and(|c| *c != describe(&message).channel)
        {
            held.push(message);
            continue;
        }
        let delivery = &message.delivery;
        let properties = fresh(&delivery.properties);
        broker::publish_confirmed(&channel, &settings.broker.queue, &delivery.data, properties)
            .await?;
        // Acked only after the confirm: a crash here replays twice, never loses one.
        delivery
            .ack(BasicAckOptions::default())
            .await
            .map_err(BrokerError::Channel)?;
        replayed += 1;
    }
    release(held).await?;
    let _ = connection.close(200, "done".into()).await;
    Ok(replayed)
}

async fn open(settings: &Settings) -> Result<(lapin::Connection, Channel), BrokerError> {
    let connection = endpoints::connect_any(&settings.broker.urls, "notify-bridge dead").await?;
    let channel = broker::confirm_channel(&connection).await?;
    Ok((connection, channel))
}

async fn get(channel: &Channel, queue: &str) -> Result<Option<BasicGetMessage>, BrokerError> {
    channel
        .basic_get(queue.into(), BasicGetOptions::default())
        .await
        .map_err(|source| BrokerError::Queue {
            queue: queue.to_owned(),
            source,
        })
}

/// Puts browsed messages back where they were.
async fn release(held: Vec<BasicGetMessage>) -> Result<(), BrokerError> {
    for message in held {
        message
            .delivery
            .nack(BasicNackOptions {
                requeue: true,
                ..BasicNackOptions::default()
            })
            .await
            .map_err(BrokerError::Channel)?;
    }
    Ok(())
}

fn describe(message: &BasicGetMessage) -> Parked {
    let props = &message.delivery.properties;
    let header = |name: &str| {
        props
            .headers()
            .as_ref()
            .and_then(|h| h.inner().get(name).map(text))
            .unwrap_or_default()
    };
    let mut channel = header("x-notify-channel");
    if channel.is_empty() {
        // Bad input is parked before routing; its body may still name the channel.
        channel = serde_json::from_slice::<serde_json::Value>(&message.delivery.data)
            .ok()
            .and_then(|v| v.get("channelId")?.as_str().map(str::to_owned))
            .unwrap_or_default();
    }
    Parked {
        id: props
            .message_id()
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        channel,
        notify_type: header("x-notify-type"),
        attempts: header("x-notify-attempt"),
        status: header("x-notify-status"),
        reason: header("x-notify-error"),
    }
}

/// The properties minus the bridge's retry bookkeeping and the broker's `x-death`.
fn fresh(properties: &BasicProperties) -> BasicProperties {
    let kept: FieldTable = properties
        .headers()
        .as_ref()
        .map(|h| {
            h.inner()
                .iter()
                .filter(|(k, _)| !k.as_str().starts_with("x-notify-") && k.as_str() != "x-death")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<std::collections::BTreeMap<_, _>>()
                .into()
        })
        .unwrap_or_default();
    properties.clone().with_headers(kept)
}

fn text(value: &AMQPValue) -> String {
    match value {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.as_str().to_owned(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}
