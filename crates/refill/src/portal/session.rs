//! Who is looking: the session cookie (HttpOnly, SameSite=Lax, Path=/portal) that a
//! one-time link opened; the CSRF token every form carries (derived from the cookie's
//! secret, so it is tied to the session and unknown to any other site); forms read
//! only once their token matched.

use super::html::PageError;
use super::{Portal, html};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use refill_service::portal_sessions::PortalSession;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

const COOKIE: &str = "refill_portal";
/// The largest form body taken.
const FORM_LIMIT: usize = 16 * 1024;

pub(super) fn routes() -> Router<Portal> {
    Router::new()
        .route("/portal/session/{token}", get(open_link))
        .route("/portal", get(home))
        .route("/portal/", get(home))
        .route("/portal/sign-out", post(sign_out))
}

/// A session opened in this browser, and its CSRF token.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub session: PortalSession,
    pub csrf: String,
}

impl Visitor {
    /// The hidden field every form carries.
    pub fn csrf_field(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            self.csrf
        )
    }
}

/// The CSRF token of a session: a hash of its cookie's secret.
fn csrf_of(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"refill portal csrf\0");
    h.update(secret.as_bytes());
    hex::encode(&h.finalize()[..20])
}

fn cookie_secret(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

fn session_ended() -> PageError {
    PageError::new(
        StatusCode::UNAUTHORIZED,
        "portal_session_ended",
        "Your billing session has ended or was never opened here. Open the billing page again from your dashboard.",
    )
}

impl FromRequestParts<Portal> for Visitor {
    type Rejection = PageError;
    async fn from_request_parts(parts: &mut Parts, p: &Portal) -> Result<Visitor, PageError> {
        let secret = cookie_secret(parts)
            .filter(|s| s.len() <= 200)
            .ok_or_else(|| session_ended().in_portal(p))?;
        let session = (p.app.portal_session(secret).await)
            .map_err(|e| PageError::from(e).in_portal(p))?
            .ok_or_else(|| session_ended().in_portal(p))?;
        Ok(Visitor {
            csrf: csrf_of(secret),
            session,
        })
    }
}

fn cookie(p: &Portal, value: &str, max_age_s: i64) -> HeaderValue {
    let secure = if p.secure_cookie { "; Secure" } else { "" };
    let text = format!(
        "{COOKIE}={value}; Path=/portal; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}"
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The one-time link: its token becomes the cookie, then the overview.
async fn open_link(State(p): State<Portal>, Path(token): Path<String>) -> Response {
    match p.app.open_portal_link(&token).await {
        Ok((secret, s)) => {
            let left_s = (s.expires_at - p.app.now()).max(0) / 1000;
            let mut resp = Redirect::to(&format!("/portal/a/{}", s.account_id)).into_response();
            resp.headers_mut()
                .insert(header::SET_COOKIE, cookie(&p, &secret, left_s));
            resp
        }
        Err(e) => {
            let mut err = PageError::from(e).in_portal(&p);
            err.status = StatusCode::FORBIDDEN;
            err.into_response()
        }
    }
}

async fn home(v: Visitor) -> Redirect {
    Redirect::to(&format!("/portal/a/{}", v.session.account_id))
}

async fn sign_out(State(p): State<Portal>, v: Visitor, req: Request) -> Response {
    if let Err(e) = read_form(&p, &v, req).await {
        return e.into_response();
    }
    if let Err(e) = p
        .app
        .revoke_portal_session(&v.session.caller, &v.session.id)
        .await
    {
        return PageError::from(e).in_portal(&p).into_response();
    }
    let mut resp = html::PageError::new(
        StatusCode::OK,
        "signed_out",
        "You are signed out of billing.",
    )
    .in_portal(&p)
    .into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, cookie(&p, "", 0));
    resp
}

/// A submitted form, read only if its CSRF token is this session's: else nothing
/// of it is looked at (403).
pub async fn read_form(p: &Portal, v: &Visitor, req: Request) -> Result<Form, PageError> {
    let body: Bytes = axum::body::to_bytes(req.into_body(), FORM_LIMIT)
        .await
        .map_err(|_| {
            PageError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "form_too_large",
                "The form was too large.",
            )
            .in_portal(p)
        })?;
    let fields: HashMap<String, String> = serde_urlencoded::from_bytes(&body).map_err(|_| {
        PageError::new(
            StatusCode::BAD_REQUEST,
            "invalid_form",
            "The form could not be read.",
        )
        .in_portal(p)
    })?;
    let given = fields.get("csrf").map(String::as_bytes).unwrap_or(b"");
    if !same_bytes(given, v.csrf.as_bytes()) {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "csrf_token_invalid",
            "This form was not sent from your billing page (its security token is missing or wrong). Nothing was changed: reload the page and try again.",
        )
        .in_portal(p));
    }
    Ok(Form(fields))
}

/// Compares without stopping at the first difference.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A form's fields, by name.
pub struct Form(pub HashMap<String, String>);

impl Form {
    pub fn text(&self, name: &str) -> &str {
        self.0.get(name).map(|s| s.trim()).unwrap_or("")
    }
    pub fn opt(&self, name: &str) -> Option<&str> {
        Some(self.text(name)).filter(|t| !t.is_empty())
    }
    pub fn checked(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csrf_token_belongs_to_one_session() {
        assert_eq!(csrf_of("psc_a"), csrf_of("psc_a"));
        assert_ne!(csrf_of("psc_a"), csrf_of("psc_b"));
        assert_eq!(csrf_of("psc_a").len(), 40);
        assert!(same_bytes(b"abc", b"abc"));
        assert!(!same_bytes(b"abc", b"abd"));
        assert!(!same_bytes(b"", b"abc"));
    }
}
