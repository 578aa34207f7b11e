//! Auto top-up: the settings form (threshold, fixed amount or target, source, card,
//! terms with their version, 3-D Secure when the card asks), the caps in force and
//! the state history. A refusal (R13-R15) is shown beside the field it concerns.

use super::html::{esc, field_error, invalid_attrs, notice, page, when};
use super::session::{Form, Visitor, read_form};
use super::{PageError, Portal, money};
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use refill_service::auto_top_up::{AutoTopUpRequest, AutoTopUpView};
use std::collections::HashMap;
use std::fmt::Write;

pub(super) fn routes() -> Router<Portal> {
    Router::new().route("/portal/a/{id}/auto-top-up", get(show).post(save))
}

/// The auto top-up status in words, for the overview and this page.
pub(super) fn status_words(a: &AutoTopUpView, m: &dyn Fn(i64) -> String) -> String {
    let mut out = String::new();
    let rule = match (a.amount, a.target_balance) {
        (Some(x), _) => format!("{} is added", m(x)),
        (_, Some(t)) => format!("it is filled up to {}", m(t)),
        _ => String::new(),
    };
    let by = if a.source.as_deref() == Some("transfer") {
        "from the main account"
    } else {
        "by card"
    };
    let state = match a.state.as_str() {
        "active" => format!(
            "<p><span class=\"status-active\">On.</span> When your balance falls below {}, {rule} {by}.</p>",
            a.threshold.map_or(String::new(), m)
        ),
        "disabled" => format!(
            "<p><span class=\"status-disabled\">Stopped.</span> Automatic top-up was turned off: {}.</p>",
            esc(a.state_reason.as_ref().map_or("after a problem", |r| r.message.as_str()))
        ),
        _ => "<p><span class=\"status-off\">Off.</span> Your balance is not topped up automatically.</p>".into(),
    };
    out.push_str(&state);
    out.push_str("<dl class=\"facts\">");
    if let Some(last) = &a.last_attempt {
        let outcome = last
            .outcome
            .as_deref()
            .map_or("started".to_string(), outcome_words);
        let _ = write!(
            out,
            "<dt>Last attempt</dt><dd data-testid=\"last-attempt\">{}: {}</dd>",
            when(&last.at),
            esc(&outcome)
        );
    }
    let next = a
        .in_flight
        .as_ref()
        .and_then(|f| f.not_before.clone())
        .or_else(|| a.next_attempt.clone());
    if let Some(next) = next {
        let _ = write!(
            out,
            "<dt>Next attempt</dt><dd>not before {}</dd>",
            when(&next)
        );
    } else if a.state == "active" {
        let _ = write!(
            out,
            "<dt>Next attempt</dt><dd>when the balance falls below the threshold</dd>"
        );
    }
    if let Some(w) = &a.why_not {
        let _ = write!(
            out,
            "<dt>Why not now</dt><dd data-testid=\"why-not\">{}</dd>",
            why_not_words(w)
        );
    }
    out.push_str("</dl>");
    out
}

/// R24: why a top-up did not run, for people.
pub(super) fn why_not_words(code: &str) -> &'static str {
    match code {
        "not_active" => "automatic top-up is not on",
        "above_threshold" => "the balance is above the threshold",
        "minimum_interval" => {
            "the last automatic top-up was too recent; the next may run after the minimum interval"
        }
        "daily_cap_reached" => {
            "today's limit of automatic top-ups is reached; they resume tomorrow"
        }
        "monthly_cap_reached" => {
            "this month's limit of automatic top-ups is reached; they resume next month"
        }
        "waiting_for_customer_authentication" => {
            "your bank asks you to confirm the payment (3-D Secure)"
        }
        "retry_scheduled" => "the last payment failed; it will be tried again",
        "gateway_unavailable" => {
            "the payment provider did not answer; it will be tried again shortly"
        }
        "payment_pending" => "the last payment is still being processed by your bank",
        _ => "see the history below",
    }
}

