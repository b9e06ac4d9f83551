//! Known answers for parsing queue messages: what is accepted, and each refusal's reason.

use super::*;

const GOOD: &str = r#"{"channelId":"c","notifyUrl":"https://x.example/n","notifyType":"Verify","messageType":"ebuy","whaleMessage":"{\"bizContent\":\"{}\"}"}"#;

fn parse(body: &str) -> Result<QueueMessage, BadInput> {
    parse_as(body.as_bytes(), Declared::default())
}

fn parse_as(body: &[u8], declared: Declared<'_>) -> Result<QueueMessage, BadInput> {
    queue_message(body, declared, 1024, &Schemas::load())
}

#[test]
fn parses_a_good_message() {
    let m = parse(GOOD).unwrap();
    assert_eq!(m.notify_type, NotifyType::Verify);
    assert_eq!(m.message_type, MessageType::Ebuy);
    assert_eq!(m.channel_id, "c");
}

#[test]
fn each_bad_input_has_its_reason() {
    assert_eq!(parse("nope").unwrap_err().code(), "not-json");
    assert_eq!(parse("[1]").unwrap_err(), BadInput::NotObject);
    let big = "x".repeat(2000);
    assert_eq!(parse(&big).unwrap_err().code(), "too-large");
    let unknown = GOOD.replace("\"Verify\"", "\"Explode\"");
    assert_eq!(
        parse(&unknown).unwrap_err(),
        BadInput::UnknownNotifyType("Explode".into())
    );
    let third = GOOD.replace("\"ebuy\"", "\"xml\"");
    assert_eq!(parse(&third).unwrap_err().code(), "unknown-message-type");
}

#[test]
fn the_content_type_is_not_trusted() {
    let good = parse(GOOD).unwrap();
    for ct in [
        "text/plain",
        "application/octet-stream",
        "text/json",
        "application/json; charset=utf-8",
        "text/plain;charset=UTF-8",
        "text/xml",
        "",
    ] {
        let got = parse_as(GOOD.as_bytes(), Declared::content_type(Some(ct)));
        assert_eq!(got, Ok(good.clone()), "{ct}");
    }
    let spring = Declared {
        content_type: Some("text/plain"),
        content_encoding: Some("UTF-8"),
    };
    assert_eq!(parse_as(GOOD.as_bytes(), spring), Ok(good));
}

#[test]
fn a_leading_bom_is_ignored() {
    let with_bom = format!("\u{feff}{GOOD}");
    assert_eq!(parse(&with_bom), parse(GOOD));
    // Only one, only at the start: a BOM anywhere else is not JSON.
    assert_eq!(
        parse(&format!("\u{feff}{with_bom}")).unwrap_err().code(),
        "not-json"
    );
}

#[test]
fn not_json_names_what_arrived() {
    let xml = Declared::content_type(Some("text/xml"));
    let bad = parse_as(b"<notify/>", xml).unwrap_err();
    assert_eq!(bad.code(), "not-json");
    let text = bad.to_string();
    assert!(text.contains("content type `text/xml`"), "{text}");
    assert!(text.contains("body starts `<notify/>`"), "{text}");
    let bad = parse_as(b"\x1f\x8b\x08\x00", Declared::default()).unwrap_err();
    assert!(bad
        .to_string()
        .contains("no content type, body starts `\\x1f\\x8b"));
}

#[test]
fn a_compressed_body_is_refused_by_its_encoding() {
    let gzip = Declared {
        content_type: Some("application/json"),
        content_encoding: Some("gzip"),
    };
    let bad = parse_as(GOOD.as_bytes(), gzip).unwrap_err();
    assert_eq!(
        bad.header_value(),
        "content-encoding: content encoding `gzip` is not supported: publish the JSON uncompressed, as UTF-8"
    );
}

