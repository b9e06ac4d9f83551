//! The writer task: drains the buffer in batches, keeps retrying a batch the database
//! refuses, reconnects by itself, and prunes by age.
//!
//! It is the only code that waits on the database, so a journal fault costs deliveries
//! nothing: while it retries, the buffer fills, and `record` drops (and counts) what does
//! not fit.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::time::{interval, sleep, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::bodies::Dictionaries;
use super::entry::Entry;
use super::keys::KeySpec;
use super::store::{Role, Store};
use super::{JournalError, JournalUrl};
use crate::clock::now_ms;

/// Entries per transaction, at most.
pub(super) const BATCH: usize = 500;
/// How long a partial batch waits for company: fewer, larger transactions at low rates.
const FLUSH_EVERY: Duration = Duration::from_millis(100);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Rows per pruning statement: short locks, so writes interleave with a large backlog.
const PRUNE_STEP: u32 = 1000;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// While failing, a reminder at most this often (the first failure is logged at once).
const REMIND_EVERY: Duration = Duration::from_secs(60);
/// Bounds a connect to a server that neither answers nor refuses.
pub(super) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Counters shared by `record` (the hot path) and the writer.
#[derive(Debug, Default)]
pub(super) struct Stats {
    pub lag: AtomicU64,
    pub bytes: AtomicUsize,
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub errors: AtomicU64,
    /// Set by the first drop of an episode so only that one is logged.
    pub dropping: AtomicBool,
}

impl Stats {
    /// `entries` left the buffer (written or discarded).
    fn settled(&self, entries: &[Entry]) {
        let bytes = entries.iter().map(Entry::weight).sum();
        self.bytes.fetch_sub(bytes, Relaxed);
        self.lag.fetch_sub(entries.len() as u64, Relaxed);
    }
}

pub(super) struct Writer {
    pub rx: mpsc::Receiver<Entry>,
    pub url: JournalUrl,
    pub retention: Duration,
    pub stats: Arc<Stats>,
    pub stop: CancellationToken,
    /// Which business keys to index, taken from each original as it is written.
    keys: KeySpec,
    /// `None` until connected and migrated, and again after any failure.
    store: Option<Store>,
    /// The dictionaries bodies are deflated against, in the database written to.
    dictionaries: Dictionaries,
    backoff: Duration,
    /// Failures in the current episode, and when one was last logged.
    failures: u64,
    last_warned: Option<Instant>,
}

impl Writer {
    pub fn new(
        rx: mpsc::Receiver<Entry>,
        url: JournalUrl,
        retention: Duration,
        stats: Arc<Stats>,
        stop: CancellationToken,
        keys: KeySpec,
    ) -> Self {
        Self {
            rx,
            url,
            retention,
            stats,
            stop,
            keys,
            store: None,
            dictionaries: Dictionaries::default(),
            backoff: FIRST_BACKOFF,
            failures: 0,
            last_warned: None,
        }
    }

    /// Runs until stopped and drained, or until every `Journal` handle is gone.
    pub async fn run(mut self) {
        let mut batch = Vec::with_capacity(BATCH);
        // The first tick is immediate: prune at start, then hourly.
        let mut prune = interval(PRUNE_EVERY);
        prune.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut pruning = false;
        loop {
            if batch.is_empty() && !pruning {
                tokio::select! {
                    _ = self.stop.cancelled(), if !self.rx.is_closed() => self.rx.close(),
                    _ = prune.tick() => pruning = true,
                    n = self.rx.recv_many(&mut batch, BATCH) => if n == 0 { break },
                }
            }
            self.fill(&mut batch, pruning).await;
            if !batch.is_empty() {
                self.write(&mut batch).await;
            }
            if pruning {
                pruning = self.prune_step().await;
            }
        }
        if let Some(store) = self.store.take() {
            store.close().await;
        }
    }

