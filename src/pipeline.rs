//! The path of one message: parse → route → format → sign → send → decide.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{field, info, warn, Instrument, Span};

use crate::channel::Channel;
use crate::deliver::{Request, SendError, Sender, UrlRefused};
use crate::format::{standard_message, TemplateContext, TemplateError};
use crate::limiter::Limiter;
use crate::message::{excerpt, Attempt, MessageId, MessageType, NotifyType, QueueMessage};
use crate::parse::{self, BadInput};
use crate::retry::{Failure, Next};
use crate::schema::Schemas;
use crate::settings::Settings;
use crate::sign::SignContext;

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

/// A message turned into the exact request its brand will receive.
#[derive(Debug)]
pub struct Prepared {
    pub channel: Arc<Channel>,
    pub message: QueueMessage,
    pub request: Request,
    /// The string that was signed, secret masked (only when asked for).
    pub string_to_sign: Option<String>,
}

/// What became of one delivery attempt.
#[derive(Debug)]
pub enum Outcome {
    /// The brand's answer met the channel's success rule.
    Delivered { status: u16 },
    /// The attempt did not land; `status` is the brand's HTTP status when it answered.
    Failed {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
    /// The message can never be delivered as it stands.
    Bad(BadInput),
    /// The channel's in-flight limit and the line behind it are full: not attempted.
    Deferred,
}

/// What the consumer does with the message now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ack,
    /// Re-publish to the retry queue of `step`, to come back after `wait`.
    RetryIn {
        step: Duration,
        wait: Duration,
    },
    /// Not attempted (its channel is saturated): back to the broker for `wait`, same attempt.
    Defer {
        wait: Duration,
    },
    Park,
}

/// The outcome, the verdict, and what is known about the message.
#[derive(Debug)]
pub struct Handled {
    pub outcome: Outcome,
    pub verdict: Verdict,
    pub channel: Option<String>,
    pub notify_type: Option<NotifyType>,
    /// The HTTP attempt, when one was made.
    pub sent: Option<Sent>,
}

/// What one HTTP attempt looked like, for the journal and metrics.
#[derive(Debug)]
pub struct Sent {
    pub url: String,
    pub latency: Duration,
    /// The brand's answer (at most 64 KiB), when it answered.
    pub response: Option<String>,
}

impl Handled {
    /// Bad input found before the pipeline could route it: parked, channel unknown.
    pub fn bad(bad: BadInput) -> Self {
        Self {
            outcome: Outcome::Bad(bad),
            verdict: Verdict::Park,
            channel: None,
            notify_type: None,
            sent: None,
        }
    }

    /// `reason-code: message` for an outcome that did not land (the `x-notify-error` text).
    pub fn error(&self) -> Option<String> {
        match &self.outcome {
            Outcome::Delivered { .. } | Outcome::Deferred => None,
            Outcome::Failed { error, .. } => Some(format!("delivery-failed: {error}")),
            Outcome::Bad(bad) => Some(bad.header_value()),
        }
    }

    /// The brand's HTTP status, when it answered.
    pub fn status(&self) -> Option<u16> {
        match &self.outcome {
            Outcome::Delivered { status } => Some(*status),
            Outcome::Failed { status, .. } => *status,
            Outcome::Bad(_) | Outcome::Deferred => None,
        }
    }
}

/// A parsed message with its channel and checked URL.
struct Routed {
    channel: Arc<Channel>,
    message: QueueMessage,
    url: url::Url,
}

