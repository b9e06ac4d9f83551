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
//! - [`sign`]: the shared signers (`sorted-params`), with `verify` and `explain`.
//! - [`deliver`]: the HTTP client, URL policy, success rule; [`limiter`]: per-channel limits.
//! - [`retry`]: retry schedules and the decision after a failed attempt.
//! - [`app`] and [`shutdown`]: wiring and signals; `main.rs` holds the CLI.

pub mod admin;
pub mod app;
pub mod channel;
pub mod consume;
pub mod deliver;
pub mod format;
pub mod json;
pub mod limiter;
pub mod live;
pub mod message;
pub mod metrics;
pub mod parse;
pub mod pipeline;
pub mod retry;
pub mod schema;
pub mod settings;
pub mod shutdown;
pub mod sign;

#[cfg(test)]
mod fuzz;
