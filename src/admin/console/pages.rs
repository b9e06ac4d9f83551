//! What each console page shows, and its two actions (replay one, replay all matching).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::view::{html_response, PageFailed};
use super::{record, refused, Console, Session};
use crate::admin::channels::set_paused;
use crate::admin::deliveries::replay_by_id;
use crate::admin::AdminState;
use crate::clock::now_ms;
use crate::consume::parking_lot::{self, Parked};
use crate::journal::{
    biz_content, AttemptRow, Filter, JournalOutcome, JournalReader, Mask, StoredMessage,
};
use crate::message::{MessageId, NotifyType};
use crate::parse::Declared;
use crate::pipeline::Pins;
use crate::retry::RetrySchedule;

/// Rows per search page.
const PAGE: u32 = 50;
/// Parked messages listed when the filter names no limit.
const PARKED_LIST: usize = 50;
/// The window of the channel figures.
const WINDOW: Duration = Duration::from_secs(3600);

/// Epoch milliseconds as UTC, to the second.
fn utc(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| v.to_string())
}

/// One line of text, at most `chars` characters.
fn excerpt(text: &str, chars: usize) -> String {
    let line: String = text.replace(['\n', '\r'], " ");
    match line.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

// ---------------------------------------------------------------------------- channels

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
    let current = state.live.current();
    let health: HashMap<String, _> = current
        .pipeline
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
    let mut channels = Vec::new();
    for id in current.settings.channels.keys() {
        let f = figures.get(id).cloned().unwrap_or_default();
        let h = health.get(id);
        let stalled = h.is_some_and(|h| h.stalled);
        let paused = state.live.pauses().is_paused(id);
        let (state, state_label) = if paused {
            ("paused", "已暂停 paused")
        } else if stalled {
            ("stalled", "停滞 stalled")
        } else {
            ("healthy", "正常 healthy")
        };
        let mask = &current.settings.journal.mask;
        channels.push(ChannelRow {
            id: id.clone(),
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

// ------------------------------------------------------------------------------ search

/// The search form, as submitted; every field may be empty.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SearchQuery {
    key_name: String,
    key: String,
    id: String,
    channel: String,
    outcome: String,
    since: String,
    until: String,
    /// The next page: `at_ms.id` of the last row shown.
    before: String,
}

#[derive(Serialize)]
struct AttemptView {
    id: String,
    at: String,
    channel: String,
    notify_type: String,
    attempt: u32,
    status: String,
    latency: String,
    outcome: &'static str,
    detail: String,
    response: String,
    error: String,
}

fn attempt_view(r: &AttemptRow, mask: &Mask, biz: Option<&Value>) -> AttemptView {
    let hide = |t: &Option<String>| {
        t.as_deref()
            .map(|t| excerpt(&mask.apply(biz, t), 300))
            .unwrap_or_default()
    };
    let error = hide(&r.error);
    let response = hide(&r.response);
    AttemptView {
        id: r.message_id.clone(),
        at: utc(r.at_ms),
        channel: r.channel.clone().unwrap_or_default(),
        notify_type: r.notify_type.map_or("", NotifyType::as_str).to_owned(),
        attempt: r.attempt,
        status: dash(r.status),
        latency: dash(r.latency_ms),
        outcome: r.outcome.as_str(),
        detail: excerpt(if error.is_empty() { &response } else { &error }, 120),
        response,
        error,
    }
}

/// A time as operators type it: a look-back (`2h`), RFC 3339 or `YYYY-MM-DD HH:MM[:SS]`
/// (UTC), or epoch milliseconds.
fn time_ms(text: &str, what: &str) -> Result<u64, String> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(ms);
    }
    let padded = match text.len() {
        16 => format!("{text}:00"),
        10 => format!("{text} 00:00:00"),
        _ => text.to_owned(),
    };
    parking_lot::since_ms(&padded, now_ms()).map_err(|_| {
        format!("{what} `{text}`: 时间格式不对 not a time such as 2h or 2025-06-01 08:00")
    })
}

/// A form field, trimmed; `None` when blank.
fn text(field: &str) -> Option<&str> {
    Some(field.trim()).filter(|s| !s.is_empty())
}

fn search_filter(q: &SearchQuery) -> Result<Filter, String> {
    let mut filter = Filter {
        channel: text(&q.channel).map(str::to_owned),
        limit: Some(PAGE),
        ..Filter::default()
    };
    if let Some(outcome) = text(&q.outcome) {
        filter.outcome = Some(
            JournalOutcome::parse(outcome)
                .filter(|o| *o != JournalOutcome::Deferred)
                .ok_or_else(|| format!("unknown outcome `{outcome}`"))?,
        );
    }
    if let Some(since) = text(&q.since) {
        filter.since_ms = Some(time_ms(since, "from")?);
    }
    if let Some(until) = text(&q.until) {
        filter.until_ms = Some(time_ms(until, "to")?);
    }
    if let Some(before) = text(&q.before) {
        let parsed = before
            .split_once('.')
            .and_then(|(at, id)| Some((at.parse().ok()?, id.parse().ok()?)));
        filter.before = Some(parsed.ok_or("bad page cursor")?);
    }
    if let Some(value) = text(&q.key) {
        let name = text(&q.key_name).unwrap_or("orderNo");
        filter = filter.with_key(&format!("{name}={value}"))?;
    }
    Ok(filter)
}

pub async fn search(
    State(state): State<AdminState>,
    Extension(console): Extension<Arc<Console>>,
    Extension(session): Extension<Session>,
    Query(q): Query<SearchQuery>,
) -> Response {
    let id = q.id.trim();
    if !id.is_empty() {
        let to = format!(
            "/ui/delivery/{}",
            url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
        );
        return Redirect::to(&to).into_response();
    }
    let current = state.live.current();
    let settings = &current.settings;
    let searched = [&q.key, &q.channel, &q.outcome, &q.since, &q.until]
        .iter()
        .any(|s| !s.trim().is_empty());
    let mut rows = Vec::new();
    let mut error = None;
    let mut older = None;
    if searched {
        match search_filter(&q) {
            Err(e) => error = Some(e),
            Ok(filter) => match state.journal.get().await {
                Err(_) => error = Some("日志库不可用 The journal is unavailable".to_owned()),
                Ok(reader) => match reader.list(&filter).await {
                    Err(e) => error = Some(e.to_string()),
                    Ok(found) => {
                        if found.len() == PAGE as usize {
                            older = found.last().map(|last| {
                                let mut next = serde_urlencoded::to_string(SearchQuery {
                                    before: format!("{}.{}", last.at_ms, last.id),
                                    ..clone_query(&q)
                                })
                                .unwrap_or_default();
                                next.insert_str(0, "/ui/search?");
                                next
                            });
                        }
                        rows = found
                            .iter()
                            .map(|r| attempt_view(r, &settings.journal.mask, None))
                            .collect();
                    }
                },
            },
        }
    }
    let outcomes: Vec<&str> = JournalOutcome::ALL
        .iter()
        .filter(|o| **o != JournalOutcome::Deferred)
        .map(|o| o.as_str())
        .collect();
    console.view.page(
        "查询 Search",
        "search",
        Some(&session.csrf),
        "search.html",
        minijinja::context! {
            q => &q,
            key_names => settings.journal.keys.names(),
            channels => settings.channels.keys().collect::<Vec<_>>(),
            outcomes,
            searched,
            rows,
            error,
            older,
        },
    )
}

fn clone_query(q: &SearchQuery) -> SearchQuery {
    SearchQuery {
        key_name: q.key_name.clone(),
        key: q.key.clone(),
        id: String::new(),
        channel: q.channel.clone(),
        outcome: q.outcome.clone(),
        since: q.since.clone(),
        until: q.until.clone(),
        before: String::new(),
    }
}

// ---------------------------------------------------------------------------- delivery

#[derive(Serialize)]
struct RequestView {
    url: String,
    headers: String,
    string_to_sign: String,
    body: String,
}

/// Header names whose values are credentials, never shown.
fn secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "authorization",
        "token",
        "secret",
        "password",
        "api-key",
        "apikey",
    ]
    .iter()
    .any(|s| name.contains(s))
}

