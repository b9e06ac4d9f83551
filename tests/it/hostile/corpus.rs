//! The hostile corpus: malformed and malicious messages with the reason each must be
//! parked with, and good messages that look odd but must be delivered exactly once.

use notify_bridge::json::MAX_DEPTH;
use serde_json::{json, Value};

use crate::queue_message;

/// A message that must be parked: its AMQP id, body, reason code and a detail the reason
/// text must contain.
pub struct Bad {
    pub id: String,
    pub body: Vec<u8>,
    pub code: &'static str,
    pub detail: String,
}

/// A message that must be delivered once; `id: None` publishes without a message id.
pub struct Good {
    pub id: Option<String>,
    pub body: Vec<u8>,
}

fn base(url: &str) -> Value {
    let whale = json!({"bizContent": {"codeNo": "C1"}});
    serde_json::from_str(&queue_message("good", url, "MakeCode", &whale)).unwrap()
}

fn with(url: &str, field: &str, value: Value) -> Vec<u8> {
    let mut doc = base(url);
    doc[field] = value;
    doc.to_string().into_bytes()
}

fn whale(url: &str, whale: &str) -> Vec<u8> {
    with(url, "whaleMessage", json!(whale))
}

fn third(biz: Value) -> Vec<u8> {
    let mut doc = base("http://127.0.0.1/");
    doc["channelId"] = json!("good-third");
    doc["messageType"] = json!("third");
    doc["whaleMessage"] = json!(json!({"appId": "WHALE_APP", "bizContent": biz}).to_string());
    doc.to_string().into_bytes()
}

