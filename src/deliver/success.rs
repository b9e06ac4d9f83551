//! Whether a brand's answer means the notification landed (SPEC §5).

/// Which HTTP statuses count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusRule {
    /// A whole class: `2` is any 2xx.
    Class(u16),
    /// Exactly this status.
    Exact(u16),
}

/// A body the brand must answer with, compared after trimming whitespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyRule {
    pub accepted: Vec<String>,
    pub ignore_case: bool,
}

/// A channel's success rule: the status, and optionally the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuccessRule {
    pub status: StatusRule,
    pub body: Option<BodyRule>,
}

impl StatusRule {
    /// Parses `2xx` or an exact code such as `200`.
    pub fn parse(text: &str) -> Option<Self> {
        let lower = text.trim().to_ascii_lowercase();
        if let Some(class) = lower.strip_suffix("xx") {
            return match class.parse::<u16>() {
                Ok(c @ 1..=5) => Some(StatusRule::Class(c)),
                _ => None,
            };
        }
        match lower.parse::<u16>() {
            Ok(code @ 100..=599) => Some(StatusRule::Exact(code)),
            _ => None,
        }
    }

    fn holds(&self, status: u16) -> bool {
        match self {
            StatusRule::Class(c) => status / 100 == *c,
            StatusRule::Exact(code) => status == *code,
        }
    }
}

impl SuccessRule {
    /// Whether `status` and `body` satisfy the rule.
    pub fn holds(&self, status: u16, body: &str) -> bool {
        self.failure(status, body).is_none()
    }

    /// Why an answer is not a success, status first (`HTTP 500: "oops"`), as operators read
    /// it in logs, the journal and a parked message's `x-notify-error`; `None` on success.
    pub fn failure(&self, status: u16, body: &str) -> Option<String> {
        if !self.status.holds(status) {
            return Some(format!("HTTP {status}: {}", snippet(body)));
        }
        match &self.body {
            Some(rule) if !rule.holds(body) => Some(format!(
                "HTTP {status}: body {} is not an answer the success rule accepts",
                snippet(body)
            )),
            _ => None,
        }
    }
}

/// The start of a response body, quoted on one line, for headers and logs.
fn snippet(body: &str) -> String {
    let one_line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    format!("{:?}", one_line.trim())
}

impl BodyRule {
    fn holds(&self, body: &str) -> bool {
        let body = body.trim();
        self.accepted.iter().any(|want| {
            if self.ignore_case {
                want.eq_ignore_ascii_case(body)
            } else {
                want == body
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_rules_parse() {
        assert_eq!(StatusRule::parse("2xx"), Some(StatusRule::Class(2)));
        assert_eq!(StatusRule::parse("204"), Some(StatusRule::Exact(204)));
        assert_eq!(StatusRule::parse("9xx"), None);
        assert_eq!(StatusRule::parse("abc"), None);
    }

    #[test]
    fn em_style_exact_body() {
        let rule = SuccessRule {
            status: StatusRule::Class(2),
            body: Some(BodyRule {
                accepted: vec!["SUCCESS".into()],
                ignore_case: false,
            }),
        };
        assert!(rule.holds(200, " SUCCESS\n"));
        assert!(!rule.holds(200, "success"));
        assert!(!rule.holds(500, "SUCCESS"));
        assert!(!rule.holds(302, "SUCCESS"));
    }

    #[test]
    fn shangzhan_style_any_of_ignoring_case() {
        let rule = SuccessRule {
            status: StatusRule::Class(2),
            body: Some(BodyRule {
                accepted: vec!["success".into(), "ok".into()],
                ignore_case: true,
            }),
        };
        assert!(rule.holds(200, "OK"));
        assert!(rule.holds(201, "Success "));
        assert!(!rule.holds(200, "fail"));
    }

    #[test]
    fn failures_say_the_status_first() {
        let rule = SuccessRule {
            status: StatusRule::Class(2),
            body: Some(BodyRule {
                accepted: vec!["SUCCESS".into()],
                ignore_case: false,
            }),
        };
        assert_eq!(
            rule.failure(500, "oops").as_deref(),
            Some(r#"HTTP 500: "oops""#)
        );
        assert_eq!(
            rule.failure(200, "fail\r\nX-Evil: 1").as_deref(),
            Some(r#"HTTP 200: body "fail  X-Evil: 1" is not an answer the success rule accepts"#)
        );
        assert_eq!(rule.failure(302, "").as_deref(), Some(r#"HTTP 302: """#));
        assert_eq!(rule.failure(200, "SUCCESS"), None);
    }
}