fn outcome_words(outcome: &str) -> String {
    match outcome {
        "succeeded" => "paid".into(),
        "pending" => "waiting for the bank".into(),
        "charging" => "being charged".into(),
        other => match other.strip_prefix("failed: ") {
            Some(code) => format!("failed ({})", code.replace('_', " ")),
            None => other.replace('_', " "),
        },
    }
}

/// What the form shows: read from the settings, or as the customer sent it.
#[derive(Default)]
struct Draft {
    enabled: bool,
    threshold: String,
    target_rule: bool,
    amount: String,
    target: String,
    source: String,
    payment_method: String,
    terms: bool,
    version: i64,
    /// The card asked for 3-D Secure: the form offers to complete it.
    needs_3ds: bool,
}

impl Draft {
    fn of(a: &AutoTopUpView, cur: &str) -> Draft {
        let plain = |x: Option<i64>| x.map(|x| money::plain(x, cur)).unwrap_or_default();
        Draft {
            enabled: a.state == "active",
            threshold: plain(a.threshold),
            target_rule: a.target_balance.is_some(),
            amount: plain(a.amount),
            target: plain(a.target_balance),
            source: a.source.clone().unwrap_or_else(|| "card".into()),
            payment_method: a.payment_method.clone().unwrap_or_default(),
            terms: a.terms_version.is_some(),
            version: a.version,
            needs_3ds: false,
        }
    }
    fn sent(f: &Form) -> Draft {
        Draft {
            enabled: f.text("enabled") == "on",
            threshold: f.text("threshold").into(),
            target_rule: f.text("rule") == "target",
            amount: f.text("amount").into(),
            target: f.text("target").into(),
            source: f.opt("source").unwrap_or("card").into(),
            payment_method: f.text("payment_method").into(),
            terms: f.checked("terms"),
            version: f.text("version").parse().unwrap_or(-1),
            needs_3ds: false,
        }
    }
}

/// Which field a refusal concerns (None: the form as a whole).
fn field_of(code: &str, target_rule: bool) -> Option<&'static str> {
    Some(match code {
        "threshold_not_below_balance" | "threshold_negative" | "threshold_required" => "threshold",
        "amount_below_threshold"
        | "amount_below_minimum"
        | "amount_above_cap"
        | "amount_required"
            if !target_rule =>
        {
            "amount"
        }
        "target_not_above_threshold"
        | "amount_below_minimum"
        | "amount_above_cap"
        | "amount_required" => "target",
        "terms_not_accepted" | "terms_version_unknown" => "terms",
        "payment_method_required" | "payment_method_not_found" | "card_declined" => {
            "payment_method"
        }
        "transfer_source_needs_sub_account"
        | "source_conflict"
        | "forbidden"
        | "invalid_source" => "source",
        _ => return None,
    })
}

async fn show(
    State(p): State<Portal>,
    v: Visitor,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let view = p.app.get_auto_top_up(&v.session.caller, &id).await?;
    let account = p.app.account(&v.session.caller, &id).await?;
    let draft = Draft::of(&view, &account.currency);
    let saved = q
        .contains_key("saved")
        .then_some("Your automatic top-up settings are saved.");
    render(&p, &v, &id, &view, draft, HashMap::new(), saved).await
}

