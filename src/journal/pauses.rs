//! Paused channels, kept in the journal's database: a pause outlives a restart, and every
//! replica sharing the database sees it.

use sqlx::Row;

use super::query::{int, Bind};
use super::store::{bound, Store};
use super::JournalError;

const LIST_SQL: &str = "SELECT channel, paused_at_ms FROM channel_pauses ORDER BY channel";
const PAUSE_SQL: &str = "INSERT INTO channel_pauses (channel, paused_at_ms) VALUES ($1, $2) \
    ON CONFLICT (channel) DO NOTHING";
const RESUME_SQL: &str = "DELETE FROM channel_pauses WHERE channel = $1";

/// Every paused channel and since when (epoch milliseconds).
pub(super) async fn list(store: &Store) -> Result<Vec<(String, u64)>, JournalError> {
    let rows: Vec<(String, i64)> = match store {
        Store::Sqlite(pool) => bound(LIST_SQL, &[])
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("channel")?, r.try_get("paused_at_ms")?)))
            .collect::<Result<_, sqlx::Error>>()?,
        Store::Postgres(pool) => bound(LIST_SQL, &[])
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("channel")?, r.try_get("paused_at_ms")?)))
            .collect::<Result<_, sqlx::Error>>()?,
    };
    Ok(rows
        .into_iter()
        .map(|(c, at)| (c, u64::try_from(at).unwrap_or_default()))
        .collect())
}

/// Pauses `channel` (kept as it was when already paused); true when it was not paused.
pub(super) async fn pause(store: &Store, channel: &str, at_ms: u64) -> Result<bool, JournalError> {
    let binds = [Bind::Text(channel.to_owned()), Bind::Int(int(at_ms))];
    execute(store, PAUSE_SQL, &binds).await
}

/// Resumes `channel`; true when it was paused.
pub(super) async fn resume(store: &Store, channel: &str) -> Result<bool, JournalError> {
    execute(store, RESUME_SQL, &[Bind::Text(channel.to_owned())]).await
}

async fn execute(store: &Store, sql: &str, binds: &[Bind]) -> Result<bool, JournalError> {
    let changed = match store {
        Store::Sqlite(pool) => bound(sql, binds).execute(pool).await?.rows_affected(),
        Store::Postgres(pool) => bound(sql, binds).execute(pool).await?.rows_affected(),
    };
    Ok(changed > 0)
}
