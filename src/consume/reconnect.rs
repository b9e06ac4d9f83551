//! Keeping a consumer connected: reconnect at once after a loss, then back off, capped.
//!
//! A lost connection is retried at once: its unacked deliveries are already returning to
//! the queue, and a broker that stayed up (a closed connection, a failover) takes the new
//! one straight away. Failed attempts then back off from [`FIRST`] to [`MAX`], jittered so
//! a fleet of bridges does not reconnect in step; a successful connect starts the
//! sequence afresh, so each outage begins with short waits. The cap is low on purpose: a
//! bridge must not sleep long after the broker is back.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::Consumer;

/// The first wait after a failed connection attempt.
pub const FIRST: Duration = Duration::from_millis(200);
/// The longest wait between connection attempts.
pub const MAX: Duration = Duration::from_secs(5);
/// A connection that ended sooner than this counts as a failed attempt, so one that
/// fails right after connecting (a consumer refused, a broker closing every connection)
/// is retried with backoff, not in a hot loop.
const STABLE: Duration = Duration::from_secs(1);

/// Waits between connection attempts: doubling from [`FIRST`] up to [`MAX`].
#[derive(Debug)]
pub struct Backoff {
    ceiling: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { ceiling: FIRST }
    }
}

impl Backoff {
    /// The wait before the next attempt, `jitter` in `[0, 1)` choosing where between half
    /// the current ceiling and the ceiling; the ceiling then doubles, up to [`MAX`].
    pub fn next_wait(&mut self, jitter: f64) -> Duration {
        let ceiling = self.ceiling;
        self.ceiling = (ceiling * 2).min(MAX);
        ceiling.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }

    /// The wait after a connection that lasted `lived` was lost: none after a stable one
    /// (and the sequence starts afresh), a backoff step after one that failed at once.
    pub fn after_loss(&mut self, lived: Duration, jitter: f64) -> Duration {
        if lived >= STABLE {
            *self = Self::default();
            return Duration::ZERO;
        }
        self.next_wait(jitter)
    }
}

/// Runs `consumer`, reconnecting after broker failures, until `stop`.
pub async fn supervise(consumer: &Consumer, stop: &CancellationToken) {
    let mut backoff = Backoff::default();
    let mut connected_before = false;
    loop {
        let attempt = tokio::select! {
            _ = stop.cancelled() => return,
            attempt = consumer.connect() => attempt,
        };
        let wait = match attempt {
            Ok(session) => {
                let since = Instant::now();
                connected_before = true;
                let Err(e) = session.run(stop).await else {
                    return;
                };
                if stop.is_cancelled() {
                    // Shutting down anyway: whatever was unacked returns to the queue.
                    warn!(error = %e, "broker connection lost while shutting down");
                    return;
                }
                let wait = backoff.after_loss(since.elapsed(), rand::random());
                warn!(error = %e, retry_in = ?wait, "broker connection lost; reconnecting");
                wait
            }
            Err(e) => {
                let wait = backoff.next_wait(rand::random());
                // Before the first connection the bridge is starting, not recovering.
                match connected_before {
                    true => {
                        warn!(error = %e, retry_in = ?wait, "cannot reconnect to the broker; retrying")
                    }
                    false => {
                        warn!(error = %e, retry_in = ?wait, "cannot connect to the broker; retrying")
                    }
                }
                wait
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_within_their_jitter() {
        let mut backoff = Backoff::default();
        let ceilings: Vec<Duration> = (0..8).map(|_| backoff.next_wait(0.999_999)).collect();
        let ms: Vec<u128> = ceilings.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, [199, 399, 799, 1599, 3199, 4999, 4999, 4999]);
        let mut backoff = Backoff::default();
        for _ in 0..8 {
            backoff.next_wait(0.0);
        }
        assert_eq!(backoff.next_wait(0.0), MAX / 2, "jitter takes at most half");
    }

    #[test]
    fn a_stable_connection_lost_reconnects_at_once_and_starts_afresh() {
        let mut backoff = Backoff::default();
        for _ in 0..6 {
            backoff.next_wait(0.5);
        }
        assert_eq!(backoff.after_loss(STABLE, 0.5), Duration::ZERO);
        assert_eq!(
            backoff.next_wait(0.0),
            FIRST / 2,
            "the next outage starts short"
        );
    }

    #[test]
    fn a_connection_lost_at_once_backs_off_like_a_failed_attempt() {
        let mut backoff = Backoff::default();
        let waits: Vec<Duration> = (0..3)
            .map(|_| backoff.after_loss(Duration::from_millis(10), 0.0))
            .collect();
        assert_eq!(waits, [FIRST / 2, FIRST, FIRST * 2]);
    }
}
