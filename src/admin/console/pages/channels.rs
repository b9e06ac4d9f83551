//! The channels page: each channel's last hour from the journal, refreshed by polling,
//! and its pause / resume buttons.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::{Deserialize, Serialize};

use super::{dash, excerpt, notice, utc, WINDOW};
use crate::admin::channels::set_paused;
use crate::admin::console::view::{html_response, PageFailed};
use crate::admin::console::{record, refused, Console, Session};
use crate::admin::AdminState;
use crate::clock::now_ms;

#[derive(Serialize)]
struct ChannelRow {
    id: String,
    state: &'static str,
    state_label: &'static str,
    paused: bool,
    delivered: u64,
    retried: u64,
    deferred: u64,
    parked: u64,
    p50: String,
    p99: String,
    in_flight: usize,
    last_error: Option<String>,
    last_error_at: Option<String>,
}

#[derive(Serialize)]
struct ReceiverRow {
    name: String,
    received: u64,
    published: u64,
    duplicates: u64,
    malformed: u64,
    bad_signature: u64,
    replayed: u64,
    too_large: u64,
    unavailable: u64,
}

/// The live part of the channels page: rendered whole, and again on every poll.
async fn live(
    state: &AdminState,
    console: &Console,
    session: &Session,
) -> Result<String, PageFailed> {
    let pipeline = state.pipeline.current();
    let health: HashMap<String, _> = pipeline
        .health()
        .into_iter()
        .map(|h| (h.channel.clone(), h))
        .collect();
    let since = now_ms().saturating_sub(WINDOW.as_millis() as u64);
    let (figures, journal_error) = match state.journal.get().await {
        Ok(reader) => match reader.channels(since).await {
            Ok(f) => (f, None),
            Err(e) => (Default::default(), Some(e.to_string())),
        },
        Err(_) => (Default::default(), Some("not reachable".to_owned())),
    };
    let mask = &state.mask;
    let mut channels = Vec::new();
    for id in pipeline.channel_ids() {
        let f = figures.get(id).cloned().unwrap_or_default();
        let h = health.get(id);
        let stalled = h.is_some_and(|h| h.stalled);
        let paused = state.pauses.is_paused(id);
        let (state, state_label) = if paused {
            ("paused", "已暂停 paused")
        } else if stalled {
            ("stalled", "停滞 stalled")
        } else {
            ("healthy", "正常 healthy")
        };
        channels.push(ChannelRow {
            id: id.to_owned(),
            state,
            state_label,
            paused,
            delivered: f.delivered,
            retried: f.retried,
            deferred: f.deferred,
            parked: f.parked + f.bad_input,
            p50: dash(f.p50_ms),
            p99: dash(f.p99_ms),
            in_flight: h.map_or(0, |h| h.in_flight),
            last_error: f
                .last_error
                .as_ref()
                .map(|(e, _)| excerpt(&mask.apply(None, e), 160)),
            last_error_at: f.last_error.as_ref().map(|(_, at)| utc(*at)),
        });
    }
    let receivers: Vec<ReceiverRow> = state
        .callbacks
        .iter()
        .map(|(name, stats)| {
            let s = stats.snapshot();
            ReceiverRow {
                name: name.clone(),
                received: s.received,
                published: s.published,
                duplicates: s.duplicates,
                malformed: s.malformed,
                bad_signature: s.bad_signature,
                replayed: s.replayed,
                too_large: s.too_large,
                unavailable: s.unavailable,
            }
        })
        .collect();
    console.view.fragment(
        "channels_live.html",
        minijinja::context! {
            channels,
            receivers,
            journal_error,
            now => utc(now_ms()),
            csrf => &session.csrf,
            can_pause => true,
        },
    )
}

pub async fn channels(
    State(state): State<AdminState>,
    Extension(console): Extension<Arc<Console>>,
    Extension(session): Extension<Session>,
) -> Response {
    let live = match live(&state, &console, &session).await {
        Ok(html) => html,
        Err(failed) => return failed.into_response(),
    };
    console.view.page(
        "渠道 Channels",
        "channels",
        Some(&session.csrf),
        "channels.html",
        minijinja::context! { live => minijinja::Value::from_safe_string(live) },
    )
}

pub async fn channels_live(
    State(state): State<AdminState>,
    Extension(console): Extension<Arc<Console>>,
    Extension(session): Extension<Session>,
) -> Response {
    match live(&state, &console, &session).await {
        Ok(html) => html_response(StatusCode::OK, html),
        Err(failed) => failed.into_response(),
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

/// `POST /ui/channels/{id}/pause` and `/resume`.
pub async fn pause_or_resume(
    State(state): State<AdminState>,
    Extension(console): Extension<Arc<Console>>,
    Extension(session): Extension<Session>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let (pause, action) = match action.as_str() {
        "pause" => (true, "pause"),
        "resume" => (false, "resume"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    if !session.csrf_ok(&form.csrf) {
        record(&state, peer, action, "refused", &id);
        return refused(StatusCode::FORBIDDEN, "stale form; reload the page");
    }
    match set_paused(&state, &id, pause).await {
        Ok(_) => {
            record(&state, peer, action, "ok", &id);
            Redirect::to("/ui/channels").into_response()
        }
        Err(e) => {
            record(&state, peer, action, "failed", &id);
            notice(
                &console,
                &session,
                StatusCode::SERVICE_UNAVAILABLE,
                "操作失败 Not done",
                e.to_string(),
                "/ui/channels",
            )
        }
    }
}
