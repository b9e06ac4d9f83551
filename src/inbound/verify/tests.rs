use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use serde_json::json;

use super::*;
use crate::secret::Secret;
use crate::sign::rsa::{EncryptedFields, Padding, PrivateKey, RsaChannel, SigningParts, Template};
use crate::sign::sorted_params::{Case, Hash};
use crate::sign::SortedParams;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../tests/fixtures/rsa/", $name))
    };
}

const NOW: u64 = 1_700_000_000_000;
const SZ_SEED: &str = r#"{"orderno":"B2C2208041455471000499115","customer_order_no":"42ertdgsfsfsf","status":"failed","sign":"a118bd1cfd00f92d5452121fb3d26c73"}"#;
const EM_DATA: &str = r#"{"notify_type":"OUT_TRADE_AUDIT","trade_no":"DD202409250002","trade_status":2,"message":"审核通过"}"#;
// md5("appid=KEY_AAAAAA&request_data=<EM_DATA>&timestamp=1727324523&key=SECRET_AAAAAA")
const EM_SIGN: &str = "1d0647b6cd51efb1d378ffde421328d5";

fn receiver(provider: Provider, signer: Signer) -> Receiver {
    Receiver {
        name: "r".into(),
        provider,
        path: "/cb".into(),
        signer,
        exchange: "x".into(),
        declare_exchange: true,
        routing_key: "k".parse().unwrap(),
        replay_window: Duration::from_secs(300),
        dedup_window: Duration::from_secs(3600),
    }
}

fn shangzhan() -> Receiver {
    let signer = Signer::SortedChars {
        secret: Secret::new("538bdb67540d81fabaab1ef3d26f6257"),
        field: "sign".into(),
    };
    receiver(Provider::ShangZhan, signer)
}

fn em() -> Receiver {
    let signer = SortedParams {
        secret: Secret::new("SECRET_AAAAAA"),
        template: "{params}&key={secret}".into(),
        hash: Hash::Md5,
        case: Case::Lower,
    };
    let signer = Signer::SortedParams {
        signer,
        field: "sign".into(),
    };
    receiver(Provider::Em, signer)
}

