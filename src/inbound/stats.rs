//! Per-receiver counters of what happened to callbacks (the metrics endpoint will read them).

use std::sync::atomic::{AtomicU64, Ordering};

use super::error::Kind;

/// Live counters; cheap to bump from any request.
#[derive(Debug, Default)]
pub struct Stats {
    received: AtomicU64,
    published: AtomicU64,
    duplicates: AtomicU64,
    malformed: AtomicU64,
    bad_signature: AtomicU64,
    replayed: AtomicU64,
    too_large: AtomicU64,
    unavailable: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Every request that reached the receiver's path.
    pub received: u64,
    /// Verified and confirmed by the broker.
    pub published: u64,
    /// Verified, already published within the window: answered success, not published.
    pub duplicates: u64,
    /// Unreadable or incomplete (400).
    pub malformed: u64,
    /// Missing or wrong signature (401).
    pub bad_signature: u64,
    /// Stale timestamp or reused nonce (401).
    pub replayed: u64,
    /// Over the body limit (413).
    pub too_large: u64,
    /// Our failures, answered 5xx so the provider retries.
    pub unavailable: u64,
}

impl Stats {
    pub fn received(&self) {
        bump(&self.received);
    }

    pub fn published(&self) {
        bump(&self.published);
    }

    pub fn duplicate(&self) {
        bump(&self.duplicates);
    }

    pub fn too_large(&self) {
        bump(&self.too_large);
    }

    pub fn failed(&self, kind: Kind) {
        bump(match kind {
            Kind::Malformed => &self.malformed,
            Kind::Signature => &self.bad_signature,
            Kind::Replay => &self.replayed,
            Kind::Unavailable => &self.unavailable,
        });
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            received: get(&self.received),
            published: get(&self.published),
            duplicates: get(&self.duplicates),
            malformed: get(&self.malformed),
            bad_signature: get(&self.bad_signature),
            replayed: get(&self.replayed),
            too_large: get(&self.too_large),
            unavailable: get(&self.unavailable),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
