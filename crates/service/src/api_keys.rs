//! API keys as objects: made (the operator's first key at first start, an account's
//! by the operator), listed, revoked and rotated. The secret is shown once, when made
//! or rotated; afterwards only its prefix. An account key manages the keys of its own
//! tree; the others, and the operator's, are unknown to it (404).

use crate::accounts::{Caller, hash_key, new_secret};
use crate::api_objects::{Page, rfc3339};
use crate::{Idem, Refill, Result, ServiceError, idempotency};
use refill_store::{ApiKeyRow, KeyRotation, Tx};
use serde::{Deserialize, Serialize};

/// The grace of a rotation that names none, in seconds: a day, so that a secret
/// deployed on several machines can be replaced on all of them in a working day with
/// no request refused meanwhile. A leaked secret is rotated with `grace: 0` (or its
/// key revoked).
pub const DEFAULT_GRACE_S: i64 = 86_400;
/// The longest grace, in seconds (a week): a rotation whose old secret lives on for
/// months is no rotation.
pub const MAX_GRACE_S: i64 = 7 * 86_400;
/// The longest `expires_in` of a new key, in seconds (ten years).
const MAX_EXPIRES_IN_S: i64 = 10 * 365 * 86_400;

/// `POST /v1/accounts/{id}/keys`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    pub name: Option<String>,
    /// Seconds from now until the key stops working (none: it never expires).
    #[schemars(range(min = 1))]
    pub expires_in: Option<i64>,
}

/// `POST /v1/keys/{id}/rotate`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// Seconds the replaced secret keeps working (default DEFAULT_GRACE_S).
    #[schemars(range(min = 0, max = 604_800))]
    pub grace: Option<i64>,
}

/// An API key as the API shows it. `secret` only in the answer that made it.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub object: &'static str,
    pub name: Option<String>,
    /// None: an operator key.
    pub account_id: Option<String>,
    pub prefix: Option<String>,
    pub created: String,
    pub last_used: Option<String>,
    pub expires: Option<String>,
    /// While a rotation's grace runs: the replaced secret's prefix and end.
    pub previous_prefix: Option<String>,
    pub previous_expires: Option<String>,
    pub revoked: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The secret again, under the name the first answer of key creation used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl ApiKeyView {
    pub fn of(k: &ApiKeyRow, now: i64) -> ApiKeyView {
        let in_grace = k.previous_expires_at.filter(|&end| now < end);
        ApiKeyView {
            id: k.id.clone(),
            object: "api_key",
            name: k.name.clone(),
            account_id: k.account_id.clone(),
            prefix: k.prefix.clone(),
            created: rfc3339(k.created_at),
            last_used: k.last_used_at.map(rfc3339),
            expires: k.expires_at.map(rfc3339),
            previous_prefix: in_grace.and(k.previous_prefix.clone()),
            previous_expires: in_grace.map(rfc3339),
            revoked: k.revoked_at.map(rfc3339),
            secret: None,
            key: None,
        }
    }

    fn with_secret(mut self, secret: &str) -> ApiKeyView {
        self.secret = Some(secret.to_string());
        self
    }
}

/// How a secret is shown after it was given: its kind and the first 8 characters of
/// its random part (`rk_acct_1a2b3c4d`). None for a short secret set by hand
/// (`REFILL_BOOTSTRAP_KEY`): 8 characters would give much of it away.
pub fn secret_prefix(secret: &str) -> Option<String> {
    let (kind, random) = secret.rsplit_once('_')?;
    (random.chars().count() >= 32)
        .then(|| format!("{kind}_{}", random.chars().take(8).collect::<String>()))
}

impl Refill {
    /// First start: creates the operator key (or takes `preset`) if there is none.
    /// Returns the new key, to print once; None when one existed (a preset key that
    /// was revoked or rotated away stays so).
    pub async fn bootstrap_operator_key(&self, preset: Option<&str>) -> Result<Option<String>> {
        let mut tx = self.db.begin().await?;
        if let Some(key) = preset {
            if refill_store::find_api_key(&mut *tx, &hash_key(key))
                .await?
                .is_some()
            {
                return Ok(None);
            }
        } else if refill_store::count_operator_keys(&mut tx).await? > 0 {
            return Ok(None);
        }
        let key = preset
            .map(str::to_string)
            .unwrap_or_else(|| new_secret("rk_op"));
        let row = self.key_row(&key, None, Some("operator".into()), None);
        match refill_store::insert_api_key(&mut tx, &row).await {
            // Several nodes starting at once with the same preset key: one wins.
            Err(e) if e.is_unique_violation() => return Ok(None),
            other => other?,
        }
        match tx.commit().await.map_err(refill_store::StoreError::Db) {
            Err(e) if e.is_unique_violation() => Ok(None),
            Err(e) => Err(e.into()),
            Ok(()) => Ok(Some(key)),
        }
    }

