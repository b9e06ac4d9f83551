//! The journal's read side as data: filters, typed rows, and the SQL both backends share
//! (`$n` placeholders work in SQLite too).

use sqlx::{ColumnIndex, Decode, Row, Type};

use super::keys::prefix_end;
use super::{JournalError, JournalOutcome};
use crate::clock::now_ms;
use crate::message::NotifyType;

/// Rows returned by [`super::JournalReader::list`] when the filter names no limit.
pub const DEFAULT_LIMIT: u32 = 100;
/// The most rows one `list` returns.
pub const MAX_LIMIT: u32 = 1000;

/// Which attempts to list; every field narrows, `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub channel: Option<String>,
    pub notify_type: Option<NotifyType>,
    pub outcome: Option<JournalOutcome>,
    /// Only attempts at or after this time, epoch milliseconds.
    pub since_ms: Option<u64>,
    /// At most this many rows, 1 to [`MAX_LIMIT`]; [`DEFAULT_LIMIT`] when `None`.
    pub limit: Option<u32>,
    /// Only messages with this business key (name, value prefix).
    pub key: Option<(String, String)>,
    /// Only attempts at or before this time, epoch milliseconds.
    pub until_ms: Option<u64>,
    /// Only attempts listed after this one (its time and id): the next page.
    pub before: Option<(u64, i64)>,
}

impl Filter {
    /// A filter from what an operator typed (admin query parameters or CLI flags);
    /// `since_name` is how the caller spells the `since` option in its message.
    pub fn parse(
        channel: Option<String>,
        notify_type: Option<&str>,
        outcome: Option<&str>,
        since: Option<&str>,
        since_name: &str,
        limit: Option<u32>,
    ) -> Result<Self, String> {
        let notify_type = notify_type
            .map(|t| NotifyType::parse(t).ok_or_else(|| format!("unknown notifyType `{t}`")))
            .transpose()?;
        let outcome = outcome
            .map(|o| {
                // Deferrals are not attempts: they are counted apart, not listed.
                JournalOutcome::parse(o)
                    .filter(|o| *o != JournalOutcome::Deferred)
                    .ok_or_else(|| {
                        format!("unknown outcome `{o}` (delivered, retry, parked, bad-input)")
                    })
            })
            .transpose()?;
        let since_ms = since
            .map(|s| {
                since_ms(s, now_ms()).ok_or_else(|| {
                    format!(
                        "{since_name} `{s}` is neither epoch milliseconds nor a duration such as 1h"
                    )
                })
            })
            .transpose()?;
        Ok(Self {
            channel,
            notify_type,
            outcome,
            since_ms,
            limit,
            ..Self::default()
        })
    }

    /// Narrows to messages with a business key, given as `name=prefix` (e.g.
    /// `orderNo=WO2025`): every message whose key starts with the prefix.
    pub fn with_key(mut self, text: &str) -> Result<Self, String> {
        match text.split_once('=') {
            Some((name, prefix)) if !name.is_empty() && !prefix.is_empty() => {
                self.key = Some((name.to_owned(), prefix.to_owned()));
                Ok(self)
            }
            _ => Err(format!(
                "key `{text}` must be name=value, such as orderNo=WO2025"
            )),
        }
    }
}

/// `since` as operators write it: epoch milliseconds, or a look-back such as `1h` or `30m`.
fn since_ms(text: &str, now_ms: u64) -> Option<u64> {
    if let Ok(ms) = text.parse::<u64>() {
        return Some(ms);
    }
    let back = humantime::parse_duration(text).ok()?;
    Some(now_ms.saturating_sub(back.as_millis() as u64))
}

/// One recorded attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRow {
    /// Increases with each write, so it orders attempts recorded in the same millisecond.
    pub id: i64,
    pub message_id: String,
    pub channel: Option<String>,
    pub notify_type: Option<NotifyType>,
    pub url: Option<String>,
    pub attempt: u32,
    pub status: Option<u16>,
    pub latency_ms: Option<u64>,
    pub response: Option<String>,
    pub error: Option<String>,
    pub outcome: JournalOutcome,
    pub at_ms: u64,
}

/// The original queue message of one id, as first recorded: what a replay re-publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub message_id: String,
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    /// When the journal first saw it (its first recorded attempt), epoch milliseconds.
    pub received_at_ms: u64,
}

/// A value to bind to a `$n` placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Bind {
    Text(String),
    Int(i64),
}

