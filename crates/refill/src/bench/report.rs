//! What a run prints: a table per store, or with --json one object; both with the
//! targets and whether they are met.

use super::load::Run;
use super::phases::{MIXED_HOT, MIXED_READS, Naive, Ours, PipelineUse};
use super::{Options, Plan};
use serde_json::{Value, json};

/// `a`'s rate over `b`'s.
fn ratio(a: &Run, b: &Run) -> f64 {
    a.rate / b.rate.max(1.0)
}

/// The performance targets for one store, and whether they are met.
fn targets(store: &str, ours: &Ours, naive: &Naive) -> Vec<(&'static str, String, bool)> {
    let ratio_hot = ratio(&ours.hot, &naive.hot);
    let keyed = ratio(&ours.keyed, &ours.hot);
    let reads = ratio(&ours.reads, &ours.hot);
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
        ("ratio_hot", format!(">= {times:.0}x"), ratio_hot >= times),
        ("keyed_vs_unkeyed", ">= 90%".into(), keyed >= 0.9),
        ("reads_vs_hot_debits", ">= 2x".into(), reads >= 2.0),
    ];
    if store == "sqlite" {
        let share = ratio(&ours.hot, &ours.ceiling);
        t.push(("hot_share_of_ceiling", ">= 50%".into(), share >= 0.5));
    }
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

fn pipeline_json(p: &PipelineUse) -> Value {
    json!({"mean_batch": p.mean_batch, "batch_transaction_us": p.batch_us.round(),
           "busy": p.busy, "fast_path_share": p.unread})
}

