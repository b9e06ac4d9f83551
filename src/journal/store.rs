//! A connection pool to either backend, and the operations both writer and reader need.
//!
//! A closed set of two backends, so an enum: each method matches and calls the backend's
//! own function where the SQL differs (migrations, batch inserts), shared SQL otherwise.

use std::borrow::Cow;
use std::collections::HashSet;
use std::time::Duration;

use sqlx::{Database, Encode, IntoArguments, PgPool, SqlitePool, Type};

use super::bodies::{self, Dictionaries};
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
    /// `keys`) in one transaction; bodies go deflated against `dictionaries`, which gets
    /// any new dictionary the batch needed (stored first, in a transaction of its own).
    pub async fn write(
        &self,
        batch: &[Entry],
        keys: &[KeyRow],
        dictionaries: &mut Dictionaries,
    ) -> Result<(), sqlx::Error> {
        let now = crate::clock::now_ms();
        let mut packed = Vec::new();
        for (entry, original) in originals(batch) {
            let channel = entry.channel.as_deref().unwrap_or_default();
            let body = original.body.as_slice();
            if dictionaries.wants(channel, body, now) {
                let id = self.add_dictionary(body, now).await?;
                dictionaries.replace(channel, id, body.to_vec(), now);
            }
            packed.push(match dictionaries.deflate(channel, body, now) {
                Some((id, small)) => Packed::new(entry, original, Cow::Owned(small), Some(id)),
                None => Packed::new(entry, original, Cow::Borrowed(body), None),
            });
        }
        match self {
            Store::Sqlite(pool) => sqlite::write(pool, batch, &packed, keys).await,
            Store::Postgres(pool) => postgres::write(pool, batch, &packed, keys).await,
        }
    }

    /// Stores `body` as a dictionary; its id.
    async fn add_dictionary(&self, body: &[u8], now_ms: u64) -> Result<i64, sqlx::Error> {
        let at = query::int(now_ms);
        match self {
            Store::Sqlite(pool) => {
                let q = sqlx::query_scalar(ADD_DICTIONARY).bind(body).bind(at);
                q.fetch_one(pool).await
            }
            Store::Postgres(pool) => {
                let q = sqlx::query_scalar(ADD_DICTIONARY).bind(body).bind(at);
                q.fetch_one(pool).await
            }
        }
    }

    /// Deletes, up to `limit` rows each: attempts and deferrals older than `cutoff_ms`,
    /// messages as old left with neither (their keys first), then dictionaries no message
    /// uses; returns how many rows went. Small steps keep each lock short.
    pub async fn prune_step(&self, cutoff_ms: u64, limit: u32) -> Result<u64, sqlx::Error> {
        let (cutoff, limit) = (query::int(cutoff_ms), i64::from(limit));
        // A dictionary a writer may still be using is never old enough, however short the
        // retention.
        let in_use = crate::clock::now_ms().saturating_sub(2 * bodies::ROTATE.as_millis() as u64);
        let dictionaries = query::int(cutoff_ms.min(in_use));
        let backend = match self {
            Store::Sqlite(_) => sqlite::PRUNE,
            Store::Postgres(_) => postgres::PRUNE,
        };
        let steps = backend
            .into_iter()
            .map(|sql| (sql, cutoff))
            .chain([(PRUNE_DICTIONARIES, dictionaries)]);
        let mut deleted = 0;
        for (sql, before) in steps {
            let binds = [Bind::Int(before), Bind::Int(limit)];
            deleted += match self {
                Store::Sqlite(pool) => bound(sql, &binds).execute(pool).await?.rows_affected(),
                Store::Postgres(pool) => bound(sql, &binds).execute(pool).await?.rows_affected(),
            };
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
        let stored = match self {
            Store::Sqlite(pool) => {
                let row = bound(query::MESSAGE_SQL, &binds)
                    .fetch_optional(pool)
                    .await?;
                row.as_ref().map(query::message_row).transpose()?
            }
            Store::Postgres(pool) => {
                let row = bound(query::MESSAGE_SQL, &binds)
                    .fetch_optional(pool)
                    .await?;
                row.as_ref().map(query::message_row).transpose()?
            }
        };
        let Some((mut message, Some(dictionary))) = stored else {
            return Ok(stored.map(|(message, _)| message));
        };
        let text: Option<Vec<u8>> = match self {
            Store::Sqlite(pool) => {
                let q = sqlx::query_scalar(DICTIONARY).bind(dictionary);
                q.fetch_optional(pool).await?
            }
            Store::Postgres(pool) => {
                let q = sqlx::query_scalar(DICTIONARY).bind(dictionary);
                q.fetch_optional(pool).await?
            }
        };
        let corrupt = |detail: String| JournalError::Body {
            message_id: message_id.to_owned(),
            detail,
        };
        let text = text.ok_or_else(|| corrupt(format!("dictionary {dictionary} is missing")))?;
        message.body = bodies::inflate(&message.body, &text).map_err(|e| corrupt(e.to_string()))?;
        Ok(Some(message))
    }

    /// Closes the pool's connections; a pool that never connected closes at once.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(pool) => pool.close().await,
            Store::Postgres(pool) => pool.close().await,
        }
    }
}

