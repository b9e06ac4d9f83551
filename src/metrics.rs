//! Prometheus metrics: every notable event is counted in [`Metrics::observe`], in one place.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::pipeline::{ChannelHealth, Handled};
use crate::retry::{Outcome, Verdict};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelOutcome {
    channel: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabel {
    node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabel {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReceiverResult {
    receiver: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConsoleAction {
    action: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadResult {
    result: &'static str,
}

/// What one channel did since the last summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub delivered: u64,
    pub retried: u64,
    pub deferred: u64,
    pub parked: u64,
}

/// One inbound receiver's callback counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallbackCounts {
    /// Every request that reached the receiver's path.
    pub received: u64,
    /// Verified and confirmed by the broker.
    pub published: u64,
    /// Verified, already published within the window: answered success, not published.
    pub duplicates: u64,
    /// Unreadable or incomplete (400).
    pub malformed: u64,
    /// Missing or wrong signature (401).
    pub bad_signature: u64,
    /// Stale timestamp or reused nonce (401).
    pub replayed: u64,
    /// Over the body limit (413).
    pub too_large: u64,
    /// Our failures, answered 5xx so the provider retries.
    pub unavailable: u64,
}

/// The bridge's metrics and the registry they are exposed from.
pub struct Metrics {
    registry: Registry,
    /// Counts since the last summary line, by channel (the counters above never reset).
    summary: std::sync::Mutex<std::collections::BTreeMap<String, Summary>>,
    attempts: Family<ChannelOutcome, Counter>,
    bad_input: Family<Reason, Counter>,
    latency: Family<ChannelLabel, Histogram>,
    in_flight: Family<ChannelLabel, Gauge>,
    stalled: Family<ChannelLabel, Gauge>,
    last_success: Family<ChannelLabel, Gauge<f64, AtomicU64>>,
    parked: Gauge,
    broker_connected: Family<NodeLabel, Gauge>,
    reloads: Family<ReloadResult, Counter>,
    consume_channels_replaced: Counter,
    journal_lag: Gauge,
    journal_dropped: Counter<u64, AtomicU64>,
    journal_errors: Counter<u64, AtomicU64>,
    callbacks: Family<ReceiverResult, Counter<u64, AtomicU64>>,
    console: Family<ConsoleAction, Counter>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("notify");
        let attempts = Family::<ChannelOutcome, Counter>::default();
        registry.register(
            "attempts",
            "Messages handled, by channel and outcome (delivered, retry, parked, deferred)",
            attempts.clone(),
        );
        let bad_input = Family::<Reason, Counter>::default();
        registry.register(
            "bad_input",
            "Messages parked as bad input, by reason",
            bad_input.clone(),
        );
        let latency = Family::<ChannelLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
        });
        registry.register(
            "attempt_duration_seconds",
            "HTTP attempt latency, by channel",
            latency.clone(),
        );
        let in_flight = Family::<ChannelLabel, Gauge>::default();
        registry.register(
            "in_flight",
            "Requests being sent, by channel",
            in_flight.clone(),
        );
        let stalled = Family::<ChannelLabel, Gauge>::default();
        registry.register(
            "channel_stalled",
            "1 while a channel is stalled (every slot taken, no success), by channel",
            stalled.clone(),
        );
        let last_success = Family::<ChannelLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "last_success_timestamp_seconds",
            "Unix time of the channel's last delivered request (absent until one succeeds)",
            last_success.clone(),
        );
        let parked = Gauge::default();
        registry.register(
            "parked_messages",
            "Messages waiting in the parking lot (the .dead queue), read every 5 s",
            parked.clone(),
        );
        let broker_connected = Family::<NodeLabel, Gauge>::default();
        registry.register(
            "broker_connected",
            "1 while consuming from the broker node (host:port)",
            broker_connected.clone(),
        );
        let reloads = Family::<ReloadResult, Counter>::default();
        registry.register(
            "reloads",
            "Configuration reloads, by result",
            reloads.clone(),
        );
        let consume_channels_replaced = Counter::default();
        registry.register(
            "consume_channels_replaced",
            "Consume channels replaced because a message held the front of the prefetch window",
            consume_channels_replaced.clone(),
        );
        let journal_lag = Gauge::default();
        registry.register(
            "journal_lag",
            "Journal entries not yet written",
            journal_lag.clone(),
        );
        let journal_dropped = Counter::<u64, AtomicU64>::default();
        registry.register(
            "journal_dropped",
            "Journal entries dropped because its buffer was full",
            journal_dropped.clone(),
        );
        let journal_errors = Counter::<u64, AtomicU64>::default();
        registry.register(
            "journal_errors",
            "Journal write errors",
            journal_errors.clone(),
        );
        let callbacks = Family::<ReceiverResult, Counter<u64, AtomicU64>>::default();
        registry.register(
            "callbacks",
            "Provider callbacks by receiver and result (received, published, duplicate, malformed, bad_signature, replayed, too_large, unavailable)",
            callbacks.clone(),
        );
        let console = Family::<ConsoleAction, Counter>::default();
        registry.register(
            "console_actions",
            "Operator actions from the console and the admin API, by action (login, logout, replay, replay_all, pause, resume, post) and result (ok, refused, failed)",
            console.clone(),
        );
        Self {
            registry,
            summary: Default::default(),
            attempts,
            bad_input,
            latency,
            in_flight,
            stalled,
            last_success,
            parked,
            broker_connected,
            reloads,
            consume_channels_replaced,
            journal_lag,
            journal_dropped,
            journal_errors,
            callbacks,
            console,
        }
    }

    /// Counts one operator console action and how it ended.
    pub fn console_action(&self, action: &'static str, result: &'static str) {
        self.console
            .get_or_create(&ConsoleAction { action, result })
            .inc();
    }

    /// Counts what happened to one message.
    pub fn observe(&self, handled: &Handled) {
        let channel = handled.channel.clone().unwrap_or_default();
        if let Outcome::Bad(bad) = &handled.outcome {
            self.bad_input
                .get_or_create(&Reason { reason: bad.code() })
                .inc();
        }
        if let Some(latency) = handled.sent.as_ref().map(|s| s.latency) {
            self.latency
                .get_or_create(&ChannelLabel {
                    channel: channel.clone(),
                })
                .observe(latency.as_secs_f64());
        }
        let outcome = match handled.verdict {
            Verdict::Ack => "delivered",
            Verdict::RetryIn { .. } => "retry",
            Verdict::Defer { .. } => "deferred",
            Verdict::Park => "parked",
        };
        if let Ok(mut summary) = self.summary.lock() {
            // The channel's entry exists after its first message: no key copied per message.
            if !summary.contains_key(&channel) {
                summary.insert(channel.clone(), Summary::default());
            }
            let counts = summary.get_mut(&channel).expect("inserted above");
            match handled.verdict {
                Verdict::Ack => counts.delivered += 1,
                Verdict::RetryIn { .. } => counts.retried += 1,
                Verdict::Defer { .. } => counts.deferred += 1,
                Verdict::Park => counts.parked += 1,
            }
        }
        self.attempts
            .get_or_create(&ChannelOutcome { channel, outcome })
            .inc();
    }

    /// Each channel's counts since the last call, for the periodic summary line; channels
    /// with nothing to report are left out.
    pub fn take_summary(&self) -> Vec<(String, Summary)> {
        let Ok(mut summary) = self.summary.lock() else {
            return Vec::new();
        };
        std::mem::take(&mut *summary)
            .into_iter()
            .filter(|(_, counts)| *counts != Summary::default())
            .collect()
    }

    /// Whether the consumer is connected to `node` (`host:port`) and consuming.
    pub fn set_broker_connected(&self, node: &str, connected: bool) {
        let label = NodeLabel {
            node: node.to_owned(),
        };
        self.broker_connected
            .get_or_create(&label)
            .set(i64::from(connected));
    }

    /// Counts a consume channel replaced because its front was held.
    pub fn consume_channel_replaced(&self) {
        self.consume_channels_replaced.inc();
    }

    /// Counts a configuration reload.
    pub fn reloaded(&self, ok: bool) {
        let result = if ok { "ok" } else { "refused" };
        self.reloads.get_or_create(&ReloadResult { result }).inc();
    }

    /// Sets a channel's in-flight, stalled and last-success gauges.
    pub fn set_channel(&self, health: &ChannelHealth) {
        let label = ChannelLabel {
            channel: health.channel.clone(),
        };
        self.in_flight
            .get_or_create(&label)
            .set(health.in_flight as i64);
        self.stalled
            .get_or_create(&label)
            .set(i64::from(health.stalled));
        if let Some(ms) = health.last_success_unix_ms {
            self.last_success
                .get_or_create(&label)
                .set(ms as f64 / 1000.0);
        }
    }

    /// The parking lot's depth, as the broker last reported it.
    pub fn set_parked(&self, messages: u32) {
        self.parked.set(i64::from(messages));
    }

    /// Mirrors the journal's own counters.
    pub fn set_journal(&self, lag: u64, dropped: u64, errors: u64) {
        self.journal_lag.set(lag as i64);
        self.journal_dropped
            .inner()
            .store(dropped, std::sync::atomic::Ordering::Relaxed);
        self.journal_errors
            .inner()
            .store(errors, std::sync::atomic::Ordering::Relaxed);
    }

    /// Mirrors one inbound receiver's counters.
    pub fn set_callbacks(&self, receiver: &str, stats: &CallbackCounts) {
        let results = [
            ("received", stats.received),
            ("published", stats.published),
            ("duplicate", stats.duplicates),
            ("malformed", stats.malformed),
            ("bad_signature", stats.bad_signature),
            ("replayed", stats.replayed),
            ("too_large", stats.too_large),
            ("unavailable", stats.unavailable),
        ];
        for (result, n) in results {
            let label = ReceiverResult {
                receiver: receiver.to_owned(),
                result,
            };
            self.callbacks
                .get_or_create(&label)
                .inner()
                .store(n, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
