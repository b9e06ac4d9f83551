//! Message bodies stored small: each is raw-deflated against a dictionary, a recent body of
//! the same channel, with which it shares nearly all its text (the bench's 387-byte ebuy
//! message stores in about 30 bytes, against 280 deflated alone).
//!
//! A dictionary is a row of the journal (`journal_dictionaries`), so it holds a message in
//! clear like the messages themselves: the writer replaces each after [`ROTATE`], and
//! retention deletes one once it is older than the retention and no message uses it.

use std::collections::HashMap;
use std::time::Duration;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// How long the writer uses one dictionary before taking a fresh body as the next.
pub const ROTATE: Duration = Duration::from_secs(3600);

/// The longest body taken as a dictionary: deflate looks back 32 KiB at most.
const MAX_DICTIONARY: usize = 32 << 10;

/// The largest body a stored one may inflate to: far above any message the broker
/// accepts, it only stops a corrupt row from taking the memory.
const MAX_BODY: usize = 64 << 20;

/// Why a stored body could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("a stored message body could not be inflated: {0}")]
pub struct InflateError(String);

/// `body` deflated against `dictionary`, or `None` when that would not be smaller. The
/// zlib wrapper (6 bytes) names the dictionary and checksums the body, so reading it back
/// with the wrong dictionary, or a damaged row, is an error rather than a wrong body.
/// `compress` is reused: setting up a fresh one costs more than compressing a message.
fn deflate(compress: &mut Compress, body: &[u8], dictionary: &[u8]) -> Option<Vec<u8>> {
    compress.reset();
    compress.set_dictionary(dictionary).ok()?;
    let mut out = Vec::with_capacity(body.len() / 2 + 64);
    loop {
        let consumed = compress.total_in() as usize;
        out.reserve(256);
        let status = compress
            .compress_vec(&body[consumed..], &mut out, FlushCompress::Finish)
            .ok()?;
        if status == Status::StreamEnd {
            break;
        }
    }
    (out.len() < body.len()).then_some(out)
}

/// A body stored by [`deflate`] against `dictionary`, as it was.
pub fn inflate(stored: &[u8], dictionary: &[u8]) -> Result<Vec<u8>, InflateError> {
    let fail = |e: &dyn std::fmt::Display| InflateError(e.to_string());
    let mut decompress = Decompress::new(true);
    let mut out = Vec::with_capacity(stored.len() * 8);
    loop {
        let consumed = decompress.total_in() as usize;
        if out.len() == out.capacity() {
            out.reserve(out.len().max(1024));
        }
        let status =
            match decompress.decompress_vec(&stored[consumed..], &mut out, FlushDecompress::Finish)
            {
                Ok(status) => status,
                // The stream names its dictionary first; a different one is refused here.
                Err(e) if e.needs_dictionary().is_some() => {
                    decompress
                        .set_dictionary(dictionary)
                        .map_err(|e| fail(&e))?;
                    continue;
                }
                Err(e) => return Err(fail(&e)),
            };
        match status {
            Status::StreamEnd => return Ok(out),
            _ if out.len() > MAX_BODY => return Err(fail(&"larger than 64 MiB")),
            // No progress with room to spare: the stream is cut short.
            Status::BufError if out.len() < out.capacity() => {
                return Err(fail(&"the stored stream ends early"))
            }
            _ => {}
        }
    }
}

/// The dictionaries the writer compresses with, one per channel (`""` for messages whose
/// channel is unknown), each with its row id.
pub struct Dictionaries {
    by_channel: HashMap<String, Current>,
    compress: Compress,
}

impl Default for Dictionaries {
    fn default() -> Self {
        Self {
            by_channel: HashMap::new(),
            // Level 1: a body is mostly matches against the dictionary, which every level
            // finds; higher levels cost more time for a few bytes.
            compress: Compress::new(Compression::fast(), true),
        }
    }
}

impl std::fmt::Debug for Dictionaries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.by_channel.iter().map(|(c, d)| (c, d.id)))
            .finish()
    }
}

#[derive(Debug)]
struct Current {
    id: i64,
    body: Vec<u8>,
    since_ms: u64,
}

impl Dictionaries {
    /// Whether `channel` has a dictionary not yet due for replacement at `now_ms`.
    pub fn has(&self, channel: &str, now_ms: u64) -> bool {
        fresh(&self.by_channel, channel, now_ms).is_some()
    }