fn nest(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// The message with its channel id's bytes replaced by ones that are not UTF-8.
fn invalid_utf8(good: &str) -> Vec<u8> {
    let at = good.find("\"good\"").unwrap() + 1;
    let mut bytes = good.as_bytes().to_vec();
    bytes.splice(at..at + 4, [b'g', 0xff, 0xfe, b'd']);
    bytes
}

/// Every bad message; `url` is the good receiver's.
pub fn bad(url: &str) -> Vec<Bad> {
    let good = base(url).to_string();
    let mut cases: Vec<(&'static str, &str, Vec<u8>)> = vec![
        // Not JSON, or not the JSON we take.
        (
            "not-json",
            "EOF while parsing",
            good.as_bytes()[..good.len() / 2].to_vec(),
        ),
        ("not-json", "EOF while parsing", Vec::new()),
        // One leading BOM is ignored; a second is not JSON.
        (
            "not-json",
            "body starts `\\xef\\xbb\\xbf{",
            [b"\xef\xbb\xbf\xef\xbb\xbf".as_slice(), good.as_bytes()].concat(),
        ),
        (
            "not-json",
            "control character",
            good.replacen("\"good\"", "\"go\0od\"", 1).into_bytes(),
        ),
        ("not-json", "", [b"\0".as_slice(), good.as_bytes()].concat()),
        ("not-json", "", invalid_utf8(&good)),
        ("not-object", "", b"\"just a string\"".to_vec()),
        (
            "too-deep",
            "message nests deeper than 64",
            nest(10_000).into_bytes(),
        ),
        (
            "too-deep",
            "whaleMessage nests deeper",
            whale(url, &format!("{{\"bizContent\":{}}}", nest(10_000))),
        ),
        (
            "too-deep",
            "whaleMessage.bizContent nests deeper",
            whale(url, &json!({"bizContent": nest(100)}).to_string()),
        ),
        (
            "too-large",
            "over the 262144-byte limit",
            with(url, "whaleMessage", json!("x".repeat(300_000))),
        ),
        (
            "wrong-type",
            "notifyType",
            with(url, "notifyType", json!(7)),
        ),
        (
            "wrong-type",
            "whaleMessage",
            with(url, "whaleMessage", json!([{"bizContent": "{}"}])),
        ),
        (
            "wrong-type",
            "channelId",
            with(url, "channelId", json!(["good"])),
        ),
        (
            "wrong-type",
            "whaleMessage.bizContent",
            whale(url, r#"{"bizContent":[1]}"#),
        ),
        (
            "duplicate-key",
            "message: key `channelId` appears twice",
            good.replacen("{", r#"{"channelId":"public","#, 1)
                .into_bytes(),
        ),
        (
            "duplicate-key",
            "key `channelId` appears twice",
            good.replacen("{", r#"{"\u0063hannelId":"good","#, 1)
                .into_bytes(),
        ),
        (
            "duplicate-key",
            "whaleMessage: key `bizContent` appears twice",
            whale(url, r#"{"bizContent":"{}","bizContent":{"a":1}}"#),
        ),
        (
            "whale-message-not-json",
            "",
            whale(url, r#"{"bizContent":"{}""#),
        ),
        ("whale-message-not-object", "", whale(url, r#""a string""#)),
        (
            "unknown-channel",
            "unknown channelId `xxxxxxxx",
            with(url, "channelId", json!("x".repeat(200_000))),
        ),
        (
            "unknown-channel",
            r"good\r\nX-Evil: 1",
            with(url, "channelId", json!("good\r\nX-Evil: 1")),
        ),
        (
            "unknown-notify-type",
            r"Verify\r\nWARN forged",
            with(url, "notifyType", json!("Verify\r\nWARN forged")),
        ),
        (
            "action-conflict",
            r"VerifyNotify\r\nX-Evil",
            whale(
                url,
                r#"{"action":"VerifyNotify\r\nX-Evil: 1","bizContent":"{}"}"#,
            ),
        ),
        // Header injection through the URL, and private hosts the exact host rule keeps out
        // (`localhost` is 127.0.0.1 to the policy; a name that merely starts with it is not).
        (
            "url-refused",
            "whitespace or a control",
            with(url, "notifyUrl", json!(format!("{url}\r\nX-Evil: 1"))),
        ),
        (
            "url-refused",
            "whitespace or a control",
            with(url, "notifyUrl", json!(format!("{url}\t"))),
        ),
        (
            "url-refused",
            "host `127.0.0.1.nip.io` is not in `hosts`",
            with(
                url,
                "notifyUrl",
                json!(url.replace("127.0.0.1", "127.0.0.1.nip.io")),
            ),
        ),
        (
            "url-refused",
            "host `::1` is not in `hosts`",
            with(url, "notifyUrl", json!(url.replace("127.0.0.1", "[::1]"))),
        ),
        (
            "url-refused",
            "host `10.0.0.1` is not in `hosts`",
            with(url, "notifyUrl", json!("http://10.0.0.1/n")),
        ),
        (
            "url-refused",
            "scheme `https`",
            with(url, "notifyUrl", json!(url.replace("http:", "https:"))),
        ),
        // The template channel: a body past max_body_bytes, a message the template cannot use.
        (
            "body-too-large",
            "max_body_bytes",
            third(
                json!({"orderNo": "O1", "codes": vec![json!({"codeNo": "C".repeat(40), "codePwd": "P".repeat(40)}); 300]}),
            ),
        ),
        (
            "unformattable",
            "undefined",
            third(json!({"nothing": "useful"})),
        ),
    ];
    // SSRF: the public channel allows any public https host and nothing else.
    let long = format!("https://example.com/{}", "a".repeat(3000));
    let ssrf: Vec<(&str, &str)> = vec![
        ("https://2130706433/", "`127.0.0.1` is private"),
        ("https://0177.0.0.01/", "`127.0.0.1` is private"),
        ("https://0x7f000001/", "`127.0.0.1` is private"),
        ("https://0x7f.0x0.0x0.0x1/", "`127.0.0.1` is private"),
        ("https://127.1/", "`127.0.0.1` is private"),
        ("https://%31%32%37.0.0.1/", "`127.0.0.1` is private"),
        ("https://0/", "`0.0.0.0` is private"),
        ("https://0.0.0.0/", "`0.0.0.0` is private"),
        ("https://10.0.0.1:8443/", "`10.0.0.1` is private"),
        ("https://192.168.1.1/", "`192.168.1.1` is private"),
        (
            "https://169.254.169.254/latest/meta-data/",
            "`169.254.169.254` is private",
        ),
        ("https://[::1]/", "`::1` is private"),
        ("https://[fd00::1]/", "`fd00::1` is private"),
        ("https://[fe80::1]/", "`fe80::1` is private"),
        (
            "https://[::ffff:127.0.0.1]/",
            "`::ffff:127.0.0.1` is private",
        ),
        (
            "https://[::ffff:a9fe:a9fe]/",
            "`::ffff:169.254.169.254` is private",
        ),
        (
            "https://[64:ff9b::a9fe:a9fe]/",
            "`64:ff9b::a9fe:a9fe` is private",
        ),
        ("https://localhost./", "`localhost` is private"),
        ("https://LOCALHOST/", "`localhost` is private"),
        (
            "https://%6c%6f%63%61%6c%68%6f%73%74/",
            "`localhost` is private",
        ),
        (
            "https://metadata.localhost/",
            "`metadata.localhost` is private",
        ),
        ("https://evil@127.0.0.1/", "user credentials"),
        ("https://evil.example@169.254.169.254/", "user credentials"),
        ("http://127.0.0.1/", "scheme `http`"),
        ("http://example.com/", "scheme `http`"),
        ("file:///etc/passwd", "scheme `file`"),
        ("gopher://127.0.0.1:6379/_INFO", "scheme `gopher`"),
        ("javascript:alert(1)", "scheme `javascript`"),
        ("data:text/plain;base64,SGk=", "scheme `data`"),
        ("ftp://127.0.0.1/", "scheme `ftp`"),
        ("notaurl", "not a valid absolute URL"),
        ("https://[::1", "not a valid absolute URL"),
        (&long, "over the 2048-byte limit"),
    ];
    for (target, detail) in ssrf {
        let body = with(url, "channelId", json!("public"));
        let mut doc: Value = serde_json::from_slice(&body).unwrap();
        doc["notifyUrl"] = json!(target);
        cases.push(("url-refused", detail, doc.to_string().into_bytes()));
    }
    let mut out: Vec<Bad> = cases
        .into_iter()
        .enumerate()
        .map(|(i, (code, detail, body))| Bad {
            id: format!("bad-{i}"),
            body,
            code,
            detail: detail.to_owned(),
        })
        .collect();
    // Header injection through the AMQP message id: a good body, a hostile id.
    for (id, detail) in [
        ("m1\r\nX-Evil: 1", "byte 0x0d at offset 2"),
        ("m2\nX", "byte 0x0a"),
        ("m3\0", "byte 0x00"),
        ("m4\u{7f}", "byte 0x7f"),
        ("m5\ttab", "byte 0x09"),
        ("m6 space", "byte 0x20"),
        ("m7-订单", "byte 0xe8"),
        (
            &format!("m8{}", "x".repeat(200)),
            "202 bytes, over the 128-byte limit",
        ),
    ] {
        out.push(Bad {
            id: id.to_owned(),
            body: good.clone().into_bytes(),
            code: "bad-message-id",
            detail: detail.to_owned(),
        });
    }
    out
}

/// Odd but good messages; each must arrive once, and none may add a header.
pub fn good(url: &str) -> Vec<Good> {
    let msg = |whale: Value| queue_message("good", url, "Verify", &whale).into_bytes();
    let long_id = format!("g{}", "x".repeat(127));
    let deep_object = (0..MAX_DEPTH - 2).fold(json!("leaf"), |v, _| json!({"n": v}));
    let mut third_body: Value =
        serde_json::from_slice(&third(json!({"orderNo": "O1", "codeNo": "C1"}))).unwrap();
    third_body["notifyUrl"] = json!(url);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "g-crlf-values",
            msg(
                json!({"bizContent": {"codeNo": "C\r\nX-Evil: 1", "note": "a\u{0}b\u{2028}c\u{7f}"}, "x": "\r\n"}),
            ),
        ),
        (
            "g-encoded-path",
            with(url, "notifyUrl", json!(format!("{url}%0d%0aX-Evil:%201"))),
        ),
        ("g-deep-object", msg(json!({"bizContent": deep_object}))),
        ("g-deep-string", msg(json!({"bizContent": nest(MAX_DEPTH)}))),
        (
            "g-huge-string",
            msg(json!({"bizContent": {"blob": "y".repeat(150_000)}})),
        ),
        (
            "g-unicode",
            msg(
                json!({"bizContent": {"名字": "张三😀", "amount": 0.10, "big": 12345678901234567890u64}}),
            ),
        ),
        (
            "g-placeholders",
            msg(json!({"bizContent": {"a": "{secret}", "b": "{params}", "c": "{{ biz }}"}})),
        ),
        ("g-third", third_body.to_string().into_bytes()),
        (
            "g-bom",
            [
                b"\xef\xbb\xbf".as_slice(),
                &msg(json!({"bizContent": "{}"})),
            ]
            .concat(),
        ),
        (
            "g-nested-whale",
            with(url, "whaleMessage", json!({"bizContent": {"codeNo": "C1"}})),
        ),
        (&long_id, msg(json!({"bizContent": "{}"}))),
    ];
    let mut out: Vec<Good> = cases
        .into_iter()
        .map(|(id, body)| Good {
            id: Some(id.to_owned()),
            body,
        })
        .collect();
    out.push(Good {
        id: None,
        body: msg(json!({"bizContent": {"anonymous": true}})),
    });
    out
}
