//! Wiring: settings → pipeline → consumer, run until a shutdown signal.

use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::consume::{BrokerError, Consumer};
use crate::deliver::Sender;
use crate::pipeline::Pipeline;
use crate::settings::Settings;

/// Runs the bridge until `shutdown` completes, then drains in-flight work and returns.
pub async fn run(
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BrokerError> {
    let pipeline = Arc::new(Pipeline::new(&settings, Sender::new()));
    let consumer = Consumer::new(pipeline, settings.broker.clone());
    let token = CancellationToken::new();
    let stop = token.clone();
    let watch = async move {
        shutdown.await;
        stop.cancel();
        // Keep waiting: the consumer decides when draining is over.
        std::future::pending::<()>().await
    };
    tokio::select! {
        result = consumer.run(token) => result,
        _ = watch => Ok(()),
    }
}
