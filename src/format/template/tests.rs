//! Tests of the formatter as channels use it: context, JSON safety, numbers, presets, errors.

use serde_json::{json, Map, Value as J};

use super::*;

const NOW_MS: u64 = 1_727_324_523_456;

fn standard(biz: &str) -> Map<String, J> {
    let mut m = Map::new();
    m.insert("appId".into(), "APP".into());
    m.insert("action".into(), "VerifyNotify".into());
    m.insert("bizContent".into(), biz.into());
    m.insert("version".into(), "1.0".into());
    m.insert("timestamp".into(), "1727324523000".into());
    m
}

fn render_with(
    source: &str,
    biz: &str,
    notify_type: &str,
) -> Result<Map<String, J>, TemplateError> {
    let formatter = TemplateFormatter::new("t", source)?;
    let std = standard(biz);
    formatter.render(&TemplateContext {
        standard: &std,
        notify_type,
        channel_id: "chan-1",
        now_ms: NOW_MS,
    })
}

fn render(source: &str, biz: &str) -> Result<Map<String, J>, TemplateError> {
    render_with(source, biz, "Verify")
}

fn text(map: &Map<String, J>) -> String {
    serde_json::to_string(map).unwrap()
}

const HOSTILE: &str = "q\"b\\s/n\nr\rt\tc\u{1}z\u{0} </script><!-- 中文 😀 \u{2028}'&";

#[test]
fn hostile_values_stay_valid_json_and_round_trip() {
    let biz = json!({"s": HOSTILE, "k": {HOSTILE: HOSTILE}}).to_string();
    let source = r#"{"plain": {{ biz.s }}, "tojson": {{ biz.s|tojson }}, "concat": {{ "x-" ~ biz.s }},
        "nested": {{ biz|tojson }}, "embedded": {{ biz|json_string }}, "upper": {{ biz.s|upper }},
        {{ biz.s }}: 1}"#;
    let out = render(source, &biz).unwrap();
    assert_eq!(out["plain"], HOSTILE);
    assert_eq!(out["tojson"], HOSTILE);
    assert_eq!(out["concat"], format!("x-{HOSTILE}"));
    assert_eq!(out["nested"]["k"][HOSTILE], HOSTILE);
    assert_eq!(out["upper"], HOSTILE.to_uppercase());
    assert_eq!(out[HOSTILE], 1);
    // The embedded text is exactly serde_json's compact form: nothing HTML-escaped.
    assert_eq!(out["embedded"], biz);
}

#[test]
fn numbers_keep_their_exact_text() {
    let biz = r#"{"amount":0.10,"big":12345678901234567890,"huge":123456789012345678901234567890123456789012,"neg0":-0,"exp":1.5e+300,"int":7}"#;
    let source = r#"{"a": {{ biz.amount|tojson }}, "a2": {{ biz.amount }}, "b": {{ biz.big }},
        "h": {{ biz.huge }}, "z": {{ biz.neg0 }}, "e": {{ biz.exp }}, "sum": {{ biz.int + 1 }},
        "str": {{ biz.amount|string }}, "label": {{ "¥" ~ biz.amount }}, "all": {{ biz|tojson }},
        "embedded": {{ biz|json_string }}, "yuan": {{ "10.50"|as_number }},
        "yuan_n": {{ 1005|fen_to_yuan|as_number }}}"#;
    let out = render(source, biz).unwrap();
    assert_eq!(
        text(&out),
        format!(
            r#"{{"a":0.10,"a2":0.10,"b":12345678901234567890,"h":123456789012345678901234567890123456789012,"z":-0,"e":1.5e+300,"sum":8,"str":"0.10","label":"¥0.10","all":{biz},"embedded":{},"yuan":10.50,"yuan_n":10.05}}"#,
            J::from(biz)
        )
    );
}

#[test]
fn context_holds_every_documented_name() {
    let source = r#"{"appId": {{ appId }}, "action": {{ action }}, "notifyType": {{ notifyType }},
        "version": {{ version }}, "timestamp": {{ timestamp }}, "channelId": {{ channelId }},
        "code": {{ biz.codeNo }}, "raw": {{ message.bizContent }}, "now_ms": {{ now_ms }},
        "now_s": {{ now_s }}, "at": {{ now_ms|shanghai_datetime }}, "compact": {{ now_s|shanghai_compact("s") }},
        "yuan": {{ biz.fen|fen_to_yuan }}, "fen": {{ biz.price|yuan_to_fen }},
        "sent": {{ timestamp|epoch_s }}}"#;
    let out = render(source, r#"{"codeNo":"C1","fen":1005,"price":"10.5"}"#).unwrap();
    assert_eq!(
        J::Object(out),
        json!({"appId": "APP", "action": "VerifyNotify", "notifyType": "Verify", "version": "1.0",
            "timestamp": "1727324523000", "channelId": "chan-1", "code": "C1",
            "raw": r#"{"codeNo":"C1","fen":1005,"price":"10.5"}"#, "now_ms": 1_727_324_523_456_u64,
            "now_s": 1_727_324_523, "at": "2024-09-26 12:22:03", "compact": "20240926122203",
            "yuan": "10.05", "fen": 1050, "sent": 1_727_324_523})
    );
}

