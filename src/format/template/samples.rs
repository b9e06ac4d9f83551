//! The preset templates and the sample messages every template is checked against at start.

use serde_json::{Map, Value};

/// The preset templates (SPEC §4), by preset name; see each file for its field mapping.
pub const PRESETS: [(&str, &str); 3] = [
    (
        "shangzhan",
        include_str!("../../../templates/shangzhan.json.j2"),
    ),
    ("em", include_str!("../../../templates/em.json.j2")),
    (
        "yunzhimeng",
        include_str!("../../../templates/yunzhimeng.json.j2"),
    ),
];

/// The source of the preset template `name`, or `None` when there is none.
pub fn preset_source(name: &str) -> Option<&'static str> {
    PRESETS
        .iter()
        .find(|(preset, _)| *preset == name)
        .map(|(_, source)| *source)
}

/// The clock the samples are rendered at: 2025-01-01 00:00:00 in Shanghai.
pub const NOW_MS: u64 = 1_735_660_800_000;

/// The channel id the samples are rendered for.
pub const CHANNEL_ID: &str = "sample-channel";

/// Each notify type, its action (SPEC §1) and the code status we assume WHALE reports then.
pub const NOTIFY_TYPES: [(&str, &str, &str); 7] = [
    ("MakeCode", "MakeCodeNotify", "ACTIVE"),
    ("MakeVoid", "MakeVoidNotify", "VOID"),
    ("UpdateCodeStatus", "UpdateCodeStatusNotify", "FROZEN"),
    ("CodeDelay", "CodeDelayNotify", "ACTIVE"),
    ("CodeExpire", "CodeExpireNotify", "EXPIRED"),
    ("Verify", "VerifyNotify", "USED"),
    ("VerifyVoid", "VerifyVoidNotify", "ACTIVE"),
];

/// A standard message (SPEC §2, without `sign`) as `standard_message` builds it.
///
/// The bizContent fields are our assumption of the voucher system's: the seeds name none.
/// Its values are deliberately awkward — a decimal `0.10`, a 20-digit integer, quotes,
/// backslashes, a newline, `</script>`, Chinese and an emoji — so that a template which
/// writes a value without JSON encoding fails the start-up check, not a delivery.
pub fn message(action: &str, status: &str) -> Map<String, Value> {
    let status = Value::from(status);
    let biz = format!(
        r#"{{"orderNo":"WO202501010001","outOrderNo":"BRAND-20250101-0001","codeNo":"C2025010100000001","codePwd":"518203","status":{status},"faceValue":"10.00","amount":1000,"salePrice":0.10,"count":1,"batchId":12345678901234567890,"startTime":"2025-01-01 00:00:00","expireTime":"2025-12-31 23:59:59","remark":"样例 \"quoted\" \\ </script>\n😀"}}"#
    );
    let mut standard = Map::new();
    standard.insert("appId".into(), "SAMPLE_APP".into());
    standard.insert("action".into(), action.into());
    standard.insert("bizContent".into(), biz.into());
    standard.insert("version".into(), "1.0".into());
    standard.insert("timestamp".into(), NOW_MS.to_string().into());
    standard
}
