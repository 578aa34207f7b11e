//! Who is calling: the API key of `Authorization: Bearer <key>`, checked against the
//! stored (hashed) keys. Every authenticated route takes a `Caller`.

use super::Api;
use super::problem::ApiError;
use axum::extract::FromRequestParts;
use axum::http::{StatusCode, header, request::Parts};
use refill_service::accounts::Caller;
use std::sync::atomic::Ordering;

impl FromRequestParts<Api> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Caller, ApiError> {
        api.metrics.requests.fetch_add(1, Ordering::Relaxed);
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let key = value.and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
        let Some(key) = key.filter(|k| !k.is_empty()) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_api_key",
                "send your API key as Authorization: Bearer <key>",
            ));
        };
        api.app
            .authenticate(key)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_api_key",
                    "the API key is not valid",
                )
            })
    }
}
