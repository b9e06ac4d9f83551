//! The delivery journal: one record per attempt, and each original message once, in
//! embedded SQLite (default) or PostgreSQL, written off the hot path in batches.
//!
//! - [`Journal::record`] is all the consumer calls: it never waits and never fails. It puts
//!   the entry into a bounded buffer; when the buffer is full the entry is dropped and
//!   counted, so a journal fault can never slow a delivery.
//! - The writer task (`writer.rs`) drains the buffer, up to 500 entries per transaction,
//!   retries a refused batch with capped backoff, reconnects by itself, and prunes entries
//!   older than the retention.
//! - [`JournalReader`] answers the admin API and CLI from its own small pool.
//!
//! Files: `entry` (what is recorded), `keys` (business keys taken from bizContent), `mask`
//! (voucher secrets hidden where a message is shown), `target` (the parsed URL), `store`
//! (either backend), `sqlite`/`postgres` (what differs between them), `migrate` (embedded
//! schema steps), `query` (filters, rows, shared SQL), `overview` (the console's figures),
//! `pauses` (paused channels), `writer` (the background task).

mod bodies;
mod entry;
mod keys;
mod mask;
mod migrate;
mod overview;
mod pauses;
mod postgres;
mod query;
mod sqlite;
mod store;
mod target;
mod writer;

pub use entry::{Entry, JournalOutcome, Original, BODY_LIMIT, ERROR_LIMIT, RESPONSE_LIMIT};
pub use keys::{biz_content, biz_of_whale, Key, KeyError, KeySpec, DEFAULT_KEYS};
pub use mask::{hide, Mask, MaskError, DEFAULT_MASK, MASK};
pub use overview::{ChannelFigures, ParkedCount, LATENCY_SAMPLE};
pub use query::{AttemptRow, Filter, StoredMessage, DEFAULT_LIMIT, MAX_LIMIT};
pub use target::{JournalUrl, UrlError};

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use store::{Role, Store};
use writer::{Stats, Writer};

/// The journal's configuration (the `[journal]` section, validated).
#[derive(Debug, Clone)]
pub struct JournalConfig {
    /// The database: `sqlite://file` or `postgres://…` (its password never shown).
    pub url: JournalUrl,
    /// Attempts older than this are pruned (and messages left without attempts).
    pub retention: Duration,
    /// Capacity of the buffer between `record` and the writer, in entries.
    pub buffer: usize,
    /// The business keys indexed for each message (channels' own included).
    pub keys: KeySpec,
    /// The secret fields masked in the console, the admin API and logs.
    pub mask: Mask,
}

/// At most this many bytes of entries wait in the buffer, whatever its capacity in
/// entries: a database outage with large messages must not exhaust memory.
pub const MAX_BUFFERED_BYTES: usize = 64 * 1024 * 1024;

