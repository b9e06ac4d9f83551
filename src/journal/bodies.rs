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
pub fn deflate(body: &[u8], dictionary: &[u8]) -> Option<Vec<u8>> {
    let mut compress = Compress::new(Compression::default(), true);
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
#[derive(Debug, Default)]
pub struct Dictionaries {
    by_channel: HashMap<String, Current>,
}

#[derive(Debug)]
struct Current {
    id: i64,
    body: Vec<u8>,
    since_ms: u64,
}

impl Dictionaries {
    /// The dictionary for `channel` (id and text), unless it is missing or due for
    /// replacement at `now_ms`.
    pub fn current(&self, channel: &str, now_ms: u64) -> Option<(i64, &[u8])> {
        let current = self.by_channel.get(channel)?;
        let age = now_ms.saturating_sub(current.since_ms);
        (u128::from(age) < ROTATE.as_millis()).then_some((current.id, current.body.as_slice()))
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

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &[u8] = br#"{"channelId":"shop","notifyUrl":"https://brand.example/n","notifyType":"MakeCode","whaleMessage":"{\"bizContent\":\"{\\\"codeNo\\\":\\\"C0000000001\\\"}\"}"}"#;
    const TWO: &[u8] = br#"{"channelId":"shop","notifyUrl":"https://brand.example/n","notifyType":"CancelCode","whaleMessage":"{\"bizContent\":\"{\\\"codeNo\\\":\\\"C0000000002\\\"}\"}"}"#;

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
        assert!(d.current("shop", 0).is_none());
        d.replace("shop", 7, ONE.to_vec(), 1_000);
        assert_eq!(d.current("shop", 2_000).map(|(id, _)| id), Some(7));
        assert!(d.current("other", 2_000).is_none());
        assert!(d.current("shop", 1_000 + 3_600_000).is_none());
        d.clear();
        assert!(d.current("shop", 2_000).is_none());
    }
}
