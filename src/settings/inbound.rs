//! The `[inbound]` table and the `[receivers.<name>]` tables (SPEC §10) → [`InboundConfig`].

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use super::channel::not_one_of;
use super::raw::{RawInbound, RawReceiver};
use super::{duration, expand_env, invalid, preset, signer::signer, SettingsError};
use crate::inbound::store::StoreSettings;
use crate::inbound::{InboundConfig, Provider, Receiver, RoutingKey};
use crate::secret::Secret;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9465";
const DEFAULT_EXCHANGE: &str = "provider.events";

/// Validates `[inbound]` and every receiver; errors name `inbound.<key>` or
/// `receivers.<name>.<key>`.
pub fn build(
    raw: RawInbound,
    receivers: BTreeMap<String, RawReceiver>,
    env: &HashMap<String, String>,
    base: &Path,
) -> Result<InboundConfig, SettingsError> {
    let listen = raw
        .listen
        .as_deref()
        .unwrap_or(DEFAULT_LISTEN)
        .parse()
        .map_err(|_| {
            invalid(
                "inbound.listen",
                "must be an address such as 127.0.0.1:9465",
            )
        })?;
    let max_body_bytes = at_least_one("inbound.max_body_bytes", raw.max_body_bytes, 1 << 20)?;
    let max_in_flight = at_least_one("inbound.max_in_flight", raw.max_in_flight, 256)?;
    let key_prefix = raw
        .key_prefix
        .unwrap_or_else(|| "notify-bridge:inbound".into());
    if key_prefix.is_empty() {
        return Err(invalid("inbound.key_prefix", "must not be empty"));
    }
    let mut built: BTreeMap<String, Receiver> = BTreeMap::new();
    for (name, raw_receiver) in receivers {
        let receiver = receiver(&name, raw_receiver, env, base)?;
        if let Some(other) = built.values().find(|r| r.path == receiver.path) {
            return Err(invalid(
                format!("receivers.{name}.path"),
                format!(
                    "`{}` is already the path of receivers.{}",
                    receiver.path, other.name
                ),
            ));
        }
        built.insert(name, receiver);
    }
    let limits = super::listener::limits(
        "inbound",
        raw.header_read_timeout.as_deref(),
        raw.idle_timeout.as_deref(),
        raw.max_connections,
    )?;
    Ok(InboundConfig {
        listen,
        max_body_bytes,
        max_in_flight,
        limits,
        store: store(raw.store.as_deref(), env)?,
        key_prefix,
        receivers: built,
    })
}

fn at_least_one(key: &str, value: Option<usize>, default: usize) -> Result<usize, SettingsError> {
    match value.unwrap_or(default) {
        0 => Err(invalid(key, "must be at least 1")),
        n => Ok(n),
    }
}

fn store(
    text: Option<&str>,
    env: &HashMap<String, String>,
) -> Result<StoreSettings, SettingsError> {
    let key = "inbound.store";
    let text =
        expand_env(text.unwrap_or("memory"), env).map_err(|source| SettingsError::Secret {
            key: key.into(),
            source,
        })?;
    if text == "memory" {
        return Ok(StoreSettings::Memory);
    }
    // The URL may hold a password: the error must not quote it.
    if !text.starts_with("redis://") || redis::Client::open(text.as_str()).is_err() {
        return Err(invalid(key, "must be `memory` or a redis:// URL"));
    }
    Ok(StoreSettings::Redis(Secret::new(text)))
}

