//! Admin HTTP over real HTTP: probes, bearer token, metrics, live reload.

use std::collections::HashMap;
use std::time::Duration;

use notify_bridge::journal::JournalReader;
use notify_bridge::secret::Secret;
use notify_bridge::settings::Settings;
use serde_json::{json, Map, Value};

use crate::support::broker::TestBroker;
use crate::support::process::bridge_cli;
use crate::support::receiver::Receiver;
use crate::support::{amqp_url, eventually, unique_queue, Bridge, Scrape};
use crate::{independent_sign, queue_message};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(queue: &str, port: u16, secret: &str, extra: &str) -> String {
    format!(
        r#"
[broker]
url = "{amqp}"
queue = "{queue}"
shutdown_grace = "2s"

[journal]
url = "sqlite://{journal}"

[admin]
listen = "127.0.0.1:{port}"
token = "adm1n-t0ken"

[channels.shop]
app_id = "APP"
url_policy = {{ schemes = ["http"], allow_private = true }}
signer = {{ secret = "{secret}" }}
{extra}
"#,
        amqp = amqp_url(),
        journal = std::env::temp_dir().join(format!("{queue}.db")).display(),
    )
}

#[tokio::test]
async fn probes_token_metrics_and_reload() {
    let queue = unique_queue("admin");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::ok().await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, config(&queue, port, "first-secret", "")).unwrap();
    let bridge = Bridge::start(Settings::load(&path, &HashMap::new()).unwrap());
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let get = |path: &str, token: Option<&str>| {
        let mut request = http.get(format!("{base}{path}"));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        async move {
            // Status 0: not listening yet (the bridge binds as it starts).
            match request.send().await {
                Ok(response) => (response.status().as_u16(), response.text().await.unwrap()),
                Err(e) => (0, e.to_string()),
            }
        }
    };

    eventually(Duration::from_secs(10), "ready", || async {
        get("/readyz", None).await.0 == 200
    })
    .await;
    assert_eq!(get("/healthz", None).await, (200, "ok".into()));
    // The broker node in use, without credentials.
    let node = notify_bridge::broker::endpoints::node_of(&Secret::new(amqp_url()));
    assert_eq!(
        get("/readyz", None).await,
        (200, format!("consuming from {node}"))
    );
    assert_eq!(get("/metrics", None).await.0, 401, "metrics need the token");
    assert_eq!(get("/metrics", Some("wrong")).await.0, 401);
    let reload_without_token = http
        .post(format!("{base}/admin/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(reload_without_token.status().as_u16(), 401);

    let publish = |id: &'static str, channel: &'static str| {
        let body = queue_message(
            channel,
            &receiver.url("/n"),
            "Verify",
            &json!({"bizContent": "{}"}),
        );
        let (broker, queue) = (&broker, &queue);
        async move { broker.publish(queue, body.as_bytes(), Some(id), None).await }
    };
    publish("m1", "shop").await;
    eventually(Duration::from_secs(10), "first delivery", || async {
        receiver.count() == 1
    })
    .await;

    let scrape = || async {
        let (status, text) = get("/metrics", Some("adm1n-t0ken")).await;
        assert_eq!(status, 200);
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text")
    };
    let delivered_count = |scrape: &prometheus_parse::Scrape| {
        scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == "notify_attempts_total"
                    && s.labels.get("channel") == Some("shop")
                    && s.labels.get("outcome") == Some("delivered")
            })
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => -1.0,
            })
    };
    // Counted right after the ack, so it may trail the receiver by a moment.
    eventually(Duration::from_secs(5), "the delivery counted", || async {
        delivered_count(&scrape().await) == Some(1.0)
    })
    .await;
    let scrape = scrape().await;
    assert!(scrape.samples.iter().any(|s| {
        s.metric == "notify_broker_connected"
            && s.labels.get("node") == Some(node.as_str())
            && matches!(s.value, prometheus_parse::Value::Gauge(v) if v == 1.0)
    }));
    assert!(scrape
        .samples
        .iter()
        .any(|s| s.metric.starts_with("notify_attempt_duration_seconds")));

    // A rotated secret and a new brand take effect for the next message.
    let new_brand = r#"
