//! List queries: `?limit=` (default 50, 1 to 500) and `?starting_after=<id>`, plus the
//! events' filters (`account_id`, `type`, `include`) and the refunds' (`status`); an
//! unknown parameter is refused, and so is a cursor that is not an item of the list.

use super::Api;
use super::problem::ApiError;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use refill_service::ServiceError;
use refill_service::accounts::Caller;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub(super) limit: Option<i64>,
    pub(super) starting_after: Option<String>,
    pub(super) account_id: Option<String>,
    #[serde(rename = "type")]
    pub(super) event_type: Option<String>,
    pub(super) include: Option<Include>,
    /// Refunds by status (R31: `requested` is the approval queue).
    pub(super) status: Option<String>,
}

/// What a list of one account's items adds to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Include {
    /// The items of its sub-accounts too.
    SubAccounts,
}

/// A list route's query, as axum parsed it (the refusal is ours to word).
pub(super) type Q = Result<Query<ListQuery>, QueryRejection>;

/// The query and its limit, checked.
pub(super) fn list_params(q: &Q) -> Result<(&ListQuery, i64), ApiError> {
    let q = q
        .as_ref()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_limit",
            "limit must be between 1 and 500",
        ));
    }
    Ok((&q.0, limit))
}

/// The list a cursor pages through: a cursor must be an item of it that the caller
/// may see, else it is refused (400 invalid_cursor) instead of read as "from the
/// start" (the store's queries take an unknown id as no cursor).
pub(super) enum Listing<'a> {
    Accounts,
    Entries(&'a str),
    TopUps(&'a str),
    Resources(&'a str),
    /// Of the tree of this account, or all (the operator).
    Events(Option<&'a str>),
    /// R31: any refund the caller may see.
    Refunds,
}

pub(super) async fn check_cursor(
    api: &Api,
    caller: &Caller,
    listing: Listing<'_>,
    cursor: Option<&str>,
) -> Result<(), ApiError> {
    let Some(cursor) = cursor else {
        return Ok(());
    };
    let (app, pool) = (&api.app, &api.app.db.pool);
    let store = |e| ApiError::from(ServiceError::Store(e));
    let owner: Option<String> = match listing {
        Listing::Accounts => visible(api, caller, cursor).await?.map(|a| a.id),
        Listing::Refunds => match refill_store::get_refund(pool, cursor)
            .await
            .map_err(store)?
        {
            Some(r) => visible(api, caller, &r.account_id).await?.map(|a| a.id),
            None => None,
        },
        Listing::Entries(account) => {
            app.check_account_access(caller, account).await?;
            entry_account(api, cursor).await?.filter(|a| a == account)
        }
        Listing::TopUps(account) => {
            app.check_account_access(caller, account).await?;
            let t = refill_store::get_top_up(pool, cursor)
                .await
                .map_err(store)?;
            t.map(|t| t.account_id).filter(|a| a == account)
        }
        Listing::Resources(account) => {
            app.check_account_access(caller, account).await?;
            let r = refill_store::get_resource(pool, cursor)
                .await
                .map_err(store)?;
            r.map(|r| r.account_id).filter(|a| a == account)
        }
        Listing::Events(root) => {
            match refill_store::get_event(pool, cursor).await.map_err(store)? {
                Some(e) => visible(api, caller, &e.account_id)
                    .await?
                    .filter(|a| root.is_none_or(|r| a.id == r || a.parent_id.as_deref() == Some(r)))
                    .map(|a| a.id),
                None => None,
            }
        }
    };
    match owner {
        Some(_) => Ok(()),
        None => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
            "starting_after is not an item of this list: page with the id of the last item received",
        )),
    }
}

/// The account, if it exists and the caller may see it.
async fn visible(
    api: &Api,
    caller: &Caller,
    id: &str,
) -> Result<Option<refill_store::AccountRow>, ApiError> {
    match api.app.account(caller, id).await {
        Ok(a) => Ok(Some(a)),
        Err(ServiceError::NotFound { .. } | ServiceError::Forbidden(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The account of a ledger entry, if there is one of this id.
async fn entry_account(api: &Api, id: &str) -> Result<Option<String>, ApiError> {
    use refill_store::sqlx::Row;
    let row = refill_store::sqlx::query("SELECT account_id FROM entries WHERE id = $1")
        .bind(id)
        .fetch_optional(&api.app.db.pool)
        .await
        .map_err(ServiceError::from)?;
    Ok(row
        .map(|r| r.try_get("account_id"))
        .transpose()
        .map_err(ServiceError::from)?)
}
