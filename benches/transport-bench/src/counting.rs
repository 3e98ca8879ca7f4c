//! Counting what the transports cost: I/O calls on each socket and heap allocations in the
//! process.
//!
//! [`CountingIo`] wraps a socket and counts the `poll_read` / `poll_write` /
//! `poll_write_vectored` calls that complete (return `Ready`). On a tokio `TcpStream` each
//! of those is one `recvfrom`/`read`, `sendto`/`write` or `writev` system call. A call that
//! returns `Pending` is counted apart: tokio makes no system call when it already knows the
//! socket is not ready, and one that fails with `EAGAIN` otherwise, so those are not
//! syscalls we can attribute exactly (they are rare: tokio clears readiness after a short
//! read or write). `poll_flush` is free for TCP and not counted.
//!
//! [`CountingAlloc`] is the global allocator: the system allocator plus counters that only
//! run while [`alloc_counting`] is on, so timed phases pay nothing but one relaxed load.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// I/O counters of one side of a connection, shared between its socket wrapper and the
/// benchmark.
#[derive(Debug, Default)]
pub(crate) struct IoCounters {
    reads: AtomicU64,
    writes: AtomicU64,
    read_bytes: AtomicU64,
    write_bytes: AtomicU64,
    pending_reads: AtomicU64,
    pending_writes: AtomicU64,
}

impl IoCounters {
    /// New zeroed counters, ready to share.
    pub(crate) fn new() -> Arc<IoCounters> {
        Arc::new(IoCounters::default())
    }

    /// The counters as they are now.
    pub(crate) fn snapshot(&self) -> IoCounts {
        IoCounts {
            reads: self.reads.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            read_bytes: self.read_bytes.load(Ordering::Relaxed),
            write_bytes: self.write_bytes.load(Ordering::Relaxed),
            pending_reads: self.pending_reads.load(Ordering::Relaxed),
            pending_writes: self.pending_writes.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of [`IoCounters`], or the difference of two.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct IoCounts {
    /// Completed reads (one `read`/`recvfrom` each).
    pub(crate) reads: u64,
    /// Completed writes, vectored or not (one `write`/`writev`/`sendto` each).
    pub(crate) writes: u64,
    /// Octets read.
    pub(crate) read_bytes: u64,
    /// Octets written.
    pub(crate) write_bytes: u64,
    /// Reads that returned `Pending` (no syscall, or one that failed with `EAGAIN`).
    pub(crate) pending_reads: u64,
    /// Writes that returned `Pending`.
    pub(crate) pending_writes: u64,
}

impl IoCounts {
    /// What happened between `earlier` and `self`.
    pub(crate) fn since(self, earlier: IoCounts) -> IoCounts {
        IoCounts {
            reads: self.reads - earlier.reads,
            writes: self.writes - earlier.writes,
            read_bytes: self.read_bytes - earlier.read_bytes,
            write_bytes: self.write_bytes - earlier.write_bytes,
            pending_reads: self.pending_reads - earlier.pending_reads,
            pending_writes: self.pending_writes - earlier.pending_writes,
        }
    }

    /// Completed reads plus completed writes.
    pub(crate) fn syscalls(&self) -> u64 {
        self.reads + self.writes
    }
}

/// A transport wrapper that counts completed I/O calls into shared [`IoCounters`].
#[derive(Debug)]
pub(crate) struct CountingIo<T> {
    inner: T,
    counters: Arc<IoCounters>,
}

impl<T> CountingIo<T> {
    /// Wraps `inner`, counting into `counters`.
    pub(crate) fn new(inner: T, counters: Arc<IoCounters>) -> CountingIo<T> {
        CountingIo { inner, counters }
    }

    fn count_write(&self, result: &Poll<io::Result<usize>>) {
        match result {
            Poll::Ready(Ok(n)) => {
                self.counters.writes.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .write_bytes
                    .fetch_add(*n as u64, Ordering::Relaxed);
            }
            Poll::Ready(Err(_)) => {
                self.counters.writes.fetch_add(1, Ordering::Relaxed);
            }
            Poll::Pending => {
                self.counters.pending_writes.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CountingIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if result.is_ready() {
            let read = buf.filled().len().saturating_sub(before) as u64;
            this.counters.reads.fetch_add(1, Ordering::Relaxed);
            this.counters.read_bytes.fetch_add(read, Ordering::Relaxed);
        } else {
            this.counters.pending_reads.fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CountingIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.count_write(&result);
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.count_write(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

static ALLOC_COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting allocations (and reallocations) while
/// [`alloc_counting`] is on.
#[derive(Debug)]
pub(crate) struct CountingAlloc;

impl CountingAlloc {
    fn count(size: usize) {
        if ALLOC_COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            ALLOCATED_BYTES.fetch_add(size as u64, Ordering::Relaxed);
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees carry over; the counters touch no memory the allocator hands out.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        CountingAlloc::count(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        CountingAlloc::count(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        CountingAlloc::count(new_size);
        // SAFETY: `ptr` came from `System` through this allocator with `layout`; the
        // caller upholds the rest of `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocation counts: calls to `alloc`/`alloc_zeroed`/`realloc`, and octets requested.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct AllocCounts {
    /// Allocation calls.
    pub(crate) allocations: u64,
    /// Octets requested by those calls.
    pub(crate) bytes: u64,
}

/// Turns allocation counting on (from zero) or off; turning it off returns the counts.
pub(crate) fn alloc_counting(on: bool) -> AllocCounts {
    if on {
        ALLOCATIONS.store(0, Ordering::Relaxed);
        ALLOCATED_BYTES.store(0, Ordering::Relaxed);
    }
    ALLOC_COUNTING.store(on, Ordering::SeqCst);
    AllocCounts {
        allocations: ALLOCATIONS.load(Ordering::Relaxed),
        bytes: ALLOCATED_BYTES.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counts_completed_calls_and_bytes() {
        let (a, mut b) = tokio::io::duplex(64);
        let counters = IoCounters::new();
        let mut io = CountingIo::new(a, counters.clone());
        io.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        b.read_exact(&mut buf).await.unwrap();
        b.write_all(b"abc").await.unwrap();
        let mut got = [0u8; 3];
        io.read_exact(&mut got).await.unwrap();
        let counts = counters.snapshot();
        assert_eq!(counts.writes, 1);
        assert_eq!(counts.write_bytes, 5);
        assert_eq!(counts.reads, 1);
        assert_eq!(counts.read_bytes, 3);
        assert_eq!(counts.since(counts), IoCounts::default());
    }
}
