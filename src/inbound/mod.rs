//! Inbound callbacks (SPEC §10): the providers' own callbacks, verified exactly as their
//! seeds say, handed to RabbitMQ, and only then answered in the provider's words.
//!
//! One callback, top to bottom:
//!
//! - [`server`]: the POST arrives on the receiver's path (size-limited, one span each).
//! - [`verify`]: the signature holds for the receiver's provider; for 运之盟 the timestamp
//!   is inside the window and the fields are decrypted, after the signature (Bleichenbacher).
//! - [`callback`]: the nonce is claimed in the [`store`] ([`replay`] names the keys), the
//!   event's id is derived, a second copy of an event is answered without publishing, and
//!   the first is published by [`publish`] with a confirm, routed by [`routing`].
//! - [`stats`]: what happened, counted per receiver.

mod callback;
mod config;
mod error;
pub mod publish;
pub mod replay;
pub mod routing;
mod server;
pub mod stats;
pub mod store;
pub mod verify;

use std::fmt;
use std::time::Duration;

pub use config::InboundConfig;
pub use error::CallbackError;
pub use routing::RoutingKey;
pub use server::{InboundError, Server};
pub use stats::Stats;

use crate::sign::Signer;

/// The providers whose callbacks we receive: each has its own signature and its own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// 商战网络 (seed 001): sorted-chars MD5 in a `sign` field; answer `success`.
    ShangZhan,
    /// EM (seed 003): sorted-params MD5 over `appid`, `request_data`, `timestamp`; `SUCCESS`.
    Em,
    /// 运之盟 (seed 000): RSA `X-Signature` headers, encrypted fields; any 2xx.
    YunZhiMeng,
}

impl Provider {
    /// The preset names a receiver may give.
    pub const NAMES: &'static str = "shangzhan, em, yunzhimeng";

    /// The preset name, also the `x-provider` header and the message id's prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::ShangZhan => "shangzhan",
            Provider::Em => "em",
            Provider::YunZhiMeng => "yunzhimeng",
        }
    }

    /// Parses a preset name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        [Provider::ShangZhan, Provider::Em, Provider::YunZhiMeng]
            .into_iter()
            .find(|p| p.as_str() == name)
    }

    /// What the provider reads as "received": seed 001 `success`, seed 003 `SUCCESS`;
    /// seed 000 only looks at the status.
    pub fn success_word(self) -> &'static str {
        match self {
            Provider::ShangZhan => "success",
            Provider::Em => "SUCCESS",
            Provider::YunZhiMeng => "success",
        }
    }

    /// The word a failure answer starts with, as the seeds' sample receivers answer.
    pub fn failure_word(self) -> &'static str {
        match self {
            Provider::ShangZhan => "fail",
            Provider::Em => "ERROR",
            Provider::YunZhiMeng => "error",
        }
    }

    /// The routing key used when `publish.routing_key` is not set.
    pub fn default_routing_key(self) -> &'static str {
        match self {
            Provider::ShangZhan => "shangzhan.{status}",
            Provider::Em => "em.{notify_type}",
            Provider::YunZhiMeng => "yunzhimeng.{eventCode}",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `[receivers.<name>]` table, validated.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub name: String,
    pub provider: Provider,
    /// The HTTP path the provider POSTs to, e.g. `/callbacks/shangzhan`.
    pub path: String,
    /// Verifies (and for RSA, decrypts) with the same signer modules channels sign with.
    pub signer: Signer,
    /// Where verified events go; `""` is the default exchange.
    pub exchange: String,
    /// Declare the exchange (durable, topic) or only check that it exists.
    pub declare_exchange: bool,
    pub routing_key: RoutingKey,
    /// 运之盟: how far `X-Timestamp` may be from our clock, either way.
    pub replay_window: Duration,
    /// How long an event id is remembered, so a repeated push is published once.
    pub dedup_window: Duration,
}
