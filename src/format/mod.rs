//! Formatters: what body a brand receives for a message (SPEC §4), and how it is encoded.

mod ebuy;
pub mod template;

pub use ebuy::standard_message;
pub use template::{TemplateContext, TemplateError, TemplateFormatter};

use serde_json::{Map, Value};

/// How the body's fields travel on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    /// `application/json`, compact, fields in order.
    Json,
    /// `application/x-www-form-urlencoded`; non-string values as their compact JSON text.
    Form,
}

/// Why a received body could not be read back into fields.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("body is not a JSON object")]
    NotJsonObject,
    #[error("body is not form-urlencoded: {0}")]
    NotForm(String),
}

impl BodyEncoding {
    /// The `Content-Type` header value.
    pub fn content_type(self) -> &'static str {
        match self {
            BodyEncoding::Json => "application/json; charset=utf-8",
            BodyEncoding::Form => "application/x-www-form-urlencoded; charset=utf-8",
        }
    }

    /// The exact body text for these fields.
    pub fn encode(self, fields: &Map<String, Value>) -> String {
        match self {
            BodyEncoding::Json => {
                serde_json::to_string(fields).expect("a JSON map always serialises")
            }
            BodyEncoding::Form => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                for (key, value) in fields {
                    form.append_pair(key, &field_text(value));
                }
                form.finish()
            }
        }
    }

    /// Reads a received body back into fields (form values all become strings).
    pub fn decode(self, body: &str) -> Result<Map<String, Value>, DecodeError> {
        match self {
            BodyEncoding::Json => match serde_json::from_str(body) {
                Ok(Value::Object(map)) => Ok(map),
                _ => Err(DecodeError::NotJsonObject),
            },
            BodyEncoding::Form => {
                let pairs: Vec<(String, String)> = serde_urlencoded::from_str(body)
                    .map_err(|e| DecodeError::NotForm(e.to_string()))?;
                Ok(pairs
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect())
            }
        }
    }
}

/// A field's value as text: strings raw, everything else its compact JSON.
pub fn field_text(value: &Value) -> std::borrow::Cow<'_, str> {
    match value {
        Value::String(s) => s.as_str().into(),
        other => other.to_string().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn form_round_trips_text_fields() {
        let fields: Map<String, Value> =
            serde_json::from_str(r#"{"a": "x y&z", "n": 1.50, "o": {"k": "v"}}"#).unwrap();
        let body = BodyEncoding::Form.encode(&fields);
        assert_eq!(body, "a=x+y%26z&n=1.50&o=%7B%22k%22%3A%22v%22%7D");
        let back = BodyEncoding::Form.decode(&body).unwrap();
        assert_eq!(back["a"], "x y&z");
        assert_eq!(back["n"], "1.50");
    }

    #[test]
    fn json_keeps_order_and_number_text() {
        let fields: Map<String, Value> = serde_json::from_str(r#"{"z":0.10,"a":"b"}"#).unwrap();
        assert_eq!(BodyEncoding::Json.encode(&fields), r#"{"z":0.10,"a":"b"}"#);
        assert!(BodyEncoding::Json.decode("[1]").is_err());
    }
}
