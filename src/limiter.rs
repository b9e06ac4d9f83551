//! Per-channel concurrency: at most `max_in_flight` requests, and a line behind them that
//! exists only while the channel is making progress.
//!
//! A brand that hangs or keeps failing would otherwise collect every prefetched delivery in
//! its line while healthy brands starve. A channel that has had no success for its stall
//! time while all its slots are taken is *stalled*: it keeps no line at all, and the
//! messages that were waiting leave it, to be deferred back to the broker (see
//! `Verdict::Defer`). A stalled brand holds at most `max_in_flight` of the prefetch window.
//! A channel that is succeeding, however busy, keeps its whole line: deferring its surplus
//! would only delay it.
//!
//! The stall time follows the brand's own pace: four times its typical time to a success,
//! within [`STALL_MIN`, `STALL_MAX`]. A fast brand that stops answering is noticed within
//! a quarter of a second, before its line can fill the window; a brand that is slow every
//! time gets up to a second. The price: a brand that pauses for longer than its stall time
//! has the messages waiting for it deferred, to come back after about one timeout — a
//! delay, never a loss, and no attempt spent.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;
use tracing::{info, warn};

/// The shortest stall time, used too while a brand has not succeeded yet.
pub const STALL_MIN: Duration = Duration::from_millis(250);
/// The longest stall time, however slow the brand usually is.
pub const STALL_MAX: Duration = Duration::from_secs(1);
/// How often a message in line checks whether its channel has stalled.
const RECHECK: Duration = Duration::from_millis(50);

/// One channel's limiter.
#[derive(Debug)]
pub struct Limiter {
    channel: String,
    permits: Semaphore,
    max_in_flight: usize,
    /// Slots taken; counted apart from the semaphore so that exactly one request sees
    /// the start of a busy spell.
    busy: AtomicUsize,
    /// Whether the stall has been logged and not yet the recovery.
    stall_reported: AtomicBool,
    /// Whether a request has failed since the last success.
    failing: AtomicBool,
    started: Instant,
    /// Milliseconds after `started` of the last success, or of the start of a busy spell.
    progress_ms: AtomicU64,
    /// A moving average of the time successful requests took, in microseconds; 0 = none yet.
    typical_us: AtomicU64,
    /// Wall-clock time of the last success in Unix milliseconds; 0 = none since start.
    last_success_unix_ms: AtomicU64,
}

impl Limiter {
    /// The limiter of `channel` (named in its log lines): `max_in_flight` slots.
    pub fn new(channel: &str, max_in_flight: usize) -> Self {
        Self {
            channel: channel.to_owned(),
            permits: Semaphore::new(max_in_flight),
            max_in_flight,
            busy: AtomicUsize::new(0),
            stall_reported: AtomicBool::new(false),
            failing: AtomicBool::new(false),
            started: Instant::now(),
            progress_ms: AtomicU64::new(0),
            typical_us: AtomicU64::new(0),
            last_success_unix_ms: AtomicU64::new(0),
        }
    }

    /// A slot to send in, waiting in line if needed; `None` when the channel is stalled.
    pub async fn acquire(&self) -> Option<Slot<'_>> {
        if let Ok(permit) = self.permits.try_acquire() {
            return Some(self.slot(permit));
        }
        if self.stalled() {
            return None;
        }
        // Pinned once, so a message keeps its place in line across the checks.
        let acquire = self.permits.acquire();
        tokio::pin!(acquire);
        loop {
            tokio::select! {
                permit = &mut acquire => return permit.ok().map(|p| self.slot(p)),
                _ = tokio::time::sleep(RECHECK) => {
                    if self.stalled() {
                        return None;
                    }
                }
            }
        }
    }

    fn slot<'a>(&'a self, permit: SemaphorePermit<'a>) -> Slot<'a> {
        if self.busy.fetch_add(1, Ordering::AcqRel) == 0 && !self.failing.load(Ordering::Acquire) {
            // The first request of a busy spell: the stall clock starts now, not at the
            // last success of an earlier spell. Unless that spell ended in failures: a
            // hanging brand's slots all come free together when its requests time out,
            // and must not earn it a fresh line each time.
            self.mark_progress();
        }
        Slot {
            limiter: self,
            _permit: permit,
        }
    }

    /// Records a request that failed: timed out, could not connect, or was answered with
    /// a failure.
    pub fn failed(&self) {
        self.failing.store(true, Ordering::Release);
    }

    /// Records a delivered request and how long it took: the channel is making progress.
    pub fn succeeded(&self, took: Duration) {
        self.mark_progress();
        self.last_success_unix_ms
            .store(crate::clock::now_ms(), Ordering::Relaxed);
        self.failing.store(false, Ordering::Release);
        if self.stall_reported.load(Ordering::Relaxed)
            && self.stall_reported.swap(false, Ordering::AcqRel)
        {
            info!(channel = %self.channel, "channel recovered: a request succeeded; its line is open again");
        }
        let took_us = took.as_micros().min(u128::from(u64::MAX / 8)) as u64;
        // Racing updates may lose one sample; an average of many does not mind.
        let typical = match self.typical_us.load(Ordering::Relaxed) {
            0 => took_us,
            typical => (typical * 7 + took_us) / 8,
        };
        self.typical_us.store(typical.max(1), Ordering::Relaxed);
    }

    fn mark_progress(&self) {
        self.progress_ms.store(self.now_ms(), Ordering::Release);
    }

    /// No success for the stall time while every slot is taken.
    fn stalled(&self) -> bool {
        if self.permits.available_permits() > 0 {
            return false;
        }
        let since = self
            .now_ms()
            .saturating_sub(self.progress_ms.load(Ordering::Acquire));
        let after = self.stall_after();
        let stalled = since > after.as_millis() as u64;
        if stalled && !self.stall_reported.swap(true, Ordering::AcqRel) {
            // Once per stall: what follows (deferrals) is counted in the metrics.
            warn!(
                channel = %self.channel,
                stall_after = ?after,
                in_flight = self.max_in_flight,
                "channel stalled: no success while every slot is taken; deferring what cannot be sent"
            );
        }
        stalled
    }

    fn stall_after(&self) -> Duration {
        let typical = Duration::from_micros(self.typical_us.load(Ordering::Relaxed));
        (typical * 4).clamp(STALL_MIN, STALL_MAX)
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Requests being sent now.
    pub fn in_flight(&self) -> usize {
        self.busy.load(Ordering::Acquire)
    }

    /// Whether the channel is stalled now (from its first deferral until a success).
    pub fn is_stalled(&self) -> bool {
        self.stall_reported.load(Ordering::Relaxed)
    }

    /// When a request last succeeded, in Unix milliseconds; `None` since the start.
    pub fn last_success_unix_ms(&self) -> Option<u64> {
        Some(self.last_success_unix_ms.load(Ordering::Relaxed)).filter(|ms| *ms > 0)
    }
}

