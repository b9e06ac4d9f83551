//! The JSON Schemas in `schemas/`, compiled once and used to check every message.
//!
//! The schema files are the contract WHALE publishes against; they are embedded in the
//! binary so a deployed bridge checks exactly the schema it was built and tested with.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::Validator;
use serde_json::Value;

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
        first_violation(&self.queue_message, doc, "")
    }

    /// Checks a standard message; field names are reported under `whaleMessage.`.
    pub fn check_standard_message(&self, doc: &Value) -> Result<(), Violation> {
        first_violation(&self.standard_message, doc, "whaleMessage.")
    }
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
