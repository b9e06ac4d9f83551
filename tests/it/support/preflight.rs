//! Before any integration test runs: everything the suite talks to is here, or the run stops
//! at once with one message listing every missing piece and how to get it. No test skips
//! itself when a tool is missing: a green run would then prove nothing.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The official RabbitMQ Java client as Debian installs it: a publisher we did not write.
pub const JAVA_CLIENT: &str = "/usr/share/java/amqp-client.jar";

/// The logging the Java client needs, silenced (Debian's `libslf4j-java`).
const SLF4J_NOP: &str = "/usr/share/java/slf4j-nop.jar";

/// One thing the suite needs, and how to get it.
struct Need {
    what: &'static str,
    install: &'static str,
    present: fn() -> bool,
}

const NEEDS: &[Need] = &[
    Need {
        what: "RabbitMQ on 127.0.0.1:5672",
        install: "apt-get install rabbitmq-server && rabbitmq-server -detached",
        present: || listening(5672),
    },
    Need {
        what: "Redis on 127.0.0.1:6379",
        install: "apt-get install redis-server && redis-server --daemonize yes",
        present: || listening(6379),
    },
    Need {
        what: "PostgreSQL on 127.0.0.1:5432 (database `test`, trust auth)",
        install: "pg_ctlcluster <version> main start; createdb -U postgres test",
        present: || listening(5432),
    },
    Need {
        what: "rabbitmqctl",
        install: "apt-get install rabbitmq-server",
        present: || on_path("rabbitmqctl"),
    },
    Need {
        what: "openssl",
        install: "apt-get install openssl",
        present: || on_path("openssl"),
    },
    Need {
        what: "php",
        install: "apt-get install php-cli",
        present: || on_path("php"),
    },
    Need {
        what: "javac and java",
        install: "apt-get install default-jdk-headless",
        present: || on_path("javac") && on_path("java"),
    },
    Need {
        what: "go",
        install: "apt-get install golang-go",
        present: || on_path("go"),
    },
    Need {
        what: "amqp-publish",
        install: "apt-get install amqp-tools",
        present: || on_path("amqp-publish"),
    },
    Need {
        what: "the RabbitMQ Java client",
        install: "apt-get install librabbitmq-client-java libslf4j-java",
        present: || Path::new(JAVA_CLIENT).is_file() && Path::new(SLF4J_NOP).is_file(),
    },
    Need {
        what: "promtool",
        install: "apt-get install prometheus",
        present: || on_path("promtool"),
    },
    Need {
        what: "chromium and chromedriver (the console's browser test)",
        install: "apt-get install chromium chromium-driver",
        present: || on_path("chromium") && on_path("chromedriver"),
    },
    Need {
        what: "python3 with `cryptography`",
        install: "pip install cryptography (or apt-get install python3-cryptography)",
        present: python_cryptography,
    },
];

/// Runs once when the test binary starts, before the first test.
#[ctor::ctor]
fn check_needs() {
    let missing: Vec<&Need> = NEEDS.iter().filter(|need| !(need.present)()).collect();
    if missing.is_empty() {
        return;
    }
    let mut text = String::from(
        "\nThe integration tests need what is missing below. `scripts/test` installs and \
         starts all of it, then runs the tests.\n",
    );
    for need in missing {
        text.push_str(&format!("  - {:<58} {}\n", need.what, need.install));
    }
    eprintln!("{text}");
    std::process::exit(2);
}

fn listening(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| is_executable(&dir.join(tool))))
        .unwrap_or(false)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn python_cryptography() -> bool {
    Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .map(|out| out.status.success())
        .unwrap_or(false)
}
