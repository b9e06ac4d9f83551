//! A connection pool to either backend, and the operations both writer and reader need.
//!
//! A closed set of two backends, so an enum: each method matches and calls the backend's
//! own function where the SQL differs (migrations, batch inserts), shared SQL otherwise.

use std::collections::HashSet;
use std::time::Duration;

use sqlx::{Database, Encode, IntoArguments, PgPool, SqlitePool, Type};

use super::entry::{Entry, JournalOutcome, Original};
use super::keys::KeyRow;
use super::query::{self, AttemptRow, Bind, Filter, StoredMessage};
use super::{postgres, sqlite, JournalError, JournalUrl};

/// Who the pool is for: the writer may create the SQLite file, the reader never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Writer,
    Reader,
}

#[derive(Clone, Debug)]
pub(super) enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Store {
    /// A lazy pool: nothing is connected until the first query.
    pub fn new(url: &JournalUrl, role: Role, acquire_timeout: Duration) -> Self {
        // The writer is one task doing one thing at a time; a reader may serve a few
        // admin requests at once.
        let connections = match role {
            Role::Writer => 1,
            Role::Reader => 2,
        };
        match url {
            JournalUrl::Sqlite(o) => Store::Sqlite(sqlite::pool(
                o,
                role == Role::Writer,
                connections,
                acquire_timeout,
            )),
            JournalUrl::Postgres(o) => {
                Store::Postgres(postgres::pool(o, connections, acquire_timeout))
            }
        }
    }

    pub async fn migrate(&self) -> Result<(), JournalError> {
        match self {
            Store::Sqlite(pool) => sqlite::migrate(pool).await,
            Store::Postgres(pool) => postgres::migrate(pool).await,
        }
    }

    /// Writes a batch (attempts and deferrals, originals not yet stored, their business
    /// `keys`) in one transaction.
    pub async fn write(&self, batch: &[Entry], keys: &[KeyRow]) -> Result<(), sqlx::Error> {
        match self {
            Store::Sqlite(pool) => sqlite::write(pool, batch, keys).await,
            Store::Postgres(pool) => postgres::write(pool, batch, keys).await,
        }
    }

    /// Deletes up to `limit` attempts, then up to `limit` orphaned messages, older than
    /// `cutoff_ms`; returns how many rows went. Small steps keep each lock short.
    pub async fn prune_step(&self, cutoff_ms: u64, limit: u32) -> Result<u64, sqlx::Error> {
        let (cutoff, limit) = (query::int(cutoff_ms), i64::from(limit));
        let mut deleted = 0;
        match self {
            Store::Sqlite(pool) => {
                for sql in sqlite::PRUNE {
                    let q = sqlx::query(sql).bind(cutoff).bind(limit);
                    deleted += q.execute(pool).await?.rows_affected();
                }
            }
            Store::Postgres(pool) => {
                for sql in postgres::PRUNE {
                    let q = sqlx::query(sql).bind(cutoff).bind(limit);
                    deleted += q.execute(pool).await?.rows_affected();
                }
            }
        }
        Ok(deleted)
    }

    pub async fn list(&self, filter: &Filter) -> Result<Vec<AttemptRow>, JournalError> {
        let (sql, binds) = query::list_sql(filter)?;
        match self {
            Store::Sqlite(pool) => {
                let rows = bound(&sql, &binds).fetch_all(pool).await?;
                rows.iter().map(query::attempt_row).collect()
            }
            Store::Postgres(pool) => {
                let rows = bound(&sql, &binds).fetch_all(pool).await?;
                rows.iter().map(query::attempt_row).collect()
            }
        }
    }

    pub async fn attempts(&self, message_id: &str) -> Result<Vec<AttemptRow>, JournalError> {
        let binds = [Bind::Text(message_id.to_owned())];
        match self {
            Store::Sqlite(pool) => {
                let rows = bound(query::ATTEMPTS_SQL, &binds).fetch_all(pool).await?;
                rows.iter().map(query::attempt_row).collect()
            }
            Store::Postgres(pool) => {
                let rows = bound(query::ATTEMPTS_SQL, &binds).fetch_all(pool).await?;
                rows.iter().map(query::attempt_row).collect()
            }
        }
    }

    pub async fn message(&self, message_id: &str) -> Result<Option<StoredMessage>, JournalError> {
        let binds = [Bind::Text(message_id.to_owned())];
        match self {
            Store::Sqlite(pool) => {
                let row = bound(query::MESSAGE_SQL, &binds)
                    .fetch_optional(pool)
                    .await?;
                row.as_ref().map(query::message_row).transpose()
            }
            Store::Postgres(pool) => {
                let row = bound(query::MESSAGE_SQL, &binds)
                    .fetch_optional(pool)
                    .await?;
                row.as_ref().map(query::message_row).transpose()
            }
        }
    }

    /// Closes the pool's connections; a pool that never connected closes at once.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(pool) => pool.close().await,
            Store::Postgres(pool) => pool.close().await,
        }
    }
}

/// `sql` with its values bound in order.
pub(super) fn bound<'q, DB>(
    sql: &'q str,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, DB, DB::Arguments<'q>>
where
    DB: Database,
    &'q str: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    binds
        .iter()
        .fold(sqlx::query::<DB>(sql), |q, value| match value {
            Bind::Text(text) => q.bind(text.as_str()),
            Bind::Int(n) => q.bind(*n),
        })
}

/// Each message id's original, once per batch: the first entry that carries one.
pub(super) fn originals(batch: &[Entry]) -> impl Iterator<Item = (&Entry, &Original)> {
    let mut seen = HashSet::new();
    batch.iter().filter_map(move |entry| {
        let original = entry.message.as_ref()?;
        seen.insert(entry.message_id.as_str())
            .then_some((entry, original))
    })
}

/// A batch split by table: attempts, and deferrals (which made none).
pub(super) fn split(batch: &[Entry]) -> (Vec<&Entry>, Vec<&Entry>) {
    batch
        .iter()
        .partition(|e| e.outcome != JournalOutcome::Deferred)
}
