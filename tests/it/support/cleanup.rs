//! Deletes a test's queues when it ends, failing or not, so the shared broker keeps none.

use super::broker::TestBroker;

/// Deletes `<queue>`, its parking lot and its retry and defer queues when dropped.
pub struct QueueGuard(String);

impl QueueGuard {
    pub fn new(queue: &str) -> Self {
        Self(queue.to_owned())
    }
}

impl Drop for QueueGuard {
    fn drop(&mut self) {
        let queue = std::mem::take(&mut self.0);
        // Drop cannot await and may run on the test's own runtime: a thread with its own.
        let cleaner = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for cleaning up");
            runtime.block_on(async { TestBroker::connect().await.cleanup(&queue).await });
        });
        let _ = cleaner.join();
    }
}