async fn save(
    State(p): State<Portal>,
    v: Visitor,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let form = read_form(&p, &v, req).await?;
    let c = &v.session.caller;
    let account = p.app.account(c, &id).await?;
    let view = p.app.get_auto_top_up(c, &id).await?;
    let mut draft = Draft::sent(&form);
    let cur = account.currency.as_str();
    let mut errors = HashMap::new();
    let mut amount_of = |field: &'static str, text: &str| -> Option<i64> {
        if text.is_empty() {
            return None;
        }
        money::parse(text, cur)
            .map_err(|e| errors.insert(field, e.words(cur)))
            .ok()
    };
    let threshold = amount_of("threshold", &draft.threshold);
    let amount = amount_of("amount", &draft.amount).filter(|_| !draft.target_rule);
    let target = amount_of("target", &draft.target).filter(|_| draft.target_rule);
    if !errors.is_empty() {
        let resp = render(&p, &v, &id, &view, draft, errors, None).await?;
        return Ok((StatusCode::BAD_REQUEST, resp).into_response());
    }
    let req = AutoTopUpRequest {
        enabled: draft.enabled,
        threshold,
        amount,
        target_balance: target,
        source: Some(draft.source.clone()).filter(|s| s == "transfer"),
        payment_method: Some(draft.payment_method.clone())
            .filter(|s| !s.is_empty() && draft.source != "transfer"),
        terms_version: draft.terms.then(|| p.app.config.terms_version.clone()),
        three_d_secure: form.opt("three_d_secure").map(str::to_string),
    };
    match p
        .app
        .put_auto_top_up(c, &id, req, Some(draft.version))
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/portal/a/{id}/auto-top-up?saved=1")).into_response()),
        Err(e) => {
            let e = PageError::from(e);
            if e.status == StatusCode::NOT_FOUND {
                return Err(e.in_portal(&p));
            }
            draft.needs_3ds = e.code == "authentication_required";
            let field = field_of(&e.code, draft.target_rule).unwrap_or("form");
            errors.insert(field, e.message.clone());
            let resp = render(&p, &v, &id, &view, draft, errors, None).await?;
            Ok((e.status, resp).into_response())
        }
    }
}

