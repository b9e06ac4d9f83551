//! Each provider's callback, signed as the provider signs it, is verified, published once
//! with its identity and headers, and answered in the provider's words.

use serde_json::{json, Value};

use super::signing::{self, YzmRequest};
use super::Harness;

const JSON: (&str, &str) = ("content-type", "application/json");
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

#[tokio::test]
async fn shangzhan_callbacks_are_published_once_and_answered_success() {
    let h = Harness::start(
        "preset = \"shangzhan\"\nsigner = { secret = \"sz-it-secret\" }",
        "shangzhan.*",
    )
    .await;
    let order = format!("B2C{}", signing::nonce());
    let fields = json!({
        "orderno": order,
        "customer_order_no": "42ertdgsfsfsf",
        "card": [{"card_type": 1, "card_no": "卡号/No.1", "card_password": "p\"w", "card_rect": ""}],
        "status": "success",
    });
    let signed = signing::shangzhan(&fields, "sz-it-secret");
    let body = Value::Object(signed.clone()).to_string();

    assert_eq!(h.post(&body, &[JSON]).await, (200, "success".into()));
    let events = h.take().await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.routing_key, "shangzhan.success");
    assert_eq!(event.body, Value::Object(signed));
    assert!(
        event.message_id.starts_with("shangzhan-"),
        "{}",
        event.message_id
    );
    assert_eq!(event.kind.as_deref(), Some("success"));
    assert_eq!(event.headers["x-provider"], "shangzhan");
    assert!(event.headers["x-receiver"].starts_with("r-"));
    assert_eq!(event.headers["x-event"], "success");
    assert_eq!(event.headers["x-remote-addr"], "127.0.0.1");
    assert!(event.headers["x-content-type"].contains("json"));

    // The provider pushes it again (its retry after a lost answer): success, not republished.
    assert_eq!(h.post(&body, &[JSON]).await, (200, "success".into()));
    assert!(h.take().await.is_empty());

    // A form-encoded callback (values as text) is read the same way.
    let failed =
        json!({"orderno": format!("{order}-2"), "customer_order_no": "c2", "status": "failed"});
    let form = signing::form(&signing::shangzhan(&failed, "sz-it-secret"));
    assert_eq!(h.post(&form, &[FORM]).await, (200, "success".into()));
    let events = h.take().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].routing_key, "shangzhan.failed");
    assert_eq!(events[0].body["orderno"], format!("{order}-2"));

    let stats = h.stats.snapshot();
    assert_eq!(
        (stats.received, stats.published, stats.duplicates),
        (3, 2, 1)
    );
    h.stop().await;
}

#[tokio::test]
async fn em_callbacks_as_json_or_form_are_published_once_and_answered_upper_success() {
    let h = Harness::start(
        "preset = \"em\"\nsigner = { secret = \"em-it-secret\" }",
        "em.#",
    )
    .await;
    let trade = format!("DD{}", signing::nonce());
    let data = json!({"notify_type": "OUT_TRADE_AUDIT", "trade_no": trade, "trade_status": 2, "message": "审核通过"});
    let first = signing::em("KEY_AAAAAA", &data, "1727324523", "em-it-secret");
    let body = Value::Object(first.clone()).to_string();

    assert_eq!(h.post(&body, &[JSON]).await, (200, "SUCCESS".into()));
    let events = h.take().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].routing_key, "em.OUT_TRADE_AUDIT");
    assert_eq!(events[0].body, Value::Object(first));
    assert_eq!(events[0].headers["x-event"], "OUT_TRADE_AUDIT");
    assert!(events[0].message_id.starts_with("em-"));

    // Seed 003: "相同的交易订单…可能会多次推送". A later push has a new timestamp and sign,
    // here as a form: the same event, answered SUCCESS, not published again.
    let again = signing::em("KEY_AAAAAA", &data, "1727324583", "em-it-secret");
    assert_eq!(
        h.post(&signing::form(&again), &[FORM]).await,
        (200, "SUCCESS".into())
    );
    assert!(h.take().await.is_empty());

    // Another event is another message.
    let stock = json!({"notify_type": "IN_STOCK_AUDIT", "instock_no": format!("RK{trade}"), "instock_status": 2});
    let third = signing::em("KEY_AAAAAA", &stock, "1727324600", "em-it-secret");
    assert_eq!(
        h.post(&signing::form(&third), &[FORM]).await,
        (200, "SUCCESS".into())
    );
    let events = h.take().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].routing_key, "em.IN_STOCK_AUDIT");
    assert_eq!(events[0].body["request_data"], stock.to_string());
    h.stop().await;
}

#[tokio::test]
async fn yunzhimeng_callback_is_verified_then_decrypted_and_published_once() {
    let h = Harness::start(&signing::yzm_receiver(), "yunzhimeng.*").await;
    let dir = tempfile::tempdir().unwrap();
    let waybill = format!("W{}", signing::nonce());
    let push = |dir: &std::path::Path| {
        let id_card = signing::yzm_encrypt(dir, "110101199003074211");
        let body = json!({"waybillNo": waybill, "driver": {"name": "张三", "idCard": id_card}})
            .to_string();
        YzmRequest::sign(dir, &body, signing::now_ms(), &signing::nonce())
    };
    let request = push(dir.path());
    assert_eq!(
        h.post(&request.body, &request.headers()).await,
        (200, "success".into())
    );
    let events = h.take().await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.routing_key, "yunzhimeng.CREATE_WAYBILL");
    assert_eq!(
        event.body["driver"]["idCard"], "110101199003074211",
        "decrypted"
    );
    assert_eq!(event.body["waybillNo"], waybill.as_str());
    assert_eq!(event.headers["x-event-code"], "CREATE_WAYBILL");
    assert_eq!(event.headers["x-nonce"], request.nonce);
    assert_eq!(event.headers["x-timestamp"], request.timestamp);
    assert!(event.message_id.starts_with("yunzhimeng-"));

    // The provider's retry: fresh ciphertext, nonce and timestamp; the same event.
    let retry = push(dir.path());
    assert_ne!(retry.body, request.body);
    assert_eq!(
        h.post(&retry.body, &retry.headers()).await,
        (200, "success".into())
    );
    assert!(h.take().await.is_empty());
    h.stop().await;
}
