//! Retry schedules (SPEC §5) and the pure decision of what happens after an attempt.

use std::time::Duration;

/// When the attempts after the first happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetrySchedule {
    /// `steps[i]` is the delay before attempt `i + 1` (the first is usually `0s`).
    Steps(Vec<Duration>),
    /// An attempt every `interval` until `window` has passed since the first attempt.
    Every {
        interval: Duration,
        window: Duration,
    },
}

/// What to do with a message after an attempt that did not land.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again after this delay.
    RetryIn(Duration),
    /// No attempts left: park it.
    Park,
}

impl RetrySchedule {
    /// Decides after failed attempt number `attempt` (1-based), `since_first` after the first.
    pub fn after_failure(&self, attempt: u32, since_first: Duration) -> Next {
        match self {
            RetrySchedule::Steps(steps) => match steps.get(attempt as usize) {
                Some(delay) => Next::RetryIn(*delay),
                None => Next::Park,
            },
            RetrySchedule::Every { interval, window } => {
                if since_first + *interval <= *window {
                    Next::RetryIn(*interval)
                } else {
                    Next::Park
                }
            }
        }
    }

    /// Every distinct delay this schedule can ask for: one retry queue each.
    pub fn delays(&self) -> Vec<Duration> {
        let mut delays = match self {
            RetrySchedule::Steps(steps) => steps.iter().skip(1).copied().collect(),
            RetrySchedule::Every { interval, .. } => vec![*interval],
        };
        delays.sort();
        delays.dedup();
        delays
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn steps_run_out_into_the_parking_lot() {
        let s = RetrySchedule::Steps(vec![Duration::ZERO, 3 * S, 5 * S]);
        assert_eq!(s.after_failure(1, Duration::ZERO), Next::RetryIn(3 * S));
        assert_eq!(s.after_failure(2, 3 * S), Next::RetryIn(5 * S));
        assert_eq!(s.after_failure(3, 8 * S), Next::Park);
        assert_eq!(s.delays(), vec![3 * S, 5 * S]);
    }

    #[test]
    fn every_stops_at_the_window() {
        let s = RetrySchedule::Every {
            interval: 30 * S,
            window: 3600 * S,
        };
        assert_eq!(s.after_failure(1, Duration::ZERO), Next::RetryIn(30 * S));
        assert_eq!(s.after_failure(120, 3570 * S), Next::RetryIn(30 * S));
        assert_eq!(s.after_failure(121, 3580 * S), Next::Park);
    }
}
