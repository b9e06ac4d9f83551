//! Voucher secrets (codes' passwords and the like) hidden wherever a message is shown:
//! the configured JSON pointers into `bizContent` name the secret fields, and every
//! occurrence of their values in a text to show becomes [`MASK`].
//!
//! Masking by value, not by field, also hides a secret where a template moved it (a
//! brand's `card_password`) or where it sits inside a string to sign.

use serde_json::Value;

/// What a secret value shows as.
pub const MASK: &str = "******";

/// The fields masked when the configuration names none: the presets' password fields.
pub const DEFAULT_MASK: [&str; 2] = ["/codePwd", "/codes/*/codePwd"];

/// Secrets shorter than this are masked only where they stand as a whole JSON string
/// (`"123"`), so masking a PIN of three digits does not blank every such run of digits.
const SHORT: usize = 4;

/// Why a mask pointer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a JSON pointer (it must start with `/`; `*` stands for every element)")]
pub struct MaskError(pub String);

/// The fields whose values are secrets: JSON pointers into `bizContent`, where a `*`
/// segment stands for every element of an array (or member of an object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    pointers: Vec<Vec<String>>,
}

impl Default for Mask {
    fn default() -> Self {
        Self::new(DEFAULT_MASK).expect("the default mask pointers are valid")
    }
}

impl Mask {
    /// Parses the pointers; each must start with `/`.
    pub fn new<I, S>(pointers: I) -> Result<Self, MaskError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let pointers = pointers
            .into_iter()
            .map(|p| {
                let p = p.as_ref();
                let rest = p.strip_prefix('/').ok_or_else(|| MaskError(p.to_owned()))?;
                Ok(rest
                    .split('/')
                    .map(|s| s.replace("~1", "/").replace("~0", "~"))
                    .collect())
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { pointers })
    }

    /// The secret values in one `bizContent`.
    pub fn secrets(&self, biz: &Value) -> Vec<String> {
        let mut found = Vec::new();
        for pointer in &self.pointers {
            collect(biz, pointer, &mut found);
        }
        found.sort_by_key(|s| std::cmp::Reverse(s.len()));
        found.dedup();
        found
    }

    /// `text` with every secret of `biz` masked.
    pub fn apply(&self, biz: Option<&Value>, text: &str) -> String {
        let secrets = biz.map(|b| self.secrets(b)).unwrap_or_default();
        hide(&secrets, text)
    }
}

/// `text` with each of `secrets` (longest first) replaced by [`MASK`].
pub fn hide(secrets: &[String], text: &str) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        if secret.chars().count() >= SHORT {
            out = out.replace(secret.as_str(), MASK);
        } else {
            out = out.replace(&format!("\"{secret}\""), &format!("\"{MASK}\""));
        }
    }
    out
}

fn collect(value: &Value, path: &[String], found: &mut Vec<String>) {
    let Some((head, rest)) = path.split_first() else {
        match value {
            Value::String(s) if !s.is_empty() => found.push(s.clone()),
            Value::Number(n) => found.push(n.to_string()),
            _ => {}
        }
        return;
    };
    match (value, head.as_str()) {
        (Value::Array(items), "*") => items.iter().for_each(|v| collect(v, rest, found)),
        (Value::Object(map), "*") => map.values().for_each(|v| collect(v, rest, found)),
        (Value::Array(items), index) => {
            if let Some(v) = index.parse::<usize>().ok().and_then(|i| items.get(i)) {
                collect(v, rest, found);
            }
        }
        (Value::Object(map), key) => {
            if let Some(v) = map.get(key) {
                collect(v, rest, found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_hide_code_passwords_wherever_they_appear() {
        let biz = json!({"codeNo": "C1", "codePwd": "PIN-7788",
            "codes": [{"codeNo": "C2", "codePwd": "K3Y-2"}, {"codeNo": "C3"}]});
        let mask = Mask::default();
        assert_eq!(mask.secrets(&biz), ["PIN-7788", "K3Y-2"]);
        let shown = mask.apply(
            Some(&biz),
            r#"card_password=PIN-7788&x={"codePwd":"K3Y-2","codeNo":"C2"}"#,
        );
        assert_eq!(
            shown,
            r#"card_password=******&x={"codePwd":"******","codeNo":"C2"}"#
        );
    }

    #[test]
    fn short_secrets_are_masked_only_as_whole_strings() {
        let biz = json!({"codePwd": "12"});
        let shown = Mask::default().apply(Some(&biz), r#"{"codePwd":"12","faceValue":"12.00"}"#);
        assert_eq!(shown, r#"{"codePwd":"******","faceValue":"12.00"}"#);
    }

    #[test]
    fn pointers_must_be_pointers() {
        assert_eq!(
            Mask::new(["codePwd"]).unwrap_err().to_string(),
            "`codePwd` is not a JSON pointer (it must start with `/`; `*` stands for every element)"
        );
        let mask = Mask::new(["/a~1b/0"]).unwrap();
        assert_eq!(mask.secrets(&json!({"a/b": ["s3cret"]})), ["s3cret"]);
    }
}