#[test]
fn whale_message_may_be_a_nested_object() {
    let nested = r#"{"channelId":"c","notifyUrl":"https://x.example/n","notifyType":"Verify","messageType":"ebuy","whaleMessage":{"bizContent":"{}"}}"#;
    assert_eq!(parse(nested), parse(GOOD));
    let array = nested.replace(r#"{"bizContent":"{}"}"#, "[1]");
    assert_eq!(
        parse(&array).unwrap_err(),
        BadInput::WrongType {
            field: "whaleMessage".into(),
            expected: "string or object".into()
        }
    );
}

/// A Java DTO nests the standard message; WHALE's other publishers send it as a string:
/// brands must receive the same bytes either way, bizContent above all.
#[test]
fn string_and_object_whale_messages_format_identically() {
    let standard = r#"{"appId":"W","bizContent":"{\"orderNo\":\"A1\", \"amount\":0.10,\"name\":\"\u6613\u767e\"}","extra":{"z":1,"a":[1.50,2]},"timestamp":1700000000000}"#;
    let as_string = serde_json::json!({
        "channelId": "c", "notifyUrl": "https://x.example/n", "notifyType": "Verify",
        "messageType": "ebuy", "whaleMessage": standard,
    })
    .to_string();
    let as_object = as_string.replace(&serde_json::to_string(standard).unwrap(), standard);
    assert_ne!(as_string, as_object);
    let schemas = Schemas::load();
    let format = |body: &str| {
        let message = parse(body).unwrap();
        let built = crate::format::standard_message(&message, None, 1, &schemas).unwrap();
        Value::Object(built).to_string()
    };
    let (from_string, from_object) = (format(&as_string), format(&as_object));
    assert_eq!(from_string, from_object);
    let biz: Value = serde_json::from_str(&from_object).unwrap();
    assert_eq!(
        biz["bizContent"],
        r#"{"orderNo":"A1", "amount":0.10,"name":"易百"}"#
    );
}

#[test]
fn deep_and_duplicate_json_is_refused_before_use() {
    let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
    assert_eq!(
        parse(&deep).unwrap_err(),
        BadInput::TooDeep { part: "message" }
    );
    let dup = GOOD.replace(
        "{\"channelId\":\"c\"",
        "{\"channelId\":\"c\",\"channelId\":\"d\"",
    );
    assert_eq!(parse(&dup).unwrap_err().code(), "duplicate-key");
    assert_eq!(parse("{\"a\":").unwrap_err().code(), "not-json");
    assert_eq!(parse("\u{feff}{}").unwrap_err().code(), "missing-field");
}

#[test]
fn header_values_are_one_bounded_line() {
    let e = BadInput::UnknownChannel(format!("a\r\nb{}", "x".repeat(5000)));
    let v = e.header_value();
    assert!(!v.contains(['\r', '\n']));
    assert_eq!(v.chars().count(), MAX_REASON_CHARS + 1);
}

#[test]
fn header_value_starts_with_the_code() {
    let e = BadInput::MissingField("notifyUrl".into());
    assert_eq!(e.header_value(), "missing-field: missing field `notifyUrl`");
}

/// The fast path takes only what the general path accepts, and reads it the same way.
#[test]
fn the_usual_path_agrees_with_the_general_one() {
    let schemas = Schemas::load();
    let general = |text: &str| general(text.as_bytes(), Declared::default(), &schemas);
    let nested = GOOD.replace(
        r#""whaleMessage":"{\"bizContent\":\"{}\"}""#,
        r#""whaleMessage":{"bizContent":"{}"}"#,
    );
    let corpus = [
        GOOD.to_owned(),
        GOOD.replace(r#""c""#, r#""\u5546\n""#),
        GOOD.replace("}\"}", "}\"}  "),
        nested,
        GOOD.replace(r#""channelId":"c""#, r#""channelId":"""#),
        GOOD.replace(r#""channelId":"c""#, r#""channelId":7"#),
        GOOD.replace(r#""channelId":"c""#, r#""channelId":"c","channelId":"d""#),
        GOOD.replace(r#""channelId":"c""#, r#""extra":1"#),
        GOOD.replace(r#""channelId":"c""#, r#""channelId":"c","extra":{"a":1}"#),
        GOOD.replace("\"Verify\"", "\"verify\""),
        GOOD.replace("\"ebuy\"", "\"EBUY\""),
        GOOD.replace(
            r#""whaleMessage":"{\"bizContent\":\"{}\"}""#,
            r#""whaleMessage":"""#,
        ),
        GOOD.replace("}\"}", "}\"},"),
        GOOD.replace("}\"}", "}\"}x"),
        r#"["c","u","Verify","ebuy","{}"]"#.to_owned(),
        r#"["c","u","Verify","ebuy","w",{"a":1,"b":2,"c":3,"d":4,"e":5}]"#.to_owned(),
    ];
    let mut fast = 0;
    for text in &corpus {
        // Anything else is the general path's to judge: nothing to compare.
        if let Some(message) = usual(text.as_bytes()) {
            fast += 1;
            assert_eq!(Ok(message), general(text), "{text}");
        }
    }
    assert_eq!(fast, 3, "the usual messages take the fast path");
    assert_eq!(
        parse(&corpus[6]).unwrap_err().code(),
        "duplicate-key",
        "a repeated field is still refused"
    );
}
