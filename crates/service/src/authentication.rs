//! Who holds an API key: answered from memory when the cache may (caches.rs), else
//! from the database; the feed of key changes kept current; the keys' last uses
//! written in batches.

use crate::accounts::{Caller, hash_key};
use crate::caches::{FeedRead, KEY_CHANGES_PER_READ, KeyChanges, KeyLookup};
use crate::{Refill, Result, ServiceError};
use refill_store::ApiKeyRow;

impl Refill {
    /// Who holds this key, if anyone.
    /// Known keys are kept in memory for a short while (caches.rs): no database read
    /// per request.
    pub async fn authenticate(&self, key: &str) -> Result<Option<Caller>> {
        let hash = hash_key(key);
        let now = self.now();
        self.follow_key_changes(now).await;
        let caller = match self.caches.caller(&hash, now) {
            KeyLookup::Known(caller) => Some(caller),
            KeyLookup::Unknown => self.read_key(&hash).await?,
            KeyLookup::Reread(_) => self.reread_key(hash).await?,
        };
        if let Some(c) = &caller {
            self.caches.note_use(c.key_id(), now);
        }
        Ok(caller)
    }

    /// Reads the feed of key changes if a read is due: at most one request at a time,
    /// once a second, on a task of its own (so that a request dropped meanwhile does
    /// not leave the feed unread). A failed read is tried again by the next request;
    /// meanwhile keys are trusted until the bound (KEY_CHANGES_BOUND_MS), then read
    /// from the database.
    async fn follow_key_changes(&self, now: i64) {
        let Some(read) = self.caches.feed_read_due(now) else {
            return;
        };
        let app = self.clone();
        let reading = tokio::spawn(async move {
            match app.key_changes(read).await {
                Ok(changes) => app.caches.feed_read(read, &changes),
                Err(_) => app.caches.feed_read_failed(),
            }
        });
        // A cancelled task (the runtime stopping) leaves the feed stale: keys are read.
        let _ = reading.await;
    }

    /// The keys revoked or rotated since `read.since`.
    async fn key_changes(&self, read: FeedRead) -> Result<KeyChanges> {
        let pool = &self.db.pool;
        let Some(since) = read.since else {
            let revision = refill_store::key_revision(pool).await?;
            return Ok(KeyChanges {
                revision,
                key_ids: vec![],
                forget_all: true,
            });
        };
        let changed = refill_store::keys_changed_since(pool, since, KEY_CHANGES_PER_READ).await?;
        Ok(KeyChanges {
            revision: changed.iter().map(|(_, r)| *r).max().unwrap_or(since),
            forget_all: changed.len() as i64 >= KEY_CHANGES_PER_READ,
            key_ids: changed.into_iter().map(|(id, _)| id).collect(),
        })
    }

    /// Reads a known key again on a task of its own, so that it ends (and the cache
    /// learns the outcome) even if this request is dropped meanwhile: else no other
    /// request would read the key again before it expired. If the read fails, the key
    /// is still trusted while within its time, measured when the read ends.
    async fn reread_key(&self, hash: String) -> Result<Option<Caller>> {
        let app = self.clone();
        let h = hash.clone();
        let reread = tokio::spawn(async move {
            let found = app.read_key(&h).await;
            if found.is_err() {
                app.caches.reread_failed(&h);
            }
            found
        });
        let failed = match reread.await {
            Ok(Ok(found)) => return Ok(found),
            Ok(Err(e)) => e,
            // The runtime is stopping (the task was cancelled), as the pipeline says.
            Err(_) => ServiceError::invalid("shutting_down", "refill is shutting down"),
        };
        match self.caches.trusted(&hash, self.now()) {
            Some(caller) => Ok(Some(caller)),
            None => Err(failed),
        }
    }