/// Why a journal operation failed. `record` has no errors: the writer counts its own.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal database: {0}")]
    Database(#[from] sqlx::Error),
    /// Nothing answers at the database's address (refused, unreachable, no answer in time);
    /// names host and port, never the URL's password.
    #[error("journal database at {at}: {error}")]
    Unreachable { at: String, error: std::io::Error },
    #[error("journal migration {version} ({name}): {source}")]
    Migration {
        version: i64,
        name: &'static str,
        source: sqlx::Error,
    },
    /// Carries the cause in its text, not as a `source`, so a chain is not printed twice.
    #[error("cannot open the journal at {journal}: {error}")]
    Open {
        journal: String,
        error: Box<JournalError>,
    },
    #[error("limit must be 1 to {MAX_LIMIT}, not {0}")]
    Limit(u32),
    #[error("journal column {column} holds `{value}`, which this version cannot read")]
    Corrupt { column: &'static str, value: String },
    #[error("the stored body of message {message_id} cannot be read: {detail}")]
    Body { message_id: String, detail: String },
}

/// The consumer's handle: cheap to clone, `record` never blocks.
#[derive(Clone, Debug)]
pub struct Journal {
    tx: mpsc::Sender<Entry>,
    stats: Arc<Stats>,
}

/// The running writer task; [`JournalTask::shutdown`] flushes it at exit.
#[derive(Debug)]
pub struct JournalTask {
    handle: JoinHandle<()>,
    stop: CancellationToken,
    stats: Arc<Stats>,
}

impl Journal {
    /// Starts the writer task (it connects when it first has something to do, so a database
    /// that is down now only delays writes). Must be called within a Tokio runtime.
    pub fn start(settings: &JournalConfig) -> (Journal, JournalTask) {
        // Settings refuse 0, but the fields are public and a 0 capacity would panic here.
        let (tx, rx) = mpsc::channel(settings.buffer.max(1));
        let stats = Arc::new(Stats::default());
        let stop = CancellationToken::new();
        let writer = Writer::new(
            rx,
            settings.url.clone(),
            settings.retention,
            Arc::clone(&stats),
            stop.clone(),
            settings.keys.clone(),
        );
        let handle = tokio::spawn(writer.run());
        let task = JournalTask {
            handle,
            stop,
            stats: Arc::clone(&stats),
        };
        (Journal { tx, stats }, task)
    }

    /// Buffers one attempt for the writer. Never waits, never fails: when the buffer is
    /// full (or the journal is shut down) the entry is dropped and counted in `dropped`.
    pub fn record(&self, mut entry: Entry) {
        entry.bound();
        let weight = entry.weight();
        let stats = &self.stats;
        if stats.bytes.fetch_add(weight, Relaxed) + weight > MAX_BUFFERED_BYTES {
            stats.bytes.fetch_sub(weight, Relaxed);
            return self.dropped_one();
        }
        // Counted before sending: the writer may write it and subtract at once.
        stats.lag.fetch_add(1, Relaxed);
        if self.tx.try_send(entry).is_err() {
            stats.lag.fetch_sub(1, Relaxed);
            stats.bytes.fetch_sub(weight, Relaxed);
            self.dropped_one();
        }
    }

    fn dropped_one(&self) {
        self.stats.dropped.fetch_add(1, Relaxed);
        if !self.stats.dropping.load(Relaxed) && !self.stats.dropping.swap(true, Relaxed) {
            warn!(
                lag = self.lag(),
                "journal buffer full; dropping entries until the writer catches up"
            );
        }
    }

    /// Entries buffered and not yet written.
    pub fn lag(&self) -> u64 {
        self.stats.lag.load(Relaxed)
    }

    /// Entries written since start.
    pub fn written(&self) -> u64 {
        self.stats.written.load(Relaxed)
    }

    /// Entries dropped since start: buffer full, journal shut down, or refused as data.
    pub fn dropped(&self) -> u64 {
        self.stats.dropped.load(Relaxed)
    }

    /// Failed writer operations (connect, migrate, write, prune) since start.
    pub fn errors(&self) -> u64 {
        self.stats.errors.load(Relaxed)
    }
}

impl JournalTask {
    /// Stops taking entries, writes what is buffered within `grace`, and returns how many
    /// entries were left unwritten (0 when everything landed).
    pub async fn shutdown(mut self, grace: Duration) -> u64 {
        self.stop.cancel();
        if tokio::time::timeout(grace, &mut self.handle).await.is_err() {
            self.handle.abort();
            let lost = self.stats.lag.load(Relaxed);
            warn!(lost, "journal not flushed within the grace period");
            return lost;
        }
        self.stats.lag.load(Relaxed)
    }
}

/// Queries for the admin API and CLI, over their own small pool (no writer needed).
#[derive(Clone, Debug)]
pub struct JournalReader {
    store: Store,
}

impl JournalReader {
    /// Connects and brings the schema up to date. A SQLite file that does not exist is an
    /// error here (a typo in the path should not yield an empty journal).
    pub async fn open(url: &JournalUrl) -> Result<Self, JournalError> {
        let store = Store::new(url, Role::Reader, writer::ACQUIRE_TIMEOUT);
        if let Err(e) = store.migrate().await {
            store.close().await;
            return Err(JournalError::Open {
                journal: url.to_string(),
                error: Box::new(e),
            });
        }
        Ok(Self { store })
    }

    /// Attempts matching `filter`, newest first.
    pub async fn list(&self, filter: &Filter) -> Result<Vec<AttemptRow>, JournalError> {
        self.store.list(filter).await
    }

    /// Every attempt of one message, oldest first.
    pub async fn attempts(&self, message_id: &str) -> Result<Vec<AttemptRow>, JournalError> {
        self.store.attempts(message_id).await
    }

    /// The original queue message, for replay; `None` when it was never stored or pruned.
    pub async fn message(&self, message_id: &str) -> Result<Option<StoredMessage>, JournalError> {
        self.store.message(message_id).await
    }

    /// Each channel's figures since `since_ms`, for the console.
    pub async fn channels(
        &self,
        since_ms: u64,
    ) -> Result<std::collections::BTreeMap<String, ChannelFigures>, JournalError> {
        overview::channels(&self.store, since_ms).await
    }

    /// What the journal says sits in the parking lot, per channel and reason.
    pub async fn parked(&self) -> Result<Vec<ParkedCount>, JournalError> {
        overview::parked(&self.store).await
    }

    /// How often one message was deferred, and when last (epoch milliseconds).
    pub async fn deferrals(&self, message_id: &str) -> Result<(u64, Option<u64>), JournalError> {
        overview::deferrals(&self.store, message_id).await
    }

    /// Per channel, how many messages the journal says will come back (their last record
    /// a retry or a deferral): what waits in the retry and deferral queues.
    pub async fn waiting(&self) -> Result<std::collections::BTreeMap<String, u64>, JournalError> {
        overview::waiting(&self.store).await
    }

    /// Every paused channel and since when (epoch milliseconds).
    pub async fn paused_channels(&self) -> Result<Vec<(String, u64)>, JournalError> {
        pauses::list(&self.store).await
    }

    /// Pauses `channel` for every replica sharing this journal; false when it already was.
    pub async fn pause(&self, channel: &str) -> Result<bool, JournalError> {
        pauses::pause(&self.store, channel, crate::clock::now_ms()).await
    }

    /// Resumes `channel`; false when it was not paused.
    pub async fn resume(&self, channel: &str) -> Result<bool, JournalError> {
        pauses::resume(&self.store, channel).await
    }

    /// Closes the pool's connections.
    pub async fn close(&self) {
        self.store.close().await
    }
}
