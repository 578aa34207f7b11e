//! Add balance: the amount (the minimum named) and a price estimator (R7); the
//! checkout summary with tax (R9); paying with a saved card, once however often the
//! form is sent (its idempotency key); the confirmation and a printable receipt
//! with the transaction id (R10); 3-D Secure when the bank asks (R23).

use super::html::{esc, field_error, invalid_attrs, page, when};
use super::session::{Form, Visitor, read_form};
use super::{PageError, Portal, money};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use refill_service::Idem;
use refill_service::top_ups::NewTopUp;
use sha2::{Digest, Sha256};
use std::fmt::Write;

pub(super) fn routes() -> Router<Portal> {
    Router::new()
        .route("/portal/a/{id}/add-balance", get(show))
        .route("/portal/a/{id}/add-balance/estimate", post(estimate))
        .route("/portal/a/{id}/add-balance/summary", post(summary))
        .route("/portal/a/{id}/add-balance/pay", post(pay))
        .route("/portal/a/{id}/receipts/{top_up}", get(receipt))
        .route("/portal/a/{id}/receipts/{top_up}/confirm", post(confirm))
}

/// What the amount page shows besides its form: an error, an estimate.
#[derive(Default)]
struct Shown {
    amount: String,
    amount_error: Option<String>,
    estimate: String,
    estimate_error: Option<String>,
    quantity: String,
    unit_price: String,
}

async fn show(
    State(p): State<Portal>,
    v: Visitor,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    amount_page(&p, &v, &id, Shown::default()).await
}

async fn amount_page(p: &Portal, v: &Visitor, id: &str, s: Shown) -> Result<Response, PageError> {
    let account = p.app.account(&v.session.caller, id).await?;
    let cur = account.currency.as_str();
    let m = |a: i64| money::format(a, cur, &v.session.locale);
    let currency =
        refill_domain::Currency::parse(cur).map_err(refill_service::ServiceError::from)?;
    let minimum = p.app.config.minimum_top_up(currency).amount;
    let ae = s.amount_error.as_deref();
    let ee = s.estimate_error.as_deref();
    let body = format!(
        "<div class=\"grid\"><form class=\"card\" method=\"post\" action=\"/portal/a/{eid}/add-balance/summary\" novalidate>{csrf}\
         <h2>How much</h2><p>Your balance is <strong>{}</strong>.</p>\
         <label for=\"amount\">Amount to add ({cur})</label><p class=\"hint\" id=\"amount-hint\">The minimum is {}. Tax is added on the next step.</p>\
         <input type=\"text\" inputmode=\"decimal\" id=\"amount\" name=\"amount\" value=\"{}\"{} autocomplete=\"off\">{}\
         <button type=\"submit\">Continue to summary</button></form>\
         <form class=\"card\" method=\"post\" action=\"/portal/a/{eid}/add-balance/estimate\" novalidate>{csrf}\
         <h2>Price estimator</h2><p class=\"hint\">What planned usage costs, and whether your balance covers it.</p>\
         <label for=\"quantity\">How many (messages, minutes...)</label><input type=\"text\" inputmode=\"numeric\" id=\"quantity\" name=\"quantity\" value=\"{}\">\
         <label for=\"unit_price\">Price of one ({cur})</label><input type=\"text\" inputmode=\"decimal\" id=\"unit_price\" name=\"unit_price\" value=\"{}\"{}>{}\
         <button type=\"submit\" class=\"secondary\">Estimate</button>{}</form></div>",
        m(account.balance),
        m(minimum),
        esc(&s.amount),
        invalid_attrs("amount", ae),
        field_error("amount", ae),
        esc(&s.quantity),
        esc(&s.unit_price),
        invalid_attrs("unit_price", ee),
        field_error("unit_price", ee),
        s.estimate,
        eid = esc(id),
        csrf = v.csrf_field(),
    );
    let status = if ae.is_some() || ee.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, page(p, v, id, "/add-balance", "Add balance", &body)).into_response())
}

async fn estimate(
    State(p): State<Portal>,
    v: Visitor,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let f = read_form(&p, &v, req).await?;
    let account = p.app.account(&v.session.caller, &id).await?;
    let cur = account.currency.as_str();
    let m = |a: i64| money::format(a, cur, &v.session.locale);
    let mut shown = Shown {
        quantity: f.text("quantity").into(),
        unit_price: f.text("unit_price").into(),
        ..Default::default()
    };
    let quantity = f.text("quantity").parse::<i64>().ok().filter(|q| *q > 0);
    let price = money::parse(f.text("unit_price"), cur);
    let (Some(quantity), Ok(price)) = (quantity, price.clone()) else {
        shown.estimate_error = Some(match price {
            Err(e) => e.words(cur),
            Ok(_) => "Enter how many as a whole number above 0.".into(),
        });
        return amount_page(&p, &v, &id, shown).await;
    };
    match p
        .app
        .estimate(&v.session.caller, &id, &[(quantity, price)])
        .await
    {
        Ok((_, est)) => {
            let need = match est.top_up_needed {
                0 => "Your balance covers it.".to_string(),
                n => format!("Add at least <strong>{}</strong> first.", m(n)),
            };
            shown.estimate = format!(
                "<dl class=\"facts\" role=\"status\" data-testid=\"estimate\"><dt>Cost</dt><dd>{}</dd><dt>Balance after</dt><dd>{}</dd></dl><p>{need}</p>",
                m(est.cost),
                m(est.balance_after)
            );
            if est.top_up_needed > 0 {
                shown.amount = money::plain(est.top_up_needed, cur);
            }
        }
        Err(e) => shown.estimate_error = Some(PageError::from(e).message),
    }
    amount_page(&p, &v, &id, shown).await
}

