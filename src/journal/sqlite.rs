//! The embedded SQLite backend: one file in WAL mode, written by one connection.

use std::sync::OnceLock;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Executor, SqliteConnection, SqlitePool};

use super::entry::Entry;
use super::keys::KeyRow;
use super::migrate::{self, Migration};
use super::query::int;
use super::store::{placeholders, split, Packed};
use super::JournalError;
use crate::clock::now_ms;

/// How long a write waits for another connection's lock (a reader migrating, a second
/// process) before it fails and the writer's retry loop takes over.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Rows per statement, at most: 256 x 11 values stays far below SQLite's 32766 binds.
const MAX_ROWS: usize = 256;

// `OR FAIL`: a row that breaks a constraint fails the statement without undoing the rows
// before it, so SQLite keeps no statement journal (a copy of every page a multi-row insert
// touches, 1.7% of the bridge's CPU at full rate). A failed batch is rolled back whole.
const INSERT_MESSAGES: &str =
    "INSERT OR FAIL INTO journal_messages (message_id, content_type, body, dictionary, received_at_ms)";
/// An original fills in the placeholder an earlier attempt of its message left.
const MESSAGES_CONFLICT: &str = " ON CONFLICT (message_id) DO UPDATE SET \
    content_type = excluded.content_type, body = excluded.body, \
    dictionary = excluded.dictionary, received_at_ms = excluded.received_at_ms \
    WHERE journal_messages.body IS NULL";

const INSERT_PLACEHOLDERS: &str =
    "INSERT OR FAIL INTO journal_messages (message_id, received_at_ms)";
const PLACEHOLDERS_CONFLICT: &str = " ON CONFLICT (message_id) DO NOTHING";

const INSERT_KEYS: &str = "INSERT OR FAIL INTO journal_keys (message, name, value)";
const KEYS_CONFLICT: &str = " ON CONFLICT DO NOTHING";

const INSERT_DEFERRALS: &str =
    "INSERT OR FAIL INTO journal_deferrals (message, channel, attempt, error, at_ms)";

const INSERT_ATTEMPTS: &str = "INSERT OR FAIL INTO journal_attempts \
    (message, channel, notify_type, url, attempt, status, latency_ms, response, error, \
    outcome, at_ms)";

/// The first value of a key, deferral or attempt row: its message's number, looked up by
/// the id bound here (the batch wrote the message or its placeholder first).
const MESSAGE_NUMBER: &str = "(SELECT id FROM journal_messages WHERE message_id = ?)";

/// Retention, one step: up to `$2` attempts and deferrals older than `$1` (oldest first,
/// their `at_ms` indexes), then up to `$2` messages as old with neither left, their keys
/// first. The age check on messages keeps one whose attempts are still on their way.
pub(super) const PRUNE: [&str; 4] = [
    "DELETE FROM journal_attempts WHERE id IN \
     (SELECT id FROM journal_attempts WHERE at_ms < $1 ORDER BY at_ms LIMIT $2)",
    "DELETE FROM journal_deferrals WHERE id IN \
     (SELECT id FROM journal_deferrals WHERE at_ms < $1 ORDER BY at_ms LIMIT $2)",
    "DELETE FROM journal_keys WHERE message IN (SELECT m.id FROM journal_messages m \
     WHERE m.received_at_ms < $1 AND NOT EXISTS \
     (SELECT 1 FROM journal_attempts a WHERE a.message = m.id) AND NOT EXISTS \
     (SELECT 1 FROM journal_deferrals d WHERE d.message = m.id) LIMIT $2)",
    "DELETE FROM journal_messages WHERE id IN (SELECT m.id FROM journal_messages m \
     WHERE m.received_at_ms < $1 AND NOT EXISTS \
     (SELECT 1 FROM journal_attempts a WHERE a.message = m.id) AND NOT EXISTS \
     (SELECT 1 FROM journal_deferrals d WHERE d.message = m.id) LIMIT $2)",
];