/// The provider signs with key a; we decrypt with key b.
fn yunzhimeng() -> Receiver {
    let request = RsaChannel::new(
        Template::default(),
        PrivateKey::from_pem(fixture!("b3072_pkcs8.pem")).unwrap(),
        Some(fixture!("a2048_pub_spki.pem")),
        EncryptedFields::new(["/driver/idCard"]).unwrap(),
        Padding::Pkcs1,
        HashMap::new(),
    )
    .unwrap();
    receiver(Provider::YunZhiMeng, Signer::Rsa(Arc::new(request)))
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn check(receiver: &Receiver, body: &str, headers: &HeaderMap) -> Result<Verified, CallbackError> {
    verify(
        receiver,
        &Request {
            body: body.as_bytes(),
            headers,
            now_ms: NOW,
        },
    )
}

#[test]
fn shangzhan_seed_example_verifies_as_json_and_as_form() {
    let json = headers(&[("content-type", "application/json")]);
    let v = check(&shangzhan(), SZ_SEED, &json).unwrap();
    assert_eq!(v.event.as_deref(), Some("failed"));
    assert_eq!(v.body["sign"], "a118bd1cfd00f92d5452121fb3d26c73");
    assert!(!v.identity.contains("sign"));
    let form = "orderno=B2C2208041455471000499115&customer_order_no=42ertdgsfsfsf&status=failed&sign=a118bd1cfd00f92d5452121fb3d26c73";
    let f = check(&shangzhan(), form, &headers(&[])).unwrap();
    assert_eq!(f.identity, v.identity, "same event either way");
}

#[test]
fn shangzhan_refuses_tampering_and_a_missing_sign() {
    let none = HeaderMap::new();
    let tampered = SZ_SEED.replace("failed", "success");
    assert!(matches!(
        check(&shangzhan(), &tampered, &none),
        Err(CallbackError::BadSignature)
    ));
    assert!(matches!(
        check(&shangzhan(), r#"{"status":"failed"}"#, &none),
        Err(CallbackError::MissingField(f)) if f == "sign"
    ));
    let json = headers(&[("content-type", "application/json")]);
    assert!(matches!(
        check(&shangzhan(), "[1]", &json),
        Err(CallbackError::Unreadable(_))
    ));
}

#[test]
fn em_signs_only_appid_request_data_and_timestamp() {
    let body = json!({
        "appid": "KEY_AAAAAA",
        "sign": EM_SIGN,
        "request_data": EM_DATA,
        "timestamp": "1727324523",
        "unsigned_extra": "x",
    });
    let v = check(&em(), &body.to_string(), &HeaderMap::new()).unwrap();
    assert_eq!(v.event.as_deref(), Some("OUT_TRADE_AUDIT"));
    assert_eq!(v.extra["trade_no"], "DD202409250002");
    assert_eq!(v.identity, format!("KEY_AAAAAA\n{EM_DATA}"));

    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("appid", "KEY_AAAAAA")
        .append_pair("request_data", EM_DATA)
        .append_pair("timestamp", "1727324523")
        .append_pair("sign", &EM_SIGN.to_uppercase())
        .finish();
    let form_headers = headers(&[("content-type", "application/x-www-form-urlencoded")]);
    let f = check(&em(), &form, &form_headers).unwrap();
    assert_eq!(f.identity, v.identity);

    let tampered = body.to_string().replace("DD202409250002", "DD202409250003");
    assert!(matches!(
        check(&em(), &tampered, &HeaderMap::new()),
        Err(CallbackError::BadSignature)
    ));
    let mut missing = body.clone();
    missing.as_object_mut().unwrap().remove("timestamp");
    assert!(matches!(
        check(&em(), &missing.to_string(), &HeaderMap::new()),
        Err(CallbackError::MissingField(f)) if f == "timestamp"
    ));
}

/// A 运之盟 callback signed with the provider's key (a) and a field encrypted for ours (b).
fn yzm_request(ts: u64, body: &str) -> HeaderMap {
    let provider = PrivateKey::from_pem(fixture!("a2048_pkcs1.pem")).unwrap();
    let ts = ts.to_string();
    let parts = SigningParts {
        timestamp: &ts,
        nonce: "123456789012345678",
        body: body.as_bytes(),
    };
    let signature = provider.sign(&Template::default().render(&parts)).unwrap();
    headers(&[
        ("x-timestamp", &ts),
        ("x-nonce", "123456789012345678"),
        ("x-eventcode", "CREATE_WAYBILL"),
        ("x-signature", &signature),
    ])
}

fn yzm_body() -> String {
    let ours = PrivateKey::from_pem(fixture!("b3072_pkcs8.pem"))
        .unwrap()
        .public_key();
    let secret = ours
        .encrypt(Padding::Pkcs1, "110101199003074211".as_bytes())
        .unwrap();
    json!({"waybillNo": "W1", "driver": {"name": "张三", "idCard": secret}}).to_string()
}

#[test]
fn yunzhimeng_verifies_then_decrypts() {
    let body = yzm_body();
    let v = check(&yunzhimeng(), &body, &yzm_request(NOW - 1000, &body)).unwrap();
    assert_eq!(v.body["driver"]["idCard"], "110101199003074211");
    assert_eq!(v.event.as_deref(), Some("CREATE_WAYBILL"));
    assert_eq!(v.extra["eventCode"], "CREATE_WAYBILL");
    assert_eq!(v.nonce.as_deref(), Some("123456789012345678"));
    assert!(v.identity.contains("110101199003074211"));

    // A second push of the same event carries fresh ciphertext but the same identity.
    let again = yzm_body();
    assert_ne!(again, body);
    let w = check(&yunzhimeng(), &again, &yzm_request(NOW, &again)).unwrap();
    assert_eq!(w.identity, v.identity);
}

#[test]
fn yunzhimeng_refuses_bad_signatures_and_stale_timestamps() {
    let body = yzm_body();
    let signed = yzm_request(NOW, &body);
    let tampered = body.replace("W1", "W2");
    assert!(matches!(
        check(&yunzhimeng(), &tampered, &signed),
        Err(CallbackError::BadSignature)
    ));
    let stale = yzm_request(NOW - 301_000, &body);
    assert!(matches!(
        check(&yunzhimeng(), &body, &stale),
        Err(CallbackError::StaleTimestamp { .. })
    ));
    let mut unsigned = signed.clone();
    unsigned.remove("x-signature");
    assert!(matches!(
        check(&yunzhimeng(), &body, &unsigned),
        Err(CallbackError::MissingHeader(h)) if h == "X-Signature"
    ));
}

#[test]
fn canonical_sorts_keys_at_every_level() {
    let a: Value =
        serde_json::from_str(r#"{"b":1,"a":{"y":[{"q":0.10,"p":null}],"x":"é"}}"#).unwrap();
    assert_eq!(
        canonical(&a),
        r#"{"a":{"x":"é","y":[{"p":null,"q":0.10}]},"b":1}"#
    );
}
