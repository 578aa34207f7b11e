//! A small SMTP server (RFC 5321 subset): EHLO/HELO, AUTH PLAIN, MAIL FROM, RCPT TO,
//! DATA with dot-unstuffing, RSET, NOOP, QUIT. No TLS.

use super::mime::{self, MimePart};
use base64::Engine;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

const MAX_LINE: u64 = 4096;
const MAX_DATA: usize = 10 * 1024 * 1024;
const MAX_COMMANDS: usize = 10_000;

/// One message as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (MAIL FROM), without angle brackets.
    pub from: String,
    /// The envelope recipients (RCPT TO).
    pub to: Vec<String>,
    /// The message as sent after DATA, dot-unstuffed, with CRLF line ends.
    pub data: String,
    /// User and password from AUTH PLAIN, if the client logged in.
    pub auth: Option<(String, String)>,
}

impl ReceivedMail {
    /// A top-level header, unfolded, with RFC 2047 words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        mime::header(mime::split(&self.data).0, name)
    }
    /// The leaf parts of the message, bodies decoded.
    pub fn parts(&self) -> Vec<MimePart> {
        mime::parts(&self.data)
    }
    /// The decoded text/plain part.
    pub fn text(&self) -> Option<String> {
        self.body_of("text/plain")
    }
    /// The decoded text/html part.
    pub fn html(&self) -> Option<String> {
        self.body_of("text/html")
    }
    fn body_of(&self, content_type: &str) -> Option<String> {
        self.parts()
            .into_iter()
            .find(|p| p.content_type.eq_ignore_ascii_case(content_type))
            .map(|p| p.body)
    }
}

#[derive(Default)]
struct State {
    messages: Vec<ReceivedMail>,
    fail_next: u32,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    arrived: Notify,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A test that panicked while holding the lock must not hide the other failures.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// The reply to the end of DATA: 451 while failures are scripted, else keep it.
    fn accept(&self, mail: ReceivedMail) -> &'static str {
        let mut st = self.state();
        if st.fail_next > 0 {
            st.fail_next -= 1;
            return "451 4.3.0 Temporary failure, try again later";
        }
        st.messages.push(mail);
        drop(st);
        self.arrived.notify_waiters();
        "250 2.0.0 OK queued"
    }
}

/// An SMTP server on 127.0.0.1:0 that keeps every message it accepts.
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        SmtpSink { addr, shared, task }
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `smtp://127.0.0.1:<port>`, for `EmailChannel::from_url`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.shared.state().messages.clone()
    }
    /// Answers `451` (temporary failure) to the next `n` messages instead of keeping them.
    pub fn fail_next(&self, n: u32) {
        self.shared.state().fail_next = n;
    }
    /// The messages, once there are at least `n` or `timeout` has passed.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            let msgs = self.messages();
            if msgs.len() >= n {
                return msgs;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.messages();
            }
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Sessions live in the set, so aborting this task ends them too.
    let mut sessions = JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        sessions.spawn(session(stream, shared.clone()));
        while sessions.try_join_next().is_some() {}
    }
}

/// The envelope of the message being sent, and the login of the session.
#[derive(Default)]
struct Session {
    from: Option<String>,
    to: Vec<String>,
    auth: Option<(String, String)>,
}

