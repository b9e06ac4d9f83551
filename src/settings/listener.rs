//! The connection limits of the HTTP listeners: `header_read_timeout`, `idle_timeout` and
//! `max_connections` under `[admin]` and `[inbound]` → [`Limits`].

use super::{duration, invalid, SettingsError};
use crate::listener::{Limits, HEADER_READ_TIMEOUT, IDLE_TIMEOUT, MAX_CONNECTIONS};

/// Builds the limits of the listener configured in `section`; errors name the key.
pub fn limits(
    section: &str,
    header_read_timeout: Option<&str>,
    idle_timeout: Option<&str>,
    max_connections: Option<usize>,
) -> Result<Limits, SettingsError> {
    let key = |name: &str| format!("{section}.{name}");
    let header_read_timeout = at_least_a_millisecond(
        &key("header_read_timeout"),
        header_read_timeout,
        &humantime::format_duration(HEADER_READ_TIMEOUT).to_string(),
    )?;
    let idle_timeout = at_least_a_millisecond(
        &key("idle_timeout"),
        idle_timeout,
        &humantime::format_duration(IDLE_TIMEOUT).to_string(),
    )?;
    let max_connections = match max_connections.unwrap_or(MAX_CONNECTIONS) {
        0 => return Err(invalid(key("max_connections"), "must be at least 1")),
        n => n,
    };
    Ok(Limits {
        header_read_timeout,
        idle_timeout,
        max_connections,
    })
}

fn at_least_a_millisecond(
    key: &str,
    text: Option<&str>,
    default: &str,
) -> Result<std::time::Duration, SettingsError> {
    let value = duration(key, text, default)?;
    if value.as_millis() == 0 {
        return Err(invalid(key, "must be at least 1ms"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn defaults_and_configured_values() {
        assert_eq!(
            limits("admin", None, None, None).unwrap(),
            Limits::default()
        );
        let set = limits("inbound", Some("2s"), Some("5m"), Some(10)).unwrap();
        assert_eq!(set.header_read_timeout, Duration::from_secs(2));
        assert_eq!(set.idle_timeout, Duration::from_secs(300));
        assert_eq!(set.max_connections, 10);
    }

    #[test]
    fn errors_name_the_key() {
        let error = limits("inbound", None, Some("0s"), None).unwrap_err();
        assert!(
            error.to_string().contains("inbound.idle_timeout"),
            "{error}"
        );
        let error = limits("admin", None, None, Some(0)).unwrap_err();
        assert!(
            error.to_string().contains("admin.max_connections"),
            "{error}"
        );
        let error = limits("admin", Some("soon"), None, None).unwrap_err();
        assert!(
            error.to_string().contains("admin.header_read_timeout"),
            "{error}"
        );
    }
}