/// The stored message, pretty, its `whaleMessage` JSON text shown parsed, secrets masked.
fn shown_message(stored: &StoredMessage, mask: &Mask, biz: Option<&Value>) -> String {
    let text = match serde_json::from_slice::<Value>(&stored.body) {
        Ok(mut doc) => {
            if let Some(whale) = doc.get_mut("whaleMessage") {
                if let Some(parsed) = whale.as_str().and_then(|t| serde_json::from_str(t).ok()) {
                    *whale = parsed;
                }
            }
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        }
        Err(_) => String::from_utf8_lossy(&stored.body).into_owned(),
    };
    mask.apply(biz, &text)
}

/// The request this message makes now: formatted and signed again, secrets masked.
fn recreated(
    state: &AdminState,
    id: &str,
    stored: &StoredMessage,
    mask: &Mask,
    biz: Option<&Value>,
) -> Result<RequestView, String> {
    let current = state.live.current();
    let declared = Declared::content_type(stored.content_type.as_deref());
    let message_id = MessageId::from_delivery(Some(id), &stored.body);
    let prepared = current
        .pipeline
        .prepare(&message_id, &stored.body, declared, &Pins::now(), true)
        .map_err(|e| e.to_string())?;
    let request = prepared.request;
    let headers = request
        .headers
        .iter()
        .map(|(name, value)| {
            let value = if secret_header(name) {
                crate::journal::MASK
            } else {
                value
            };
            format!("{name}: {value}")
        })
        .collect::<Vec<_>>()
        .join("\n");
    Ok(RequestView {
        url: request.url.to_string(),
        headers: mask.apply(biz, &headers),
        string_to_sign: mask.apply(
            biz,
            prepared
                .string_to_sign
                .as_deref()
                .unwrap_or("(this signer signs no string)"),
        ),
        body: mask.apply(biz, &request.body),
    })
}

