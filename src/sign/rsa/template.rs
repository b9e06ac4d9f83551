//! The string-to-sign template, `{timestamp}{nonce}{body}` by default (seed 000).

use std::fmt;
use std::str::FromStr;

use super::error::RsaError;

/// The template 运之盟 uses: the three headers' values run together, no separators.
pub const DEFAULT_TEMPLATE: &str = "{timestamp}{nonce}{body}";

/// The per-request inputs of a signature.
///
/// Timestamp and nonce are the header texts as sent or received, not numbers:
/// the signature covers the exact characters, so they must not be re-formatted.
#[derive(Debug, Clone, Copy)]
pub struct SigningParts<'a> {
    /// `X-Timestamp`, epoch milliseconds.
    pub timestamp: &'a str,
    /// `X-Nonce`, 18 decimal digits.
    pub nonce: &'a str,
    /// The exact body bytes on the wire.
    pub body: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Timestamp,
    Nonce,
    Body,
}

/// A parsed signing template; parsing happens once, at configuration time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    segments: Vec<Segment>,
}

impl Template {
    /// The exact bytes to sign for `parts`.
    pub fn render(&self, parts: &SigningParts<'_>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.rendered_len(parts));
        for segment in &self.segments {
            out.extend_from_slice(match segment {
                Segment::Literal(text) => text.as_bytes(),
                Segment::Timestamp => parts.timestamp.as_bytes(),
                Segment::Nonce => parts.nonce.as_bytes(),
                Segment::Body => parts.body,
            });
        }
        out
    }

    /// The string to sign as text for operators. Bodies are JSON and so UTF-8;
    /// anything else shows with replacement characters, while [`Self::render`]
    /// stays exact.
    pub fn explain(&self, parts: &SigningParts<'_>) -> String {
        String::from_utf8_lossy(&self.render(parts)).into_owned()
    }

    fn rendered_len(&self, parts: &SigningParts<'_>) -> usize {
        self.segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(text) => text.len(),
                Segment::Timestamp => parts.timestamp.len(),
                Segment::Nonce => parts.nonce.len(),
                Segment::Body => parts.body.len(),
            })
            .sum()
    }
}

impl Default for Template {
    fn default() -> Self {
        DEFAULT_TEMPLATE
            .parse()
            .expect("the default template is valid")
    }
}

impl FromStr for Template {
    type Err = RsaError;

    fn from_str(source: &str) -> Result<Self, RsaError> {
        let unbalanced = || RsaError::UnbalancedBraces(source.to_owned());
        let mut segments = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err(unbalanced());
            }
            if open > 0 {
                segments.push(Segment::Literal(rest[..open].to_owned()));
            }
            let close = rest[open..].find('}').ok_or_else(unbalanced)? + open;
            let name = &rest[open + 1..close];
            if name.contains('{') {
                return Err(unbalanced());
            }
            segments.push(match name {
                "timestamp" => Segment::Timestamp,
                "nonce" => Segment::Nonce,
                "body" => Segment::Body,
                other => return Err(RsaError::UnknownPlaceholder(other.to_owned())),
            });
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Literal(rest.to_owned()));
        }
        if !segments.contains(&Segment::Body) {
            return Err(RsaError::TemplateWithoutBody(source.to_owned()));
        }
        Ok(Self {
            source: source.to_owned(),
            segments,
        })
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARTS: SigningParts<'static> = SigningParts {
        timestamp: "1700000000000",
        nonce: "123456789012345678",
        body: br#"{"a":"b"}"#,
    };

    #[test]
    fn default_template_concatenates_without_separators() {
        let rendered = Template::default().render(&PARTS);
        assert_eq!(rendered, br#"1700000000000123456789012345678{"a":"b"}"#);
    }

    #[test]
    fn literals_and_repeats_are_kept() {
        let template: Template = "ts={timestamp}&n={nonce}&{body}|{nonce}".parse().unwrap();
        assert_eq!(
            template.explain(&PARTS),
            r#"ts=1700000000000&n=123456789012345678&{"a":"b"}|123456789012345678"#
        );
        assert_eq!(
            template.to_string(),
            "ts={timestamp}&n={nonce}&{body}|{nonce}"
        );
    }

    #[test]
    fn explain_matches_render_for_utf8_bodies() {
        let parts = SigningParts {
            body: "{\"name\":\"张三\"}".as_bytes(),
            ..PARTS
        };
        let template = Template::default();
        assert_eq!(template.explain(&parts).as_bytes(), template.render(&parts));
    }

    #[test]
    fn bad_templates_are_refused() {
        let err = |s: &str| s.parse::<Template>().unwrap_err();
        assert_eq!(
            err("{timestamp}{secret}{body}"),
            RsaError::UnknownPlaceholder("secret".into())
        );
        for bad in ["{body", "body}", "{{body}}", "{ti{me}{body}"] {
            assert_eq!(err(bad), RsaError::UnbalancedBraces(bad.into()), "{bad}");
        }
        assert_eq!(
            err("{timestamp}{nonce}"),
            RsaError::TemplateWithoutBody("{timestamp}{nonce}".into())
        );
    }
}
