//! notify-bridge: consumes WHALE brand notifications from RabbitMQ and delivers them,
//! signed, to each brand's `notifyUrl`; what cannot be delivered is parked, never lost.
//!
//! # Layout
//!
//! One message flows top to bottom through these modules:
//!
//! - [`consume`]: lapin connection, topology, the consume loop, ack/park by outcome.
//! - [`pipeline`]: `handle(delivery) → Outcome`: parse → route → format → sign → send.
//! - [`parse`] and [`schema`]: bytes → [`message::QueueMessage`], or a [`parse::BadInput`];
//!   [`json`] bounds nesting and refuses duplicate keys in JSON from outside.
//! - [`channel`]: one brand's configuration; [`settings`] builds them from TOML + env.
//! - [`format`]: the ebuy standard message and body encodings.
//! - [`sign`]: the shared signers (`sorted-params`, `sorted-chars-md5`, `rsa`), with `verify`
//!   and `explain` (the string signed, secret masked, and where another string departs).
//! - [`deliver`]: the HTTP client, URL policy, success rule; [`limiter`]: per-channel limits.
//! - [`retry`]: retry schedules and the decision after a failed attempt.
//! - [`journal`]: every attempt recorded off the hot path (SQLite or PostgreSQL), with
//!   each message's business keys, queried by the admin API, the console and the CLI;
//!   [`channel_pause`]: paused channels, kept there; [`removed_channels`]: messages still
//!   waiting for a channel the configuration drops.
//! - [`app`], [`live`] and [`shutdown`]: wiring, reload and signals; [`admin`] (with the
//!   operator console at `/ui`) and [`metrics`]: the operator's view; `main.rs` holds the CLI.
//!
//! The other direction, providers' callbacks to us (SPEC §10):
//!
//! - [`inbound`]: HTTP receivers that verify each callback with the same [`sign`] modules,
//!   publish the event to RabbitMQ with a confirm, and only then answer success.

pub mod admin;
pub mod app;
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
pub mod live;
pub mod message;
pub mod metrics;
pub mod parse;
pub mod pipeline;
pub mod removed_channels;
pub mod retry;
pub mod schema;
pub mod settings;
pub mod shutdown;
pub mod sign;

#[cfg(test)]
mod fuzz;
