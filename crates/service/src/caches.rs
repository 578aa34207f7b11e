//! What the debit path would otherwise read from the database on every request: who
//! holds an API key, and which account tree an account belongs to. Kept in memory so
//! that a debit request needs no database read before the pipeline (issue 5).
//!
//! Only positive answers are kept (an unknown key or account is always looked up), so
//! a key or account created on another node is seen at once.

use crate::accounts::Caller;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an authenticated key is trusted without asking the database again: the
/// delay after which a key removed on another node stops working here.
pub const KEY_TTL: Duration = Duration::from_secs(30);
/// Bounds on the caches' sizes (memory): a full cache is emptied and fills again.
const MAX_KEYS: usize = 10_000;
const MAX_ACCOUNTS: usize = 100_000;

#[derive(Default)]
pub struct Caches {
    /// Key hash -> (caller, when it was read).
    keys: Mutex<HashMap<String, (Caller, Instant)>>,
    /// Account id -> its parent. Both never change once the account exists, and
    /// accounts are never deleted, so an entry never goes stale.
    parents: Mutex<HashMap<String, Option<String>>>,
}

impl Caches {
    /// The caller holding the key with this hash, if read less than KEY_TTL ago.
    pub fn caller(&self, key_hash: &str) -> Option<Caller> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.get(key_hash)
            .filter(|(_, read)| read.elapsed() < KEY_TTL)
            .map(|(c, _)| c.clone())
    }

    pub fn remember_caller(&self, key_hash: &str, caller: &Caller) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert(key_hash.to_string(), (caller.clone(), Instant::now()));
    }

    /// Forgets every authenticated key: call when a key is removed or changed.
    pub fn forget_keys(&self) {
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The parent of a known account: Some(None) for a main account, None if unknown.
    pub fn parent(&self, account_id: &str) -> Option<Option<String>> {
        let parents = self.parents.lock().unwrap_or_else(|e| e.into_inner());
        parents.get(account_id).cloned()
    }

    pub fn remember_parent(&self, account_id: &str, parent: Option<&str>) {
        let mut parents = self.parents.lock().unwrap_or_else(|e| e.into_inner());
        if parents.len() >= MAX_ACCOUNTS {
            parents.clear();
        }
        parents.insert(account_id.to_string(), parent.map(str::to_string));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_remembered_and_forgotten() {
        let c = Caches::default();
        let op = Caller::Operator {
            key_id: "key_1".into(),
        };
        assert_eq!(c.caller("h"), None);
        c.remember_caller("h", &op);
        assert_eq!(c.caller("h"), Some(op));
        c.forget_keys();
        assert_eq!(c.caller("h"), None);
    }

    #[test]
    fn parents_are_remembered() {
        let c = Caches::default();
        assert_eq!(c.parent("acct_1"), None);
        c.remember_parent("acct_1", None);
        c.remember_parent("acct_2", Some("acct_1"));
        assert_eq!(c.parent("acct_1"), Some(None));
        assert_eq!(c.parent("acct_2"), Some(Some("acct_1".into())));
    }
}
