//! The HTTP side: one shared client, the URL policy, and the success rule (SPEC §5, §7).

mod resolve;
mod success;
mod url_policy;

pub use resolve::PrivateResolution;
pub use success::{BodyRule, StatusRule, SuccessRule};
pub use url_policy::{is_public_ip, HostPattern, UrlPolicy, UrlRefused};

use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue};
use url::Url;

use crate::message::excerpt;

/// The most of a response body read; the rest is never buffered.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// One POST, fully built and signed.
#[derive(Debug, Clone)]
pub struct Request {
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// What the brand answered.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// The response headers, moved out of the response as they came (only `send-test`
    /// shows them: no copy is made per delivery).
    pub headers: reqwest::header::HeaderMap,
    /// Up to [`MAX_RESPONSE_BYTES`] of the body, lossily decoded.
    pub body: String,
    pub latency: Duration,
    /// `Retry-After` in its delay-seconds form (the form brands' frameworks send).
    pub retry_after: Option<Duration>,
}

/// Why no answer came back. Messages carry no URL query or body: they may hold tokens.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Other(String),
    #[error(transparent)]
    Private(#[from] PrivateResolution),
    /// A header HTTP does not allow; the request was not sent.
    #[error("header `{0}` has a value HTTP does not allow")]
    InvalidHeader(String),
}

/// The HTTP clients, shared by every channel so connections are pooled per host: one that
/// connects only to public addresses, one for channels with `allow_private`.
#[derive(Clone)]
pub struct HttpClient {
    public: reqwest::Client,
    any: reqwest::Client,
}

impl HttpClient {
    /// A keep-alive rustls client that never follows redirects (a 3xx is an answer).
    pub fn new() -> Self {
        let builder = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("notify-bridge/", env!("CARGO_PKG_VERSION")))
                .tcp_nodelay(true)
                .pool_idle_timeout(Duration::from_secs(90))
        };
        let public = builder()
            .dns_resolver(std::sync::Arc::new(resolve::PublicOnly))
            .build()
            .expect("the TLS backend initialises");
        let any = builder().build().expect("the TLS backend initialises");
        Self { public, any }
    }

    /// POSTs `request`, reading at most [`MAX_RESPONSE_BYTES`] of the answer.
    /// With `allow_private` unset, names resolving only to non-public addresses are refused.
    pub async fn send(
        &self,
        request: Request,
        timeout: Duration,
        allow_private: bool,
    ) -> Result<Response, SendError> {
        let started = Instant::now();
        let client = if allow_private {
            &self.any
        } else {
            &self.public
        };
        let mut headers = reqwest::header::HeaderMap::with_capacity(request.headers.len());
        for (name, value) in &request.headers {
            // Checked here rather than left to reqwest, whose builder error would read as
            // a failed attempt and be retried.
            let invalid = || SendError::InvalidHeader(excerpt(name));
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
            let value = HeaderValue::from_str(value).map_err(|_| invalid())?;
            headers.append(name, value);
        }
        let builder = client.post(request.url).timeout(timeout).headers(headers);
        let mut response = builder
            .body(request.body)
            .send()
            .await
            .map_err(|e| classify(e, timeout))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let headers = std::mem::take(response.headers_mut());
        // The rest of a longer answer is never read: dropping the response closes the
        // connection, so a brand streaming without end costs 64 KiB and one socket.
        let mut body = Vec::new();
        while body.len() < MAX_RESPONSE_BYTES {
            match response.chunk().await.map_err(|e| classify(e, timeout))? {
                Some(chunk) => {
                    let room = MAX_RESPONSE_BYTES - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                None => break,
            }
        }
        Ok(Response {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            latency: started.elapsed(),
            retry_after,
        })
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

fn classify(error: reqwest::Error, timeout: Duration) -> SendError {
    let error = error.without_url();
    if let Some(private) = find_private(&error) {
        return SendError::Private(private);
    }
    if error.is_timeout() {
        SendError::Timeout(timeout)
    } else if error.is_connect() {
        SendError::Connect(root_cause(&error))
    } else {
        SendError::Other(root_cause(&error))
    }
}

/// Our resolver's refusal, wherever reqwest and hyper wrapped it.
fn find_private(error: &(dyn std::error::Error + 'static)) -> Option<PrivateResolution> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(private) = e.downcast_ref::<PrivateResolution>() {
            return Some(PrivateResolution {
                host: private.host.clone(),
                addresses: private.addresses.clone(),
            });
        }
        cause = e.source();
    }
    None
}

/// reqwest's top-level message is generic; the innermost cause says what happened.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
