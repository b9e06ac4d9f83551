//! The canonical string a signer hashes or signs, kept in parts so the secret never prints,
//! and where an integrator's own string first departs from it (`verify --explain`).
//!
//! The comparison runs on the real strings (secret included) because that is what the two
//! sides hash, but nothing it returns shows a character of the secret, nor where inside the
//! secret two strings differ: a per-character position there would let whoever reads the
//! output guess the secret one character at a time.

use crate::secret::Secret;

/// What is shown in place of a secret.
pub const MASK: &str = "******";

/// Characters shown on each side of a difference.
const WINDOW: usize = 24;

/// One piece of a canonical string.
#[derive(Debug, Clone)]
pub enum Part {
    /// Text computed from the callback: sorted params, sorted characters, the body.
    Data(String),
    /// Text of the channel's template around the data, e.g. `&key=`.
    Literal(String),
    /// The channel's secret; printed only as [`MASK`].
    Secret(Secret),
}

/// A canonical string whose secret parts are known, so it can be printed masked.
#[derive(Debug, Clone, Default)]
pub struct Canonical {
    parts: Vec<Part>,
}

/// Where another string departs from ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    /// Character for character the same, secret included.
    Same,
    /// They first differ at `index` (0-based, in Unicode characters), outside the secret.
    DiffersAt {
        index: usize,
        ours: Window,
        theirs: Window,
    },
    /// Everything before the secret agrees, and the secret part does not. Where exactly is
    /// not said: that would tell how much of a guessed secret is right.
    SecretDiffers,
}

/// A few characters around a difference, secrets masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The excerpt, with `…` where it was cut and [`MASK`] for a secret.
    pub text: String,
    /// Display columns before the differing character (CJK counts two), for a caret.
    pub caret: usize,
}

/// A character span `[start, end)` that must not be shown.
type Span = (usize, usize);

impl Canonical {
    pub fn new(parts: Vec<Part>) -> Self {
        Self { parts }
    }

    /// The string with every secret replaced by [`MASK`]: safe to print and log.
    pub fn masked(&self) -> String {
        self.render(|_| MASK)
    }

    /// The exact string hashed or signed. Crate-private: it holds the secret.
    pub(crate) fn exposed(&self) -> String {
        self.render(Secret::expose)
    }

    fn render<'a>(&'a self, secret: impl Fn(&'a Secret) -> &'a str) -> String {
        let mut out = String::new();
        for part in &self.parts {
            out.push_str(match part {
                Part::Data(text) | Part::Literal(text) => text,
                Part::Secret(s) => secret(s),
            });
        }
        out
    }

    /// Character spans of the secrets in [`Self::exposed`].
    fn secret_spans(&self) -> Vec<Span> {
        let mut spans = Vec::new();
        let mut at = 0;
        for part in &self.parts {
            let len = match part {
                Part::Data(t) | Part::Literal(t) => t.chars().count(),
                Part::Secret(s) => s.expose().chars().count(),
            };
            if matches!(part, Part::Secret(_)) {
                spans.push((at, at + len));
            }
            at += len;
        }
        spans
    }

    /// Compares `theirs` (a string the integrator built, possibly with their secret in it).
    pub fn compare(&self, theirs: &str) -> Comparison {
        let ours: Vec<char> = self.exposed().chars().collect();
        let their_chars: Vec<char> = theirs.chars().collect();
        let index = ours
            .iter()
            .zip(&their_chars)
            .position(|(a, b)| a != b)
            .unwrap_or(ours.len().min(their_chars.len()));
        if index == ours.len() && index == their_chars.len() {
            return Comparison::Same;
        }
        let our_spans = self.secret_spans();
        // Within a secret (or right at its end: a stray trailing character), any detail
        // would describe the secret.
        if our_spans
            .iter()
            .any(|&(start, end)| (start..=end).contains(&index))
        {
            return Comparison::SecretDiffers;
        }
        Comparison::DiffersAt {
            index,
            ours: window(&ours, index, &our_spans),
            theirs: window(&their_chars, index, &self.their_secret_spans(&their_chars)),
        }
    }

    /// `theirs` with whatever stands where our secret stands masked (see [`Self::compare`]).
    pub fn mask_theirs(&self, theirs: &str) -> String {
        let chars: Vec<char> = theirs.chars().collect();
        let spans = self.their_secret_spans(&chars);
        window_text(&chars, 0, chars.len(), &spans)
    }

    /// Where the secret probably sits in a string the integrator built: after the template
    /// text that precedes our secret (`&key=`), up to the text that follows it; with no such
    /// text, the last characters, as many as our secret has. Their secret may differ from
    /// ours (a typo, a stray space): it is masked all the same, since it is near ours.
    fn their_secret_spans(&self, theirs: &[char]) -> Vec<Span> {
        let text: String = theirs.iter().collect();
        let mut spans = Vec::new();
        for (i, part) in self.parts.iter().enumerate() {
            let Part::Secret(secret) = part else { continue };
            let before = literal_at(&self.parts, i.checked_sub(1));
            let after = literal_at(&self.parts, Some(i + 1));
            let len = secret.expose().chars().count();
            let end = match after.is_empty() {
                false if text.ends_with(after) => theirs.len() - after.chars().count(),
                _ => theirs.len(),
            };
            let start = match (before.is_empty(), text.rfind(before)) {
                (false, Some(byte)) => text[..byte].chars().count() + before.chars().count(),
                _ => end.saturating_sub(len),
            };
            if start < end {
                spans.push((start, end));
            }
            // Our secret verbatim anywhere else is masked too.
            let needle: Vec<char> = secret.expose().chars().collect();
            if !needle.is_empty() {
                for at in 0..theirs.len().saturating_sub(needle.len() - 1) {
                    if theirs[at..at + needle.len()] == needle[..] {
                        spans.push((at, at + needle.len()));
                    }
                }
            }
        }
        spans
    }
}

