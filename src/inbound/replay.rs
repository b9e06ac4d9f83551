//! Replay protection (运之盟, seed 000: `X-Timestamp` and `X-Nonce` "用于…防止重放攻击"), and
//! the store keys of nonces and events.
//!
//! A request is accepted while its timestamp is within `window` of our clock, either way,
//! and its nonce was not used before. A nonce is remembered for twice the window: a
//! request first seen at `t0` carries a timestamp no later than `t0 + window`, so its
//! replays fail the timestamp check from `t0 + 2 × window` on, and need no memory after.

use std::time::Duration;

use super::CallbackError;

/// Longest nonce accepted; the seed's is 18 digits.
const MAX_NONCE_LEN: usize = 64;

/// Checks `X-Timestamp` (epoch milliseconds) against `now_ms`.
pub fn check_timestamp(header: &str, now_ms: u64, window: Duration) -> Result<(), CallbackError> {
    let sent: u64 = header
        .trim()
        .parse()
        .map_err(|_| CallbackError::BadTimestamp)?;
    let skew_ms = i128::from(sent) - i128::from(now_ms);
    if skew_ms.unsigned_abs() > window.as_millis() {
        return Err(CallbackError::StaleTimestamp { skew_ms });
    }
    Ok(())
}

/// A nonce becomes part of a store key, so it is held to letters and digits.
pub fn check_nonce(nonce: &str) -> Result<(), CallbackError> {
    let fine = !nonce.is_empty()
        && nonce.len() <= MAX_NONCE_LEN
        && nonce.bytes().all(|b| b.is_ascii_alphanumeric());
    if fine {
        Ok(())
    } else {
        Err(CallbackError::BadNonce)
    }
}

/// How long a nonce is remembered (see the module doc).
pub fn nonce_ttl(window: Duration) -> Duration {
    window * 2
}

/// `<prefix>:nonce:<receiver>:<nonce>`.
pub fn nonce_key(prefix: &str, receiver: &str, nonce: &str) -> String {
    format!("{prefix}:nonce:{receiver}:{nonce}")
}

/// `<prefix>:event:<receiver>:<message id>`: the idempotency key.
pub fn event_key(prefix: &str, receiver: &str, message_id: &str) -> String {
    format!("{prefix}:event:{receiver}:{message_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;
    const WINDOW: Duration = Duration::from_secs(300);

    #[test]
    fn timestamps_within_the_window_either_way_pass() {
        for ts in [NOW, NOW - 300_000, NOW + 300_000, NOW - 1] {
            check_timestamp(&ts.to_string(), NOW, WINDOW).unwrap();
        }
        for (ts, skew) in [
            (NOW - 300_001, -300_001),
            (NOW + 300_001, 300_001),
            (0, -(NOW as i128)),
        ] {
            match check_timestamp(&ts.to_string(), NOW, WINDOW) {
                Err(CallbackError::StaleTimestamp { skew_ms }) => assert_eq!(skew_ms, skew),
                other => panic!("{ts}: {other:?}"),
            }
        }
        for bad in ["", "abc", "-5", "1.5", "99999999999999999999999"] {
            assert!(matches!(
                check_timestamp(bad, NOW, WINDOW),
                Err(CallbackError::BadTimestamp)
            ));
        }
    }

    #[test]
    fn nonces_are_short_alphanumerics() {
        check_nonce("123456789012345678").unwrap();
        for bad in ["", "a:b", "a b", &"1".repeat(65)] {
            assert!(check_nonce(bad).is_err(), "{bad}");
        }
        assert_eq!(nonce_ttl(WINDOW), Duration::from_secs(600));
        assert_eq!(nonce_key("p", "r", "1"), "p:nonce:r:1");
        assert_eq!(event_key("p", "r", "em-ab"), "p:event:r:em-ab");
    }
}
