//! Test queues that clean up after themselves: every queue and exchange whose name starts
//! with the test's unique name is deleted when the guard drops, on failure too.

use std::fmt;
use std::ops::Deref;
use std::process::Command;

use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};

/// A queue name no other test (or earlier run) uses; dropping it deletes the main queue,
/// its parking lot, its retry and defer queues and any exchange named after it.
#[derive(Debug)]
pub struct TestQueue(String);

impl TestQueue {
    pub fn new(test: &str) -> Self {
        Self(format!("it.{test}.{:08x}", rand::random::<u32>()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for TestQueue {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TestQueue {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TestQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Drop for TestQueue {
    fn drop(&mut self) {
        // Drop may run inside a test's runtime, while it unwinds: do the async work on a
        // thread of its own and never panic here (a panic while unwinding aborts).
        let prefix = self.0.clone();
        let worker = std::thread::spawn(move || delete_by_prefix(&prefix));
        if let Ok(Err(e)) = worker.join() {
            eprintln!("cleanup of {} incomplete: {e}", self.0);
        }
    }
}

/// Names that start with `prefix` from `rabbitmqctl list_<what> name`.
fn broker_names(what: &str, prefix: &str) -> Result<Vec<String>, String> {
    let out = Command::new("rabbitmqctl")
        .args(["-q", "--no-table-headers", &format!("list_{what}"), "name"])
        .output()
        .map_err(|e| format!("rabbitmqctl: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|name| *name == prefix || name.starts_with(&format!("{prefix}.")))
        .map(str::to_owned)
        .collect())
}

fn delete_by_prefix(prefix: &str) -> Result<(), String> {
    let queues = broker_names("queues", prefix)?;
    let exchanges = broker_names("exchanges", prefix)?;
    if queues.is_empty() && exchanges.is_empty() {
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let connection = Connection::connect(&super::amqp_url(), ConnectionProperties::default())
            .await
            .map_err(|e| e.to_string())?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| e.to_string())?;
        for queue in &queues {
            channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await
                .map_err(|e| format!("{queue}: {e}"))?;
        }
        for exchange in &exchanges {
            channel
                .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                .await
                .map_err(|e| format!("{exchange}: {e}"))?;
        }
        let _ = connection.close(200, "cleaned up".into()).await;
        Ok(())
    })
}
