//! Per-receiver counters of what happened to callbacks; the metrics endpoint reads them
//! as [`CallbackCounts`].

use std::sync::atomic::{AtomicU64, Ordering};

use super::error::Kind;
use crate::metrics::CallbackCounts;

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

    pub fn snapshot(&self) -> CallbackCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CallbackCounts {
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
