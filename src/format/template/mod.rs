//! The `template` formatter (SPEC §4): a brand's body rendered from a per-channel Jinja template.
//!
//! A template is Jinja2 syntax ([minijinja]) that renders one JSON object. Its context:
//!
//! | name | value |
//! |---|---|
//! | `appId`, `action`, `version`, `timestamp` | the standard message's fields, as strings |
//! | `notifyType`, `channelId` | the queue message's, as strings |
//! | `biz` | bizContent parsed: numbers keep their text (`0.10` stays `0.10`) |
//! | `message` | the whole standard message (bizContent still a string) |
//! | `now_ms`, `now_s` | the sending time, epoch ms and s, integers (an input, so tests pin it) |
//!
//! Every `{{ expr }}` writes its value as JSON (strings quoted and escaped, numbers in their
//! exact text), so `"code": {{ biz.codeNo }}` is safe whatever the code holds; quoting it
//! yourself (`"{{ biz.codeNo }}"`) renders invalid JSON and fails the start-up check. Text
//! that is already JSON (`tojson`, `safe`) is written as is. Writing a field the message
//! lacks is an error naming the field (the message is parked as `unformattable`), not empty
//! output that would leave a hole in the JSON: use `default(...)` or `is defined` for
//! optional fields. How a template is checked at start: see `check.rs`. Separators go in statements: `{% if not loop.last %},{% endif %}`.
//! Filters: see `filters.rs`. The output is parsed back as JSON and must be an object.
//!
//! Why numbers need care, and how they are kept exact: see `values.rs`.

mod capped;
mod check;
mod error;
mod filters;
mod missing;
pub mod samples;
mod time;
mod values;

use std::fmt;

use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};
use serde_json::Map;

use capped::Capped;

pub use error::TemplateError;
pub use samples::{preset_source, PRESETS};

/// What one rendering sees.
#[derive(Debug, Clone, Copy)]
pub struct TemplateContext<'a> {
    /// The standard message (SPEC §2), with or without `sign`.
    pub standard: &'a Map<String, serde_json::Value>,
    /// The queue message's `notifyType`.
    pub notify_type: &'a str,
    /// The queue message's `channelId`.
    pub channel_id: &'a str,
    /// The sending time, epoch milliseconds.
    pub now_ms: u64,
}

/// One compiled template; `Send + Sync`, so one `Arc` serves every worker.
pub struct TemplateFormatter {
    env: Environment<'static>,
    name: String,
    /// Kept to compile the start-up check's lenient twin and to name missing fields.
    source: String,
    /// Rendering stops once the output passes this many bytes.
    max_output: usize,
}

/// The output limit of a formatter that was not given one.
pub const DEFAULT_MAX_OUTPUT: usize = 1024 * 1024;