[channels.newbrand]
app_id = "NEW"
url_policy = { schemes = ["http"], allow_private = true }
signer = { secret = "new-brand-secret" }
"#;
    std::fs::write(&path, config(&queue, port, "second-secret", new_brand)).unwrap();
    let reloaded = http
        .post(format!("{base}/admin/reload"))
        .bearer_auth("adm1n-t0ken")
        .send()
        .await
        .unwrap();
    assert_eq!(reloaded.status().as_u16(), 200);
    publish("m2", "shop").await;
    publish("m3", "newbrand").await;
    eventually(
        Duration::from_secs(10),
        "deliveries after reload",
        || async { receiver.count() == 3 },
    )
    .await;

    // An invalid config is refused with the reason; the running one stays.
    std::fs::write(&path, config(&queue, port, "third-secret", "hash_typo = 1")).unwrap();
    let refused = http
        .post(format!("{base}/admin/reload"))
        .bearer_auth("adm1n-t0ken")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 422);
    let reason = refused.text().await.unwrap();
    assert!(reason.contains("hash_typo"), "{reason}");
    assert!(!reason.contains("third-secret"), "no secret in the reason");
    publish("m4", "shop").await;
    eventually(
        Duration::from_secs(10),
        "delivery after a refused reload",
        || async { receiver.count() == 4 },
    )
    .await;

    // The journal: every attempt, queryable, and replayable from the original it kept.
    let deliveries = |query: &'static str| {
        let get = &get;
        async move {
            let (status, text) = get(query, Some("adm1n-t0ken")).await;
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
            )
        }
    };
    eventually(
        Duration::from_secs(10),
        "three journal rows for shop",
        || async {
            let (_, list) = deliveries("/deliveries?channelId=shop&outcome=delivered").await;
            list["deliveries"].as_array().map_or(0, Vec::len) == 3
        },
    )
    .await;
    assert_eq!(
        get("/deliveries", None).await.0,
        401,
        "the journal needs the token"
    );
    let (status, one) = deliveries("/deliveries/m3").await;
    assert_eq!(status, 200);
    let attempt = &one["attempts"][0];
    assert_eq!(attempt["channelId"], "newbrand");
    assert_eq!(attempt["notifyType"], "Verify");
    assert_eq!(attempt["status"], 200);
    assert_eq!(attempt["outcome"], "delivered");
    assert_eq!(attempt["response"], "ok");
    assert!(attempt["url"].as_str().unwrap().ends_with("/n"));
    assert_eq!(deliveries("/deliveries/nope").await.0, 404);
    assert_eq!(deliveries("/deliveries?outcome=maybe").await.0, 400);
    let replay = http
        .post(format!("{base}/deliveries/m3/replay"))
        .bearer_auth("adm1n-t0ken")
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status().as_u16(), 200);
    eventually(Duration::from_secs(10), "the replayed delivery", || async {
        receiver.count() == 5
    })
    .await;
    let again = receiver
        .received()
        .into_iter()
        .filter(|r| r.headers["x-notify-id"] == "m3")
        .count();
    assert_eq!(again, 2, "replayed under the same id");
    bridge.stop().await;

    let signed_with = |id: &str| {
        let r = receiver
            .received()
            .into_iter()
            .find(|r| r.headers["x-notify-id"] == id)
            .unwrap();
        let body: Map<String, Value> = serde_json::from_str(&r.body).unwrap();
        (body["sign"].as_str().unwrap().to_owned(), body)
    };
    let (sign, body) = signed_with("m1");
    assert_eq!(sign, independent_sign(&body, "first-secret", true));
    let (sign, body) = signed_with("m2");
    assert_eq!(sign, independent_sign(&body, "second-secret", true));
    let (sign, body) = signed_with("m3");
    assert_eq!(sign, independent_sign(&body, "new-brand-secret", true));
    let (sign, body) = signed_with("m4");
    assert_eq!(
        sign,
        independent_sign(&body, "second-secret", true),
        "the refused config never ran"
    );
    broker.cleanup(&queue).await;
}

