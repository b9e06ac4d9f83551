//! `/deliveries`: the journal over HTTP — list attempts, one message's attempts, replay.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lapin::BasicProperties;
use serde_json::{json, Value};
use tokio::sync::OnceCell;
use tracing::warn;

use super::AdminState;
use crate::broker::{dead_letters, BrokerError};
use crate::journal::{AttemptRow, Filter, JournalReader, JournalUrl};
use crate::message::NotifyType;

/// The journal reader, opened on first use so a database that is down at start does not
/// stop the admin endpoints (or the bridge) from starting.
pub struct Reader {
    url: JournalUrl,
    reader: OnceCell<JournalReader>,
}

impl Reader {
    pub fn new(url: JournalUrl) -> Arc<Self> {
        Arc::new(Self {
            url,
            reader: OnceCell::new(),
        })
    }

    pub(super) async fn get(&self) -> Result<&JournalReader, Response> {
        self.reader
            .get_or_try_init(|| JournalReader::open(&self.url))
            .await
            .map_err(|e| {
                warn!(error = %e, "journal unavailable");
                unavailable()
            })
    }
}

/// `GET /deliveries?channelId=&notifyType=&outcome=&since=&key=&limit=`, newest first;
/// `key` is `name=value` (a value prefix), e.g. `orderNo=WO2025`.
pub async fn list(
    State(state): State<AdminState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let filter = match filter(&query) {
        Ok(f) => f,
        Err(reason) => return (StatusCode::BAD_REQUEST, reason).into_response(),
    };
    let reader = match state.journal.get().await {
        Ok(r) => r,
        Err(response) => return response,
    };
    match reader.list(&filter).await {
        Ok(rows) => {
            Json(json!({ "deliveries": rows.iter().map(row).collect::<Vec<_>>() })).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

/// `GET /deliveries/{id}`: every attempt of one message, oldest first.
pub async fn one(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    let reader = match state.journal.get().await {
        Ok(r) => r,
        Err(response) => return response,
    };
    match reader.attempts(&id).await {
        Ok(rows) if rows.is_empty() => (StatusCode::NOT_FOUND, "no such message").into_response(),
        Ok(rows) => Json(json!({
            "id": id,
            "attempts": rows.iter().map(row).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => {
            warn!(error = %e, "journal query failed");
            unavailable()
        }
    }
}

/// `POST /deliveries/{id}/replay`: re-publish the message, same id, for a fresh schedule —
/// the journal's original, else its parked copy — and take its parked copies out of the
/// parking lot, so a later `dead replay` does not deliver it again.
pub async fn replay(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    match replay_by_id(&state, &id).await {
        Ok(Some(done)) => Json(json!({
            "replayed": id,
            "queue": state.broker.queue,
            "takenFromParkingLot": done.taken_from_lot,
        }))
        .into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            "no original kept and none parked for this id",
        )
            .into_response(),
        Err(e) => {
            warn!(error = %e, "replay publish failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("replay failed: {e}"),
            )
                .into_response()
        }
    }
}

/// Re-publishes message `id` for a fresh schedule (the journal's original, else its
/// parked copy) and takes its parked copies out of the lot; `None` when there is neither.
pub(super) async fn replay_by_id(
    state: &AdminState,
    id: &str,
) -> Result<Option<dead_letters::ReplayedId>, BrokerError> {
    // A journal that is down must not stop a replay the parking lot can serve.
    let stored = match state.journal.get().await {
        Ok(reader) => reader.message(id).await.unwrap_or_else(|e| {
            warn!(error = %e, "journal query failed; replaying from the parking lot");
            None
        }),
        Err(_) => None,
    };
    let original = stored.map(|stored| {
        let mut properties = BasicProperties::default().with_message_id(id.into());
        if let Some(ct) = &stored.content_type {
            properties = properties.with_content_type(ct.as_str().into());
        }
        (stored.body, properties)
    });
    dead_letters::replay_id(&state.broker, id, original).await
}

fn filter(query: &HashMap<String, String>) -> Result<Filter, String> {
    let limit = query
        .get("limit")
        .map(|l| {
            l.parse()
                .map_err(|_| format!("limit `{l}` is not a number"))
        })
        .transpose()?;
    let text = |name: &str| query.get(name).map(String::as_str);
    Filter::parse(
        query.get("channelId").cloned(),
        text("notifyType"),
        text("outcome"),
        text("since"),
        "since",
        limit,
    )
    .and_then(|f| match query.get("key") {
        Some(key) => f.with_key(key),
        None => Ok(f),
    })
}

fn row(r: &AttemptRow) -> Value {
    json!({
        "id": r.message_id,
        "channelId": r.channel,
        "notifyType": r.notify_type.map(NotifyType::as_str),
        "url": r.url,
        "attempt": r.attempt,
        "status": r.status,
        "latencyMs": r.latency_ms,
        "response": r.response,
        "error": r.error,
        "outcome": r.outcome.as_str(),
        "atMs": r.at_ms,
    })
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the delivery journal is unavailable",
    )
        .into_response()
}
