//! A message's voucher secrets hidden in what an attempt yields, before the journal (and
//! through it the console and the admin API) keeps it: a brand may quote them back in any
//! answer, a 200 as much as a 500.

use crate::journal::{biz_of_whale, hide, Mask};
use crate::retry::Outcome;

use super::Sent;

/// `judged` with `mask`'s secrets of `whale` hidden in the brand's answer, whatever the
/// outcome, and in a failure's error. The secrets are read only when there is text to hide.
pub(super) fn masked(
    mask: &Mask,
    judged: (Outcome, Option<Sent>),
    whale: &str,
) -> (Outcome, Option<Sent>) {
    let (outcome, sent) = judged;
    let answered = sent
        .as_ref()
        .and_then(|s| s.response.as_deref())
        .is_some_and(|r| !r.is_empty());
    if !answered && !matches!(outcome, Outcome::Failed { .. }) {
        return (outcome, sent);
    }
    let secrets = biz_of_whale(whale)
        .map(|biz| mask.secrets(&biz))
        .unwrap_or_default();
    if secrets.is_empty() {
        return (outcome, sent);
    }
    let outcome = match outcome {
        Outcome::Failed {
            status,
            error,
            retry_after,
        } => Outcome::Failed {
            status,
            error: hide(&secrets, &error),
            retry_after,
        },
        other => other,
    };
    let sent = sent.map(|mut s| {
        s.response = s.response.map(|r| hide(&secrets, &r));
        s
    });
    (outcome, sent)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::journal::MASK;

    use super::*;

    const WHALE: &str = r#"{"bizContent":"{\"codeNo\":\"C1\",\"codePwd\":\"pw-9f8e7d\"}"}"#;

    fn answered(text: &str) -> Option<Sent> {
        Some(Sent {
            url: "http://brand.example/n".into(),
            latency: Duration::from_millis(1),
            response: Some(text.into()),
        })
    }

    #[test]
    fn a_delivered_answer_quoting_the_secret_is_masked() {
        let judged = (
            Outcome::Delivered { status: 200 },
            answered(r#"{"code":0,"echo":"pw-9f8e7d"}"#),
        );
        let (outcome, sent) = masked(&Mask::default(), judged, WHALE);
        assert!(matches!(outcome, Outcome::Delivered { status: 200 }));
        let response = sent.unwrap().response.unwrap();
        assert!(!response.contains("pw-9f8e7d"), "{response}");
        assert!(response.contains(MASK), "{response}");
    }

    #[test]
    fn a_failure_is_masked_in_its_error_and_its_answer() {
        let judged = (
            Outcome::Failed {
                status: Some(500),
                error: "brand said pw-9f8e7d is used".into(),
                retry_after: None,
            },
            answered("pw-9f8e7d used"),
        );
        let (outcome, sent) = masked(&Mask::default(), judged, WHALE);
        let Outcome::Failed { error, .. } = outcome else {
            panic!("still a failure")
        };
        assert!(!error.contains("pw-9f8e7d"), "{error}");
        let response = sent.unwrap().response.unwrap();
        assert!(!response.contains("pw-9f8e7d"), "{response}");
    }
}