/// Without `admin.token` the API trusts loopback, so what a web page in the operator's
/// browser can send must be refused: a cross-site POST and a DNS-rebinding `Host`.
#[tokio::test]
async fn a_tokenless_admin_refuses_what_a_web_page_sends() {
    let queue = unique_queue("admincsrf");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.toml");
    let text = config(&queue, port, "s", "").replace("token = \"adm1n-t0ken\"\n", "");
    assert!(!text.contains("token ="), "tokenless config");
    std::fs::write(&path, text).unwrap();
    let bridge = Bridge::start(Settings::load(&path, &HashMap::new()).unwrap());
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    eventually(Duration::from_secs(10), "ready", || async {
        matches!(http.get(format!("{base}/readyz")).send().await, Ok(r) if r.status() == 200)
    })
    .await;
    let paused = || async {
        let list = http
            .get(format!("{base}/channels/paused"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let list: Value = serde_json::from_str(&list).unwrap();
        list["paused"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["channelId"] == "shop")
    };
    let pause = format!("{base}/channels/shop/pause");
    let refused = |response: reqwest::Response| async move {
        assert_eq!(response.status().as_u16(), 403);
        let body: Value =
            serde_json::from_str(&response.text().await.unwrap()).expect("a JSON error");
        body["error"].as_str().expect("an error text").to_owned()
    };

    let cross_site = http
        .post(&pause)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    let error = refused(cross_site).await;
    assert!(error.contains("cross-origin"), "{error}");
    let fetch_site = http
        .post(&pause)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    let error = refused(fetch_site).await;
    assert!(error.contains("cross-site"), "{error}");
    let rebinding = http
        .post(&pause)
        .header("host", format!("evil.example:{port}"))
        .send()
        .await
        .unwrap();
    let error = refused(rebinding).await;
    assert!(error.contains("loopback"), "{error}");
    let rebinding_read = http
        .get(format!("{base}/deliveries"))
        .header("host", format!("evil.example:{port}"))
        .send()
        .await
        .unwrap();
    refused(rebinding_read).await;
    assert!(!paused().await, "nothing refused paused the channel");

    // The CLI and curl send no Origin.
    let curl_like = http.post(&pause).send().await.unwrap();
    assert_eq!(curl_like.status().as_u16(), 200);
    assert!(paused().await, "the curl-like POST paused the channel");
    let same_origin = http
        .post(format!("{base}/channels/shop/resume"))
        .header("origin", base.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status().as_u16(), 200);
    assert!(!paused().await, "a same-origin POST resumed it");
    bridge.stop().await;
}

/// A channel paused before a restart stays paused from the first message on: the pauses
/// are read before the consumer starts.
#[tokio::test]
async fn a_restart_attempts_nothing_of_a_paused_channel() {
    let queue = unique_queue("adminpaused");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, config(&queue, free_port(), "s", "")).unwrap();
    let settings = Settings::load(&path, &HashMap::new()).unwrap();
    let url = settings.journal.url.clone();
    // The first run creates the journal the pause is kept in.
    let first = Bridge::start(settings);
    eventually(Duration::from_secs(10), "the journal created", || async {
        JournalReader::open(&url).await.is_ok()
    })
    .await;
    first.stop().await;
    let paused = bridge_cli(&[
        "channel",
        "pause",
        "shop",
        "--config",
        path.to_str().unwrap(),
    ]);
    assert!(paused.contains("paused shop"), "{paused}");

    let body = queue_message(
        "shop",
        &receiver.url("/n"),
        "Verify",
        &json!({"bizContent": "{}"}),
    );
    let ids: Vec<String> = (0..20).map(|i| format!("restart-paused-{i}")).collect();
    broker
        .publish_all(&queue, body.as_bytes(), ids.clone().into_iter())
        .await;
    let second = Bridge::start(Settings::load(&path, &HashMap::new()).unwrap());
    let reader = JournalReader::open(&url).await.unwrap();
    eventually(
        Duration::from_secs(30),
        "every message deferred",
        || async {
            for id in &ids {
                if reader.deferrals(id).await.unwrap().0 == 0 {
                    return false;
                }
            }
            true
        },
    )
    .await;
    for id in &ids {
        assert!(
            reader.attempts(id).await.unwrap().is_empty(),
            "{id} attempted while its channel was paused"
        );
    }
    assert_eq!(receiver.count(), 0, "no callback while paused");
    reader.close().await;
    second.stop().await;
}

#[test]
fn a_non_loopback_admin_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[admin]\nlisten = \"0.0.0.0:9464\"\n").unwrap();
    let err = Settings::load(&path, &HashMap::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("admin.token: required"), "{err}");
}

