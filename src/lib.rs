//! notify-bridge: consumes WHALE brand notifications from RabbitMQ and delivers them,
//! signed, to each brand's `notifyUrl`; what cannot be delivered is parked, never lost.
//!
//! # Layout
//!
//! Layers, top to bottom; a module imports only from its own layer or below (a test,
//! `tests/it/layers.rs`, keeps it so):
//!
//! 1. `main.rs` and `cli/`: the command line (`channel pause|resume` among the commands).
//! 2. [`app`]: the wiring — settings into the broker, journal, metrics and pipeline; the
//!    consumer, the inbound server, the admin endpoints and the pause watcher spawned;
//!    reload (which warns of messages still waiting for a channel it drops) and signals.
//! 3. [`settings`]: reads TOML + environment, validates, and builds each domain's own
//!    config type ([`broker::BrokerConfig`], [`journal::JournalConfig`],
//!    [`inbound::InboundConfig`], [`admin::AdminConfig`], each [`channel::Channel`]).
//! 4. The HTTP faces: [`admin`] (probes, metrics, the journal, reload, pauses, and the
//!    operator console at `/ui`: channels, search by business key, a delivery and its
//!    re-created request, the parking lot and replay) and [`inbound`] (providers'
//!    callbacks, verified with the same [`sign`] modules, published with a confirm before
//!    the provider hears success).
//! 5. [`consume`]: the consume loop, acks, and settling each verdict durably; [`metrics`].
//! 6. [`pipeline`]: `handle(delivery) → Handled`: parse → route → format → sign → send →
//!    decide; a paused channel's messages are deferred before any attempt.
//! 7. The families and the decision: [`parse`] and [`schema`] (bytes →
//!    [`message::QueueMessage`], or a [`parse::BadInput`]), [`channel`], [`format`](mod@format),
//!    [`sign`], [`deliver`] (HTTP client, URL policy, success rule), [`limiter`],
//!    [`listener`], [`journal`] (every attempt and deferral, off the hot path, with each
//!    message's business keys and its voucher secrets masked where shown),
//!    [`channel_pause`] (paused channels, kept in the journal), and [`retry`]: the pure
//!    `decide` from an attempt's [`retry::Outcome`] to its [`retry::Verdict`].
//! 8. [`broker`]: everything AMQP — connect, topology, attempt headers, confirmed publish,
//!    the parking lot's tools.
//! 9. Leaf types: [`message`], [`secret`], [`clock`], [`json`], [`shutdown`], [`failpoint`].

pub mod admin;
pub mod app;
pub mod broker;
pub mod channel;
pub mod channel_pause;
pub mod clock;
pub mod consume;
pub mod deliver;
pub mod failpoint;
pub mod format;
pub mod inbound;
pub mod journal;
pub mod json;
pub mod limiter;
pub mod listener;
pub mod message;
pub mod metrics;
pub mod parse;
pub mod pipeline;
pub mod retry;
pub mod schema;
pub mod secret;
pub mod settings;
pub mod shutdown;
pub mod sign;

#[cfg(test)]
mod fuzz;
