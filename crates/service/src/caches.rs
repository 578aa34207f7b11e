//! What the debit path would otherwise read from the database on every request: who
//! holds an API key, and which account tree an account belongs to. Kept in memory so
//! that a debit request needs no database read before the pipeline.
//!
//! Only positive answers are kept (an unknown key or account is always looked up), so
//! a key or account created on another node is seen at once. A key revoked or rotated
//! on another node is learnt from the database's feed of key changes (`KeyFeed`): no
//! key is answered from memory unless that feed was read, by a read started less than
//! KEY_CHANGES_BOUND_MS ago.

use crate::accounts::Caller;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How long an authenticated key is trusted without asking the database again, in
/// milliseconds: the delay after which a key deleted by hand (not revoked through the
/// API, so not in the feed) stops working.
pub const KEY_TTL_MS: i64 = 30_000;
/// How often the feed of key changes is read: the first request past this reads it
/// (and waits for it: one small indexed read a second per node).
pub const KEY_CHANGES_EVERY_MS: i64 = 1_000;
/// The bound: a key revoked or rotated through another node is not answered from
/// memory here once this long has passed since the change committed. Past it with no
/// read of the feed (one failing, or slow), keys are read from the database.
pub const KEY_CHANGES_BOUND_MS: i64 = 2_000;
/// At most this many changes per read of the feed; past it every key is forgotten.
pub const KEY_CHANGES_PER_READ: i64 = 1_000;
/// How often each node writes the keys' last uses.
pub const KEY_USES_EVERY_MS: i64 = 60_000;
/// Bounds on the caches' sizes (memory): a full cache is emptied and fills again.
const MAX_KEYS: usize = 10_000;
const MAX_ACCOUNTS: usize = 100_000;

#[derive(Default)]
pub struct Caches {
    keys: Mutex<KnownKeys>,
    /// Account id -> its parent. Both never change once the account exists, and
    /// accounts are never deleted, so an entry never goes stale.
    parents: Mutex<HashMap<String, Option<String>>>,
    /// Key id -> its last use here, not yet written.
    uses: Mutex<HashMap<String, i64>>,
    /// Rereads of a key that failed, for /metrics: while they fail, keys are answered
    /// from memory until they expire, which the requests alone would not show.
    pub rereads_failed: AtomicU64,
    /// Reads of an account shared by the requests that want it at once.
    pub account_reads: crate::account_reads::AccountReads,
}

#[derive(Default)]
struct KnownKeys {
    by_hash: HashMap<String, KnownKey>,
    feed: KeyFeed,
}

/// Where this node is in the feed of key changes (`api_key_revision`).
#[derive(Default)]
struct KeyFeed {
    /// The last revision applied: None until the feed was first read.
    revision: Option<i64>,
    /// When the last read that succeeded started (the clock's ms).
    read_ms: i64,
    /// A request is reading it.
    reading: bool,
    /// Moves whenever keys are forgotten: a key read from the database before that
    /// is not kept (its answer may predate the change).
    generation: u64,
}

impl KeyFeed {
    /// Whether keys may be answered from memory at `now`. A clock set back makes it
    /// stale (read again), never current longer.
    fn current(&self, now_ms: i64) -> bool {
        let age = now_ms.saturating_sub(self.read_ms);
        self.revision.is_some() && (0..KEY_CHANGES_BOUND_MS).contains(&age)
    }
}

/// An authenticated key: who holds it, when the database said so (the clock's ms),
/// until when its secret is valid, and whether a request is reading it again.
struct KnownKey {
    caller: Caller,
    read_ms: i64,
    valid_until: Option<i64>,
    rereading: bool,
}

impl KnownKey {
    /// Its age at `now_ms`, if still within KEY_TTL_MS and its secret still valid. A
    /// clock set back must not stretch the trust: a negative age is not within.
    fn age_within_ttl(&self, now_ms: i64) -> Option<i64> {
        if self.valid_until.is_some_and(|until| now_ms >= until) {
            return None;
        }
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
    /// Unknown, expired, or the feed of changes not read lately: read the database.
    Unknown,
}

/// Taken before a key is read from the database, given back to `remember_caller`: the
/// answer is kept only if no key was forgotten meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRead(Option<u64>);

/// A read of the feed that a request must make: the revision to read from (None: the
/// first read, which takes the last revision), and when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedRead {
    pub since: Option<i64>,
    pub started_ms: i64,
}

/// What a read of the feed found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChanges {
    /// The revision reached.
    pub revision: i64,
    /// The keys revoked or rotated since the revision read from.
    pub key_ids: Vec<String>,
    /// Forget every key (the first read, or more changes than one read takes).
    pub forget_all: bool,
}