const ADD_DICTIONARY: &str =
    "INSERT INTO journal_dictionaries (body, created_at_ms) VALUES ($1, $2) RETURNING id";

const DICTIONARY: &str = "SELECT body FROM journal_dictionaries WHERE id = $1";

/// Up to `$2` dictionaries created before `$1` that no message uses any more.
const PRUNE_DICTIONARIES: &str = "DELETE FROM journal_dictionaries WHERE id IN \
    (SELECT d.id FROM journal_dictionaries d WHERE d.created_at_ms < $1 AND NOT EXISTS \
    (SELECT 1 FROM journal_messages m WHERE m.dictionary = d.id) LIMIT $2)";

/// An original as it is written: its body deflated against dictionary `dictionary`, or
/// as it came (`None`).
pub(super) struct Packed<'a> {
    pub message_id: &'a str,
    pub content_type: Option<&'a str>,
    pub body: Cow<'a, [u8]>,
    pub dictionary: Option<i64>,
    pub at_ms: u64,
}

impl<'a> Packed<'a> {
    fn new(
        entry: &'a Entry,
        original: &'a Original,
        body: Cow<'a, [u8]>,
        dictionary: Option<i64>,
    ) -> Self {
        Self {
            message_id: &entry.message_id,
            content_type: original.content_type.as_deref(),
            body,
            dictionary,
            at_ms: entry.at_ms,
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

/// The messages a batch refers to without carrying their original (a retry, a deferral
/// after the first record, an original too large to keep), once each with its first
/// time: each gets a row with no body unless it has one, so its records have a number.
pub(super) fn placeholders(batch: &[Entry]) -> Vec<(&str, u64)> {
    let carried: HashSet<&str> = originals(batch)
        .map(|(e, _)| e.message_id.as_str())
        .collect();
    let mut seen = HashSet::new();
    batch
        .iter()
        .filter(|e| !carried.contains(e.message_id.as_str()))
        .filter(|e| seen.insert(e.message_id.as_str()))
        .map(|e| (e.message_id.as_str(), e.at_ms))
        .collect()
}

/// A batch split by table: attempts, and deferrals (which made none).
pub(super) fn split(batch: &[Entry]) -> (Vec<&Entry>, Vec<&Entry>) {
    batch
        .iter()
        .partition(|e| e.outcome != JournalOutcome::Deferred)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::entry::tests::sample;

    #[test]
    fn only_messages_without_their_original_in_the_batch_get_a_placeholder() {
        let entry = |id: &str, at_ms: u64, original: bool| {
            let mut e = sample();
            e.message_id = id.into();
            e.at_ms = at_ms;
            if !original {
                e.message = None;
            }
            e
        };
        let batch = [
            entry("first", 1, true),
            entry("first", 2, false),
            entry("retried", 3, false),
            entry("retried", 4, false),
            entry("deferred", 5, false),
        ];
        assert_eq!(placeholders(&batch), [("retried", 3), ("deferred", 5)]);
    }
}
