//! Counting what the sink saw: rate, latency percentiles, duplicates, missing, retries.

use crate::sink::Arrival;

/// What arrived for one set of messages (one channel's share of a load).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Messages expected.
    pub expected: usize,
    /// Distinct messages that arrived (first attempts and retries alike).
    pub delivered: usize,
    /// Requests beyond the first for the same message and attempt.
    pub duplicates: usize,
    pub missing: usize,
    /// Deliveries per second, first to last arrival of the set (0 when fewer than two).
    pub rate: f64,
    /// Publish → first arrival, milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Epoch µs of the first and last first-arrival.
    pub first_us: u64,
    pub last_us: u64,
}

/// Summarises the arrivals of the `expected` indices (those for which `wanted` holds,
/// out of `0..len`). The rate counts from `since_us` when given (e.g. the first arrival
/// of the whole load), else from the set's own first arrival.
pub fn summarize(
    arrivals: &[Arrival],
    len: usize,
    wanted: impl Fn(usize) -> bool,
    since_us: Option<u64>,
) -> Summary {
    let expected = (0..len).filter(|&i| wanted(i)).count();
    let mut first = vec![None::<Arrival>; len];
    let mut attempts_seen = std::collections::HashSet::new();
    let mut duplicates = 0;
    for a in arrivals.iter().filter(|a| wanted(a.index as usize)) {
        if !attempts_seen.insert((a.index, a.attempt)) {
            duplicates += 1;
        }
        let slot = &mut first[a.index as usize];
        if slot.is_none_or(|f| a.at_us < f.at_us) {
            *slot = Some(*a);
        }
    }
    let firsts: Vec<Arrival> = first.into_iter().flatten().collect();
    let delivered = firsts.len();
    let mut latencies: Vec<f64> = firsts
        .iter()
        .map(|a| a.at_us.saturating_sub(a.sent_us) as f64 / 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let first_us = firsts.iter().map(|a| a.at_us).min().unwrap_or_default();
    let last_us = firsts.iter().map(|a| a.at_us).max().unwrap_or_default();
    let start = since_us.unwrap_or(first_us).min(first_us);
    let rate = match last_us.saturating_sub(start) {
        0 => 0.0,
        span => delivered.saturating_sub(1) as f64 * 1e6 / span as f64,
    };
    Summary {
        expected,
        delivered,
        duplicates,
        missing: expected - delivered,
        rate,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        max_ms: latencies.last().copied().unwrap_or_default(),
        first_us,
        last_us,
    }
}

/// The `q` quantile of sorted `values` (nearest rank); 0 for none.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of `values` (mean of the middle two for an even count); 0 for none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// For messages retried at least once: the median time from the first attempt's arrival
/// to the second's, in ms; `None` when no message got a second attempt.
pub fn retry_gap_ms(arrivals: &[Arrival], wanted: impl Fn(usize) -> bool) -> Option<f64> {
    let mut by_attempt = std::collections::HashMap::<(u32, u32), u64>::new();
    for a in arrivals.iter().filter(|a| wanted(a.index as usize)) {
        by_attempt.entry((a.index, a.attempt)).or_insert(a.at_us);
    }
    let gaps: Vec<f64> = by_attempt
        .iter()
        .filter(|((_, attempt), _)| *attempt == 1)
        .filter_map(|((index, _), first)| {
            let second = by_attempt.get(&(*index, 2))?;
            Some(second.saturating_sub(*first) as f64 / 1000.0)
        })
        .collect();
    (!gaps.is_empty()).then(|| median(&gaps))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(index: u32, attempt: u32, sent_us: u64, at_us: u64) -> Arrival {
        Arrival {
            index,
            attempt,
            sent_us,
            at_us,
        }
    }

    #[test]
    fn counts_rate_latency_duplicates_and_missing() {
        let arrivals = [
            at(0, 1, 0, 1_000),
            at(1, 1, 0, 2_000),
            at(1, 1, 0, 2_500),
            at(2, 1, 0, 1_001_000),
        ];
        let s = summarize(&arrivals, 4, |_| true, None);
        assert_eq!(
            (s.expected, s.delivered, s.duplicates, s.missing),
            (4, 3, 1, 1)
        );
        assert!((s.rate - 2.0).abs() < 1e-9, "{}", s.rate);
        assert_eq!(s.p50_ms, 2.0);
        assert_eq!(s.p99_ms, 1001.0);
    }

    #[test]
    fn percentiles_and_medians() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0]), 2.5);
    }

    #[test]
    fn retry_gaps_pair_first_and_second_attempts() {
        let arrivals = [at(0, 1, 0, 0), at(0, 2, 0, 3_000_000), at(1, 1, 0, 10)];
        assert_eq!(retry_gap_ms(&arrivals, |_| true), Some(3000.0));
        assert_eq!(retry_gap_ms(&arrivals[2..], |_| true), None);
    }
}