impl Caches {
    /// The caller holding the key with this hash, as the cache knows it at `now_ms`.
    pub fn caller(&self, key_hash: &str, now_ms: i64) -> KeyLookup {
        let mut keys = lock(&self.keys);
        if !keys.feed.current(now_ms) {
            return KeyLookup::Unknown;
        }
        let Some(known) = keys.by_hash.get_mut(key_hash) else {
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

    /// To take before reading a key from the database.
    pub fn key_read(&self) -> KeyRead {
        let keys = lock(&self.keys);
        KeyRead(keys.feed.revision.map(|_| keys.feed.generation))
    }

    /// The database said at `now_ms`, in the read `read`, that `caller` holds the key,
    /// valid until `valid_until`. Not kept if keys were forgotten since the read began,
    /// or before the feed was first read.
    pub fn remember_caller(
        &self,
        key_hash: &str,
        caller: &Caller,
        valid_until: Option<i64>,
        now_ms: i64,
        read: KeyRead,
    ) {
        let mut keys = lock(&self.keys);
        if read.0.is_none() || read.0 != keys.feed.revision.map(|_| keys.feed.generation) {
            return;
        }
        if keys.by_hash.len() >= MAX_KEYS {
            keys.by_hash.clear();
        }
        let known = KnownKey {
            caller: caller.clone(),
            read_ms: now_ms,
            valid_until,
            rereading: false,
        };
        keys.by_hash.insert(key_hash.to_string(), known);
    }

    /// The database no longer knows the key.
    pub fn forget_caller(&self, key_hash: &str) {
        lock(&self.keys).by_hash.remove(key_hash);
    }

    /// The key with this id was revoked or rotated (here): forgets its secrets.
    pub fn forget_key(&self, key_id: &str) {
        let mut keys = lock(&self.keys);
        keys.by_hash.retain(|_, k| k.caller.key_id() != key_id);
        keys.feed.generation += 1;
    }

    /// A `Reread` failed (the database unreachable, say): the next request past half
    /// the key's time tries again.
    pub fn reread_failed(&self, key_hash: &str) {
        self.rereads_failed.fetch_add(1, Ordering::Relaxed);
        if let Some(known) = lock(&self.keys).by_hash.get_mut(key_hash) {
            known.rereading = false;
        }
    }

    /// The caller of a key still within its time at `now_ms` (what a request whose
    /// reread failed answers with), without starting a reread.
    pub fn trusted(&self, key_hash: &str, now_ms: i64) -> Option<Caller> {
        let keys = lock(&self.keys);
        if !keys.feed.current(now_ms) {
            return None;
        }
        let known = keys.by_hash.get(key_hash)?;
        known.age_within_ttl(now_ms)?;
        Some(known.caller.clone())
    }

    /// The read of the feed this request must make at `now_ms`, if one is due and no
    /// other request is making one.
    pub fn feed_read_due(&self, now_ms: i64) -> Option<FeedRead> {
        let mut keys = lock(&self.keys);
        let feed = &mut keys.feed;
        let age = now_ms.saturating_sub(feed.read_ms);
        let due = feed.revision.is_none() || !(0..KEY_CHANGES_EVERY_MS).contains(&age);
        if !due || feed.reading {
            return None;
        }
        feed.reading = true;
        Some(FeedRead {
            since: feed.revision,
            started_ms: now_ms,
        })
    }

    /// The read `read` found `changes`: their keys are forgotten, and keys are trusted
    /// until KEY_CHANGES_BOUND_MS after the read started.
    pub fn feed_read(&self, read: FeedRead, changes: &KeyChanges) {
        let mut keys = lock(&self.keys);
        if changes.forget_all {
            keys.by_hash.clear();
        } else if !changes.key_ids.is_empty() {
            keys.by_hash
                .retain(|_, k| !changes.key_ids.iter().any(|id| id == k.caller.key_id()));
        }
        let feed = &mut keys.feed;
        if changes.forget_all || !changes.key_ids.is_empty() {
            feed.generation += 1;
        }
        feed.revision = Some(feed.revision.unwrap_or(0).max(changes.revision));
        feed.read_ms = read.started_ms;
        feed.reading = false;
    }

    /// A read of the feed failed: the next request tries again.
    pub fn feed_read_failed(&self) {
        lock(&self.keys).feed.reading = false;
    }

    /// The key `key_id` was used at `now_ms`.
    pub fn note_use(&self, key_id: &str, now_ms: i64) {
        let mut uses = lock(&self.uses);
        if let Some(at) = uses.get_mut(key_id) {
            *at = (*at).max(now_ms);
        } else if uses.len() < MAX_KEYS {
            uses.insert(key_id.to_string(), now_ms);
        }
    }

    /// The uses noted since the last call: (key id, last use).
    pub fn take_uses(&self) -> Vec<(String, i64)> {
        std::mem::take(&mut *lock(&self.uses)).into_iter().collect()
    }

    /// Uses taken but not written (the database unreachable): noted again.
    pub fn give_back_uses(&self, taken: Vec<(String, i64)>) {
        for (id, at) in taken {
            self.note_use(&id, at);
        }
    }

    /// The parent of a known account: Some(None) for a main account, None if unknown.
    pub fn parent(&self, account_id: &str) -> Option<Option<String>> {
        lock(&self.parents).get(account_id).cloned()
    }

    pub fn remember_parent(&self, account_id: &str, parent: Option<&str>) {
        let mut parents = lock(&self.parents);
        if parents.len() >= MAX_ACCOUNTS {
            parents.clear();
        }
        parents.insert(account_id.to_string(), parent.map(str::to_string));
    }
}

/// A cache's lock: a panic while it was held leaves a usable map.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
#[path = "caches_tests.rs"]
mod tests;
