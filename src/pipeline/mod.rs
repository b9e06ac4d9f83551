//! The path of one message: parse → route → format → sign → send → decide.
//!
//! `request` turns a routed message into the exact request; `outcome` holds what became
//! of it and the decision the consumer carries out.

mod outcome;
mod request;

use outcome::decide;
pub use outcome::{Handled, Outcome, Sent, Verdict, MAX_DEFER};
pub use request::Prepared;
use request::{build, Routed};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{debug, field, info, warn, Instrument, Span};

use crate::channel::Channel;
use crate::deliver::{SendError, Sender, UrlRefused};
use crate::limiter::Limiter;
use crate::message::{excerpt, Attempt, MessageId};
use crate::parse::{self, BadInput};
use crate::schema::Schemas;
use crate::settings::Settings;

/// Values that would otherwise come from the clock or randomness; pinned by `sign --at`.
#[derive(Debug, Clone)]
pub struct Pins {
    pub now_ms: u64,
    /// The nonce of signers that send one; fresh per attempt when `None`.
    pub nonce: Option<String>,
}

impl Pins {
    /// The current time.
    pub fn now() -> Self {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        Self {
            now_ms,
            nonce: None,
        }
    }
}

/// Everything needed to handle messages, built once from settings.
pub struct Pipeline {
    channels: HashMap<String, (Arc<Channel>, Limiter)>,
    schemas: Arc<Schemas>,
    sender: Sender,
    max_message_bytes: usize,
}

impl Pipeline {
    /// Builds the routing table and per-channel in-flight limits.
    pub fn new(settings: &Settings, sender: Sender) -> Self {
        let channels = settings
            .channels
            .values()
            .map(|c| {
                // The line behind the limit is as long as the limit: a stalled brand holds
                // at most twice its max_in_flight of the prefetch window.
                let limit = Limiter::new(c.max_in_flight, c.max_in_flight);
                (c.id.clone(), (Arc::new(c.clone()), limit))
            })
            .collect();
        Self {
            channels,
            schemas: Arc::new(Schemas::load()),
            sender,
            max_message_bytes: settings.broker.max_message_bytes,
        }
    }

    /// Parses, routes, formats and signs: everything short of sending.
    pub fn prepare(
        &self,
        id: &MessageId,
        body: &[u8],
        content_type: Option<&str>,
        pins: &Pins,
        explain: bool,
    ) -> Result<Prepared, BadInput> {
        id.check()?;
        let routed = self.route(body, content_type)?;
        build(&self.schemas, routed, id, pins, explain)
    }

    /// Parses the message and finds its channel and URL: the cheap checks.
    fn route(&self, body: &[u8], content_type: Option<&str>) -> Result<Routed, BadInput> {
        let message =
            parse::queue_message(body, content_type, self.max_message_bytes, &self.schemas)?;
        let (channel, _) = self
            .channels
            .get(&message.channel_id)
            .ok_or_else(|| BadInput::UnknownChannel(excerpt(&message.channel_id)))?;
        if !channel.accepts(message.message_type) {
            return Err(BadInput::MessageTypeRefused {
                channel: channel.id.clone(),
                message_type: message.message_type,
            });
        }
        let url = channel.url_policy.check(&message.notify_url)?;
        Ok(Routed {
            channel: Arc::clone(channel),
            message,
            url,
        })
    }

    /// Routes inline, then builds; RSA signing runs on the blocking pool, not a reactor thread.
    async fn prepare_async(
        &self,
        id: &MessageId,
        body: &[u8],
        content_type: Option<&str>,
    ) -> Result<Prepared, BadInput> {
        // The id becomes the X-Notify-Id header: a CR/LF in it must never reach HTTP.
        id.check()?;
        let routed = self.route(body, content_type)?;
        let pins = Pins::now();
        if !routed.channel.signer.is_expensive() {
            return build(&self.schemas, routed, id, &pins, false);
        }
        let schemas = Arc::clone(&self.schemas);
        let id = id.clone();
        let channel = routed.channel.id.clone();
        tokio::task::spawn_blocking(move || build(&schemas, routed, &id, &pins, false))
            .await
            .unwrap_or_else(|e| {
                Err(BadInput::Unsignable {
                    channel,
                    reason: format!("signing task failed: {e}"),
                })
            })
    }

    /// Handles one message off the queue, within a span carrying its id, channel and type.
    pub async fn handle(
        &self,
        id: &MessageId,
        body: &[u8],
        content_type: Option<&str>,
        attempt: Attempt,
    ) -> Handled {
        let span = tracing::info_span!(
            "message",
            id = %id,
            attempt = attempt.number,
            channel = field::Empty,
            notify_type = field::Empty
        );
        self.handle_in_span(id, body, content_type, attempt)
            .instrument(span)
            .await
    }

