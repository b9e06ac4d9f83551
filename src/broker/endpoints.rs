//! Which broker node to dial: the configured nodes of one cluster, tried in turn.
//!
//! A process stays on the node that last answered; when dialling it fails, the next one in
//! the list is tried, wrapping around, each once per [`Endpoints::connect`]; a connection
//! lost later moves the start on with [`Endpoints::next`]. Only the choice of address lives
//! here, apart from any reconnect loop and its backoff.

use std::sync::atomic::{AtomicUsize, Ordering};

use lapin::Connection;
use tracing::{info, warn};

use crate::broker::{self, BrokerError};
use crate::secret::Secret;

/// The nodes of one cluster, with the one to dial next.
#[derive(Debug)]
pub struct Endpoints {
    urls: Vec<Secret>,
    cursor: AtomicUsize,
}

/// An open connection and the node it goes to.
pub struct Connected {
    pub connection: Connection,
    /// `host:port` of the node: safe for logs, `/readyz` and metric labels.
    pub node: String,
}

impl Endpoints {
    /// `urls` must not be empty (the settings guarantee one at least).
    pub fn new(urls: Vec<Secret>) -> Self {
        Self {
            urls,
            cursor: AtomicUsize::new(0),
        }
    }

    /// The URL to dial next, and moves the cursor past it.
    pub fn next(&self) -> &Secret {
        let i = self.cursor.fetch_add(1, Ordering::Relaxed) % self.urls.len();
        &self.urls[i]
    }

    /// Dials each node once, starting with the current one; stays on the first that
    /// answers. The error is the last node's when none does.
    pub async fn connect(&self, name: &str) -> Result<Connected, BrokerError> {
        let mut last = None;
        for _ in 0..self.urls.len() {
            let at = self.cursor.load(Ordering::Relaxed) % self.urls.len();
            let url = &self.urls[at];
            match broker::connect(url, name).await {
                Ok(connection) => {
                    let node = node_of(url);
                    info!(node = %node, url = %broker::redacted_url(url), "connected to the broker");
                    return Ok(Connected { connection, node });
                }
                Err(e) => {
                    if self.urls.len() > 1 {
                        warn!(error = %e, "broker node unavailable; trying the next one");
                    }
                    self.next();
                    last = Some(e);
                }
            }
        }
        Err(last.expect("at least one broker url"))
    }
}

/// `host:port` of an AMQP URL (the scheme's default port when absent); no credentials.
pub fn node_of(url: &Secret) -> String {
    match url::Url::parse(url.expose()) {
        Ok(parsed) => {
            let default = if parsed.scheme() == "amqps" {
                5671
            } else {
                5672
            };
            let host = parsed.host_str().unwrap_or("localhost");
            format!("{host}:{}", parsed.port().unwrap_or(default))
        }
        Err(_) => "<unparseable amqp url>".into(),
    }
}

/// Connects to the first node of `urls` that answers, for one-off tools.
pub async fn connect_any(urls: &[Secret], name: &str) -> Result<Connection, BrokerError> {
    Ok(Endpoints::new(urls.to_vec())
        .connect(name)
        .await?
        .connection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_goes_round_the_nodes() {
        let endpoints = Endpoints::new(vec![
            Secret::new("amqp://a:1/%2f"),
            Secret::new("amqp://b:2/%2f"),
        ]);
        let seen: Vec<String> = (0..3).map(|_| node_of(endpoints.next())).collect();
        assert_eq!(seen, ["a:1", "b:2", "a:1"]);
    }

    #[test]
    fn the_node_shows_no_credentials() {
        let node = node_of(&Secret::new("amqps://user:s3cr3t@rabbit.internal/%2f"));
        assert_eq!(node, "rabbit.internal:5671");
    }

    #[tokio::test]
    async fn a_dead_node_is_skipped() {
        // Port 1 refuses at once; the default broker answers.
        let endpoints = Endpoints::new(vec![
            Secret::new("amqp://guest:guest@127.0.0.1:1/%2f"),
            Secret::new("amqp://guest:guest@127.0.0.1:5672/%2f"),
        ]);
        let connected = endpoints.connect("endpoints unit test").await.unwrap();
        assert_eq!(connected.node, "127.0.0.1:5672");
        let _ = connected.connection.close(200, "done".into()).await;
        // It stays on the node that answered.
        assert_eq!(node_of(endpoints.next()), "127.0.0.1:5672");
    }
}
