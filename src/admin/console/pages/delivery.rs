//! One delivery: its attempts, the message as received and the request re-created now,
//! secrets masked, and what happens next.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Serialize;
use serde_json::Value;

use crate::admin::console::{Console, Session};
use crate::admin::AdminState;
use crate::journal::{biz_content, AttemptRow, JournalOutcome, JournalReader, Mask, StoredMessage};
use crate::message::MessageId;
use crate::parse::Declared;
use crate::pipeline::Pins;
use crate::retry::RetrySchedule;

use super::search::{attempt_view, AttemptView};
use super::{dash, utc};

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
    let declared = Declared::content_type(stored.content_type.as_deref());
    let message_id = MessageId::from_delivery(Some(id), &stored.body);
    let prepared = state
        .pipeline
        .current()
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
            let pipeline = state.pipeline.current();
            let step = last
                .channel
                .as_deref()
                .and_then(|c| pipeline.channel(c))
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
    let mask = &state.mask;
    let biz = stored.as_ref().and_then(|s| biz_content(&s.body));
    let channel = attempts.iter().find_map(|a| a.channel.clone());
    let keys: Vec<String> = stored
        .as_ref()
        .map(|s| {
            state
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_headers_are_never_shown() {
        assert!(secret_header("Authorization"));
        assert!(secret_header("X-Api-Key"));
        assert!(!secret_header("X-Sign"));
    }
}
