//! The bridge as a separate process, for crash and signal tests; and broker-side faults.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Writes `toml` (with `{queue}` and `{amqp}` filled) next to the test's scratch files.
pub fn config_file(dir: &Path, toml: &str, queue: &str) -> PathBuf {
    let path = dir.join("bridge.toml");
    let text = toml
        .replace("{queue}", queue)
        .replace("{amqp}", &super::amqp_url());
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts `notify-bridge run` on `config`, logs to a file in the config's folder.
pub fn spawn_bridge(config: &Path) -> Reaped {
    spawn_bridge_with(config, &[])
}

/// Like `spawn_bridge`, with more environment variables (e.g. a failpoint).
pub fn spawn_bridge_with(config: &Path, env: &[(&str, &str)]) -> Reaped {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(config.with_extension("log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_notify-bridge"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .env("NOTIFY_BRIDGE__ADMIN__LISTEN", "127.0.0.1:0")
        .env(
            "NOTIFY_BRIDGE__JOURNAL__URL",
            format!("sqlite://{}", config.with_extension("db").display()),
        )
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map(Reaped)
        .expect("the bridge binary starts")
}

/// Runs the bridge binary with `args` to completion; returns stdout.
pub fn bridge_cli(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_notify-bridge"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Sends SIGTERM.
pub fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Closes, broker-side, every connection whose name contains `fragment` (our queue name),
/// as `rabbitmqctl close_all_connections` would but without touching other tests.
pub fn close_connections_named(fragment: &str) -> usize {
    let mut closed = 0;
    for pid in connections_named(fragment) {
        let ok = Command::new("rabbitmqctl")
            .args(["-q", "close_connection", &pid, "closed by test"])
            .status()
            .unwrap()
            .success();
        closed += usize::from(ok);
    }
    closed
}

/// The channels the broker holds open for connections named with `fragment`: each as
/// (consumers on it, messages delivered on it and not yet acked).
pub fn channels_of_connections_named(fragment: &str) -> Vec<(u32, u32)> {
    let pids = connections_named(fragment);
    let listing = rabbitmqctl(&[
        "-q",
        "list_channels",
        "connection",
        "consumer_count",
        "messages_unacknowledged",
    ]);
    listing
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let connection = fields.next()?;
            let consumers = fields.next()?.parse().ok()?;
            let unacked = fields.next()?.parse().ok()?;
            pids.iter()
                .any(|pid| pid == connection)
                .then_some((consumers, unacked))
        })
        .collect()
}

/// The broker's ids (`<rabbit@host.1.2.3>`) of the connections whose name has `fragment`.
fn connections_named(fragment: &str) -> Vec<String> {
    rabbitmqctl(&["-q", "list_connections", "pid", "client_properties"])
        .lines()
        .filter(|l| l.contains(fragment))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

fn rabbitmqctl(args: &[&str]) -> String {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl is installed beside the broker");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A bridge process that is killed when dropped, so a failing test leaves none behind.
pub struct Reaped(pub Child);

impl std::ops::Deref for Reaped {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        // A no-op once the test has waited for it.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
