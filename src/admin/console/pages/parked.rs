//! The parking lot: counts from the journal, the parked messages, and replaying one or
//! all matching after a confirmation.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Form};
use serde::{Deserialize, Serialize};

use super::{dash, excerpt, notice, time_ms, utc, PARKED_LIST, PARKED_MAX};
use crate::admin::console::view::path_segment;
use crate::admin::console::{record, refused, Console, Session};
use crate::admin::deliveries::replay_by_id;
use crate::admin::AdminState;
use crate::broker::dead_letters::{self, Parked};
use crate::journal::Mask;

/// The parking lot filter, as the form sends it.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ParkedQuery {
    channel: String,
    reason: String,
    since: String,
    limit: String,
}

fn lot_filter(q: &ParkedQuery) -> Result<dead_letters::Filter, String> {
    let text = |s: &String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let since_ms = text(&q.since).map(|s| time_ms(&s, "since")).transpose()?;
    let limit = match text(&q.limit) {
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| *l > 0)
            .ok_or_else(|| format!("limit `{l}` is not a positive number"))?
            .min(PARKED_MAX),
        None => PARKED_LIST,
    };
    Ok(dead_letters::Filter {
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
        Ok(filter) => match dead_letters::list(&state.broker, &filter).await {
            Ok(found) => (
                found.iter().map(|p| parked_view(p, &state.mask)).collect(),
                None,
            ),
            Err(e) => (
                Vec::new(),
                Some(format!("停放区不可读 Cannot read the parking lot: {e}")),
            ),
        },
    };
    // The limit in force, so the form (and "replay all") shows what was listed.
    let limit = lot_filter(&q).ok().and_then(|f| f.limit);
    let capped = q
        .limit
        .trim()
        .parse::<usize>()
        .is_ok_and(|l| l > PARKED_MAX);
    let shown = ParkedQuery {
        limit: limit.map_or_else(|| q.limit.clone(), |l| l.to_string()),
        ..q
    };
    console.view.page(
        "停放区 Parking lot",
        "parked",
        Some(&session.csrf),
        "parked.html",
        minijinja::context! { q => shown, max => PARKED_MAX, capped, counts, journal_error, parked, error },
    )
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
    let back = format!("/ui/delivery/{}", path_segment(&id));
    let queue = &state.broker.queue;
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
        None => match dead_letters::list(&state.broker, &filter).await {
            Ok(found) => console.view.page(
                "确认 Confirm",
                "parked",
                Some(&session.csrf),
                "confirm.html",
                minijinja::context! { count => found.len(), queue => &state.broker.queue, q => &form.filter },
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
            match dead_letters::replay(&state.broker, &filter).await {
                Ok(moved) => {
                    record(&state, peer, "replay_all", "ok", &target);
                    let text = format!(
                        "已移回 {n} 条消息到 {q}。Moved {n} message(s) back to {q}.",
                        n = moved.len(),
                        q = state.broker.queue
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

#[cfg(test)]
mod tests {
    use super::*;

    fn limit_of(limit: &str) -> Result<Option<usize>, String> {
        let q = ParkedQuery {
            limit: limit.to_owned(),
            ..ParkedQuery::default()
        };
        lot_filter(&q).map(|f| f.limit)
    }

    #[test]
    fn the_limit_is_capped() {
        assert_eq!(limit_of(""), Ok(Some(PARKED_LIST)));
        assert_eq!(limit_of("7"), Ok(Some(7)));
        assert_eq!(limit_of("500"), Ok(Some(PARKED_MAX)));
        assert_eq!(limit_of("1000000"), Ok(Some(PARKED_MAX)));
        assert!(limit_of("0").is_err());
        assert!(limit_of("lots").is_err());
    }
}