/// R9: the checkout summary of the amount typed: amount, tax, total; then pay.
async fn summary(
    State(p): State<Portal>,
    v: Visitor,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let f = read_form(&p, &v, req).await?;
    let account = p.app.account(&v.session.caller, &id).await?;
    let cur = account.currency.as_str();
    let refused = |message: String| Shown {
        amount: f.text("amount").into(),
        amount_error: Some(message),
        ..Default::default()
    };
    let amount = match money::parse(f.text("amount"), cur) {
        Ok(a) => a,
        Err(e) => return amount_page(&p, &v, &id, refused(e.words(cur))).await,
    };
    match p.app.checkout(&v.session.caller, &id, amount).await {
        Ok(_) => summary_page(&p, &v, &id, amount, None).await,
        Err(e) => amount_page(&p, &v, &id, refused(PageError::from(e).message)).await,
    }
}

async fn summary_page(
    p: &Portal,
    v: &Visitor,
    id: &str,
    amount: i64,
    error: Option<String>,
) -> Result<Response, PageError> {
    let c = &v.session.caller;
    let account = p.app.account(c, id).await?;
    let s = p.app.checkout(c, id, amount).await?;
    let cards = p.app.payment_methods(c, id).await?;
    let cur = account.currency.as_str();
    let m = |a: i64| money::format(a, cur, &v.session.locale);
    let mut options = String::new();
    for pm in cards.iter().filter(|pm| pm.saved) {
        let sel = if pm.primary { " selected" } else { "" };
        let _ = write!(
            options,
            "<option value=\"{}\"{sel}>{} ending {}</option>",
            esc(&pm.id),
            esc(&pm.brand),
            esc(&pm.last4)
        );
    }
    let pay = if options.is_empty() {
        format!(
            "<p>You have no saved card. <a href=\"/portal/a/{}/cards\">Add a card</a>, then come back.</p>",
            esc(id)
        )
    } else {
        format!(
            "<form method=\"post\" action=\"/portal/a/{}/add-balance/pay\">{}<input type=\"hidden\" name=\"amount\" value=\"{amount}\">\
             <input type=\"hidden\" name=\"request\" value=\"{}\"><label for=\"payment_method\">Pay with</label>\
             <select id=\"payment_method\" name=\"payment_method\"{}>{options}</select>{}<button type=\"submit\">Pay {}</button></form>",
            esc(id),
            v.csrf_field(),
            refill_store::new_id("req"),
            invalid_attrs("payment_method", error.as_deref()),
            field_error("payment_method", error.as_deref()),
            m(s.total)
        )
    };
    let rounding = match s.charge_rounding {
        0 => String::new(),
        r => format!("<dt>Rounding</dt><dd>{}</dd>", m(r)),
    };
    let body = format!(
        "<section class=\"card\" aria-labelledby=\"sum-h\"><h2 id=\"sum-h\">Checkout summary</h2><dl class=\"facts\" data-testid=\"summary\">\
         <dt>Added to your balance</dt><dd>{}</dd><dt>Tax ({}%)</dt><dd>{}</dd>{rounding}<dt>Total charged</dt><dd><strong>{}</strong></dd></dl>{pay}\
         <p><a href=\"/portal/a/{}/add-balance\">Change the amount</a></p></section>",
        m(s.amount),
        format_rate(s.tax_rate_bps),
        m(s.tax),
        m(s.total),
        esc(id)
    );
    let status = if error.is_some() {
        StatusCode::PAYMENT_REQUIRED
    } else {
        StatusCode::OK
    };
    Ok((status, page(p, v, id, "/add-balance", "Add balance", &body)).into_response())
}

fn format_rate(bps: u32) -> String {
    match bps % 100 {
        0 => (bps / 100).to_string(),
        r => format!("{}.{r:02}", bps / 100),
    }
}

/// The form's request id as an idempotency key: sending it twice pays once.
fn idem_of(v: &Visitor, id: &str, f: &Form) -> Option<Idem> {
    let key = f.opt("request")?.to_string();
    let hash = Sha256::digest(format!("{}|{}", f.text("amount"), f.text("payment_method")));
    Some(Idem {
        scope: format!("portal {} top-ups {id}", v.session.id),
        key,
        request_hash: hex::encode(hash),
    })
}