/// Attempts (`a`) with their message's id (`m`): rows refer to messages by number.
macro_rules! attempts_from {
    () => {
        "SELECT a.id, m.message_id, a.channel, a.notify_type, a.url, a.attempt, a.status, \
         a.latency_ms, a.response, a.error, a.outcome, a.at_ms \
         FROM journal_attempts a JOIN journal_messages m ON m.id = a.message"
    };
}

pub(super) const ATTEMPTS_SQL: &str = concat!(
    attempts_from!(),
    " WHERE m.message_id = $1 ORDER BY a.at_ms, a.id"
);

/// A message with no body is a placeholder: its attempts are known, not its original.
pub(super) const MESSAGE_SQL: &str = "SELECT message_id, body, content_type, received_at_ms, \
    dictionary FROM journal_messages WHERE message_id = $1 AND body IS NOT NULL";

/// Repeats the outcome index's condition, so that both backends' planners may use it.
const NOT_DELIVERED: &str = "a.outcome <> 'delivered'";

/// The newest-first listing for `filter`: only the conditions it sets, so each backend's
/// planner can pick the matching index.
pub(super) fn list_sql(filter: &Filter) -> Result<(String, Vec<Bind>), JournalError> {
    let limit = filter.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(JournalError::Limit(limit));
    }
    let mut binds = Vec::new();
    let mut conditions = Vec::new();
    let mut condition = |column: &str, op: &str, value: Bind| {
        binds.push(value);
        conditions.push(format!("a.{column} {op} ${}", binds.len()));
    };
    if let Some(channel) = &filter.channel {
        condition("channel", "=", Bind::Text(channel.clone()));
    }
    if let Some(notify_type) = filter.notify_type {
        condition("notify_type", "=", Bind::Text(notify_type.as_str().into()));
    }
    if let Some(outcome) = filter.outcome {
        condition("outcome", "=", Bind::Text(outcome.as_str().into()));
    }
    if let Some(since) = filter.since_ms {
        condition("at_ms", ">=", Bind::Int(int(since)));
    }
    if let Some(until) = filter.until_ms {
        condition("at_ms", "<=", Bind::Int(int(until)));
    }
    if filter
        .outcome
        .is_some_and(|o| o != JournalOutcome::Delivered)
    {
        conditions.push(NOT_DELIVERED.to_owned());
    }
    if let Some((name, prefix)) = &filter.key {
        binds.push(Bind::Text(name.clone()));
        binds.push(Bind::Text(prefix.clone()));
        binds.push(Bind::Text(prefix_end(prefix)));
        let n = binds.len();
        conditions.push(format!(
            "a.message IN (SELECT message FROM journal_keys \
             WHERE name = ${} AND value >= ${} AND value < ${n})",
            n - 2,
            n - 1
        ));
    }
    if let Some((at, id)) = filter.before {
        binds.push(Bind::Int(int(at)));
        binds.push(Bind::Int(id));
        let n = binds.len();
        conditions.push(format!(
            "(a.at_ms < ${} OR (a.at_ms = ${} AND a.id < ${n}))",
            n - 1,
            n - 1
        ));
    }
    let mut sql = attempts_from!().to_owned();
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    binds.push(Bind::Int(i64::from(limit)));
    sql.push_str(&format!(
        " ORDER BY a.at_ms DESC, a.id DESC LIMIT ${}",
        binds.len()
    ));
    Ok((sql, binds))
}

/// A `u64` for an `INTEGER`/`BIGINT` column; times and latencies never come near the cap.
pub(super) fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Reads one attempt row, whichever backend it came from.
pub(super) fn attempt_row<'r, R>(row: &'r R) -> Result<AttemptRow, JournalError>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
{
    let notify_type = match row.try_get::<Option<String>, _>("notify_type")? {
        Some(name) => Some(NotifyType::parse(&name).ok_or(JournalError::Corrupt {
            column: "notify_type",
            value: name,
        })?),
        None => None,
    };
    let outcome: String = row.try_get("outcome")?;
    Ok(AttemptRow {
        id: row.try_get("id")?,
        message_id: row.try_get("message_id")?,
        channel: row.try_get("channel")?,
        notify_type,
        url: row.try_get("url")?,
        attempt: number(row.try_get("attempt")?, "attempt")?,
        status: row
            .try_get::<Option<i64>, _>("status")?
            .map(|s| number(s, "status"))
            .transpose()?,
        latency_ms: row
            .try_get::<Option<i64>, _>("latency_ms")?
            .map(|l| number(l, "latency_ms"))
            .transpose()?,
        response: row.try_get("response")?,
        error: row.try_get("error")?,
        outcome: JournalOutcome::parse(&outcome).ok_or(JournalError::Corrupt {
            column: "outcome",
            value: outcome,
        })?,
        at_ms: number(row.try_get("at_ms")?, "at_ms")?,
    })
}

