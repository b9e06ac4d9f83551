//! Bytes off the queue → a validated [`QueueMessage`], or the [`BadInput`] reason it is not one.

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
    #[error("content type `{0}` is not application/json")]
    ContentType(String),
    #[error("body is not UTF-8 JSON: {0}")]
    NotJson(String),
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
    #[error("notifyUrl refused: {0}")]
    UrlRefused(#[from] UrlRefused),
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
            BadInput::ContentType(_) => "content-type",
            BadInput::NotJson(_) => "not-json",
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
            BadInput::UrlRefused(_) => "url-refused",
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
pub fn queue_message(
    body: &[u8],
    content_type: Option<&str>,
    max_bytes: usize,
    schemas: &Schemas,
) -> Result<QueueMessage, BadInput> {
    if body.len() > max_bytes {
        return Err(BadInput::TooLarge {
            size: body.len(),
            limit: max_bytes,
        });
    }
    if let Some(ct) = content_type.filter(|ct| !is_json_content_type(ct)) {
        return Err(BadInput::ContentType(crate::message::excerpt(ct)));
    }
    let doc = json::parse_strict(body).map_err(|e| refused("message", e, BadInput::NotJson))?;
    if !doc.is_object() {
        return Err(BadInput::NotObject);
    }
    schemas.check_queue_message(&doc)?;
    let text = |name: &str| doc[name].as_str().unwrap_or_default().to_owned();
    Ok(QueueMessage {
        channel_id: text("channelId"),
        notify_url: text("notifyUrl"),
        notify_type: NotifyType::parse(&text("notifyType"))
            .ok_or_else(|| BadInput::UnknownNotifyType(text("notifyType")))?,
        message_type: MessageType::parse(&text("messageType"))
            .ok_or_else(|| BadInput::UnknownMessageType(text("messageType")))?,
        whale_message: text("whaleMessage"),
    })
}

/// `part` of a message (`message`, `whaleMessage`) refused as JSON, as bad input;
/// `syntax` labels a plain syntax error.
pub fn refused(part: &'static str, why: Refusal, syntax: fn(String) -> BadInput) -> BadInput {
    match why {
        Refusal::TooDeep => BadInput::TooDeep { part },
        Refusal::Syntax(reason) => syntax(reason),
        Refusal::DuplicateKey(detail) => BadInput::DuplicateKey { part, detail },
    }
}

/// WHALE sends `application/json` or nothing; a charset parameter is fine.
fn is_json_content_type(ct: &str) -> bool {
    let mime = ct.split(';').next().unwrap_or_default().trim();
    mime.is_empty() || mime.eq_ignore_ascii_case("application/json")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"channelId":"c","notifyUrl":"https://x.example/n","notifyType":"Verify","messageType":"ebuy","whaleMessage":"{\"bizContent\":\"{}\"}"}"#;

    fn parse(body: &str) -> Result<QueueMessage, BadInput> {
        queue_message(body.as_bytes(), None, 1024, &Schemas::load())
    }

    #[test]
    fn parses_a_good_message() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.notify_type, NotifyType::Verify);
        assert_eq!(m.message_type, MessageType::Ebuy);
        assert_eq!(m.channel_id, "c");
    }

    #[test]
    fn each_bad_input_has_its_reason() {
        assert_eq!(parse("nope").unwrap_err().code(), "not-json");
        assert_eq!(parse("[1]").unwrap_err(), BadInput::NotObject);
        let big = "x".repeat(2000);
        assert_eq!(parse(&big).unwrap_err().code(), "too-large");
        let unknown = GOOD.replace("\"Verify\"", "\"Explode\"");
        assert_eq!(
            parse(&unknown).unwrap_err(),
            BadInput::UnknownNotifyType("Explode".into())
        );
        let third = GOOD.replace("\"ebuy\"", "\"xml\"");
        assert_eq!(parse(&third).unwrap_err().code(), "unknown-message-type");
        let ct = queue_message(GOOD.as_bytes(), Some("text/xml"), 1024, &Schemas::load());
        assert_eq!(ct.unwrap_err().code(), "content-type");
        let ok = queue_message(
            GOOD.as_bytes(),
            Some("application/json; charset=utf-8"),
            1024,
            &Schemas::load(),
        );
        assert!(ok.is_ok());
    }

    #[test]
    fn deep_and_duplicate_json_is_refused_before_use() {
        let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
        assert_eq!(
            parse(&deep).unwrap_err(),
            BadInput::TooDeep { part: "message" }
        );
        let dup = GOOD.replace(
            "{\"channelId\":\"c\"",
            "{\"channelId\":\"c\",\"channelId\":\"d\"",
        );
        assert_eq!(parse(&dup).unwrap_err().code(), "duplicate-key");
        assert_eq!(parse("{\"a\":").unwrap_err().code(), "not-json");
        assert_eq!(parse("\u{feff}{}").unwrap_err().code(), "not-json");
    }

    #[test]
    fn header_values_are_one_bounded_line() {
        let e = BadInput::UnknownChannel(format!("a\r\nb{}", "x".repeat(5000)));
        let v = e.header_value();
        assert!(!v.contains(['\r', '\n']));
        assert_eq!(v.chars().count(), MAX_REASON_CHARS + 1);
    }

    #[test]
    fn header_value_starts_with_the_code() {
        let e = BadInput::MissingField("notifyUrl".into());
        assert_eq!(e.header_value(), "missing-field: missing field `notifyUrl`");
    }
}
