//! One callback from request to answer: verify, claim the nonce, skip a repeat, publish,
//! remember. The order is the contract: nothing unverified is published, and the provider
//! hears "success" only once the broker confirmed (or had already confirmed) the event.
//!
//! The event's `message_id` is `<provider>-<32 hex>`, the start of SHA-256 over the
//! provider and what stays the same when it pushes the event again: 商战 the body's fields
//! but `sign`; EM `appid` and `request_data` (its `timestamp` and `sign` change per push);
//! 运之盟 `X-EventCode` and the decrypted body (ciphertexts change per push), keys sorted.
//! The idempotency key is that id under the receiver's name (see `replay::event_key`).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tracing::warn;

use super::publish::Outlet;
use super::store::{Claim, Store};
use super::verify::{self, Verified};
use super::{replay, CallbackError, Receiver, Stats};
use crate::format::field_text;

/// How long an event is marked as being published: longer than a publish can take
/// (link and confirm timeouts), short enough that a crashed replica's claim soon lapses.
const PENDING_TTL: Duration = Duration::from_secs(30);
const PENDING: &str = "pending";
const DONE: &str = "done";

/// What every receiver shares.
pub struct Shared {
    pub store: Store,
    pub key_prefix: String,
    /// Callbacks handled at once; past it the provider gets a 503 and retries.
    pub permits: Semaphore,
}

/// One receiver with its way to the broker and its counters.
pub struct Route {
    pub receiver: Receiver,
    pub outlet: Outlet,
    pub stats: Arc<Stats>,
}

/// A request as it arrived.
pub struct Incoming {
    pub body: Bytes,
    pub headers: HeaderMap,
    pub remote: SocketAddr,
    pub received_at_ms: u64,
}

/// A callback answered with success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    Published {
        message_id: String,
    },
    /// Published before, within the dedup window: not published again.
    Duplicate {
        message_id: String,
    },
}

/// Runs one callback through verification and publishing.
pub async fn handle(
    route: &Arc<Route>,
    shared: &Shared,
    incoming: Incoming,
) -> Result<Accepted, CallbackError> {
    let verified = check(route, &incoming).await?;
    let receiver = &route.receiver;
    let nonce_key = verified
        .nonce
        .as_ref()
        .map(|n| replay::nonce_key(&shared.key_prefix, &receiver.name, n));
    if let Some(key) = &nonce_key {
        let ttl = replay::nonce_ttl(receiver.replay_window);
        if shared.store.claim(key, "1", ttl).await? != Claim::Claimed {
            return Err(CallbackError::ReplayedNonce);
        }
    }
    let published = publish_once(route, shared, &verified, &incoming).await;
    if let (Err(_), Some(key)) = (&published, &nonce_key) {
        // A nonce is used up only by an accepted callback: the provider may retry this
        // very request after our failure, and must not be called a replay for it.
        release(&shared.store, key).await;
    }
    published
}

/// Verifies on the blocking pool when the signer is RSA, inline otherwise (MD5 is cheap).
async fn check(route: &Arc<Route>, incoming: &Incoming) -> Result<Verified, CallbackError> {
    let now_ms = incoming.received_at_ms;
    if !route.receiver.signer.is_expensive() {
        let request = verify::Request {
            body: &incoming.body,
            headers: &incoming.headers,
            now_ms,
        };
        return verify::verify(&route.receiver, &request);
    }
    let (route, body, headers) = (
        Arc::clone(route),
        incoming.body.clone(),
        incoming.headers.clone(),
    );
    tokio::task::spawn_blocking(move || {
        let request = verify::Request {
            body: &body,
            headers: &headers,
            now_ms,
        };
        verify::verify(&route.receiver, &request)
    })
    .await
    .map_err(|_| CallbackError::CannotVerify)?
}