    /// Whether `body` should become `channel`'s next dictionary at `now_ms`: it has none
    /// in use, and `body` fits the window deflate looks back over (a longer one would make
    /// a poor dictionary).
    pub fn wants(&self, channel: &str, body: &[u8], now_ms: u64) -> bool {
        !self.has(channel, now_ms) && body.len() <= MAX_DICTIONARY
    }

    /// `body` deflated against `channel`'s dictionary, with that dictionary's id; `None`
    /// when there is none or it would not make the body smaller.
    pub fn deflate(&mut self, channel: &str, body: &[u8], now_ms: u64) -> Option<(i64, Vec<u8>)> {
        let current = fresh(&self.by_channel, channel, now_ms)?;
        let deflated = deflate(&mut self.compress, body, &current.body)?;
        Some((current.id, deflated))
    }

    /// Uses the stored dictionary `id` (text `body`) for `channel` from `now_ms`.
    pub fn replace(&mut self, channel: &str, id: i64, body: Vec<u8>, now_ms: u64) {
        let current = Current {
            id,
            body,
            since_ms: now_ms,
        };
        self.by_channel.insert(channel.to_owned(), current);
    }

    /// Forgets them all: the database they were stored in may not be the one written next.
    pub fn clear(&mut self) {
        self.by_channel.clear();
    }
}

/// `channel`'s dictionary, unless it is missing or due for replacement at `now_ms`.
fn fresh<'a>(
    by_channel: &'a HashMap<String, Current>,
    channel: &str,
    now_ms: u64,
) -> Option<&'a Current> {
    let current = by_channel.get(channel)?;
    let age = now_ms.saturating_sub(current.since_ms);
    (u128::from(age) < ROTATE.as_millis()).then_some(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &[u8] = br#"{"channelId":"shop","notifyUrl":"https://brand.example/n","notifyType":"MakeCode","whaleMessage":"{\"bizContent\":\"{\\\"codeNo\\\":\\\"C0000000001\\\"}\"}"}"#;
    const TWO: &[u8] = br#"{"channelId":"shop","notifyUrl":"https://brand.example/n","notifyType":"CancelCode","whaleMessage":"{\"bizContent\":\"{\\\"codeNo\\\":\\\"C0000000002\\\"}\"}"}"#;

    fn deflate(body: &[u8], dictionary: &[u8]) -> Option<Vec<u8>> {
        super::deflate(
            &mut Compress::new(Compression::fast(), true),
            body,
            dictionary,
        )
    }

    #[test]
    fn a_body_comes_back_byte_for_byte_and_much_smaller() {
        let stored = deflate(TWO, ONE).expect("smaller");
        assert!(
            stored.len() * 4 < TWO.len(),
            "{} of {}",
            stored.len(),
            TWO.len()
        );
        assert_eq!(inflate(&stored, ONE).unwrap(), TWO);
        // Large bodies too, past any single buffer.
        let big: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let stored = deflate(&big, ONE).expect("smaller");
        assert_eq!(inflate(&stored, ONE).unwrap(), big);
    }

    #[test]
    fn incompressible_bodies_stay_as_they_are() {
        assert_eq!(deflate(b"x", ONE), None);
    }

    #[test]
    fn the_wrong_dictionary_or_a_cut_stream_is_an_error_not_a_wrong_body() {
        let stored = deflate(TWO, ONE).unwrap();
        assert!(inflate(&stored[..stored.len() / 2], ONE).is_err());
        assert!(inflate(&stored, TWO).is_err());
        let mut damaged = stored.clone();
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0x55;
        assert!(inflate(&damaged, ONE).is_err());
    }

    #[test]
    fn dictionaries_are_replaced_after_an_hour() {
        let mut d = Dictionaries::default();
        assert!(!d.has("shop", 0));
        d.replace("shop", 7, ONE.to_vec(), 1_000);
        let (id, stored) = d.deflate("shop", TWO, 2_000).unwrap();
        assert_eq!(id, 7);
        assert_eq!(inflate(&stored, ONE).unwrap(), TWO);
        // The reused compressor starts afresh for each body.
        let (_, again) = d.deflate("shop", TWO, 2_000).unwrap();
        assert_eq!(again, stored);
        assert!(d.deflate("other", TWO, 2_000).is_none());
        assert!(!d.has("shop", 1_000 + 3_600_000));
        d.clear();
        assert!(!d.has("shop", 2_000));
    }
}
