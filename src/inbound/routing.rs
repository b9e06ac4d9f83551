//! The routing key template of a receiver, e.g. `shangzhan.{status}`.
//!
//! Placeholders name fields of the verified event (see `callback`). Values are made safe
//! for a topic exchange: a `.` would add a word to the key, so it becomes `_`, as do
//! whitespace and control characters; a missing or empty value becomes [`FALLBACK`].
//! The rendered key is cut at 255 bytes, the AMQP limit.

use std::fmt;
use std::str::FromStr;

/// What a placeholder renders as when the event has no such field (or it is empty).
pub const FALLBACK: &str = "unknown";
/// The AMQP short-string limit that routing keys are held to.
const MAX_KEY_BYTES: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(String),
}

/// A parsed routing key template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingKey {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingKeyError {
    #[error("unbalanced braces")]
    Unbalanced,
    #[error("placeholder `{{{0}}}` must be letters, digits, `_` or `-`")]
    BadName(String),
    #[error("longer than {MAX_KEY_BYTES} bytes")]
    TooLong,
}

impl FromStr for RoutingKey {
    type Err = RoutingKeyError;

    fn from_str(text: &str) -> Result<Self, RoutingKeyError> {
        if text.len() > MAX_KEY_BYTES {
            return Err(RoutingKeyError::TooLong);
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err(RoutingKeyError::Unbalanced);
            }
            push_literal(&mut parts, &rest[..open]);
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or(RoutingKeyError::Unbalanced)?;
            let name = &after[..close];
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                return Err(RoutingKeyError::BadName(name.chars().take(40).collect()));
            }
            parts.push(Part::Field(name.to_owned()));
            rest = &after[close + 1..];
        }
        push_literal(&mut parts, rest);
        Ok(Self { parts })
    }
}

fn push_literal(parts: &mut Vec<Part>, text: &str) {
    if !text.is_empty() {
        parts.push(Part::Literal(text.to_owned()));
    }
}

impl RoutingKey {
    /// The key for one event; `lookup` gives a placeholder's value, if the event has it.
    pub fn render<'a>(&self, lookup: impl Fn(&str) -> Option<std::borrow::Cow<'a, str>>) -> String {
        let mut key = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => key.push_str(text),
                Part::Field(name) => match lookup(name).filter(|v| !v.is_empty()) {
                    Some(value) => key.extend(value.chars().map(safe_char)),
                    None => key.push_str(FALLBACK),
                },
            }
        }
        truncate(key)
    }
}

impl fmt::Display for RoutingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                Part::Literal(text) => f.write_str(text)?,
                Part::Field(name) => write!(f, "{{{name}}}")?,
            }
        }
        Ok(())
    }
}

fn safe_char(c: char) -> char {
    if c == '.' || c.is_whitespace() || c.is_control() {
        '_'
    } else {
        c
    }
}

fn truncate(mut key: String) -> String {
    if key.len() > MAX_KEY_BYTES {
        let mut end = MAX_KEY_BYTES;
        while !key.is_char_boundary(end) {
            end -= 1;
        }
        key.truncate(end);
    }
    key
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn render(template: &str, fields: &[(&str, &str)]) -> String {
        let key: RoutingKey = template.parse().unwrap();
        key.render(|name| {
            fields
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| Cow::Owned(v.to_string()))
        })
    }

    #[test]
    fn fills_fields_and_falls_back_when_missing() {
        assert_eq!(
            render("shangzhan.{status}", &[("status", "success")]),
            "shangzhan.success"
        );
        assert_eq!(render("em.{notify_type}", &[]), "em.unknown");
        assert_eq!(render("x.{a}", &[("a", "")]), "x.unknown");
        assert_eq!(render("plain", &[]), "plain");
        assert_eq!(render("{a}-{b}", &[("a", "1"), ("b", "2")]), "1-2");
    }

    #[test]
    fn values_cannot_add_topic_words() {
        assert_eq!(render("p.{s}", &[("s", "a.b c\n#*审核")]), "p.a_b_c_#*审核");
        let long = "x".repeat(300);
        assert_eq!(render("{s}", &[("s", &long)]).len(), 255);
        assert_eq!(render("{s}", &[("s", &"审".repeat(100))]).len(), 255);
    }

    #[test]
    fn templates_are_validated() {
        for (bad, err) in [
            ("a.{", RoutingKeyError::Unbalanced),
            ("a.}", RoutingKeyError::Unbalanced),
            ("a.{}", RoutingKeyError::BadName(String::new())),
            ("a.{x y}", RoutingKeyError::BadName("x y".into())),
        ] {
            assert_eq!(bad.parse::<RoutingKey>(), Err(err), "{bad}");
        }
        let key: RoutingKey = "em.{notify_type}".parse().unwrap();
        assert_eq!(key.to_string(), "em.{notify_type}");
    }
}
