//! Two bridge processes receive callbacks for one receiver, sharing the Redis store. One is
//! made to crash right after the broker confirmed an event and before answering: the
//! provider, hearing nothing, retries against the other replica and is answered success;
//! the event is in the queue at least once and at most twice.

use std::time::{Duration, Instant};

use notify_bridge::failpoint;
use serde_json::{json, Value};

use super::{redis_url, signing, Harness, Options};
use crate::support::process::{config_file, spawn_bridge_with, Reaped};

const JSON: (&str, &str) = ("content-type", "application/json");

/// Starts a bridge process serving the harness's receiver on a port of its own.
fn replica(h: &Harness, consumer_queue: &str, env: &[(&str, &str)]) -> (Reaped, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    let toml = h
        .config()
        .replace("listen = \"127.0.0.1:0\"", &format!("listen = \"{port}\""));
    let dir = tempfile::tempdir().unwrap().keep();
    let config = config_file(&dir, &toml, consumer_queue);
    (spawn_bridge_with(&config, env), format!("http://{port}/cb"))
}

async fn post(client: &reqwest::Client, url: &str, body: &str) -> Result<(u16, String), String> {
    let response = client
        .post(url)
        .header(JSON.0, JSON.1)
        .body(body.to_owned())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.unwrap_or_default()))
}

/// Polls until the server at `url` answers anything at all.
async fn listening(client: &reqwest::Client, url: &str) {
    let started = Instant::now();
    while post(client, url, "{}").await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{url} never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_replica_crashing_between_confirm_and_answer_loses_nothing() {
    let options = Options {
        store: redis_url(),
        serve: false,
        ..Options::default()
    };
    let h = Harness::start_with(
        "preset = \"em\"\nsigner = { secret = \"k\" }",
        "em.*",
        options,
    )
    .await;
    // The processes also run a consumer: give it a queue of its own, not the bound one.
    let consumer_queue = format!("{}.consumer", h.queue);
    let crash = [(failpoint::VARIABLE, failpoint::INBOUND_AFTER_CONFIRM)];
    let (mut doomed, doomed_url) = replica(&h, &consumer_queue, &crash);
    let (_survivor, survivor_url) = replica(&h, &consumer_queue, &[]);
    let client = reqwest::Client::new();
    listening(&client, &doomed_url).await;
    listening(&client, &survivor_url).await;

    let data =
        json!({"notify_type": "OUT_TRADE_AUDIT", "trade_no": format!("DD{}", signing::nonce())});
    let push = Value::Object(signing::em("KEY_A", &data, "100", "k")).to_string();
    let answer = post(&client, &doomed_url, &push).await;
    assert!(answer.is_err(), "the crashing replica answered: {answer:?}");
    let status = doomed.wait().unwrap();
    assert_eq!(status.code(), Some(137), "it stopped at the failpoint");
    // Confirmed before the crash: the event is already in the queue.
    let mut events = h.take().await;
    assert_eq!(events.len(), 1, "{events:?}");

    // The provider retries the very same push on the other replica until it hears success:
    // the crashed replica's claim is still "publishing" until it lapses.
    let started = Instant::now();
    let answered = loop {
        match post(&client, &survivor_url, &push).await {
            Ok((200, text)) => break text,
            Ok(_) | Err(_) => {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "never answered success"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    assert_eq!(answered, "SUCCESS");
    eprintln!(
        "provider's retry answered success after {:?}",
        started.elapsed()
    );
    // The retry may publish it again (the crash left it unrecorded), never a third time.
    events.extend(h.take().await);
    assert!(
        (1..=2).contains(&events.len()),
        "published {} times",
        events.len()
    );
    assert!(events.iter().all(|e| e.message_id == events[0].message_id));
    // Recorded as published now: a further retry is not published again.
    assert_eq!(
        post(&client, &survivor_url, &push).await,
        Ok((200, "SUCCESS".into()))
    );
    assert_eq!(h.take().await.len(), 0);
    h.stop().await;
}
