//! Deletes a test's queues when the test ends, whether it passed or panicked.

use lapin::options::QueueDeleteOptions;
use lapin::{Connection, ConnectionProperties};
use notify_bridge::consume::settle::defer_queue;
use notify_bridge::pipeline::DEFER_STEPS;

/// Holds the names of a bridge's queues (main, parking lot, retry and defer) and deletes
/// them on drop.
pub struct Queues(Vec<String>);

impl Queues {
    /// `queue` and every queue the bridge derives from it for the retry steps `steps`
    /// (as written in the config, e.g. `"200ms"`).
    pub fn of_bridge(queue: &str, steps: &[&str]) -> Self {
        let mut names = vec![queue.to_owned(), format!("{queue}.dead")];
        names.extend(steps.iter().map(|s| format!("{queue}.retry.{s}")));
        names.extend(DEFER_STEPS.map(|step| defer_queue(queue, step)));
        Self(names)
    }
}

impl Drop for Queues {
    fn drop(&mut self) {
        let names = std::mem::take(&mut self.0);
        // Drop may run on the test's runtime, which cannot block on its own futures: the
        // deletes run on a thread and runtime of their own.
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let props = ConnectionProperties::default();
                let Ok(connection) = Connection::connect(&super::amqp_url(), props).await else {
                    return;
                };
                if let Ok(channel) = connection.create_channel().await {
                    for name in names {
                        let options = QueueDeleteOptions::default();
                        let _ = channel.queue_delete(name.as_str().into(), options).await;
                    }
                }
                let _ = connection.close(200, "cleanup".into()).await;
            });
        });
        let _ = deleted.join();
    }
}
