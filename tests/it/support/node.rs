//! A private RabbitMQ node for tests that stop and restart the broker: the shared one on
//! 5672 serves other tests running at the same time and must never be touched.
//!
//! The node runs as this user from a temporary folder (data, logs, its own Erlang cookie
//! through `HOME`), listens on a free port, loads no plugins, and is stopped on drop.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The scripts themselves: the `/usr/sbin` wrappers switch to the `rabbitmq` user, who
/// cannot write to the test's folder.
const BIN: &str = "/usr/lib/rabbitmq/bin";

/// A running (or stopped, between [`PrivateNode::stop`] and [`PrivateNode::start`]) node.
pub struct PrivateNode {
    name: String,
    port: u16,
    dist_port: u16,
    dir: tempfile::TempDir,
    server: Option<Child>,
}

impl PrivateNode {
    /// Starts a fresh node and waits until it accepts AMQP connections.
    pub fn launch() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        std::fs::write(dir.path().join("plugins"), "").unwrap();
        let conf = format!("listeners.tcp.local = 127.0.0.1:{port}\n");
        std::fs::write(dir.path().join("rabbitmq.conf"), conf).unwrap();
        let mut node = Self {
            name: format!("it-blip-{:08x}@localhost", rand::random::<u32>()),
            port,
            dist_port: free_port(),
            dir,
            server: None,
        };
        node.start();
        node
    }

    /// The AMQP URL of this node.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Starts the node (again, on the same port and data) and waits until it accepts
    /// connections; returns when it did.
    pub fn start(&mut self) -> Instant {
        let dir = self.dir.path();
        let log = std::fs::File::create(dir.join("server.out")).unwrap();
        let server = self
            .command("rabbitmq-server")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("plugins"))
            .env("RABBITMQ_PLUGINS_EXPAND_DIR", dir.join("plugins-expand"))
            .env("RABBITMQ_PID_FILE", dir.join("pid"))
            .env("ERL_CRASH_DUMP", dir.join("erl_crash.dump"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("rabbitmq-server is installed");
        self.server = Some(server);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let out = std::fs::read_to_string(dir.join("server.out")).unwrap_or_default();
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "private node did not start: {out}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Instant::now()
    }

    /// Stops the node as an operator would (`rabbitmqctl stop`): clients are told the
    /// connection is closed, durable queues and persistent messages survive.
    pub fn stop(&mut self) {
        let status = self
            .command("rabbitmqctl")
            .args(["-n", &self.name, "stop"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "rabbitmqctl stop failed");
        if let Some(mut server) = self.server.take() {
            let _ = server.wait();
        }
    }

    /// One of the node's scripts, with its name and its own cookie (`HOME`).
    fn command(&self, script: &str) -> Command {
        let mut command = Command::new(Path::new(BIN).join(script));
        command
            .env("HOME", self.dir.path())
            .env("RABBITMQ_NODENAME", &self.name)
            .current_dir(self.dir.path());
        command
    }
}

impl Drop for PrivateNode {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let stopped = self
                .command("rabbitmqctl")
                .args(["-n", &self.name, "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !stopped {
                let _ = server.kill();
            }
            let _ = server.wait();
        }
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
