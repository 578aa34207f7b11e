//! List queries: `?limit=` (default 50, 1 to 500) and `?starting_after=<id>`, plus the
//! events' and refunds' filters; an unknown parameter is refused.

use super::problem::ApiError;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub(super) limit: Option<i64>,
    pub(super) starting_after: Option<String>,
    pub(super) account_id: Option<String>,
    #[serde(rename = "type")]
    pub(super) event_type: Option<String>,
    /// Refunds by status (R31: `requested` is the approval queue).
    pub(super) status: Option<String>,
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
