//! `notify-bridge demo`: every preset and notifyType delivered through the real broker to the
//! demo's receiver, each callback checked there as the brand's page says.

use std::process::Command;

use crate::support::{amqp_url, unique_queue};

#[test]
fn demo_delivers_and_verifies_every_preset_and_notify_type_on_its_own_queue() {
    let queue = unique_queue("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_notify-bridge"))
        .args(["demo", "--amqp", &amqp_url(), "--queue", queue.as_str()])
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let verified: Vec<&str> = stdout
        .lines()
        .filter(|line| line.contains("HTTP 200 signature verified"))
        .collect();
    assert_eq!(verified.len(), 28, "{stdout}");
    for preset in ["ebuy", "shangzhan", "em", "yunzhimeng"] {
        for notify_type in [
            "MakeCode",
            "MakeVoid",
            "UpdateCodeStatus",
            "CodeDelay",
            "CodeExpire",
            "Verify",
            "VerifyVoid",
        ] {
            assert!(
                verified
                    .iter()
                    .any(|l| l.split_whitespace().take(2).eq([preset, notify_type])),
                "{preset} {notify_type} missing:\n{stdout}"
            );
        }
    }
    assert!(
        stdout.contains("28 of 28 callbacks arrived and verified"),
        "{stdout}"
    );
    // The demo removes its own queues.
    let listed = Command::new("rabbitmqctl")
        .args(["-q", "--no-table-headers", "list_queues", "name"])
        .output()
        .unwrap();
    let left: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|name| name.starts_with(queue.as_str()))
        .map(str::to_owned)
        .collect();
    assert!(left.is_empty(), "the demo left {left:?}");
}