async fn session(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut s = Session::default();
    w.write_all(b"220 refill-sink ESMTP\r\n").await?;
    for _ in 0..MAX_COMMANDS {
        let Some(line) = read_line(&mut r).await? else {
            return Ok(());
        };
        let (verb, arg) = match line.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_string()),
            None => (line.to_ascii_uppercase(), String::new()),
        };
        let reply = match verb.as_str() {
            "EHLO" => {
                "250-refill-sink\r\n250-AUTH PLAIN\r\n250-8BITMIME\r\n250 SIZE 10485760".into()
            }
            "HELO" => "250 refill-sink".into(),
            "AUTH" => auth(&mut r, &mut w, &arg, &mut s).await?,
            "MAIL" => {
                s.from = Some(angle(&arg));
                s.to.clear();
                "250 2.1.0 OK".into()
            }
            "RCPT" if s.from.is_none() => "503 5.5.1 MAIL first".into(),
            "RCPT" => {
                s.to.push(angle(&arg));
                "250 2.1.5 OK".into()
            }
            "DATA" if s.to.is_empty() => "503 5.5.1 RCPT first".into(),
            "DATA" => {
                w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let data = read_data(&mut r).await?;
                let mail = ReceivedMail {
                    from: s.from.take().unwrap_or_default(),
                    to: std::mem::take(&mut s.to),
                    data,
                    auth: s.auth.clone(),
                };
                shared.accept(mail).to_string()
            }
            "RSET" => {
                s.from = None;
                s.to.clear();
                "250 2.0.0 OK".into()
            }
            "NOOP" => "250 2.0.0 OK".into(),
            "QUIT" => {
                w.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 Command not recognized".into(),
        };
        w.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
    Ok(())
}

/// AUTH PLAIN, with the credentials inline or after a 334 prompt.
async fn auth<R, W>(r: &mut R, w: &mut W, arg: &str, s: &mut Session) -> std::io::Result<String>
where
    R: tokio::io::AsyncBufRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let (mech, initial) = arg.split_once(' ').unwrap_or((arg, ""));
    if !mech.eq_ignore_ascii_case("PLAIN") {
        return Ok("504 5.5.4 Unrecognized authentication type".into());
    }
    let response = if initial.is_empty() {
        w.write_all(b"334 \r\n").await?;
        read_line(r).await?.unwrap_or_default()
    } else {
        initial.to_string()
    };
    Ok(match decode_plain(&response) {
        Some(creds) => {
            s.auth = Some(creds);
            "235 2.7.0 Authentication successful".into()
        }
        None => "501 5.5.2 Cannot decode response".into(),
    })
}

/// base64("authzid\0user\0password") -> (user, password).
fn decode_plain(b64: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut it = text.split('\0');
    let (_, user, pass) = (it.next()?, it.next()?, it.next()?);
    Some((user.to_string(), pass.to_string()))
}

/// `<a@b> SIZE=1` or `FROM:<a@b>` -> `a@b`.
fn angle(arg: &str) -> String {
    match (arg.find('<'), arg.find('>')) {
        (Some(a), Some(b)) if a < b => arg[a + 1..b].to_string(),
        _ => arg
            .split_once(':')
            .map_or(arg, |(_, v)| v)
            .trim()
            .to_string(),
    }
}

/// One command line without its line end; None at end of stream.
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = (&mut *r).take(MAX_LINE).read_until(b'\n', &mut buf).await?;
    if n == 0 {
        return Ok(None);
    }
    let line = String::from_utf8_lossy(&buf);
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()))
}

/// The message after DATA, up to the lone ".", with leading dots unstuffed.
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> std::io::Result<String> {
    let mut data = String::new();
    loop {
        let mut buf = Vec::new();
        let n = (&mut *r)
            .take(MAX_LINE * 4)
            .read_until(b'\n', &mut buf)
            .await?;
        if n == 0 || data.len() > MAX_DATA {
            return Err(std::io::Error::other(
                "connection closed or message too big",
            ));
        }
        let line = String::from_utf8_lossy(&buf);
        if line == ".\r\n" || line == ".\n" {
            return Ok(data);
        }
        data.push_str(line.strip_prefix('.').unwrap_or(&line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_addresses_and_plain_credentials_parse() {
        assert_eq!(angle("FROM:<a@b.c> SIZE=10"), "a@b.c");
        assert_eq!(angle("TO:x@y"), "x@y");
        let b64 = base64::engine::general_purpose::STANDARD.encode("\0ada\0s3cret");
        assert_eq!(decode_plain(&b64), Some(("ada".into(), "s3cret".into())));
        assert_eq!(decode_plain("!!"), None);
    }
}
