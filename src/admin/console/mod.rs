//! The operator console at `/ui`: server-rendered pages over the journal, the parking lot
//! and the running pipeline, on the admin listener and under its rules.
//!
//! - With `admin.token` set, a login form takes the same token and starts a session (an
//!   HttpOnly, SameSite=Strict cookie); without one (loopback only, as the API) a session
//!   starts on the first visit, but only for a loopback `Host`, so a page on another site
//!   that resolves its name to 127.0.0.1 (DNS rebinding) reads nothing.
//! - Every POST needs its session's CSRF token and an `Origin` equal to the `Host`.
//! - Every action is logged and counted (`notify_console_actions_total`).
//!
//! Files: `session` (cookies, CSRF), `view` (templates), `pages` (what each page shows).

mod pages;
mod session;
mod view;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use serde::Deserialize;
use tracing::{info, warn};

use super::origin::{loopback_host, same_origin};
use super::AdminState;
pub use session::Session;
use session::Sessions;
use view::View;

/// What the console keeps beside the admin state.
pub struct Console {
    sessions: Sessions,
    view: View,
}

/// The console's routes, to merge into the admin router.
pub fn routes(state: &AdminState) -> Router<AdminState> {
    let console = Arc::new(Console {
        sessions: Sessions::default(),
        view: View::new(),
    });
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/channels") }))
        .route("/ui/", get(|| async { Redirect::to("/ui/channels") }))
        .route("/ui/login", get(login_form).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/assets/console.css", get(css))
        .route("/ui/assets/console.js", get(js))
        .route("/ui/channels", get(pages::channels))
        .route("/ui/channels/live", get(pages::channels_live))
        .route("/ui/channels/{id}/{action}", post(pages::pause_or_resume))
        .route("/ui/search", get(pages::search))
        .route("/ui/delivery/{id}", get(pages::delivery))
        .route("/ui/parked", get(pages::parked))
        .route("/ui/parked/replay", post(pages::replay_matching))
        .route("/ui/replay", post(pages::replay_one))
        .route_layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(Extension(console))
}

/// Where the guard lets a request through without a session.
fn open_path(path: &str) -> bool {
    path == "/ui/login" || path.starts_with("/ui/assets/")
}

/// Host, Origin and session checks before any console handler runs.
async fn guard(
    State(state): State<AdminState>,
    Extension(console): Extension<Arc<Console>>,
    mut request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let tokenless = state.token.is_none();
    if tokenless && !loopback_host(&host) {
        warn!(host = %host, "console refused: without admin.token it answers loopback names only");
        return refused(StatusCode::MISDIRECTED_REQUEST, "loopback names only");
    }
    if request.method() == Method::POST && !same_origin(headers, &host) {
        warn!(host = %host, "console POST refused: Origin does not match Host");
        state.metrics.console_action("post", "refused");
        return refused(StatusCode::FORBIDDEN, "cross-origin request refused");
    }
    let path = request.uri().path().to_owned();
    if open_path(&path) {
        return next.run(request).await;
    }
    let found = headers
        .get(header::COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(session::from_header)
        .and_then(|id| console.sessions.get(id));
    let (session, fresh) = match found {
        Some(session) => (session, false),
        None if tokenless => (console.sessions.start(), true),
        None if request.method() == Method::GET => {
            return Redirect::to("/ui/login").into_response()
        }
        None => return refused(StatusCode::UNAUTHORIZED, "log in first"),
    };
    let id = session.id.clone();
    request.extensions_mut().insert(session);
    let mut response = next.run(request).await;
    if fresh {
        set_cookie(response.headers_mut(), &session::cookie(&id));
    }
    response
}

fn refused(status: StatusCode, text: &'static str) -> Response {
    let mut response = (status, text).into_response();
    view::secure(response.headers_mut());
    response
}

fn set_cookie(headers: &mut HeaderMap, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.append(header::SET_COOKIE, value);
    }
}

/// Logs and counts one console action.
pub(super) fn record(
    state: &AdminState,
    peer: SocketAddr,
    action: &'static str,
    result: &'static str,
    target: &str,
) {
    state.metrics.console_action(action, result);
    info!(action, result, target = %target, peer = %peer, "console action");
}

async fn login_form(
    State(state): State<AdminState>,
    Extension(console): Extension<Arc<Console>>,
) -> Response {
    if state.token.is_none() {
        return Redirect::to("/ui/channels").into_response();
    }
    login_page(&console, false)
}

/// The login form; `refused` says the last token was wrong.
fn login_page(console: &Console, refused: bool) -> Response {
    console.view.page(
        "登录 Log in",
        "",
        None,
        "login.html",
        minijinja::context! { refused },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(
    State(state): State<AdminState>,
    Extension(console): Extension<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<LoginForm>,
) -> Response {
    let Some(token) = &state.token else {
        return Redirect::to("/ui/channels").into_response();
    };
    if !super::token_matches(&form.token, token) {
        record(&state, peer, "login", "refused", "-");
        let mut page = login_page(&console, true);
        *page.status_mut() = StatusCode::UNAUTHORIZED;
        return page;
    }
    let session = console.sessions.start();
    record(&state, peer, "login", "ok", "-");
    let mut response = Redirect::to("/ui/channels").into_response();
    set_cookie(response.headers_mut(), &session::cookie(&session.id));
    response
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(state): State<AdminState>,
    Extension(console): Extension<Arc<Console>>,
    Extension(session): Extension<Session>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !session.csrf_ok(&form.csrf) {
        record(&state, peer, "logout", "refused", "csrf");
        return refused(StatusCode::FORBIDDEN, "stale form; reload the page");
    }
    console.sessions.end(&session.id);
    record(&state, peer, "logout", "ok", "-");
    let to = if state.token.is_some() {
        "/ui/login"
    } else {
        "/ui/channels"
    };
    let mut response = Redirect::to(to).into_response();
    set_cookie(response.headers_mut(), &session::cleared());
    response
}

async fn css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("assets/console.css"),
    )
}

async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/console.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}
