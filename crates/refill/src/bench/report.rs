//! What a run prints: a table per store, or with --json one object; both with the
//! targets and whether they are met.

use super::load::Run;
use super::phases::{Naive, Ours};
use super::{Options, Plan};
use serde_json::{Value, json};

/// The performance targets for one store, and whether they are met.
fn targets(store: &str, ours: &Ours, naive: &Naive) -> Vec<(&'static str, String, bool)> {
    let ratio = ours.hot.rate / naive.hot.rate.max(1.0);
    let (rate, times) = if store == "postgres" {
        (20_000.0, 25.0)
    } else {
        (30_000.0, 20.0)
    };
    let mut t = vec![
        (
            "hot_debits_per_s",
            format!(">= {rate:.0}/s"),
            ours.hot.rate >= rate,
        ),
        ("ratio_hot", format!(">= {times:.0}x"), ratio >= times),
    ];
    if store == "sqlite" {
        t.push((
            "batch_debits_per_s",
            ">= 500000/s".into(),
            ours.batch.rate >= 500_000.0,
        ));
    }
    t.extend([
        (
            "half_rate_p99_ms",
            "< 10 ms".into(),
            ours.half.p99_ms < 10.0,
        ),
        (
            "crossing_p99_ms",
            "< 100 ms".into(),
            ours.crossing.2 > 0 && ours.crossing.1 < 100.0,
        ),
        (
            "periodic_check_ms",
            "< 100 ms".into(),
            ours.check_ms < 100.0,
        ),
        ("rss_mb", "< 200 MB".into(), ours.rss_mb < 200.0),
    ]);
    t
}

fn run_json(r: &Run) -> Value {
    json!({"debits_per_s": r.rate.round(), "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
           "cpu_us_per_debit": r.cpu_us, "failed": r.failed})
}

pub fn store_json(store: &str, plan: &Plan, ours: &Ours, naive: &Naive) -> Value {
    let ratio = |a: &Run, b: &Run| a.rate / b.rate.max(1.0);
    let targets: serde_json::Map<String, Value> = targets(store, ours, naive)
        .into_iter()
        .map(|(k, want, met)| (k.to_string(), json!({"target": want, "met": met})))
        .collect();
    json!({
        "refill": {
            "hot": run_json(&ours.hot),
            "hot_mean_batch": ours.mean_batch,
            "hot_fast_path_share": ours.unread,
            "batch_endpoint": run_json(&ours.batch),
            "spread": run_json(&ours.spread),
            "spread_accounts": plan.spread,
            "spread_mean_batch": ours.spread_mean_batch,
            "half_rate": run_json(&ours.half),
            "crossing_to_charge": {"p50_ms": ours.crossing.0, "p99_ms": ours.crossing.1,
                                   "charges": ours.crossing.2, "crossings": plan.crossings},
            "scale": {"accounts": plan.scale, "load_s": ours.load_s, "due": plan.due,
                      "queued": ours.queued, "periodic_check_ms": ours.check_ms,
                      "rss_mb": ours.rss_mb},
        },
        "naive": {
            "hot": run_json(&naive.hot),
            "batch_endpoint": run_json(&naive.batch),
            "spread": run_json(&naive.spread),
        },
        "ratio": {
            "hot": ratio(&ours.hot, &naive.hot),
            "batch_endpoint": ratio(&ours.batch, &naive.batch),
            "spread": ratio(&ours.spread, &naive.spread),
        },
        "targets": targets,
    })
}

fn n(v: f64) -> String {
    let s = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 && c != '-' {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn print_store(store: &str, o: &Options, plan: &Plan, ours: &Ours, naive: &Naive) {
    let lat = |r: &Run| format!("{:.2} / {:.2}", r.p50_ms, r.p99_ms);
    let ratio = |a: &Run, b: &Run| format!("{:.1}x", a.rate / b.rate.max(1.0));
    println!(
        "\n{store}: {} clients over HTTP, {} s per figure (client and server share the cores)",
        o.clients, plan.secs
    );
    println!(
        "  {:<46} {:>14} {:>14} {:>7}",
        "", "refill", "naive", "ratio"
    );
    let row = |what: &str, a: String, b: String, r: String| {
        println!("  {what:<46} {a:>14} {b:>14} {r:>7}");
    };
    row(
        "one hot account, debits/s",
        n(ours.hot.rate),
        n(naive.hot.rate),
        ratio(&ours.hot, &naive.hot),
    );
    row(
        "  latency p50 / p99 ms (closed loop)",
        lat(&ours.hot),
        lat(&naive.hot),
        String::new(),
    );
    row(
        &format!("{} accounts, debits/s", n(plan.spread as f64)),
        n(ours.spread.rate),
        n(naive.spread.rate),
        ratio(&ours.spread, &naive.spread),
    );
    row(
        "batch endpoint (100 items), debits/s",
        n(ours.batch.rate),
        n(naive.batch.rate),
        ratio(&ours.batch, &naive.batch),
    );
    row(
        &format!(
            "half the max rate ({}/s): p50 / p99 ms",
            n(ours.hot.rate / 2.0)
        ),
        lat(&ours.half),
        String::new(),
        String::new(),
    );
    row(
        &format!(
            "crossing to charge request ({}): p50 / p99 ms",
            ours.crossing.2
        ),
        format!("{:.2} / {:.2}", ours.crossing.0, ours.crossing.1),
        String::new(),
        String::new(),
    );
    row(
        &format!(
            "periodic check, {} due of {} accounts, ms",
            plan.due,
            n(plan.scale as f64)
        ),
        format!("{:.1}", ours.check_ms),
        String::new(),
        String::new(),
    );
    row(
        "RSS of the process (server + bench client), MB",
        format!("{:.0}", ours.rss_mb),
        String::new(),
        String::new(),
    );
    println!(
        "  mean group-commit batch: {:.1} requests (hot), {:.1} (spread); CPU per hot debit, server and client: {:.0} us (refill), {:.0} us (naive)",
        ours.mean_batch, ours.spread_mean_batch, ours.hot.cpu_us, naive.hot.cpu_us
    );
    println!(
        "  hot: a batch transaction takes {:.0} us; the pipeline is inside one {:.0}% of the time; {:.0}% of batches took the fast path (no read)",
        ours.batch_us,
        ours.busy * 100.0,
        ours.unread * 100.0
    );
    let failed = ours.hot.failed + ours.batch.failed + ours.spread.failed + ours.half.failed;
    if failed > 0 {
        println!("  requests not answered 201: {failed}");
    }
    let t = targets(store, ours, naive);
    let list: Vec<String> = t
        .iter()
        .map(|(k, want, met)| format!("{k} {want}: {}", if *met { "met" } else { "NOT met" }))
        .collect();
    println!("  targets: {}", list.join("; "));
}
