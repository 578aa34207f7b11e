//! The scale check: many accounts loaded straight into the store (an API call per
//! account would measure the loading, not the server), some of them due for an
//! automatic top-up, then the periodic check (R22) timed and the memory read.

use refill_store::{AccountRow, Db};
use std::time::{Duration, Instant};

/// The id of the bench's account number `i`. The number is scrambled (a bijection:
/// no two accounts share an id) so that ids are spread over the index like real ones,
/// not appended in order.
pub fn account_id(i: usize) -> String {
    format!(
        "acct_bench{:016x}",
        (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    )
}

/// Accounts per transaction while loading.
const PER_TRANSACTION: usize = 20_000;

/// Loads the accounts numbered `range`; those from `due_from` on have auto top-up on
/// (threshold 1,000) and a balance of 0, so they are due (R22). The others may go
/// down to -10^15 (a credit limit), so that debits never run out without funding
/// entries. Shows progress on stderr. Returns how long it took.
pub async fn load_accounts(
    db: &Db,
    range: std::ops::Range<usize>,
    due_from: usize,
    label: &str,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let now = refill_store::wall_clock_ms();
    let total = range.len().max(1);
    let mut shown = 0;
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    for first in range.clone().step_by(PER_TRANSACTION) {
        let rows: Vec<AccountRow> = (first..(first + PER_TRANSACTION).min(range.end))
            .map(|i| row(i, i >= due_from, now))
            .collect();
        let mut tx = db.begin().await?;
        refill_store::insert_accounts(&mut tx, &rows).await?;
        tx.commit().await?;
        let done = first + rows.len() - range.start;
        if tty && done * 20 / total > shown {
            shown = done * 20 / total;
            eprint!("\rbench: {label}: loading accounts: {done}/{total}");
        }
    }
    if tty {
        eprint!("\r");
    }
    eprintln!(
        "bench: {label}: loaded accounts {}..{} in {:.1} s",
        range.start,
        range.end,
        start.elapsed().as_secs_f64()
    );
    Ok(start.elapsed())
}

fn row(i: usize, due: bool, now: i64) -> AccountRow {
    AccountRow {
        id: account_id(i),
        parent_id: None,
        name: "bench".into(),
        currency: "GBP".into(),
        balance: 0,
        credit_limit: if due { 0 } else { -1_000_000_000_000_000 },
        payer_name: None,
        payer_email: None,
        payer_phone: None,
        payer_country: None,
        flagged: false,
        auto_threshold: due.then_some(1_000),
        low_balance_threshold: 0,
        low_balance_armed: true,
        closed_at: None,
        created_at: now,
        // Brought there by spending (R22), as the check's scale is measured on.
        crossed_by_spending: due,
    }
}

/// The resident memory of this process (server and bench client), in MB.
pub fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_distinct() {
        let ids: std::collections::HashSet<String> = (0..100_000).map(account_id).collect();
        assert_eq!(ids.len(), 100_000);
    }
}
