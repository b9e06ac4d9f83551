//! The pipeline in use, swapped whole on reload: a message keeps the pipeline it started
//! with, and the next message sees the new channels, secrets and schedules.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::Pipeline;

/// The pipeline in use now.
pub struct Running(ArcSwap<Pipeline>);

impl Running {
    pub fn new(pipeline: Pipeline) -> Self {
        Self(ArcSwap::from_pointee(pipeline))
    }

    /// The pipeline now; hold the `Arc` for as long as one message is being handled.
    pub fn current(&self) -> Arc<Pipeline> {
        self.0.load_full()
    }

    /// Puts `pipeline` in use for every message that starts from now on.
    pub fn replace(&self, pipeline: Pipeline) {
        self.0.store(Arc::new(pipeline));
    }
}
