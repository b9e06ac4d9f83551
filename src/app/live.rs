//! The running configuration, swapped whole on reload; in-flight work keeps what it started
//! with, and the next message sees the new channels, secrets and schedules.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tracing::{info, warn};

use super::removed_channels;
use crate::broker::{self, endpoints, BrokerError};
use crate::channel_pause::Pauses;
use crate::deliver::HttpClient;
use crate::metrics::Metrics;
use crate::pipeline::{Pipeline, Running};
use crate::settings::{Settings, SettingsError};

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

/// The settings in use and the pipeline built from them.
pub struct Live {
    settings: ArcSwap<Settings>,
    pipeline: Arc<Running>,
    sender: HttpClient,
    /// Paused channels, obeyed by every pipeline this builds.
    pauses: Arc<Pauses>,
}

impl Live {
    pub fn new(settings: Settings, sender: HttpClient) -> Self {
        let pauses = Arc::<Pauses>::default();
        let pipeline = pipeline(&settings, &sender, &pauses);
        Self {
            settings: ArcSwap::from_pointee(settings),
            pipeline: Arc::new(Running::new(pipeline)),
            pauses,
            sender,
        }
    }

    /// The pipeline in use, for the consumer and the metrics.
    pub fn pipeline(&self) -> &Arc<Running> {
        &self.pipeline
    }

    /// The paused channels every pipeline obeys, for the task that keeps them current.
    pub fn pauses(&self) -> &Arc<Pauses> {
        &self.pauses
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
        let old = self.settings.load_full();
        let source = old.source.as_ref().ok_or(ReloadError::NoSource)?;
        let mut new = source.load()?;
        if new.broker != old.broker || new.admin != old.admin {
            warn!("broker, admin and journal settings change only on restart; keeping the running ones");
        }
        // The inbound server and its receivers keep running as started.
        new.inbound = old.inbound.clone();
        new.broker = old.broker.clone();
        new.admin = old.admin.clone();
        new.journal = old.journal.clone();
        // New schedule steps need their retry queues before any message is retried there.
        let connection = endpoints::connect_any(&new.broker.urls, "notify-bridge reload").await?;
        broker::declare_topology(&connection, &new.broker, &new.retry_steps()).await?;
        let _ = connection.close(200, "declared".into()).await;
        if old.channels.keys().any(|c| !new.channels.contains_key(c)) {
            warn_of_waiting(&new).await;
        }
        self.pipeline
            .replace(pipeline(&new, &self.sender, &self.pauses));
        let channels = new.channels.len();
        self.settings.store(Arc::new(new));
        info!(channels, "configuration reloaded");
        Ok(())
    }
}

fn pipeline(settings: &Settings, sender: &HttpClient, pauses: &Arc<Pauses>) -> Pipeline {
    let channels = settings.channels.values();
    Pipeline::new(channels, settings.broker.max_message_bytes, sender.clone())
        .with_pauses(Arc::clone(pauses))
        .with_mask(settings.journal.mask.clone())
}

/// Says how many messages wait for the channels `settings` drops: each will be parked as
/// unknown-channel when it comes back.
async fn warn_of_waiting(settings: &Settings) {
    match removed_channels::waiting(settings).await {
        Ok(waiting) => {
            for line in removed_channels::describe(&waiting) {
                warn!("{line}");
            }
        }
        Err(e) => warn!(error = %e, "cannot count the messages waiting for removed channels"),
    }
}