    /// An API key for one account and its sub-accounts (operator only). The answer
    /// carries the secret; a replay of its Idempotency-Key answers without it (the
    /// secret is never stored).
    pub async fn create_account_key(
        &self,
        caller: &Caller,
        account_id: &str,
        req: NewApiKey,
        idem: Option<&Idem>,
    ) -> Result<ApiKeyView> {
        // An account the caller cannot see is not found, as an unknown one (R4).
        self.account(caller, account_id).await?;
        if !caller.is_operator() {
            return Err(ServiceError::Forbidden("API keys".into()));
        }
        check_new_key(&req)?;
        let now = self.now();
        let secret = new_secret("rk_acct");
        let expires_at = req.expires_in.map(|s| now + s * 1000);
        let row = self.key_row(&secret, Some(account_id), req.name, expires_at);
        let view = ApiKeyView::of(&row, now);
        let mut tx = self.db.begin().await?;
        refill_store::insert_api_key(&mut tx, &row).await?;
        idempotency::remember(&mut tx, idem, 201, &view, now).await?;
        tx.commit().await?;
        let mut shown = view.with_secret(&secret);
        shown.key = Some(secret);
        Ok(shown)
    }

    fn key_row(
        &self,
        secret: &str,
        account_id: Option<&str>,
        name: Option<String>,
        expires_at: Option<i64>,
    ) -> ApiKeyRow {
        ApiKeyRow {
            id: refill_store::new_id("key"),
            key_hash: hash_key(secret),
            account_id: account_id.map(str::to_string),
            name,
            created_at: self.now(),
            prefix: secret_prefix(secret),
            expires_at,
            last_used_at: None,
            revoked_at: None,
            previous_key_hash: None,
            previous_prefix: None,
            previous_expires_at: None,
            revision: 0,
        }
    }

