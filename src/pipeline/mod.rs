//! The path of one message: parse → route → format → sign → send → decide.
//!
//! `request` turns a routed message into the exact request; [`retry::decide`] gives its
//! verdict, and `handled` is the report of it the consumer settles, counts and journals.

mod handled;
mod masking;
mod request;
mod running;

pub use handled::{Handled, Sent};
pub use request::Prepared;
use request::{build, Routed};
pub use running::Running;

use crate::clock::now_ms;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, field, info, warn, Instrument, Span};

use crate::channel::Channel;
use crate::channel_pause::Pauses;
use crate::deliver::{HttpClient, SendError, UrlRefused};
use crate::journal::Mask;
use crate::limiter::Limiter;
use crate::message::{excerpt, Attempt, MessageId};
use crate::parse::{self, BadInput, Declared};
use crate::retry::{self, Deferral, Outcome, Verdict};
use crate::schema::Schemas;

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
        Self {
            now_ms: now_ms(),
            nonce: None,
        }
    }
}

/// Everything needed to handle messages, built once from settings.
pub struct Pipeline {
    channels: HashMap<String, (Arc<Channel>, Limiter)>,
    schemas: Arc<Schemas>,
    sender: HttpClient,
    max_message_bytes: usize,
    /// RSA signatures being made at once: two per core. Many more only queue on the
    /// blocking pool (each an extra thread and its memory); one per core leaves a core
    /// idle between one signature and the next, which measured 35% slower
    /// (bench/FINDINGS.md).
    signing: Arc<Semaphore>,
    /// Channels an operator paused: their messages are deferred before any attempt.
    pauses: Arc<Pauses>,
    /// Voucher secrets hidden in a failed attempt's error and answer, before they are
    /// logged, journalled or written into the parking lot.
    mask: Mask,
}

