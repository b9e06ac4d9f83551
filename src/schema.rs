//! The JSON Schemas in `schemas/`, compiled once and used to check every message.
//!
//! The schema files are the contract WHALE publishes against; they are embedded in the
//! binary so a deployed bridge checks exactly the schema it was built and tested with.
//! A typed check of the same rules accepts the usual message first; whatever it does not
//! accept, the schema judges (and names the violation).

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::Validator;
use serde_json::Value;

use crate::message::{MessageType, NotifyType};

const QUEUE_MESSAGE: &str = include_str!("../schemas/queue-message.schema.json");
const STANDARD_MESSAGE: &str = include_str!("../schemas/standard-message.schema.json");

/// The first way a document broke its schema, in terms an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A required field is absent.
    Missing(String),
    /// A field has the wrong JSON type; `expected` names the allowed types.
    WrongType { field: String, expected: String },
    /// A field holds a value outside its allowed set (enum), or fails another constraint.
    Invalid { field: String, value: String },
}

/// Both compiled schemas.
pub struct Schemas {
    queue_message: Validator,
    standard_message: Validator,
}

impl Schemas {
    /// Compiles the embedded schemas; they are tested, so failure is a build defect.
    pub fn load() -> Self {
        Self {
            queue_message: compile(QUEUE_MESSAGE),
            standard_message: compile(STANDARD_MESSAGE),
        }
    }

    /// Checks a queue message (SPEC §1).
    pub fn check_queue_message(&self, doc: &Value) -> Result<(), Violation> {
        if queue_message_holds(doc) {
            return Ok(());
        }
        first_violation(&self.queue_message, doc, "")
    }

    /// Checks a standard message; field names are reported under `whaleMessage.`.
    pub fn check_standard_message(&self, doc: &Value) -> Result<(), Violation> {
        if standard_message_holds(doc) {
            return Ok(());
        }
        first_violation(&self.standard_message, doc, "whaleMessage.")
    }
}

/// The typed form of `schemas/queue-message.schema.json`: true only for a document the
/// schema accepts. It checks what the schema says field by field, without the general
/// validator's walk; anything it does not accept goes to the validator, which gives the
/// verdict and names the violation, so the schema stays the contract. A test holds the two
/// to the same answers over a corpus of documents.
fn queue_message_holds(doc: &Value) -> bool {
    let Value::Object(fields) = doc else {
        return false;
    };
    // One look at each field, no lookups by name: a hashed lookup per field cost as much
    // as the validator's own walk.
    let mut required = 0;
    for (name, value) in fields {
        let holds = match (name.as_str(), value) {
            ("channelId" | "notifyUrl" | "whaleMessage", Value::String(s)) => !s.is_empty(),
            ("whaleMessage", Value::Object(_)) => true,
            ("notifyType", Value::String(s)) => NotifyType::parse(s).is_some(),
            ("messageType", Value::String(s)) => MessageType::parse(s).is_some(),
            ("channelId" | "notifyUrl" | "whaleMessage" | "notifyType" | "messageType", _) => false,
            _ => continue,
        };
        if !holds {
            return false;
        }
        required += 1;
    }
    // Keys are unique: five checked fields are the five required ones.
    required == 5
}

/// The typed form of `schemas/standard-message.schema.json`, as [`queue_message_holds`].
fn standard_message_holds(doc: &Value) -> bool {
    let Value::Object(fields) = doc else {
        return false;
    };
    let mut biz_content = false;
    for (name, value) in fields {
        let holds = match name.as_str() {
            "bizContent" => {
                biz_content = value.is_string() || value.is_object();
                biz_content
            }
            "appId" | "action" => value.is_string(),
            "version" => value.as_str().is_some_and(|s| !s.is_empty()),
            "timestamp" => value.is_string() || value.is_i64() || value.is_u64(),
            "sign" => value.is_string() || value.is_null(),
            _ => true,
        };
        if !holds {
            return false;
        }
    }
    biz_content
}

fn compile(text: &str) -> Validator {
    let schema: Value = serde_json::from_str(text).expect("embedded schema is valid JSON");
    jsonschema::validator_for(&schema).expect("embedded schema compiles")
}

fn first_violation(validator: &Validator, doc: &Value, prefix: &str) -> Result<(), Violation> {
    // Nearly every message is valid: `is_valid` skips building error locations.
    if validator.is_valid(doc) {
        return Ok(());
    }
    let Some(error) = validator.iter_errors(doc).next() else {
        return Ok(());
    };
    let path = error.instance_path().as_str().trim_start_matches('/');
    let field = format!("{prefix}{}", path.replace('/', "."));
    Err(match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            Violation::Missing(format!("{prefix}{name}"))
        }
        ValidationErrorKind::Type { kind } => Violation::WrongType {
            field,
            expected: type_names(kind),
        },
        _ => Violation::Invalid {
            field,
            value: short(doc.pointer(error.instance_path().as_str())),
        },
    })
}

fn type_names(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(t) => format!("{t}"),
        TypeKind::Multiple(ts) => {
            let names: Vec<String> = ts.iter().map(|t| format!("{t}")).collect();
            names.join(" or ")
        }
    }
}

