//! Naming the field a failed render lacked. minijinja reports an undefined value with its
//! line only; the paths the template writes on that line (`biz.card`, `message.appId`,
//! `appId`) are looked up in the message, and those it lacks are named. Only template text
//! is named, never a message's values. Runs on the failure path alone.

use serde_json::{Map, Value};

/// Names in the context that come from the message (the rest are always set).
const TOP_LEVEL: [&str; 4] = ["appId", "action", "version", "timestamp"];

/// The paths on `line` (1-based) of `source` that `standard` lacks, each cut at its first
/// missing step, in order of appearance.
pub(super) fn fields(source: &str, line: usize, standard: &Map<String, Value>) -> Vec<String> {
    let Some(text) = source.lines().nth(line.saturating_sub(1)) else {
        return Vec::new();
    };
    let biz = match standard.get("bizContent") {
        Some(Value::String(text)) => serde_json::from_str(text).ok(),
        other => other.cloned(),
    };
    let mut out: Vec<String> = Vec::new();
    for path in paths(text) {
        let mut steps = path.split('.');
        let root = steps.next().unwrap_or_default();
        let (mut at, mut walked) = match root {
            "biz" => (biz.as_ref(), "biz".to_owned()),
            "message" => (Some(&Value::Null), "message".to_owned()),
            name if TOP_LEVEL.contains(&name) => (standard.get(name), name.to_owned()),
            _ => continue,
        };
        if root == "message" {
            // `message` is the standard map itself.
            let Some(first) = steps.next() else { continue };
            walked = format!("message.{first}");
            at = standard.get(first);
        }
        for step in steps {
            let Some(found) = at else { break };
            walked = format!("{walked}.{step}");
            at = found.get(step);
        }
        if at.is_none() && !out.contains(&walked) {
            out.push(walked);
        }
    }
    out
}

/// `a.b.c` paths written on a line, outside string literals.
fn paths(line: &str) -> Vec<&str> {
    let bytes = line.as_bytes();
    let is_start = |b: u8| b.is_ascii_alphabetic() || b == b'_';
    let is_part = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
    let (mut out, mut i) = (Vec::new(), 0);
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'"' || b == b'\'' {
            // Skip the literal, honouring backslash escapes.
            i += 1;
            while i < bytes.len() && bytes[i] != b {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if is_start(b) && (i == 0 || !is_part(bytes[i - 1])) {
            let start = i;
            while i < bytes.len() && is_part(bytes[i]) {
                i += 1;
            }
            out.push(line[start..i].trim_end_matches('.'));
        } else {
            i += 1;
        }
    }
    out
}

/// `field `a`` or `fields `a`, `b``, for the error message.
pub(super) fn list(fields: &[String]) -> String {
    let quoted: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
    match quoted.len() {
        1 => format!("field {}", quoted[0]),
        _ => format!("fields {}", quoted.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standard() -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("appId".into(), "APP".into());
        m.insert(
            "bizContent".into(),
            r#"{"codeNo":"C1","order":{"no":"O1"}}"#.into(),
        );
        m
    }

    #[test]
    fn names_the_paths_on_the_line_that_the_message_lacks() {
        let source = "{\n\"a\": {{ biz.card | tojson }}, \"b\": {{ biz.codeNo }}, \"c\": {{ biz.order.no }},\n\"d\": {{ biz.order.ref.x }}, \"e\": {{ \"biz.quoted\" }}, \"f\": {{ message.sign }}, \"g\": {{ version }}\n}";
        assert_eq!(fields(source, 2, &standard()), ["biz.card"]);
        assert_eq!(
            fields(source, 3, &standard()),
            ["biz.order.ref", "message.sign", "version"]
        );
        assert!(fields(source, 1, &standard()).is_empty());
        assert!(fields(source, 9, &standard()).is_empty());
    }

    #[test]
    fn lists_read_as_a_sentence() {
        assert_eq!(list(&["biz.a".into()]), "field `biz.a`");
        assert_eq!(
            list(&["biz.a".into(), "biz.b".into()]),
            "fields `biz.a`, `biz.b`"
        );
    }
}