/// What happens to the message next, from its last record.
fn next_step(state: &AdminState, attempts: &[AttemptRow], deferrals: (u64, Option<u64>)) -> String {
    let last = attempts.last();
    let deferred_since = deferrals.1.filter(|at| last.is_none_or(|l| *at > l.at_ms));
    if let Some(at) = deferred_since {
        return format!(
            "{} 延后，等待渠道空闲（或恢复）。Deferred at {}: waits for its channel (a free slot, or a resume).",
            utc(at),
            utc(at)
        );
    }
    let Some(last) = last else {
        return "尚无记录 Nothing recorded yet.".to_owned();
    };
    match last.outcome {
        JournalOutcome::Delivered => {
            "已送达，不再尝试。Delivered: nothing more happens.".to_owned()
        }
        JournalOutcome::Parked | JournalOutcome::BadInput => {
            "已停放，等待人工重放。Parked: it waits in the parking lot for a replay.".to_owned()
        }
        JournalOutcome::Retry | JournalOutcome::Deferred => {
            let current = state.live.current();
            let step = last
                .channel
                .as_deref()
                .and_then(|c| current.settings.channels.get(c))
                .and_then(|c| match &c.retry.schedule {
                    RetrySchedule::Steps(steps) => steps.get(last.attempt as usize).copied(),
                    RetrySchedule::Every { interval, .. } => Some(*interval),
                });
            match step {
                Some(step) => {
                    let at = utc(last.at_ms + step.as_millis() as u64);
                    format!(
                        "第 {n} 次尝试约在 {at}（最多再加 10% 抖动）。Attempt {n} around {at} (plus up to 10% jitter).",
                        n = last.attempt + 1
                    )
                }
                None => {
                    "将按渠道的重试计划再试。It is retried on its channel's schedule.".to_owned()
                }
            }
        }
    }
}

