//! The running configuration, swapped whole on reload; in-flight work keeps what it started
//! with, and the next message sees the new channels, secrets and schedules.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tracing::{info, warn};

use crate::channel_pause::Pauses;
use crate::consume::broker::{self, BrokerError};
use crate::consume::endpoints;
use crate::deliver::Sender;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::settings::{Settings, SettingsError};

/// Settings and the pipeline built from them, replaced together.
pub struct Current {
    pub settings: Arc<Settings>,
    pub pipeline: Arc<Pipeline>,
}

/// Why a reload was refused; the running configuration stays as it was.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("these settings were not loaded from a file")]
    NoSource,
    #[error("the new configuration is invalid: {0}")]
    Invalid(#[from] SettingsError),
    #[error("cannot declare the new retry queues: {0}")]
    Broker(#[from] BrokerError),
}

/// What is running now, and whether the consumer is connected.
pub struct Live {
    current: ArcSwap<Current>,
    sender: Sender,
    /// Paused channels, obeyed by every pipeline this builds.
    pauses: Arc<Pauses>,
    /// The node consumed from (`host:port`), while consuming.
    consuming: Mutex<Option<String>>,
}

impl Live {
    pub fn new(settings: Settings, sender: Sender) -> Self {
        let pauses = Arc::<Pauses>::default();
        let pipeline =
            Arc::new(Pipeline::new(&settings, sender.clone()).with_pauses(Arc::clone(&pauses)));
        Self {
            pauses,
            current: ArcSwap::from_pointee(Current {
                settings: Arc::new(settings),
                pipeline,
            }),
            sender,
            consuming: Mutex::new(None),
        }
    }

    /// What is running now; hold the `Arc` for as long as one message is being handled.
    pub fn current(&self) -> Arc<Current> {
        self.current.load_full()
    }

    /// The paused channels every pipeline obeys.
    pub fn pauses(&self) -> &Arc<Pauses> {
        &self.pauses
    }

    /// Whether the consumer is connected and consuming (for `/readyz`).
    pub fn is_consuming(&self) -> bool {
        self.consuming_from().is_some()
    }

    /// The broker node (`host:port`) consumed from, while consuming.
    pub fn consuming_from(&self) -> Option<String> {
        self.consuming.lock().map(|n| n.clone()).unwrap_or(None)
    }

    /// Records the node now consumed from, or `None` once consuming stopped.
    pub fn set_consuming(&self, node: Option<&str>) {
        if let Ok(mut slot) = self.consuming.lock() {
            *slot = node.map(str::to_owned);
        }
    }

    /// Re-reads the config file and environment and swaps the channels in, or refuses
    /// (logged, and the running configuration stays). Either way it is counted in `metrics`.
    ///
    /// Broker, admin, journal and inbound settings are fixed for the life of the process: a
    /// change there is logged and takes effect at the next restart.
    pub async fn reload(&self, metrics: &Metrics) -> Result<(), ReloadError> {
        let result = self.swap_in_new().await;
        metrics.reloaded(result.is_ok());
        if let Err(e) = &result {
            warn!(error = %e, "reload refused; the running configuration stays");
        }
        result
    }

    async fn swap_in_new(&self) -> Result<(), ReloadError> {
        let old = self.current();
        let source = old.settings.source.as_ref().ok_or(ReloadError::NoSource)?;
        let mut new = source.load()?;
        if new.broker != old.settings.broker || new.admin != old.settings.admin {
            warn!("broker, admin and journal settings change only on restart; keeping the running ones");
        }
        // The inbound server and its receivers keep running as started.
        new.inbound = old.settings.inbound.clone();
        new.broker = old.settings.broker.clone();
        new.admin = old.settings.admin.clone();
        new.journal = old.settings.journal.clone();
        // New schedule steps need their retry queues before any message is retried there.
        let connection = endpoints::connect_any(&new.broker.urls, "notify-bridge reload").await?;
        let channel = broker::confirm_channel(&connection).await?;
        broker::declare_topology(&channel, &new.broker, &new.retry_steps()).await?;
        let _ = connection.close(200, "declared".into()).await;
        let removed = old
            .settings
            .channels
            .keys()
            .any(|c| !new.channels.contains_key(c));
        if removed {
            match crate::removed_channels::waiting(&new).await {
                Ok(waiting) => {
                    for line in crate::removed_channels::describe(&waiting) {
                        warn!("{line}");
                    }
                }
                Err(e) => {
                    warn!(error = %e, "cannot count the messages waiting for removed channels")
                }
            }
        }
        let pipeline = Arc::new(
            Pipeline::new(&new, self.sender.clone()).with_pauses(Arc::clone(&self.pauses)),
        );
        let channels = new.channels.len();
        self.current.store(Arc::new(Current {
            settings: Arc::new(new),
            pipeline,
        }));
        info!(channels, "configuration reloaded");
        Ok(())
    }
}
