//! The overview: the balance, large; its recent course as a chart with the top-ups
//! marked; the auto top-up status in words (last attempt, next one, why not); the
//! latest top-ups.

use super::auto_top_up::status_words;
use super::chart::{Series, balance_svg};
use super::html::{esc, page, when};
use super::session::Visitor;
use super::{PageError, Portal, money};
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use refill_domain::DAY;
use refill_service::api_objects::{EntryView, TopUpView};
use std::fmt::Write;

pub(super) fn routes() -> Router<Portal> {
    Router::new().route("/portal/a/{id}", get(overview))
}

/// How far back the chart looks.
const CHART_DAYS: i64 = 90;
/// The ledger entries the chart reads at most.
const CHART_ENTRIES: i64 = 500;

async fn overview(
    State(p): State<Portal>,
    v: Visitor,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let c = &v.session.caller;
    let account = p.app.account(c, &id).await?;
    let auto = p.app.get_auto_top_up(c, &id).await?;
    let top_ups = p.app.list_top_ups(c, &id, None, 5).await?;
    let entries = p.app.entries(c, &id, None, CHART_ENTRIES).await?;
    let locale = &v.session.locale;
    let cur = &account.currency;
    let m = |a: i64| money::format(a, cur, locale);
    let kind = if account.parent_id.is_some() {
        "Sub-account"
    } else {
        "Account"
    };
    let mut body = format!(
        "<div class=\"grid\"><section class=\"card\" aria-labelledby=\"bal-h\"><h2 id=\"bal-h\">Balance</h2>\
         <p class=\"balance\" data-testid=\"balance\">{}</p><p class=\"muted\">{kind} {} · {}</p>\
         <a class=\"button\" href=\"/portal/a/{id}/add-balance\">Add balance</a></section>",
        m(account.balance),
        esc(&account.name),
        esc(&account.id),
        id = esc(&id),
    );
    let _ = write!(
        body,
        "<section class=\"card\" aria-labelledby=\"auto-h\"><h2 id=\"auto-h\">Automatic top-up</h2>{}\
         <a href=\"/portal/a/{}/auto-top-up\">Change automatic top-up</a></section>",
        status_words(&auto, &m),
        esc(&id)
    );
    let now = p.app.now();
    let _ = write!(
        body,
        "<section class=\"card chart\" aria-labelledby=\"chart-h\"><h2 id=\"chart-h\">Balance, last {CHART_DAYS} days</h2>{}</section>",
        chart(&entries.data, &top_ups.data, auto.threshold, now, &m)
    );
    let _ = write!(
        body,
        "<section class=\"card\" aria-labelledby=\"forecast-h\" id=\"forecast\"><h2 id=\"forecast-h\">Forecast</h2>\
         <p class=\"muted\">The forecast of when your balance runs out appears here once there is enough usage to go by.</p></section>"
    );
    body.push_str(&recent_top_ups(&id, &top_ups.data, &m));
    body.push_str("</div>");
    Ok(page(&p, &v, &id, "", "Billing overview", &body))
}

/// The chart of the balance after each ledger entry of the last days.
fn chart(
    entries: &[EntryView],
    top_ups: &[TopUpView],
    threshold: Option<i64>,
    now: i64,
    m: &dyn Fn(i64) -> String,
) -> String {
    let from = now - CHART_DAYS * DAY;
    let mut points: Vec<(i64, i64)> = entries
        .iter()
        .filter_map(|e| Some((super::html::parse_time(&e.created)?, e.balance_after?)))
        .filter(|(t, _)| *t >= from)
        .collect();
    points.reverse();
    if points.is_empty() {
        return "<p class=\"muted\">No balance changes in this period yet.</p>".into();
    }
    let marks: Vec<i64> = top_ups
        .iter()
        .filter(|t| t.status == "succeeded" || t.status == "pending")
        .filter_map(|t| super::html::parse_time(t.completed.as_deref().unwrap_or(&t.created)))
        .collect();
    let (first, last) = (points[0].1, points[points.len() - 1].1);
    // From the first change in the period: a young account's days are not squeezed.
    let start = points[0].0.max(from);
    let description = format!(
        "Balance from {} to {} over the last {CHART_DAYS} days, {} top-up(s) marked{}.",
        m(first),
        m(last),
        marks.len(),
        threshold.map_or(String::new(), |t| format!(", threshold {} dashed", m(t)))
    );
    balance_svg(&Series {
        points: &points,
        top_ups: &marks,
        threshold,
        from: (start, &refill_domain::time::rfc3339(start)[..10]),
        to: (now, "now"),
        description: &description,
    })
}

fn recent_top_ups(id: &str, top_ups: &[TopUpView], m: &dyn Fn(i64) -> String) -> String {
    let mut rows = String::new();
    for t in top_ups {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td><a href=\"/portal/a/{}/receipts/{}\">Receipt<span class=\"skip\"> {}</span></a></td></tr>",
            when(&t.created),
            origin_words(&t.origin),
            m(t.amount),
            esc(&t.status),
            esc(id),
            esc(&t.id),
            esc(&t.id)
        );
    }
    if rows.is_empty() {
        rows = "<tr><td colspan=\"5\" class=\"muted\">No top-ups yet.</td></tr>".into();
    }
    format!(
        "<section class=\"card wide\" aria-labelledby=\"tu-h\"><h2 id=\"tu-h\">Latest top-ups</h2><div class=\"table-wrap\"><table data-testid=\"top-ups\">\
         <thead><tr><th>When</th><th>How</th><th class=\"num\">Amount</th><th>Status</th><th>Receipt</th></tr></thead><tbody>{rows}</tbody></table></div></section>"
    )
}

pub(super) fn origin_words(origin: &str) -> &'static str {
    match origin {
        "auto" => "automatic",
        "scheduled" => "scheduled",
        _ => "by you",
    }
}