pub async fn delivery(
    State(state): State<AdminState>,
    Extension(console): Extension<Arc<Console>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    let reader: &JournalReader = match state.journal.get().await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let (attempts, stored, deferrals) = match tokio::try_join!(
        reader.attempts(&id),
        reader.message(&id),
        reader.deferrals(&id)
    ) {
        Ok(found) => found,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    if attempts.is_empty() && stored.is_none() && deferrals.0 == 0 {
        return console.view.page(
            "未找到 Not found",
            "search",
            Some(&session.csrf),
            "notice.html",
            minijinja::context! {
                heading => "未找到 Not found",
                text => format!("日志库中没有消息 {id}。The journal holds no message {id}."),
                kind => "error",
                back => "/ui/search",
            },
        );
    }
    let current = state.live.current();
    let journal = &current.settings.journal;
    let mask = &journal.mask;
    let biz = stored.as_ref().and_then(|s| biz_content(&s.body));
    let channel = attempts.iter().find_map(|a| a.channel.clone());
    let keys: Vec<String> = stored
        .as_ref()
        .map(|s| {
            journal
                .keys
                .extract(channel.as_deref(), &s.body)
                .into_iter()
                .map(|(n, v)| format!("{n}={}", mask.apply(biz.as_ref(), &v)))
                .collect()
        })
        .unwrap_or_default();
    let (request, recreate_error) = match &stored {
        Some(s) => match recreated(&state, &id, s, mask, biz.as_ref()) {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(format!("无法重建 Cannot re-create: {e}"))),
        },
        None => (None, None),
    };
    let views: Vec<AttemptView> = attempts
        .iter()
        .map(|a| attempt_view(a, mask, biz.as_ref()))
        .collect();
    console.view.page(
        "投递 Delivery",
        "search",
        Some(&session.csrf),
        "delivery.html",
        minijinja::context! {
            id => &id,
            channel => dash(channel),
            received => dash(stored.as_ref().map(|s| utc(s.received_at_ms))),
            keys,
            deferrals => deferrals.0,
            next => next_step(&state, &attempts, deferrals),
            attempts => views,
            message => stored.as_ref().map(|s| shown_message(s, mask, biz.as_ref())),
            request,
            recreate_error,
        },
    )
}

// ------------------------------------------------------------------------ parking lot

/// The parking lot filter, as the form sends it.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ParkedQuery {
    channel: String,
    reason: String,
    since: String,
    limit: String,
}

fn lot_filter(q: &ParkedQuery) -> Result<parking_lot::Filter, String> {
    let text = |s: &String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let since_ms = text(&q.since).map(|s| time_ms(&s, "since")).transpose()?;
    let limit = match text(&q.limit) {
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| *l > 0)
            .ok_or_else(|| format!("limit `{l}` is not a positive number"))?,
        None => PARKED_LIST,
    };
    Ok(parking_lot::Filter {
        channel: text(&q.channel),
        reason: text(&q.reason),
        since_ms,
        limit: Some(limit),
    })
}

#[derive(Serialize)]
struct ParkedView {
    id: String,
    channel: String,
    notify_type: String,
    attempts: String,
    status: String,
    at: String,
    reason: String,
}

fn parked_view(p: &Parked, mask: &Mask) -> ParkedView {
    ParkedView {
        id: p.id.clone(),
        channel: p.channel.clone(),
        notify_type: p.notify_type.clone(),
        attempts: p.attempts.clone(),
        status: p.status.clone(),
        at: dash(p.parked_at_ms.map(utc)),
        reason: excerpt(&mask.apply(None, &p.reason), 160),
    }
}