/// A pool that opens its connections on first use, so a missing directory or a full disk
/// at start is a write error to retry, not a start-up failure.
pub(super) fn pool(
    options: &SqliteConnectOptions,
    create: bool,
    connections: u32,
    acquire_timeout: Duration,
) -> SqlitePool {
    let options = options
        .clone()
        .create_if_missing(create)
        .journal_mode(SqliteJournalMode::Wal)
        // WAL + NORMAL: a commit survives a crash of the bridge; only a power loss can
        // take the last few, and the journal is a record, not the source of truth.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT);
    SqlitePoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(acquire_timeout)
        .connect_lazy_with(options)
}

/// Applies the embedded migrations SQLite lacks.
pub(super) async fn migrate(pool: &SqlitePool) -> Result<(), JournalError> {
    let mut conn = pool.acquire().await?;
    conn.execute(migrate::CREATE_TABLE).await?;
    // IMMEDIATE takes the write lock up front, where the busy timeout applies: a deferred
    // transaction that reads the applied versions and then writes fails at once with
    // "database is locked" when a CLI and the bridge upgrade the same file together.
    let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
    let applied: Vec<i64> = sqlx::query_scalar(migrate::APPLIED)
        .fetch_all(&mut *tx)
        .await?;
    for m in migrate::pending(migrate::SQLITE, &applied) {
        apply(&mut tx, m)
            .await
            .map_err(|source| JournalError::Migration {
                version: m.version,
                name: m.name,
                source,
            })?;
    }
    tx.commit().await?;
    Ok(())
}