impl Pipeline {
    /// Builds the routing table and per-channel in-flight limits; messages over
    /// `max_message_bytes` are refused as too large. No channel is paused, and the
    /// presets' password fields are masked, until `with_pauses` and `with_mask` say otherwise.
    pub fn new<'a>(
        channels: impl IntoIterator<Item = &'a Channel>,
        max_message_bytes: usize,
        sender: HttpClient,
    ) -> Self {
        let channels = channels
            .into_iter()
            .map(|c| {
                let limit = Limiter::new(&c.id, c.max_in_flight);
                (c.id.clone(), (Arc::new(c.clone()), limit))
            })
            .collect();
        Self {
            channels,
            schemas: Arc::new(Schemas::load()),
            sender,
            max_message_bytes,
            signing: Arc::new(Semaphore::new(2 * cores())),
            pauses: Arc::default(),
            mask: Mask::default(),
        }
    }

    /// Obeys `pauses` (shared with the task that keeps them current) instead of its own
    /// empty set.
    pub fn with_pauses(mut self, pauses: Arc<Pauses>) -> Self {
        self.pauses = pauses;
        self
    }

    /// Hides `mask`'s secret fields instead of the presets' password fields.
    pub fn with_mask(mut self, mask: Mask) -> Self {
        self.mask = mask;
        self
    }

    /// Parses, routes, formats and signs: everything short of sending.
    pub fn prepare(
        &self,
        id: &MessageId,
        body: &[u8],
        declared: Declared<'_>,
        pins: &Pins,
        explain: bool,
    ) -> Result<Prepared, BadInput> {
        id.check()?;
        let (routed, _) = self.route(body, declared)?;
        build(&self.schemas, routed, id, pins, explain)
    }

    /// Parses the message and finds its channel, the channel's limiter and the URL: the
    /// cheap checks.
    fn route(&self, body: &[u8], declared: Declared<'_>) -> Result<(Routed, &Limiter), BadInput> {
        let message = parse::queue_message(body, declared, self.max_message_bytes, &self.schemas)?;
        let (channel, limit) = self
            .channels
            .get(&message.channel_id)
            .ok_or_else(|| BadInput::UnknownChannel(excerpt(&message.channel_id)))?;
        if !channel.accepts(message.message_type) {
            return Err(BadInput::MessageTypeRefused {
                channel: channel.id.clone(),
                message_type: message.message_type,
            });
        }
        let url = channel
            .url_policy
            .check(&message.notify_url)
            .map_err(|reason| BadInput::UrlRefused {
                channel: channel.id.clone(),
                reason,
            })?;
        let routed = Routed {
            channel: Arc::clone(channel),
            message,
            url,
        };
        Ok((routed, limit))
    }

    /// Formats and signs, stamped with the current time; RSA signing runs on the blocking
    /// pool, not a reactor thread.
    async fn build_now(&self, id: &MessageId, routed: Routed) -> Result<Prepared, BadInput> {
        if !routed.channel.signer.is_expensive() {
            return build(&self.schemas, routed, id, &Pins::now(), false);
        }
        let channel = routed.channel.id.clone();
        let failed = |reason: String| BadInput::Unsignable {
            channel: channel.clone(),
            reason,
        };
        let Ok(_core) = self.signing.acquire().await else {
            return Err(failed("the signing pool is closed".into()));
        };
        // Stamped once a core is free, so the timestamp does not age in the queue.
        let pins = Pins::now();
        let schemas = Arc::clone(&self.schemas);
        let id = id.clone();
        tokio::task::spawn_blocking(move || build(&schemas, routed, &id, &pins, false))
            .await
            .unwrap_or_else(|e| Err(failed(format!("signing task failed: {e}"))))
    }

    /// Handles one message off the queue, within a span carrying its id, channel and type.
    ///
    /// `None` when `abandon` fired before the request went out (the broker connection the
    /// message came on was lost: it returns to the queue by itself, and an attempt now could
    /// not be acked). A request already on the wire is finished.
    pub async fn handle(
        &self,
        id: &MessageId,
        body: &[u8],
        declared: Declared<'_>,
        attempt: Attempt,
        abandon: &CancellationToken,
    ) -> Option<Handled> {
        let span = tracing::info_span!(
            "message",
            id = %id,
            attempt = attempt.number,
            channel = field::Empty,
            notify_type = field::Empty
        );
        self.handle_in_span(id, body, declared, attempt, abandon)
            .instrument(span)
            .await
    }

    async fn handle_in_span(
        &self,
        id: &MessageId,
        body: &[u8],
        declared: Declared<'_>,
        attempt: Attempt,
        abandon: &CancellationToken,
    ) -> Option<Handled> {
        // The id becomes the X-Notify-Id header: a CR/LF in it must never reach HTTP.
        let (routed, limit) = match id
            .check()
            .map_err(BadInput::from)
            .and_then(|()| self.route(body, declared))
        {
            Ok(routed) => routed,
            Err(bad) => {
                let handled = Handled::bad(bad);
                log(&handled.outcome, handled.verdict);
                return Some(handled);
            }
        };
        let channel = Arc::clone(&routed.channel);
        let notify_type = routed.message.notify_type;
        Span::current()
            .record("channel", channel.id.as_str())
            .record("notify_type", notify_type.as_str());
        let handled = |outcome: Outcome, sent: Option<Sent>| {
            let (now, jitter) = (Pins::now().now_ms, rand::random());
            let verdict = retry::decide(
                &channel.retry,
                channel.timeout,
                attempt,
                &outcome,
                now,
                jitter,
            );
            log(&outcome, verdict);
            Handled {
                outcome,
                verdict,
                channel: Some(channel.id.clone()),
                notify_type: Some(notify_type),
                sent,
            }
        };
        if self.pauses.is_paused(&channel.id) {
            return Some(handled(Outcome::Deferred(Deferral::Paused), None));
        }
        // The slot is taken before signing: a message that is then deferred costs no
        // signature, and a signed one goes out at once, its timestamp fresh.
        let ready = async {
            let permit = limit.acquire().await?;
            Some((permit, self.build_now(id, routed).await))
        };
        // Biased: once abandoned, no new request starts, even one whose slot is free.
        let ready = tokio::select! {
            biased;
            _ = abandon.cancelled() => return None,
            ready = ready => ready,
        };
        let Some((_permit, built)) = ready else {
            let outcome = retry::stalled(&channel.retry, attempt, Pins::now().now_ms);
            return Some(handled(outcome, None));
        };
        let mut prepared = match built {
            Ok(p) => p,
            Err(bad) => return Some(handled(Outcome::Bad(bad), None)),
        };
        if channel.notify_id_header {
            // Lets a brand tell a retry from a duplicate of the first attempt.
            let number = attempt.number.to_string();
            prepared
                .request
                .headers
                .push(("X-Notify-Attempt".into(), number));
        }
        let (outcome, sent) = self.send(prepared, limit).await;
        Some(handled(outcome, sent))
    }

    /// Sends within the channel's slot and judges the answer by its success rule.
    async fn send(&self, prepared: Prepared, limit: &Limiter) -> (Outcome, Option<Sent>) {
        let channel = &prepared.channel;
        let url = prepared.request.url.to_string();
        let started = Instant::now();
        let allow_private = channel.url_policy.allow_private;
        let judged = match self
            .sender
            .send(prepared.request, channel.timeout, allow_private)
            .await
        {
            Ok(answer) => {
                let outcome = match channel.success.failure(answer.status, &answer.body) {
                    None => {
                        limit.succeeded(answer.latency);
                        Outcome::Delivered {
                            status: answer.status,
                        }
                    }
                    Some(error) => {
                        limit.failed();
                        Outcome::Failed {
                            status: Some(answer.status),
                            error,
                            retry_after: answer.retry_after,
                        }
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
                let bad = BadInput::UrlRefused {
                    channel: channel.id.clone(),
                    reason: UrlRefused::ResolvesPrivate(refused.to_string()),
                };
                (Outcome::Bad(bad), None)
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
                limit.failed();
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
        };
        masking::masked(&self.mask, judged, &prepared.message.whale_message)
    }
}

impl Pipeline {
    /// The channel with this `channelId`, when it is configured.
    pub fn channel(&self, id: &str) -> Option<&Channel> {
        self.channels.get(id).map(|(c, _)| c.as_ref())
    }

    /// Every configured `channelId`, sorted.
    pub fn channel_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.channels.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    /// Every retry step any channel's schedule uses: one retry queue each.
    pub fn retry_steps(&self) -> Vec<std::time::Duration> {
        retry::queue_steps(self.channels.values().map(|(c, _)| &c.retry))
    }

    /// Each channel's in-flight count, stall and last success, for the metrics gauges.
    pub fn health(&self) -> Vec<ChannelHealth> {
        self.channels
            .iter()
            .map(|(id, (_, limit))| ChannelHealth {
                channel: id.clone(),
                in_flight: limit.in_flight(),
                stalled: limit.is_stalled(),
                last_success_unix_ms: limit.last_success_unix_ms(),
            })
            .collect()
    }
}

/// What the metrics show of one channel's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelHealth {
    pub channel: String,
    /// Requests being sent now.
    pub in_flight: usize,
    /// Stalled: every slot taken and no success for a while; its surplus is deferred.
    pub stalled: bool,
    /// The last delivered request, in Unix milliseconds; `None` since the start.
    pub last_success_unix_ms: Option<u64>,
}

/// One line for each outcome an operator may need to see.
fn log(outcome: &Outcome, verdict: Verdict) {
    match (outcome, verdict) {
        // Successes and deferrals are counted in metrics (and successes in the journal); at
        // info, one stderr write per message costs ~15% of the bridge's CPU at full rate
        // (bench/FINDINGS.md). A stall is logged once by the channel's limiter.
        (Outcome::Delivered { status }, _) => debug!(status, "delivered"),
        (Outcome::Deferred(Deferral::Stalled), _) => debug!("channel stalled; deferred"),
        (Outcome::Deferred(Deferral::Paused), _) => debug!("channel paused; deferred"),
        // A retry is routine (the brand's answer is in the journal); a park needs an operator.
        (Outcome::Failed { status, error, .. }, Verdict::RetryIn { wait, .. }) => {
            info!(status, error = %error, retry_in = ?wait, "delivery failed; will retry")
        }
        (Outcome::Failed { status, error, .. }, _) => {
            warn!(status, error = %error, "delivery failed; parking")
        }
        (Outcome::Bad(bad), _) => warn!(reason = bad.code(), error = %bad, "bad input; parking"),
    }
}

/// The cores this process may use.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
