//! The PostgreSQL backend: a batch is one statement per table, whatever its size.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, PgPool};

use super::entry::Entry;
use super::keys::KeyRow;
use super::migrate::{self, Migration};
use super::query::int;
use super::store::{placeholders, split, Packed};
use super::JournalError;
use crate::clock::now_ms;

/// Names our sessions in `pg_stat_activity` unless the URL names them.
const APPLICATION_NAME: &str = "notify-bridge-journal";

/// Serialises replicas that start together; any constant unlikely to clash will do.
const MIGRATION_LOCK: i64 = 0x6e62_6a6f_7572_6e6c; // "nbjournl"

/// One round trip per table: the columns travel as arrays and `UNNEST` turns them into
/// rows, so the statement text (and its prepared plan) is the same for every batch size.
/// An original fills in the placeholder an earlier attempt of its message left.
const INSERT_MESSAGES: &str = "INSERT INTO journal_messages \
    (message_id, content_type, body, dictionary, received_at_ms) \
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::bytea[], $4::int8[], $5::int8[]) \
    ON CONFLICT (message_id) DO UPDATE SET content_type = excluded.content_type, \
    body = excluded.body, dictionary = excluded.dictionary, \
    received_at_ms = excluded.received_at_ms WHERE journal_messages.body IS NULL";

const INSERT_PLACEHOLDERS: &str = "INSERT INTO journal_messages (message_id, received_at_ms) \
    SELECT * FROM UNNEST($1::text[], $2::int8[]) ON CONFLICT (message_id) DO NOTHING";

/// Keys, deferrals and attempts find their message's number by its id (the batch wrote
/// the message or its placeholder first); `n` keeps the batch's order in the ids. A left
/// join: a message gone meanwhile (pruned by another replica) fails the row's NOT NULL,
/// and the writer's refusal handling reports it, where an inner join would drop it unseen.
const INSERT_KEYS: &str = "INSERT INTO journal_keys (message, name, value) \
    SELECT m.id, u.name, u.value FROM UNNEST($1::text[], $2::text[], $3::text[]) \
    AS u (message_id, name, value) LEFT JOIN journal_messages m USING (message_id) \
    ON CONFLICT DO NOTHING";

const INSERT_DEFERRALS: &str = "INSERT INTO journal_deferrals \
    (message, channel, attempt, error, at_ms) \
    SELECT m.id, u.channel, u.attempt, u.error, u.at_ms \
    FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::int8[]) WITH ORDINALITY \
    AS u (message_id, channel, attempt, error, at_ms, n) \
    LEFT JOIN journal_messages m USING (message_id) ORDER BY u.n";

const INSERT_ATTEMPTS: &str = "INSERT INTO journal_attempts \
    (message, channel, notify_type, url, attempt, status, latency_ms, response, error, \
    outcome, at_ms) \
    SELECT m.id, u.channel, u.notify_type, u.url, u.attempt, u.status, u.latency_ms, \
    u.response, u.error, u.outcome, u.at_ms \
    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], \
    $6::int8[], $7::int8[], $8::text[], $9::text[], $10::text[], $11::int8[]) WITH ORDINALITY \
    AS u (message_id, channel, notify_type, url, attempt, status, latency_ms, response, \
    error, outcome, at_ms, n) \
    LEFT JOIN journal_messages m USING (message_id) ORDER BY u.n";

/// Retention, one step, as in `sqlite.rs`; but `IN (subquery)` makes PostgreSQL hash the
/// whole table, while `= ANY(ARRAY(subquery))` finds each row by primary key.
pub(super) const PRUNE: [&str; 4] = [
    "DELETE FROM journal_attempts WHERE id = ANY(ARRAY( \
     SELECT id FROM journal_attempts WHERE at_ms < $1 ORDER BY at_ms LIMIT $2))",
    "DELETE FROM journal_deferrals WHERE id = ANY(ARRAY( \
     SELECT id FROM journal_deferrals WHERE at_ms < $1 ORDER BY at_ms LIMIT $2))",
    "DELETE FROM journal_keys WHERE message = ANY(ARRAY( \
     SELECT m.id FROM journal_messages m WHERE m.received_at_ms < $1 AND NOT EXISTS \
     (SELECT 1 FROM journal_attempts a WHERE a.message = m.id) AND NOT EXISTS \
     (SELECT 1 FROM journal_deferrals d WHERE d.message = m.id) LIMIT $2))",
    "DELETE FROM journal_messages WHERE id = ANY(ARRAY( \
     SELECT m.id FROM journal_messages m WHERE m.received_at_ms < $1 AND NOT EXISTS \
     (SELECT 1 FROM journal_attempts a WHERE a.message = m.id) AND NOT EXISTS \
     (SELECT 1 FROM journal_deferrals d WHERE d.message = m.id) LIMIT $2))",
];

/// A pool that connects on first use, so a server that is down at start only delays writes.
pub(super) fn pool(
    options: &PgConnectOptions,
    connections: u32,
    acquire_timeout: Duration,
) -> PgPool {
    let mut options = options.clone();
    if options.get_application_name().is_none() {
        options = options.application_name(APPLICATION_NAME);
    }
    PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(acquire_timeout)
        .connect_lazy_with(options)
}

