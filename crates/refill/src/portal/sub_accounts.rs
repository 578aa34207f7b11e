//! Sub-accounts and what renews: the account's sub-accounts with their balances and
//! auto top-up, transfers between a main account and a sub-account, recurring
//! resources with their next renewal (R29), the scheduled monthly recharge (R30),
//! and refund requests of top-ups (R31).

use super::auto_top_up::why_not_words;
use super::html::{esc, field_error, notice, page, when};
use super::session::{Visitor, read_form};
use super::{PageError, Portal, money};
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use refill_service::accounts::NewTransfer;
use refill_service::refunds::{NewRefund, RefundQuery};
use std::collections::HashMap;
use std::fmt::Write;

pub(super) fn routes() -> Router<Portal> {
    Router::new()
        .route("/portal/a/{id}/sub-accounts", get(show))
        .route("/portal/a/{id}/transfers", post(transfer))
        .route("/portal/a/{id}/refund-requests", post(request_refund))
}

async fn show(
    State(p): State<Portal>,
    v: Visitor,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let done = q.get("done").map(|d| match d.as_str() {
        "transfer" => "The credit was moved.",
        _ => "Your refund request was sent; your provider will decide on it.",
    });
    render(&p, &v, &id, done, HashMap::new()).await
}

async fn render(
    p: &Portal,
    v: &Visitor,
    id: &str,
    done: Option<&str>,
    errors: HashMap<&str, String>,
) -> Result<Response, PageError> {
    let c = &v.session.caller;
    let account = p.app.account(c, id).await?;
    let cur = account.currency.clone();
    let m = |a: i64| money::format(a, &cur, &v.session.locale);
    let tree = p.app.list_accounts(c, None, 500).await?;
    let main_id = account
        .parent_id
        .clone()
        .unwrap_or_else(|| account.id.clone());
    let family: Vec<_> = tree
        .data
        .iter()
        .filter(|a| a.id == main_id || a.parent_id.as_deref() == Some(&main_id))
        .collect();
    let mut rows = String::new();
    for a in family.iter().filter(|a| a.parent_id.is_some()) {
        let auto = p.app.get_auto_top_up(c, &a.id).await?;
        let auto_words = match (auto.state.as_str(), &auto.why_not) {
            ("active", Some(w)) => format!("on; not now: {}", why_not_words(w)),
            ("active", None) => "on".into(),
            (s, _) => esc(s),
        };
        let _ = write!(
            rows,
            "<tr><td><a href=\"/portal/a/{}\">{}</a></td><td class=\"num\">{}</td><td>{auto_words}</td></tr>",
            esc(&a.id),
            esc(&a.name),
            m(a.balance)
        );
    }
    if rows.is_empty() {
        rows = "<tr><td colspan=\"3\" class=\"muted\">No sub-accounts.</td></tr>".into();
    }
    let mut options = String::new();
    for a in &family {
        let _ = write!(
            options,
            "<option value=\"{}\">{} ({})</option>",
            esc(&a.id),
            esc(&a.name),
            m(a.balance)
        );
    }
    let err = |f: &str| errors.get(f).map(String::as_str);
    let transfer = format!(
        "<form class=\"card\" method=\"post\" action=\"/portal/a/{eid}/transfers\">{csrf}<h2>Move credit</h2>\
         <label for=\"from\">From</label><select id=\"from\" name=\"from\">{options}</select>\
         <label for=\"to\">To</label><select id=\"to\" name=\"to\">{options}</select>\
         <label for=\"transfer_amount\">Amount ({})</label><input type=\"text\" inputmode=\"decimal\" id=\"transfer_amount\" name=\"amount\">{}\
         <button type=\"submit\">Move credit</button></form>",
        esc(&cur),
        field_error("transfer_amount", err("transfer")),
        eid = esc(id),
        csrf = v.csrf_field()
    );
    let body = format!(
        "{}<div class=\"grid\"><section class=\"card\"><h2>Sub-accounts</h2><div class=\"table-wrap\"><table><thead><tr><th>Name</th><th class=\"num\">Balance</th><th>Automatic top-up</th></tr></thead><tbody>{rows}</tbody></table></div></section>{transfer}{}{}{}</div>",
        notice(done),
        resources(p, v, id, &m).await?,
        scheduled(p, v, id, &m).await,
        refunds(p, v, id, &m, err("refund")).await?,
    );
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok((
        status,
        page(
            p,
            v,
            id,
            "/sub-accounts",
            "Sub-accounts and renewals",
            &body,
        ),
    )
        .into_response())
}

async fn resources(
    p: &Portal,
    v: &Visitor,
    id: &str,
    m: &(dyn Fn(i64) -> String + Sync),
) -> Result<String, PageError> {
    let list = p
        .app
        .list_resources(&v.session.caller, id, None, 100)
        .await?;
    let mut rows = String::new();
    for r in &list.data {
        let next = r.next_fee.as_deref().map_or("—".to_string(), when);
        let _ = write!(
            rows,
            "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{next}</td><td>{}</td></tr>",
            esc(&r.name),
            m(r.fee),
            esc(&r.period),
            esc(&r.status)
        );
    }
    if rows.is_empty() {
        rows = "<tr><td colspan=\"5\" class=\"muted\">No numbers or other recurring resources.</td></tr>".into();
    }
    Ok(format!(
        "<section class=\"card\"><h2>Recurring resources</h2><div class=\"table-wrap\"><table><thead><tr><th>Resource</th><th class=\"num\">Fee</th><th>Every</th><th>Next renewal</th><th>Status</th></tr></thead><tbody>{rows}</tbody></table></div></section>"
    ))
}

