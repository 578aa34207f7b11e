//! Connections (refill::connections): clients that connect and send nothing, or
//! trickle a request head (slow-loris), do not hold the server; the cap on
//! connections refuses fast past it and keeps headroom for /healthz; the open-files
//! limit is raised at start. Timeouts run on tokio's clock, not the simulated one:
//! the tests set them to a second or two and wait for the server to act, within
//! bounds.

use crate::hardening_http::exchange;
use crate::support::{Store, TestApp, spawn_with, stores};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Waits until the server closes `s` (a read gives end of file or an error), at most
/// `within`; returns how long it took, or None if it stayed open.
async fn closed_within(s: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    closed_by(s, tokio::time::Instant::now() + within)
        .await
        .then(|| start.elapsed())
}

/// Whether the server closes `s` before `deadline`.
async fn closed_by(s: &mut TcpStream, deadline: tokio::time::Instant) -> bool {
    let mut buf = [0u8; 1024];
    let until_closed = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout_at(deadline, until_closed)
        .await
        .is_ok()
}

async fn with_timeouts(store: &Store, header: i64, idle: i64, body: i64) -> TestApp {
    spawn_with(store, |s| {
        s.http.header_read_timeout = header * 1000;
        s.http.idle_timeout = idle * 1000;
        s.http.body_timeout = body * 1000;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_silent_idle_and_slow_clients_are_closed() {
    for store in stores().await {
        let app = with_timeouts(&store, 1, 2, 1).await;
        let addr = app.running.addr;
        // Sends nothing.
        let mut silent = TcpStream::connect(addr).await.unwrap();
        // Sends part of a head, then a byte now and then, never the end.
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let trickle = tokio::spawn(async move {
            for _ in 0..40 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if slow.write_all(b"X").await.is_err() {
                    return Some(slow);
                }
            }
            None
        });
        let took = closed_within(&mut silent, Duration::from_secs(5)).await;
        assert!(
            took.is_some_and(|t| t >= Duration::from_millis(900)),
            "{took:?}"
        );
        let mut slow = trickle
            .await
            .unwrap()
            .expect("the trickling client was cut off");
        assert!(
            closed_within(&mut slow, Duration::from_secs(1))
                .await
                .is_some()
        );

        // Kept alive after an answer, then idle: closed after the idle timeout.
        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = idle.read(&mut buf).await.unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        let took = closed_within(&mut idle, Duration::from_secs(6)).await;
        assert!(
            took.is_some_and(|t| t >= Duration::from_millis(1900)),
            "{took:?}"
        );

        // A body that does not arrive: 408.
        let (a, _) = app.funded("a", "pm_card_visa", 1_000).await;
        let head = format!(
            "POST /v1/accounts/{a}/debits HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"amount\":",
            app.key
        );
        let r = exchange(&app, head.as_bytes()).await;
        assert_eq!(r.status, 408, "{}", r.head);
        assert_eq!(r.body["code"], json!("body_timeout"));
        assert_eq!(app.balance(&a).await, 1_000);
    }
}

/// Thousands of connections that send nothing or trickle a head (slow-loris) while a
/// well-behaved client works: it is served, within its usual latency, and the server
/// closes the others when their header-read time is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_thousands_of_idle_and_slow_clients_do_not_hold_the_server() {
    let store = Store::sqlite();
    let app = with_timeouts(&store, 5, 5, 30).await;
    let (a, _) = app.funded("a", "pm_card_visa", 100_000).await;
    let addr = app.running.addr;
    let held = attacker_count();
    let mut idle = Vec::with_capacity(held / 2);
    for _ in 0..held / 2 {
        idle.push(TcpStream::connect(addr).await.expect("connect"));
    }
    // Every attacker is cut off by then (the header-read timeout and some slack), or
    // the test fails.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(12);
    let mut slow = tokio::task::JoinSet::new();
    for _ in 0..held - held / 2 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        slow.spawn(async move {
            let _ = s
                .write_all(b"POST /v1/accounts HTTP/1.1\r\nHost: x\r\n")
                .await;
            // One byte every 500 ms until the server closes the connection.
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if s.write_all(b"a").await.is_err() {
                    break;
                }
            }
            closed_by(&mut s, deadline).await
        });
    }
    let opened = Instant::now();

    // The well-behaved client, on its own kept-alive connection.
    let mut latencies = Vec::new();
    for i in 0..60 {
        let start = Instant::now();
        let r = if i % 2 == 0 {
            app.get(&format!("/v1/accounts/{a}")).await
        } else {
            app.debit(&a, 1).await
        };
        latencies.push(start.elapsed());
        assert!(r.status == 200 || r.status == 201, "{}", r.body);
    }
    let served_in = opened.elapsed();
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[latencies.len() * 99 / 100];

    let mut idle_closed = 0;
    for s in &mut idle {
        if closed_by(s, deadline).await {
            idle_closed += 1;
        }
    }
    let slow_closed = slow.join_all().await.into_iter().filter(|c| *c).count();
    let all_closed_in = opened.elapsed();
    println!(
        "connections: {held} held ({} idle, {} slow-loris); the good client: {} requests \
         in {served_in:.2?} while they were held, p50 {p50:.2?}, p99 {p99:.2?}; closed by \
         the server: {idle_closed} idle, {slow_closed} slow-loris, all within {all_closed_in:.2?}",
        held / 2,
        held - held / 2,
        latencies.len(),
    );
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");
    assert_eq!(idle_closed, held / 2, "every idle connection was closed");
    assert_eq!(
        slow_closed,
        held - held / 2,
        "every slow-loris connection was closed"
    );
    assert_eq!(app.balance(&a).await, 100_000 - 30);
}

