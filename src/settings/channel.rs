//! One `[channels.<id>]` table → a validated [`Channel`], preset defaults applied.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::raw::{RawChannel, RawRetry, RawSuccess, RawUrlPolicy};
use super::{duration, invalid, preset, relative_to, signer::signer, SettingsError};
use crate::channel::Channel;
use crate::deliver::{BodyRule, HostPattern, StatusRule, SuccessRule, UrlPolicy};
use crate::format::template::{preset_source, samples};
use crate::format::{standard_message, BodyEncoding, TemplateContext, TemplateFormatter};
use crate::message::MessageType;
use crate::parse::{self, BadInput};
use crate::retry::{RetryPolicy, RetrySchedule};
use crate::schema::Schemas;

/// Validates channel `id`; every error names `channels.<id>.<key>`.
pub fn build(
    id: &str,
    raw: RawChannel,
    env: &HashMap<String, String>,
    base: &Path,
) -> Result<Channel, SettingsError> {
    let key = |field: &str| format!("channels.{id}.{field}");
    let preset_name = raw.preset.clone().unwrap_or_else(|| "ebuy".into());
    let defaults = preset::defaults(&preset_name).ok_or_else(|| SettingsError::NotOneOf {
        key: key("preset"),
        value: preset_name.clone(),
        expected: preset::NAMES,
    })?;
    let raw = preset::merge(raw, defaults);

    let message_types = message_types(&key("message_types"), raw.message_types)?;
    let max_body_bytes = max_body_bytes(&key("max_body_bytes"), raw.max_body_bytes)?;
    let template = if message_types.contains(&MessageType::Third) {
        let source = template_source(
            &key("template_file"),
            raw.template_file.as_deref(),
            &preset_name,
            base,
        )?;
        if let Some(sample) = &raw.template_sample {
            let app_id = raw.app_id.as_deref().filter(|a| !a.is_empty());
            own_sample(&key("template_sample"), sample, base, &source, (id, app_id))?;
        }
        Some(Arc::new(source.with_max_output(max_body_bytes)))
    } else if raw.template_sample.is_some() {
        return Err(invalid(
            key("template_sample"),
            "only for a channel whose message_types include `third`",
        ));
    } else {
        None
    };
    let max_in_flight = raw.max_in_flight.unwrap_or(32);
    if max_in_flight == 0 {
        return Err(invalid(key("max_in_flight"), "must be at least 1"));
    }
    Ok(Channel {
        id: id.to_owned(),
        message_types,
        app_id: raw.app_id.filter(|a| !a.is_empty()),
        timeout: duration(&key("timeout"), raw.timeout.as_deref(), "10s")?,
        max_in_flight,
        max_body_bytes,
        encoding: match raw.body_format.as_deref().unwrap_or("json") {
            "json" => BodyEncoding::Json,
            "form" => BodyEncoding::Form,
            other => return Err(not_one_of(key("body_format"), other, "json, form")),
        },
        template,
        notify_id_header: raw.notify_id_header.unwrap_or(true),
        url_policy: url_policy(&key("url_policy"), raw.url_policy.unwrap_or_default())?,
        signer: signer(&key("signer"), raw.signer.unwrap_or_default(), env, base)?,
        success: success(&key("success"), raw.success.unwrap_or_default())?,
        retry: retry(&key("retry"), raw.retry.unwrap_or_default())?,
    })
}

pub(super) fn not_one_of(key: String, value: &str, expected: &'static str) -> SettingsError {
    SettingsError::NotOneOf {
        key,
        value: value.to_owned(),
        expected,
    }
}

/// The default `max_body_bytes`: as large as the largest queue message accepted by
/// default, so only a format that inflates a message (a template loop) meets it.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
const BODY_LIMITS: std::ops::RangeInclusive<usize> = 1024..=16 * 1024 * 1024;

fn max_body_bytes(key: &str, raw: Option<usize>) -> Result<usize, SettingsError> {
    let limit = raw.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    if !BODY_LIMITS.contains(&limit) {
        return Err(invalid(
            key,
            format!(
                "must be {} to {} bytes",
                BODY_LIMITS.start(),
                BODY_LIMITS.end()
            ),
        ));
    }
    Ok(limit)
}

fn message_types(key: &str, raw: Option<Vec<String>>) -> Result<Vec<MessageType>, SettingsError> {
    let names = raw.unwrap_or_else(|| vec!["ebuy".into()]);
    if names.is_empty() {
        return Err(invalid(key, "must list at least one of ebuy, third"));
    }
    names
        .iter()
        .map(|name| {
            MessageType::parse(name).ok_or_else(|| not_one_of(key.to_owned(), name, "ebuy, third"))
        })
        .collect()
}

