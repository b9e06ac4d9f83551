//! Crash points for tests: with `NOTIFY_BRIDGE_FAILPOINT=<name>` in its environment the
//! process exits with status 137 (as if SIGKILLed) when it reaches the point `<name>`, so a
//! test can prove what survives a crash at exactly that moment. Unset, a point costs one
//! comparison.

use std::sync::OnceLock;

/// The environment variable naming the point to crash at.
pub const VARIABLE: &str = "NOTIFY_BRIDGE_FAILPOINT";

/// Right after the broker confirmed an inbound event, before the provider is answered.
pub const INBOUND_AFTER_CONFIRM: &str = "inbound-after-confirm";

/// Exits the process at once (no drop, no flush) when `point` is the configured one.
pub fn hit(point: &str) {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var(VARIABLE).ok());
    if armed.as_deref() == Some(point) {
        eprintln!("failpoint {point}: exiting with status 137");
        std::process::exit(137);
    }
}
