//! The `[broker]` table, validated into a [`BrokerConfig`].

use std::collections::HashMap;

use super::raw::RawBroker;
use super::{duration, expand_env, invalid, SettingsError};
use crate::broker::BrokerConfig;
use crate::secret::Secret;

const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Validates the `[broker]` table.
pub(super) fn build(
    b: RawBroker,
    env: &HashMap<String, String>,
) -> Result<BrokerConfig, SettingsError> {
    let urls = urls(b.url, b.urls, env)?;
    let queue = b.queue.unwrap_or_else(|| "whale.core.brandNotify".into());
    if queue.is_empty() || queue.len() > 200 {
        return Err(invalid("broker.queue", "must be 1 to 200 characters"));
    }
    let prefetch = b.prefetch.unwrap_or(256);
    if prefetch == 0 {
        return Err(invalid("broker.prefetch", "must be at least 1"));
    }
    Ok(BrokerConfig {
        urls,
        queue,
        prefetch,
        declare: b.declare.unwrap_or(true),
        max_message_bytes: b.max_message_bytes.unwrap_or(1024 * 1024),
        shutdown_grace: duration("broker.shutdown_grace", b.shutdown_grace.as_deref(), "30s")?,
        queue_arguments: b.queue_arguments.unwrap_or_default(),
    })
}

/// `broker.url` (when set) followed by `broker.urls`; the local default when neither is.
fn urls(
    url: Option<String>,
    urls: Option<Vec<String>>,
    env: &HashMap<String, String>,
) -> Result<Vec<Secret>, SettingsError> {
    let listed = urls.is_some();
    let mut keyed: Vec<(String, String)> =
        url.map(|u| ("broker.url".into(), u)).into_iter().collect();
    for (i, u) in urls.unwrap_or_default().into_iter().enumerate() {
        keyed.push((format!("broker.urls[{i}]"), u));
    }
    if keyed.is_empty() {
        if listed {
            return Err(invalid("broker.urls", "must list at least one address"));
        }
        keyed.push(("broker.url".into(), DEFAULT_URL.into()));
    }
    keyed
        .into_iter()
        .map(|(key, raw)| {
            let url = expand_env(&raw, env).map_err(|source| SettingsError::Secret {
                key: key.clone(),
                source,
            })?;
            if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
                return Err(invalid(key, "must start with amqp:// or amqps://"));
            }
            Ok(Secret::new(url))
        })
        .collect()
}