/// Reads one original message row.
/// A stored message, its body as stored, and the dictionary that body was deflated
/// against (`None`: stored as it came).
pub(super) fn message_row<'r, R>(row: &'r R) -> Result<(StoredMessage, Option<i64>), JournalError>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    let message = StoredMessage {
        message_id: row.try_get("message_id")?,
        body: row.try_get("body")?,
        content_type: row.try_get("content_type")?,
        received_at_ms: number(row.try_get("received_at_ms")?, "received_at_ms")?,
    };
    Ok((message, row.try_get("dictionary")?))
}

/// A stored integer as the unsigned type it was written from.
fn number<T: TryFrom<i64>>(value: i64, column: &'static str) -> Result<T, JournalError> {
    T::try_from(value).map_err(|_| JournalError::Corrupt {
        column,
        value: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_filter_lists_the_newest_hundred() {
        let (sql, binds) = list_sql(&Filter::default()).unwrap();
        assert!(sql.ends_with("ON m.id = a.message ORDER BY a.at_ms DESC, a.id DESC LIMIT $1"));
        assert_eq!(binds, vec![Bind::Int(100)]);
    }

    #[test]
    fn every_filter_adds_one_numbered_condition() {
        let filter = Filter {
            channel: Some("shop".into()),
            notify_type: Some(NotifyType::Verify),
            outcome: Some(JournalOutcome::Parked),
            since_ms: Some(5),
            limit: Some(7),
            ..Filter::default()
        };
        let (sql, binds) = list_sql(&filter).unwrap();
        assert!(sql.contains(
            "WHERE a.channel = $1 AND a.notify_type = $2 AND a.outcome = $3 \
             AND a.at_ms >= $4 AND a.outcome <> 'delivered' \
             ORDER BY a.at_ms DESC, a.id DESC LIMIT $5"
        ));
        assert_eq!(
            binds,
            vec![
                Bind::Text("shop".into()),
                Bind::Text("Verify".into()),
                Bind::Text("parked".into()),
                Bind::Int(5),
                Bind::Int(7),
            ]
        );
    }

    #[test]
    fn a_key_is_a_prefix_range_on_the_key_index_and_pages_follow_the_last_row() {
        let filter = Filter {
            before: Some((9, 3)),
            ..Filter::default().with_key("orderNo=WO20").unwrap()
        };
        let (sql, binds) = list_sql(&filter).unwrap();
        assert!(sql.contains(
            "WHERE a.message IN (SELECT message FROM journal_keys \
             WHERE name = $1 AND value >= $2 AND value < $3) \
             AND (a.at_ms < $4 OR (a.at_ms = $4 AND a.id < $5)) ORDER BY"
        ));
        assert_eq!(binds[0], Bind::Text("orderNo".into()));
        assert_eq!(binds[2], Bind::Text("WO20\u{10FFFF}".into()));
        assert!(Filter::default().with_key("orderNo").is_err());
        assert!(Filter::default().with_key("=WO").is_err());
    }

    #[test]
    fn limits_outside_one_to_a_thousand_are_refused() {
        for limit in [0, 1001] {
            let filter = Filter {
                limit: Some(limit),
                ..Filter::default()
            };
            assert!(matches!(list_sql(&filter), Err(JournalError::Limit(l)) if l == limit));
        }
    }

    #[test]
    fn stored_integers_convert_or_report_corruption() {
        assert_eq!(number::<u16>(503, "status").unwrap(), 503);
        assert!(matches!(
            number::<u32>(-1, "attempt"),
            Err(JournalError::Corrupt {
                column: "attempt",
                ..
            })
        ));
    }
}

#[cfg(test)]
mod since_tests {
    use super::since_ms;

    #[test]
    fn since_takes_epoch_ms_or_a_look_back() {
        assert_eq!(since_ms("1700000000000", 5), Some(1_700_000_000_000));
        assert_eq!(since_ms("1h", 7_200_000), Some(3_600_000));
        assert_eq!(since_ms("2h", 3_600_000), Some(0));
        assert_eq!(since_ms("soon", 1), None);
    }
}
