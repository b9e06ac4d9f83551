//! The inbound side's configuration (`[inbound]` and every `[receivers.<name>]`, validated).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::store::StoreSettings;
use super::Receiver;
use crate::listener::Limits;

/// Inbound callbacks: where they are received, how they are remembered, who sends them.
#[derive(Debug, Clone)]
pub struct InboundConfig {
    /// Separate from the admin listener: this one faces the providers (through a proxy).
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub max_in_flight: usize,
    /// Header read and idle timeouts, and the cap on open connections.
    pub limits: Limits,
    /// Nonces and event ids: this process's memory, or Redis shared by every replica.
    pub store: StoreSettings,
    /// Prefix of every store key, so deployments can share one Redis.
    pub key_prefix: String,
    pub receivers: BTreeMap<String, Receiver>,
}
