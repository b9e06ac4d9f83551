//! What became of one message, and what the consumer does with it next.

use std::time::Duration;

use crate::broker::topology::DEFER_STEPS;
use crate::channel::Channel;
use crate::message::{Attempt, NotifyType};
use crate::parse::BadInput;
use crate::retry::{jittered, Failure, Next};

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
    /// Not attempted (its channel is stalled): to the defer queue of `step` (one of
    /// [`DEFER_STEPS`]), back after `wait`, same attempt.
    Defer {
        step: Duration,
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
            let step = defer_step(attempt.deferrals, channel.timeout);
            return Verdict::Defer {
                step,
                wait: jittered(step, rand::random()),
            };
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

/// A stalled channel frees a slot within about one timeout: the first deferral waits
/// that long, rounded up to a step, and each further one twice as long, to 8 timeouts
/// (rounded up; at most the last step, 4 min 16 s). Longer would save trips through the
/// broker during a long outage but leave a hanging brand's messages waiting far past
/// their retry schedule; with the default 10 s timeout an hour's outage costs each
/// message about 30 trips. Up to 10% jitter is added on top.
fn defer_step(deferrals: u32, timeout: Duration) -> Duration {
    let wanted = timeout.saturating_mul(1u32 << deferrals.min(3));
    let last = DEFER_STEPS[DEFER_STEPS.len() - 1];
    DEFER_STEPS
        .into_iter()
        .find(|&step| step >= wanted)
        .unwrap_or(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deferrals_start_near_one_timeout_and_double_to_eight_timeouts() {
        let s = Duration::from_secs;
        let steps: Vec<_> = (0..6).map(|d| defer_step(d, s(10))).collect();
        assert_eq!(steps, [16, 32, 64, 128, 128, 128].map(s));
        let short: Vec<_> = (0..5)
            .map(|d| defer_step(d, Duration::from_millis(200)))
            .collect();
        assert_eq!(short, [1, 1, 1, 2, 2].map(s));
        assert_eq!(defer_step(u32::MAX, s(3600)), s(256), "no overflow");
        assert!(steps.iter().all(|step| DEFER_STEPS.contains(step)));
    }
}
