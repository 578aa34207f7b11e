//! The load the benchmark puts on the server: closed loops (each client sends its
//! next request when the last one is answered: the maximum rate) and an open loop
//! (requests sent on a schedule, whatever the answers do: the latency at a given
//! rate, measured from the time each request was due, so a stall is counted in
//! full rather than hidden by the clients waiting).

use super::client::{Conn, Prepared};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one load phase measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Run {
    /// Per second: requests answered 200 or 201, times the debits per request.
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// CPU time of the whole process (server and client) per request (per debit
    /// for the batch endpoint).
    pub cpu_us: f64,
    /// Requests that were not answered 200 or 201.
    pub failed: u64,
}

/// Which requests a phase sends.
#[derive(Clone)]
pub enum Target {
    /// The same request every time (one hot account, the ceiling).
    Fixed(Arc<Prepared>),
    /// Requests made one by one (`Draw`).
    Drawn(Arc<Draw>),
}

/// Requests made one at a time: on which account, a debit or a read, with or
/// without an `Idempotency-Key` of its own.
pub struct Draw {
    pub accounts: Accounts,
    /// Reads (`GET /v1/accounts/{id}`) per 100 requests; the others are debits.
    pub reads_percent: u64,
    /// When set, each debit carries a key of its own: this word, the client and the
    /// request's number (the word keeps two phases' keys apart).
    pub keyed: Option<&'static str>,
}

/// The accounts a `Draw` picks from.
pub enum Accounts {
    One(String),
    /// At random among the first `n` of the bench's bulk-loaded accounts.
    Spread(usize),
    /// Half the requests on the first `hot` bulk-loaded accounts, the other half on
    /// the rest of the first `n`.
    HotAndCold {
        hot: usize,
        n: usize,
    },
}

/// What one client carries from request to request.
struct Sender {
    rng: u64,
    client: usize,
    sent: u64,
}

impl Target {
    fn request(&self, s: &mut Sender) -> Cow<'_, Prepared> {
        let d = match self {
            Target::Fixed(p) => return Cow::Borrowed(&**p),
            Target::Drawn(d) => d,
        };
        s.sent += 1;
        let id = match &d.accounts {
            Accounts::One(id) => Cow::Borrowed(id.as_str()),
            Accounts::Spread(n) => Cow::Owned(account_id(next(&mut s.rng) % *n as u64)),
            Accounts::HotAndCold { hot, n } => {
                let r = next(&mut s.rng);
                let i = if r & 1 == 0 {
                    (r >> 1) % *hot as u64
                } else {
                    *hot as u64 + (r >> 1) % (*n - *hot) as u64
                };
                Cow::Owned(account_id(i))
            }
        };
        let path = format!("/v1/accounts/{id}");
        if next(&mut s.rng) % 100 < d.reads_percent {
            return Cow::Owned(Prepared::get(&path, super::KEY));
        }
        let key = d.keyed.map(|w| format!("{w}-{}-{}", s.client, s.sent));
        let body = r#"{"amount":1}"#;
        let path = format!("{path}/debits");
        Cow::Owned(Prepared::post_keyed(
            &path,
            super::KEY,
            body,
            key.as_deref(),
        ))
    }
}

fn account_id(i: u64) -> String {
    super::scale::account_id(i as usize)
}

impl Sender {
    fn new(client: usize, seed: u64) -> Sender {
        Sender {
            rng: seed ^ (client as u64 + 1),
            client,
            sent: 0,
        }
    }
}

/// A debit is answered 201, a read 200.
fn answered(status: u16) -> bool {
    status == 200 || status == 201
}

/// A small fast random generator (xorshift): which account a spread debit goes to.
fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

/// CPU seconds used by this process so far (user + system), from /proc/self/stat.
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The fields after the command name (which may hold spaces): utime and stime
    // are fields 14 and 15, in clock ticks of 1/100 s.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// `clients` connections, each sending its next request as soon as the last one is
/// answered, for `secs`.
pub async fn closed_loop(
    addr: SocketAddr,
    target: Target,
    per_request: usize,
    clients: usize,
    secs: f64,
) -> Run {
    let opened = open_all(addr, clients).await;
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (opened.into_iter().enumerate())
        .map(|(c, opened)| {
            let target = target.clone();
            tokio::spawn(async move {
                let mut s = Sender::new(c, 0x9E37_79B9_7F4A_7C15);
                let mut lat = Vec::with_capacity(1 << 14);
                let mut failed = 0;
                let Ok(mut conn) = opened else {
                    return (lat, 1);
                };
                while Instant::now() < deadline {
                    let req = target.request(&mut s);
                    let t = Instant::now();
                    match conn.send(&req).await {
                        Ok(a) if answered(a.status) => lat.push(ms(t.elapsed())),
                        Ok(_) => failed += 1,
                        Err(_) => {
                            failed += 1;
                            break;
                        }
                    }
                }
                (lat, failed)
            })
        })
        .collect();
    collect(tasks, per_request).await
}

