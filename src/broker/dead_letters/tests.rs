use super::*;

fn parked(channel: &str, reason: &str, parked_at_ms: Option<u64>) -> Parked {
    Parked {
        id: "m-1".into(),
        channel: channel.into(),
        notify_type: "MakeCode".into(),
        attempts: "1".into(),
        status: String::new(),
        reason: reason.into(),
        parked_at_ms,
    }
}

#[test]
fn filters_narrow_by_channel_reason_code_and_parked_time() {
    let p = parked("shop", "delivery-failed: HTTP 401", Some(5_000));
    assert_eq!(p.reason_code(), "delivery-failed");
    assert!(Filter::default().matches(&p));
    let by = |channel: Option<&str>, reason: Option<&str>, since_ms| Filter {
        channel: channel.map(Into::into),
        reason: reason.map(Into::into),
        since_ms,
        limit: None,
    };
    assert!(by(Some("shop"), Some("delivery-failed"), Some(5_000)).matches(&p));
    assert!(!by(Some("other"), None, None).matches(&p));
    assert!(
        !by(None, Some("delivery"), None).matches(&p),
        "codes match whole"
    );
    assert!(!by(None, None, Some(5_001)).matches(&p));
    let unstamped = parked("shop", "not-json: expected value", None);
    assert!(
        !by(None, None, Some(0)).matches(&unstamped),
        "no parked-at header counts as old"
    );
    assert!(by(None, Some("not-json"), None).matches(&unstamped));
}

#[test]
fn since_is_a_look_back_or_an_rfc3339_time() {
    let now = 1_800_000_000_000;
    assert_eq!(since_ms("2h", now), Ok(now - 7_200_000));
    assert_eq!(since_ms("30m", now), Ok(now - 1_800_000));
    assert_eq!(since_ms("2026-01-31T08:00:00Z", now), Ok(1_769_846_400_000));
    let err = since_ms("yesterday", now).unwrap_err();
    assert!(err.to_string().contains("`yesterday`"), "{err}");
}