/// Formats and signs a routed message into the exact request.
fn build(
    schemas: &Schemas,
    routed: Routed,
    id: &MessageId,
    pins: &Pins,
    explain: bool,
) -> Result<Prepared, BadInput> {
    let Routed {
        channel,
        message,
        url,
    } = routed;
    let standard = standard_message(&message, channel.app_id.as_deref(), pins.now_ms, schemas)?;
    let too_large = || BadInput::BodyTooLarge {
        channel: channel.id.clone(),
        limit: channel.max_body_bytes,
    };
    let fields = match (&message.message_type, &channel.template) {
        (MessageType::Third, Some(template)) => template
            .render(&TemplateContext {
                standard: &standard,
                notify_type: message.notify_type.as_str(),
                channel_id: &channel.id,
                now_ms: pins.now_ms,
            })
            .map_err(|e| match e {
                TemplateError::TooLarge { .. } => too_large(),
                e => BadInput::Unformattable {
                    channel: channel.id.clone(),
                    reason: e.to_string(),
                },
            })?,
        _ => standard,
    };
    let ctx = SignContext {
        now_ms: pins.now_ms,
        nonce: pins.nonce.as_deref(),
        notify_type: message.notify_type,
    };
    let signed = channel
        .signer
        .sign(fields, channel.encoding, &ctx, explain)
        .map_err(|e| BadInput::Unsignable {
            channel: channel.id.clone(),
            reason: e.to_string(),
        })?;
    if signed.body.len() > channel.max_body_bytes {
        return Err(too_large());
    }
    let mut headers = vec![(
        "Content-Type".to_owned(),
        channel.encoding.content_type().to_owned(),
    )];
    if channel.notify_id_header {
        headers.push(("X-Notify-Id".to_owned(), id.as_str().to_owned()));
    }
    headers.extend(signed.headers);
    if let Some(bad) = invalid_header(&headers) {
        return Err(BadInput::BadHeaderValue {
            channel: channel.id.clone(),
            header: bad.to_owned(),
        });
    }
    Ok(Prepared {
        channel,
        message,
        request: Request {
            url,
            headers,
            body: signed.body,
        },
        string_to_sign: signed.string_to_sign,
    })
}

/// The first header whose name or value HTTP would refuse (a CR or LF could split it).
fn invalid_header(headers: &[(String, String)]) -> Option<&str> {
    use reqwest::header::{HeaderName, HeaderValue};
    headers
        .iter()
        .find(|(name, value)| {
            HeaderName::from_bytes(name.as_bytes()).is_err()
                || HeaderValue::from_str(value).is_err()
        })
        .map(|(name, _)| name.as_str())
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
                // The line behind the limit is as long as the limit: a hanging brand holds
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
            (Outcome::Delivered { status }, _) => info!(status, "delivered"),
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
            .map(|(id, (channel, limit))| (id.clone(), limit.in_flight(channel.max_in_flight)))
            .collect()
    }
}

/// Ack what landed, park what never will, and let the channel's policy time the rest.
fn decide(channel: &Channel, outcome: &Outcome, attempt: Attempt) -> Verdict {
    let (status, retry_after) = match outcome {
        Outcome::Delivered { .. } => return Verdict::Ack,
        Outcome::Bad(_) => return Verdict::Park,
        Outcome::Deferred => {
            return Verdict::Defer {
                wait: defer_wait(attempt.deferrals, channel.timeout, rand::random::<f64>()),
            }
        }
        Outcome::Failed {
            status,
            retry_after,
            ..
        } => (*status, *retry_after),
    };
    let now = Pins::now().now_ms;
    let since_first = Duration::from_millis(now.saturating_sub(attempt.first_at_ms.unwrap_or(now)));
    let failure = Failure {
        status,
        retry_after,
    };
    match channel
        .retry
        .after_failure(attempt.number, since_first, failure, rand::random::<f64>())
    {
        Next::RetryIn { step, wait } => Verdict::RetryIn { step, wait },
        Next::Park => Verdict::Park,
    }
}

/// A saturated channel frees a slot within about one timeout; deferrals start there and
/// double (to at most 8 timeouts, and [`MAX_DEFER`]) so its surplus does not churn through
/// the broker. Up to 10% jitter spreads them.
fn defer_wait(deferrals: u32, timeout: Duration, jitter: f64) -> Duration {
    let base = (timeout * (1u32 << deferrals.min(3))).min(MAX_DEFER);
    base + base.mul_f64(0.1 * jitter.clamp(0.0, 1.0))
}

/// The longest a deferred message waits before it is tried again.
pub const MAX_DEFER: Duration = Duration::from_secs(30);

/// The start of a response body, single-line, for headers and logs.
fn snippet(body: &str) -> String {
    let one_line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    format!("{:?}", one_line.trim())
}
