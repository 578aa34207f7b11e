//! Prices before paying: the estimate of planned usage (R7) and the checkout summary
//! of a top-up, with its tax (R9).

use super::body::{currency, parse, read_body};
use super::{Api, ApiResult, ok};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::routing::post;
use refill_service::ServiceError;
use refill_service::accounts::Caller;
use serde::{Deserialize, Serialize};

pub(super) fn routes() -> Router<Api> {
    Router::new()
        .route("/v1/accounts/{id}/estimate", post(estimate))
        .route("/v1/accounts/{id}/checkout", post(checkout))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EstimateBody {
    items: Vec<EstimateItem>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EstimateItem {
    quantity: i64,
    /// Price per unit in minor units (the rate card).
    unit_price: i64,
    description: Option<String>,
}

/// A line of an estimate, as it was asked for.
#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct EstimateLine {
    quantity: i64,
    unit_price: i64,
    description: Option<String>,
}

/// R7: the price of planned usage and what it leaves.
#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct EstimateView {
    object: &'static str,
    account_id: String,
    currency: String,
    items: Vec<EstimateLine>,
    cost: i64,
    balance: i64,
    balance_after: i64,
    sufficient: bool,
    top_up_needed: i64,
}

/// R9: what a top-up of `amount` costs, with its tax.
#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct CheckoutView {
    object: &'static str,
    account_id: String,
    currency: String,
    amount: i64,
    tax_rate_bps: u32,
    tax: i64,
    charge_rounding: i64,
    total: i64,
}

/// R7: the price of planned usage, the balance it would leave, the top-up it needs.
async fn estimate(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (_, body) = read_body(&api, req).await?;
    let b: EstimateBody = parse(&body)?;
    let lines: Vec<(i64, i64)> = b.items.iter().map(|i| (i.quantity, i.unit_price)).collect();
    let (account, est) = api.app.estimate(&caller, &id, &lines).await?;
    ok(EstimateView {
        object: "estimate",
        account_id: id,
        currency: account.currency,
        items: b
            .items
            .into_iter()
            .map(|i| EstimateLine {
                quantity: i.quantity,
                unit_price: i.unit_price,
                description: i.description,
            })
            .collect(),
        cost: est.cost,
        balance: account.balance,
        balance_after: est.balance_after,
        sufficient: est.top_up_needed == 0,
        top_up_needed: est.top_up_needed,
    })
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckoutBody {
    #[schemars(range(min = 1))]
    amount: i64,
    currency: Option<String>,
}

async fn checkout(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (_, body) = read_body(&api, req).await?;
    let b: CheckoutBody = parse(&body)?;
    let account = api.app.account(&caller, &id).await?;
    let given = currency(&b.currency)?;
    refill_domain::accounts::check_currency(&account.currency, given.map(|c| c.code()))
        .map_err(ServiceError::Domain)?;
    let s = api.app.checkout(&caller, &id, b.amount).await?;
    ok(CheckoutView {
        object: "checkout",
        account_id: id,
        currency: account.currency,
        amount: s.amount,
        tax_rate_bps: s.tax_rate_bps,
        tax: s.tax,
        charge_rounding: s.charge_rounding,
        total: s.total,
    })
}
