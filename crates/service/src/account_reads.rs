//! Reads of one account shared by the requests that want it at the same moment. A
//! request joins the next read of its account that has not started yet, so what it
//! is answered is never older than the request (a client that wrote a debit and then
//! reads its account sees the debit), and many readers of one account pay one
//! query per round rather than one each: on SQLite most of a read's cost is the hop
//! to a reader connection's thread and back, not the read.

use refill_store::{AccountRow, Db, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// What a round answers its readers: the account (or none by that id), or `None`
/// when its read failed (each reader then reads alone, to get its own error).
type Shared = Option<Option<AccountRow>>;

/// Account id -> the readers waiting for the next round of that account. An entry
/// exists while a task runs the account's rounds.
#[derive(Default, Clone)]
pub struct AccountReads {
    waiting: Arc<Mutex<HashMap<String, Vec<oneshot::Sender<Shared>>>>>,
}

impl AccountReads {
    /// The account `id` as a read started after this call finds it.
    pub async fn read(&self, db: &Db, id: &str) -> Result<Option<AccountRow>> {
        let (tx, rx) = oneshot::channel();
        let first = {
            let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            match waiting.get_mut(id) {
                Some(readers) => {
                    readers.push(tx);
                    false
                }
                None => {
                    waiting.insert(id.to_string(), vec![tx]);
                    true
                }
            }
        };
        if first {
            tokio::spawn(self.clone().rounds(db.clone(), id.to_string()));
        }
        match rx.await {
            Ok(Some(row)) => Ok(row),
            _ => refill_store::get_account(&db.pool, id).await,
        }
    }

    /// Reads the account once for everyone waiting, then again for those who came
    /// meanwhile, until none did.
    async fn rounds(self, db: Db, id: String) {
        loop {
            let readers = {
                let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
                let readers = waiting.get_mut(&id).map(std::mem::take).unwrap_or_default();
                if readers.is_empty() {
                    waiting.remove(&id);
                    return;
                }
                readers
            };
            let read = refill_store::get_account(&db.pool, &id).await.ok();
            for reader in readers {
                let _ = reader.send(read.clone());
            }
        }
    }
}