/// Publishes the event unless it was published within the window, then remembers it.
async fn publish_once(
    route: &Route,
    shared: &Shared,
    verified: &Verified,
    incoming: &Incoming,
) -> Result<Accepted, CallbackError> {
    let receiver = &route.receiver;
    let message_id = message_id(receiver, verified);
    let key = replay::event_key(&shared.key_prefix, &receiver.name, &message_id);
    match shared.store.claim(&key, PENDING, PENDING_TTL).await? {
        Claim::Claimed => {}
        Claim::Held(held) if held == DONE => return Ok(Accepted::Duplicate { message_id }),
        Claim::Held(_) => return Err(CallbackError::InProgress),
    }
    let routing_key = routing_key(receiver, verified);
    let body = serde_json::to_vec(&verified.body).unwrap_or_default();
    let properties = properties(receiver, verified, incoming, &message_id);
    if let Err(e) = route.outlet.publish(&routing_key, &body, properties).await {
        release(&shared.store, &key).await;
        return Err(e.into());
    }
    crate::failpoint::hit(crate::failpoint::INBOUND_AFTER_CONFIRM);
    if let Err(e) = shared.store.set(&key, DONE, receiver.dedup_window).await {
        // Published and confirmed: success stands. A repeat within PENDING_TTL is answered
        // 503, one after it is published again (at least once, never lost).
        warn!(error = %e, "cannot record the event as published");
    }
    Ok(Accepted::Published { message_id })
}

fn message_id(receiver: &Receiver, verified: &Verified) -> String {
    let provider = receiver.provider.as_str();
    let mut hash = Sha256::new();
    hash.update(provider.as_bytes());
    hash.update(b"\n");
    hash.update(verified.identity.as_bytes());
    let hex = hex::encode(hash.finalize());
    format!("{provider}-{}", &hex[..32])
}

/// Placeholders read the body's fields, then the provider's extras, then `event`,
/// `provider` and `receiver`.
fn routing_key(receiver: &Receiver, verified: &Verified) -> String {
    receiver.routing_key.render(|name| {
        let field = verified
            .body
            .get(name)
            .or_else(|| verified.extra.get(name))
            .filter(|v| !v.is_null());
        if let Some(value) = field {
            return Some(field_text(value));
        }
        match name {
            "event" => verified.event.as_deref().map(Cow::Borrowed),
            "provider" => Some(Cow::Borrowed(receiver.provider.as_str())),
            "receiver" => Some(Cow::Borrowed(receiver.name.as_str())),
            _ => None,
        }
    })
}

fn properties(
    receiver: &Receiver,
    verified: &Verified,
    incoming: &Incoming,
    message_id: &str,
) -> BasicProperties {
    let text = |s: &str| AMQPValue::LongString(s.into());
    let mut headers = FieldTable::default();
    headers.insert("x-provider".into(), text(receiver.provider.as_str()));
    headers.insert("x-receiver".into(), text(&receiver.name));
    if let Some(event) = &verified.event {
        headers.insert("x-event".into(), text(event));
    }
    let received_at = i64::try_from(incoming.received_at_ms).unwrap_or(i64::MAX);
    headers.insert("x-received-at".into(), AMQPValue::LongLongInt(received_at));
    headers.insert(
        "x-remote-addr".into(),
        text(&incoming.remote.ip().to_string()),
    );
    if let Some(ct) = incoming
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
    {
        headers.insert("x-content-type".into(), text(ct));
    }
    for (name, value) in &verified.headers {
        headers.insert((*name).into(), text(value));
    }
    let mut properties = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_message_id(message_id.into())
        .with_timestamp(incoming.received_at_ms / 1000)
        .with_app_id("notify-bridge".into())
        .with_headers(headers);
    if let Some(event) = &verified.event {
        properties = properties.with_type(event.as_str().into());
    }
    properties
}

async fn release(store: &Store, key: &str) {
    if let Err(e) = store.release(key).await {
        warn!(error = %e, "cannot release a claim; it lapses with its expiry");
    }
}
