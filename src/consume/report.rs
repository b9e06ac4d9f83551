//! Where the outcome of a settled message is reported: the metrics and the journal.

use std::sync::Arc;

use lapin::message::Delivery;

use crate::journal::{Journal, JournalOutcome, Original};
use crate::message::{Attempt, MessageId};
use crate::metrics::Metrics;
use crate::pipeline::Handled;

/// The journal's note on an attempt whose outcome could not be settled.
const UNSETTLED: &str =
    "not settled: the broker connection was lost; the broker delivers the message again";

/// Where the outcome of a settled message is reported: metrics and the journal.
pub(super) struct Report {
    pub(super) metrics: Arc<Metrics>,
    pub(super) journal: Journal,
}

impl Report {
    /// Takes the delivery: on a first attempt its body moves into the journal, uncopied.
    pub(super) fn handled(
        &self,
        id: &MessageId,
        attempt: Attempt,
        handled: &Handled,
        mut delivery: Delivery,
    ) {
        self.metrics.observe(handled);
        // The original body once, on the first attempt: enough to replay it later.
        let original = (attempt.number == 1).then(|| Original {
            body: std::mem::take(&mut delivery.data),
            content_type: delivery
                .properties
                .content_type()
                .as_ref()
                .map(|s| s.as_str().to_owned()),
        });
        let entry = handled.entry(id.as_str(), attempt.number, original);
        self.journal.record(entry);
    }

    /// An attempt whose connection was lost before it could be settled: nothing was acked
    /// or re-published, and the broker delivers the message again. Journaled as what the
    /// brand saw (delivered, or else to be tried again), saying why it comes back; nothing,
    /// when no request was made.
    pub(super) fn unsettled(&self, id: &MessageId, attempt: Attempt, handled: &Handled) {
        if handled.sent.is_none() {
            return;
        }
        self.metrics.observe(handled);
        let mut entry = handled.entry(id.as_str(), attempt.number, None);
        if entry.outcome != JournalOutcome::Delivered {
            entry.outcome = JournalOutcome::Retry;
        }
        let note = UNSETTLED;
        entry.error = Some(match entry.error.take() {
            Some(error) => format!("{error}; {note}"),
            None => note.to_owned(),
        });
        self.journal.record(entry);
    }
}
