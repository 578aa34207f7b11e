//! Notifications (R26, R27): which events reach the customer by e-mail and SMS, and
//! the balance below which they hear of it.

use super::html::{esc, field_error, invalid_attrs, notice, page};
use super::session::{Visitor, read_form};
use super::{PageError, Portal, money};
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use refill_domain::notifications::EVENT_TYPES;
use refill_service::notifications::{ChannelView, NotificationSettingsUpdate};
use std::collections::HashMap;
use std::fmt::Write;

pub(super) fn routes() -> Router<Portal> {
    Router::new().route("/portal/a/{id}/notifications", get(show).post(save))
}

fn event_words(t: &str) -> String {
    let w = t.replace(['.', '_'], " ");
    let mut c = w.chars();
    c.next()
        .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
}

async fn show(
    State(p): State<Portal>,
    v: Visitor,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let saved = q
        .contains_key("saved")
        .then_some("Your notification settings are saved.");
    render(&p, &v, &id, saved, None, None).await
}

fn channel(name: &str, title: &str, c: &ChannelView) -> String {
    let all = c.events.iter().any(|e| e == "*");
    let mut boxes = String::new();
    for t in EVENT_TYPES {
        let on = if all || c.events.iter().any(|e| e == t) {
            " checked"
        } else {
            ""
        };
        let _ = write!(
            boxes,
            "<label class=\"choice\"><input type=\"checkbox\" name=\"{name}:{t}\"{on}> {}</label>",
            event_words(t)
        );
    }
    let to = match (&c.to, c.configured) {
        (_, false) => "This provider does not send these yet.".to_string(),
        (Some(to), true) => format!("Sent to {}.", esc(to)),
        (None, true) => "No address on file.".into(),
    };
    format!("<fieldset><legend>{title}</legend><p class=\"hint\">{to}</p>{boxes}</fieldset>")
}

async fn render(
    p: &Portal,
    v: &Visitor,
    id: &str,
    saved: Option<&str>,
    threshold_text: Option<&str>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let c = &v.session.caller;
    let account = p.app.account(c, id).await?;
    let n = p.app.notification_settings(c, id).await?;
    let cur = account.currency.as_str();
    let value = threshold_text.map_or_else(
        || money::plain(n.low_balance_threshold, cur),
        str::to_string,
    );
    let e = error.as_deref();
    let body = format!(
        "{}<form class=\"card\" method=\"post\" action=\"/portal/a/{}/notifications\">{}\
         <label for=\"low_balance\">Tell me when my balance falls below ({cur})</label><p class=\"hint\">0 turns this notice off.</p>\
         <input type=\"text\" inputmode=\"decimal\" id=\"low_balance\" name=\"low_balance\" value=\"{}\"{}>{}\
         {}{}<button type=\"submit\">Save</button></form>",
        notice(saved),
        esc(id),
        v.csrf_field(),
        esc(&value),
        invalid_attrs("low_balance", e),
        field_error("low_balance", e),
        channel("email", "By e-mail", &n.email),
        channel("sms", "By SMS", &n.sms),
    );
    let status = if e.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        page(p, v, id, "/notifications", "Notifications", &body),
    )
        .into_response())
}

async fn save(
    State(p): State<Portal>,
    v: Visitor,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let f = read_form(&p, &v, req).await?;
    let c = &v.session.caller;
    let account = p.app.account(c, &id).await?;
    let cur = account.currency.as_str();
    let text = f.text("low_balance");
    let threshold = match money::parse(text, cur) {
        Ok(t) => t,
        Err(e) => return render(&p, &v, &id, None, Some(text), Some(e.words(cur))).await,
    };
    let chosen = |channel: &str| -> Vec<String> {
        EVENT_TYPES
            .iter()
            .filter(|t| f.checked(&format!("{channel}:{t}")))
            .map(|t| t.to_string())
            .collect()
    };
    let update = NotificationSettingsUpdate {
        email: Some(chosen("email")),
        sms: Some(chosen("sms")),
    };
    let done = async {
        p.app.set_low_balance_threshold(c, &id, threshold).await?;
        p.app.put_notification_settings(c, &id, update).await
    };
    match done.await {
        Ok(_) => Ok(Redirect::to(&format!("/portal/a/{id}/notifications?saved=1")).into_response()),
        Err(e) => {
            let e = PageError::from(e);
            if e.status == StatusCode::NOT_FOUND {
                return Err(e.in_portal(&p));
            }
            render(&p, &v, &id, None, Some(text), Some(e.message)).await
        }
    }
}