    /// The keys the caller manages: all (operator), or those of its tree.
    pub async fn list_keys(
        &self,
        caller: &Caller,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<ApiKeyView>> {
        let rows =
            refill_store::list_api_keys(&self.db.pool, caller.root(), after, limit + 1).await?;
        let now = self.now();
        Ok(Page::from_rows(rows, limit, |k| ApiKeyView::of(k, now)))
    }

    /// Revokes a key: both its secrets stop at once here, and on the other nodes
    /// within KEY_CHANGES_BOUND_MS (caches.rs). The last operator key is kept.
    pub async fn revoke_key(&self, caller: &Caller, id: &str) -> Result<ApiKeyView> {
        let row = self.managed_key(caller, id).await?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let revision = refill_store::next_key_revision(&mut tx).await?;
        if row.account_id.is_none() && refill_store::count_operator_keys(&mut tx).await? <= 1 {
            return Err(ServiceError::conflict(
                "last_operator_key",
                "this is the last operator key: make or keep another before revoking it",
            ));
        }
        if !refill_store::revoke_api_key(&mut tx, id, now, revision).await? {
            return Err(ServiceError::not_found("key", id));
        }
        tx.commit().await?;
        self.caches.forget_key(id);
        let revoked = ApiKeyRow {
            revoked_at: Some(now),
            revision,
            ..row
        };
        Ok(ApiKeyView::of(&revoked, now))
    }

    /// Gives a key a new secret; the one it replaces keeps working for the grace
    /// (`req.grace` seconds, default DEFAULT_GRACE_S), and the one before that stops.
    /// A replay of its Idempotency-Key answers without the secret and rotates nothing.
    pub async fn rotate_key(
        &self,
        caller: &Caller,
        id: &str,
        req: Rotation,
        idem: Option<&Idem>,
    ) -> Result<ApiKeyView> {
        let grace = req.grace.unwrap_or(DEFAULT_GRACE_S);
        if !(0..=MAX_GRACE_S).contains(&grace) {
            return Err(ServiceError::invalid(
                "invalid_grace",
                format!("grace is 0 to {MAX_GRACE_S} seconds"),
            ));
        }
        let kind = match self.managed_key(caller, id).await?.account_id {
            Some(_) => "rk_acct",
            None => "rk_op",
        };
        let now = self.now();
        let secret = new_secret(kind);
        let mut tx = self.db.begin().await?;
        let rotation = KeyRotation {
            id: id.to_string(),
            key_hash: hash_key(&secret),
            prefix: secret_prefix(&secret),
            previous_expires_at: now + grace * 1000,
            revision: refill_store::next_key_revision(&mut tx).await?,
        };
        let view = rotate_in(&mut tx, &rotation, now).await?;
        idempotency::remember(&mut tx, idem, 200, &view, now).await?;
        tx.commit().await?;
        self.caches.forget_key(id);
        Ok(view.with_secret(&secret))
    }

    /// A key the caller may manage, not revoked; else not found (a key outside its
    /// tree, or the operator's, is not revealed to an account key).
    async fn managed_key(&self, caller: &Caller, id: &str) -> Result<ApiKeyRow> {
        let not_found = || ServiceError::not_found("key", id);
        let row = refill_store::get_live_api_key(&self.db.pool, id)
            .await?
            .ok_or_else(not_found)?;
        if caller.is_operator() {
            return Ok(row);
        }
        let Some(account_id) = &row.account_id else {
            return Err(not_found());
        };
        match self.check_account_access(caller, account_id).await {
            Ok(()) => Ok(row),
            Err(ServiceError::Forbidden(_) | ServiceError::NotFound { .. }) => Err(not_found()),
            Err(e) => Err(e),
        }
    }
}

/// Applies `rotation` in `tx` (which holds the revision: no other change meanwhile);
/// the key as it is then.
async fn rotate_in(tx: &mut Tx, rotation: &KeyRotation, now: i64) -> Result<ApiKeyView> {
    let not_found = || ServiceError::not_found("key", &rotation.id);
    let row = refill_store::get_live_api_key(&mut *tx, &rotation.id)
        .await?
        .ok_or_else(not_found)?;
    if !refill_store::rotate_api_key(tx, rotation).await? {
        return Err(not_found());
    }
    let rotated = ApiKeyRow {
        previous_key_hash: Some(row.key_hash.clone()),
        previous_prefix: row.prefix.clone(),
        previous_expires_at: Some(rotation.previous_expires_at),
        key_hash: rotation.key_hash.clone(),
        prefix: rotation.prefix.clone(),
        revision: rotation.revision,
        ..row
    };
    Ok(ApiKeyView::of(&rotated, now))
}

fn check_new_key(req: &NewApiKey) -> Result<()> {
    if let Some(name) = &req.name
        && (name.trim().is_empty() || name.chars().count() > 200)
    {
        return Err(ServiceError::invalid(
            "invalid_name",
            "name must be 1 to 200 characters",
        ));
    }
    if req
        .expires_in
        .is_some_and(|s| !(1..=MAX_EXPIRES_IN_S).contains(&s))
    {
        return Err(ServiceError::invalid(
            "invalid_expires_in",
            format!("expires_in is 1 to {MAX_EXPIRES_IN_S} seconds"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_shown_by_its_kind_and_first_8_random_characters() {
        let secret = new_secret("rk_acct");
        let prefix = secret_prefix(&secret).expect("a prefix");
        assert_eq!(prefix.len(), "rk_acct_".len() + 8);
        assert!(secret.starts_with(&prefix));
        // A short secret set by hand shows nothing of itself.
        assert_eq!(secret_prefix("rk_test_operator"), None);
        assert_eq!(secret_prefix("nounderscore"), None);
    }

    #[test]
    fn a_new_key_name_and_expiry_are_checked() {
        let ok = NewApiKey {
            name: Some("ci".into()),
            expires_in: Some(60),
        };
        assert!(check_new_key(&ok).is_ok());
        assert!(check_new_key(&NewApiKey::default()).is_ok());
        for bad in [
            NewApiKey {
                name: Some(" ".into()),
                ..NewApiKey::default()
            },
            NewApiKey {
                expires_in: Some(0),
                ..NewApiKey::default()
            },
            NewApiKey {
                expires_in: Some(MAX_EXPIRES_IN_S + 1),
                ..NewApiKey::default()
            },
        ] {
            assert!(matches!(
                check_new_key(&bad),
                Err(ServiceError::Invalid { .. })
            ));
        }
    }
}
