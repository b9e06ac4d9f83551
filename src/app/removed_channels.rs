//! Messages waiting for channels a configuration no longer has: once it runs, each of them
//! is parked as `unknown-channel` when it comes back. `check-config` and reload say how many
//! before that happens, counted from the journal (messages whose last record is a retry or a
//! deferral; those never attempted yet, still in the main queue, are not known there).

use std::collections::BTreeMap;

use crate::journal::{JournalError, JournalReader};
use crate::settings::Settings;

/// Per channel missing from `settings`, the messages the journal says wait for it.
pub async fn waiting(settings: &Settings) -> Result<BTreeMap<String, u64>, JournalError> {
    let reader = JournalReader::open(&settings.journal.url).await?;
    let waiting = reader.waiting().await;
    reader.close().await;
    Ok(waiting?
        .into_iter()
        .filter(|(channel, n)| *n > 0 && !settings.channels.contains_key(channel))
        .collect())
}

/// One line per channel, for operators.
pub fn describe(waiting: &BTreeMap<String, u64>) -> Vec<String> {
    waiting
        .iter()
        .map(|(channel, n)| {
            format!(
                "{n} message(s) wait for channel `{channel}`, which this configuration does not have: \
                 each will be parked as unknown-channel when it comes back (keep the channel \
                 until they are delivered)"
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_removed_channel_gets_a_line_with_its_count() {
        let lines = describe(&BTreeMap::from([("old-brand".to_owned(), 3)]));
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("3 message(s) wait for channel `old-brand`"));
        // Pausing cannot help: a channel not configured is parked before the pause check.
        assert!(!lines[0].contains("pause"), "{}", lines[0]);
    }
}
