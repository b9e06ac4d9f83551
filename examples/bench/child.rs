//! The consumer under test as a child process: the bridge's release binary, or this
//! program's own `passthrough` mode; its peak RSS and CPU time read from `/proc`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A running consumer; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Consumer {
    child: std::process::Child,
}

impl Consumer {
    /// Starts `program args…` with stderr appended to `log` and `RUST_LOG` set when given.
    pub fn spawn(
        program: &Path,
        args: &[&str],
        log: &Path,
        rust_log: Option<&str>,
    ) -> std::io::Result<Self> {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        if let Some(filter) = rust_log {
            command.env("RUST_LOG", filter);
        }
        Ok(Self {
            child: command.spawn()?,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has exited already (it should not, before it is stopped).
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Peak resident set (`VmHWM`) in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// User + system CPU time used so far.
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time_of(self.pid())
    }

    /// SIGTERM, up to `grace` to exit (it drains in-flight work), then SIGKILL.
    pub async fn stop(mut self, grace: Duration) {
        if self.exited() {
            return;
        }
        self.signal_term();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.exited() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn signal_term(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
    }
}

impl Drop for Consumer {
    /// On an early return the consumer must not outlive the bench.
    fn drop(&mut self) {
        if !self.exited() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// User + system CPU time of process `pid`, from `/proc/<pid>/stat`.
pub fn cpu_time_of(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces; fields follow the last `)`.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(
        ticks * 1000 / clock_ticks_per_second(),
    ))
}

/// `getconf CLK_TCK`; 100 on every Linux this runs on, read anyway.
fn clock_ticks_per_second() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// The pid of the RabbitMQ node (`beam.smp`) on this machine, to charge it its CPU.
pub fn broker_pid() -> Option<u32> {
    let out = Command::new("pgrep")
        .args(["-o", "beam.smp"])
        .output()
        .ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}
