//! The benchmark's load client: HTTP/1.1 over one kept-alive TCP connection per
//! client, requests written from prepared bytes, answers read by Content-Length.
//! The benchmark's client shares the machine's cores with the server; a general
//! client (reqwest: URL parsing, header maps, a connection pool) cost about as much
//! CPU per request as the server's work, so the load phases use this one, in the
//! manner of `wrk`. Setup calls still go through reqwest.

use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request, ready to write.
#[derive(Debug, Clone)]
pub struct Prepared(Vec<u8>);

impl Prepared {
    /// `POST path` with a JSON body and the bench's API key.
    pub fn post(path: &str, key: &str, body: &str) -> Prepared {
        Prepared::post_keyed(path, key, body, None)
    }

    /// `POST path` with a JSON body, the bench's API key and, when given, an
    /// `Idempotency-Key`.
    pub fn post_keyed(path: &str, key: &str, body: &str, idem: Option<&str>) -> Prepared {
        let idem = idem.map_or(String::new(), |k| format!("idempotency-key: {k}\r\n"));
        Prepared(
            format!(
                "POST {path} HTTP/1.1\r\nhost: refill\r\nauthorization: Bearer {key}\r\n\
                 {idem}content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    }

    /// The request as written.
    #[cfg(test)]
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// `GET path` with the bench's API key.
    pub fn get(path: &str, key: &str) -> Prepared {
        Prepared(
            format!("GET {path} HTTP/1.1\r\nhost: refill\r\nauthorization: Bearer {key}\r\n\r\n")
                .into_bytes(),
        )
    }
}

/// One kept-alive connection.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// An answer (its body is read and dropped).
pub struct Answer {
    pub status: u16,
}

impl Conn {
    pub async fn open(addr: std::net::SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Sends one request and reads its answer.
    pub async fn send(&mut self, req: &Prepared) -> io::Result<Answer> {
        self.stream.write_all(&req.0).await?;
        self.buf.clear();
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| bad("the answer's head is not text"))?;
        let status = head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no status in the answer"))?;
        let length = head
            .split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse::<usize>().ok())
            .ok_or_else(|| bad("no content-length in the answer"))?;
        while self.buf.len() < head_end + length {
            self.fill().await?;
        }
        Ok(Answer { status })
    }

    async fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}
