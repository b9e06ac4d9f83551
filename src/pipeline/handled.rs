//! What the pipeline reports of one handled message: its outcome, its verdict, what is
//! known about it, and the HTTP attempt; the journal's record is made from it.

use std::time::Duration;

use crate::clock::now_ms;
use crate::journal::{Entry, JournalOutcome, Original};
use crate::message::NotifyType;
use crate::parse::BadInput;
use crate::retry::{Outcome, Verdict};

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
            Outcome::Delivered { .. } | Outcome::Deferred(_) => None,
            Outcome::Failed { error, .. } => Some(format!("delivery-failed: {error}")),
            Outcome::Bad(bad) => Some(bad.header_value()),
        }
    }

    /// The journal's name for what became of it.
    pub fn journal_outcome(&self) -> JournalOutcome {
        match (&self.outcome, self.verdict) {
            (_, Verdict::Defer { .. }) | (Outcome::Deferred(_), _) => JournalOutcome::Deferred,
            (Outcome::Bad(_), _) => JournalOutcome::BadInput,
            (Outcome::Delivered { .. }, _) | (_, Verdict::Ack) => JournalOutcome::Delivered,
            (_, Verdict::RetryIn { .. }) => JournalOutcome::Retry,
            (_, Verdict::Park) => JournalOutcome::Parked,
        }
    }

    /// The record of one handled message (a deferral too: no attempt, but counted).
    /// `original` is kept on the first attempt so the message can be replayed later.
    pub fn entry(&self, message_id: &str, attempt: u32, original: Option<Original>) -> Entry {
        let handled = self;
        let outcome = self.journal_outcome();
        let sent = handled.sent.as_ref();
        Entry {
            message_id: message_id.to_owned(),
            channel: handled.channel.clone(),
            notify_type: handled.notify_type,
            url: sent.map(|s| s.url.clone()),
            attempt,
            status: handled.status(),
            latency_ms: sent.map(|s| s.latency.as_millis() as u64),
            response: sent.and_then(|s| s.response.clone()),
            error: handled.error(),
            outcome,
            at_ms: now_ms(),
            message: original,
        }
    }

    /// The brand's HTTP status, when it answered.
    pub fn status(&self) -> Option<u16> {
        match &self.outcome {
            Outcome::Delivered { status } => Some(*status),
            Outcome::Failed { status, .. } => *status,
            Outcome::Bad(_) | Outcome::Deferred(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::Deferral;

    #[test]
    fn pipeline_decisions_map_to_journal_outcomes() {
        use std::time::Duration;
        let handled = |outcome, verdict| Handled {
            outcome,
            verdict,
            channel: None,
            notify_type: None,
            sent: None,
        };
        let failed = || Outcome::Failed {
            status: Some(503),
            error: "busy".into(),
            retry_after: None,
        };
        let retry = Verdict::RetryIn {
            step: Duration::from_secs(5),
            wait: Duration::from_secs(5),
        };
        let cases = [
            (
                handled(Outcome::Delivered { status: 200 }, Verdict::Ack),
                JournalOutcome::Delivered,
            ),
            (handled(failed(), retry), JournalOutcome::Retry),
            (handled(failed(), Verdict::Park), JournalOutcome::Parked),
            (
                handled(
                    Outcome::Deferred(Deferral::Stalled),
                    Verdict::Defer {
                        step: Duration::from_secs(1),
                        wait: Duration::from_secs(1),
                    },
                ),
                JournalOutcome::Deferred,
            ),
            (
                handled(
                    Outcome::Bad(crate::parse::BadInput::UnknownChannel("x".into())),
                    Verdict::Park,
                ),
                JournalOutcome::BadInput,
            ),
        ];
        for (handled, expected) in cases {
            assert_eq!(handled.journal_outcome(), expected);
        }
    }
}
