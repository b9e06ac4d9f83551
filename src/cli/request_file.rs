//! The raw-request file the integrator kit uses (docs/integrators, examples/verify):
//! an optional request line, header lines, one blank line, then the body byte for byte.
//!
//! ```text
//! POST /callback HTTP/1.1
//! Content-Type: application/json; charset=utf-8
//! X-Notify-Id: 5f0c…
//!
//! {"appId":"APP_DEMO",…}
//! ```
//!
//! Line ends in the head may be LF or CRLF. The body is everything after the blank line,
//! with nothing added or removed: a signature covers the exact bytes.

use std::fmt::Write as _;

/// A request as read from such a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest {
    /// `POST /path HTTP/1.1`, when the file has one.
    pub request_line: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Why a file is not a raw request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestFileError {
    #[error("no blank line between the headers and the body")]
    NoBlankLine,
    #[error("line {0} is not a header (`Name: value`)")]
    NotAHeader(usize),
    #[error("the body is not UTF-8 text")]
    BodyNotUtf8,
}

impl RawRequest {
    /// Parses the file format described in the module documentation.
    pub fn parse(bytes: &[u8]) -> Result<Self, RequestFileError> {
        let (head, body) = split_head(bytes).ok_or(RequestFileError::NoBlankLine)?;
        let body = String::from_utf8(body.to_vec()).map_err(|_| RequestFileError::BodyNotUtf8)?;
        let head = String::from_utf8_lossy(head);
        let mut request_line = None;
        let mut headers = Vec::new();
        for (i, line) in head.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            match header(line) {
                Some(h) => headers.push(h),
                // A request line has no `Name:` before its first space.
                None if i == 0 => request_line = Some(line.to_owned()),
                None => return Err(RequestFileError::NotAHeader(i + 1)),
            }
        }
        Ok(Self {
            request_line,
            headers,
            body,
        })
    }

    /// The file text for this request (the inverse of [`Self::parse`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some(line) = &self.request_line {
            let _ = writeln!(out, "{line}");
        }
        for (name, value) in &self.headers {
            let _ = writeln!(out, "{name}: {value}");
        }
        out.push('\n');
        out.push_str(&self.body);
        out
    }
}

/// Head and body around the first empty line (LF or CRLF).
fn split_head(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    // A file may start with the blank line when it has no headers at all.
    if let Some(rest) = bytes.strip_prefix(b"\r\n").or(bytes.strip_prefix(b"\n")) {
        return Some((&[], rest));
    }
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            let next = &bytes[i + 1..];
            if let Some(rest) = next.strip_prefix(b"\r\n").or(next.strip_prefix(b"\n")) {
                return Some((&bytes[..i], rest));
            }
        }
        i += 1;
    }
    None
}

fn header(line: &str) -> Option<(String, String)> {
    let (name, value) = line.split_once(':')?;
    if name.is_empty() || name.contains(char::is_whitespace) {
        return None;
    }
    Some((name.to_owned(), value.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_line_headers_and_exact_body() {
        let text =
            "POST http://127.0.0.1:8080/cb HTTP/1.1\r\nX-A: 1\r\nx-b:two words \r\n\r\n{\"a\":1}\n";
        let r = RawRequest::parse(text.as_bytes()).unwrap();
        assert_eq!(
            r.request_line.as_deref(),
            Some("POST http://127.0.0.1:8080/cb HTTP/1.1")
        );
        assert_eq!(
            r.headers,
            [
                ("X-A".into(), "1".into()),
                ("x-b".into(), "two words".into())
            ]
        );
        assert_eq!(r.body, "{\"a\":1}\n", "the body is kept byte for byte");
    }

    #[test]
    fn render_round_trips() {
        let r = RawRequest {
            request_line: Some("POST /cb HTTP/1.1".into()),
            headers: vec![("X-Nonce".into(), "1".into())],
            body: "{}\n\n{}".into(),
        };
        assert_eq!(RawRequest::parse(r.render().as_bytes()).unwrap(), r);
    }

    #[test]
    fn refuses_what_is_not_a_request() {
        assert_eq!(
            RawRequest::parse(b"X-A: 1\n{}"),
            Err(RequestFileError::NoBlankLine)
        );
        assert_eq!(
            RawRequest::parse(b"X-A: 1\nnot a header\n\n{}"),
            Err(RequestFileError::NotAHeader(2))
        );
        assert_eq!(
            RawRequest::parse(b"\n{}").unwrap().body,
            "{}",
            "no headers at all"
        );
    }
}