/// Runs one migration and records it, inside the caller's transaction.
async fn apply(conn: &mut SqliteConnection, m: Migration) -> Result<(), sqlx::Error> {
    // Executing plain text runs every statement in it (`raw_sql` would too, but its
    // future is not `Send` for every lifetime, which `tokio::spawn` needs).
    conn.execute(m.sql).await?;
    sqlx::query(migrate::RECORD)
        .bind(m.version)
        .bind(m.name)
        .bind(int(now_ms()))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Writes one batch in one transaction, as a few multi-row statements: each statement is
/// a round trip to sqlx's SQLite worker thread, which costs more than the insert itself.
/// Messages and placeholders go first, so every other row finds its message's number.
pub(super) async fn write(
    pool: &SqlitePool,
    batch: &[Entry],
    messages: &[Packed<'_>],
    keys: &[KeyRow],
) -> Result<(), sqlx::Error> {
    let (attempts, deferrals) = split(batch);
    let statements = Statements::get();
    let mut tx = pool.begin().await?;
    for chunk in chunks(messages) {
        let mut q = sqlx::query(statements.messages.for_rows(chunk.len()));
        for m in chunk {
            q = q
                .bind(m.message_id)
                .bind(m.content_type)
                .bind(m.body.as_ref())
                .bind(m.dictionary)
                .bind(int(m.at_ms));
        }
        q.execute(&mut *tx).await?;
    }
    let placeholders = placeholders(batch);
    for chunk in chunks(&placeholders) {
        let mut q = sqlx::query(statements.placeholders.for_rows(chunk.len()));
        for (message_id, at_ms) in chunk {
            q = q.bind(*message_id).bind(int(*at_ms));
        }
        q.execute(&mut *tx).await?;
    }
    for chunk in chunks(keys) {
        let mut q = sqlx::query(statements.keys.for_rows(chunk.len()));
        for k in chunk {
            q = q.bind(&k.message_id).bind(&k.name).bind(&k.value);
        }
        q.execute(&mut *tx).await?;
    }
    for chunk in chunks(&deferrals) {
        let mut q = sqlx::query(statements.deferrals.for_rows(chunk.len()));
        for e in chunk {
            q = q
                .bind(&e.message_id)
                .bind(&e.channel)
                .bind(i64::from(e.attempt))
                .bind(&e.error)
                .bind(int(e.at_ms));
        }
        q.execute(&mut *tx).await?;
    }
    for chunk in chunks(&attempts) {
        let mut q = sqlx::query(statements.attempts.for_rows(chunk.len()));
        for e in chunk {
            q = q
                .bind(&e.message_id)
                .bind(&e.channel)
                .bind(e.notify_type.map(|t| t.as_str()))
                .bind(&e.url)
                .bind(i64::from(e.attempt))
                .bind(e.status.map(i64::from))
                .bind(e.latency_ms.map(int))
                .bind(&e.response)
                .bind(&e.error)
                .bind(e.outcome.as_str())
                .bind(int(e.at_ms));
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// Splits `rows` into power-of-two chunks of at most `MAX_ROWS`, largest first: any batch
/// size maps onto the same few statement texts, which stay prepared in sqlx's cache.
fn chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if rows.is_empty() {
            return None;
        }
        let size = MAX_ROWS.min(1 << rows.len().ilog2());
        let (chunk, rest) = rows.split_at(size);
        rows = rest;
        Some(chunk)
    })
}

/// `head VALUES row, row, … tail` for `rows` rows, each `row` a parenthesised list of
/// placeholders.
///
/// Anonymous `?`, not `$n`: sqlx looks up each parameter's name before binding it, and
/// SQLite finds a name by scanning the statement's list of names, so numbered parameters
/// cost time quadratic in their count — 18% of the bridge's CPU at full rate with
/// 256-row statements (bench/FINDINGS.md). Anonymous ones have no names to scan.
fn insert_sql(head: &str, row: &str, rows: usize, tail: &str) -> String {
    format!("{head} VALUES {}{tail}", vec![row; rows].join(", "))
}

/// `(?, ?, …)` for `columns` plain values, or with the first the message's number.
fn row(columns: usize, numbered: bool) -> String {
    let mut values = vec!["?"; columns];
    if numbered {
        values[0] = MESSAGE_NUMBER;
    }
    format!("({})", values.join(", "))
}

/// One table's insert texts, by chunk size's power of two: 1, 2, 4, … `MAX_ROWS` rows.
struct Texts(Vec<String>);

impl Texts {
    fn new(head: &str, row: &str, tail: &str) -> Self {
        let sizes = (0..=MAX_ROWS.ilog2()).map(|p| 1usize << p);
        Self(sizes.map(|n| insert_sql(head, row, n, tail)).collect())
    }

    /// The text for a chunk of `rows` rows (a power of two, as [`chunks`] makes them).
    fn for_rows(&self, rows: usize) -> &str {
        &self.0[rows.ilog2() as usize]
    }
}

/// The statement texts for every chunk size, made once: building them for every batch
/// cost the writer about 1.3k instructions a message (bench/FINDINGS.md).
struct Statements {
    messages: Texts,
    placeholders: Texts,
    keys: Texts,
    deferrals: Texts,
    attempts: Texts,
}

impl Statements {
    fn get() -> &'static Statements {
        static TEXTS: OnceLock<Statements> = OnceLock::new();
        TEXTS.get_or_init(|| Statements {
            messages: Texts::new(INSERT_MESSAGES, &row(5, false), MESSAGES_CONFLICT),
            placeholders: Texts::new(INSERT_PLACEHOLDERS, &row(2, false), PLACEHOLDERS_CONFLICT),
            keys: Texts::new(INSERT_KEYS, &row(3, true), KEYS_CONFLICT),
            deferrals: Texts::new(INSERT_DEFERRALS, &row(5, true), ""),
            attempts: Texts::new(INSERT_ATTEMPTS, &row(11, true), ""),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_split_into_few_power_of_two_chunks() {
        let rows: Vec<u32> = (0..500).collect();
        let sizes: Vec<usize> = chunks(&rows).map(<[u32]>::len).collect();
        assert_eq!(sizes, [256, 128, 64, 32, 16, 4]);
        let one = [1];
        assert_eq!(chunks(&one).count(), 1);
        assert_eq!(chunks::<u8>(&[]).count(), 0);
    }

    #[test]
    fn multi_row_inserts_have_a_placeholder_for_every_value() {
        assert_eq!(
            insert_sql(
                "INSERT INTO t (a, b)",
                &row(2, false),
                2,
                " ON CONFLICT DO NOTHING"
            ),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            row(2, true),
            "((SELECT id FROM journal_messages WHERE message_id = ?), ?)"
        );
    }
}
