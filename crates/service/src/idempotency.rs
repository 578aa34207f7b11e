//! Idempotency-Key on every POST: the stored response is written in the same
//! transaction as the change it answers, so a replay after a crash can never apply a
//! change twice.

use crate::{Result, ServiceError};
use refill_store::{StoredResponse, Tx};
use serde::Serialize;

/// A caller's idempotency key: scoped to the API key, with a hash of the request so
/// that the same key with another body is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idem {
    pub scope: String,
    pub key: String,
    pub request_hash: String,
}

impl Idem {
    /// The key as one string, for rows that remember which request made them.
    pub fn request_key(&self) -> String {
        format!("{}:{}", self.scope, self.key)
    }
}

/// What is kept under `idem`: `value` as the response, with the request's hash.
pub fn response<T: Serialize>(idem: &Idem, status: u16, value: &T) -> Result<StoredResponse> {
    Ok(StoredResponse {
        request_hash: idem.request_hash.clone(),
        status,
        body: serde_json::to_string(value)
            .map_err(|e| ServiceError::invalid("internal", e.to_string()))?,
    })
}

/// Stores `value` as the response to `idem` inside `tx`. Fails with
/// `IdempotentReplay` when a concurrent request with the same key got there first;
/// the caller must then roll back and replay the stored response.
pub async fn remember<T: Serialize>(
    tx: &mut Tx,
    idem: Option<&Idem>,
    status: u16,
    value: &T,
    now: i64,
) -> Result<()> {
    let Some(idem) = idem else { return Ok(()) };
    let resp = response(idem, status, value)?;
    if refill_store::put_idempotent(tx, &idem.scope, &idem.key, &resp, now).await? {
        Ok(())
    } else {
        Err(ServiceError::IdempotentReplay)
    }
}
