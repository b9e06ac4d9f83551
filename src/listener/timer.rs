//! One clock for a connection's two waits: the idle wait between requests and the
//! header read.
//!
//! hyper runs a single timer from the moment it is ready for a request head until the
//! head is complete, idle time between keep-alive requests included. A console polling
//! every few seconds needs a long idle wait; a client dripping half a header must be cut
//! off soon. So the timer hyper is given here watches the connection's reads: until the
//! first byte of the next request it allows the idle time; from that byte, the header
//! read time. A fresh connection gets the header read time from the start: a client that
//! connects means to send a request now.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::rt::{Sleep, Timer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Counts the reads that returned bytes, for [`HeadTimer`].
#[derive(Debug, Default, Clone)]
pub struct Reads(Arc<AtomicU64>);

impl Reads {
    fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// A socket whose reads are counted.
pub struct Counted<T> {
    inner: T,
    reads: Reads,
}

impl<T> Counted<T> {
    pub fn new(inner: T, reads: Reads) -> Self {
        Self { inner, reads }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.reads.0.fetch_add(1, Ordering::AcqRel);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The timer of one connection; give hyper `header_read_timeout(header)` with it.
#[derive(Debug, Clone)]
pub struct HeadTimer {
    pub reads: Reads,
    pub header: Duration,
    pub idle: Duration,
}

impl Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    /// Tokio's clock, so deadlines hold under a paused clock too.
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    /// hyper asks for `now + header` when it starts waiting for a head.
    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        let reads = self.reads.get();
        // Bytes read before this head began: a keep-alive connection between requests.
        let between_requests = reads > 0;
        let first = match between_requests {
            true => deadline - self.header + self.idle,
            false => deadline,
        };
        Box::pin(HeadSleep {
            reads: self.reads.clone(),
            reads_at_start: reads,
            header: self.header,
            waiting_for_first_byte: between_requests,
            sleep: Box::pin(tokio::time::sleep_until(first.into())),
        })
    }
}

/// Sleeps for the idle time until the head's first byte, then for the header read time.
struct HeadSleep {
    reads: Reads,
    reads_at_start: u64,
    header: Duration,
    waiting_for_first_byte: bool,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Sleep for HeadSleep {}

impl Future for HeadSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // hyper polls this after every read that left the head incomplete: the first byte
        // is seen here, within a read of its arrival.
        if self.waiting_for_first_byte && self.reads.get() > self.reads_at_start {
            self.waiting_for_first_byte = false;
            let deadline = tokio::time::Instant::now() + self.header;
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(reads: u64) -> HeadTimer {
        HeadTimer {
            reads: Reads(Arc::new(AtomicU64::new(reads))),
            header: Duration::from_secs(10),
            idle: Duration::from_secs(60),
        }
    }

    async fn fires_by(sleep: &mut Pin<Box<dyn Sleep>>, after: Duration) -> bool {
        tokio::time::timeout(after, sleep.as_mut()).await.is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn a_fresh_connection_gets_the_header_time() {
        let t = timer(0);
        let mut sleep = t.sleep(t.header);
        assert!(!fires_by(&mut sleep, Duration::from_secs(9)).await);
        assert!(fires_by(&mut sleep, Duration::from_secs(2)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn between_requests_the_idle_time_then_the_header_time_from_the_first_byte() {
        let t = timer(3);
        let mut sleep = t.sleep(t.header);
        assert!(!fires_by(&mut sleep, Duration::from_secs(50)).await, "idle");
        t.reads.0.fetch_add(1, Ordering::AcqRel);
        // Half a header, 50 s into the idle wait: 10 s more, not the 10 s left of idle.
        assert!(!fires_by(&mut sleep, Duration::from_secs(9)).await);
        assert!(fires_by(&mut sleep, Duration::from_secs(2)).await);

        let mut silent = t.sleep(t.header);
        assert!(!fires_by(&mut silent, Duration::from_secs(59)).await);
        assert!(
            fires_by(&mut silent, Duration::from_secs(2)).await,
            "idle over"
        );
    }
}
