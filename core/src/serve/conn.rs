//! Connections: at most `--max-connections` open at once, and each must send a request's headers
//! within `--header-timeout-seconds` of opening (or of its previous answer, when kept alive).
//!
//! Guarantees: a connection accepted over the cap is closed at once (it costs the server one
//! `accept` and no task); a connection that has not finished sending a request head by its
//! deadline is closed (its next read fails with `TimedOut`, which ends hyper's connection task),
//! so idle and slow-header connections cannot hold the cap. Bodies have their own timeout in
//! `routes`. The cap's permit lives inside the stream, so it is released exactly when hyper drops
//! the connection.

use axum::serve::Listener;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep, Sleep};

/// A TCP listener that caps open connections and times out request heads.
pub struct GuardedListener {
    inner: TcpListener,
    connections: Arc<Semaphore>,
    header_timeout: Duration,
}

impl GuardedListener {
    /// `inner`, with at most `max_connections` open and `header_timeout` per request head.
    pub fn new(inner: TcpListener, max_connections: usize, header_timeout: Duration) -> Self {
        GuardedListener {
            inner,
            connections: Arc::new(Semaphore::new(max_connections)),
            header_timeout,
        }
    }
}

impl Listener for GuardedListener {
    type Io = GuardedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (GuardedStream, SocketAddr) {
        loop {
            // TcpListener's own `accept` (axum's) retries and backs off on accept errors.
            let (stream, addr) = Listener::accept(&mut self.inner).await;
            if let Ok(permit) = self.connections.clone().try_acquire_owned() {
                return (
                    GuardedStream::new(stream, permit, self.header_timeout),
                    addr,
                );
            }
            // Over the cap: closed at once (dropping the stream), not queued.
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// The end of a request head.
const HEAD_END: &[u8; 4] = b"\r\n\r\n";

/// A connection holding its place under the cap, with the head-read deadline.
pub struct GuardedStream {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    timeout: Duration,
    /// Running while a request head is awaited; `None` once it has arrived.
    deadline: Option<Pin<Box<Sleep>>>,
    /// How much of [`HEAD_END`] the bytes read so far end with.
    matched: usize,
}

impl GuardedStream {
    fn new(stream: TcpStream, permit: OwnedSemaphorePermit, timeout: Duration) -> Self {
        GuardedStream {
            stream,
            _permit: permit,
            timeout,
            deadline: Some(Box::pin(sleep(timeout))),
            matched: 0,
        }
    }

    /// An answer is going out: a kept-alive connection gets the same time for its next head
    /// (a clock already running, for a head never completed, keeps running).
    fn answering(&mut self) {
        if self.deadline.is_none() {
            self.deadline = Some(Box::pin(sleep(self.timeout)));
            self.matched = 0;
        }
    }

    /// Follows `bytes` through the head terminator; stops the clock once a head is complete.
    fn scan(&mut self, bytes: &[u8]) {
        if self.deadline.is_none() {
            return;
        }
        for &byte in bytes {
            self.matched = if byte == HEAD_END[self.matched] {
                self.matched + 1
            } else if byte == b'\r' {
                1
            } else {
                0
            };
            if self.matched == HEAD_END.len() {
                self.deadline = None;
                self.matched = 0;
                return;
            }
        }
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(deadline) = &mut this.deadline {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "request head not received in time",
                )));
            }
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.scan(&buf.filled()[before..]);
        }
        polled
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.answering();
        Pin::new(&mut self.stream).poll_write(cx, bytes)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.answering();
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