    async fn handle_in_span(
        &self,
        id: &MessageId,
        body: &[u8],
        content_type: Option<&str>,
        attempt: Attempt,
    ) -> Handled {
        let mut prepared = match self.prepare_async(id, body, content_type).await {
            Ok(p) => p,
            Err(bad) => {
                warn!(reason = bad.code(), error = %bad, "bad input; parking");
                return Handled::bad(bad);
            }
        };
        let channel = Arc::clone(&prepared.channel);
        let notify_type = prepared.message.notify_type;
        if channel.notify_id_header {
            // Lets a brand tell a retry from a duplicate of the first attempt.
            let number = attempt.number.to_string();
            prepared
                .request
                .headers
                .push(("X-Notify-Attempt".into(), number));
        }
        Span::current()
            .record("channel", channel.id.as_str())
            .record("notify_type", notify_type.as_str());
        let (outcome, sent) = self.send(prepared).await;
        let verdict = decide(&channel, &outcome, attempt);
        match (&outcome, verdict) {
            // Successes are counted in metrics and the journal; at info, one stderr write
            // per message costs ~15% of the bridge's CPU at full rate (bench/FINDINGS.md).
            (Outcome::Delivered { status }, _) => debug!(status, "delivered"),
            (Outcome::Failed { status, error, .. }, Verdict::RetryIn { wait, .. }) => {
                warn!(status, error = %error, retry_in = ?wait, "delivery failed; will retry")
            }
            (Outcome::Failed { status, error, .. }, _) => {
                warn!(status, error = %error, "delivery failed; parking")
            }
            (Outcome::Deferred, _) => info!("channel saturated; deferred"),
            (Outcome::Bad(_), _) => {}
        }
        Handled {
            outcome,
            verdict,
            channel: Some(channel.id.clone()),
            notify_type: Some(notify_type),
            sent,
        }
    }

    async fn send(&self, prepared: Prepared) -> (Outcome, Option<Sent>) {
        let channel = &prepared.channel;
        let Some((_, limit)) = self.channels.get(&channel.id) else {
            return (Outcome::Deferred, None);
        };
        let Some(_permit) = limit.acquire().await else {
            return (Outcome::Deferred, None);
        };
        let url = prepared.request.url.to_string();
        let started = Instant::now();
        let allow_private = channel.url_policy.allow_private;
        match self
            .sender
            .send(prepared.request, channel.timeout, allow_private)
            .await
        {
            Ok(answer) => {
                let outcome = if channel.success.holds(answer.status, &answer.body) {
                    limit.progressed();
                    Outcome::Delivered {
                        status: answer.status,
                    }
                } else {
                    Outcome::Failed {
                        status: Some(answer.status),
                        error: format!(
                            "answer did not meet the success rule: {}",
                            snippet(&answer.body)
                        ),
                        retry_after: answer.retry_after,
                    }
                };
                let sent = Sent {
                    url,
                    latency: answer.latency,
                    response: Some(answer.body),
                };
                (outcome, Some(sent))
            }
            Err(SendError::Private(refused)) => {
                // A policy refusal, not a brand failure: retrying cannot help.
                let reason = UrlRefused::ResolvesPrivate(refused.to_string());
                (Outcome::Bad(BadInput::UrlRefused(reason)), None)
            }
            Err(SendError::InvalidHeader(header)) => {
                // `build` checks headers first; should one slip through, it is the
                // message's, and it would fail the same way on every retry.
                let bad = BadInput::BadHeaderValue {
                    channel: channel.id.clone(),
                    header,
                };
                (Outcome::Bad(bad), None)
            }
            Err(e) => {
                let outcome = Outcome::Failed {
                    status: None,
                    error: e.to_string(),
                    retry_after: None,
                };
                let sent = Sent {
                    url,
                    latency: started.elapsed(),
                    response: None,
                };
                (outcome, Some(sent))
            }
        }
    }
}

impl Pipeline {
    /// Requests in flight per channel, for the metrics gauge.
    pub fn in_flight(&self) -> Vec<(String, usize)> {
        self.channels
            .iter()
            .map(|(id, (_, limit))| (id.clone(), limit.in_flight()))
            .collect()
    }
}

/// The start of a response body, single-line, for headers and logs.
fn snippet(body: &str) -> String {
    let one_line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    format!("{:?}", one_line.trim())
}
