//! Opening a connection to one node, and a channel in confirm mode on it.

use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection, ConnectionProperties};

use super::BrokerError;
use crate::secret::Secret;

/// The URI with its password replaced, safe for logs and errors.
pub fn redacted_url(url: &Secret) -> String {
    match url::Url::parse(url.expose()) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("****"));
            }
            parsed.to_string()
        }
        Err(_) => "<unparseable amqp url>".into(),
    }
}

/// Opens a connection named so operators can find it in the management UI.
pub async fn connect(url: &Secret, name: &str) -> Result<Connection, BrokerError> {
    let props = ConnectionProperties::default().with_connection_name(name.into());
    Connection::connect(url.expose(), props)
        .await
        .map_err(|source| BrokerError::Connect {
            url: redacted_url(url),
            source,
        })
}

/// A channel in confirm mode, for publishes that must be durable before an ack.
pub async fn confirm_channel(connection: &Connection) -> Result<Channel, BrokerError> {
    let channel = connection
        .create_channel()
        .await
        .map_err(BrokerError::Channel)?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(BrokerError::Channel)?;
    Ok(channel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_the_password() {
        let url = Secret::new("amqp://user:s3cr3t@rabbit:5672/%2f");
        let shown = redacted_url(&url);
        assert!(!shown.contains("s3cr3t"));
        assert!(shown.contains("user:****@rabbit"));
    }
}
