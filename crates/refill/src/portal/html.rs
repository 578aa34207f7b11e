//! The page's HTML: escaping, the layout every page shares (header, navigation, main),
//! and the pages for refusals. Text from the database or the request is always
//! escaped through `esc`.

use super::Portal;
use super::session::Visitor;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use refill_service::ServiceError;
use std::fmt::Write;

/// Text for HTML (content and quoted attributes).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An RFC 3339 time (as the views carry it) for people: `2026-11-21 17:46 UTC`.
pub fn when(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => esc(rfc3339),
    }
}

/// The pages of the navigation: (path under the account, title).
const NAV: [(&str, &str); 7] = [
    ("", "Overview"),
    ("/add-balance", "Add balance"),
    ("/auto-top-up", "Auto top-up"),
    ("/cards", "Cards"),
    ("/history", "History"),
    ("/notifications", "Notifications"),
    ("/sub-accounts", "Sub-accounts"),
];

/// A page in the shared layout; `current` is its NAV path.
pub fn page(
    p: &Portal,
    v: &Visitor,
    account_id: &str,
    current: &str,
    title: &str,
    body: &str,
) -> Response {
    let mut nav = String::new();
    for (path, name) in NAV {
        let aria = if path == current {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(
            nav,
            "<li><a href=\"/portal/a/{}{path}\"{aria}>{name}</a></li>",
            esc(account_id)
        );
    }
    let back = match &v.session.return_url {
        Some(url) => format!(
            "<a class=\"back\" href=\"{}\">Back to your dashboard</a>",
            esc(url)
        ),
        None => String::new(),
    };
    let sign_out = format!(
        "<form method=\"post\" action=\"/portal/sign-out\" class=\"inline\">{}<button type=\"submit\" class=\"link\">Sign out</button></form>",
        v.csrf_field()
    );
    let head = header_html(p, &format!("{back}{sign_out}"));
    let html = format!(
        "{}<nav aria-label=\"Billing\"><ul>{nav}</ul></nav><main id=\"main\" tabindex=\"-1\"><h1>{}</h1>{body}</main></body></html>",
        shell(p, title, &head),
        esc(title)
    );
    Html(html).into_response()
}

/// The document's head and the page header.
fn shell(p: &Portal, title: &str, header: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · {}</title>\
         <link rel=\"stylesheet\" href=\"/portal/assets/portal.css\">\
         <link rel=\"stylesheet\" href=\"/portal/theme.css\">\
         <script src=\"/portal/assets/portal.js\" defer></script></head>\
         <body><a class=\"skip\" href=\"#main\">Skip to content</a>{header}",
        esc(title),
        esc(&p.settings.operator_name)
    )
}

fn header_html(p: &Portal, right: &str) -> String {
    let logo = match &p.settings.logo_url {
        Some(url) => format!("<img src=\"{}\" alt=\"\" class=\"logo\">", esc(url)),
        None => String::new(),
    };
    format!(
        "<header class=\"top\"><span class=\"brand\">{logo}{}</span><span class=\"right\">{right}</span></header>",
        esc(&p.settings.operator_name)
    )
}

/// A refusal shown as a page: its status, and words for people.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// The page's shell, when the settings are at hand.
    pub portal: Option<Portal>,
}

impl PageError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> PageError {
        PageError {
            status,
            code: code.into(),
            message: message.into(),
            portal: None,
        }
    }
    pub fn in_portal(mut self, p: &Portal) -> PageError {
        self.portal = Some(p.clone());
        self
    }
    pub fn not_found() -> PageError {
        PageError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "There is nothing here for this session.",
        )
    }
}

impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> PageError {
        match e {
            // Another tree's ids read as absent: a session learns nothing of them.
            ServiceError::NotFound { .. } | ServiceError::Forbidden(_) => PageError::not_found(),
            other => {
                let api = crate::api::ApiError::from(other);
                PageError::new(api.status, &api.code, api.detail)
            }
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = format!(
            "<main id=\"main\"><h1>{}</h1><p class=\"error\" role=\"alert\" data-code=\"{}\">{}</p></main></body></html>",
            heading(self.status),
            esc(&self.code),
            esc(&self.message)
        );
        let html = match &self.portal {
            Some(p) => format!("{}{body}", shell(p, "Refused", &header_html(p, ""))),
            None => format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>refill</title>\
                 <link rel=\"stylesheet\" href=\"/portal/assets/portal.css\"></head><body>{body}"
            ),
        };
        let mut resp = (self.status, Html(html)).into_response();
        resp.headers_mut().remove(header::SET_COOKIE);
        resp
    }
}

/// The heading of a refusal's page, in words.
fn heading(status: StatusCode) -> &'static str {
    match status {
        StatusCode::OK => "Signed out",
        StatusCode::UNAUTHORIZED => "Session ended",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        s if s.is_client_error() => "Not done",
        _ => "Something went wrong",
    }
}

/// A message beside a field (`for_field`), or at the top of a form: role=alert so
/// that a screen reader says it.
pub fn field_error(id: &str, message: Option<&str>) -> String {
    match message {
        Some(m) => format!(
            "<p class=\"error\" id=\"{id}-error\" role=\"alert\">{}</p>",
            esc(m)
        ),
        None => String::new(),
    }
}

/// `aria-describedby` and `aria-invalid` for a field with an error.
pub fn invalid_attrs(id: &str, message: Option<&str>) -> String {
    match message {
        Some(_) => format!(" aria-invalid=\"true\" aria-describedby=\"{id}-error\""),
        None => String::new(),
    }
}

/// A notice at the top of a page (after a change): role=status.
pub fn notice(text: Option<&str>) -> String {
    match text {
        Some(t) => format!("<p class=\"notice\" role=\"status\">{}</p>", esc(t)),
        None => String::new(),
    }
}

/// An RFC 3339 UTC time of the views (`2026-11-21T17:46:04.123Z`) as Unix ms.
pub fn parse_time(s: &str) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let days =
        refill_domain::time::days_from_civil(num(0..4)?, num(5..7)? as u32, num(8..10)? as u32);
    let secs = num(11..13)? * 3600 + num(14..16)? * 60 + num(17..19)?;
    let ms = if s.get(19..20) == Some(".") {
        num(20..23).unwrap_or(0)
    } else {
        0
    };
    Some((days * 86_400 + secs) * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_back_as_written() {
        let t = 1_795_262_400_123;
        assert_eq!(parse_time(&refill_domain::time::rfc3339(t)), Some(t));
        assert_eq!(when("2026-11-21T12:00:00.000Z"), "2026-11-21 12:00 UTC");
        assert_eq!(
            esc("<a href=\"x\">'&"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }
}
