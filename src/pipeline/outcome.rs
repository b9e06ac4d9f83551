//! What became of one message, and what the consumer does with it next.

use std::time::Duration;

use crate::channel::Channel;
use crate::message::{Attempt, NotifyType};
use crate::parse::BadInput;
use crate::retry::{Failure, Next};

use super::Pins;

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
    /// Its channel is stalled and has no free slot: not attempted.
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
    /// Not attempted (its channel is stalled): back to the broker for `wait`, same attempt.
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

/// Ack what landed, park what never will, and let the channel's policy time the rest.
pub(super) fn decide(channel: &Channel, outcome: &Outcome, attempt: Attempt) -> Verdict {
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

/// A stalled channel frees a slot within about one timeout; deferrals start there and
/// double (to at most 8 timeouts, and [`MAX_DEFER`]) so its surplus does not churn through
/// the broker. Up to 10% jitter spreads them.
fn defer_wait(deferrals: u32, timeout: Duration, jitter: f64) -> Duration {
    let base = (timeout * (1u32 << deferrals.min(3))).min(MAX_DEFER);
    base + base.mul_f64(0.1 * jitter.clamp(0.0, 1.0))
}

/// The longest a deferred message waits before it is tried again.
pub const MAX_DEFER: Duration = Duration::from_secs(30);
