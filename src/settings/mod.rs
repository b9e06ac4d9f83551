//! Settings: the TOML file plus `NOTIFY_BRIDGE__…` overrides, validated once at start-up.
//!
//! `raw` mirrors the file; `channel` turns each channel table into a [`Channel`]; errors
//! name the exact key at fault so `check-config` can point an operator at it.

mod broker;
mod channel;
mod inbound;
mod journal;
mod listener;
mod load_error;
mod preset;
mod raw;
mod secret;
mod signer;
mod signer_keys;
mod sources;

pub use secret::{expand_env, ResolveError};

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::admin::AdminConfig;
use crate::broker::BrokerConfig;
use crate::channel::Channel;
use crate::inbound::InboundConfig;
use crate::journal::JournalConfig;
use crate::retry;
use raw::RawSettings;

/// Environment variables with this prefix override file keys (`__` separates levels).
pub const ENV_PREFIX: &str = "NOTIFY_BRIDGE";

/// Why the configuration cannot be used; always names the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read or parsed; the text never quotes a value (see `load_error`).
    #[error("cannot read config: {0}")]
    Load(String),
    #[error("{key}: required")]
    Missing { key: String },
    #[error("{key}: `{value}` is not one of {expected}")]
    NotOneOf {
        key: String,
        value: String,
        expected: &'static str,
    },
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
    #[error("{key}: {source}")]
    Secret { key: String, source: ResolveError },
}

/// Where settings came from, so a reload reads the same file and environment.
#[derive(Clone)]
pub struct ConfigSource {
    pub path: PathBuf,
    env: HashMap<String, String>,
}

impl ConfigSource {
    /// Loads and validates the settings again.
    pub fn load(&self) -> Result<Settings, SettingsError> {
        Settings::load(&self.path, &self.env)
    }
}

impl std::fmt::Debug for ConfigSource {
    // The environment holds secrets; only the path is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSource")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub broker: BrokerConfig,
    pub admin: AdminConfig,
    /// The delivery journal: where, for how long, how many entries may wait.
    pub journal: JournalConfig,
    pub channels: BTreeMap<String, Channel>,
    /// Where these settings were loaded from (for reloads).
    pub source: Option<ConfigSource>,
    /// Providers' callbacks we receive (SPEC §10).
    pub inbound: InboundConfig,
}

impl Settings {
    /// Every retry step any channel's schedule uses: one retry queue each.
    pub fn retry_steps(&self) -> Vec<Duration> {
        retry::queue_steps(self.channels.values().map(|c| &c.retry))
    }

    /// Loads `path`, applies overrides from `env`, and validates everything.
    pub fn load(path: &Path, env: &HashMap<String, String>) -> Result<Self, SettingsError> {
        let raw = sources::read(path, env)?;
        // Relative `*_file` paths are relative to the config file, not the working directory.
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut settings = Self::validate(raw, env, &base)?;
        settings.source = Some(ConfigSource {
            path: path.to_path_buf(),
            env: env.clone(),
        });
        Ok(settings)
    }

    fn validate(
        raw: RawSettings,
        env: &HashMap<String, String>,
        base: &Path,
    ) -> Result<Self, SettingsError> {
        let broker = broker::build(raw.broker, env)?;
        let admin = admin(raw.admin, env, base)?;
        let mut journal = journal::build(raw.journal, env)?;
        let mut channels = BTreeMap::new();
        for (id, raw_channel) in raw.channels {
            if let Some(keys) = &raw_channel.journal_keys {
                let key = format!("channels.{id}.journal_keys");
                journal
                    .keys
                    .set_channel(&id, keys)
                    .map_err(|e| invalid(key, e.to_string()))?;
            }
            let channel = channel::build(&id, raw_channel, env, base)?;
            channels.insert(id, channel);
        }
        let inbound = inbound::build(raw.inbound, raw.receivers, env, base)?;
        if inbound.listen == admin.listen {
            return Err(invalid("inbound.listen", "must differ from admin.listen"));
        }
        Ok(Settings {
            broker,
            admin,
            source: None,
            journal,
            channels,
            inbound,
        })
    }
}

fn admin(
    raw: raw::RawAdmin,
    env: &HashMap<String, String>,
    base: &Path,
) -> Result<AdminConfig, SettingsError> {
    let listen: SocketAddr = raw
        .listen
        .as_deref()
        .unwrap_or("127.0.0.1:9464")
        .parse()
        .map_err(|_| invalid("admin.listen", "must be an address such as 127.0.0.1:9464"))?;
    let file = raw.token_file.as_deref().map(|p| relative_to(base, p));
    let token = secret::resolve(raw.token.as_deref(), file.as_deref(), env)
        .map_err(|source| SettingsError::Secret {
            key: "admin.token".into(),
            source,
        })?
        .filter(|t| !t.expose().is_empty());
    if token.is_none() && !listen.ip().is_loopback() {
        return Err(invalid(
            "admin.token",
            "required when admin.listen is not a loopback address",
        ));
    }
    let limits = listener::limits(
        "admin",
        raw.header_read_timeout.as_deref(),
        raw.idle_timeout.as_deref(),
        raw.max_connections,
    )?;
    Ok(AdminConfig {
        listen,
        token,
        limits,
    })
}

/// Current process environment, for `main` to pass in.
pub fn process_env() -> HashMap<String, String> {
    std::env::vars().collect()
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// Parses a humane duration (`10s`, `5m`, `2h`), falling back to `default`.
fn duration(key: &str, text: Option<&str>, default: &str) -> Result<Duration, SettingsError> {
    let text = text.unwrap_or(default);
    humantime::parse_duration(text).map_err(|_| {
        invalid(
            key,
            format!("`{text}` is not a duration such as 10s, 5m or 2h"),
        )
    })
}

/// Resolves a relative path against the config file's folder.
fn relative_to(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

#[cfg(test)]
mod tests;