async fn pay(
    State(p): State<Portal>,
    v: Visitor,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let f = read_form(&p, &v, req).await?;
    let amount = f.text("amount").parse::<i64>().map_err(|_| {
        PageError::new(
            StatusCode::BAD_REQUEST,
            "invalid_amount",
            "The amount was not understood: start again from Add balance.",
        )
        .in_portal(&p)
    })?;
    let new = NewTopUp {
        amount,
        currency: None,
        payment_method: f.opt("payment_method").map(str::to_string),
    };
    let idem = idem_of(&v, &id, &f);
    match p
        .app
        .top_up(&v.session.caller, &id, new, idem.as_ref())
        .await
    {
        Ok(t) => Ok(Redirect::to(&format!("/portal/a/{id}/receipts/{}", t.id)).into_response()),
        Err(refill_service::ServiceError::AuthenticationRequired { top_up_id, .. }) => {
            Ok(Redirect::to(&format!("/portal/a/{id}/receipts/{top_up_id}")).into_response())
        }
        Err(e) => {
            let e = PageError::from(e);
            if e.status == StatusCode::NOT_FOUND {
                return Err(e.in_portal(&p));
            }
            summary_page(&p, &v, &id, amount, Some(e.message)).await
        }
    }
}

/// R10: the receipt; or, while the bank asks for 3-D Secure, the step to confirm.
async fn receipt(
    State(p): State<Portal>,
    v: Visitor,
    Path((id, top_up)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let t = p.app.get_top_up(&v.session.caller, &top_up).await?;
    if t.account_id != id {
        return Err(PageError::not_found().in_portal(&p));
    }
    let m = |a: i64| money::format(a, &t.currency, &v.session.locale);
    let status = match t.status.as_str() {
        "succeeded" => "<p class=\"notice\" role=\"status\">Payment received. Your balance has been topped up.</p>".to_string(),
        "pending" => "<p class=\"notice\" role=\"status\">Your bank is still processing the payment; the amount is already on your balance.</p>".into(),
        "requires_action" => format!(
            "<form method=\"post\" action=\"/portal/a/{}/receipts/{}/confirm\" class=\"card\">{}<p>Your bank asks you to confirm this payment (3-D Secure). In the sandbox, confirming here stands for the bank's page.</p><button type=\"submit\">Confirm with my bank</button></form>",
            esc(&id), esc(&t.id), v.csrf_field()
        ),
        other => format!("<p class=\"error\" role=\"alert\">This payment {}: {}</p>", esc(other), esc(t.failure_message.as_deref().unwrap_or(""))),
    };
    let card = t.payment_method.as_ref().map_or("—".to_string(), |c| {
        format!("{} ending {}", esc(&c.brand), esc(&c.last4))
    });
    let account = p.app.account(&v.session.caller, &id).await?;
    let body = format!(
        "{status}<section class=\"card receipt\" aria-labelledby=\"r-h\"><h2 id=\"r-h\">Receipt</h2><dl class=\"facts\" data-testid=\"receipt\">\
         <dt>From</dt><dd>{}</dd><dt>For</dt><dd>{} ({})</dd><dt>Date</dt><dd>{}</dd><dt>Transaction id</dt><dd data-testid=\"transaction-id\">{}</dd>\
         <dt>Receipt number</dt><dd>{}</dd><dt>Added to balance</dt><dd>{}</dd><dt>Tax</dt><dd>{}</dd><dt>Total charged</dt><dd><strong>{}</strong></dd>\
         <dt>Card</dt><dd>{card}</dd><dt>Status</dt><dd>{}</dd></dl>\
         <p class=\"no-print\"><button type=\"button\" data-print class=\"secondary\">Print receipt</button> <a href=\"/portal/a/{}\">Back to overview</a></p></section>",
        esc(&p.settings.operator_name),
        esc(&account.name),
        esc(&account.id),
        when(t.completed.as_deref().unwrap_or(&t.created)),
        esc(t.transaction_id.as_deref().unwrap_or("—")),
        esc(&t.id),
        m(t.amount),
        m(t.tax),
        m(t.total),
        esc(&t.status),
        esc(&id),
    );
    Ok(page(
        &p,
        &v,
        &id,
        "/add-balance",
        "Payment confirmation",
        &body,
    ))
}

/// R23: the customer confirmed the payment with the bank.
async fn confirm(
    State(p): State<Portal>,
    v: Visitor,
    Path((id, top_up)): Path<(String, String)>,
    req: Request,
) -> Result<Response, PageError> {
    read_form(&p, &v, req).await?;
    let t = p.app.get_top_up(&v.session.caller, &top_up).await?;
    if t.account_id != id {
        return Err(PageError::not_found().in_portal(&p));
    }
    p.app
        .confirm_top_up(&v.session.caller, &top_up)
        .await
        .map_err(|e| PageError::from(e).in_portal(&p))?;
    Ok(Redirect::to(&format!("/portal/a/{id}/receipts/{top_up}")).into_response())
}
