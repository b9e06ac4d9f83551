//! The journal summed up for the operator console: what each channel did over a window,
//! its latencies, its last failure, and what sits in the parking lot — every figure from
//! the journal, so several replicas sharing one database show one picture.
//!
//! Each query is bounded by an index and a time window or a row limit: a console that
//! polls must not scan the journal. `a.outcome <> 'delivered'` repeats the outcome index's
//! condition, which is how both backends' planners know they may use it.

use std::collections::BTreeMap;

use sqlx::Row;

use super::query::{int, Bind};
use super::store::{bound, Store};
use super::JournalError;

/// Latencies sampled per channel for its percentiles, at most (the newest in the window).
pub const LATENCY_SAMPLE: i64 = 2000;
/// Failures read to find each channel's last one, at most.
const FAILURE_SAMPLE: i64 = 500;

/// What one channel did over a window, from the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelFigures {
    pub delivered: u64,
    pub retried: u64,
    pub parked: u64,
    pub bad_input: u64,
    pub deferred: u64,
    /// Median and 99th percentile of the sampled latencies, milliseconds.
    pub p50_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    /// The newest failure in the window: its error and when, epoch milliseconds.
    pub last_error: Option<(String, u64)>,
}

/// Messages whose latest record leaves them in the parking lot, per channel and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedCount {
    pub channel: Option<String>,
    /// `delivery-failed` (attempts used up or refused for good) or `bad-input`.
    pub reason: &'static str,
    pub count: u64,
}

const COUNTS_SQL: &str = "SELECT channel, outcome, COUNT(*) AS n FROM journal_attempts \
    WHERE at_ms >= $1 GROUP BY channel, outcome \
    UNION ALL SELECT channel, 'deferred' AS outcome, COUNT(*) AS n FROM journal_deferrals \
    WHERE at_ms >= $1 GROUP BY channel";

const LATENCIES_SQL: &str = "SELECT latency_ms FROM journal_attempts \
    WHERE channel = $1 AND at_ms >= $2 AND latency_ms IS NOT NULL \
    ORDER BY at_ms DESC LIMIT $3";

const FAILURES_SQL: &str = "SELECT channel, error, at_ms FROM journal_attempts a \
    WHERE outcome IN ('retry', 'parked') AND a.outcome <> 'delivered' AND at_ms >= $1 \
    ORDER BY at_ms DESC LIMIT $2";

/// A parked or bad-input record with no later record of its message: still parked, unless
/// it was purged (the journal does not see purges).
const PARKED_SQL: &str = "SELECT channel, outcome, COUNT(*) AS n FROM journal_attempts a \
    WHERE outcome IN ('parked', 'bad-input') AND a.outcome <> 'delivered' AND NOT EXISTS \
    (SELECT 1 FROM journal_attempts b WHERE b.message = a.message AND b.id > a.id) \
    GROUP BY channel, outcome";

/// Messages whose last record says they will come back: a retry, or a deferral after their
/// last attempt. They sit in a retry or deferral queue (or are being handled).
const WAITING_SQL: &str = "SELECT channel, COUNT(*) AS n FROM journal_attempts a \
    WHERE outcome = 'retry' AND a.outcome <> 'delivered' AND NOT EXISTS \
    (SELECT 1 FROM journal_attempts b WHERE b.message = a.message AND b.id > a.id) \
    AND NOT EXISTS (SELECT 1 FROM journal_deferrals d \
    WHERE d.message = a.message AND d.at_ms > a.at_ms) \
    GROUP BY channel \
    UNION ALL SELECT channel, COUNT(DISTINCT message) AS n FROM journal_deferrals d \
    WHERE NOT EXISTS (SELECT 1 FROM journal_attempts b \
    WHERE b.message = d.message AND b.at_ms >= d.at_ms) \
    AND NOT EXISTS (SELECT 1 FROM journal_deferrals e \
    WHERE e.message = d.message AND e.id > d.id) \
    GROUP BY channel";

const DEFERRALS_SQL: &str = "SELECT COUNT(*) AS n, MAX(at_ms) AS last FROM journal_deferrals \
    WHERE message = (SELECT id FROM journal_messages WHERE message_id = $1)";

/// Runs `$sql` with `$binds` on whichever backend, mapping each row with `$map`.
macro_rules! rows {
    ($store:expr, $sql:expr, $binds:expr, $map:expr) => {
        match $store {
            Store::Sqlite(pool) => {
                let rows = bound($sql, $binds).fetch_all(pool).await?;
                rows.iter()
                    .map($map)
                    .collect::<Result<Vec<_>, sqlx::Error>>()?
            }
            Store::Postgres(pool) => {
                let rows = bound($sql, $binds).fetch_all(pool).await?;
                rows.iter()
                    .map($map)
                    .collect::<Result<Vec<_>, sqlx::Error>>()?
            }
        }
    };
}

