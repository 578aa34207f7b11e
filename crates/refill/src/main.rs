//! The refill binary: serve, migrate, verify, events, demo, bench.

use anyhow::Context;
use refill::Settings;
use refill_service::SystemClock;
use std::sync::Arc;

/// mimalloc: the debit path allocates across threads (a request is parsed on one
/// worker, committed by another, answered on a third), where glibc's malloc spent
/// about 15% of the CPU of a debit (measured with perf).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "refill: prepaid balances with automatic top-up

usage: refill <command>

commands:
  serve     run the HTTP API and the auto top-up engine (REFILL_LISTEN, default 127.0.0.1:8080)
  migrate   apply the database schema and exit
  verify    check the ledger (every balance equals its entries, every journal sums to zero) and
            reconcile it: every succeeded top-up credited, fee period debited, refund reversed,
            and every sandbox charge a top-up's
  events    events redeliver <event id> | --dead: send notifications again
  demo      walk through refill on a temporary database, in the terminal
  bench     measure debits/s against the naive baseline (--quick, --json, --database-url URL,
            --postgres-only, --clients N (64),
            --accounts N (scale check: 1000000; 200000 with --quick))
  config-docs
            print docs/configuration.md: every setting, from the table in the code
  openapi   print openapi.json: the OpenAPI 3.1 document, from the route table and the API's types
  help      this text

configuration: refill.toml in the working directory (or REFILL_CONFIG), then REFILL_* variables.
Every setting: docs/configuration.md.";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(refill::yield_to_commit_path)
        .build();
    match runtime {
        Ok(rt) => rt.block_on(run()),
        Err(e) => {
            eprintln!("refill: cannot start: {e}");
            std::process::exit(1);
        }
    }
}

async fn run() {
    refill::install_crypto();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve().await,
        Some("migrate") => migrate().await,
        Some("verify") => verify().await,
        Some("demo") => refill::demo::run().await,
        Some("events") => match Settings::load() {
            Ok(s) => refill::events_cli::run(&args[1..], &s.database_url).await,
            Err(e) => Err(e),
        },
        Some("bench") => match refill::bench::Options::parse(&args[1..]) {
            Ok(o) => refill::bench::run(o).await,
            Err(e) => Err(e),
        },
        Some("config-docs") => {
            print!("{}", refill::settings::markdown());
            Ok(())
        }
        Some("openapi") => {
            let doc = serde_json::to_string_pretty(&refill::openapi::document());
            doc.map(|d| println!("{d}")).map_err(Into::into)
        }
        None | Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown command {other:?}\n\n{USAGE}")),
    };
    if let Err(e) = result {
        eprintln!("refill: {e:#}");
        std::process::exit(1);
    }
}

async fn serve() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let running = refill::start(&settings, Arc::new(SystemClock), None, true).await?;
    if let Some(key) = &running.new_operator_key
        && settings.bootstrap_key.is_none()
    {
        println!("refill: created the operator API key (shown once, keep it safe):\n\n    {key}\n");
    }
    println!(
        "refill: serving on {} (database {}, gateway {})",
        running.url(),
        refill::server::redact(&settings.database_url),
        settings.gateway
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    println!("refill: stopping");
    running.stop();
    Ok(())
}

async fn migrate() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let db = refill_store::Db::connect(&settings.database_url).await?;
    let applied = db.migrate().await?;
    match applied {
        0 => println!("refill: schema already up to date"),
        n => println!("refill: applied {n} schema migration(s)"),
    }
    Ok(())
}

async fn verify() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let db = refill_store::Db::connect(&settings.database_url).await?;
    let mut report = refill::verify::verify(&db).await?;
    // The sandbox's record, where it has one: its charges against the top-ups.
    let record = refill::server::sandbox_record(&settings);
    let sandbox = settings.gateway == "sandbox" && std::path::Path::new(&record).exists();
    if sandbox {
        let now = Arc::new(refill_store::wall_clock_ms);
        let gateway = refill_gateway::sandbox::Sandbox::open(std::path::Path::new(&record), now)
            .with_context(|| format!("cannot read the sandbox record {record}"))?
            .with_settle_after(settings.sandbox_settle_after);
        report
            .problems
            .extend(refill::verify::reconcile_sandbox(&db, &gateway).await?);
    }
    if report.problems.is_empty() {
        println!(
            "refill verify: OK ({} entries checked; every balance equals its entries, every journal sums to zero; every succeeded top-up is credited, every fee period debited, every refund reversed{})",
            report.entries,
            if sandbox {
                "; every sandbox charge belongs to a top-up"
            } else {
                ""
            }
        );
        return Ok(());
    }
    for p in &report.problems {
        eprintln!("refill verify: {p}");
    }
    anyhow::bail!("{} problems found", report.problems.len())
}
