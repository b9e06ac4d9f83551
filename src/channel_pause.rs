//! Paused channels, as the pipeline sees them: a set it checks per message, kept in step
//! with the journal's `channel_pauses` table by a task that re-reads it every few seconds,
//! so a pause made on one replica (console, API or CLI) reaches every replica sharing the
//! journal, and survives a restart.
//!
//! A paused channel's messages are deferred before any attempt: not parked, not counted as
//! attempts, back on the deferral schedule until the channel is resumed.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::journal::{JournalReader, JournalUrl};

/// How often each replica re-reads the pauses.
pub const REFRESH: Duration = Duration::from_secs(2);

/// The channels paused now.
#[derive(Debug, Default)]
pub struct Pauses {
    paused: ArcSwap<HashSet<String>>,
}

impl Pauses {
    /// Whether `channel`'s messages wait.
    pub fn is_paused(&self, channel: &str) -> bool {
        self.paused.load().contains(channel)
    }

    /// Replaces the set, logging what changed.
    pub fn set(&self, now: HashSet<String>) {
        let before = self.paused.load();
        for channel in now.difference(&before) {
            info!(channel = %channel, "channel paused: its messages wait, unattempted");
        }
        for channel in before.difference(&now) {
            info!(channel = %channel, "channel resumed");
        }
        if **before != now {
            self.paused.store(Arc::new(now));
        }
    }
}

/// Bounds the read before consuming, so a journal server that neither answers nor refuses
/// delays the start by this much at most.
const FIRST_READ: Duration = Duration::from_secs(10);

/// Reads the pauses once, for the wiring to call before the consumer starts: otherwise a
/// channel paused before a restart has its messages attempted until the watcher's first
/// read lands. A journal that cannot be read is logged, and the bridge starts with no
/// channel paused until the watcher reads it.
pub async fn load(url: &JournalUrl, pauses: &Pauses) {
    if let JournalUrl::Sqlite(options) = url {
        if !options.get_filename().exists() {
            // A journal not created yet holds no pauses (the writer creates it).
            return;
        }
    }
    let read = async {
        let reader = JournalReader::open(url).await?;
        let list = reader.paused_channels().await;
        reader.close().await;
        list
    };
    match tokio::time::timeout(FIRST_READ, read).await {
        Ok(Ok(list)) => pauses.set(list.into_iter().map(|(c, _)| c).collect()),
        Ok(Err(e)) => warn!(
            error = %e,
            "cannot read channel pauses before consuming: starting with no channel paused, so a paused channel's messages may be attempted until the journal can be read"
        ),
        Err(_) => warn!(
            after = ?FIRST_READ,
            "channel pauses not read in time before consuming: starting with no channel paused, so a paused channel's messages may be attempted until the journal can be read"
        ),
    }
}

/// Keeps `pauses` in step with the journal until `stop`. A journal that cannot be read
/// leaves the last known pauses in force.
pub async fn watch(url: JournalUrl, pauses: Arc<Pauses>, stop: CancellationToken) {
    let mut reader: Option<JournalReader> = None;
    let mut warned = false;
    loop {
        if reader.is_none() {
            reader = JournalReader::open(&url).await.ok();
        }
        if let Some(r) = &reader {
            match r.paused_channels().await {
                Ok(list) => {
                    pauses.set(list.into_iter().map(|(c, _)| c).collect());
                    warned = false;
                }
                Err(e) => {
                    if !warned {
                        warn!(error = %e, "cannot read channel pauses; keeping the last known");
                        warned = true;
                    }
                    reader = None;
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(REFRESH) => {}
        }
    }
    if let Some(r) = reader {
        r.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_answers_per_channel() {
        let pauses = Pauses::default();
        assert!(!pauses.is_paused("shop"));
        pauses.set(HashSet::from(["shop".to_owned()]));
        assert!(pauses.is_paused("shop"));
        assert!(!pauses.is_paused("other"));
        pauses.set(HashSet::new());
        assert!(!pauses.is_paused("shop"));
    }
}
