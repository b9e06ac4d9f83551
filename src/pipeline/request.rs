//! Formatting and signing a routed message into the exact request its brand receives.

use std::sync::Arc;

use crate::channel::Channel;
use crate::deliver::Request;
use crate::format::{standard_message, TemplateContext, TemplateError};
use crate::message::{MessageId, MessageType, QueueMessage};
use crate::parse::BadInput;
use crate::schema::Schemas;
use crate::sign::SignContext;

use super::Pins;

/// A message turned into the exact request its brand will receive.
#[derive(Debug)]
pub struct Prepared {
    pub channel: Arc<Channel>,
    pub message: QueueMessage,
    pub request: Request,
    /// The string that was signed, secret masked (only when asked for).
    pub string_to_sign: Option<String>,
}

/// A parsed message with its channel and checked URL.
pub(super) struct Routed {
    pub channel: Arc<Channel>,
    pub message: QueueMessage,
    pub url: url::Url,
}

/// Formats and signs a routed message into the exact request.
pub(super) fn build(
    schemas: &Schemas,
    routed: Routed,
    id: &MessageId,
    pins: &Pins,
    explain: bool,
) -> Result<Prepared, BadInput> {
    let Routed {
        channel,
        message,
        url,
    } = routed;
    let standard = standard_message(&message, channel.app_id.as_deref(), pins.now_ms, schemas)?;
    let too_large = || BadInput::BodyTooLarge {
        channel: channel.id.clone(),
        limit: channel.max_body_bytes,
    };
    let fields = match (&message.message_type, &channel.template) {
        (MessageType::Third, Some(template)) => template
            .render(&TemplateContext {
                standard: &standard,
                notify_type: message.notify_type.as_str(),
                channel_id: &channel.id,
                now_ms: pins.now_ms,
            })
            .map_err(|e| match e {
                TemplateError::TooLarge { .. } => too_large(),
                e => BadInput::Unformattable {
                    channel: channel.id.clone(),
                    reason: e.to_string(),
                },
            })?,
        _ => standard,
    };
    let ctx = SignContext {
        now_ms: pins.now_ms,
        nonce: pins.nonce.as_deref(),
        notify_type: message.notify_type,
    };
    let signed = channel
        .signer
        .sign(fields, channel.encoding, &ctx, explain)
        .map_err(|e| BadInput::Unsignable {
            channel: channel.id.clone(),
            reason: e.to_string(),
        })?;
    if signed.body.len() > channel.max_body_bytes {
        return Err(too_large());
    }
    let mut headers = vec![(
        "Content-Type".to_owned(),
        channel.encoding.content_type().to_owned(),
    )];
    if channel.notify_id_header {
        headers.push(("X-Notify-Id".to_owned(), id.as_str().to_owned()));
    }
    headers.extend(signed.headers);
    if let Some(bad) = invalid_header(&headers) {
        return Err(BadInput::BadHeaderValue {
            channel: channel.id.clone(),
            header: bad.to_owned(),
        });
    }
    Ok(Prepared {
        channel,
        message,
        request: Request {
            url,
            headers,
            body: signed.body,
        },
        string_to_sign: signed.string_to_sign,
    })
}

/// The first header whose name or value HTTP would refuse (a CR or LF could split it).
fn invalid_header(headers: &[(String, String)]) -> Option<&str> {
    use reqwest::header::{HeaderName, HeaderValue};
    headers
        .iter()
        .find(|(name, value)| {
            HeaderName::from_bytes(name.as_bytes()).is_err()
                || HeaderValue::from_str(value).is_err()
        })
        .map(|(name, _)| name.as_str())
}
