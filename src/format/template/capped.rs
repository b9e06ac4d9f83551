//! The render's output buffer, capped so a template loop cannot grow a body without bound.

use std::io;

/// A writer that keeps at most `limit` bytes and then refuses, which ends the render.
pub(super) struct Capped {
    pub bytes: Vec<u8>,
    limit: usize,
    /// Set once a write was refused for the limit.
    pub over: bool,
}

impl Capped {
    pub fn new(limit: usize) -> Self {
        Self {
            bytes: Vec::new(),
            limit,
            over: false,
        }
    }
}

impl io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + buf.len() > self.limit {
            self.over = true;
            return Err(io::Error::other("template output over its limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
