//! Cards (R5): the saved ones, made primary or removed; a new one added. With the
//! sandbox gateway, a picker of its test cards stands for the card form; with
//! Stripe, cards are added through the API (Stripe Elements on this page is not
//! built: docs/decisions, customer page).

use super::html::{esc, field_error, notice, page};
use super::session::{Visitor, read_form};
use super::{PageError, Portal};
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use refill_service::top_ups::NewPaymentMethod;
use std::collections::HashMap;
use std::fmt::Write;

pub(super) fn routes() -> Router<Portal> {
    Router::new()
        .route("/portal/a/{id}/cards", get(show).post(add))
        .route("/portal/a/{id}/cards/{pm}/remove", post(remove))
        .route("/portal/a/{id}/cards/{pm}/primary", post(primary))
}

/// The sandbox's test cards: (token, what it does).
const TEST_CARDS: [(&str, &str); 6] = [
    ("pm_card_visa", "Visa 4242: payments succeed"),
    ("pm_card_mastercard", "Mastercard 4444: payments succeed"),
    (
        "pm_card_authenticationRequired",
        "Visa 3155: the bank asks for 3-D Secure",
    ),
    ("pm_card_chargeDeclined", "Visa 0002: payments are declined"),
    (
        "pm_card_chargeDeclinedInsufficientFunds",
        "Visa 9995: declined, insufficient funds",
    ),
    ("pm_card_pending", "Visa: payments stay pending for a while"),
];

async fn show(
    State(p): State<Portal>,
    v: Visitor,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let done = q.get("done").map(|d| match d.as_str() {
        "added" => "The card is saved.",
        "removed" => "The card is removed.",
        _ => "The card is now your primary card.",
    });
    render(&p, &v, &id, done, None).await
}

async fn render(
    p: &Portal,
    v: &Visitor,
    id: &str,
    done: Option<&str>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let cards = p.app.payment_methods(&v.session.caller, id).await?;
    let mut rows = String::new();
    for pm in cards.iter().filter(|pm| pm.saved) {
        let label = format!("{} ending {}", esc(&pm.brand), esc(&pm.last4));
        let primary = if pm.primary {
            "<strong>Primary</strong>".to_string()
        } else {
            format!(
                "<form method=\"post\" action=\"/portal/a/{}/cards/{}/primary\" class=\"inline\">{}<button type=\"submit\" class=\"link\">Make primary<span class=\"skip\"> {label}</span></button></form>",
                esc(id),
                esc(&pm.id),
                v.csrf_field()
            )
        };
        let _ = write!(
            rows,
            "<tr><td>{label}</td><td>{:02}/{}</td><td>{}</td><td>{primary}</td><td><form method=\"post\" action=\"/portal/a/{}/cards/{}/remove\" class=\"inline\" data-confirm=\"Remove this card?\">{}<button type=\"submit\" class=\"link\">Remove<span class=\"skip\"> {label}</span></button></form></td></tr>",
            pm.exp_month,
            pm.exp_year,
            if pm.verified {
                "verified"
            } else {
                "not yet verified"
            },
            esc(id),
            esc(&pm.id),
            v.csrf_field()
        );
    }
    if rows.is_empty() {
        rows = "<tr><td colspan=\"5\" class=\"muted\">No saved cards yet.</td></tr>".into();
    }
    let add = if p.app.gateway.name() == "sandbox" {
        let mut picker = String::new();
        for (i, (token, words)) in TEST_CARDS.iter().enumerate() {
            let checked = if i == 0 { " checked" } else { "" };
            let _ = write!(
                picker,
                "<label class=\"choice\"><input type=\"radio\" name=\"token\" value=\"{token}\"{checked}> {words}</label>"
            );
        }
        format!(
            "<form class=\"card\" method=\"post\" action=\"/portal/a/{}/cards\">{}<h2>Add a card</h2>\
             <fieldset><legend>Test card (sandbox)</legend>{picker}</fieldset>{}\
             <label class=\"choice\"><input type=\"checkbox\" name=\"primary\"> Make it my primary card</label><button type=\"submit\">Add card</button></form>",
            esc(id),
            v.csrf_field(),
            field_error("token", error.as_deref())
        )
    } else {
        "<section class=\"card\"><h2>Add a card</h2><p>Cards are added by your provider's dashboard for now.</p></section>".into()
    };
    let body = format!(
        "{}<section class=\"card\"><h2>Saved cards</h2><div class=\"table-wrap\"><table data-testid=\"cards\"><thead><tr><th>Card</th><th>Expires</th><th>For automatic top-up</th><th>Primary</th><th>Remove</th></tr></thead><tbody>{rows}</tbody></table></div></section>{add}",
        notice(done)
    );
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, page(p, v, id, "/cards", "Cards", &body)).into_response())
}

async fn add(
    State(p): State<Portal>,
    v: Visitor,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let f = read_form(&p, &v, req).await?;
    let new = NewPaymentMethod {
        token: f.text("token").into(),
        save: Some(true),
        primary: Some(f.checked("primary")),
    };
    match p
        .app
        .add_payment_method(&v.session.caller, &id, new, None)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/portal/a/{id}/cards?done=added")).into_response()),
        Err(e) => {
            let e = PageError::from(e);
            if e.status == StatusCode::NOT_FOUND {
                return Err(e.in_portal(&p));
            }
            render(&p, &v, &id, None, Some(e.message)).await
        }
    }
}

async fn remove(
    State(p): State<Portal>,
    v: Visitor,
    Path((id, pm)): Path<(String, String)>,
    req: Request,
) -> Result<Response, PageError> {
    read_form(&p, &v, req).await?;
    p.app
        .remove_payment_method(&v.session.caller, &id, &pm)
        .await
        .map_err(|e| PageError::from(e).in_portal(&p))?;
    Ok(Redirect::to(&format!("/portal/a/{id}/cards?done=removed")).into_response())
}

async fn primary(
    State(p): State<Portal>,
    v: Visitor,
    Path((id, pm)): Path<(String, String)>,
    req: Request,
) -> Result<Response, PageError> {
    read_form(&p, &v, req).await?;
    p.app
        .make_primary_payment_method(&v.session.caller, &id, &pm)
        .await
        .map_err(|e| PageError::from(e).in_portal(&p))?;
    Ok(Redirect::to(&format!("/portal/a/{id}/cards?done=primary")).into_response())
}
