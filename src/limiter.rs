//! Per-channel concurrency: at most `max_in_flight` requests, and a line behind them that
//! is bounded only while the channel is stalled.
//!
//! A brand that hangs or keeps failing would otherwise collect every prefetched delivery in
//! its line while healthy brands starve. When a channel has had no success for [`STALL`]
//! while busy, messages past its line are deferred back to the broker instead (see
//! `Verdict::Defer`), so it holds at most `max_in_flight + max_waiting` of the prefetch
//! window. A channel that is succeeding, however busy, keeps its whole line: deferring its
//! surplus would only delay it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// How long a busy channel may go without a success before its line is bounded.
pub const STALL: Duration = Duration::from_secs(1);

/// One channel's limiter.
#[derive(Debug)]
pub struct Limiter {
    permits: Semaphore,
    max_in_flight: usize,
    waiting: AtomicUsize,
    max_waiting: usize,
    started: Instant,
    /// Milliseconds after `started` of the last success, or of the start of a busy spell.
    progress_ms: AtomicU64,
}

impl Limiter {
    pub fn new(max_in_flight: usize, max_waiting: usize) -> Self {
        Self {
            permits: Semaphore::new(max_in_flight),
            max_in_flight,
            waiting: AtomicUsize::new(0),
            max_waiting,
            started: Instant::now(),
            progress_ms: AtomicU64::new(0),
        }
    }

    /// A slot to send in, waiting in line if needed; `None` when the channel is stalled and
    /// its line is full.
    pub async fn acquire(&self) -> Option<SemaphorePermit<'_>> {
        if let Ok(permit) = self.permits.try_acquire() {
            if self.permits.available_permits() + 1 == self.max_in_flight {
                // The first request of a busy spell: the stall clock starts now, not at the
                // last success of an earlier spell.
                self.progressed();
            }
            return Some(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting && self.stalled() {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let permit = self.permits.acquire().await.ok();
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        permit
    }

    /// Records a delivered request: the channel is making progress.
    pub fn progressed(&self) {
        self.progress_ms.store(self.now_ms(), Ordering::Release);
    }

    fn stalled(&self) -> bool {
        let since = self
            .now_ms()
            .saturating_sub(self.progress_ms.load(Ordering::Acquire));
        since > STALL.as_millis() as u64
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Requests being sent now.
    pub fn in_flight(&self) -> usize {
        self.max_in_flight
            .saturating_sub(self.permits.available_permits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    async fn with_one_waiting(limiter: &Arc<Limiter>) -> tokio::task::JoinHandle<bool> {
        let waiter = {
            let limiter = Arc::clone(limiter);
            tokio::spawn(async move { limiter.acquire().await.is_some() })
        };
        while limiter.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        waiter
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_channel_bounds_its_line() {
        let limiter = Arc::new(Limiter::new(1, 1));
        let first = limiter.acquire().await.expect("a free slot");
        assert_eq!(limiter.in_flight(), 1);
        let waiter = with_one_waiting(&limiter).await;
        // Paused time: the clock jumps, no test waits a second.
        tokio::time::advance(STALL * 2).await;
        assert!(
            limiter.acquire().await.is_none(),
            "stalled and the line is full: defer"
        );
        drop(first);
        assert!(waiter.await.unwrap(), "the one in line gets the slot");
    }

    #[tokio::test]
    async fn a_succeeding_channel_keeps_its_whole_line() {
        let limiter = Arc::new(Limiter::new(1, 1));
        let first = limiter.acquire().await.expect("a free slot");
        let waiter = with_one_waiting(&limiter).await;
        limiter.progressed();
        let third = {
            let limiter = Arc::clone(&limiter);
            tokio::spawn(async move { limiter.acquire().await.is_some() })
        };
        drop(first);
        assert!(waiter.await.unwrap());
        assert!(
            third.await.unwrap(),
            "not deferred: the channel is making progress"
        );
    }
}
