//! Bytes off the queue → a validated [`QueueMessage`], or the [`BadInput`] reason it is not one.

mod declared;

use serde_json::Value;

pub use declared::Declared;

use crate::deliver::UrlRefused;
use crate::json::{self, Refusal, MAX_DEPTH};
use crate::message::{IdProblem, MessageType, NotifyType, QueueMessage};
use crate::schema::{Schemas, Violation};

/// Why a message can never be delivered as it stands (SPEC §6). Each goes straight to the
/// parking lot; `code()` is the stable part operators match on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadInput {
    #[error("message is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("content encoding `{0}` is not supported: publish the JSON uncompressed, as UTF-8")]
    ContentEncoding(String),
    #[error("body is not UTF-8 JSON ({arrived}): {reason}")]
    NotJson { arrived: String, reason: String },
    #[error("{part} nests deeper than {MAX_DEPTH} levels")]
    TooDeep { part: &'static str },
    #[error("{part}: {detail}")]
    DuplicateKey { part: &'static str, detail: String },
    #[error(transparent)]
    BadMessageId(#[from] IdProblem),
    #[error("body is not a JSON object")]
    NotObject,
    #[error("missing field `{0}`")]
    MissingField(String),
    #[error("field `{field}` must be {expected}")]
    WrongType { field: String, expected: String },
    #[error("field `{field}` has an invalid value `{value}`")]
    InvalidValue { field: String, value: String },
    #[error("unknown notifyType `{0}`")]
    UnknownNotifyType(String),
    #[error("unknown messageType `{0}`")]
    UnknownMessageType(String),
    #[error("unknown channelId `{0}`")]
    UnknownChannel(String),
    #[error("channel `{channel}` does not accept messageType `{message_type}`")]
    MessageTypeRefused {
        channel: String,
        message_type: MessageType,
    },
    #[error("whaleMessage is not valid JSON: {0}")]
    WhaleMessageNotJson(String),
    #[error("whaleMessage is not a JSON object")]
    WhaleMessageNotObject,
    #[error("whaleMessage.action `{action}` conflicts with notifyType `{notify_type}` (expected `{}`)", notify_type.action())]
    ActionConflict {
        action: String,
        notify_type: NotifyType,
    },
    #[error("notifyUrl refused by `channels.{channel}.url_policy`: {reason}")]
    UrlRefused { channel: String, reason: UrlRefused },
    #[error("channel `{channel}` cannot render its template for this message: {reason}")]
    Unformattable { channel: String, reason: String },
    #[error("channel `{channel}` cannot sign this message: {reason}")]
    Unsignable { channel: String, reason: String },
    #[error("channel `{channel}`: the body is over its {limit}-byte limit (max_body_bytes)")]
    BodyTooLarge { channel: String, limit: usize },
    #[error("channel `{channel}`: header `{header}` would carry a value HTTP does not allow")]
    BadHeaderValue { channel: String, header: String },
    #[error("message headers take {size} bytes, over the {limit}-byte limit; parked without its properties")]
    HeadersTooLarge { size: usize, limit: usize },
    #[error("message headers nest deeper than {limit} levels; parked without its properties")]
    HeadersTooDeep { limit: usize },
    /// A bug, not the message's fault; parked so it cannot block the queue.
    #[error("the bridge failed on this message ({0}); it is parked for a fixed version")]
    Internal(String),
}

impl BadInput {
    /// A stable, short reason code: the first word of the `x-notify-error` header.
    pub fn code(&self) -> &'static str {
        match self {
            BadInput::TooLarge { .. } => "too-large",
            BadInput::ContentEncoding(_) => "content-encoding",
            BadInput::NotJson { .. } => "not-json",
            BadInput::TooDeep { .. } => "too-deep",
            BadInput::DuplicateKey { .. } => "duplicate-key",
            BadInput::BadMessageId(_) => "bad-message-id",
            BadInput::NotObject => "not-object",
            BadInput::MissingField(_) => "missing-field",
            BadInput::WrongType { .. } => "wrong-type",
            BadInput::InvalidValue { .. } => "invalid-value",
            BadInput::UnknownNotifyType(_) => "unknown-notify-type",
            BadInput::UnknownMessageType(_) => "unknown-message-type",
            BadInput::UnknownChannel(_) => "unknown-channel",
            BadInput::MessageTypeRefused { .. } => "message-type-refused",
            BadInput::WhaleMessageNotJson(_) => "whale-message-not-json",
            BadInput::WhaleMessageNotObject => "whale-message-not-object",
            BadInput::ActionConflict { .. } => "action-conflict",
            BadInput::UrlRefused { .. } => "url-refused",
            BadInput::Unformattable { .. } => "unformattable",
            BadInput::Unsignable { .. } => "unsignable",
            BadInput::BodyTooLarge { .. } => "body-too-large",
            BadInput::BadHeaderValue { .. } => "bad-header-value",
            BadInput::HeadersTooLarge { .. } => "headers-too-large",
            BadInput::HeadersTooDeep { .. } => "headers-too-deep",
            BadInput::Internal(_) => "internal-error",
        }
    }

    /// `code: message`, the value of the `x-notify-error` header: one line, at most
    /// [`MAX_REASON_CHARS`] characters, whatever the message held.
    pub fn header_value(&self) -> String {
        let text = format!("{}: {self}", self.code());
        let mut out: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_REASON_CHARS)
            .collect();
        if text.chars().nth(MAX_REASON_CHARS).is_some() {
            out.push('…');
        }
        out
    }
}