/// The channel's template (file, else its preset's), compiled and checked on samples.
fn template_source(
    key: &str,
    file: Option<&Path>,
    preset_name: &str,
    base: &Path,
) -> Result<TemplateFormatter, SettingsError> {
    let (name, source) =
        match file {
            Some(path) => {
                let path = relative_to(base, path);
                let source = std::fs::read_to_string(&path).map_err(|e| {
                    invalid(
                        key,
                        format!(
                            "cannot read `{}`: {} (a relative path is read from the config \
                             file's directory)",
                            path.display(),
                            e.kind()
                        ),
                    )
                })?;
                (path.display().to_string(), source)
            }
            None => match preset_source(preset_name) {
                Some(source) => (format!("preset:{preset_name}"), source.to_owned()),
                None => return Err(invalid(
                    key,
                    "required when message_types includes `third` (or use a preset that has one)",
                )),
            },
        };
    let formatter =
        TemplateFormatter::new(&name, &source).map_err(|e| invalid(key, e.to_string()))?;
    formatter.check().map_err(|e| invalid(key, e.to_string()))?;
    Ok(formatter)
}

/// Renders the channel's own sample queue message strictly, as a delivery would.
fn own_sample(
    key: &str,
    file: &Path,
    base: &Path,
    formatter: &TemplateFormatter,
    (channel_id, app_id): (&str, Option<&str>),
) -> Result<(), SettingsError> {
    let path = relative_to(base, file);
    let shown = path.display().to_string();
    let body = std::fs::read(&path)
        .map_err(|e| invalid(key, format!("cannot read `{shown}`: {}", e.kind())))?;
    let schemas = Schemas::load();
    let not_a_message =
        |e: BadInput| invalid(key, format!("`{shown}` is not a queue message: {e}"));
    let message = parse::queue_message(&body, parse::Declared::default(), usize::MAX, &schemas)
        .map_err(not_a_message)?;
    let standard =
        standard_message(&message, app_id, samples::NOW_MS, &schemas).map_err(not_a_message)?;
    let ctx = TemplateContext {
        standard: &standard,
        notify_type: message.notify_type.as_str(),
        channel_id,
        now_ms: samples::NOW_MS,
    };
    formatter
        .check_sample(&ctx, &shown)
        .map_err(|e| invalid(key, e.to_string()))
}

fn url_policy(key: &str, raw: RawUrlPolicy) -> Result<UrlPolicy, SettingsError> {
    let schemes: Vec<String> = raw
        .schemes
        .unwrap_or_else(|| vec!["https".into()])
        .into_iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    if let Some(bad) = schemes.iter().find(|s| *s != "http" && *s != "https") {
        return Err(not_one_of(format!("{key}.schemes"), bad, "http, https"));
    }
    if schemes.is_empty() {
        return Err(invalid(
            format!("{key}.schemes"),
            "must list at least one scheme",
        ));
    }
    Ok(UrlPolicy {
        schemes,
        hosts: raw
            .hosts
            .unwrap_or_default()
            .iter()
            .map(|h| HostPattern::parse(h))
            .collect(),
        allow_private: raw.allow_private.unwrap_or(false),
    })
}

fn success(key: &str, raw: RawSuccess) -> Result<SuccessRule, SettingsError> {
    let status_text = raw.status.unwrap_or_else(|| "2xx".into());
    let status = StatusRule::parse(&status_text).ok_or_else(|| {
        invalid(
            format!("{key}.status"),
            "must be a class such as 2xx or a code such as 200",
        )
    })?;
    let body = raw.body.map(|b| BodyRule {
        accepted: b.into_vec(),
        ignore_case: raw.ignore_case.unwrap_or(false),
    });
    if body.as_ref().is_some_and(|b| b.accepted.is_empty()) {
        return Err(invalid(
            format!("{key}.body"),
            "must list at least one accepted body",
        ));
    }
    Ok(SuccessRule { status, body })
}

fn retry(key: &str, raw: RawRetry) -> Result<RetryPolicy, SettingsError> {
    let park_on = raw.park_on.unwrap_or_default();
    if let Some(bad) = park_on.iter().find(|s| !(100..=599).contains(*s)) {
        return Err(invalid(
            format!("{key}.park_on"),
            format!("{bad} is not an HTTP status"),
        ));
    }
    Ok(RetryPolicy {
        schedule: schedule(key, raw.schedule, raw.every, raw.window)?,
        park_on,
    })
}

fn schedule(
    key: &str,
    steps: Option<Vec<String>>,
    every: Option<String>,
    window: Option<String>,
) -> Result<RetrySchedule, SettingsError> {
    match (steps, every, window) {
        (Some(steps), None, None) => {
            if steps.is_empty() {
                return Err(invalid(
                    format!("{key}.schedule"),
                    "must list at least one delay",
                ));
            }
            let delays = steps
                .iter()
                .map(|s| duration(&format!("{key}.schedule"), Some(s), ""))
                .collect::<Result<Vec<Duration>, _>>()?;
            Ok(RetrySchedule::Steps(delays))
        }
        (None, Some(every), Some(window)) => {
            let interval = duration(&format!("{key}.every"), Some(&every), "")?;
            if interval.is_zero() {
                return Err(invalid(format!("{key}.every"), "must be more than 0s"));
            }
            Ok(RetrySchedule::Every {
                interval,
                window: duration(&format!("{key}.window"), Some(&window), "")?,
            })
        }
        _ => Err(invalid(
            key,
            "set either `schedule = [..]` or both `every` and `window`",
        )),
    }
}