/// 3000, or what the open-files limit leaves (each connection is two files here,
/// both ends being in this process).
fn attacker_count() -> usize {
    let files = refill::connections::raise_fd_limit() as usize;
    3000.min(files.saturating_sub(2000) / 2).max(100)
}

/// Past `max_connections`, a connection may ask for /healthz or /readyz only (the
/// headroom); past the headroom, it is refused at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_health_answers_then_refused() {
    for store in stores().await {
        let app = spawn_with(&store, |s| {
            s.http.max_connections = 8;
            s.http.health_connections = 2;
        })
        .await;
        let addr = app.running.addr;
        let request = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut held = Vec::new();
        // Served, and kept alive: each holds a slot.
        for _ in 0..8 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(request("/healthz").as_bytes()).await.unwrap();
            let mut buf = [0u8; 512];
            let n = s.read(&mut buf).await.unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
            held.push(s);
        }
        // Past the cap: only health.
        let r = exchange(&app, request("/v1/accounts").as_bytes()).await;
        assert_eq!(r.status, 503, "{}", r.head);
        assert_eq!(r.body["code"], json!("too_many_connections"));
        assert!(r.closed);
        for _ in 0..2 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(request("/healthz").as_bytes()).await.unwrap();
            let mut buf = [0u8; 512];
            let n = s.read(&mut buf).await.unwrap();
            assert!(
                buf[..n].starts_with(b"HTTP/1.1 200"),
                "{:?}",
                String::from_utf8_lossy(&buf[..n])
            );
            held.push(s);
        }
        // Past the headroom: refused at once, even /healthz.
        let start = Instant::now();
        let r = exchange(&app, request("/healthz").as_bytes()).await;
        assert_eq!(r.status, 503, "{}", r.head);
        assert_eq!(r.body["code"], json!("too_many_connections"));
        assert!(start.elapsed() < Duration::from_secs(1));
        // A slot freed: served again.
        drop(held.pop());
        drop(held.pop());
        drop(held.pop());
        let mut served = false;
        for _ in 0..50 {
            let r = exchange(&app, request("/v1/openapi.json").as_bytes()).await;
            if r.status == 200 {
                served = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(served, "served once connections closed");
    }
}

/// The open-files soft limit is raised to the hard limit at start (refill serve,
/// started with a low soft limit).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_the_open_files_limit_is_raised_at_start() {
    use std::process::{Command, Stdio};
    let store = Store::sqlite();
    let dir = crate::support::ScratchDir::new("refill-fd");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -Sn 256 && exec \"$0\" serve")
        .arg(env!("CARGO_BIN_EXE_refill"))
        .current_dir(dir.path())
        .env("REFILL_LISTEN", "127.0.0.1:0")
        .env("REFILL_DATABASE_URL", &store.url)
        .env("REFILL_BOOTSTRAP_KEY", "rk_test_fd")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("refill serve started");
    let stdout = child.stdout.take().unwrap();
    let serving = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("serving on"))
    });
    let serving = tokio::time::timeout(Duration::from_secs(30), serving).await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id()));
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        matches!(serving, Ok(Ok(true))),
        "refill serve did not start"
    );
    let line = limits
        .expect("/proc limits")
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files")
        .to_string();
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    println!("refill serve started with a soft limit of 256: {line}");
    assert_eq!(numbers[0], numbers[1], "soft = hard: {line}");
}
