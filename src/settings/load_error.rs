//! Config-file errors retold without the values they quote: a TOML syntax error or a
//! type mismatch on a line that holds a secret must not print the secret (SPEC §7).
//!
//! The `config` crate's messages quote the offending text: the TOML parser shows the
//! source line with a caret under it, and a type mismatch prints the value it got
//! (`invalid type: string "…", expected struct RawRetry`). Operators need the key, the
//! line and what was expected; never the value.

use config::ConfigError;

/// The message of `error`, with every quoted value and source excerpt left out.
pub fn describe(error: &ConfigError) -> String {
    match error {
        ConfigError::FileParse { uri, cause } => {
            let place = uri
                .as_deref()
                .map(|u| format!(" in {u}"))
                .unwrap_or_default();
            format!("{}{place}", without_excerpt(&cause.to_string()))
        }
        ConfigError::Type {
            unexpected,
            expected,
            key,
            ..
        } => {
            let at = key.as_deref().map(|k| format!("{k}: ")).unwrap_or_default();
            format!(
                "{at}invalid type: {}, expected {expected}",
                kind_only(&unexpected.to_string())
            )
        }
        ConfigError::At { error, key, .. } => match key {
            Some(key) => format!("{key}: {}", describe(error)),
            None => describe(error),
        },
        ConfigError::Message(message) => without_quoted_strings(message),
        other => without_quoted_strings(&other.to_string()),
    }
}

/// Drops the source excerpt a TOML parse error carries: its gutter lines (`  |`,
/// `2 | key = "value"`) and caret lines. Keeps the position and the parser's verdict.
pub fn without_excerpt(text: &str) -> String {
    let kept: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !is_gutter_line(line))
        .collect();
    without_quoted_strings(&kept.join(": "))
}

fn is_gutter_line(line: &str) -> bool {
    let after_number = line.trim_start_matches(|c: char| c.is_ascii_digit());
    after_number.trim_start().starts_with('|')
}

/// `string "hunter2"` → `a string`; `64-bit integer `5`` → `64-bit integer`.
fn kind_only(unexpected: &str) -> String {
    let kind = match unexpected.find(" `").or_else(|| unexpected.find(" \"")) {
        Some(at) => &unexpected[..at],
        None => unexpected,
    };
    match kind {
        "string" => "a string".to_owned(),
        other => other.to_owned(),
    }
}

/// serde's own messages quote a string value as `string "…"`; the value goes.
fn without_quoted_strings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("string \"") {
        out.push_str(&rest[..at]);
        out.push_str("a string");
        let value = &rest[at + "string \"".len()..];
        rest = match closing_quote(value) {
            Some(end) => &value[end + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// The index of the `"` closing a Rust-`Debug`-quoted string (escapes skipped).
fn closing_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "Hunter2-\\\"-Secret";

    fn load(toml: &str) -> String {
        let error = config::Config::builder()
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize::<super::super::raw::RawSettings>())
            .unwrap_err();
        describe(&error)
    }

    #[test]
    fn toml_syntax_errors_keep_the_position_not_the_line() {
        let got = load("[channels.a]\nsigner = { secret = \"Hunter2 }\n");
        assert!(
            got.starts_with("TOML parse error at line 2, column"),
            "{got}"
        );
        assert!(got.contains("unclosed inline table"), "{got}");
        assert!(!got.contains("Hunter2"), "{got}");
        let got = load("[channels.a]\nsigner = { secret = \"x\", secret = \"Hunter2\" }\n");
        assert!(got.contains("duplicate key"), "{got}");
        assert!(!got.contains("Hunter2"), "{got}");
    }

    #[test]
    fn type_errors_name_the_key_and_kind_not_the_value() {
        let got = load(&format!("[channels.a]\nretry = \"{SECRET}\"\n"));
        assert_eq!(
            got,
            "channels.a.retry: invalid type: a string, expected struct RawRetry"
        );
        let got = load(&format!("[channels.a]\nsigner = \"{SECRET}\"\n"));
        assert_eq!(
            got,
            "channels.a.signer: invalid type: a string, expected a map"
        );
        let got = load("[broker]\nprefetch = \"Hunter2\"\n");
        assert_eq!(
            got,
            "broker.prefetch: invalid type: a string, expected an integer"
        );
        let got = load("[channels.a]\nsuccess = { body = [[\"Hunter2\"]] }\n");
        assert!(got.contains("channels.a.success.body"), "{got}");
        assert!(!got.contains("Hunter2"), "{got}");
    }

    #[test]
    fn unknown_keys_are_still_named() {
        let got = load("[channels.a]\nurl_policy = { hostz = \"Hunter2\" }\n");
        assert!(got.contains("unknown field `hostz`"), "{got}");
        assert!(!got.contains("Hunter2"), "{got}");
    }

    #[test]
    fn quoted_strings_are_dropped_with_their_escapes() {
        assert_eq!(
            without_quoted_strings(r#"invalid value: string "a\"b", expected x"#),
            "invalid value: a string, expected x"
        );
        assert_eq!(kind_only("64-bit integer `5`"), "64-bit integer");
        assert_eq!(kind_only("sequence"), "sequence");
    }
}
