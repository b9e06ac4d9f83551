//! The console's HTML: templates compiled into the binary, HTML-escaped by default, each
//! page's body set inside the one layout.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::{Environment, Value};
use serde::Serialize;
use tracing::error;

/// The templates, by name; `.html` names are auto-escaped.
const TEMPLATES: [(&str, &str); 9] = [
    ("layout.html", include_str!("templates/layout.html")),
    ("login.html", include_str!("templates/login.html")),
    ("channels.html", include_str!("templates/channels.html")),
    (
        "channels_live.html",
        include_str!("templates/channels_live.html"),
    ),
    ("search.html", include_str!("templates/search.html")),
    ("delivery.html", include_str!("templates/delivery.html")),
    ("parked.html", include_str!("templates/parked.html")),
    ("confirm.html", include_str!("templates/confirm.html")),
    ("notice.html", include_str!("templates/notice.html")),
];

/// Headers on every console answer: no caching, no framing, scripts and styles only
/// from the console itself.
const SECURITY_HEADERS: [(&str, &str); 5] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    // Not `no-referrer`: with it a browser sends `Origin: null` on every POST, and the
    // Origin check could not tell the console's own forms from anyone else's.
    ("referrer-policy", "same-origin"),
    ("cache-control", "no-store"),
];

/// A template failed to render (logged where it happened): a bug, answered with a 500.
#[derive(Debug)]
pub struct PageFailed;

impl IntoResponse for PageFailed {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, "console page failed").into_response()
    }
}

/// The compiled templates.
pub struct View {
    env: Environment<'static>,
}

impl View {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.add_filter("urlq", |text: String| path_segment(&text));
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .expect("the console's templates compile");
        }
        Self { env }
    }

    /// A fragment: one template, no layout.
    pub fn fragment(&self, name: &str, context: impl Serialize) -> Result<String, PageFailed> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(context))
            .map_err(|e| {
                error!(template = name, error = %e, "console template failed");
                PageFailed
            })
    }

    /// A whole page: `name` rendered with `context`, inside the layout.
    pub fn page(
        &self,
        title: &str,
        nav: &str,
        csrf: Option<&str>,
        name: &str,
        context: impl Serialize,
    ) -> Response {
        // Every page's forms post the session's CSRF token back.
        let context = minijinja::context! { csrf => csrf, ..Value::from_serialize(&context) };
        let body = match self.fragment(name, context) {
            Ok(body) => body,
            Err(failed) => return failed.into_response(),
        };
        let layout = minijinja::context! {
            title => title,
            nav => nav,
            csrf => csrf,
            body => Value::from_safe_string(body),
        };
        match self.fragment("layout.html", layout) {
            Ok(html) => html_response(StatusCode::OK, html),
            Err(failed) => failed.into_response(),
        }
    }
}

/// `html` as a console answer with its security headers.
pub fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(headers);
    response
}

/// `text` percent-encoded as one URL path segment: every byte but the unreserved ones
/// (letters, digits, `-._~`) as `%XX`, so a space is `%20`, not the `+` a form query
/// would use (a path keeps `+` as itself). Safe in a query value too.
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Adds the security headers.
pub fn secure(headers: &mut axum::http::HeaderMap) {
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_text_is_escaped() {
        let view = View::new();
        let html = view
            .fragment(
                "notice.html",
                minijinja::context! { heading => "h", text => "<script>x</script>", back => "/ui", kind => "ok" },
            )
            .unwrap();
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>x"));
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("order 1+2/3?#%"), "order%201%2B2%2F3%3F%23%25");
        assert_eq!(path_segment("A-z_0.9~"), "A-z_0.9~");
        assert_eq!(path_segment("单"), "%E5%8D%95");
        let view = View::new();
        let html = view
            .env
            .render_str(
                "/ui/delivery/{{ id|urlq }}",
                minijinja::context! { id => "a b" },
            )
            .unwrap();
        assert_eq!(html, "/ui/delivery/a%20b");
    }
}
