//! `refill bench`: starts the real server in-process on a fresh database and drives
//! it over HTTP with concurrent clients. In the same run it measures the
//! naive baseline (naive.rs): one transaction per debit request on a pooled
//! connection, a conditional update and the entries' insert, same HTTP server, same
//! durability, same database, same clients; and prints the ratios.
//!
//! The client runs in the same process as the server and shares the machine's cores
//! with it: every figure is bounded by the client's CPU too (it is light: see
//! client.rs), and the CPU per debit printed is the whole process's.

mod ceiling;
mod client;
mod crossing;
mod load;
mod naive;
mod phases;
mod report;
mod scale;
mod server;
mod store;

use phases::{Naive, measure_naive, measure_ours};
use report::{print_store, store_json};
use serde_json::{Value, json};
use std::time::Instant;
use store::Store;

/// The bench's operator key.
pub const KEY: &str = "rk_bench";

pub struct Options {
    pub quick: bool,
    pub json: bool,
    pub database_url: Option<String>,
    pub clients: usize,
    /// Accounts of the scale check (default 1M; 200k with --quick).
    pub accounts: Option<usize>,
    /// Only PostgreSQL (with `database_url`): skips the SQLite half of the run.
    pub postgres_only: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut o = Options {
            quick: false,
            json: false,
            database_url: None,
            clients: 64,
            accounts: None,
            postgres_only: false,
        };
        let mut it = args.iter();
        let number = |v: Option<&String>, what: &str| {
            v.and_then(|v| v.replace('_', "").parse::<usize>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| anyhow::anyhow!("{what} needs a number above 0"))
        };
        while let Some(a) = it.next() {
            match a.as_str() {
                "--quick" => o.quick = true,
                "--json" => o.json = true,
                "--database-url" => {
                    o.database_url = Some(
                        it.next()
                            .cloned()
                            .ok_or_else(|| anyhow::anyhow!("--database-url needs a URL"))?,
                    )
                }
                "--clients" => o.clients = number(it.next(), "--clients")?,
                "--accounts" => o.accounts = Some(number(it.next(), "--accounts")?),
                "--postgres-only" => o.postgres_only = true,
                other => anyhow::bail!(
                    "unknown bench option {other:?} (use --quick, --json, --database-url URL, \
                     --postgres-only, --clients N, --accounts N)"
                ),
            }
        }
        if o.postgres_only && o.database_url.is_none() {
            anyhow::bail!("--postgres-only needs --database-url URL");
        }
        Ok(o)
    }
}

/// How much of everything a run does.
pub struct Plan {
    pub secs: f64,
    /// Accounts the spread load is drawn from.
    pub spread: usize,
    /// Accounts of the scale check, and how many of them are due (R22).
    pub scale: usize,
    pub due: usize,
    /// Accounts debited below their threshold while the half-rate load runs.
    pub crossings: usize,
}

impl Plan {
    fn of(o: &Options) -> Plan {
        let scale = o
            .accounts
            .unwrap_or(if o.quick { 200_000 } else { 1_000_000 })
            .max(2_000);
        let due = 1_000;
        Plan {
            secs: if o.quick { 2.0 } else { 10.0 },
            // The spread load never lands on the due accounts (the last ones).
            spread: 100_000.min(scale - due),
            scale,
            due,
            crossings: if o.quick { 40 } else { 200 },
        }
    }
}

pub async fn run(o: Options) -> anyhow::Result<()> {
    crate::install_crypto();
    let plan = Plan::of(&o);
    let dir = std::env::temp_dir().join(format!("refill-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut stores = vec![];
    if !o.postgres_only {
        stores.push(Store::Sqlite(dir.clone()));
    }
    if let Some(pg) = &o.database_url {
        stores.push(Store::Postgres(pg.clone()));
    }
    let started = Instant::now();
    let mut report = serde_json::Map::new();
    report.insert("quick".into(), json!(o.quick));
    report.insert("clients".into(), json!(o.clients));
    report.insert("seconds_per_figure".into(), json!(plan.secs));
    for store in &stores {
        let ours = measure_ours(store, &o, &plan).await;
        let naive = match &ours {
            Ok(_) => measure_naive(store, &o, &plan).await,
            Err(_) => Ok(Naive::default()),
        };
        let (ours, naive) = match (ours, naive) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                std::fs::remove_dir_all(&dir).ok();
                return Err(e.context(format!("bench on {}", store.name())));
            }
        };
        if !o.json {
            print_store(store.name(), &o, &plan, &ours, &naive);
        }
        report.insert(
            store.name().into(),
            store_json(store.name(), &plan, &ours, &naive),
        );
    }
    report.insert(
        "elapsed_s".into(),
        json!(started.elapsed().as_secs_f64().round()),
    );
    if o.json {
        println!("{}", Value::Object(report));
    } else {
        println!("\nbench: {:.0} s in all", started.elapsed().as_secs_f64());
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Options;

    fn parse(args: &[&str]) -> anyhow::Result<Options> {
        Options::parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn options_name_what_is_wrong() {
        let o = parse(&[
            "--quick",
            "--clients",
            "8",
            "--database-url",
            "postgres://x/db",
        ]);
        let o = o.expect("valid options");
        assert!(o.quick && !o.postgres_only);
        assert_eq!(
            (o.clients, o.database_url.as_deref()),
            (8, Some("postgres://x/db"))
        );
        let only = parse(&["--postgres-only"]).err().map(|e| e.to_string());
        assert_eq!(
            only.as_deref(),
            Some("--postgres-only needs --database-url URL")
        );
        let zero = parse(&["--clients", "0"]).err().map(|e| e.to_string());
        assert_eq!(zero.as_deref(), Some("--clients needs a number above 0"));
        let unknown = parse(&["--fast"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            unknown.starts_with("unknown bench option \"--fast\""),
            "{unknown}"
        );
    }
}
