//! The start-up check: what can be known about a template before any message arrives.
//!
//! Syntax is checked as it compiles. Then it renders a sample message of every notify type,
//! whose bizContent fields are our guess at the voucher system's (`samples.rs`). A field the
//! samples lack is no error here, since a real message may well have it: [`STAND_IN`] is
//! written in its place. (One a real message lacks is found at delivery and parked as
//! `unformattable`, naming the field.) What the samples still find: unknown filters and
//! functions, a filter refusing a sample's value, output that is not one JSON object.
//!
//! The stand-in is a JSON string holding a quote and a backslash, so a template that quotes
//! a value itself (`"{{ biz.x }}"`) renders invalid JSON and is refused whether or not the
//! samples have the field. Branches on a missing field (`{% if biz.x %}`) are not taken, so
//! what they hold goes unchecked: a channel's own sample (`template_sample`), rendered as
//! strictly as a delivery, checks them.

use super::{compile, samples, TemplateContext, TemplateError, TemplateFormatter, Undefined};

/// What the check writes for a field the samples lack: JSON text.
pub(super) const STAND_IN: &str = r#""a field the samples lack: \" \\""#;

impl TemplateFormatter {
    /// Renders the built-in sample of every notify type, fields they lack allowed, so a
    /// template that can never render stops the start.
    pub fn check(&self) -> Result<(), TemplateError> {
        let lenient = compile(&self.name, &self.source, Undefined::StandIn)?;
        for (notify_type, action, status) in samples::NOTIFY_TYPES {
            let standard = samples::message(action, status);
            let ctx = TemplateContext {
                standard: &standard,
                notify_type,
                channel_id: samples::CHANNEL_ID,
                now_ms: samples::NOW_MS,
            };
            self.render_in(&lenient, &ctx)
                .map_err(|e| TemplateError::Sample {
                    template: self.name.clone(),
                    notify_type,
                    error: Box::new(e),
                })?;
        }
        Ok(())
    }

    /// Renders a channel's own sample message (named `sample` in errors) exactly as a
    /// delivery would: every field the template writes must be there.
    pub fn check_sample(
        &self,
        ctx: &TemplateContext<'_>,
        sample: &str,
    ) -> Result<(), TemplateError> {
        self.render(ctx)
            .map(drop)
            .map_err(|e| TemplateError::OwnSample {
                template: self.name.clone(),
                sample: sample.to_owned(),
                error: Box::new(e),
            })
    }
}