async fn scheduled(
    p: &Portal,
    v: &Visitor,
    id: &str,
    m: &(dyn Fn(i64) -> String + Sync),
) -> String {
    let words = match p.app.get_scheduled_recharge(&v.session.caller, id).await {
        Ok(s) => format!(
            "{} on day {} of each month; next on {}.",
            m(s.amount),
            s.day_of_month,
            when(&s.next_run)
        ),
        Err(_) => "No scheduled monthly recharge.".into(),
    };
    format!("<section class=\"card\"><h2>Scheduled recharge</h2><p>{words}</p></section>")
}

async fn refunds(
    p: &Portal,
    v: &Visitor,
    id: &str,
    m: &(dyn Fn(i64) -> String + Sync),
    error: Option<&str>,
) -> Result<String, PageError> {
    let c = &v.session.caller;
    let q = RefundQuery {
        status: None,
        account_id: Some(id.to_string()),
        starting_after: None,
        limit: 50,
    };
    let list = p.app.list_refunds(c, &q).await?;
    let mut rows = String::new();
    for r in &list.data {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            when(&r.created),
            m(r.requested_amount),
            esc(&r.status),
            esc(&r.reason)
        );
    }
    if rows.is_empty() {
        rows = "<tr><td colspan=\"4\" class=\"muted\">No refund requests.</td></tr>".into();
    }
    let top_ups = p.app.list_top_ups(c, id, None, 20).await?;
    let mut options = String::new();
    for t in top_ups
        .data
        .iter()
        .filter(|t| t.status == "succeeded" && t.origin == "manual")
    {
        let _ = write!(
            options,
            "<option value=\"{}\">{} of {}</option>",
            esc(&t.id),
            m(t.amount),
            when(&t.created)
        );
    }
    let form = if options.is_empty() {
        String::new()
    } else {
        format!(
            "<form method=\"post\" action=\"/portal/a/{}/refund-requests\">{}<label for=\"top_up\">Top-up</label><select id=\"top_up\" name=\"top_up\">{options}</select>\
             <label for=\"reason\">Why</label><input type=\"text\" id=\"reason\" name=\"reason\" maxlength=\"500\">{}<button type=\"submit\" class=\"secondary\">Ask for a refund</button></form>",
            esc(id),
            v.csrf_field(),
            field_error("reason", error)
        )
    };
    Ok(format!(
        "<section class=\"card\"><h2>Refund requests</h2><div class=\"table-wrap\"><table><thead><tr><th>Asked</th><th class=\"num\">Amount</th><th>Status</th><th>Why</th></tr></thead><tbody>{rows}</tbody></table></div>{form}</section>"
    ))
}

async fn transfer(
    State(p): State<Portal>,
    v: Visitor,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let f = read_form(&p, &v, req).await?;
    let account = p.app.account(&v.session.caller, &id).await?;
    let cur = account.currency.as_str();
    let amount = match money::parse(f.text("amount"), cur) {
        Ok(a) => a,
        Err(e) => {
            return render(
                &p,
                &v,
                &id,
                None,
                HashMap::from([("transfer", e.words(cur))]),
            )
            .await;
        }
    };
    let new = NewTransfer {
        from_account: f.text("from").into(),
        to_account: f.text("to").into(),
        amount,
        currency: None,
        reference: Some("moved on the billing page".into()),
    };
    match p.app.transfer(&v.session.caller, new, None).await {
        Ok(_) => {
            Ok(Redirect::to(&format!("/portal/a/{id}/sub-accounts?done=transfer")).into_response())
        }
        Err(e) => {
            let e = PageError::from(e);
            if e.status == StatusCode::NOT_FOUND {
                return Err(e.in_portal(&p));
            }
            render(&p, &v, &id, None, HashMap::from([("transfer", e.message)])).await
        }
    }
}

async fn request_refund(
    State(p): State<Portal>,
    v: Visitor,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let f = read_form(&p, &v, req).await?;
    let t = p
        .app
        .get_top_up(&v.session.caller, f.text("top_up"))
        .await?;
    if t.account_id != id {
        return Err(PageError::not_found().in_portal(&p));
    }
    let new = NewRefund {
        amount: None,
        currency: None,
        reason: Some(f.text("reason").into()),
    };
    match p
        .app
        .request_refund(&v.session.caller, &t.id, new, None)
        .await
    {
        Ok(_) => {
            Ok(Redirect::to(&format!("/portal/a/{id}/sub-accounts?done=refund")).into_response())
        }
        Err(e) => {
            render(
                &p,
                &v,
                &id,
                None,
                HashMap::from([("refund", PageError::from(e).message)]),
            )
            .await
        }
    }
}