impl From<Violation> for BadInput {
    fn from(v: Violation) -> Self {
        match v {
            Violation::Missing(field) => BadInput::MissingField(field),
            Violation::WrongType { field, expected } => BadInput::WrongType { field, expected },
            Violation::Invalid { field, value } => match field.as_str() {
                "notifyType" => BadInput::UnknownNotifyType(value),
                "messageType" => BadInput::UnknownMessageType(value),
                _ => BadInput::InvalidValue { field, value },
            },
        }
    }
}

/// The longest `x-notify-error` reason text; message-supplied parts are shortened before.
pub const MAX_REASON_CHARS: usize = 1000;

/// Parses and checks one queue message body against `schemas/queue-message.schema.json`.
///
/// The declared content type is not trusted (Java publishers label JSON `text/plain` or
/// `application/octet-stream`): whatever it says, a body that is such an object is
/// accepted, after a leading UTF-8 BOM. `whaleMessage` may be the standard message as a
/// JSON string or the same object nested, as a Java DTO serialises it; both become the
/// same text, so both format identically.
pub fn queue_message(
    body: &[u8],
    declared: Declared<'_>,
    max_bytes: usize,
    schemas: &Schemas,
) -> Result<QueueMessage, BadInput> {
    if body.len() > max_bytes {
        return Err(BadInput::TooLarge {
            size: body.len(),
            limit: max_bytes,
        });
    }
    if let Some(encoding) = declared.unreadable_encoding() {
        return Err(BadInput::ContentEncoding(encoding));
    }
    let text = declared::without_bom(body);
    if let Some(message) = usual(text) {
        return Ok(message);
    }
    general(text, declared, schemas)
}

/// The usual message read straight into its fields: an object of exactly the five fields,
/// each a string the schema accepts. `None` for anything else, which [`general`] reads and
/// judges. Five keys in the text and five distinct fields read leave no room for a
/// repeated or unknown key. It skips the JSON value and the schema walk: a third of the
/// parse's instructions (bench/FINDINGS.md).
fn usual(text: &[u8]) -> Option<QueueMessage> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Wire {
        channel_id: String,
        notify_url: String,
        notify_type: String,
        message_type: String,
        whale_message: String,
    }
    // serde would also read the five fields from an array: only an object is usual.
    if text.trim_ascii_start().first() != Some(&b'{') || json::key_count(text) != 5 {
        return None;
    }
    let wire: Wire = serde_json::from_slice(text).ok()?;
    let filled = [&wire.channel_id, &wire.notify_url, &wire.whale_message];
    if filled.iter().any(|s| s.is_empty()) {
        return None;
    }
    Some(QueueMessage {
        notify_type: NotifyType::parse(&wire.notify_type)?,
        message_type: MessageType::parse(&wire.message_type)?,
        channel_id: wire.channel_id,
        notify_url: wire.notify_url,
        whale_message: wire.whale_message,
    })
}

/// Any message: parsed strictly as a JSON value, checked against the schema, then taken
/// apart.
fn general(
    text: &[u8],
    declared: Declared<'_>,
    schemas: &Schemas,
) -> Result<QueueMessage, BadInput> {
    let doc = json::parse_strict(text).map_err(|e| {
        refused("message", e, |reason| BadInput::NotJson {
            arrived: declared.describe(text),
            reason,
        })
    })?;
    if !doc.is_object() {
        return Err(BadInput::NotObject);
    }
    schemas.check_queue_message(&doc)?;
    let Value::Object(mut fields) = doc else {
        return Err(BadInput::NotObject);
    };
    // The schema has checked every field's type: take the values rather than copy them.
    let mut take = |name: &str| match fields.remove(name) {
        Some(Value::String(s)) => s,
        // Compact, with keys and numbers as sent (preserve_order, arbitrary_precision).
        Some(other @ Value::Object(_)) => other.to_string(),
        _ => String::new(),
    };
    let channel_id = take("channelId");
    let notify_url = take("notifyUrl");
    let notify_type = take("notifyType");
    let message_type = take("messageType");
    Ok(QueueMessage {
        notify_type: NotifyType::parse(&notify_type)
            .ok_or(BadInput::UnknownNotifyType(notify_type))?,
        message_type: MessageType::parse(&message_type)
            .ok_or(BadInput::UnknownMessageType(message_type))?,
        whale_message: take("whaleMessage"),
        channel_id,
        notify_url,
    })
}

/// `part` of a message (`message`, `whaleMessage`) refused as JSON, as bad input;
/// `syntax` labels a plain syntax error.
pub fn refused(
    part: &'static str,
    why: Refusal,
    syntax: impl FnOnce(String) -> BadInput,
) -> BadInput {
    match why {
        Refusal::TooDeep => BadInput::TooDeep { part },
        Refusal::Syntax(reason) => syntax(reason),
        Refusal::DuplicateKey(detail) => BadInput::DuplicateKey { part, detail },
    }
}

#[cfg(test)]
mod tests;