/// Applies the embedded migrations the database lacks, one replica at a time.
pub(super) async fn migrate(pool: &PgPool) -> Result<(), JournalError> {
    reachable(pool).await?;
    let mut tx = pool.begin().await?;
    // `IF NOT EXISTS` would otherwise log a NOTICE on every reconnect.
    tx.execute("SET LOCAL client_min_messages = warning")
        .await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    tx.execute(migrate::CREATE_TABLE).await?;
    let applied: Vec<i64> = sqlx::query_scalar(migrate::APPLIED)
        .fetch_all(&mut *tx)
        .await?;
    for m in migrate::pending(migrate::POSTGRES, &applied) {
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

/// One direct connection attempt, closed at once. The pool retries a refused connection
/// until its acquire timeout (10 s) and then reports only that it timed out; an operator
/// needs "connection refused at host:port", and at once.
async fn reachable(pool: &PgPool) -> Result<(), JournalError> {
    let options = pool.connect_options();
    let at = format!("{}:{}", options.get_host(), options.get_port());
    let limit = pool.options().get_acquire_timeout();
    let unreachable = |error| JournalError::Unreachable {
        at: at.clone(),
        error,
    };
    match tokio::time::timeout(limit, PgConnection::connect_with(&options)).await {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Ok(())
        }
        Ok(Err(sqlx::Error::Io(e))) => Err(unreachable(e)),
        // Refusals by the server itself (login, database) say what they are already.
        Ok(Err(e)) => Err(JournalError::Database(e)),
        Err(_) => Err(unreachable(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no connection within {limit:?}"),
        ))),
    }
}

/// Runs one migration and records it, inside the caller's transaction.
async fn apply(conn: &mut PgConnection, m: Migration) -> Result<(), sqlx::Error> {
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

/// Writes one batch in one transaction.
pub(super) async fn write(
    pool: &PgPool,
    batch: &[Entry],
    messages: &[Packed<'_>],
    keys: &[KeyRow],
) -> Result<(), sqlx::Error> {
    let (attempts, deferrals) = split(batch);
    let (mut ids, mut types, mut bodies, mut dictionaries, mut ats) =
        (vec![], vec![], vec![], vec![], vec![]);
    for m in messages {
        ids.push(text(m.message_id));
        types.push(m.content_type.map(text));
        bodies.push(m.body.as_ref());
        dictionaries.push(m.dictionary);
        ats.push(int(m.at_ms));
    }
    let mut tx = pool.begin().await?;
    if !ids.is_empty() {
        sqlx::query(INSERT_MESSAGES)
            .bind(ids)
            .bind(types)
            .bind(bodies)
            .bind(dictionaries)
            .bind(ats)
            .execute(&mut *tx)
            .await?;
    }
    let placeholders = placeholders(batch);
    if !placeholders.is_empty() {
        let (ids, ats): (Vec<_>, Vec<_>) = placeholders
            .iter()
            .map(|(id, at)| (text(id), int(*at)))
            .unzip();
        sqlx::query(INSERT_PLACEHOLDERS)
            .bind(ids)
            .bind(ats)
            .execute(&mut *tx)
            .await?;
    }
    let opt = |s: &Option<String>| s.as_deref().map(text);
    if !keys.is_empty() {
        sqlx::query(INSERT_KEYS)
            .bind(keys.iter().map(|k| text(&k.message_id)).collect::<Vec<_>>())
            .bind(keys.iter().map(|k| text(&k.name)).collect::<Vec<_>>())
            .bind(keys.iter().map(|k| text(&k.value)).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
    }
    if !deferrals.is_empty() {
        sqlx::query(INSERT_DEFERRALS)
            .bind(
                deferrals
                    .iter()
                    .map(|e| text(&e.message_id))
                    .collect::<Vec<_>>(),
            )
            .bind(
                deferrals
                    .iter()
                    .map(|e| opt(&e.channel))
                    .collect::<Vec<_>>(),
            )
            .bind(
                deferrals
                    .iter()
                    .map(|e| i64::from(e.attempt))
                    .collect::<Vec<_>>(),
            )
            .bind(deferrals.iter().map(|e| opt(&e.error)).collect::<Vec<_>>())
            .bind(deferrals.iter().map(|e| int(e.at_ms)).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
    }
    if attempts.is_empty() {
        return tx.commit().await;
    }
    let batch = attempts;
    sqlx::query(INSERT_ATTEMPTS)
        .bind(
            batch
                .iter()
                .map(|e| text(&e.message_id))
                .collect::<Vec<_>>(),
        )
        .bind(batch.iter().map(|e| opt(&e.channel)).collect::<Vec<_>>())
        .bind(
            batch
                .iter()
                .map(|e| e.notify_type.map(|t| t.as_str().to_owned()))
                .collect::<Vec<_>>(),
        )
        .bind(batch.iter().map(|e| opt(&e.url)).collect::<Vec<_>>())
        .bind(
            batch
                .iter()
                .map(|e| i64::from(e.attempt))
                .collect::<Vec<_>>(),
        )
        .bind(
            batch
                .iter()
                .map(|e| e.status.map(i64::from))
                .collect::<Vec<_>>(),
        )
        .bind(
            batch
                .iter()
                .map(|e| e.latency_ms.map(int))
                .collect::<Vec<_>>(),
        )
        .bind(batch.iter().map(|e| opt(&e.response)).collect::<Vec<_>>())
        .bind(batch.iter().map(|e| opt(&e.error)).collect::<Vec<_>>())
        .bind(
            batch
                .iter()
                .map(|e| e.outcome.as_str().to_owned())
                .collect::<Vec<_>>(),
        )
        .bind(batch.iter().map(|e| int(e.at_ms)).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// PostgreSQL text cannot hold NUL; one in a brand's answer must not wedge the journal.
fn text(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_are_replaced_not_rejected() {
        assert_eq!(text("a\0b"), "a\u{FFFD}b");
        assert_eq!(text("plain"), "plain");
    }
}
