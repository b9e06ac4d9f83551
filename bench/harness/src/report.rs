//! Figures gathered over runs, reduced to one value each (median, sum or max), and the
//! machine-readable `RESULT key=value …` line.

use crate::stats::median;

/// How the values of one figure over several runs become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    Median,
    /// Counts that must be zero: every run's count matters.
    Sum,
    Max,
}

/// Figures in the order first recorded.
#[derive(Debug, Default)]
pub struct Figures {
    entries: Vec<(String, Agg, Vec<f64>)>,
}

impl Figures {
    pub fn add(&mut self, key: &str, agg: Agg, value: f64) {
        match self.entries.iter_mut().find(|(k, _, _)| k == key) {
            Some((_, _, values)) => values.push(value),
            None => self.entries.push((key.to_owned(), agg, vec![value])),
        }
    }

    /// Every figure with its reduced value and the values of each run.
    pub fn rows(&self) -> impl Iterator<Item = (&str, f64, &[f64])> {
        self.entries
            .iter()
            .map(|(k, agg, values)| (k.as_str(), reduce(*agg, values), values.as_slice()))
    }

    /// `RESULT key=value …`, the last line the bench prints.
    pub fn result_line(&self) -> String {
        let pairs: Vec<String> = self
            .rows()
            .map(|(key, value, _)| format!("{key}={}", number(key, value)))
            .collect();
        format!("RESULT {}", pairs.join(" "))
    }
}

fn reduce(agg: Agg, values: &[f64]) -> f64 {
    match agg {
        Agg::Median => median(values),
        Agg::Sum => values.iter().sum(),
        Agg::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    }
}

/// Rates and counts as integers, ratios with two decimals, times and sizes with one.
pub fn number(key: &str, value: f64) -> String {
    if value.is_infinite() {
        return "inf".into();
    }
    if key.ends_with("_ratio") || key.contains("_ratio_") {
        format!("{value:.2}")
    } else if key.ends_with("_ms") || key.ends_with("_mib") || key.ends_with("_us") {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduces_and_formats() {
        let mut f = Figures::default();
        for v in [9000.0, 9500.0, 8000.0] {
            f.add("md5_rate", Agg::Median, v);
            f.add("md5_ratio", Agg::Median, v / 10000.0);
        }
        f.add("missing", Agg::Sum, 1.0);
        f.add("missing", Agg::Sum, 2.0);
        f.add("peak_rss_mib", Agg::Max, 30.04);
        f.add("noisy_b_p99_ms", Agg::Median, f64::INFINITY);
        assert_eq!(
            f.result_line(),
            "RESULT md5_rate=9000 md5_ratio=0.90 missing=3 peak_rss_mib=30.0 noisy_b_p99_ms=inf"
        );
    }
}
