//! The config file's shape (SPEC §9), as serde reads it: every key optional, nothing checked.
//!
//! Unknown keys are refused so a typo never silently falls back to a default.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    #[serde(default)]
    pub broker: RawBroker,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub journal: RawJournal,
    #[serde(default)]
    pub channels: BTreeMap<String, RawChannel>,
    #[serde(default)]
    pub inbound: RawInbound,
    /// Providers' own callbacks we receive (SPEC §10); the key is any name.
    #[serde(default)]
    pub receivers: BTreeMap<String, RawReceiver>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBroker {
    pub url: Option<String>,
    /// More nodes of the same cluster, tried in turn after `url`.
    pub urls: Option<Vec<String>>,
    pub queue: Option<String>,
    pub prefetch: Option<u16>,
    /// Declare the main queue (true) or only check that it exists (false).
    pub declare: Option<bool>,
    pub max_message_bytes: Option<usize>,
    /// How long in-flight deliveries may finish after SIGTERM.
    pub shutdown_grace: Option<String>,
    /// Extra queue arguments for every queue declared (quorum queues on a cluster).
    pub queue_arguments: Option<BTreeMap<String, crate::broker::QueueArgument>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub listen: Option<String>,
    /// Bearer token for the admin endpoints, inline (with `${ENV}`) or as a file.
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    /// How long a client may take to send a request head.
    pub header_read_timeout: Option<String>,
    /// How long a keep-alive connection may sit between requests.
    pub idle_timeout: Option<String>,
    /// Connections open at once; more are closed at once.
    pub max_connections: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJournal {
    pub url: Option<String>,
    /// How long attempts are kept, e.g. `7d`.
    pub retention: Option<String>,
    /// Entries that may wait for the writer before new ones are dropped.
    pub buffer: Option<usize>,
    /// Business keys to index: `name = "/json/pointer"` into each message's bizContent.
    pub keys: Option<BTreeMap<String, String>>,
    /// Secret fields (JSON pointers into bizContent) masked wherever a message is shown.
    pub mask: Option<Vec<String>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChannel {
    pub preset: Option<String>,
    /// This channel's own business keys, in place of `journal.keys`.
    pub journal_keys: Option<BTreeMap<String, String>>,
    pub message_types: Option<Vec<String>>,
    pub app_id: Option<String>,
    pub timeout: Option<String>,
    pub max_in_flight: Option<usize>,
    /// The largest body sent to this brand, whichever formatter made it.
    pub max_body_bytes: Option<usize>,
    /// The brand body template (minijinja) for `messageType = third`; a preset supplies one.
    pub template_file: Option<PathBuf>,
    /// A queue message of this channel (JSON file) the template must render at start, as
    /// strictly as a delivery: every field it writes must be there.
    pub template_sample: Option<PathBuf>,
    /// `json` (default) or `form`.
    pub body_format: Option<String>,
    /// Send the message id as `X-Notify-Id` (default true).
    pub notify_id_header: Option<bool>,
    pub url_policy: Option<RawUrlPolicy>,
    /// Read as its kind's keys only once the preset's table is merged in, since the
    /// preset may give the kind and the channel the rest (see `signer_keys`).
    pub signer: Option<toml::Table>,
    pub success: Option<RawSuccess>,
    pub retry: Option<RawRetry>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUrlPolicy {
    pub schemes: Option<Vec<String>>,
    pub hosts: Option<Vec<String>>,
    pub allow_private: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSuccess {
    pub status: Option<String>,
    pub body: Option<OneOrMany>,
    pub ignore_case: Option<bool>,
}

/// `body = "SUCCESS"` or `body = ["success", "ok"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// Either explicit steps, or a fixed interval within a window after the first attempt.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    pub schedule: Option<Vec<String>>,
    pub every: Option<String>,
    pub window: Option<String>,
    /// Statuses that park at once instead of retrying.
    pub park_on: Option<Vec<u16>>,
}

/// `[inbound]`: the listener the providers call, shared by every receiver.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInbound {
    pub listen: Option<String>,
    /// Larger bodies are answered 413.
    pub max_body_bytes: Option<usize>,
    /// Callbacks handled at once; more are answered 503.
    pub max_in_flight: Option<usize>,
    /// `memory` or `redis://…`: where nonces and event ids are kept.
    pub store: Option<String>,
    pub key_prefix: Option<String>,
    /// As in `[admin]`: request head time, idle time, open connections.
    pub header_read_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub max_connections: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReceiver {
    /// `shangzhan`, `em` or `yunzhimeng`: the provider's protocol.
    pub preset: Option<String>,
    pub path: Option<String>,
    /// As a channel's: read as its kind's keys after the preset's table is merged in.
    pub signer: Option<toml::Table>,
    pub publish: Option<RawPublish>,
    /// 运之盟: accepted distance of `X-Timestamp` from our clock.
    pub replay_window: Option<String>,
    /// How long a published event is remembered, to publish repeats once.
    pub dedup_window: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPublish {
    pub exchange: Option<String>,
    /// Over `{field}` placeholders of the verified event.
    pub routing_key: Option<String>,
    /// Declare the exchange durable topic (true) or only check it exists.
    pub declare: Option<bool>,
}