#[tokio::test]
async fn the_deliveries_command_shows_the_journal() {
    let queue = unique_queue("journalcli");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::start(|r| match r.path.as_str() {
        "/fail" => (500, "down for maintenance".into()),
        _ => (200, "ok".into()),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.toml");
    let text = format!(
        "[broker]\nurl = \"{}\"\nqueue = \"{queue}\"\n[journal]\nurl = \"sqlite://{}\"\n[channels.shop]\napp_id = \"A\"\nurl_policy = {{ schemes = [\"http\"], allow_private = true }}\nsigner = {{ secret = \"s\" }}\nretry = {{ schedule = [\"0s\", \"100ms\"] }}\n",
        amqp_url(),
        dir.path().join("journal.db").display()
    );
    std::fs::write(&path, text).unwrap();
    let mut settings = Settings::load(&path, &HashMap::new()).unwrap();
    crate::support::isolate(&mut settings);
    let bridge = Bridge::start(settings);
    let whale = json!({"bizContent": "{}"});
    for (id, route) in [("m-ok", "/ok"), ("m-fail", "/fail")] {
        let body = queue_message("shop", &receiver.url(route), "CodeExpire", &whale);
        broker
            .publish(&queue, body.as_bytes(), Some(id), None)
            .await;
    }
    let dead = format!("{queue}.dead");
    eventually(Duration::from_secs(20), "one parked", || async {
        broker.depth(&dead).await == 1
    })
    .await;
    bridge.stop().await; // flushes the journal

    let cli = |args: &[&str]| crate::support::process::bridge_cli(args);
    let cfg = path.to_str().unwrap();
    let table = cli(&[
        "deliveries",
        "--config",
        cfg,
        "--channel",
        "shop",
        "--since",
        "1h",
    ]);
    assert!(table.contains("3 attempt(s)"), "{table}");
    for word in [
        "m-ok",
        "m-fail",
        "delivered",
        "retry",
        "parked",
        "CodeExpire",
        "down for maintenance",
    ] {
        assert!(table.contains(word), "{word} missing from:\n{table}");
    }
    let one = cli(&["deliveries", "--config", cfg, "--id", "m-fail"]);
    assert!(one.contains("2 attempt(s)"), "{one}");
    let parked = cli(&["deliveries", "--config", cfg, "--outcome", "parked"]);
    assert!(
        parked.contains("1 attempt(s)") && parked.contains("500"),
        "{parked}"
    );
    broker.cleanup(&queue).await;
}

#[tokio::test]
async fn deliveries_go_on_while_the_journal_database_is_down() {
    let queue = unique_queue("journaldown");
    let broker = TestBroker::connect().await;
    broker.declare(&queue).await;
    let receiver = Receiver::ok().await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.toml");
    // Nothing listens on the journal's port: every write fails for the whole run.
    let closed = free_port();
    let text = format!(
        "[broker]\nurl = \"{}\"\nqueue = \"{queue}\"\nshutdown_grace = \"1s\"\n[admin]\nlisten = \"127.0.0.1:{port}\"\n[journal]\nurl = \"postgres://postgres@127.0.0.1:{closed}/test\"\nbuffer = 50\n[channels.shop]\napp_id = \"A\"\nurl_policy = {{ schemes = [\"http\"], allow_private = true }}\nsigner = {{ secret = \"s\" }}\n",
        amqp_url()
    );
    std::fs::write(&path, text).unwrap();
    let bridge = Bridge::start(Settings::load(&path, &HashMap::new()).unwrap());
    let total = 200;
    for i in 0..total {
        let body = queue_message(
            "shop",
            &receiver.url("/n"),
            "MakeCode",
            &json!({"bizContent": "{}"}),
        );
        broker
            .publish(&queue, body.as_bytes(), Some(&format!("j-{i}")), None)
            .await;
    }
    eventually(Duration::from_secs(30), "all delivered", || async {
        receiver.count() == total
    })
    .await;
    let scrape = || async {
        let metrics = Scrape::of(port).await;
        (
            metrics.value("notify_journal_errors_total"),
            metrics.value("notify_journal_dropped_total"),
            metrics.value("notify_journal_lag"),
        )
    };
    eventually(
        Duration::from_secs(20),
        "journal errors counted",
        || async { scrape().await.0 >= 1.0 },
    )
    .await;
    let (_, dropped, lag) = scrape().await;
    // Nothing was written: every entry is either waiting (bounded) or counted as dropped.
    assert_eq!(dropped + lag, total as f64, "dropped {dropped} + lag {lag}");
    assert!(lag <= 50.0 + 500.0, "the buffer stays bounded: lag {lag}");
    bridge.stop().await;
    broker.cleanup(&queue).await;
}