/// Requests sent at `rate` per second in all, spread over `conns` connections (each
/// one keeps its own schedule, as wrk2 does), for `secs`. A request's latency counts
/// from the time it was due.
pub async fn open_loop(
    addr: SocketAddr,
    target: Target,
    rate: f64,
    conns: usize,
    secs: f64,
) -> Run {
    // Connected before the schedule starts: the first requests' latency is not the
    // time it took to open the connections (it was, the first 50 ms of every run).
    let opened = open_all(addr, conns).await;
    let start = Instant::now() + Duration::from_millis(20);
    let deadline = start + Duration::from_secs_f64(secs);
    let every = Duration::from_secs_f64(conns as f64 / rate.max(1.0));
    let tasks: Vec<_> = (opened.into_iter().enumerate())
        .map(|(c, opened)| {
            let target = target.clone();
            tokio::spawn(async move {
                let mut s = Sender::new(c, 0x2545_F491_4F6C_DD1D);
                let mut lat = vec![];
                let mut failed = 0;
                let Ok(mut conn) = opened else {
                    return (lat, 1);
                };
                // Connections start spread over one interval, not all at once.
                let mut due = start + every.mul_f64(c as f64 / conns as f64);
                while due < deadline {
                    tokio::time::sleep_until(due.into()).await;
                    let req = target.request(&mut s);
                    match conn.send(&req).await {
                        Ok(a) if answered(a.status) => lat.push(ms(due.elapsed())),
                        Ok(_) => failed += 1,
                        Err(_) => {
                            failed += 1;
                            break;
                        }
                    }
                    due += every;
                }
                (lat, failed)
            })
        })
        .collect();
    collect(tasks, 1).await
}

/// `n` connections to `addr`, opened together.
async fn open_all(addr: SocketAddr, n: usize) -> Vec<std::io::Result<Conn>> {
    let opening: Vec<_> = (0..n).map(|_| tokio::spawn(Conn::open(addr))).collect();
    let mut opened = Vec::with_capacity(n);
    for o in opening {
        opened.push(o.await.unwrap_or_else(|e| Err(std::io::Error::other(e))));
    }
    opened
}

type Task = tokio::task::JoinHandle<(Vec<f64>, u64)>;

async fn collect(tasks: Vec<Task>, per_request: usize) -> Run {
    let start = Instant::now();
    let cpu0 = cpu_seconds();
    let mut all = vec![];
    let mut failed = 0;
    for t in tasks {
        let (lat, f) = t.await.unwrap_or_default();
        all.extend(lat);
        failed += f;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let n = all.len();
    let (p50_ms, p99_ms) = percentiles(&mut all);
    Run {
        rate: (n * per_request) as f64 / elapsed,
        p50_ms,
        p99_ms,
        cpu_us: cpu * 1e6 / (n * per_request).max(1) as f64,
        failed,
    }
}

/// The median and the 99th percentile.
pub fn percentiles(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| {
        v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    (at(0.5), at(0.99))
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn draw(target: &Target, n: usize) -> Vec<String> {
        let mut s = Sender::new(3, 0x2545_F491_4F6C_DD1D);
        (0..n)
            .map(|_| target.request(&mut s).text().to_string())
            .collect()
    }

    fn header<'a>(req: &'a str, name: &str) -> Option<&'a str> {
        req.lines().find_map(|l| l.strip_prefix(name))
    }

    #[test]
    fn keyed_debits_each_carry_a_key_of_their_own() {
        let one = Accounts::One("acct_hot".into());
        let target = Target::Drawn(Arc::new(Draw {
            accounts: one,
            reads_percent: 0,
            keyed: Some("hot"),
        }));
        let reqs = draw(&target, 1_000);
        let keys: HashSet<&str> = reqs
            .iter()
            .filter_map(|r| header(r, "idempotency-key: "))
            .collect();
        assert_eq!(keys.len(), 1_000);
        assert!(
            reqs.iter()
                .all(|r| r.starts_with("POST /v1/accounts/acct_hot/debits "))
        );
    }

    #[test]
    fn the_mixed_load_reads_one_in_ten_and_sends_half_to_the_hot_accounts() {
        let target = Target::Drawn(Arc::new(Draw {
            accounts: Accounts::HotAndCold { hot: 4, n: 100_000 },
            reads_percent: 10,
            keyed: Some("mixed"),
        }));
        let reqs = draw(&target, 10_000);
        let reads = reqs.iter().filter(|r| r.starts_with("GET ")).count();
        assert!((800..1_200).contains(&reads), "{reads} reads");
        let keyed = reqs
            .iter()
            .filter(|r| header(r, "idempotency-key: ").is_some());
        assert_eq!(keyed.count(), reqs.len() - reads, "every debit has a key");
        // Ids are of one length: one contains another only if they are the same.
        let hot: Vec<String> = (0..4).map(account_id).collect();
        let on_hot = reqs
            .iter()
            .filter(|r| hot.iter().any(|h| r.contains(h.as_str())));
        let on_hot = on_hot.count();
        assert!(
            (4_500..5_500).contains(&on_hot),
            "{on_hot} on the hot accounts"
        );
    }
}