/// Each channel's figures since `since_ms` (channels with no record in the window are
/// absent).
pub(super) async fn channels(
    store: &Store,
    since_ms: u64,
) -> Result<BTreeMap<String, ChannelFigures>, JournalError> {
    let since = [Bind::Int(int(since_ms))];
    let counts: Vec<(Option<String>, String, i64)> = rows!(store, COUNTS_SQL, &since, |r| Ok((
        r.try_get("channel")?,
        r.try_get("outcome")?,
        r.try_get("n")?
    )));
    let mut figures: BTreeMap<String, ChannelFigures> = BTreeMap::new();
    for (channel, outcome, n) in counts {
        let Some(channel) = channel else { continue };
        let f = figures.entry(channel).or_default();
        let n = u64::try_from(n).unwrap_or_default();
        match outcome.as_str() {
            "delivered" => f.delivered += n,
            "retry" => f.retried += n,
            "parked" => f.parked += n,
            "bad-input" => f.bad_input += n,
            _ => f.deferred += n,
        }
    }
    for (channel, f) in figures.iter_mut() {
        let binds = [
            Bind::Text(channel.clone()),
            Bind::Int(int(since_ms)),
            Bind::Int(LATENCY_SAMPLE),
        ];
        let mut latencies: Vec<i64> =
            rows!(store, LATENCIES_SQL, &binds, |r| r.try_get("latency_ms"));
        latencies.sort_unstable();
        f.p50_ms = percentile(&latencies, 50);
        f.p99_ms = percentile(&latencies, 99);
    }
    let binds = [Bind::Int(int(since_ms)), Bind::Int(FAILURE_SAMPLE)];
    let failures: Vec<(Option<String>, Option<String>, i64)> =
        rows!(store, FAILURES_SQL, &binds, |r| Ok((
            r.try_get("channel")?,
            r.try_get("error")?,
            r.try_get("at_ms")?
        )));
    for (channel, error, at) in failures {
        let Some(f) = channel.and_then(|c| figures.get_mut(&c)) else {
            continue;
        };
        if f.last_error.is_none() {
            let error = error.unwrap_or_else(|| "failed".into());
            f.last_error = Some((error, u64::try_from(at).unwrap_or_default()));
        }
    }
    Ok(figures)
}

/// The parking lot as the journal sees it, per channel and reason.
pub(super) async fn parked(store: &Store) -> Result<Vec<ParkedCount>, JournalError> {
    let counts: Vec<(Option<String>, String, i64)> = rows!(store, PARKED_SQL, &[], |r| Ok((
        r.try_get("channel")?,
        r.try_get("outcome")?,
        r.try_get("n")?
    )));
    Ok(counts
        .into_iter()
        .map(|(channel, outcome, n)| ParkedCount {
            channel,
            reason: if outcome == "parked" {
                "delivery-failed"
            } else {
                "bad-input"
            },
            count: u64::try_from(n).unwrap_or_default(),
        })
        .collect())
}

/// Per channel, how many messages the journal says are waiting to come back.
pub(super) async fn waiting(store: &Store) -> Result<BTreeMap<String, u64>, JournalError> {
    let counts: Vec<(Option<String>, i64)> = rows!(store, WAITING_SQL, &[], |r| Ok((
        r.try_get("channel")?,
        r.try_get("n")?
    )));
    let mut waiting = BTreeMap::new();
    for (channel, n) in counts {
        if let Some(channel) = channel {
            *waiting.entry(channel).or_default() += u64::try_from(n).unwrap_or_default();
        }
    }
    Ok(waiting)
}

/// How often one message was deferred, and when last (epoch milliseconds).
pub(super) async fn deferrals(
    store: &Store,
    message_id: &str,
) -> Result<(u64, Option<u64>), JournalError> {
    let binds = [Bind::Text(message_id.to_owned())];
    let found: Vec<(i64, Option<i64>)> = rows!(store, DEFERRALS_SQL, &binds, |r| Ok((
        r.try_get("n")?,
        r.try_get("last")?
    )));
    let (n, last) = found.first().copied().unwrap_or_default();
    Ok((
        u64::try_from(n).unwrap_or_default(),
        last.and_then(|l| u64::try_from(l).ok()),
    ))
}

/// The `pct`th percentile of `sorted` (nearest rank).
fn percentile(sorted: &[i64], pct: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * pct).div_ceil(100).max(1);
    u64::try_from(sorted[rank - 1]).ok()
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let sorted: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 50), Some(50));
        assert_eq!(percentile(&sorted, 99), Some(99));
        assert_eq!(percentile(&[7], 99), Some(7));
        assert_eq!(percentile(&[], 50), None);
    }
}
