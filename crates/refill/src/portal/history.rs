//! History: the ledger (R3), newest first, filtered by kind and dates, a page at a
//! time; the same rows as CSV; links to the receipts of top-ups.

use super::html::{esc, page, parse_time, when};
use super::session::Visitor;
use super::{PageError, Portal, money};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use refill_service::api_objects::EntryView;
use serde::Deserialize;
use std::fmt::Write;

pub(super) fn routes() -> Router<Portal> {
    Router::new()
        .route("/portal/a/{id}/history", get(show))
        .route("/portal/a/{id}/history.csv", get(csv))
}

/// Rows a page shows.
const PAGE: usize = 50;
/// Ledger entries read per call, and at most for one CSV.
const READ: i64 = 500;
const CSV_MAX: usize = 50_000;

/// The kinds a customer filters by: (kind, words).
const KINDS: [(&str, &str); 8] = [
    ("usage", "Usage"),
    ("fee", "Fees"),
    ("recurring_fee", "Recurring fees"),
    ("top_up", "Top-ups"),
    ("transfer_in", "Transfers in"),
    ("transfer_out", "Transfers out"),
    ("refund", "Refunds"),
    ("top_up_reversal", "Reversed top-ups"),
];

#[derive(Deserialize, Default)]
struct Filter {
    kind: Option<String>,
    /// YYYY-MM-DD, inclusive.
    from: Option<String>,
    to: Option<String>,
    starting_after: Option<String>,
}

impl Filter {
    fn day(text: &Option<String>) -> Option<i64> {
        let t = text.as_deref().filter(|t| !t.is_empty())?;
        parse_time(&format!("{t}T00:00:00Z"))
    }
    fn keeps(&self, e: &EntryView) -> bool {
        let at = parse_time(&e.created).unwrap_or(0);
        self.kind
            .as_deref()
            .is_none_or(|k| k.is_empty() || e.kind == k)
            && Filter::day(&self.from).is_none_or(|f| at >= f)
            && Filter::day(&self.to).is_none_or(|t| at < t + refill_domain::DAY)
    }
    fn query(&self) -> String {
        serde_urlencoded::to_string([
            ("kind", self.kind.as_deref().unwrap_or("")),
            ("from", self.from.as_deref().unwrap_or("")),
            ("to", self.to.as_deref().unwrap_or("")),
        ])
        .unwrap_or_default()
    }
}

/// The entries the filter keeps, newest first, from the cursor on: at most `want`,
/// and whether there are more.
async fn read(
    p: &Portal,
    v: &Visitor,
    id: &str,
    f: &Filter,
    want: usize,
) -> Result<(Vec<EntryView>, bool), PageError> {
    let mut kept = Vec::new();
    let mut after = f.starting_after.clone();
    loop {
        let page = p
            .app
            .entries(&v.session.caller, id, after.as_deref(), READ)
            .await?;
        for e in page.data.iter() {
            if f.keeps(e) {
                if kept.len() == want {
                    return Ok((kept, true));
                }
                kept.push(e.clone());
            }
        }
        match (page.has_more, page.data.last()) {
            (true, Some(last)) => after = Some(last.id.clone()),
            _ => return Ok((kept, false)),
        }
    }
}

async fn show(
    State(p): State<Portal>,
    v: Visitor,
    Path(id): Path<String>,
    Query(f): Query<Filter>,
) -> Result<Response, PageError> {
    let account = p.app.account(&v.session.caller, &id).await?;
    let (entries, more) = read(&p, &v, &id, &f, PAGE).await?;
    let m = |a: i64| money::format(a, &account.currency, &v.session.locale);
    let mut rows = String::new();
    for e in &entries {
        let receipt = match (e.kind.as_str(), e.reference.as_deref()) {
            ("top_up", Some(r)) if r.starts_with("top_") => format!(
                "<a href=\"/portal/a/{}/receipts/{}\">Receipt</a>",
                esc(&id),
                esc(r)
            ),
            _ => esc(e.reference.as_deref().unwrap_or("")),
        };
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{receipt}</td></tr>",
            when(&e.created),
            esc(&e.kind.replace('_', " ")),
            m(e.amount),
            e.balance_after.map(m).unwrap_or_default()
        );
    }
    if rows.is_empty() {
        rows = "<tr><td colspan=\"5\" class=\"muted\">Nothing in this period.</td></tr>".into();
    }
    let mut options = String::from("<option value=\"\">Everything</option>");
    for (k, words) in KINDS {
        let sel = if f.kind.as_deref() == Some(k) {
            " selected"
        } else {
            ""
        };
        let _ = write!(options, "<option value=\"{k}\"{sel}>{words}</option>");
    }
    let older = match (more, entries.last()) {
        (true, Some(last)) => format!(
            "<a href=\"/portal/a/{}/history?{}&amp;starting_after={}\">Older entries</a>",
            esc(&id),
            esc(&f.query()),
            esc(&last.id)
        ),
        _ => String::new(),
    };
    let body = format!(
        "<form class=\"card\" method=\"get\" action=\"/portal/a/{eid}/history\"><h2>Filter</h2>\
         <label for=\"kind\">Kind</label><select id=\"kind\" name=\"kind\">{options}</select>\
         <label for=\"from\">From</label><input type=\"date\" id=\"from\" name=\"from\" value=\"{}\">\
         <label for=\"to\">To</label><input type=\"date\" id=\"to\" name=\"to\" value=\"{}\">\
         <button type=\"submit\" class=\"secondary\">Show</button> \
         <a class=\"button\" href=\"/portal/a/{eid}/history.csv?{}\" download data-testid=\"csv\">Download CSV</a></form>\
         <section class=\"card\"><div class=\"table-wrap\"><table data-testid=\"ledger\"><thead><tr><th>When</th><th>What</th><th class=\"num\">Amount</th><th class=\"num\">Balance after</th><th>Reference</th></tr></thead>\
         <tbody>{rows}</tbody></table></div>{older}</section>",
        esc(f.from.as_deref().unwrap_or("")),
        esc(f.to.as_deref().unwrap_or("")),
        esc(&f.query()),
        eid = esc(&id),
    );
    Ok(page(&p, &v, &id, "/history", "History", &body))
}

/// A CSV field, quoted when it must be; a leading formula sign is neutralised so a
/// spreadsheet shows the text rather than running it.
fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) && s.parse::<f64>().is_err() {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

async fn csv(
    State(p): State<Portal>,
    v: Visitor,
    Path(id): Path<String>,
    Query(f): Query<Filter>,
) -> Result<Response, PageError> {
    let account = p.app.account(&v.session.caller, &id).await?;
    let (entries, _) = read(&p, &v, &id, &f, CSV_MAX).await?;
    let mut out = String::from("id,created,kind,amount,currency,balance_after,reference\r\n");
    for e in &entries {
        let _ = write!(
            out,
            "{},{},{},{},{},{},{}\r\n",
            field(&e.id),
            field(&e.created),
            field(&e.kind),
            money::plain(e.amount, &e.currency),
            field(&e.currency),
            e.balance_after
                .map(|b| money::plain(b, &e.currency))
                .unwrap_or_default(),
            field(e.reference.as_deref().unwrap_or(""))
        );
    }
    let name = format!("attachment; filename=\"{}-history.csv\"", account.id);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        out,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(field("-12.50"), "-12.50");
    }
}