fn receiver(
    name: &str,
    raw: RawReceiver,
    env: &HashMap<String, String>,
    base: &Path,
) -> Result<Receiver, SettingsError> {
    let key = |field: &str| format!("receivers.{name}.{field}");
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err(invalid(
            format!("receivers.{name}"),
            "a receiver name is 1 to 64 letters, digits, `-`, `_` or `.`",
        ));
    }
    let preset_name = raw
        .preset
        .ok_or_else(|| SettingsError::Missing { key: key("preset") })?;
    let provider = Provider::parse(&preset_name)
        .ok_or_else(|| not_one_of(key("preset"), &preset_name, Provider::NAMES))?;
    let path = raw.path.unwrap_or_else(|| format!("/callbacks/{name}"));
    check_path(&key("path"), &path)?;
    let signer = receiver_signer(
        &key("signer"),
        provider,
        raw.signer.unwrap_or_default(),
        env,
        base,
    )?;
    let publish = raw.publish.unwrap_or_default();
    let exchange = publish.exchange.unwrap_or_else(|| DEFAULT_EXCHANGE.into());
    let exchange_ok = exchange.len() <= 255
        && exchange
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if !exchange_ok {
        return Err(invalid(
            key("publish.exchange"),
            "at most 255 letters, digits, `-`, `_`, `.` or `:` (\"\" is the default exchange)",
        ));
    }
    let routing_key: RoutingKey = publish
        .routing_key
        .as_deref()
        .unwrap_or(provider.default_routing_key())
        .parse()
        .map_err(|e: crate::inbound::routing::RoutingKeyError| {
            invalid(key("publish.routing_key"), e.to_string())
        })?;
    if raw.replay_window.is_some() && provider != Provider::YunZhiMeng {
        return Err(invalid(
            key("replay_window"),
            "only yunzhimeng callbacks carry a timestamp and nonce to check",
        ));
    }
    Ok(Receiver {
        name: name.to_owned(),
        provider,
        path,
        signer,
        exchange,
        declare_exchange: publish.declare.unwrap_or(true),
        routing_key,
        replay_window: positive(&key("replay_window"), raw.replay_window.as_deref(), "5m")?,
        dedup_window: positive(&key("dedup_window"), raw.dedup_window.as_deref(), "24h")?,
    })
}

/// Letters, digits and `/-_.~` only: the path goes to the router as is, where `{` or `*`
/// would make it a pattern.
fn check_path(key: &str, path: &str) -> Result<(), SettingsError> {
    let fine = path.starts_with('/')
        && path.len() <= 200
        && !path.contains("//")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '~'));
    if fine {
        Ok(())
    } else {
        Err(invalid(
            key,
            "must start with / and hold only letters, digits and / - _ . ~",
        ))
    }
}

/// The preset fixes the signer kind (the provider's protocol); the table gives the keys.
fn receiver_signer(
    key: &str,
    provider: Provider,
    raw: toml::Table,
    env: &HashMap<String, String>,
    base: &Path,
) -> Result<crate::sign::Signer, SettingsError> {
    let defaults = preset::defaults(provider.as_str())
        .and_then(|c| c.signer)
        .unwrap_or_default();
    let wanted = defaults
        .get("kind")
        .and_then(toml::Value::as_str)
        .unwrap_or_default();
    if let Some(kind) = raw
        .get("kind")
        .and_then(toml::Value::as_str)
        .filter(|k| *k != wanted)
    {
        return Err(invalid(
            format!("{key}.kind"),
            format!("`{kind}` does not match preset {provider}, which uses {wanted}"),
        ));
    }
    if raw.contains_key("event_codes") {
        return Err(invalid(
            format!("{key}.event_codes"),
            "not used by receivers: the event code arrives in X-EventCode",
        ));
    }
    let merged = preset::merge_signer(raw, defaults);
    if provider == Provider::YunZhiMeng
        && !merged.contains_key("peer_public_key")
        && !merged.contains_key("peer_public_key_file")
    {
        // The provider's public key is what verifies its X-Signature.
        return Err(SettingsError::Missing {
            key: format!("{key}.peer_public_key"),
        });
    }
    signer(key, merged, env, base)
}

fn positive(key: &str, text: Option<&str>, default: &str) -> Result<Duration, SettingsError> {
    let value = duration(key, text, default)?;
    if value.is_zero() {
        return Err(invalid(key, "must be more than 0s"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests;
