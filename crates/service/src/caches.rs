//! What the debit path would otherwise read from the database on every request: who
//! holds an API key, and which account tree an account belongs to. Kept in memory so
//! that a debit request needs no database read before the pipeline.
//!
//! Only positive answers are kept (an unknown key or account is always looked up), so
//! a key or account created on another node is seen at once.

use crate::accounts::Caller;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How long an authenticated key is trusted without asking the database again, in
/// milliseconds: the delay after which a key removed on another node stops working here.
pub const KEY_TTL_MS: i64 = 30_000;
/// Bounds on the caches' sizes (memory): a full cache is emptied and fills again.
const MAX_KEYS: usize = 10_000;
const MAX_ACCOUNTS: usize = 100_000;

#[derive(Default)]
pub struct Caches {
    keys: Mutex<HashMap<String, KnownKey>>,
    /// Account id -> its parent. Both never change once the account exists, and
    /// accounts are never deleted, so an entry never goes stale.
    parents: Mutex<HashMap<String, Option<String>>>,
    /// Rereads of a key that failed, for /metrics: while they fail, keys are answered
    /// from memory until they expire, which the requests alone would not show.
    pub rereads_failed: AtomicU64,
}

/// An authenticated key: who holds it, when the database said so (the clock's ms),
/// and whether a request is reading it again.
struct KnownKey {
    caller: Caller,
    read_ms: i64,
    rereading: bool,
}

impl KnownKey {
    /// Its age at `now_ms`, if still within KEY_TTL_MS. A clock set back (the wall
    /// clock corrected) must not stretch the trust: a negative age is not within.
    fn age_within_ttl(&self, now_ms: i64) -> Option<i64> {
        let age = now_ms.saturating_sub(self.read_ms);
        (0..KEY_TTL_MS).contains(&age).then_some(age)
    }
}

/// What the cache says of a key.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyLookup {
    /// Trusted: answer with it.
    Known(Caller),
    /// Trusted, but past half its time: the one request told so reads it again
    /// (`remember_caller`, `forget_caller` or `reread_failed` after), and the others
    /// meanwhile answer from the cache. Why: when a key simply expired, every request
    /// in flight missed it at once and read the database, and the debits stalled
    /// behind those reads: 50 to 100 ms every 30 s at PostgreSQL's half-rate
    /// benchmark.
    Reread(Caller),
    /// Unknown or expired: read the database.
    Unknown,
}

impl Caches {
    /// The caller holding the key with this hash, as the cache knows it at `now_ms`.
    pub fn caller(&self, key_hash: &str, now_ms: i64) -> KeyLookup {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let Some(known) = keys.get_mut(key_hash) else {
            return KeyLookup::Unknown;
        };
        let Some(age) = known.age_within_ttl(now_ms) else {
            return KeyLookup::Unknown;
        };
        if age >= KEY_TTL_MS / 2 && !known.rereading {
            known.rereading = true;
            KeyLookup::Reread(known.caller.clone())
        } else {
            KeyLookup::Known(known.caller.clone())
        }
    }

    /// The database said at `now_ms` that `caller` holds the key.
    pub fn remember_caller(&self, key_hash: &str, caller: &Caller, now_ms: i64) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        let known = KnownKey {
            caller: caller.clone(),
            read_ms: now_ms,
            rereading: false,
        };
        keys.insert(key_hash.to_string(), known);
    }

    /// The database no longer knows the key.
    pub fn forget_caller(&self, key_hash: &str) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.remove(key_hash);
    }

    /// A `Reread` failed (the database unreachable, say): the next request past half
    /// the key's time tries again.
    pub fn reread_failed(&self, key_hash: &str) {
        self.rereads_failed.fetch_add(1, Ordering::Relaxed);
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = keys.get_mut(key_hash) {
            known.rereading = false;
        }
    }

    /// The caller of a key still within its time at `now_ms` (what a request whose
    /// reread failed answers with), without starting a reread.
    pub fn trusted(&self, key_hash: &str, now_ms: i64) -> Option<Caller> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let known = keys.get(key_hash)?;
        known.age_within_ttl(now_ms)?;
        Some(known.caller.clone())
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

    fn op() -> Caller {
        Caller::Operator {
            key_id: "key_1".into(),
        }
    }

    #[test]
    fn keys_are_remembered_and_forgotten() {
        let c = Caches::default();
        assert_eq!(c.caller("h", 0), KeyLookup::Unknown);
        c.remember_caller("h", &op(), 0);
        assert_eq!(c.caller("h", 1_000), KeyLookup::Known(op()));
        c.forget_caller("h");
        assert_eq!(c.caller("h", 1_000), KeyLookup::Unknown);
    }

    /// Past half its time a key is read again by one request, while the others answer
    /// from the cache; a key not read again expires.
    #[test]
    fn one_request_rereads_a_key_before_it_expires() {
        let c = Caches::default();
        c.remember_caller("h", &op(), 0);
        let half = KEY_TTL_MS / 2;
        assert_eq!(c.caller("h", half - 1), KeyLookup::Known(op()));
        assert_eq!(c.caller("h", half), KeyLookup::Reread(op()));
        assert_eq!(c.caller("h", half + 1), KeyLookup::Known(op()));
        // The reread failed: the next request tries again.
        c.reread_failed("h");
        assert_eq!(c.rereads_failed.load(Ordering::Relaxed), 1);
        assert_eq!(c.caller("h", half + 2), KeyLookup::Reread(op()));
        // Never read again: expired at KEY_TTL_MS.
        assert_eq!(c.caller("h", KEY_TTL_MS - 1), KeyLookup::Known(op()));
        assert_eq!(c.caller("h", KEY_TTL_MS), KeyLookup::Unknown);
        // Read again: a new start (past KEY_TTL_MS from the first read).
        c.remember_caller("h", &op(), half + 2);
        assert_eq!(c.caller("h", half + 2 + half - 1), KeyLookup::Known(op()));
        assert_eq!(c.caller("h", half + 2 + half), KeyLookup::Reread(op()));
        assert_eq!(c.trusted("h", half + 2 + half), Some(op()));
        assert_eq!(c.trusted("h", half + 2 + KEY_TTL_MS), None);
        // A clock set back to before the read: not trusted (read again).
        assert_eq!(c.caller("h", half + 1), KeyLookup::Unknown);
        assert_eq!(c.trusted("h", half + 1), None);
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