    /// Adds what is waiting; a partial batch waits up to `FLUSH_EVERY` for more unless
    /// `hurry` (pruning is interleaved, and should not be held up).
    async fn fill(&mut self, batch: &mut Vec<Entry>, hurry: bool) {
        while batch.len() < BATCH {
            match self.rx.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
        if hurry || batch.is_empty() {
            return;
        }
        let deadline = sleep(FLUSH_EVERY);
        tokio::pin!(deadline);
        while batch.len() < BATCH {
            let room = BATCH - batch.len();
            tokio::select! {
                _ = &mut deadline => break,
                n = self.rx.recv_many(batch, room) => if n == 0 { break },
            }
        }
    }

    /// Writes `batch`, retrying with capped backoff until it lands; empties it.
    async fn write(&mut self, batch: &mut Vec<Entry>) {
        let keys = self.keys.rows(batch);
        loop {
            let error = match self.connected().await {
                Ok(store) => match store.write(batch, &keys, &mut self.dictionaries).await {
                    Ok(()) => return self.written(batch),
                    Err(e) if is_poison(&e) => return self.write_singly(batch).await,
                    Err(e) => JournalError::from(e),
                },
                Err(e) => e,
            };
            // Whatever went wrong, the next try starts from a fresh connection (and
            // migration): a SQLite file replaced under us or a restarted server both heal.
            self.store = None;
            self.failed(&error);
            tokio::select! {
                _ = sleep(self.backoff) => {}
                _ = self.stop.cancelled(), if !self.rx.is_closed() => self.rx.close(),
            }
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// A batch the database rejects for its data (not its health): find the bad entries
    /// by writing one at a time, and discard only those. Any other error hands the rest
    /// back to the retry loop at once.
    async fn write_singly(&mut self, batch: &mut Vec<Entry>) {
        let mut rest = std::mem::take(batch).into_iter();
        while let Some(entry) = rest.next() {
            let one = std::slice::from_ref(&entry);
            let result = match &self.store {
                Some(store) => {
                    let keys = self.keys.rows(one);
                    store.write(one, &keys, &mut self.dictionaries).await
                }
                None => Err(sqlx::Error::PoolClosed),
            };
            match result {
                Ok(()) => self.written(&mut vec![entry]),
                Err(e) if is_poison(&e) => {
                    warn!(error = %e, message_id = %entry.message_id, "journal entry refused; discarded");
                    self.stats.errors.fetch_add(1, Relaxed);
                    self.stats.dropped.fetch_add(1, Relaxed);
                    self.stats.settled(one);
                }
                Err(_) => {
                    batch.push(entry);
                    batch.extend(rest);
                    return;
                }
            }
        }
    }

    fn written(&mut self, batch: &mut Vec<Entry>) {
        self.stats.written.fetch_add(batch.len() as u64, Relaxed);
        self.stats.settled(batch);
        batch.clear();
        if self.failures > 0 {
            info!(failures = self.failures, "journal writes recovered");
        }
        self.failures = 0;
        self.last_warned = None;
        self.backoff = FIRST_BACKOFF;
        if self.stats.dropping.swap(false, Relaxed) {
            let dropped = self.stats.dropped.load(Relaxed);
            info!(dropped_total = dropped, "journal buffer has room again");
        }
    }

    /// Counts a failure; logs the first of an episode, then a reminder now and then.
    fn failed(&mut self, error: &JournalError) {
        self.stats.errors.fetch_add(1, Relaxed);
        self.failures += 1;
        let remind = self
            .last_warned
            .is_none_or(|at| at.elapsed() >= REMIND_EVERY);
        if remind {
            warn!(
                error = %error,
                journal = %self.url,
                failures = self.failures,
                lag = self.stats.lag.load(Relaxed),
                "journal write failed; retrying in the background"
            );
            self.last_warned = Some(Instant::now());
        } else {
            debug!(error = %error, "journal write failed again");
        }
    }

    /// One pruning step; true while there may be more to delete.
    async fn prune_step(&mut self) -> bool {
        let cutoff = now_ms().saturating_sub(self.retention.as_millis() as u64);
        let result = match self.connected().await {
            Ok(store) => store
                .prune_step(cutoff, PRUNE_STEP)
                .await
                .map_err(JournalError::from),
            Err(e) => Err(e),
        };
        match result {
            Ok(0) => false,
            Ok(deleted) => {
                debug!(deleted, "journal retention pruned");
                true
            }
            Err(e) => {
                // Retried at the next interval; failing writes already tell the story.
                self.store = None;
                self.stats.errors.fetch_add(1, Relaxed);
                debug!(error = %e, "journal retention pruning failed");
                false
            }
        }
    }

    /// The store (a handle to its pool), connecting and migrating first when there is none.
    async fn connected(&mut self) -> Result<Store, JournalError> {
        let store = match self.store.take() {
            Some(store) => store,
            None => {
                let store = Store::new(&self.url, Role::Writer, ACQUIRE_TIMEOUT);
                store.migrate().await?;
                // A new connection may be to another database (a file replaced under us).
                self.dictionaries.clear();
                store
            }
        };
        Ok(self.store.insert(store).clone())
    }
}

/// Errors about the rows themselves: retrying the same batch would fail forever.
fn is_poison(error: &sqlx::Error) -> bool {
    use sqlx::error::ErrorKind;
    let sqlx::Error::Database(db) = error else {
        return false;
    };
    // PostgreSQL SQLSTATE classes 22 "data exception" (bad encoding, out of range) and
    // 54 "program limit exceeded" (e.g. a key too long for its index).
    let data_exception = db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some_and(|pg| pg.code().starts_with("22") || pg.code().starts_with("54"));
    data_exception
        || matches!(
            db.kind(),
            ErrorKind::CheckViolation
                | ErrorKind::NotNullViolation
                | ErrorKind::ForeignKeyViolation
        )
}
