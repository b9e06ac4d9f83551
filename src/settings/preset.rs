//! Ready channel presets (SPEC §5, §9): defaults a channel's own keys override.

use super::raw::{OneOrMany, RawChannel, RawRetry, RawSigner, RawSuccess};

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
            RawSigner {
                kind: Some("sorted-chars-md5".into()),
                ..RawSigner::default()
            },
            body_rule(OneOrMany::Many(vec!["success".into(), "ok".into()]), true),
            steps(&["0s", "3m", "5m"]),
        ),
        "yunzhimeng" => (
            RawSigner {
                kind: Some("rsa".into()),
                ..RawSigner::default()
            },
            status_only(),
            steps(&["0s", "1m", "5m"]),
        ),
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

pub(super) fn merge_signer(o: RawSigner, b: RawSigner) -> RawSigner {
    // A different kind means the preset's signer details no longer apply.
    if o.kind.is_some() && o.kind != b.kind {
        return o;
    }
    RawSigner {
        kind: o.kind.or(b.kind),
        secret: o.secret.or(b.secret),
        secret_file: o.secret_file.or(b.secret_file),
        template: o.template.or(b.template),
        hash: o.hash.or(b.hash),
        case: o.case.or(b.case),
        field: o.field.or(b.field),
        private_key: o.private_key.or(b.private_key),
        private_key_file: o.private_key_file.or(b.private_key_file),
        peer_public_key: o.peer_public_key.or(b.peer_public_key),
        peer_public_key_file: o.peer_public_key_file.or(b.peer_public_key_file),
        encrypt_fields: o.encrypt_fields.or(b.encrypt_fields),
        padding: o.padding.or(b.padding),
        string_to_sign: o.string_to_sign.or(b.string_to_sign),
        event_codes: o.event_codes.or(b.event_codes),
    }
}

fn signer(kind: &str, template: &str, hash: &str, case: &str) -> RawSigner {
    RawSigner {
        kind: Some(kind.into()),
        template: Some(template.into()),
        hash: Some(hash.into()),
        case: Some(case.into()),
        ..RawSigner::default()
    }
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