fn preset(name: &str) -> TemplateFormatter {
    TemplateFormatter::new(name, preset_source(name).unwrap()).unwrap()
}

fn render_preset(name: &str, notify_type: &str, biz: &str) -> Map<String, J> {
    let std = standard(biz);
    let ctx = TemplateContext {
        standard: &std,
        notify_type,
        channel_id: "c",
        now_ms: NOW_MS,
    };
    preset(name).render(&ctx).unwrap()
}

#[test]
fn every_preset_passes_its_check() {
    assert_eq!(PRESETS.len(), 3);
    for (name, _) in PRESETS {
        preset(name).check().unwrap();
    }
    assert!(preset_source("ebuy").is_none());
}

#[test]
fn shangzhan_preset_maps_codes_to_cards() {
    let biz = r#"{"orderNo":"WO1","outOrderNo":"B1","codeNo":"C1","codePwd":"P1"}"#;
    let out = render_preset("shangzhan", "MakeCode", biz);
    assert_eq!(
        text(&out),
        r#"{"orderno":"WO1","customer_order_no":"B1","card":[{"card_type":1,"card_no":"C1","card_password":"P1","card_rect":""}],"status":"success"}"#
    );
    let biz = r#"{"orderNo":"WO2","codes":[{"codeNo":"C1"},{"codeNo":"C2","codeUrl":"https://x/c2"},{"codeNo":"C3","codeUrl":"https://x/c3","codePwd":"K3","codeRect":"R3"}]}"#;
    let out = render_preset("shangzhan", "MakeVoid", biz);
    assert_eq!(out["customer_order_no"], "WO2");
    assert_eq!(out["status"], "failed");
    assert_eq!(
        out["card"],
        json!([
            {"card_type": 2, "card_no": "", "card_password": "C1", "card_rect": ""},
            {"card_type": 3, "card_no": "https://x/c2", "card_password": "", "card_rect": ""},
            {"card_type": 4, "card_no": "https://x/c3", "card_password": "K3", "card_rect": "R3"}
        ])
    );
}

