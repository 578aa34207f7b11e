//! `refill verify`: checks the ledger (R3) and reconciles the money records with it.
//! Every balance equals the sum of its entries, every running balance follows from
//! the one before, every journal sums to zero; every succeeded top-up has its credit,
//! every charged fee period its debit, every refund its reversal (and a failed one its
//! restoration); and, with the sandbox gateway, every charge it made belongs to a
//! top-up (a verification charge, R14, to its refund). Each problem found is named,
//! and the command exits non-zero.

use refill_gateway::{Gateway, RefundStatus};
use refill_store::Db;
use std::collections::HashSet;

pub struct Report {
    pub entries: i64,
    pub problems: Vec<String>,
}

/// The ledger's checks and the reconciliation of what the database holds.
pub async fn verify(db: &Db) -> anyhow::Result<Report> {
    let mut problems = ledger_problems(db).await?;
    problems.extend(reconcile(db).await?);
    Ok(Report {
        entries: refill_store::count_entries(&db.pool).await?,
        problems,
    })
}

async fn ledger_problems(db: &Db) -> anyhow::Result<Vec<String>> {
    let mut problems = vec![];
    for (id, balance, sum) in refill_store::balance_mismatches(&db.pool).await? {
        problems.push(format!(
            "account {id}: balance {balance} but its entries sum to {sum}"
        ));
    }
    for (journal, sum) in refill_store::unbalanced_journals(&db.pool).await? {
        problems.push(format!("journal {journal}: entries sum to {sum}, not 0"));
    }
    let broken = refill_store::broken_running_balances(&db.pool).await?;
    if broken > 0 {
        problems.push(format!(
            "{broken} entries whose balance_after does not follow from the entry before"
        ));
    }
    Ok(problems)
}

/// Each money record against the entry it must have caused, found by the account and
/// the reference the engine writes on it.
async fn reconcile(db: &Db) -> anyhow::Result<Vec<String>> {
    let posted: HashSet<(String, String)> = refill_store::money_entry_references(&db.pool)
        .await?
        .into_iter()
        .collect();
    let has = |account: &str, reference: String| posted.contains(&(account.into(), reference));
    let mut problems = vec![];
    for (id, account, source) in refill_store::credited_top_ups(&db.pool).await? {
        let reference = match source.as_str() {
            "transfer" => format!("auto top-up {id}"),
            _ => format!("top-up {id}"),
        };
        if !has(&account, reference) {
            problems.push(format!(
                "top-up {id} (account {account}) succeeded but its credit is not in the ledger"
            ));
        }
    }
    for (resource, account, name, period) in refill_store::charged_fee_periods(&db.pool).await? {
        if !has(
            &account,
            format!("{resource} {name}: period {}", period + 1),
        ) {
            problems.push(format!(
                "fee period {} of resource {resource} (account {account}) was charged but has no debit in the ledger",
                period + 1
            ));
        }
    }
    for (id, top_up, account, status) in refill_store::reversed_refunds(&db.pool).await? {
        if !has(&account, format!("refund of top-up {top_up}")) {
            problems.push(format!(
                "refund {id} of top-up {top_up} (account {account}) reversed credit at approval but the ledger has no reversal"
            ));
        }
        if status == "failed" && !has(&account, format!("failed refund {id} of top-up {top_up}")) {
            problems.push(format!(
                "refund {id} of top-up {top_up} (account {account}) failed but the credit it reversed was not restored in the ledger"
            ));
        }
    }
    Ok(problems)
}

/// R25, R14: every charge the sandbox made belongs to a top-up, or is a verification
/// charge refunded (or whose refund is owed and being retried).
pub async fn reconcile_sandbox(
    db: &Db,
    sandbox: &refill_gateway::sandbox::Sandbox,
) -> anyhow::Result<Vec<String>> {
    let charged: HashSet<String> = refill_store::top_up_charge_ids(&db.pool)
        .await?
        .into_iter()
        .collect();
    let owed: HashSet<String> = refill_store::owed_verification_charges(&db.pool)
        .await?
        .into_iter()
        .collect();
    let mut problems = vec![];
    for (key, charge, amount, currency) in sandbox.money_taken() {
        if key.starts_with("verify_") {
            let refunds = sandbox.list_refunds(&charge).await?;
            let refunded = refunds.iter().any(|r| r.status != RefundStatus::Failed);
            if !refunded && !owed.contains(&charge) {
                problems.push(format!(
                    "verification charge {charge} ({amount} {currency}, key {key}) was never refunded"
                ));
            }
        } else if !charged.contains(&charge) {
            problems.push(format!(
                "gateway charge {charge} ({amount} {currency}, key {key}) has no top-up"
            ));
        }
    }
    Ok(problems)
}
