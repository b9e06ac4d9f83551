//! Per-channel concurrency: at most `max_in_flight` requests, and a bounded line behind them.
//!
//! A brand that hangs would otherwise collect every prefetched delivery in its line while
//! healthy brands starve. Past the line, messages are deferred back to the broker instead
//! (see `Verdict::Defer`), so one channel can hold at most `max_in_flight + max_waiting`
//! of the consumer's prefetch window.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Semaphore, SemaphorePermit};

/// One channel's limiter.
#[derive(Debug)]
pub struct Limiter {
    permits: Semaphore,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl Limiter {
    pub fn new(max_in_flight: usize, max_waiting: usize) -> Self {
        Self {
            permits: Semaphore::new(max_in_flight),
            waiting: AtomicUsize::new(0),
            max_waiting,
        }
    }

    /// A slot to send in, waiting in line if needed; `None` when the line is full.
    pub async fn acquire(&self) -> Option<SemaphorePermit<'_>> {
        if let Ok(permit) = self.permits.try_acquire() {
            return Some(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let permit = self.permits.acquire().await.ok();
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        permit
    }

    /// Requests being sent now.
    pub fn in_flight(&self, max_in_flight: usize) -> usize {
        max_in_flight.saturating_sub(self.permits.available_permits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_line_behind_the_limit_is_bounded() {
        let limiter = std::sync::Arc::new(Limiter::new(1, 1));
        let first = limiter.acquire().await.expect("a free slot");
        assert_eq!(limiter.in_flight(1), 1);
        let waiter = {
            let limiter = std::sync::Arc::clone(&limiter);
            tokio::spawn(async move { limiter.acquire().await.is_some() })
        };
        // Let the waiter take its place in line.
        while limiter.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(limiter.acquire().await.is_none(), "the line is full: defer");
        drop(first);
        assert!(waiter.await.unwrap(), "the one in line gets the slot");
    }
}