/// The offending value as text, cut short and escaped so a huge field cannot flood a
/// header, nor a CR/LF forge a log line.
fn short(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => crate::message::excerpt(s),
        Some(v) => crate::message::excerpt(&v.to_string()),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({"channelId": "c", "notifyUrl": "https://x", "notifyType": "MakeCode",
               "messageType": "ebuy", "whaleMessage": "{}"})
    }

    #[test]
    fn accepts_a_valid_queue_message() {
        assert_eq!(Schemas::load().check_queue_message(&valid()), Ok(()));
    }

    #[test]
    fn names_missing_and_mistyped_fields() {
        let s = Schemas::load();
        let mut doc = valid();
        doc.as_object_mut().unwrap().remove("notifyUrl");
        assert_eq!(
            s.check_queue_message(&doc),
            Err(Violation::Missing("notifyUrl".into()))
        );
        let mut doc = valid();
        doc["channelId"] = json!(7);
        assert_eq!(
            s.check_queue_message(&doc),
            Err(Violation::WrongType {
                field: "channelId".into(),
                expected: "string".into()
            })
        );
        let mut doc = valid();
        doc["notifyType"] = json!("Nope\r\nINFO forged");
        assert_eq!(
            s.check_queue_message(&doc),
            Err(Violation::Invalid {
                field: "notifyType".into(),
                value: "Nope\\r\\nINFO forged".into()
            })
        );
        doc["notifyType"] = json!("Nope");
        assert_eq!(
            s.check_queue_message(&doc),
            Err(Violation::Invalid {
                field: "notifyType".into(),
                value: "Nope".into()
            })
        );
    }

    /// The typed checks and the schemas give the same verdict on every document here; a
    /// typed accept the schema refuses would let through what the contract forbids.
    #[test]
    fn typed_checks_agree_with_the_schemas() {
        let s = Schemas::load();
        let queue = [
            r#"{"channelId":"c","notifyUrl":"https://x","notifyType":"MakeCode","messageType":"ebuy","whaleMessage":"{}"}"#,
            r#"{"channelId":"c","notifyUrl":"u","notifyType":"VerifyVoid","messageType":"third","whaleMessage":{"a":1},"extra":[1]}"#,
            r#"{"channelId":"","notifyUrl":"u","notifyType":"Verify","messageType":"ebuy","whaleMessage":"{}"}"#,
            r#"{"channelId":"c","notifyUrl":"","notifyType":"Verify","messageType":"ebuy","whaleMessage":"{}"}"#,
            r#"{"channelId":"c","notifyUrl":"u","notifyType":"verify","messageType":"ebuy","whaleMessage":"{}"}"#,
            r#"{"channelId":"c","notifyUrl":"u","notifyType":"Verify","messageType":"EBUY","whaleMessage":"{}"}"#,
            r#"{"channelId":"c","notifyUrl":"u","notifyType":"Verify","messageType":"ebuy","whaleMessage":""}"#,
            r#"{"channelId":"c","notifyUrl":"u","notifyType":"Verify","messageType":"ebuy","whaleMessage":[]}"#,
            r#"{"channelId":"c","notifyUrl":"u","notifyType":"Verify","messageType":"ebuy","whaleMessage":null}"#,
            r#"{"channelId":7,"notifyUrl":"u","notifyType":"Verify","messageType":"ebuy","whaleMessage":"{}"}"#,
            r#"{"channelId":"c","notifyType":"Verify","messageType":"ebuy","whaleMessage":"{}"}"#,
            r#"{"channelId":"c","notifyUrl":"u","notifyType":"Verify","messageType":"ebuy"}"#,
            r#"{"channelId":"商","notifyUrl":"u","notifyType":"CodeExpire","messageType":"ebuy","whaleMessage":"x"}"#,
            r#"[]"#,
            r#""text""#,
        ];
        let standard = [
            r#"{"bizContent":"{}"}"#,
            r#"{"bizContent":{"a":0.10},"appId":"A","action":"MakeCodeNotify","version":"1.0","timestamp":"1700000000000","sign":"S"}"#,
            r#"{"bizContent":"{}","timestamp":1700000000000,"sign":null,"extra":{"x":[1]}}"#,
            r#"{"bizContent":"{}","timestamp":-5}"#,
            r#"{"bizContent":"{}","timestamp":1.5}"#,
            r#"{"bizContent":"{}","timestamp":true}"#,
            r#"{"bizContent":"{}","version":""}"#,
            r#"{"bizContent":"{}","version":2}"#,
            r#"{"bizContent":"{}","appId":null}"#,
            r#"{"bizContent":"{}","action":1}"#,
            r#"{"bizContent":"{}","sign":1}"#,
            r#"{"bizContent":5}"#,
            r#"{"bizContent":null}"#,
            r#"{"bizContent":[]}"#,
            r#"{}"#,
            r#"[]"#,
        ];
        let cases = queue
            .iter()
            .map(|t| {
                (
                    t,
                    queue_message_holds as fn(&Value) -> bool,
                    &s.queue_message,
                )
            })
            .chain(standard.iter().map(|t| {
                (
                    t,
                    standard_message_holds as fn(&Value) -> bool,
                    &s.standard_message,
                )
            }));
        let mut accepted = 0;
        for (text, typed, schema) in cases {
            let doc: Value = serde_json::from_str(text).unwrap();
            assert_eq!(typed(&doc), schema.is_valid(&doc), "{text}");
            accepted += usize::from(typed(&doc));
        }
        assert_eq!(
            accepted, 7,
            "the corpus holds accepted documents of both kinds"
        );
    }

    #[test]
    fn standard_message_fields_are_prefixed() {
        let s = Schemas::load();
        assert_eq!(
            s.check_standard_message(&json!({"bizContent": 5})),
            Err(Violation::WrongType {
                field: "whaleMessage.bizContent".into(),
                expected: "string or object".into()
            })
        );
        assert_eq!(
            s.check_standard_message(&json!({})),
            Err(Violation::Missing("whaleMessage.bizContent".into()))
        );
    }
}
