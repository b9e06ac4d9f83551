//! The publishers WHALE's teams run, driven from a test: the official RabbitMQ Java client
//! (compiled here from `SpringPublish.java`) and amqp-tools' `amqp-publish`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::amqp_url;
use crate::support::preflight::JAVA_CLIENT as AMQP_CLIENT;

const JAVA_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/publishers");
/// The client logs through slf4j 1.7 (Debian's `libslf4j-java`, a dependency of the
/// client's package); the no-op binding keeps it from warning on stderr.
const SLF4J: &str = "/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-nop.jar";

/// Compiles `SpringPublish.java` into `dir`.
pub fn compile_java(dir: &Path) {
    let out = Command::new("javac")
        .args(["-cp", AMQP_CLIENT, "-d"])
        .arg(dir)
        .arg(format!("{JAVA_SOURCE}/SpringPublish.java"))
        .output()
        .expect("javac is installed (JDK 17)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "javac failed: {stderr}");
}

/// Publishes `(converter, message id, body)` each with Spring's properties, from Java.
pub fn java_publish(dir: &Path, queue: &str, messages: &[(&str, &str, &[u8])]) {
    let mut args = vec![amqp_url(), queue.to_owned()];
    for (i, (converter, id, body)) in messages.iter().enumerate() {
        let file = dir.join(format!("body-{i}.json"));
        std::fs::write(&file, body).unwrap();
        args.extend([converter.to_string(), id.to_string()]);
        args.push(file.display().to_string());
    }
    let classpath = format!("{}:{AMQP_CLIENT}:{SLF4J}", dir.display());
    let out = Command::new("java")
        .args(["-cp", &classpath, "SpringPublish"])
        .args(&args)
        .output()
        .expect("java is installed (JDK 17)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "SpringPublish failed: {stderr}");
}

/// Publishes `body` (read from stdin, persistent) with `amqp-publish` and `options`.
pub fn amqp_publish(queue: &str, body: &[u8], options: &[&str]) {
    let mut child = Command::new("amqp-publish")
        .args(["-u", &amqp_url(), "-r", queue, "-p"])
        .args(options)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("amqp-publish is installed (amqp-tools)");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "amqp-publish failed: {stderr}");
}
