//! Fixtures for the integration tests: the real broker, real HTTP receivers, the bridge.

pub mod broker;
pub mod browser;
pub mod cleanup;
pub mod node;
pub mod preflight;
pub mod process;
pub mod raw_amqp;
pub mod receiver;

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use notify_bridge::settings::Settings;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The broker the tests use; override with NOTIFY_BRIDGE_TEST_AMQP.
pub fn amqp_url() -> String {
    std::env::var("NOTIFY_BRIDGE_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// A queue name no other test (or earlier run) uses; what is named after it is deleted when
/// it drops.
pub fn unique_queue(test: &str) -> cleanup::TestQueue {
    cleanup::TestQueue::new(test)
}

/// Polls `check` until it holds, failing the test after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Settings from TOML text, with `{queue}` and `{amqp}` filled in.
pub fn settings(toml: &str, queue: &str) -> Settings {
    let text = toml
        .replace("{queue}", queue)
        .replace("{amqp}", &amqp_url());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, text).unwrap();
    let mut settings = Settings::load(&path, &HashMap::new()).unwrap();
    isolate(&mut settings);
    settings
}

/// Tests run bridges in parallel: each gets its own admin port and its own journal file
/// (unless the test chose a journal itself).
pub fn isolate(settings: &mut Settings) {
    settings.admin.listen = "127.0.0.1:0".parse().unwrap();
    if format!("{:?}", settings.journal.url).contains("notify-bridge.db") {
        let dir = tempfile::tempdir().unwrap().keep();
        let url = format!("sqlite://{}", dir.join("journal.db").display());
        settings.journal.url = notify_bridge::journal::JournalUrl::parse(&url).unwrap();
    }
}

/// A bridge running in this process against the real broker.
pub struct Bridge {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), notify_bridge::app::RunError>>,
}

impl Bridge {
    pub fn start(settings: Settings) -> Self {
        init_logs();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(notify_bridge::app::run(settings, async {
            let _ = stopped.await;
        }));
        Self {
            stop: Some(stop),
            task,
        }
    }

    /// Whether the bridge is still running: it never ends on its own, whatever it is fed.
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// Signals shutdown and waits for a clean exit.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let result = tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("bridge stops within its grace period")
            .expect("bridge task did not panic");
        result.expect("bridge exits cleanly");
    }
}

/// Bridge logs go to the test's captured output (shown when a test fails).
fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,lapin=warn")
            .with_test_writer()
            .try_init();
    });
}

/// One scrape of a bridge's `/metrics` (admin listening on `port`, no token).
pub struct Scrape(String);

impl Scrape {
    pub async fn of(port: u16) -> Self {
        let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        Self(text)
    }

    /// The first sample whose line starts with `name`; -1 when there is none.
    pub fn value(&self, name: &str) -> f64 {
        self.0
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1.0)
    }
}
