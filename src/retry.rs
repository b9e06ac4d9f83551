//! Retry policy (SPEC §5): the schedule, and the pure decision after a failed attempt.

use std::time::Duration;

/// When the attempts after the first happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetrySchedule {
    /// `steps[i]` is the delay before attempt `i + 1`; `steps[0]` (before the first) is ignored.
    Steps(Vec<Duration>),
    /// An attempt every `interval` until `window` has passed since the first attempt.
    Every {
        interval: Duration,
        window: Duration,
    },
}

/// A channel's retry policy: its schedule, and statuses that park at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    pub schedule: RetrySchedule,
    /// HTTP statuses that mean "never going to work" for this brand (e.g. 400, 401).
    pub park_on: Vec<u16>,
}

/// What the failed attempt looked like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// The brand's status when it answered at all.
    pub status: Option<u16>,
    /// Its `Retry-After`, when it sent one with a 429 or 503.
    pub retry_after: Option<Duration>,
}

/// What to do after an attempt that did not land.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Wait `wait` in the retry queue of schedule step `step`, then try again.
    RetryIn { step: Duration, wait: Duration },
    /// No attempts left, or a status that never succeeds: park it.
    Park,
}

/// The most jitter added to a wait, as a fraction of the step.
const JITTER: f64 = 0.1;

/// `step` plus up to [`JITTER`] of it, `jitter` in `[0, 1)` choosing how much: spreads
/// retries and deferrals so a recovering brand is not hit by a wave.
pub fn jittered(step: Duration, jitter: f64) -> Duration {
    step + step.mul_f64(JITTER * jitter.clamp(0.0, 1.0))
}

impl RetryPolicy {
    /// Decides after failed attempt `attempt` (1-based), `since_first` after the first attempt.
    ///
    /// `jitter` in `[0, 1)` spreads retries so a recovering brand is not hit by a wave. The
    /// wait never drops below the schedule step, and never exceeds twice it even when the
    /// brand's `Retry-After` asks for more: retry queues are sized for that bound.
    pub fn after_failure(
        &self,
        attempt: u32,
        since_first: Duration,
        failure: Failure,
        jitter: f64,
    ) -> Next {
        if failure.status.is_some_and(|s| self.park_on.contains(&s)) {
            return Next::Park;
        }
        let Some(step) = self.schedule.step_after(attempt, since_first) else {
            return Next::Park;
        };
        let honoured = match (failure.status, failure.retry_after) {
            (Some(429 | 503), Some(asked)) => asked.clamp(step, step * 2),
            _ => step,
        };
        // Retry-After lengthens the wait; the jitter stays a share of the step.
        let wait = jittered(step, jitter) + (honoured - step);
        Next::RetryIn {
            step,
            wait: wait.min(step * 2),
        }
    }
}

impl RetrySchedule {
    /// The delay before attempt `attempt + 1`, or `None` when the schedule is exhausted.
    fn step_after(&self, attempt: u32, since_first: Duration) -> Option<Duration> {
        match self {
            RetrySchedule::Steps(steps) => steps.get(attempt as usize).copied(),
            RetrySchedule::Every { interval, window } => {
                (since_first + *interval <= *window).then_some(*interval)
            }
        }
    }

    /// Every distinct step this schedule can wait for: one retry queue each.
    pub fn steps(&self) -> Vec<Duration> {
        let mut delays = match self {
            RetrySchedule::Steps(steps) => steps.iter().skip(1).copied().collect(),
            RetrySchedule::Every { interval, .. } => vec![*interval],
        };
        delays.sort();
        delays.dedup();
        delays
    }
}

/// Every step any of `policies` can wait for, sorted: one retry queue each.
pub fn queue_steps<'a>(policies: impl IntoIterator<Item = &'a RetryPolicy>) -> Vec<Duration> {
    let mut steps: Vec<Duration> = policies
        .into_iter()
        .flat_map(|p| p.schedule.steps())
        .filter(|s| !s.is_zero())
        .collect();
    steps.sort();
    steps.dedup();
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn steps(delays: &[u64], park_on: &[u16]) -> RetryPolicy {
        RetryPolicy {
            schedule: RetrySchedule::Steps(delays.iter().map(|d| S * *d as u32).collect()),
            park_on: park_on.to_vec(),
        }
    }

    fn failed(status: Option<u16>) -> Failure {
        Failure {
            status,
            retry_after: None,
        }
    }

    #[test]
    fn steps_run_out_into_the_parking_lot() {
        let p = steps(&[0, 3, 5], &[]);
        let z = Duration::ZERO;
        assert_eq!(
            p.after_failure(1, z, failed(Some(500)), 0.0),
            Next::RetryIn {
                step: 3 * S,
                wait: 3 * S
            }
        );
        assert_eq!(
            p.after_failure(2, 3 * S, failed(None), 0.0),
            Next::RetryIn {
                step: 5 * S,
                wait: 5 * S
            }
        );
        assert_eq!(p.after_failure(3, 8 * S, failed(None), 0.0), Next::Park);
        assert_eq!(p.schedule.steps(), vec![3 * S, 5 * S]);
    }

    #[test]
    fn every_stops_at_the_window() {
        let p = RetryPolicy {
            schedule: RetrySchedule::Every {
                interval: 30 * S,
                window: 3600 * S,
            },
            park_on: vec![],
        };
        assert!(matches!(
            p.after_failure(1, Duration::ZERO, failed(None), 0.0),
            Next::RetryIn { .. }
        ));
        assert!(matches!(
            p.after_failure(120, 3570 * S, failed(None), 0.0),
            Next::RetryIn { .. }
        ));
        assert_eq!(
            p.after_failure(121, 3580 * S, failed(None), 0.0),
            Next::Park
        );
    }

    #[test]
    fn park_on_statuses_skip_the_schedule() {
        let p = steps(&[0, 3], &[400, 401]);
        assert_eq!(
            p.after_failure(1, Duration::ZERO, failed(Some(401)), 0.0),
            Next::Park
        );
        assert!(matches!(
            p.after_failure(1, Duration::ZERO, failed(Some(404)), 0.0),
            Next::RetryIn { .. }
        ));
    }

    #[test]
    fn retry_after_is_honoured_within_bounds_and_jitter_is_small() {
        let p = steps(&[0, 10], &[]);
        let asked = |status, secs| Failure {
            status: Some(status),
            retry_after: Some(Duration::from_secs(secs)),
        };
        let z = Duration::ZERO;
        assert_eq!(
            p.after_failure(1, z, asked(429, 15), 0.0),
            Next::RetryIn {
                step: 10 * S,
                wait: 15 * S
            }
        );
        assert_eq!(
            p.after_failure(1, z, asked(503, 600), 0.0),
            Next::RetryIn {
                step: 10 * S,
                wait: 20 * S
            }
        );
        assert_eq!(
            p.after_failure(1, z, asked(429, 1), 0.0),
            Next::RetryIn {
                step: 10 * S,
                wait: 10 * S
            }
        );
        // Retry-After only means something on 429 and 503.
        assert_eq!(
            p.after_failure(1, z, asked(500, 15), 0.0),
            Next::RetryIn {
                step: 10 * S,
                wait: 10 * S
            }
        );
        let Next::RetryIn { wait, .. } = p.after_failure(1, z, failed(None), 0.99) else {
            panic!("expected a retry")
        };
        assert!(wait > 10 * S && wait < 11 * S, "{wait:?}");
    }
}