/// A taken slot, given back when dropped.
pub struct Slot<'a> {
    limiter: &'a Limiter,
    _permit: SemaphorePermit<'a>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.limiter.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Waits in line; once sent, holds the slot for `hold` and succeeds.
    fn in_line(limiter: &Arc<Limiter>, hold: Duration) -> tokio::task::JoinHandle<bool> {
        let limiter = Arc::clone(limiter);
        tokio::spawn(async move {
            let Some(_permit) = limiter.acquire().await else {
                return false;
            };
            tokio::time::sleep(hold).await;
            limiter.succeeded(hold);
            true
        })
    }

    // Paused time: the clock jumps, no test waits for a stall.
    #[tokio::test(start_paused = true)]
    async fn a_stalled_channel_sends_its_line_away_and_keeps_none() {
        let limiter = Arc::new(Limiter::new("test", 1));
        let first = limiter.acquire().await.expect("a free slot");
        assert_eq!(limiter.in_flight(), 1);
        let waiter = in_line(&limiter, Duration::ZERO);
        tokio::time::sleep(STALL_MIN / 2).await;
        assert!(!waiter.is_finished(), "not stalled yet: it waits");
        tokio::time::sleep(STALL_MIN).await;
        assert!(!waiter.await.unwrap(), "stalled: the one in line leaves");
        assert!(limiter.acquire().await.is_none(), "and no new one waits");
        drop(first);
        assert!(
            limiter.acquire().await.is_some(),
            "a free slot is taken even so: that is how a stalled brand is probed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn slots_freed_by_failures_do_not_restart_the_stall_clock() {
        let limiter = Arc::new(Limiter::new("test", 1));
        let first = limiter.acquire().await.expect("a free slot");
        tokio::time::sleep(STALL_MIN * 2).await;
        // The hanging request times out: its slot comes free, the next one takes it.
        limiter.failed();
        drop(first);
        let _probe = limiter.acquire().await.expect("a free slot");
        assert!(
            limiter.acquire().await.is_none(),
            "still stalled: no line forms behind the probe"
        );
        limiter.succeeded(Duration::from_millis(10));
        let waiter = in_line(&limiter, Duration::ZERO);
        tokio::time::sleep(STALL_MIN / 2).await;
        assert!(!waiter.is_finished(), "recovered: it waits in line again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_succeeding_channel_keeps_its_whole_line() {
        let limiter = Arc::new(Limiter::new("test", 1));
        let first = limiter.acquire().await.expect("a free slot");
        // Ten in line, each sent in turn and succeeding within the stall time: the last
        // waits longer than any stall time, but the channel never stalls.
        let hold = STALL_MIN / 2;
        let waiters: Vec<_> = (0..10).map(|_| in_line(&limiter, hold)).collect();
        tokio::time::sleep(hold).await;
        limiter.succeeded(hold);
        drop(first);
        for waiter in waiters {
            assert!(
                waiter.await.unwrap(),
                "not deferred: the channel makes progress"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_brand_gets_a_longer_stall_time() {
        let limiter = Limiter::new("test", 1);
        assert_eq!(limiter.stall_after(), STALL_MIN, "no success yet");
        limiter.succeeded(Duration::from_millis(200));
        assert_eq!(limiter.stall_after(), Duration::from_millis(800));
        for _ in 0..50 {
            limiter.succeeded(Duration::from_secs(5));
        }
        assert_eq!(limiter.stall_after(), STALL_MAX);
        for _ in 0..50 {
            limiter.succeeded(Duration::from_millis(1));
        }
        assert_eq!(limiter.stall_after(), STALL_MIN);
    }
}
