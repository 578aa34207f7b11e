//! `refill verify`: checks the ledger (R3). Every balance equals the sum of its
//! entries, every running balance follows from the one before, every journal sums to
//! zero. Any difference is printed and the command exits non-zero.

use refill_store::Db;

pub struct Report {
    pub entries: i64,
    pub problems: Vec<String>,
}

pub async fn verify(db: &Db) -> anyhow::Result<Report> {
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
    Ok(Report {
        entries: refill_store::count_entries(&db.pool).await?,
        problems,
    })
}
