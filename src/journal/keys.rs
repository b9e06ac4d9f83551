//! Business keys: named values (order number, code number…) taken from each message's
//! `bizContent` by JSON pointer when it is journalled, so an operator can find a message
//! by what the brand calls it instead of by its message id.
//!
//! Extraction runs in the journal's writer task, never on the delivery path, and parses
//! only what it must: the queue message's `whaleMessage` text, then its `bizContent`.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::Value;

use super::entry::Entry;
use super::store::originals;

/// The longest key value kept; longer values are cut (at a character boundary), since a
/// key is for finding a message, not for keeping its data.
pub const VALUE_LIMIT: usize = 128;

/// The keys extracted when the configuration names none.
pub const DEFAULT_KEYS: [(&str, &str); 3] = [
    ("orderNo", "/orderNo"),
    ("codeNo", "/codeNo"),
    ("outOrderNo", "/outOrderNo"),
];

/// Why a key definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key name `{0}` must be 1 to 64 letters, digits, `_` or `-`")]
    Name(String),
    #[error("key `{name}`: `{pointer}` is not a JSON pointer (it must start with `/`)")]
    Pointer { name: String, pointer: String },
}

/// One named key: its name and where it sits in `bizContent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    pub pointer: String,
}

/// Which keys to extract: the journal-wide list and each channel's own, which replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    default: Vec<Key>,
    channels: HashMap<String, Vec<Key>>,
}

impl Default for KeySpec {
    /// [`DEFAULT_KEYS`] for every channel.
    fn default() -> Self {
        let default = DEFAULT_KEYS
            .iter()
            .map(|(name, pointer)| Key {
                name: (*name).to_owned(),
                pointer: (*pointer).to_owned(),
            })
            .collect();
        Self {
            default,
            channels: HashMap::new(),
        }
    }
}

/// One extracted key of one message, as the journal stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub message_id: String,
    pub name: String,
    pub value: String,
}

impl KeySpec {
    /// The journal-wide keys from `name = "pointer"` pairs; `None` keeps [`DEFAULT_KEYS`].
    pub fn new(keys: Option<&BTreeMap<String, String>>) -> Result<Self, KeyError> {
        let mut spec = Self::default();
        if let Some(keys) = keys {
            spec.default = checked(keys)?;
        }
        Ok(spec)
    }

    /// Gives `channel` its own keys, in place of the journal-wide ones.
    pub fn set_channel(
        &mut self,
        channel: &str,
        keys: &BTreeMap<String, String>,
    ) -> Result<(), KeyError> {
        self.channels.insert(channel.to_owned(), checked(keys)?);
        Ok(())
    }

    /// The keys that apply to messages of `channel`.
    pub fn for_channel(&self, channel: Option<&str>) -> &[Key] {
        channel
            .and_then(|c| self.channels.get(c))
            .unwrap_or(&self.default)
    }

