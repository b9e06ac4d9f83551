//! Queues deleted when the test ends, however it ends.

use super::broker::TestBroker;

/// Deletes `queue` and the queues derived from it (retry, defer, parking lot) on drop,
/// so a failing test leaves nothing behind on the shared broker either.
pub struct QueueGuard {
    pub queue: String,
}

impl Drop for QueueGuard {
    fn drop(&mut self) {
        let queue = self.queue.clone();
        // Drop cannot await, and may run inside a runtime: clean up from a thread of its own.
        let cleaning = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async { TestBroker::connect().await.cleanup(&queue).await });
        });
        let _ = cleaning.join();
    }
}
