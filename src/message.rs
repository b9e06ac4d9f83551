//! Domain types of one notification: the queue message (SPEC §1) and its parts.

use std::fmt;

/// The seven notification kinds WHALE publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyType {
    MakeCode,
    MakeVoid,
    UpdateCodeStatus,
    CodeDelay,
    CodeExpire,
    Verify,
    VerifyVoid,
}

impl NotifyType {
    /// Every notify type, in the order SPEC §1 lists them.
    pub const ALL: [NotifyType; 7] = [
        NotifyType::MakeCode,
        NotifyType::MakeVoid,
        NotifyType::UpdateCodeStatus,
        NotifyType::CodeDelay,
        NotifyType::CodeExpire,
        NotifyType::Verify,
        NotifyType::VerifyVoid,
    ];

    /// The wire name used in the queue message's `notifyType`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyType::MakeCode => "MakeCode",
            NotifyType::MakeVoid => "MakeVoid",
            NotifyType::UpdateCodeStatus => "UpdateCodeStatus",
            NotifyType::CodeDelay => "CodeDelay",
            NotifyType::CodeExpire => "CodeExpire",
            NotifyType::Verify => "Verify",
            NotifyType::VerifyVoid => "VerifyVoid",
        }
    }

    /// The standard message's `action` for this type (SPEC §1).
    pub fn action(self) -> &'static str {
        match self {
            NotifyType::MakeCode => "MakeCodeNotify",
            NotifyType::MakeVoid => "MakeVoidNotify",
            NotifyType::UpdateCodeStatus => "UpdateCodeStatusNotify",
            NotifyType::CodeDelay => "CodeDelayNotify",
            NotifyType::CodeExpire => "CodeExpireNotify",
            NotifyType::Verify => "VerifyNotify",
            NotifyType::VerifyVoid => "VerifyVoidNotify",
        }
    }

    /// Parses the wire name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for NotifyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which format the brand receives: the ebuy standard message or its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    Ebuy,
    Third,
}

impl MessageType {
    /// The wire name used in `messageType`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Ebuy => "ebuy",
            MessageType::Third => "third",
        }
    }

    /// Parses the wire name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ebuy" => Some(MessageType::Ebuy),
            "third" => Some(MessageType::Third),
            _ => None,
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message's identity, stable across retries: the AMQP `message_id`, else a body hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageId(String);

impl MessageId {
    /// Uses the publisher's id when it gave a non-empty one, else hashes the body.
    pub fn from_delivery(amqp_message_id: Option<&str>, body: &[u8]) -> Self {
        match amqp_message_id {
            Some(id) if !id.is_empty() => Self(id.to_owned()),
            _ => Self::of_body(body),
        }
    }

    /// The first 128 bits of the body's SHA-256, as hex: the same body always has the same id.
    pub fn of_body(body: &[u8]) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(body);
        Self(hex::encode(&digest[..16]))
    }

    /// The id as text, exactly as the publisher gave it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the id can travel as the `X-Notify-Id` header and be stored by a brand:
    /// 1 to [`MAX_MESSAGE_ID_BYTES`] visible ASCII characters. A CR or LF would split the
    /// header; other controls, spaces and non-ASCII are refused or mangled by HTTP stacks.
    pub fn check(&self) -> Result<(), IdProblem> {
        let bytes = self.0.as_bytes();
        if bytes.len() > MAX_MESSAGE_ID_BYTES {
            return Err(IdProblem::TooLong { len: bytes.len() });
        }
        match bytes.iter().position(|b| !b.is_ascii_graphic()) {
            Some(at) => Err(IdProblem::Character {
                at,
                byte: bytes[at],
            }),
            None => Ok(()),
        }
    }
}

/// The longest AMQP `message_id` accepted (AMQP itself allows 255 bytes).
pub const MAX_MESSAGE_ID_BYTES: usize = 128;

/// Why a message id cannot be used; never quotes the id (it may hold CR/LF).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdProblem {
    #[error("message id is {len} bytes, over the {MAX_MESSAGE_ID_BYTES}-byte limit")]
    TooLong { len: usize },
    #[error("message id has byte 0x{byte:02x} at offset {at}; only visible ASCII is allowed")]
    Character { at: usize, byte: u8 },
}

impl fmt::Display for MessageId {
    /// Control characters escaped: an id with a CR/LF cannot forge a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// Message-supplied text as it may appear in a log line or a parked message's header:
/// at most 64 characters, control characters and line separators escaped, so no field
/// can flood a header or forge a log line.
pub fn excerpt(text: &str) -> String {
    const MAX_CHARS: usize = 64;
    let mut out = String::with_capacity(text.len().min(MAX_CHARS + 8));
    for (i, c) in text.chars().enumerate() {
        if i == MAX_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Where a message is in its retry schedule, as carried in its AMQP headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for a fresh message; `x-notify-attempt` on a retried one.
    pub number: u32,
    /// Epoch ms of the first attempt, once there has been one.
    pub first_at_ms: Option<u64>,
    /// Times it was deferred unattempted because its channel was stalled.
    pub deferrals: u32,
    /// Epoch ms it was first deferred because its channel was stalled (a pause resets it).
    pub first_stalled_at_ms: Option<u64>,
}

impl Attempt {
    /// A message that has never been tried.
    pub const FIRST: Attempt = Attempt {
        number: 1,
        first_at_ms: None,
        deferrals: 0,
        first_stalled_at_ms: None,
    };
}

/// A validated queue message (SPEC §1).
#[derive(Debug, Clone, PartialEq)]
pub struct QueueMessage {
    pub channel_id: String,
    pub notify_url: String,
    pub notify_type: NotifyType,
    pub message_type: MessageType,
    /// The ebuy standard message, still as the JSON text WHALE sent.
    pub whale_message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_types_round_trip_and_map_to_actions() {
        for t in NotifyType::ALL {
            assert_eq!(NotifyType::parse(t.as_str()), Some(t));
            assert_eq!(t.action(), format!("{}Notify", t.as_str()));
        }
        assert_eq!(NotifyType::parse("makecode"), None);
    }

    #[test]
    fn excerpts_are_short_and_single_line() {
        assert_eq!(excerpt("a\r\nb\u{0}\u{2028}"), "a\\r\\nb\\u{0}\\u{2028}");
        let long = excerpt(&"é".repeat(1000));
        assert_eq!(long.chars().count(), 65);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn message_ids_must_fit_a_header() {
        let id = |s: &str| MessageId::from_delivery(Some(s), b"");
        assert_eq!(id("m-1_a:b/c").check(), Ok(()));
        assert_eq!(MessageId::of_body(b"x").check(), Ok(()));
        assert_eq!(
            id("a\r\nX-Evil: 1").check(),
            Err(IdProblem::Character { at: 1, byte: 0x0d })
        );
        assert_eq!(
            id("a b").check(),
            Err(IdProblem::Character { at: 1, byte: b' ' })
        );
        assert!(id("é").check().is_err());
        assert_eq!(
            id(&"x".repeat(129)).check(),
            Err(IdProblem::TooLong { len: 129 })
        );
        assert_eq!(id(&"x".repeat(128)).check(), Ok(()));
        assert_eq!(id("a\r\nb").to_string(), "a\\r\\nb");
    }

    #[test]
    fn message_id_prefers_amqp_id_and_hashes_stably() {
        assert_eq!(MessageId::from_delivery(Some("m-1"), b"x").as_str(), "m-1");
        let a = MessageId::from_delivery(None, b"{}");
        let b = MessageId::from_delivery(Some(""), b"{}");
        assert_eq!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert_ne!(a, MessageId::of_body(b"{ }"));
    }
}
