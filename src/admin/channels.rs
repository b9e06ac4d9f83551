//! `/channels/paused`, `POST /channels/{id}/pause` and `/resume`: pausing a brand's
//! deliveries, shared with every replica through the journal.

use std::collections::HashSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tracing::{info, warn};

use super::AdminState;
use crate::journal::JournalError;

/// Why a pause or resume did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PauseError {
    #[error("no channel `{0}` in the configuration")]
    UnknownChannel(String),
    #[error("the delivery journal, which keeps pauses, is unavailable")]
    Unavailable,
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// Pauses (`pause` true) or resumes `channel`, then refreshes this replica's set at once
/// (the others follow within seconds). True when it changed anything.
pub(super) async fn set_paused(
    state: &AdminState,
    channel: &str,
    pause: bool,
) -> Result<bool, PauseError> {
    if pause && state.pipeline.current().channel(channel).is_none() {
        return Err(PauseError::UnknownChannel(channel.to_owned()));
    }
    let reader = state
        .journal
        .get()
        .await
        .map_err(|_| PauseError::Unavailable)?;
    let changed = if pause {
        reader.pause(channel).await?
    } else {
        reader.resume(channel).await?
    };
    let now: HashSet<String> = reader
        .paused_channels()
        .await?
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    state.pauses.set(now);
    Ok(changed)
}

/// `GET /channels/paused`: every paused channel and since when.
pub async fn paused(State(state): State<AdminState>) -> Response {
    let Ok(reader) = state.journal.get().await else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            PauseError::Unavailable.to_string(),
        )
            .into_response();
    };
    match reader.paused_channels().await {
        Ok(list) => Json(json!({
            "paused": list
                .iter()
                .map(|(channel, at)| json!({ "channelId": channel, "pausedAtMs": at }))
                .collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// `POST /channels/{id}/pause`.
pub async fn pause(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    answer(&state, &id, true).await
}

/// `POST /channels/{id}/resume`.
pub async fn resume(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    answer(&state, &id, false).await
}

async fn answer(state: &AdminState, id: &str, pause: bool) -> Response {
    let action = if pause { "pause" } else { "resume" };
    match set_paused(state, id, pause).await {
        Ok(changed) => {
            state.metrics.console_action(action, "ok");
            info!(channel = %id, action, changed, "channel {action} via the admin API");
            Json(json!({ "channelId": id, "paused": pause, "changed": changed })).into_response()
        }
        Err(e) => {
            state.metrics.console_action(action, "refused");
            warn!(channel = %id, action, error = %e, "channel {action} refused");
            let status = match e {
                PauseError::UnknownChannel(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            (status, e.to_string()).into_response()
        }
    }
}