pub fn store_json(store: &str, plan: &Plan, ours: &Ours, naive: &Naive) -> Value {
    let targets: serde_json::Map<String, Value> = targets(store, ours, naive)
        .into_iter()
        .map(|(k, want, met)| (k.to_string(), json!({"target": want, "met": met})))
        .collect();
    let share = |r: &Run| ratio(r, &ours.ceiling);
    json!({
        "refill": {
            "ceiling": run_json(&ours.ceiling),
            "hot": run_json(&ours.hot),
            "hot_pipeline": pipeline_json(&ours.hot_pipeline),
            "hot_keyed": run_json(&ours.keyed),
            "hot_keyed_pipeline": pipeline_json(&ours.keyed_pipeline),
            "reads": run_json(&ours.reads),
            "batch_endpoint": run_json(&ours.batch),
            "spread": run_json(&ours.spread),
            "spread_accounts": plan.spread,
            "spread_pipeline": pipeline_json(&ours.spread_pipeline),
            "mixed": run_json(&ours.mixed),
            "mixed_mix": {"hot_accounts": MIXED_HOT, "cold_accounts": plan.spread - MIXED_HOT,
                          "reads_percent": MIXED_READS, "keyed_debits": true},
            "mixed_pipeline": pipeline_json(&ours.mixed_pipeline),
            "half_rate": run_json(&ours.half),
            "crossing_to_charge": {"p50_ms": ours.crossing.0, "p99_ms": ours.crossing.1,
                                   "charges": ours.crossing.2, "crossings": plan.crossings},
            "scale": {"accounts": plan.scale, "load_s": ours.load_s, "due": plan.due,
                      "queued": ours.queued, "periodic_check_ms": ours.check_ms,
                      "rss_mb": ours.rss_mb},
        },
        "share_of_ceiling": {
            "hot": share(&ours.hot),
            "hot_keyed": share(&ours.keyed),
            "reads": share(&ours.reads),
            "spread": share(&ours.spread),
            "mixed": share(&ours.mixed),
        },
        "naive": {
            "hot": run_json(&naive.hot),
            "batch_endpoint": run_json(&naive.batch),
            "spread": run_json(&naive.spread),
        },
        "ratio": {
            "keyed_vs_unkeyed": ratio(&ours.keyed, &ours.hot),
            "reads_vs_hot_debits": ratio(&ours.reads, &ours.hot),
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

fn lat(r: &Run) -> String {
    format!("{:.2} / {:.2}", r.p50_ms, r.p99_ms)
}

pub fn print_store(store: &str, o: &Options, plan: &Plan, ours: &Ours, naive: &Naive) {
    println!(
        "\n{store}: {} clients over HTTP, {} s per figure (client and server share the cores)",
        o.clients, plan.secs
    );
    print_phases(plan, ours);
    print_naive(plan, ours, naive);
    print_pipeline(ours, naive);
    let failed = [
        &ours.ceiling,
        &ours.hot,
        &ours.keyed,
        &ours.reads,
        &ours.batch,
    ]
    .into_iter()
    .chain([&ours.spread, &ours.mixed, &ours.half])
    .map(|r| r.failed)
    .sum::<u64>();
    if failed > 0 {
        println!("  requests not answered 200 or 201: {failed}");
    }
    let t = targets(store, ours, naive);
    let list: Vec<String> = t
        .iter()
        .map(|(k, want, met)| format!("{k} {want}: {}", if *met { "met" } else { "NOT met" }))
        .collect();
    println!("  targets: {}", list.join("; "));
}

/// The phases against the ceiling (same server, same client).
fn print_phases(plan: &Plan, ours: &Ours) {
    println!(
        "  {:<58} {:>10} {:>16} {:>8}",
        "against the ceiling", "per s", "p50 / p99 ms", "share"
    );
    let row = |what: &str, r: &Run| {
        let share = format!("{:.0}%", ratio(r, &ours.ceiling) * 100.0);
        println!("  {what:<58} {:>10} {:>16} {share:>8}", n(r.rate), lat(r));
    };
    row(
        "ceiling: authenticated debit-sized request, no store",
        &ours.ceiling,
    );
    row("one hot account, debits without a key", &ours.hot);
    row("one hot account, debits each with its own key", &ours.keyed);
    row(
        "one hot account, reads (GET /v1/accounts/{id})",
        &ours.reads,
    );
    row(
        &format!("{} accounts, debits without a key", n(plan.spread as f64)),
        &ours.spread,
    );
    let cold = n((plan.spread - MIXED_HOT) as f64);
    let mixed = format!("mixed: keyed debits, {MIXED_HOT} hot + {cold} cold; {MIXED_READS}% reads");
    row(&mixed, &ours.mixed);
    println!(
        "  keyed / unkeyed: {:.0}%; reads / hot debits: {:.1}x",
        ratio(&ours.keyed, &ours.hot) * 100.0,
        ratio(&ours.reads, &ours.hot)
    );
}

/// refill against the naive baseline, and the figures that have no baseline.
fn print_naive(plan: &Plan, ours: &Ours, naive: &Naive) {
    let times = |a: &Run, b: &Run| format!("{:.1}x", ratio(a, b));
    println!(
        "  {:<46} {:>16} {:>16} {:>7}",
        "", "refill", "naive", "ratio"
    );
    let row = |what: &str, a: String, b: String, r: String| {
        println!("  {what:<46} {a:>16} {b:>16} {r:>7}");
    };
    let none = String::new;
    let hot = (&ours.hot, &naive.hot);
    row(
        "one hot account, debits/s",
        n(hot.0.rate),
        n(hot.1.rate),
        times(hot.0, hot.1),
    );
    row(
        "  latency p50 / p99 ms (closed loop)",
        lat(hot.0),
        lat(hot.1),
        none(),
    );
    let spread = (&ours.spread, &naive.spread);
    let what = format!("{} accounts, debits/s", n(plan.spread as f64));
    row(
        &what,
        n(spread.0.rate),
        n(spread.1.rate),
        times(spread.0, spread.1),
    );
    let batch = (&ours.batch, &naive.batch);
    let what = "batch endpoint (100 items), debits/s";
    row(
        what,
        n(batch.0.rate),
        n(batch.1.rate),
        times(batch.0, batch.1),
    );
    let what = format!(
        "half the max rate ({}/s): p50 / p99 ms",
        n(ours.hot.rate / 2.0)
    );
    row(&what, lat(&ours.half), none(), none());
    let (p50, p99, seen) = ours.crossing;
    let what = format!("crossing to charge request ({seen}): p50 / p99 ms");
    row(&what, format!("{p50:.2} / {p99:.2}"), none(), none());
    let scale = n(plan.scale as f64);
    let what = format!("periodic check, {} due of {scale} accounts, ms", plan.due);
    row(&what, format!("{:.1}", ours.check_ms), none(), none());
    let what = "RSS of the process (server + bench client), MB";
    row(what, format!("{:.0}", ours.rss_mb), none(), none());
}

/// What the debit pipeline did in the debit phases.
fn print_pipeline(ours: &Ours, naive: &Naive) {
    println!(
        "  CPU per request, server and client: {:.0} us (ceiling), {:.0} us (hot), {:.0} us (hot keyed), {:.0} us (reads), {:.0} us (naive hot)",
        ours.ceiling.cpu_us,
        ours.hot.cpu_us,
        ours.keyed.cpu_us,
        ours.reads.cpu_us,
        naive.hot.cpu_us
    );
    let phases = [
        ("hot", &ours.hot_pipeline),
        ("hot keyed", &ours.keyed_pipeline),
        ("spread", &ours.spread_pipeline),
        ("mixed", &ours.mixed_pipeline),
    ];
    for (what, p) in phases {
        println!(
            "  pipeline, {what}: {:.1} requests a batch; a batch transaction takes {:.0} us; inside one {:.0}% of the time; {:.0}% of batches by the fast path (no read)",
            p.mean_batch,
            p.batch_us,
            p.busy * 100.0,
            p.unread * 100.0
        );
    }
}
