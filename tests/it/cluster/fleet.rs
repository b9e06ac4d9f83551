//! Bridge replicas as separate processes of the built binary, so `kill -9` is real; each
//! starts on its own node of the cluster and moves on along its list when that node fails.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::node_url;
use crate::support::process::Reaped;

/// Four channels, so deliveries spread over several limiters, as in production.
pub const CHANNELS: [&str; 4] = ["shop0", "shop1", "shop2", "shop3"];
/// Attempts at 0 s, +1 s, +1 s; then the parking lot.
pub const RETRY_STEP: Duration = Duration::from_secs(1);
pub const PREFETCH: usize = 32;

pub struct Replica {
    pub n: usize,
    config: PathBuf,
    pub admin: SocketAddr,
    process: Option<Reaped>,
}

impl Replica {
    /// Writes replica `n`'s config (its own node first) in `dir`; does not start it.
    pub fn new(n: usize, dir: &Path, queue: &str, journal_url: &str) -> Self {
        let urls: Vec<String> = (0..3).map(|i| node_url((n - 1 + i) % 3 + 1)).collect();
        let mut toml = format!(
            r#"[broker]
urls = {urls:?}
queue = "{queue}"
prefetch = {PREFETCH}
shutdown_grace = "5s"
queue_arguments = {{ "x-queue-type" = "quorum" }}

[journal]
url = "{journal_url}"
"#
        );
        for channel in CHANNELS {
            toml.push_str(&format!(
                r#"
[channels.{channel}]
app_id = "APP"
url_policy = {{ schemes = ["http"], hosts = ["127.0.0.1"], allow_private = true }}
signer = {{ secret = "cluster-secret" }}
retry = {{ schedule = ["0s", "1s", "1s"] }}
"#
            ));
        }
        let config = dir.join(format!("replica{n}.toml"));
        std::fs::write(&config, toml).unwrap();
        let admin = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap();
        Self {
            n,
            config,
            admin,
            process: None,
        }
    }

    pub fn config(&self) -> &Path {
        &self.config
    }

    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.config.with_extension("log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_notify-bridge"))
            .args(["run", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "warn,notify_bridge::broker::endpoints=info")
            .env("NOTIFY_BRIDGE__ADMIN__LISTEN", self.admin.to_string())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the bridge binary starts");
        self.process = Some(Reaped(child));
    }

    /// SIGKILL: nothing is drained, nothing acked, the journal's buffer is lost.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill().unwrap();
            process.wait().unwrap();
        }
    }

    /// The `/readyz` answer: the node consumed from while consuming.
    pub async fn consuming_from(&self) -> Option<String> {
        let url = format!("http://{}/readyz", self.admin);
        let response = reqwest::get(url).await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        let text = response.text().await.ok()?;
        text.strip_prefix("consuming from ").map(str::to_owned)
    }
}

/// Runs the bridge CLI (`dead list`, `dead replay`) against `replica`'s config.
pub fn cli(replica: &Replica, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_notify-bridge"))
        .args(args)
        .arg("--config")
        .arg(replica.config())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
