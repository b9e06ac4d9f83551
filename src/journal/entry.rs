//! One journal record: what an attempt did, plus the original queue message for replay.

use std::fmt;

use crate::message::NotifyType;

/// The response body kept per attempt, at most: enough to see why a brand said no.
pub const RESPONSE_LIMIT: usize = 2 * 1024;
/// The error text kept per attempt, at most; errors can quote whole answers.
pub const ERROR_LIMIT: usize = 2 * 1024;
/// Original bodies larger than this are not kept (the attempt still is): a journal row is
/// not the place for a message the broker settings already refuse as too large.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// What became of one attempt, as the journal names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JournalOutcome {
    Delivered,
    /// Failed; re-published to a retry queue.
    Retry,
    /// Failed for good; sent to the parking lot.
    Parked,
    /// Malformed or unroutable; parked without an HTTP attempt.
    BadInput,
    /// Put back for later without an attempt (its channel at its limit, stalled or
    /// paused): recorded apart from the attempts, in `journal_deferrals`.
    Deferred,
}

impl JournalOutcome {
    pub const ALL: [JournalOutcome; 5] = [
        JournalOutcome::Delivered,
        JournalOutcome::Retry,
        JournalOutcome::Parked,
        JournalOutcome::BadInput,
        JournalOutcome::Deferred,
    ];

    /// The stored (and queried) name.
    pub fn as_str(self) -> &'static str {
        match self {
            JournalOutcome::Delivered => "delivered",
            JournalOutcome::Retry => "retry",
            JournalOutcome::Parked => "parked",
            JournalOutcome::BadInput => "bad-input",
            JournalOutcome::Deferred => "deferred",
        }
    }

    /// Parses a stored name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

impl fmt::Display for JournalOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The queue message as it arrived, kept once per message id so it can be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
}

/// One delivery attempt, as the consumer reports it to [`super::Journal::record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub message_id: String,
    /// The `channelId`, when the message got that far.
    pub channel: Option<String>,
    pub notify_type: Option<NotifyType>,
    /// The URL the attempt POSTed to (none for bad input).
    pub url: Option<String>,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The brand's HTTP status, when it answered.
    pub status: Option<u16>,
    pub latency_ms: Option<u64>,
    /// The start of the brand's answer; cut to [`RESPONSE_LIMIT`] bytes on record.
    pub response: Option<String>,
    pub error: Option<String>,
    pub outcome: JournalOutcome,
    /// When the attempt finished, epoch milliseconds.
    pub at_ms: u64,
    /// The original message; stored on its id's first record, ignored after.
    pub message: Option<Original>,
}

impl Entry {
    /// Cuts the free-text fields to their limits and drops an oversized original, so a
    /// buffered entry's size is bounded whatever the brand answered.
    pub(super) fn bound(&mut self) {
        if let Some(response) = &mut self.response {
            truncate(response, RESPONSE_LIMIT);
        }
        if let Some(error) = &mut self.error {
            truncate(error, ERROR_LIMIT);
        }
        if self
            .message
            .as_ref()
            .is_some_and(|m| m.body.len() > BODY_LIMIT)
        {
            self.message = None;
        }
    }

    /// Roughly the bytes this entry holds in memory while buffered.
    pub(super) fn weight(&self) -> usize {
        let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        let message = self
            .message
            .as_ref()
            .map_or(0, |m| m.body.len() + text(&m.content_type));
        std::mem::size_of::<Self>()
            + self.message_id.len()
            + text(&self.channel)
            + text(&self.url)
            + text(&self.response)
            + text(&self.error)
            + message
    }
}

/// Shortens `text` to at most `limit` bytes, never splitting a character.
pub(super) fn truncate(text: &mut String, limit: usize) {
    if text.len() <= limit {
        return;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    // A 64 KiB answer cut to 2 KiB should not keep 64 KiB alive in the buffer.
    text.shrink_to_fit();
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        let mut ascii = "a".repeat(3000);
        truncate(&mut ascii, RESPONSE_LIMIT);
        assert_eq!(ascii.len(), 2048);

        // '商' is 3 bytes: 2048 is not a boundary (682 * 3 = 2046 is).
        let mut cjk = "商".repeat(1000);
        truncate(&mut cjk, RESPONSE_LIMIT);
        assert_eq!(cjk.len(), 2046);
        assert!(cjk.chars().all(|c| c == '商'));

        let mut short = "ok".to_owned();
        truncate(&mut short, RESPONSE_LIMIT);
        assert_eq!(short, "ok");
    }

    #[test]
    fn outcome_names_round_trip() {
        for outcome in JournalOutcome::ALL {
            assert_eq!(JournalOutcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(JournalOutcome::parse("Delivered"), None);
        assert_eq!(JournalOutcome::BadInput.to_string(), "bad-input");
    }

    #[test]
    fn bounding_cuts_texts_and_drops_oversized_bodies() {
        let mut entry = sample();
        entry.response = Some("é".repeat(2000));
        entry.error = Some("x".repeat(5000));
        entry.message = Some(Original {
            body: vec![b'{'; BODY_LIMIT + 1],
            content_type: None,
        });
        entry.bound();
        assert_eq!(entry.response.as_ref().map(String::len), Some(2048));
        assert_eq!(entry.error.as_ref().map(String::len), Some(2048));
        assert_eq!(entry.message, None);
    }

    pub(in crate::journal) fn sample() -> Entry {
        Entry {
            message_id: "m1".into(),
            channel: Some("shop".into()),
            notify_type: Some(NotifyType::MakeCode),
            url: Some("https://brand.example/notify".into()),
            attempt: 1,
            status: Some(200),
            latency_ms: Some(12),
            response: Some("SUCCESS".into()),
            error: None,
            outcome: JournalOutcome::Delivered,
            at_ms: 1_700_000_000_000,
            message: Some(Original {
                body: b"{}".to_vec(),
                content_type: Some("application/json".into()),
            }),
        }
    }
}