pub async fn parked(
    State(state): State<AdminState>,
    Extension(console): Extension<Arc<Console>>,
    Extension(session): Extension<Session>,
    Query(q): Query<ParkedQuery>,
) -> Response {
    let current = state.live.current();
    let settings = &current.settings;
    let (counts, journal_error) = match state.journal.get().await {
        Ok(reader) => match reader.parked().await {
            Ok(counts) => (counts, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        },
        Err(_) => (
            Vec::new(),
            Some("日志库不可用 The journal is unavailable".to_owned()),
        ),
    };
    let counts: Vec<_> = counts
        .iter()
        .map(|c| {
            minijinja::context! {
                channel => c.channel.clone().unwrap_or_default(),
                reason => c.reason,
                count => c.count,
            }
        })
        .collect();
    let (parked, error) = match lot_filter(&q) {
        Err(e) => (Vec::new(), Some(e)),
        Ok(filter) => match parking_lot::list(&settings.broker, &filter).await {
            Ok(found) => (
                found
                    .iter()
                    .map(|p| parked_view(p, &settings.journal.mask))
                    .collect(),
                None,
            ),
            Err(e) => (
                Vec::new(),
                Some(format!("停放区不可读 Cannot read the parking lot: {e}")),
            ),
        },
    };
    let shown = ParkedQuery {
        limit: if q.limit.trim().is_empty() {
            PARKED_LIST.to_string()
        } else {
            q.limit.clone()
        },
        ..q
    };
    console.view.page(
        "停放区 Parking lot",
        "parked",
        Some(&session.csrf),
        "parked.html",
        minijinja::context! { q => shown, counts, journal_error, parked, error },
    )
}

/// A notice page after an action.
fn notice(
    console: &Console,
    session: &Session,
    status: StatusCode,
    heading: &str,
    text: String,
    back: &str,
) -> Response {
    let kind = if status.is_success() { "ok" } else { "error" };
    let mut page = console.view.page(
        heading,
        "",
        Some(&session.csrf),
        "notice.html",
        minijinja::context! { heading, text, kind, back },
    );
    *page.status_mut() = status;
    page
}

#[derive(Deserialize)]
pub struct ReplayOne {
    csrf: String,
    id: String,
}

pub async fn replay_one(
    State(state): State<AdminState>,
    Extension(console): Extension<Arc<Console>>,
    Extension(session): Extension<Session>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<ReplayOne>,
) -> Response {
    if !session.csrf_ok(&form.csrf) {
        record(&state, peer, "replay", "refused", &form.id);
        return refused(StatusCode::FORBIDDEN, "stale form; reload the page");
    }
    let id = form.id;
    let back = format!(
        "/ui/delivery/{}",
        url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
    );
    let queue = state.live.current().settings.broker.queue.clone();
    match replay_by_id(&state, &id).await {
        Ok(Some(done)) => {
            record(&state, peer, "replay", "ok", &id);
            let text = format!(
                "已将 {id} 重新发布到 {queue}（从停放区取出 {n} 份）。Replayed {id} to {queue}; {n} parked cop(ies) taken out.",
                n = done.taken_from_lot
            );
            notice(
                &console,
                &session,
                StatusCode::OK,
                "已重放 Replayed",
                text,
                &back,
            )
        }
        Ok(None) => {
            record(&state, peer, "replay", "refused", &id);
            let text = format!(
                "没有 {id} 的原文也没有停放副本。No original kept and none parked for {id}."
            );
            notice(
                &console,
                &session,
                StatusCode::NOT_FOUND,
                "无法重放 Cannot replay",
                text,
                &back,
            )
        }
        Err(e) => {
            record(&state, peer, "replay", "failed", &id);
            let text = format!("重放失败 Replay failed: {e}");
            notice(
                &console,
                &session,
                StatusCode::SERVICE_UNAVAILABLE,
                "重放失败 Replay failed",
                text,
                &back,
            )
        }
    }
}

#[derive(Deserialize)]
pub struct ReplayMatching {
    csrf: String,
    #[serde(flatten)]
    filter: ParkedQuery,
    /// How many the operator saw and confirmed; absent on the first post.
    confirm: Option<String>,
}

pub async fn replay_matching(
    State(state): State<AdminState>,
    Extension(console): Extension<Arc<Console>>,
    Extension(session): Extension<Session>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<ReplayMatching>,
) -> Response {
    let target = serde_urlencoded::to_string(&form.filter).unwrap_or_default();
    if !session.csrf_ok(&form.csrf) {
        record(&state, peer, "replay_all", "refused", &target);
        return refused(StatusCode::FORBIDDEN, "stale form; reload the page");
    }
    let settings = Arc::clone(&state.live.current().settings);
    let back = format!("/ui/parked?{target}");
    let mut filter = match lot_filter(&form.filter) {
        Ok(f) => f,
        Err(e) => {
            return notice(
                &console,
                &session,
                StatusCode::BAD_REQUEST,
                "筛选有误 Bad filter",
                e,
                &back,
            )
        }
    };
    let confirmed = form.confirm.as_deref().map(str::parse::<usize>);
    match confirmed {
        None => match parking_lot::list(&settings.broker, &filter).await {
            Ok(found) => console.view.page(
                "确认 Confirm",
                "parked",
                Some(&session.csrf),
                "confirm.html",
                minijinja::context! { count => found.len(), queue => &settings.broker.queue, q => &form.filter },
            ),
            Err(e) => notice(
                &console,
                &session,
                StatusCode::SERVICE_UNAVAILABLE,
                "停放区不可读 Cannot read the parking lot",
                e.to_string(),
                &back,
            ),
        },
        Some(Err(_)) => notice(
            &console,
            &session,
            StatusCode::BAD_REQUEST,
            "确认有误 Bad confirmation",
            "confirm must be a number".into(),
            &back,
        ),
        Some(Ok(count)) => {
            // No more than the operator confirmed, even if more were parked since.
            filter.limit = Some(count.min(filter.limit.unwrap_or(count)));
            match parking_lot::replay(&settings.broker, &filter).await {
                Ok(moved) => {
                    record(&state, peer, "replay_all", "ok", &target);
                    let text = format!(
                        "已移回 {n} 条消息到 {q}。Moved {n} message(s) back to {q}.",
                        n = moved.len(),
                        q = settings.broker.queue
                    );
                    notice(&console, &session, StatusCode::OK, "已重放 Replayed", text, "/ui/parked")
                }
                Err(e) => {
                    record(&state, peer, "replay_all", "failed", &target);
                    notice(
                        &console,
                        &session,
                        StatusCode::SERVICE_UNAVAILABLE,
                        "重放失败 Replay failed",
                        e.to_string(),
                        &back,
                    )
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_take_look_backs_dates_and_epoch_ms() {
        assert_eq!(time_ms("1700000000000", "from"), Ok(1_700_000_000_000));
        assert_eq!(time_ms("2023-11-14 22:13", "from"), Ok(1_699_999_980_000));
        assert_eq!(time_ms("2023-11-14", "from"), Ok(1_699_920_000_000));
        assert!(time_ms("2h", "from").unwrap() < now_ms());
        assert!(time_ms("soon", "from")
            .unwrap_err()
            .starts_with("from `soon`"));
    }

    #[test]
    fn a_search_form_becomes_a_journal_filter() {
        let q = SearchQuery {
            key_name: "codeNo".into(),
            key: " C-1 ".into(),
            outcome: "parked".into(),
            before: "5.7".into(),
            ..SearchQuery::default()
        };
        let f = search_filter(&q).unwrap();
        assert_eq!(f.key, Some(("codeNo".into(), "C-1".into())));
        assert_eq!(f.outcome, Some(JournalOutcome::Parked));
        assert_eq!(f.before, Some((5, 7)));
        assert_eq!(f.limit, Some(PAGE));
        let bad = SearchQuery {
            outcome: "deferred".into(),
            ..SearchQuery::default()
        };
        assert!(search_filter(&bad).is_err());
    }

    #[test]
    fn credentials_in_headers_are_never_shown() {
        assert!(secret_header("Authorization"));
        assert!(secret_header("X-Api-Key"));
        assert!(!secret_header("X-Sign"));
    }
}
