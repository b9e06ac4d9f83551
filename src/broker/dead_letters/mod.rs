//! Operator tools for `<queue>.dead`: list, replay and purge what is parked, each in one
//! bounded pass that touches every message at most once and ends (see `pass.rs`).

mod pass;
mod replay;

use lapin::message::BasicGetMessage;
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use tracing::info;

use super::headers::{ATTEMPT, CHANNEL, ERROR, NOTIFY_TYPE, PARKED_AT, STATUS};
use super::{BrokerConfig, BrokerError};
use pass::Pass;

pub use replay::{replay, replay_id, replay_run, ReplayedId};

/// One parked message as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parked {
    pub id: String,
    pub channel: String,
    pub notify_type: String,
    pub attempts: String,
    pub status: String,
    /// The whole `x-notify-error` text: `reason-code: detail`.
    pub reason: String,
    /// When it was parked, epoch ms; `None` for messages parked before the header existed.
    pub parked_at_ms: Option<u64>,
}

impl Parked {
    /// The reason's stable code, e.g. `delivery-failed` or `not-json`.
    pub fn reason_code(&self) -> &str {
        self.reason.split(':').next().unwrap_or_default().trim()
    }
}

/// Which parked messages to touch; every field narrows, `None` means any.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub channel: Option<String>,
    /// A reason code, as `x-notify-error` starts (`delivery-failed`, `unformattable`, …).
    pub reason: Option<String>,
    /// Only messages parked at or after this time, epoch ms. Messages without a parked-at
    /// header count as parked long ago, so they never match.
    pub since_ms: Option<u64>,
    /// At most this many.
    pub limit: Option<usize>,
}

impl Filter {
    /// Whether `parked` is one to touch.
    pub fn matches(&self, parked: &Parked) -> bool {
        self.channel.as_ref().is_none_or(|c| *c == parked.channel)
            && self
                .reason
                .as_ref()
                .is_none_or(|r| r == parked.reason_code())
            && self
                .since_ms
                .is_none_or(|since| parked.parked_at_ms.is_some_and(|at| at >= since))
    }

    fn has_room(&self, taken: usize) -> bool {
        self.limit.is_none_or(|l| taken < l)
    }
}

/// A `since` an operator wrote that is neither a look-back nor a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("since `{0}` is neither a duration such as 2h nor an RFC 3339 time such as 2026-01-31T08:00:00Z")]
pub struct SinceError(pub String);

/// `since` as operators write it: a look-back from `now_ms` (`2h`, `30m`) or an RFC 3339
/// time; epoch milliseconds.
pub fn since_ms(text: &str, now_ms: u64) -> Result<u64, SinceError> {
    if let Ok(back) = humantime::parse_duration(text) {
        return Ok(now_ms.saturating_sub(u64::try_from(back.as_millis()).unwrap_or(u64::MAX)));
    }
    let at = humantime::parse_rfc3339_weak(text).map_err(|_| SinceError(text.to_owned()))?;
    let ms = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| SinceError(text.to_owned()))?
        .as_millis();
    Ok(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// Lists matching parked messages without removing them: the lot is left as it was.
pub async fn list(broker: &BrokerConfig, filter: &Filter) -> Result<Vec<Parked>, BrokerError> {
    let mut pass = Pass::open(broker, "dead list").await?;
    let mut out = Vec::new();
    while filter.has_room(out.len()) {
        let Some(message) = pass.next().await? else {
            break;
        };
        let parked = describe(&message);
        if filter.matches(&parked) {
            out.push(parked);
        }
        pass.hold(message.delivery.delivery_tag);
    }
    pass.finish().await?;
    Ok(out)
}

/// What a purge found, and whether it removed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purge {
    pub matched: Vec<Parked>,
    pub purged: bool,
}

/// Removes the matching messages for good, but only when `confirm` equals how many match
/// (an operator's check that the filter selects what they think); otherwise, and with
/// `confirm = None` (a dry run), the lot is left as it was.
pub async fn purge(
    broker: &BrokerConfig,
    filter: &Filter,
    confirm: Option<usize>,
) -> Result<Purge, BrokerError> {
    let mut pass = Pass::open(broker, "dead purge").await?;
    let mut doomed = Vec::new();
    while filter.has_room(doomed.len()) {
        let Some(message) = pass.next().await? else {
            break;
        };
        let parked = describe(&message);
        if filter.matches(&parked) {
            doomed.push((parked, message.delivery.delivery_tag));
        } else {
            pass.hold(message.delivery.delivery_tag);
        }
    }
    // Everything matching is taken at once, so the count confirmed is the count removed.
    let purged = confirm == Some(doomed.len());
    let mut matched = Vec::with_capacity(doomed.len());
    for (parked, tag) in doomed {
        if purged {
            pass.remove(tag).await?;
            info!(id = %parked.id, channel = %parked.channel, reason = %parked.reason, "purged from the parking lot");
        } else {
            pass.hold(tag);
        }
        matched.push(parked);
    }
    pass.finish().await?;
    Ok(Purge { matched, purged })
}

fn describe(message: &BasicGetMessage) -> Parked {
    let props = &message.delivery.properties;
    let value = |name: &str| props.headers().as_ref()?.inner().get(name).cloned();
    let header = |name: &str| value(name).as_ref().map(text).unwrap_or_default();
    let mut channel = header(CHANNEL);
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
        notify_type: header(NOTIFY_TYPE),
        attempts: header(ATTEMPT),
        status: header(STATUS),
        reason: header(ERROR),
        parked_at_ms: value(PARKED_AT).and_then(|v| text(&v).parse().ok()),
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

#[cfg(test)]
mod tests;
