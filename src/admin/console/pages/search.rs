//! The search page: attempts by business key, channel, outcome and time, newest first,
//! paged.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{dash, excerpt, text, time_ms, utc, PAGE};
use crate::admin::console::view::path_segment;
use crate::admin::console::{Console, Session};
use crate::admin::AdminState;
use crate::journal::{AttemptRow, Filter, JournalOutcome, Mask};
use crate::message::NotifyType;

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
pub(super) struct AttemptView {
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

pub(super) fn attempt_view(r: &AttemptRow, mask: &Mask, biz: Option<&Value>) -> AttemptView {
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
        let to = format!("/ui/delivery/{}", path_segment(id));
        return Redirect::to(&to).into_response();
    }
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
                            .map(|r| attempt_view(r, &state.mask, None))
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
            key_names => state.keys.names(),
            channels => state.pipeline.current().channel_ids(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
