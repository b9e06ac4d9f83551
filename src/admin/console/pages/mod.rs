//! What each console page shows, one file per page (`channels`, `search`, `delivery`,
//! `parked`), and what they share: time and text formatting, the action notice.

mod channels;
mod delivery;
mod parked;
mod search;

pub use channels::{channels, channels_live, pause_or_resume};
pub use delivery::delivery;
pub use parked::{parked, replay_matching, replay_one};
pub use search::search;

use std::time::{Duration, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::response::Response;

use super::{Console, Session};
use crate::broker::dead_letters;
use crate::clock::now_ms;

/// Rows per search page.
const PAGE: u32 = 50;
/// Parked messages listed when the filter names no limit.
const PARKED_LIST: usize = 50;
/// The most parked messages one page lists (or one "replay all" moves): each is read off
/// the broker, so an unbounded limit would hold a connection and the page for long.
const PARKED_MAX: usize = 500;
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
    dead_letters::since_ms(&padded, now_ms()).map_err(|_| {
        format!("{what} `{text}`: 时间格式不对 not a time such as 2h or 2025-06-01 08:00")
    })
}

/// A form field, trimmed; `None` when blank.
fn text(field: &str) -> Option<&str> {
    Some(field.trim()).filter(|s| !s.is_empty())
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
}
