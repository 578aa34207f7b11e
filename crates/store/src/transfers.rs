//! The `transfers` table: credit moved between a main account and its sub-account
//! (R18); the ledger entries are written beside it.

use crate::row;
use crate::{Result, Tx};

table_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct TransferRow in "transfers" {
        pub id: String,
        pub from_account: String,
        pub to_account: String,
        pub currency: String,
        pub amount: i64,
        pub reference: Option<String>,
        pub created_at: i64,
    }
}

pub async fn insert_transfer(tx: &mut Tx, t: &TransferRow) -> Result<()> {
    row::insert(tx, t, "").await?;
    Ok(())
}
