//! The HTTP server's connections, accepted by a loop of our own (axum::serve has no
//! limits) so that no client holds the server with connections that send nothing or
//! trickle (slow-loris):
//! - a connection must send a complete request head within the header-read timeout
//!   of its first byte (of its opening, for the first request), and a kept-alive one
//!   may sit idle between requests for the idle timeout; then it is closed. A body
//!   has its own timeout (api::body). A client that does not read its answer is
//!   closed after the idle timeout too.
//! - at most `max_connections` are served; past them, `health_connections` more may
//!   ask only for /healthz and /readyz (api::edge); past those, a connection gets a
//!   503 at once, without its request being read.
//! - the request heads are scanned for a Content-Length beside a Transfer-Encoding,
//!   which hyper would resolve silently (api::edge refuses the request).

use crate::api::Connection;
use crate::settings::HttpSettings;
use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read: Duration,
    pub idle: Duration,
    pub max_connections: usize,
    pub health_connections: usize,
}

impl From<&HttpSettings> for Limits {
    fn from(h: &HttpSettings) -> Limits {
        Limits {
            header_read: crate::settings::millis_at_least_a_second(h.header_read_timeout),
            idle: crate::settings::millis_at_least_a_second(h.idle_timeout),
            max_connections: h.max_connections.max(1),
            health_connections: h.health_connections,
        }
    }
}

/// Serves `router` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, router: Router, limits: Limits) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                accept_failed(e).await;
                continue;
            }
        };
        let slot = Slot::take(&open);
        if slot.count > limits.max_connections + limits.health_connections {
            tokio::spawn(refuse(stream, slot));
            continue;
        }
        let conn = Arc::new(Connection {
            over_cap: slot.count > limits.max_connections,
            ..Connection::default()
        });
        tokio::spawn(serve_one(stream, router.clone(), limits, conn, slot));
    }
}

/// A connection the client closed before it was taken is no failure of ours; out of
/// file descriptors, wait a little rather than spin.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::*;
    if matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted) {
        return;
    }
    eprintln!("refill: cannot accept a connection: {e}");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// One of the open connections, counted while it lives.
struct Slot {
    open: Arc<AtomicUsize>,
    /// The open connections with this one.
    count: usize,
}

impl Slot {
    fn take(open: &Arc<AtomicUsize>) -> Slot {
        let count = open.fetch_add(1, Ordering::Relaxed) + 1;
        Slot {
            open: open.clone(),
            count,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve_one(
    stream: TcpStream,
    router: Router,
    limits: Limits,
    conn: Arc<Connection>,
    _slot: Slot,
) {
    let io = TokioIo::new(Guarded::new(stream, limits, conn.clone()));
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(conn.clone());
        let mut router = router.clone();
        async move { tower_service::Service::call(&mut router, req).await }
    });
    // Errors here are the client's (a timeout, a reset, a malformed head): hyper has
    // answered what it could; the connection just ends.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

/// Past every slot: a 503 without reading the request, then the connection closes.
async fn refuse(mut stream: TcpStream, _slot: Slot) {
    let body = r#"{"type":"https://refill.dev/problems/too_many_connections","title":"Service Unavailable","status":503,"detail":"the server holds as many connections as it takes: retry shortly","code":"too_many_connections"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent, so that it gets the answer rather than a reset.
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, io::Error>(())
    })
    .await;
}

/// Where a connection is between its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the next request (or for the client to read the answer).
    Idle,
    /// Reading a request head.
    Head,
    /// The head is in: the body and the answer are the route's (no deadline here).
    Body,
}

/// A TCP stream that closes itself when its client is too slow (see the module).
struct Guarded {
    stream: TcpStream,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
    limits: Limits,
    head: HeadScan,
    conn: Arc<Connection>,
}

impl Guarded {
    fn new(stream: TcpStream, limits: Limits, conn: Arc<Connection>) -> Guarded {
        Guarded {
            stream,
            phase: Phase::Head,
            deadline: Box::pin(tokio::time::sleep(limits.header_read)),
            limits,
            head: HeadScan::default(),
            conn,
        }
    }

    fn received(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.phase == Phase::Idle {
            self.phase = Phase::Head;
            let at = Instant::now() + self.limits.header_read;
            self.deadline.as_mut().reset(at);
        }
        if self.phase == Phase::Head
            && let Some(ambiguous) = self.head.scan(bytes)
        {
            if ambiguous {
                self.conn.ambiguous_length.store(true, Ordering::Relaxed);
            }
            self.phase = Phase::Body;
        }
    }

    fn answered(&mut self, cx: &mut Context<'_>) {
        self.phase = Phase::Idle;
        let at = Instant::now() + self.limits.idle;
        self.deadline.as_mut().reset(at);
        // Polled now, so that it wakes the connection: hyper may not read again
        // before the client sends something.
        let _ = self.deadline.as_mut().poll(cx);
    }

    /// Whether the client has taken too long (only outside a route's own time).
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.phase != Phase::Body && self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the client took too long")
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.received(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.stream).poll_write(cx, b);
        this.wrote(cx, r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.wrote(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

impl Guarded {
    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        r: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match r {
            Poll::Ready(Ok(n)) if n > 0 => {
                self.answered(cx);
                Poll::Ready(Ok(n))
            }
            Poll::Pending if self.phase == Phase::Idle && self.expired(cx) => {
                Poll::Ready(Err(timed_out()))
            }
            other => other,
        }
    }
}

/// Follows the lines of a request head to its end (an empty line), noting whether it
/// had both a Content-Length and a Transfer-Encoding header.
#[derive(Debug, Default)]
struct HeadScan {
    /// The start of the current line, lower-cased.
    line: [u8; 18],
    len: usize,
    lines: usize,
    transfer_encoding: bool,
    content_length: bool,
}

impl HeadScan {
    /// Some(whether the head was ambiguous) when `bytes` end the head.
    fn scan(&mut self, bytes: &[u8]) -> Option<bool> {
        for &b in bytes {
            match b {
                b'\n' if self.len == 0 && self.lines > 0 => {
                    let ambiguous = self.transfer_encoding && self.content_length;
                    *self = HeadScan::default();
                    return Some(ambiguous);
                }
                b'\n' => self.end_line(),
                b'\r' => {}
                _ => {
                    if let Some(slot) = self.line.get_mut(self.len) {
                        *slot = b.to_ascii_lowercase();
                    }
                    self.len += 1;
                }
            }
        }
        None
    }

    fn end_line(&mut self) {
        // Empty lines before the request line are allowed (RFC 9112, 2.2).
        if self.len > 0 {
            let start = &self.line[..self.len.min(self.line.len())];
            self.transfer_encoding |= start.starts_with(b"transfer-encoding:");
            self.content_length |= start.starts_with(b"content-length:");
            self.lines += 1;
        }
        self.len = 0;
    }
}

/// Raises the soft limit on open files to the hard limit (each connection is one);
/// returns the limit in force.
#[cfg(target_os = "linux")]
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write only the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        if lim.rlim_cur < lim.rlim_max && libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    lim.rlim_cur
}

#[cfg(not(target_os = "linux"))]
pub fn raise_fd_limit() -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::HeadScan;

    #[test]
    fn a_head_with_both_lengths_is_ambiguous() {
        let mut s = HeadScan::default();
        let head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        let (a, b) = head.split_at(30);
        assert_eq!(s.scan(a), None);
        assert_eq!(s.scan(b), Some(true));
        let plain = b"\r\nGET / HTTP/1.1\r\nHost: x\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(s.scan(plain), Some(false));
    }
}