impl fmt::Debug for TemplateFormatter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemplateFormatter")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TemplateFormatter {
    /// Compiles `source`; `name` (a channel id or file path) appears in every error.
    pub fn new(name: &str, source: &str) -> Result<Self, TemplateError> {
        Ok(Self {
            env: compile(name, source, Undefined::Refused)?,
            name: name.to_owned(),
            source: source.to_owned(),
            max_output: DEFAULT_MAX_OUTPUT,
        })
    }

    /// Stops rendering, with [`TemplateError::TooLarge`], once output passes `bytes`: a
    /// loop over a message's list cannot grow a body without bound.
    pub fn with_max_output(mut self, bytes: usize) -> Self {
        self.max_output = bytes;
        self
    }

    /// The name the template was compiled under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renders the brand body for one message.
    pub fn render(
        &self,
        ctx: &TemplateContext<'_>,
    ) -> Result<Map<String, serde_json::Value>, TemplateError> {
        self.render_in(&self.env, ctx)
    }

    fn render_in(
        &self,
        env: &Environment<'static>,
        ctx: &TemplateContext<'_>,
    ) -> Result<Map<String, serde_json::Value>, TemplateError> {
        let context = self.context(ctx)?;
        let mut out = Capped::new(self.max_output);
        let rendered = env
            .get_template(&self.name)
            .and_then(|t| t.render_captured_to(context, &mut out).map(drop));
        if out.over {
            return Err(TemplateError::TooLarge {
                template: self.name.clone(),
                limit: self.max_output,
            });
        }
        rendered.map_err(|e| self.render_error(&e, ctx))?;
        // The formatter only writes whole strings, so the bytes are UTF-8.
        let text = String::from_utf8_lossy(&out.bytes);
        match serde_json::from_str(&text) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            Ok(other) => Err(TemplateError::NotAnObject {
                template: self.name.clone(),
                found: json_kind(&other),
            }),
            Err(e) => {
                // serde_json appends the position; we report it in fields of our own.
                let message = e.to_string();
                let cut = message.rfind(" at line ").unwrap_or(message.len());
                Err(TemplateError::InvalidJson {
                    template: self.name.clone(),
                    line: e.line(),
                    column: e.column(),
                    reason: message[..cut].to_owned(),
                })
            }
        }
    }

    /// A failed render as an error: one caused by a field the message lacks names it.
    fn render_error(&self, e: &minijinja::Error, ctx: &TemplateContext<'_>) -> TemplateError {
        let line = e.line();
        if let (ErrorKind::UndefinedError, Some(line)) = (e.kind(), line) {
            let fields = missing::fields(&self.source, line, ctx.standard);
            if !fields.is_empty() {
                return TemplateError::Missing {
                    template: self.name.clone(),
                    line,
                    fields,
                };
            }
        }
        TemplateError::Render {
            template: self.name.clone(),
            line,
            reason: reason(e),
        }
    }

    fn context(&self, ctx: &TemplateContext<'_>) -> Result<Value, TemplateError> {
        use serde_json::Value as J;
        let standard = ctx.standard;
        // Values are carried into the template recursively: bound them first.
        let deepest = standard.values().map(crate::json::value_depth).max();
        if deepest.unwrap_or(0) >= MAX_DEPTH || depth_of_biz(standard) > MAX_DEPTH {
            return Err(TemplateError::TooDeep {
                template: self.name.clone(),
                limit: MAX_DEPTH,
            });
        }
        let biz = match standard.get("bizContent") {
            Some(J::String(text)) => serde_json::from_str::<J>(text)
                .map(|v| values::from_json(&v))
                .ok(),
            // `standard_message` makes it a string, but an already parsed one is as good.
            Some(parsed @ (J::Object(_) | J::Array(_))) => Some(values::from_json(parsed)),
            _ => None,
        };
        let biz = biz.ok_or_else(|| TemplateError::BizContent {
            template: self.name.clone(),
        })?;
        let text = |key: &str| match standard.get(key) {
            Some(J::String(s)) => Value::from(s.as_str()),
            Some(J::Number(n)) => Value::from(n.as_str()),
            _ => Value::UNDEFINED,
        };
        let message: Value = standard
            .iter()
            .map(|(k, v)| (k.as_str(), values::from_json(v)))
            .collect();
        Ok([
            ("appId", text("appId")),
            ("action", text("action")),
            ("notifyType", Value::from(ctx.notify_type)),
            ("version", text("version")),
            ("timestamp", text("timestamp")),
            ("channelId", Value::from(ctx.channel_id)),
            ("biz", biz),
            ("message", message),
            ("now_ms", Value::from(ctx.now_ms)),
            ("now_s", Value::from(ctx.now_ms / 1000)),
        ]
        .into_iter()
        .collect())
    }
}

use crate::json::MAX_DEPTH;

/// What the output step does with an undefined value (a field the message lacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Undefined {
    /// A delivery: an error, which names the field.
    Refused,
    /// The start-up check on guessed samples: `check::STAND_IN` takes its place.
    StandIn,
}

/// An environment holding the one template `name`.
fn compile(
    name: &str,
    source: &str,
    undefined: Undefined,
) -> Result<Environment<'static>, TemplateError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(match undefined {
        Undefined::Refused => UndefinedBehavior::Strict,
        // `biz.a.b` with no `a` is undefined too, not an error: the samples lack `a`.
        Undefined::StandIn => UndefinedBehavior::Chainable,
    });
    // The formatter below does the escaping; JSON mode keeps `escape` and friends in step.
    env.set_auto_escape_callback(|_| AutoEscape::Json);
    env.set_formatter(move |out, _state, value| {
        match value.as_str() {
            _ if value.is_undefined() => match undefined {
                Undefined::Refused => return Err(ErrorKind::UndefinedError.into()),
                Undefined::StandIn => out.write_str(check::STAND_IN)?,
            },
            Some(json) if value.is_safe() => out.write_str(json)?,
            _ => out.write_str(&values::to_json(value)?)?,
        }
        Ok(())
    });
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    filters::register(&mut env);
    env.add_template_owned(name.to_owned(), source.to_owned())
        .map_err(|e| TemplateError::Compile {
            template: name.to_owned(),
            line: e.line(),
            reason: reason(&e),
        })?;
    Ok(env)
}

/// The nesting of bizContent as it will be parsed (a string of JSON or a value).
fn depth_of_biz(standard: &Map<String, serde_json::Value>) -> usize {
    match standard.get("bizContent") {
        Some(serde_json::Value::String(text)) => crate::json::nesting_depth(text.as_bytes()),
        Some(value) => crate::json::value_depth(value),
        None => 0,
    }
}

/// minijinja's kind and detail, without its `(in name:line)` suffix: we carry those as fields.
fn reason(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests;
