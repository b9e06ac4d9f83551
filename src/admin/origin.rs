//! Who may reach the admin listener from a browser. Without `admin.token` the listener
//! trusts loopback, so a web page the operator visits must not be able to act through it:
//! a cross-site form POST (CSRF) or a page whose name resolves to 127.0.0.1 (DNS
//! rebinding) is refused here. Requests without browser headers (the CLI, curl) pass.

use axum::http::{header, HeaderMap, Method};

/// Why a request without a bearer token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrowserRefusal {
    #[error("without admin.token the admin API answers loopback host names only")]
    NotLoopback,
    #[error("cross-origin request refused: its Origin is not this host")]
    CrossOrigin,
    #[error("cross-site request refused: the browser says it came from another site")]
    CrossSite,
}

/// Checks a request to the tokenless admin API: a loopback `Host`, and for anything that
/// changes state, no foreign `Origin` and no cross-site `Sec-Fetch-Site`.
pub fn tokenless_check(method: &Method, headers: &HeaderMap) -> Result<(), BrowserRefusal> {
    let host = host_of(headers);
    if !loopback_host(host) {
        return Err(BrowserRefusal::NotLoopback);
    }
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if headers.contains_key(header::ORIGIN) && !same_origin(headers, host) {
        return Err(BrowserRefusal::CrossOrigin);
    }
    let site = headers
        .get("sec-fetch-site")
        .map(|v| v.to_str().unwrap_or_default().to_ascii_lowercase());
    if matches!(site.as_deref(), Some("cross-site" | "same-site")) {
        return Err(BrowserRefusal::CrossSite);
    }
    Ok(())
}

/// The request's `Host` header, empty when missing or unreadable.
pub fn host_of(headers: &HeaderMap) -> &str {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
}

/// `host` (a `Host` header) names this machine's loopback interface.
pub fn loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(name, "localhost" | "127.0.0.1" | "[::1]")
}

/// The request's `Origin` is this `Host`, over either scheme.
pub fn same_origin(headers: &HeaderMap, host: &str) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return false;
    };
    !host.is_empty()
        && (origin.strip_prefix("http://") == Some(host)
            || origin.strip_prefix("https://") == Some(host))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn loopback_names_with_or_without_port() {
        for host in ["127.0.0.1:9464", "localhost:1", "[::1]:9464", "localhost"] {
            assert!(loopback_host(host), "{host}");
        }
        for host in [
            "evil.example:9464",
            "127.0.0.1.evil.example",
            "10.0.0.1:9464",
            "",
        ] {
            assert!(!loopback_host(host), "{host}");
        }
    }

    #[test]
    fn origins_must_name_the_host() {
        let with = |origin: &str| headers(&[("origin", origin)]);
        assert!(same_origin(
            &with("http://127.0.0.1:9464"),
            "127.0.0.1:9464"
        ));
        assert!(!same_origin(&with("http://evil.example"), "127.0.0.1:9464"));
        assert!(!same_origin(&with("null"), "127.0.0.1:9464"));
        assert!(!same_origin(&HeaderMap::new(), "127.0.0.1:9464"));
    }

    #[test]
    fn tokenless_api_refuses_what_a_foreign_page_could_send() {
        let host = ("host", "127.0.0.1:9464");
        let ok = |m: Method, h: HeaderMap| tokenless_check(&m, &h);
        // The CLI and curl send no browser headers.
        assert_eq!(ok(Method::POST, headers(&[host])), Ok(()));
        assert_eq!(
            ok(
                Method::POST,
                headers(&[host, ("origin", "http://127.0.0.1:9464")])
            ),
            Ok(())
        );
        assert_eq!(
            ok(
                Method::GET,
                headers(&[host, ("origin", "http://evil.example")])
            ),
            Ok(())
        );
        assert_eq!(
            ok(
                Method::POST,
                headers(&[host, ("origin", "http://evil.example")])
            ),
            Err(BrowserRefusal::CrossOrigin)
        );
        assert_eq!(
            ok(Method::DELETE, headers(&[host, ("origin", "null")])),
            Err(BrowserRefusal::CrossOrigin)
        );
        for site in ["cross-site", "same-site", "Cross-Site"] {
            assert_eq!(
                ok(Method::PUT, headers(&[host, ("sec-fetch-site", site)])),
                Err(BrowserRefusal::CrossSite),
                "{site}"
            );
        }
        assert_eq!(
            ok(
                Method::POST,
                headers(&[host, ("sec-fetch-site", "same-origin")])
            ),
            Ok(())
        );
        for method in [Method::GET, Method::POST] {
            assert_eq!(
                ok(method, headers(&[("host", "evil.example:9464")])),
                Err(BrowserRefusal::NotLoopback)
            );
        }
        assert_eq!(
            ok(Method::GET, HeaderMap::new()),
            Err(BrowserRefusal::NotLoopback)
        );
    }
}