fn literal_at(parts: &[Part], index: Option<usize>) -> &str {
    match index.and_then(|i| parts.get(i)) {
        Some(Part::Literal(text)) => text,
        _ => "",
    }
}

fn window(chars: &[char], index: usize, hidden: &[Span]) -> Window {
    let start = index.saturating_sub(WINDOW);
    let end = (index + WINDOW).min(chars.len());
    let mut text = String::new();
    if start > 0 {
        text.push('…');
    }
    let before = window_text(chars, start, index, hidden);
    let caret = width(&text) + width(&before);
    text.push_str(&before);
    text.push_str(&window_text(chars, index, end, hidden));
    if end < chars.len() {
        text.push('…');
    }
    Window { text, caret }
}

/// `chars[start..end]` with hidden spans shown once each as [`MASK`] and controls escaped.
fn window_text(chars: &[char], start: usize, end: usize, hidden: &[Span]) -> String {
    let mut out = String::new();
    let mut masked_until = None;
    for (i, c) in chars.iter().enumerate().take(end).skip(start) {
        if let Some(&(_, span_end)) = hidden.iter().find(|(s, e)| (*s..*e).contains(&i)) {
            if masked_until != Some(span_end) {
                out.push_str(MASK);
                masked_until = Some(span_end);
            }
            continue;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(*c);
        }
    }
    out
}

/// Terminal columns of `text`: East Asian wide characters and emoji take two.
fn width(text: &str) -> usize {
    text.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x1F300..=0x1FAFF
            | 0x20000..=0x3FFFD => 2,
            _ => 1,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(params: &str, secret: &str) -> Canonical {
        Canonical::new(vec![
            Part::Data(params.into()),
            Part::Literal("&key=".into()),
            Part::Secret(Secret::new(secret)),
        ])
    }

    #[test]
    fn masked_never_shows_the_secret() {
        let c = canonical("a=1&b=2", "S3CRET");
        assert_eq!(c.masked(), "a=1&b=2&key=******");
        assert_eq!(c.exposed(), "a=1&b=2&key=S3CRET");
        assert!(!format!("{c:?}").contains("S3CRET"));
    }

    #[test]
    fn same_string_compares_same() {
        let c = canonical("a=1", "K");
        assert_eq!(c.compare("a=1&key=K"), Comparison::Same);
    }

    #[test]
    fn a_difference_in_the_params_shows_both_windows() {
        let c = canonical("a=1&bizContent={\"x\":1}&t=9", "S3CRET");
        let Comparison::DiffersAt {
            index,
            ours,
            theirs,
        } = c.compare("a=1&bizContent={\"x\": 1}&t=9&key=S3CRET")
        else {
            panic!("expected a difference in the params");
        };
        assert_eq!(index, 20);
        assert_eq!(ours.text, "a=1&bizContent={\"x\":1}&t=9&key=******");
        assert_eq!(theirs.text, "a=1&bizContent={\"x\": 1}&t=9&key=******");
        assert_eq!(ours.caret, 20);
    }

    #[test]
    fn a_difference_inside_the_secret_says_only_that() {
        let c = canonical("a=1", "S3CRET");
        for theirs in ["a=1&key=S3CRXT", "a=1&key=", "a=1&key=S3CRET ", "a=1&key=S"] {
            assert!(c.compare(theirs) == Comparison::SecretDiffers, "{theirs}");
        }
    }

    #[test]
    fn their_secret_is_masked_even_when_it_is_not_ours() {
        let c = canonical("a=1", "S3CRET");
        assert_eq!(c.mask_theirs("a=1&key=S3CRXT-typo"), "a=1&key=******");
        assert_eq!(c.mask_theirs("b=2&key=S3CRET"), "b=2&key=******");
        // With no literal before the secret, the tail as long as ours is masked.
        let chars = Canonical::new(vec![
            Part::Data("\"\"{}".into()),
            Part::Secret(Secret::new("abcd")),
        ]);
        assert_eq!(chars.mask_theirs("\"\"{}abce"), "\"\"{}******");
    }

    #[test]
    fn windows_are_cut_and_carets_count_wide_characters() {
        let long = format!("{}张z", "x".repeat(40));
        let c = Canonical::new(vec![Part::Data(long.clone())]);
        let theirs = format!("{}张y", "x".repeat(40));
        let Comparison::DiffersAt { index, ours, .. } = c.compare(&theirs) else {
            panic!("expected a difference");
        };
        assert_eq!(index, 41);
        assert!(ours.text.starts_with('…'));
        // "…" + 23 x + 张 (two columns)
        assert_eq!(ours.caret, 1 + 23 + 2);
    }
}
