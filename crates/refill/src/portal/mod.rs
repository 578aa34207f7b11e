//! The customer page: server-rendered HTML, one small script and SVG charts, served
//! by refill itself under /portal (decision record "customer page"). A session opened
//! by a one-time link (api::portal_sessions) is a cookie scoped to one account tree;
//! every page calls the same service functions as the API, as that account's caller.
//!
//! One module per page; `session` (cookie, CSRF, forms), `html` (layout, escaping),
//! `money` (amounts for people) and `assets` beside them.

mod add_balance;
mod assets;
mod auto_top_up;
mod cards;
mod chart;
mod history;
mod html;
mod money;
mod notifications;
mod overview;
mod session;
mod sub_accounts;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use refill_service::Refill;
use std::sync::Arc;

pub use html::PageError;
pub use session::Visitor;

/// What the operator sets for the page (settings `portal_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSettings {
    /// Origins allowed to frame the page, space-separated; empty: none.
    pub frame_ancestors: String,
    pub operator_name: String,
    pub logo_url: Option<String>,
    pub color_primary: String,
    pub color_background: String,
}

impl Default for PortalSettings {
    fn default() -> Self {
        PortalSettings {
            frame_ancestors: String::new(),
            operator_name: "refill".into(),
            logo_url: None,
            color_primary: "#1d4ed8".into(),
            color_background: "#f8fafc".into(),
        }
    }
}

impl PortalSettings {
    /// Refuses what would break the page's headers or its style sheet.
    pub fn check(&self) -> Result<(), String> {
        for origin in self.frame_ancestors.split_whitespace() {
            if !is_origin(origin) {
                return Err(format!(
                    "portal_frame_ancestors: {origin:?} is not an origin such as https://dash.example.com"
                ));
            }
        }
        if let Some(logo) = &self.logo_url
            && (!is_origin(origin_of(logo)) || logo.chars().any(|c| c.is_whitespace() || c == '"'))
        {
            return Err("portal_logo_url must be an http(s) URL".into());
        }
        for (name, c) in [
            ("portal_color_primary", &self.color_primary),
            ("portal_color_background", &self.color_background),
        ] {
            if !is_hex_colour(c) {
                return Err(format!("{name} must be a colour #rrggbb, not {c:?}"));
            }
        }
        if self.operator_name.trim().is_empty() || self.operator_name.chars().count() > 80 {
            return Err("portal_operator_name must be 1 to 80 characters".into());
        }
        Ok(())
    }

    /// The Content-Security-Policy of every page: nothing inline, nothing from
    /// elsewhere but the operator's logo; framed only by the configured origins.
    fn content_security_policy(&self) -> String {
        let img = match &self.logo_url {
            Some(logo) => format!("'self' {}", origin_of(logo)),
            None => "'self'".into(),
        };
        let frames = match self.frame_ancestors.trim() {
            "" => "'none'".to_string(),
            origins => origins.split_whitespace().collect::<Vec<_>>().join(" "),
        };
        format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src {img}; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors {frames}"
        )
    }
}

fn is_hex_colour(c: &str) -> bool {
    c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// `scheme://host[:port]` of an http(s) URL (the whole text if it has no path).
fn origin_of(url: &str) -> &str {
    let after = url.find("://").map_or(0, |i| i + 3);
    match url[after..].find('/') {
        Some(i) => &url[..after + i],
        None => url,
    }
}

fn is_origin(o: &str) -> bool {
    let host = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"));
    host.is_some_and(|h| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'*'))
    })
}

/// What every page handler reaches: the service and the operator's settings.
#[derive(Clone)]
pub struct Portal {
    pub app: Refill,
    pub settings: Arc<PortalSettings>,
    csp: HeaderValue,
    /// The cookie is Secure when customers reach refill over https.
    secure_cookie: bool,
}

impl std::fmt::Debug for Portal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Portal")
    }
}

/// The customer page's routes, with their headers.
pub fn router(app: Refill, settings: &PortalSettings) -> Router {
    let secure_cookie =
        (app.config.portal.public_url.as_deref()).is_some_and(|u| u.starts_with("https://"));
    let csp = HeaderValue::from_str(&settings.content_security_policy())
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    let portal = Portal {
        app,
        settings: Arc::new(settings.clone()),
        csp,
        secure_cookie,
    };
    Router::new()
        .merge(assets::routes())
        .merge(session::routes())
        .merge(overview::routes())
        .merge(add_balance::routes())
        .merge(auto_top_up::routes())
        .merge(cards::routes())
        .merge(history::routes())
        .merge(notifications::routes())
        .merge(sub_accounts::routes())
        .layer(axum::middleware::from_fn_with_state(
            portal.clone(),
            page_headers,
        ))
        .with_state(portal)
}

/// The headers of every page and asset: the CSP, no sniffing, no referrer (a link's
/// token must not leak), nothing cached but the assets.
async fn page_headers(State(p): State<Portal>, req: Request, next: Next) -> Response {
    let asset = req.uri().path().starts_with("/portal/assets/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, p.csp.clone());
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if p.settings.frame_ancestors.trim().is_empty() {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if !asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_only_the_configured_frame_origins() {
        let mut s = PortalSettings::default();
        assert!(
            s.content_security_policy()
                .contains("frame-ancestors 'none'")
        );
        s.frame_ancestors = "https://dash.example.com  https://b.example.com".into();
        s.logo_url = Some("https://cdn.example.com/logo.svg".into());
        assert!(s.check().is_ok());
        let csp = s.content_security_policy();
        assert!(csp.contains("frame-ancestors https://dash.example.com https://b.example.com"));
        assert!(csp.contains("img-src 'self' https://cdn.example.com;"));
        assert!(csp.contains("script-src 'self';"));
    }

    #[test]
    fn settings_that_would_break_the_page_are_refused() {
        let bad = [
            PortalSettings {
                frame_ancestors: "'unsafe-inline'".into(),
                ..Default::default()
            },
            PortalSettings {
                color_primary: "red; } body { x".into(),
                ..Default::default()
            },
            PortalSettings {
                logo_url: Some("javascript:alert(1)".into()),
                ..Default::default()
            },
        ];
        for s in bad {
            assert!(s.check().is_err(), "{s:?}");
        }
    }
}