async fn render(
    p: &Portal,
    v: &Visitor,
    id: &str,
    view: &AutoTopUpView,
    d: Draft,
    errors: HashMap<&'static str, String>,
    saved: Option<&str>,
) -> Result<Response, PageError> {
    let c = &v.session.caller;
    let account = p.app.account(c, id).await?;
    let cards = p.app.payment_methods(c, id).await?;
    let cur = account.currency.as_str();
    let m = |a: i64| money::format(a, cur, &v.session.locale);
    let err = |f: &str| errors.get(f).map(String::as_str);
    let input = |name: &str, label: &str, value: &str, hint: &str| {
        format!(
            "<div id=\"field-{name}\"><label for=\"{name}\">{label}</label><p class=\"hint\" id=\"{name}-hint\">{hint}</p>\
             <input type=\"text\" inputmode=\"decimal\" id=\"{name}\" name=\"{name}\" value=\"{}\"{}>{}</div>",
            esc(value),
            invalid_attrs(name, err(name)),
            field_error(name, err(name))
        )
    };
    let limits = p
        .app
        .config
        .limits_in(cur)
        .map_err(|e| PageError::from(refill_service::ServiceError::from(e)))?;
    let checked = |b: bool| if b { " checked" } else { "" };
    let mut card_options = String::new();
    for pm in cards.iter().filter(|pm| pm.saved) {
        let sel = if pm.id == d.payment_method || (d.payment_method.is_empty() && pm.primary) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            card_options,
            "<option value=\"{}\"{sel}>{} ending {}{}</option>",
            esc(&pm.id),
            esc(&pm.brand),
            esc(&pm.last4),
            if pm.primary { " (primary)" } else { "" }
        );
    }
    let source = if account.parent_id.is_some() {
        format!(
            "<fieldset><legend>Pay from</legend><label class=\"choice\"><input type=\"radio\" name=\"source\" value=\"card\"{}> a card</label>\
             <label class=\"choice\"><input type=\"radio\" name=\"source\" value=\"transfer\"{}> the main account</label>{}</fieldset>",
            checked(d.source != "transfer"),
            checked(d.source == "transfer"),
            field_error("source", err("source"))
        )
    } else {
        String::new()
    };
    let three_ds = if d.needs_3ds {
        "<fieldset class=\"card\"><legend>3-D Secure</legend><p>Your bank asks you to confirm this card. In the sandbox, the bank's page is this checkbox.</p>\
         <label class=\"choice\"><input type=\"checkbox\" name=\"three_d_secure\" value=\"completed\" id=\"three_d_secure\"> I confirmed the card with my bank</label></fieldset>".to_string()
    } else {
        String::new()
    };
    let mut body = notice(saved);
    body.push_str(&field_error("form", err("form")));
    let _ = write!(
        body,
        "<div class=\"grid\"><section class=\"card\" aria-labelledby=\"now-h\"><h2 id=\"now-h\">Now</h2>{}</section>\
         <form class=\"card\" method=\"post\" action=\"/portal/a/{eid}/auto-top-up\" novalidate>{csrf}\
         <input type=\"hidden\" name=\"version\" value=\"{}\">\
         <fieldset><legend>Automatic top-up</legend><label class=\"choice\"><input type=\"radio\" name=\"enabled\" value=\"on\"{}> On</label>\
         <label class=\"choice\"><input type=\"radio\" name=\"enabled\" value=\"off\"{}> Off</label></fieldset>\
         {threshold}\
         <fieldset><legend>How much</legend><label class=\"choice\"><input type=\"radio\" name=\"rule\" value=\"fixed\" id=\"rule-fixed\"{}> a fixed amount</label>\
         <label class=\"choice\"><input type=\"radio\" name=\"rule\" value=\"target\" id=\"rule-target\"{}> up to a target balance</label></fieldset>\
         {amount}{target}{source}\
         <div id=\"field-payment_method\"><label for=\"payment_method\">Card</label><select id=\"payment_method\" name=\"payment_method\"{}>{card_options}</select>{}\
         <p class=\"hint\"><a href=\"/portal/a/{eid}/cards\">Add a card</a></p></div>\
         <div id=\"field-terms\"><label class=\"choice\"><input type=\"checkbox\" name=\"terms\" id=\"terms\"{}{}> I accept the automatic top-up terms, version {terms}: my card is charged without asking each time, within the limits below.</label>{}</div>\
         {three_ds}<button type=\"submit\">Save</button></form></div>",
        status_words(view, &m),
        d.version,
        checked(d.enabled),
        checked(!d.enabled),
        checked(!d.target_rule),
        checked(d.target_rule),
        invalid_attrs("payment_method", err("payment_method")),
        field_error("payment_method", err("payment_method")),
        checked(d.terms),
        invalid_attrs("terms", err("terms")),
        field_error("terms", err("terms")),
        eid = esc(id),
        csrf = v.csrf_field(),
        threshold = input(
            "threshold",
            "When the balance falls below",
            &d.threshold,
            &format!("in {cur}, below your balance of {}", m(account.balance))
        ),
        amount = input(
            "amount",
            "Add this amount",
            &d.amount,
            &format!(
                "at least the threshold and at least {}",
                m(limits.minimum_top_up)
            )
        ),
        target = input(
            "target",
            "Fill up to this balance",
            &d.target,
            "above the threshold"
        ),
        terms = esc(&p.app.config.terms_version),
    );
    let caps = format!(
        "<section class=\"card\" aria-labelledby=\"caps-h\"><h2 id=\"caps-h\">Limits in force</h2><ul>\
         <li>At most {} automatic top-ups and {} a day</li><li>At most {} automatic top-ups and {} a month</li>\
         <li>At least {} minutes between two automatic card top-ups</li><li>After {} failed payments in a row, automatic top-up stops</li></ul></section>",
        limits.daily_count_cap,
        m(limits.daily_amount_cap),
        limits.monthly_count_cap,
        m(limits.monthly_amount_cap),
        limits.card_interval / 60_000,
        limits.max_consecutive_failures
    );
    body.push_str(&caps);
    body.push_str(&history(view));
    Ok(page(p, v, id, "/auto-top-up", "Automatic top-up", &body))
}

fn history(view: &AutoTopUpView) -> String {
    let mut rows = String::new();
    for h in view.history.iter().rev() {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            when(&h.at),
            esc(&h.state),
            esc(&h.reason.message)
        );
    }
    if rows.is_empty() {
        rows = "<tr><td colspan=\"3\" class=\"muted\">No changes yet.</td></tr>".into();
    }
    format!(
        "<section class=\"card\" aria-labelledby=\"hist-h\"><h2 id=\"hist-h\">History</h2><div class=\"table-wrap\"><table>\
         <thead><tr><th>When</th><th>State</th><th>Why</th></tr></thead><tbody>{rows}</tbody></table></div></section>"
    )
}