    /// The names of every key any channel extracts, sorted, for the console's search form.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .default
            .iter()
            .chain(self.channels.values().flatten())
            .map(|k| k.name.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The `(name, value)` pairs of one queue message; empty when it holds none (or is not
    /// the JSON it should be: a bad message is still journalled, just not findable by key).
    pub fn extract(&self, channel: Option<&str>, body: &[u8]) -> Vec<(String, String)> {
        let keys = self.for_channel(channel);
        if keys.is_empty() {
            return Vec::new();
        }
        let Some(biz) = biz_content(body) else {
            return Vec::new();
        };
        keys.iter()
            .filter_map(|key| {
                let value = text(biz.pointer(&key.pointer)?)?;
                Some((key.name.clone(), value))
            })
            .collect()
    }
}

impl KeySpec {
    /// The key rows of a batch: one set per original carried (its message's first record).
    pub(super) fn rows(&self, batch: &[Entry]) -> Vec<KeyRow> {
        let mut rows = Vec::new();
        for (entry, original) in originals(batch) {
            for (name, value) in self.extract(entry.channel.as_deref(), &original.body) {
                rows.push(KeyRow {
                    message_id: entry.message_id.clone(),
                    name,
                    value,
                });
            }
        }
        rows
    }
}

fn checked(keys: &BTreeMap<String, String>) -> Result<Vec<Key>, KeyError> {
    keys.iter()
        .map(|(name, pointer)| {
            let name_ok = (1..=64).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !name_ok {
                return Err(KeyError::Name(name.clone()));
            }
            if !pointer.starts_with('/') {
                return Err(KeyError::Pointer {
                    name: name.clone(),
                    pointer: pointer.clone(),
                });
            }
            Ok(Key {
                name: name.clone(),
                pointer: pointer.clone(),
            })
        })
        .collect()
}

/// The queue message, reading nothing but `whaleMessage` (every other field is skipped
/// unparsed).
#[derive(Deserialize)]
struct Queued {
    #[serde(rename = "whaleMessage")]
    whale: Option<Value>,
}

#[derive(Deserialize)]
struct Whale {
    #[serde(rename = "bizContent")]
    biz: Option<Value>,
}

/// `bizContent` as a JSON value, whether it was sent as an object or as JSON text, in a
/// `whaleMessage` that is JSON text (as WHALE sends it) or an object.
pub fn biz_content(body: &[u8]) -> Option<Value> {
    let biz = match serde_json::from_slice::<Queued>(body).ok()?.whale? {
        Value::String(text) => serde_json::from_str::<Whale>(&text).ok()?.biz?,
        Value::Object(mut whale) => whale.remove("bizContent")?,
        _ => return None,
    };
    parsed(biz)
}

/// `bizContent` of a `whaleMessage` given as its JSON text.
pub fn biz_of_whale(whale: &str) -> Option<Value> {
    parsed(serde_json::from_str::<Whale>(whale).ok()?.biz?)
}

/// `bizContent` sent as JSON text is parsed; an object is taken as it is.
fn parsed(biz: Value) -> Option<Value> {
    match biz {
        Value::String(text) => serde_json::from_str(&text).ok(),
        other => Some(other),
    }
}

/// A scalar as the text an operator would type; objects and arrays are no key.
fn text(value: &Value) -> Option<String> {
    let mut text = match value {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    super::entry::truncate(&mut text, VALUE_LIMIT);
    Some(text)
}

/// The exclusive upper bound of a prefix search: every text starting with `prefix` sorts
/// at or after `prefix` and before this, bytewise (SQLite's BINARY, PostgreSQL's "C").
pub fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(whale: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "channelId": "shop",
            "notifyUrl": "https://brand.example/notify",
            "notifyType": "MakeCode",
            "messageType": "ebuy",
            "whaleMessage": whale,
        }))
        .unwrap()
    }

    #[test]
    fn default_keys_come_from_biz_content_as_object_or_text() {
        let spec = KeySpec::default();
        let object =
            message(r#"{"appId":"W","bizContent":{"orderNo":"WO2025001","codeNo":12345678901}}"#);
        assert_eq!(
            spec.extract(Some("shop"), &object),
            vec![
                ("orderNo".to_owned(), "WO2025001".to_owned()),
                ("codeNo".to_owned(), "12345678901".to_owned()),
            ]
        );
        let text = message(r#"{"appId":"W","bizContent":"{\"outOrderNo\":\"X-1\"}"}"#);
        assert_eq!(
            spec.extract(None, &text),
            vec![("outOrderNo".to_owned(), "X-1".to_owned())]
        );
    }

    #[test]
    fn a_channel_override_replaces_the_defaults() {
        let mut spec = KeySpec::new(None).unwrap();
        let own = BTreeMap::from([("ticket".to_owned(), "/order/ticket".to_owned())]);
        spec.set_channel("cinema", &own).unwrap();
        let body = message(r#"{"bizContent":{"orderNo":"A","order":{"ticket":"T9"}}}"#);
        assert_eq!(
            spec.extract(Some("cinema"), &body),
            vec![("ticket".to_owned(), "T9".to_owned())]
        );
        assert_eq!(
            spec.extract(Some("shop"), &body),
            vec![("orderNo".to_owned(), "A".to_owned())]
        );
        assert_eq!(spec.names(), ["codeNo", "orderNo", "outOrderNo", "ticket"]);
    }

    #[test]
    fn junk_yields_no_keys_and_long_values_are_cut() {
        let spec = KeySpec::default();
        assert!(spec.extract(None, b"not json").is_empty());
        assert!(spec.extract(None, &message("not json either")).is_empty());
        assert!(spec
            .extract(None, &message(r#"{"bizContent":{"orderNo":{"a":1}}}"#))
            .is_empty());
        let long = format!(r#"{{"bizContent":{{"orderNo":"{}"}}}}"#, "订".repeat(100));
        let keys = spec.extract(None, &message(&long));
        assert_eq!(keys[0].1.len(), 126);
    }

    #[test]
    fn bad_definitions_are_refused_with_their_reason() {
        let bad_name = BTreeMap::from([("order no".to_owned(), "/orderNo".to_owned())]);
        assert_eq!(
            KeySpec::new(Some(&bad_name)).unwrap_err().to_string(),
            "key name `order no` must be 1 to 64 letters, digits, `_` or `-`"
        );
        let bad_pointer = BTreeMap::from([("orderNo".to_owned(), "orderNo".to_owned())]);
        assert_eq!(
            KeySpec::new(Some(&bad_pointer)).unwrap_err().to_string(),
            "key `orderNo`: `orderNo` is not a JSON pointer (it must start with `/`)"
        );
    }

    #[test]
    fn prefix_bounds_hold_every_continuation() {
        let end = prefix_end("WO20");
        for text in ["WO20", "WO2025", "WO20\u{FFFF}", "WO20订单"] {
            assert!(text >= "WO20" && text < end.as_str(), "{text}");
        }
        assert!("WO21" > end.as_str());
    }
}
