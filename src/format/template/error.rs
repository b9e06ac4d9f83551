//! Why a template could not be compiled or rendered.

use super::missing;

/// Why a template could not be compiled or rendered. Messages name the template and line,
/// never the message's values, which can be large or secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("template {template:?} does not compile{}: {reason}", at(*.line))]
    Compile {
        template: String,
        line: Option<usize>,
        reason: String,
    },
    #[error("template {template:?} failed to render{}: {reason}", at(*.line))]
    Render {
        template: String,
        line: Option<usize>,
        reason: String,
    },
    #[error(
        "template {template:?} rendered invalid JSON at output line {line}, column {column}: {reason}"
    )]
    InvalidJson {
        template: String,
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("template {template:?} rendered a JSON {found}, the body must be an object")]
    NotAnObject {
        template: String,
        found: &'static str,
    },
    #[error("template {template:?}: the message's bizContent is not JSON text")]
    BizContent { template: String },
    #[error("template {template:?}: the message nests deeper than {limit} levels")]
    TooDeep { template: String, limit: usize },
    #[error("template {template:?} rendered more than {limit} bytes")]
    TooLarge { template: String, limit: usize },
    #[error(
        "template {template:?} failed to render at line {line}: undefined value: the message has no {}",
        missing::list(fields)
    )]
    Missing {
        template: String,
        line: usize,
        /// Paths as the template writes them (`biz.card`): template text, not message values.
        fields: Vec<String>,
    },
    #[error("{error} (rendering the sample {notify_type} message)")]
    Sample {
        template: String,
        notify_type: &'static str,
        error: Box<TemplateError>,
    },
    #[error("{error} (rendering the channel's sample message {sample})")]
    OwnSample {
        template: String,
        sample: String,
        error: Box<TemplateError>,
    },
}

fn at(line: Option<usize>) -> String {
    line.map(|l| format!(" at line {l}")).unwrap_or_default()
}
