//! `[journal]`: where delivery attempts are recorded, for how long, and how many may wait.

use std::collections::HashMap;
use std::time::Duration;

use super::raw::RawJournal;
use super::{duration, expand_env, invalid, SettingsError};
use crate::journal::{JournalConfig, JournalUrl, KeySpec, Mask};

const DEFAULT_URL: &str = "sqlite://notify-bridge.db";
/// Entries waiting for the writer, at most; beyond that new ones are dropped and counted.
const DEFAULT_BUFFER: usize = 10_000;
/// More would only postpone noticing that the journal is down, at a cost in memory.
const MAX_BUFFER: usize = 1_000_000;

/// Validates `[journal]`; `${ENV}` references in the URL are expanded first.
pub(super) fn build(
    raw: RawJournal,
    env: &HashMap<String, String>,
) -> Result<JournalConfig, SettingsError> {
    let text = expand_env(raw.url.as_deref().unwrap_or(DEFAULT_URL), env).map_err(|source| {
        SettingsError::Secret {
            key: "journal.url".into(),
            source,
        }
    })?;
    let url = JournalUrl::parse(&text).map_err(|e| invalid("journal.url", e.to_string()))?;
    let retention = duration("journal.retention", raw.retention.as_deref(), "7d")?;
    if retention < Duration::from_secs(60) {
        return Err(invalid("journal.retention", "must be at least 1m"));
    }
    let buffer = raw.buffer.unwrap_or(DEFAULT_BUFFER);
    if buffer == 0 || buffer > MAX_BUFFER {
        return Err(invalid(
            "journal.buffer",
            format!("must be 1 to {MAX_BUFFER} entries"),
        ));
    }
    let keys =
        KeySpec::new(raw.keys.as_ref()).map_err(|e| invalid("journal.keys", e.to_string()))?;
    let mask = match &raw.mask {
        Some(pointers) => {
            Mask::new(pointers).map_err(|e| invalid("journal.mask", e.to_string()))?
        }
        None => Mask::default(),
    };
    Ok(JournalConfig {
        url,
        retention,
        buffer,
        keys,
        mask,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(url: Option<&str>, retention: Option<&str>, buffer: Option<usize>) -> RawJournal {
        RawJournal {
            url: url.map(Into::into),
            retention: retention.map(Into::into),
            buffer,
            keys: None,
            mask: None,
        }
    }

    fn error(raw: RawJournal) -> String {
        build(raw, &HashMap::new()).unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_a_local_sqlite_file_a_week_and_ten_thousand() {
        let s = build(RawJournal::default(), &HashMap::new()).unwrap();
        assert_eq!(s.url.to_string(), "sqlite://notify-bridge.db");
        assert_eq!(s.retention, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(s.buffer, 10_000);
    }

    #[test]
    fn postgres_urls_expand_env_and_keep_the_password_hidden() {
        let env = HashMap::from([("PG_PASS".to_owned(), "hunter2".to_owned())]);
        let r = raw(
            Some("postgres://nb:${PG_PASS}@db:5432/nb"),
            Some("36h"),
            Some(500),
        );
        let s = build(r, &env).unwrap();
        assert_eq!(s.url.kind(), "postgres");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.retention, Duration::from_secs(36 * 3600));
        assert_eq!(s.buffer, 500);
    }

    #[test]
    fn errors_name_the_key() {
        assert_eq!(
            error(raw(Some("mysql://x"), None, None)),
            "journal.url: must start with sqlite:// or postgres://"
        );
        assert!(error(raw(Some("postgres://h:port/db"), None, None)).starts_with("journal.url: "));
        assert!(
            error(raw(Some("postgres://${NOPE}@h/db"), None, None)).starts_with("journal.url: ")
        );
        assert_eq!(
            error(raw(None, Some("a week"), None)),
            "journal.retention: `a week` is not a duration such as 10s, 5m or 2h"
        );
        assert_eq!(
            error(raw(None, Some("10s"), None)),
            "journal.retention: must be at least 1m"
        );
        assert_eq!(
            error(raw(None, None, Some(0))),
            "journal.buffer: must be 1 to 1000000 entries"
        );
    }
}
