//! What the publisher said about a body (content type and encoding), and how little of it
//! is believed.
//!
//! WHALE is a Java system: Spring AMQP's default converter labels a JSON string
//! `text/plain`, a `byte[]` goes out as `application/octet-stream`, some teams write
//! `text/json`. So the content type decides nothing; the body is JSON or it is not, and the
//! type is only named when it is not. A content *encoding* does change the bytes (gzip), so
//! anything but plain UTF-8 is refused by name rather than parsed as garbage.

use crate::message::excerpt;

/// The byte-order mark some Windows and Java tools put before UTF-8 text.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How many leading bytes a not-JSON reason shows.
const SHOWN_BYTES: usize = 24;

/// The AMQP properties that describe the body, as the publisher set them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Declared<'a> {
    /// `content_type`, e.g. `application/json` or Spring's `text/plain`.
    pub content_type: Option<&'a str>,
    /// `content_encoding`: Spring sets the charset here (`UTF-8`); gzip would be `gzip`.
    pub content_encoding: Option<&'a str>,
}

impl<'a> Declared<'a> {
    /// Only a content type, as a file or an HTTP request carries it.
    pub fn content_type(content_type: Option<&'a str>) -> Self {
        Self {
            content_type,
            content_encoding: None,
        }
    }

    /// The encoding when it is one the bridge cannot read as UTF-8 text, shortened for a
    /// header. None, `identity` and the UTF-8 charset (any case, with or without the dash)
    /// are plain.
    pub fn unreadable_encoding(&self) -> Option<String> {
        let encoding = self.content_encoding?.trim();
        let plain = encoding.is_empty()
            || ["identity", "utf-8", "utf8"]
                .iter()
                .any(|p| encoding.eq_ignore_ascii_case(p));
        (!plain).then(|| excerpt(encoding))
    }

    /// What arrived, for a not-JSON reason: the content type (or that there was none) and
    /// the first bytes, escaped so binary or CR/LF cannot reach a header or a log line.
    pub fn describe(&self, body: &[u8]) -> String {
        let kind = match self.content_type {
            Some(ct) => format!("content type `{}`", excerpt(ct)),
            None => "no content type".to_owned(),
        };
        let start = &body[..body.len().min(SHOWN_BYTES)];
        let more = if body.len() > SHOWN_BYTES { "…" } else { "" };
        match start {
            [] => format!("{kind}, empty body"),
            _ => format!("{kind}, body starts `{}{more}`", start.escape_ascii()),
        }
    }
}

/// The body without a leading UTF-8 byte-order mark.
pub fn without_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(BOM).unwrap_or(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(encoding: &str) -> Declared<'_> {
        Declared {
            content_type: None,
            content_encoding: Some(encoding),
        }
    }

    #[test]
    fn plain_encodings_are_readable_and_others_are_named() {
        for plain in ["UTF-8", "utf8", "identity", "", " Utf-8 "] {
            assert_eq!(encoded(plain).unreadable_encoding(), None, "{plain}");
        }
        assert_eq!(Declared::default().unreadable_encoding(), None);
        assert_eq!(
            encoded("gzip").unreadable_encoding().as_deref(),
            Some("gzip")
        );
        assert_eq!(
            encoded("x\r\ny").unreadable_encoding().as_deref(),
            Some("x\\r\\ny")
        );
    }

    #[test]
    fn descriptions_name_the_type_and_escape_the_first_bytes() {
        let ct = Declared::content_type(Some("text/plain"));
        assert_eq!(
            ct.describe(b"hello"),
            "content type `text/plain`, body starts `hello`"
        );
        assert_eq!(
            Declared::default().describe(b"\x1f\x8b\x08\r\n"),
            "no content type, body starts `\\x1f\\x8b\\x08\\r\\n`"
        );
        let long = Declared::default().describe(&[b'a'; 100]);
        assert!(long.ends_with(&format!("{}…`", "a".repeat(SHOWN_BYTES))));
        assert_eq!(
            Declared::default().describe(b""),
            "no content type, empty body"
        );
    }

    #[test]
    fn only_a_leading_bom_is_stripped() {
        assert_eq!(without_bom(b"\xEF\xBB\xBF{}"), b"{}");
        assert_eq!(without_bom(b"{}\xEF\xBB\xBF"), b"{}\xEF\xBB\xBF");
        assert_eq!(without_bom(b"\xEF\xBB"), b"\xEF\xBB");
    }
}
