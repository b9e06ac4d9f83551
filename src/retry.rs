//! A message's fate after an attempt: the retry policy (SPEC §5), and the one pure
//! decision, [`decide`], from what the attempt came to ([`Outcome`]) to what happens to
//! the message now ([`Verdict`]). No clock and no randomness inside: both come in.

use std::time::Duration;

use crate::broker::topology::DEFER_STEPS;
use crate::message::Attempt;
use crate::parse::BadInput;

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

/// What became of one delivery attempt.
#[derive(Debug)]
pub enum Outcome {
    /// The brand's answer met the channel's success rule.
    Delivered { status: u16 },
    /// The attempt did not land; `status` is the brand's HTTP status when it answered.
    Failed {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
    /// The message can never be delivered as it stands.
    Bad(BadInput),
    /// Not attempted: its channel is stalled, or paused by an operator.
    Deferred(Deferral),
}

/// Why a message was put back unattempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deferral {
    /// Every slot of its channel is taken and none has succeeded for a while.
    Stalled,
    /// An operator paused its channel.
    Paused,
}

/// A message's fate after one attempt: what the consumer does with it now. The one
/// name for it, from the decision to the settling, the metrics and the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Delivered: ack it.
    Ack,
    /// Re-publish to the retry queue of `step`, to come back after `wait`.
    RetryIn { step: Duration, wait: Duration },
    /// Not attempted (its channel is stalled): to the defer queue of `step` (one of
    /// [`DEFER_STEPS`]), back after `wait`, same attempt.
    Defer { step: Duration, wait: Duration },
    /// No attempts left, a status that never succeeds, or bad input: to the parking lot.
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
    ) -> Verdict {
        if failure.status.is_some_and(|s| self.park_on.contains(&s)) {
            return Verdict::Park;
        }
        let Some(step) = self.schedule.step_after(attempt, since_first) else {
            return Verdict::Park;
        };
        let honoured = match (failure.status, failure.retry_after) {
            (Some(429 | 503), Some(asked)) => asked.clamp(step, step * 2),
            _ => step,
        };
        // Retry-After lengthens the wait; the jitter stays a share of the step.
        let wait = jittered(step, jitter) + (honoured - step);
        Verdict::RetryIn {
            step,
            wait: wait.min(step * 2),
        }
    }
}

/// Ack what landed, park what never will, and let the policy time the rest: a failed
/// attempt by the schedule (`now_ms` measures the retry window from the first attempt), a
/// deferred one by the channel's `timeout` (see `defer_step`). `jitter` in `[0, 1)`
/// spreads the waits.
pub fn decide(
    policy: &RetryPolicy,
    timeout: Duration,
    attempt: Attempt,
    outcome: &Outcome,
    now_ms: u64,
    jitter: f64,
) -> Verdict {
    let (status, retry_after) = match outcome {
        Outcome::Delivered { .. } => return Verdict::Ack,
        Outcome::Bad(_) => return Verdict::Park,
        Outcome::Deferred(_) => {
            let step = defer_step(attempt.deferrals, timeout);
            return Verdict::Defer {
                step,
                wait: jittered(step, jitter),
            };
        }
        Outcome::Failed {
            status,
            retry_after,
            ..
        } => (*status, *retry_after),
    };
    let first = attempt.first_at_ms.unwrap_or(now_ms);
    let since_first = Duration::from_millis(now_ms.saturating_sub(first));
    let failure = Failure {
        status,
        retry_after,
    };
    policy.after_failure(attempt.number, since_first, failure, jitter)
}

/// What a deferral for a stall comes to: a deferral while the message has waited for
/// a stalled channel less than the channel's whole retry schedule; after that, a failed
/// attempt, so that a brand gone for good still uses up the schedule and parks instead
/// of keeping its messages circling the defer queues.
pub fn stalled(policy: &RetryPolicy, attempt: Attempt, now_ms: u64) -> Outcome {
    let span = policy.schedule.span();
    let waited = attempt.first_stalled_at_ms.map_or(Duration::ZERO, |first| {
        Duration::from_millis(now_ms.saturating_sub(first))
    });
    if waited <= span {
        return Outcome::Deferred(Deferral::Stalled);
    }
    Outcome::Failed {
        status: None,
        error: format!(
            "channel stalled: deferred unattempted for {}, longer than its whole retry \
             schedule ({}); counted as a failed attempt",
            humantime::format_duration(Duration::from_secs(waited.as_secs())),
            humantime::format_duration(span),
        ),
        retry_after: None,
    }
}