#[test]
fn em_preset_carries_biz_as_json_text() {
    let biz = r#"{"codeNo":"C1","amount":0.10,"memo":"审核通过"}"#;
    let out = render_preset("em", "Verify", biz);
    assert_eq!(
        text(&out),
        r#"{"appid":"APP","request_data":"{\"notify_type\":\"Verify\",\"codeNo\":\"C1\",\"amount\":0.10,\"memo\":\"审核通过\"}","timestamp":"1727324523"}"#
    );
    // WHALE's own notify_type wins, and keeps the first position.
    let out = render_preset("em", "Verify", r#"{"a":1,"notify_type":"OUT_TRADE_AUDIT"}"#);
    assert_eq!(
        out["request_data"],
        r#"{"notify_type":"OUT_TRADE_AUDIT","a":1}"#
    );
}

#[test]
fn yunzhimeng_preset_is_biz_unchanged() {
    let biz = r#"{"z":1,"amount":0.10,"driver":{"idCard":"110101199001011234"}}"#;
    assert_eq!(text(&render_preset("yunzhimeng", "Verify", biz)), biz);
}

#[test]
fn compile_errors_name_template_and_line() {
    let err = TemplateFormatter::new(
        "channels/sz.json.j2",
        "{\n  \"a\": 1,\n  \"b\": {{ biz. }}\n}",
    )
    .unwrap_err();
    assert!(
        matches!(err, TemplateError::Compile { line: Some(3), .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with(
            r#"template "channels/sz.json.j2" does not compile at line 3: syntax error"#
        ),
        "{message}"
    );
}

#[test]
fn render_errors_name_template_and_line_but_no_value() {
    let secret_biz = r#"{"codePwd":"TOP-SECRET-PIN","n":"12x"}"#;
    for (source, line, kind) in [
        (
            "{\n\n\"a\": {{ biz.codePwd|nofilter }}}",
            3,
            "unknown filter",
        ),
        (
            "{\"a\":\n {{ biz.codePwd|fen_to_yuan }}}",
            2,
            "invalid operation: fen_to_yuan",
        ),
        (
            "{\"a\":\n {{ biz.n|shanghai_compact }}}",
            2,
            "invalid operation: shanghai_*",
        ),
        ("{\"a\": {{ 1 if false }}}", 1, "undefined value"),
    ] {
        let err = render(source, secret_biz).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(&err, TemplateError::Render { line: Some(l), .. } if *l == line),
            "{message}"
        );
        assert!(
            message.starts_with(&format!(
                "template \"t\" failed to render at line {line}: {kind}"
            )),
            "{message}"
        );
        assert!(
            !message.contains("TOP-SECRET") && !message.contains("12x"),
            "{message}"
        );
    }
    let err = render("{\n\"a\": {{ biz.missing }}}", secret_biz).unwrap_err();
    assert_eq!(
        err,
        TemplateError::Missing {
            template: "t".into(),
            line: 2,
            fields: vec!["biz.missing".into()],
        }
    );
}

#[test]
fn output_must_be_a_json_object() {
    let err = render(
        "{\"code\": \"{{ biz.codePwd }}\"}",
        r#"{"codePwd":"TOP-SECRET"}"#,
    )
    .unwrap_err();
    assert!(
        matches!(err, TemplateError::InvalidJson { line: 1, .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("TOP-SECRET"), "{err}");
    let err = render("[{{ biz.a }}]", r#"{"a":1}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"template "t" rendered a JSON array, the body must be an object"#
    );
    assert!(matches!(
        render("", "{}").unwrap_err(),
        TemplateError::InvalidJson { .. }
    ));
}

#[test]
fn biz_content_must_be_json() {
    let err = render("{}", "not json").unwrap_err();
    assert_eq!(
        err,
        TemplateError::BizContent {
            template: "t".into()
        }
    );
    // An already parsed bizContent is accepted as is.
    let formatter = TemplateFormatter::new("t", r#"{"a": {{ biz.a }}}"#).unwrap();
    let mut std = standard("{}");
    std.insert("bizContent".into(), json!({"a": 2}));
    let ctx = TemplateContext {
        standard: &std,
        notify_type: "Verify",
        channel_id: "c",
        now_ms: 0,
    };
    assert_eq!(formatter.render(&ctx).unwrap()["a"], 2);
}

#[test]
fn check_catches_what_only_rendering_finds() {
    // Unknown filters and fields are not compile errors in Jinja: the sample render finds them.
    let bad = TemplateFormatter::new("x", r#"{"a": {{ biz.codeNo|nofilter }}}"#).unwrap();
    let err = bad.check().unwrap_err();
    assert!(
        matches!(
            &err,
            TemplateError::Sample {
                notify_type: "MakeCode",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("template \"x\" failed to render at line 1: unknown filter"),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("(rendering the sample MakeCode message)"),
        "{err}"
    );
    let quoted = TemplateFormatter::new("x", r#"{"a": "{{ biz.remark }}"}"#).unwrap();
    assert!(quoted.check().is_err());
    let quoted_unsampled =
        TemplateFormatter::new("x", r#"{"a": "{{ biz.brandOnlyField }}"}"#).unwrap();
    assert!(
        quoted_unsampled.check().is_err(),
        "the stand-in breaks self-quoted JSON too"
    );
    let guarded =
        TemplateFormatter::new("x", r#"{"a": {{ biz.brandOnlyField|default(none) }}}"#).unwrap();
    guarded.check().unwrap();
}

/// Real WHALE fields the samples lack: allowed at start, named when a message lacks them.
const UNSAMPLED: &str = r#"{
  "card": {{ biz.card | tojson }},
  "order": {{ biz.orderno }},
  "yuan": {{ biz.fen | fen_to_yuan }},
  "at": {{ biz.usedAt | shanghai_datetime }},
  "deep": {{ biz.extra.ref }}
}"#;

#[test]
fn fields_the_samples_lack_pass_the_check_and_are_named_when_a_message_lacks_them() {
    TemplateFormatter::new("brand.j2", UNSAMPLED)
        .unwrap()
        .check()
        .unwrap();
    let full =
        r#"{"card":"K1","orderno":"O1","fen":1005,"usedAt":1735660800000,"extra":{"ref":7}}"#;
    let out = render(UNSAMPLED, full).unwrap();
    assert_eq!(out["card"], "K1");
    assert_eq!(out["yuan"], "10.05");
    assert_eq!(out["at"], "2025-01-01 00:00:00");
    let err = render(UNSAMPLED, r#"{"orderno":"O1"}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "template \"t\" failed to render at line 2: undefined value: the message has no field `biz.card`"
    );
    let err = render(
        UNSAMPLED,
        r#"{"card":"K1","orderno":"O1","fen":1,"usedAt":0}"#,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("line 6: undefined value: the message has no field `biz.extra`"),
        "{err}"
    );
}

#[test]
fn a_channels_own_sample_is_checked_strictly() {
    let formatter = TemplateFormatter::new("brand.j2", UNSAMPLED).unwrap();
    let lacking = standard(r#"{"card":"K1","orderno":"O1","fen":1,"usedAt":0,"extra":{}}"#);
    let ctx = TemplateContext {
        standard: &lacking,
        notify_type: "Verify",
        channel_id: "c",
        now_ms: NOW_MS,
    };
    let err = formatter.check_sample(&ctx, "sample.json").unwrap_err();
    assert_eq!(
        err.to_string(),
        "template \"brand.j2\" failed to render at line 6: undefined value: the message has no field `biz.extra.ref` \
         (rendering the channel's sample message sample.json)"
    );
    let full = standard(r#"{"card":"K1","orderno":"O1","fen":1,"usedAt":0,"extra":{"ref":1}}"#);
    let ctx = TemplateContext {
        standard: &full,
        ..ctx
    };
    formatter.check_sample(&ctx, "sample.json").unwrap();
}

#[test]
fn formatter_is_shareable() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<TemplateFormatter>();
    assert_send_sync::<TemplateError>();
    assert_eq!(
        format!("{:?}", preset("em")),
        r#"TemplateFormatter { name: "em", .. }"#
    );
}
