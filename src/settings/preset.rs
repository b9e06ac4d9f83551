//! Ready channel presets (SPEC §5, §9): defaults a channel's own keys override.

use toml::{Table, Value};

use super::raw::{OneOrMany, RawChannel, RawRetry, RawSuccess};

/// The preset names a channel may give.
pub const NAMES: &str = "ebuy, shangzhan, em, yunzhimeng";

/// The defaults of `name`, or `None` when there is no such preset.
pub fn defaults(name: &str) -> Option<RawChannel> {
    let (signer, success, retry) = match name {
        "ebuy" => (
            signer("sorted-params", "{params}&key={secret}", "md5", "upper"),
            status_only(),
            steps(&["0s", "5s", "5m", "30m", "2h", "5h", "10h", "10h"]),
        ),
        // Seed 003: the receiver answers exactly SUCCESS; pushes repeat for an hour.
        "em" => (
            signer("sorted-params", "{params}&key={secret}", "md5", "lower"),
            body_rule(OneOrMany::One("SUCCESS".into()), false),
            RawRetry {
                every: Some("30s".into()),
                window: Some("1h".into()),
                ..RawRetry::default()
            },
        ),
        // Seed 001: the receiver echoes `success` (some integrations answer `ok`).
        "shangzhan" => (
            kind_only("sorted-chars-md5"),
            body_rule(OneOrMany::Many(vec!["success".into(), "ok".into()]), true),
            steps(&["0s", "3m", "5m"]),
        ),
        "yunzhimeng" => (kind_only("rsa"), status_only(), steps(&["0s", "1m", "5m"])),
        _ => return None,
    };
    Some(RawChannel {
        signer: Some(signer),
        success: Some(success),
        retry: Some(retry),
        ..RawChannel::default()
    })
}

/// `ours` with every key it leaves unset taken from `base`; tables merge key by key.
pub fn merge(ours: RawChannel, base: RawChannel) -> RawChannel {
    RawChannel {
        preset: ours.preset.or(base.preset),
        journal_keys: ours.journal_keys.or(base.journal_keys),
        message_types: ours.message_types.or(base.message_types),
        app_id: ours.app_id.or(base.app_id),
        template_file: ours.template_file.or(base.template_file),
        template_sample: ours.template_sample.or(base.template_sample),
        timeout: ours.timeout.or(base.timeout),
        max_in_flight: ours.max_in_flight.or(base.max_in_flight),
        max_body_bytes: ours.max_body_bytes.or(base.max_body_bytes),
        body_format: ours.body_format.or(base.body_format),
        notify_id_header: ours.notify_id_header.or(base.notify_id_header),
        url_policy: ours.url_policy.or(base.url_policy),
        signer: match (ours.signer, base.signer) {
            (Some(o), Some(b)) => Some(merge_signer(o, b)),
            (o, b) => o.or(b),
        },
        success: match (ours.success, base.success) {
            (Some(o), Some(b)) => Some(RawSuccess {
                status: o.status.or(b.status),
                body: o.body.or(b.body),
                ignore_case: o.ignore_case.or(b.ignore_case),
            }),
            (o, b) => o.or(b),
        },
        retry: match (ours.retry, base.retry) {
            (Some(o), Some(b)) => Some(merge_retry(o, b)),
            (o, b) => o.or(b),
        },
    }
}

fn merge_retry(o: RawRetry, b: RawRetry) -> RawRetry {
    let park_on = o.park_on.clone().or(b.park_on.clone());
    // A schedule is one value: a channel that sets either form replaces the preset's.
    let timing = if o.schedule.is_some() || o.every.is_some() || o.window.is_some() {
        o
    } else {
        b
    };
    RawRetry { park_on, ..timing }
}

/// The channel's (or receiver's) signer table `o` over the preset's `b`.
pub(super) fn merge_signer(o: Table, b: Table) -> Table {
    // A different kind means the preset's signer details no longer apply.
    if o.contains_key("kind") && o.get("kind") != b.get("kind") {
        return o;
    }
    merge_tables(o, b)
}

/// `ours` with every key it leaves unset taken from `base`; tables in both merge the
/// same way, key by key.
fn merge_tables(ours: Table, mut base: Table) -> Table {
    for (key, value) in ours {
        let merged = match (value, base.remove(&key)) {
            (Value::Table(o), Some(Value::Table(b))) => Value::Table(merge_tables(o, b)),
            (o, _) => o,
        };
        base.insert(key, merged);
    }
    base
}

fn signer(kind: &str, template: &str, hash: &str, case: &str) -> Table {
    [
        ("kind", kind),
        ("template", template),
        ("hash", hash),
        ("case", case),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), Value::from(value)))
    .collect()
}

fn kind_only(kind: &str) -> Table {
    Table::from_iter([("kind".to_owned(), Value::from(kind))])
}

fn status_only() -> RawSuccess {
    RawSuccess {
        status: Some("2xx".into()),
        ..RawSuccess::default()
    }
}

fn body_rule(body: OneOrMany, ignore_case: bool) -> RawSuccess {
    RawSuccess {
        status: Some("2xx".into()),
        body: Some(body),
        ignore_case: Some(ignore_case),
    }
}

fn steps(delays: &[&str]) -> RawRetry {
    RawRetry {
        schedule: Some(delays.iter().map(|d| d.to_string()).collect()),
        ..RawRetry::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_merge_key_by_key_and_ours_win() {
        let ours: Table = "secret = \"s\"\n[codes]\na = \"1\"\n".parse().unwrap();
        let base: Table = "secret = \"b\"\nhash = \"md5\"\n[codes]\na = \"0\"\nb = \"2\"\n"
            .parse()
            .unwrap();
        let want: Table = "secret = \"s\"\nhash = \"md5\"\n[codes]\na = \"1\"\nb = \"2\"\n"
            .parse()
            .unwrap();
        assert_eq!(merge_tables(ours, base), want);
    }

    #[test]
    fn another_kind_drops_the_presets_signer_keys() {
        let ebuy = defaults("ebuy").unwrap().signer.unwrap();
        let ours: Table = "kind = \"rsa\"\nprivate_key = \"k\"\n".parse().unwrap();
        assert_eq!(merge_signer(ours.clone(), ebuy.clone()), ours);
        let ours: Table = "secret = \"k\"\n".parse().unwrap();
        let merged = merge_signer(ours, ebuy);
        assert_eq!(merged["kind"].as_str(), Some("sorted-params"));
        assert_eq!(merged["secret"].as_str(), Some("k"));
    }
}