    /// Who holds the key with this hash, from the database, noted in the cache.
    async fn read_key(&self, hash: &str) -> Result<Option<Caller>> {
        let now = self.now();
        let read = self.caches.key_read();
        let found = refill_store::find_api_key(&self.db.pool, hash).await?;
        match found.and_then(|k| holder(&k, hash, now)) {
            Some((caller, valid_until)) => {
                (self.caches).remember_caller(hash, &caller, valid_until, now, read);
                Ok(Some(caller))
            }
            None => {
                self.caches.forget_caller(hash);
                Ok(None)
            }
        }
    }

    /// Writes the keys' last uses noted on this node since the last call (the workers
    /// call it every KEY_USES_EVERY_MS): one write per key used, off the request path.
    /// Returns how many keys.
    pub async fn record_key_uses(&self) -> Result<usize> {
        let uses = self.caches.take_uses();
        if uses.is_empty() {
            return Ok(0);
        }
        let written = async {
            let mut tx = self.db.begin().await?;
            refill_store::record_key_uses(&mut tx, &uses).await?;
            tx.commit().await?;
            Ok::<_, ServiceError>(())
        }
        .await;
        match written {
            Ok(()) => Ok(uses.len()),
            Err(e) => {
                self.caches.give_back_uses(uses);
                Err(e)
            }
        }
    }
}

/// Who holds the secret with `hash` by this key at `now`, and until when that secret
/// is valid (None: no end): nobody once revoked or past its end. The previous secret
/// of a rotation ends with its grace, or with the key if that is sooner.
pub(crate) fn holder(k: &ApiKeyRow, hash: &str, now: i64) -> Option<(Caller, Option<i64>)> {
    if k.revoked_at.is_some() {
        return None;
    }
    let until = if k.key_hash == hash {
        k.expires_at
    } else if k.previous_key_hash.as_deref() == Some(hash) {
        let grace = k.previous_expires_at.unwrap_or(now);
        Some(k.expires_at.map_or(grace, |e| e.min(grace)))
    } else {
        return None;
    };
    if until.is_some_and(|u| now >= u) {
        return None;
    }
    let key_id = k.id.clone();
    let caller = match &k.account_id {
        None => Caller::Operator { key_id },
        Some(account_id) => Caller::Account {
            key_id,
            account_id: account_id.clone(),
        },
    };
    Some((caller, until))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ApiKeyRow {
        ApiKeyRow {
            id: "key_1".into(),
            key_hash: "new".into(),
            account_id: Some("acct_1".into()),
            name: None,
            created_at: 0,
            prefix: None,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
            previous_key_hash: Some("old".into()),
            previous_prefix: None,
            previous_expires_at: Some(100),
            revision: 1,
        }
    }

    fn account() -> Caller {
        Caller::Account {
            key_id: "key_1".into(),
            account_id: "acct_1".into(),
        }
    }

    #[test]
    fn the_previous_secret_holds_until_its_grace_ends() {
        let k = key();
        assert_eq!(holder(&k, "new", 500), Some((account(), None)));
        assert_eq!(holder(&k, "old", 99), Some((account(), Some(100))));
        assert_eq!(holder(&k, "old", 100), None);
        assert_eq!(holder(&k, "other", 0), None);
    }

    #[test]
    fn a_key_ends_at_its_expiry_or_revocation() {
        let mut k = key();
        k.expires_at = Some(50);
        assert_eq!(holder(&k, "new", 49), Some((account(), Some(50))));
        assert_eq!(holder(&k, "old", 49), Some((account(), Some(50))));
        assert_eq!(holder(&k, "new", 50), None);
        k.expires_at = None;
        k.revoked_at = Some(10);
        assert_eq!(holder(&k, "new", 11), None);
        assert_eq!(holder(&k, "old", 11), None);
        k.revoked_at = None;
        k.account_id = None;
        let op = Caller::Operator {
            key_id: "key_1".into(),
        };
        assert_eq!(holder(&k, "new", 0), Some((op, None)));
    }
}