/// A stalled channel frees a slot within about one timeout: the first deferral waits
/// that long, rounded up to a step, and each further one twice as long, to 8 timeouts
/// (rounded up; at most the last step, 4 min 16 s). Longer would save trips through the
/// broker during a long outage but leave a hanging brand's messages waiting far past
/// their retry schedule; with the default 10 s timeout an hour's outage costs each
/// message about 30 trips. Up to 10% jitter is added on top.
fn defer_step(deferrals: u32, timeout: Duration) -> Duration {
    let wanted = timeout.saturating_mul(1u32 << deferrals.min(3));
    let last = DEFER_STEPS[DEFER_STEPS.len() - 1];
    DEFER_STEPS
        .into_iter()
        .find(|&step| step >= wanted)
        .unwrap_or(last)
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

    /// How long the whole schedule lasts from the first attempt to the last.
    pub fn span(&self) -> Duration {
        match self {
            RetrySchedule::Steps(steps) => steps.iter().skip(1).sum(),
            RetrySchedule::Every { window, .. } => *window,
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
            Verdict::RetryIn {
                step: 3 * S,
                wait: 3 * S
            }
        );
        assert_eq!(
            p.after_failure(2, 3 * S, failed(None), 0.0),
            Verdict::RetryIn {
                step: 5 * S,
                wait: 5 * S
            }
        );
        assert_eq!(p.after_failure(3, 8 * S, failed(None), 0.0), Verdict::Park);
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
            Verdict::RetryIn { .. }
        ));
        assert!(matches!(
            p.after_failure(120, 3570 * S, failed(None), 0.0),
            Verdict::RetryIn { .. }
        ));
        assert_eq!(
            p.after_failure(121, 3580 * S, failed(None), 0.0),
            Verdict::Park
        );
    }

    #[test]
    fn park_on_statuses_skip_the_schedule() {
        let p = steps(&[0, 3], &[400, 401]);
        assert_eq!(
            p.after_failure(1, Duration::ZERO, failed(Some(401)), 0.0),
            Verdict::Park
        );
        assert!(matches!(
            p.after_failure(1, Duration::ZERO, failed(Some(404)), 0.0),
            Verdict::RetryIn { .. }
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
            Verdict::RetryIn {
                step: 10 * S,
                wait: 15 * S
            }
        );
        assert_eq!(
            p.after_failure(1, z, asked(503, 600), 0.0),
            Verdict::RetryIn {
                step: 10 * S,
                wait: 20 * S
            }
        );
        assert_eq!(
            p.after_failure(1, z, asked(429, 1), 0.0),
            Verdict::RetryIn {
                step: 10 * S,
                wait: 10 * S
            }
        );
        // Retry-After only means something on 429 and 503.
        assert_eq!(
            p.after_failure(1, z, asked(500, 15), 0.0),
            Verdict::RetryIn {
                step: 10 * S,
                wait: 10 * S
            }
        );
        let Verdict::RetryIn { wait, .. } = p.after_failure(1, z, failed(None), 0.99) else {
            panic!("expected a retry")
        };
        assert!(wait > 10 * S && wait < 11 * S, "{wait:?}");
    }

    #[test]
    fn deferrals_start_near_one_timeout_and_double_to_eight_timeouts() {
        let s = Duration::from_secs;
        let steps: Vec<_> = (0..6).map(|d| defer_step(d, s(10))).collect();
        assert_eq!(steps, [16, 32, 64, 128, 128, 128].map(s));
        let short: Vec<_> = (0..5)
            .map(|d| defer_step(d, Duration::from_millis(200)))
            .collect();
        assert_eq!(short, [1, 1, 1, 2, 2].map(s));
        assert_eq!(defer_step(u32::MAX, s(3600)), s(256), "no overflow");
        assert!(steps.iter().all(|step| DEFER_STEPS.contains(step)));
    }

    #[test]
    fn decide_maps_each_outcome_to_one_verdict() {
        let p = steps(&[0, 3], &[401]);
        let timeout = 10 * S;
        let failed = |status: Option<u16>| Outcome::Failed {
            status,
            retry_after: None,
            error: "x".into(),
        };
        let first = Attempt::FIRST;
        let second = Attempt {
            number: 2,
            first_at_ms: Some(1_000),
            ..Attempt::FIRST
        };
        let deferred_twice = Attempt {
            deferrals: 2,
            ..Attempt::FIRST
        };
        let retry_3s = Verdict::RetryIn {
            step: 3 * S,
            wait: 3 * S,
        };
        let bad = Outcome::Bad(BadInput::UnknownChannel("x".into()));
        let cases: [(Attempt, Outcome, Verdict); 7] = [
            (first, Outcome::Delivered { status: 200 }, Verdict::Ack),
            (first, bad, Verdict::Park),
            (first, failed(Some(500)), retry_3s),
            (first, failed(None), retry_3s),
            (first, failed(Some(401)), Verdict::Park),
            (second, failed(Some(500)), Verdict::Park),
            (
                deferred_twice,
                Outcome::Deferred(Deferral::Stalled),
                Verdict::Defer {
                    step: 64 * S,
                    wait: 64 * S,
                },
            ),
        ];
        for (attempt, outcome, expected) in cases {
            let got = decide(&p, timeout, attempt, &outcome, 5_000, 0.0);
            assert_eq!(got, expected, "{outcome:?} on attempt {attempt:?}");
        }
    }

    #[test]
    fn a_stall_longer_than_the_whole_schedule_counts_as_a_failed_attempt() {
        let p = steps(&[0, 1, 2], &[]);
        assert_eq!(p.schedule.span(), 3 * S);
        let every = RetrySchedule::Every {
            interval: S,
            window: 60 * S,
        };
        assert_eq!(every.span(), 60 * S);
        let stalled_at = |ms| Attempt {
            first_stalled_at_ms: ms,
            ..Attempt::FIRST
        };
        let deferred = |o| matches!(o, Outcome::Deferred(Deferral::Stalled));
        assert!(deferred(stalled(&p, stalled_at(None), 10_000)));
        assert!(deferred(stalled(&p, stalled_at(Some(7_000)), 10_000)));
        match stalled(&p, stalled_at(Some(6_000)), 10_000) {
            Outcome::Failed { status, error, .. } => {
                assert_eq!(status, None);
                assert_eq!(
                    error,
                    "channel stalled: deferred unattempted for 4s, longer than its whole \
                     retry schedule (3s); counted as a failed attempt"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
