//! The customer page's sessions: created by the operator or an account key for an
//! account it sees, opened once by a one-time link that becomes a cookie, scoped to
//! that account and its sub-accounts, ended by their time or by revocation. Link and
//! cookie secrets are stored hashed, like API keys.

use crate::accounts::{Caller, hash_key, new_secret};
use crate::api_objects::rfc3339;
use crate::{Idem, Refill, Result, ServiceError, idempotency};
use refill_store::PortalSessionRow;
use serde::{Deserialize, Serialize};

/// The longest return URL taken.
const RETURN_URL_MAX: usize = 2_000;

#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPortalSession {
    pub account_id: String,
    /// Where the page's "Back" link leads (the provider's dashboard).
    pub return_url: Option<String>,
    /// How money and dates are written: a language tag such as `en-GB` (default).
    pub locale: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct PortalSessionView {
    pub id: String,
    pub object: &'static str,
    pub account_id: String,
    /// The one-time link (only in the answer that created the session).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub return_url: Option<String>,
    pub locale: String,
    /// active | opened | expired | revoked
    pub status: &'static str,
    /// Until when the link may be opened.
    pub link_expires_at: String,
    pub expires_at: String,
    pub created: String,
}

/// A session opened in a browser: who it acts as, and its facts.
#[derive(Debug, Clone, PartialEq)]
pub struct PortalSession {
    /// An account caller (the session's id as its key id): every use case checks it
    /// as it checks an account key, so the page sees what that key would.
    pub caller: Caller,
    pub id: String,
    pub account_id: String,
    pub return_url: Option<String>,
    pub locale: String,
    pub expires_at: i64,
}

impl PortalSession {
    fn of(row: PortalSessionRow) -> PortalSession {
        PortalSession {
            caller: Caller::Account {
                key_id: row.id.clone(),
                account_id: row.account_id.clone(),
            },
            id: row.id,
            account_id: row.account_id,
            return_url: row.return_url,
            locale: row.locale,
            expires_at: row.expires_at,
        }
    }
}

/// Why a link or cookie opens nothing: each has its own words for the page.
pub fn link_refused(code: &'static str) -> ServiceError {
    let message = match code {
        "portal_link_used" => "this link was used already: ask for a new one from your dashboard",
        "portal_link_expired" => "this link has expired: ask for a new one from your dashboard",
        _ => "this link is not valid: ask for a new one from your dashboard",
    };
    ServiceError::invalid(code, message)
}

fn status(s: &PortalSessionRow, now: i64) -> &'static str {
    if s.revoked_at.is_some() {
        "revoked"
    } else if now >= s.expires_at || (s.exchanged_at.is_none() && now >= s.link_expires_at) {
        "expired"
    } else if s.exchanged_at.is_some() {
        "opened"
    } else {
        "active"
    }
}

fn view(s: &PortalSessionRow, url: Option<String>, now: i64) -> PortalSessionView {
    PortalSessionView {
        id: s.id.clone(),
        object: "portal_session",
        account_id: s.account_id.clone(),
        url,
        return_url: s.return_url.clone(),
        locale: s.locale.clone(),
        status: status(s, now),
        link_expires_at: rfc3339(s.link_expires_at),
        expires_at: rfc3339(s.expires_at),
        created: rfc3339(s.created_at),
    }
}

/// A language tag of the form `en` or `en-GB`.
fn check_locale(locale: Option<&str>) -> Result<String> {
    let tag = locale.unwrap_or("en-GB");
    let mut parts = tag.split('-');
    let lang = parts.next().unwrap_or("");
    let region = parts.next();
    let ok = (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && region.is_none_or(|r| r.len() == 2 && r.bytes().all(|b| b.is_ascii_uppercase()))
        && parts.next().is_none();
    match ok {
        true => Ok(tag.to_string()),
        false => Err(ServiceError::invalid(
            "invalid_locale",
            "locale is a language tag such as en-GB, en-US, de-DE or fr-FR",
        )),
    }
}

/// An http(s) URL with nothing a page could misread.
fn check_return_url(url: Option<&str>) -> Result<Option<String>> {
    let Some(url) = url else { return Ok(None) };
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    let text_ok = url.len() <= RETURN_URL_MAX
        && url
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '<' | '>' | '\\' | '`'));
    match scheme_ok && text_ok {
        true => Ok(Some(url.to_string())),
        false => Err(ServiceError::invalid(
            "invalid_return_url",
            "return_url is an http or https URL of at most 2000 characters",
        )),
    }
}

impl Refill {
    /// A session for an account the caller sees; its one-time link is `base` +
    /// `/portal/session/<token>`.
    pub async fn create_portal_session(
        &self,
        caller: &Caller,
        req: NewPortalSession,
        base: &str,
        idem: Option<&Idem>,
    ) -> Result<PortalSessionView> {
        let account = self.open_account(caller, &req.account_id).await?;
        let locale = check_locale(req.locale.as_deref())?;
        let return_url = check_return_url(req.return_url.as_deref())?;
        let now = self.now();
        let token = new_secret("pst");
        let ttl = &self.config.portal;
        let row = PortalSessionRow {
            id: refill_store::new_id("ps"),
            account_id: account.id,
            link_hash: hash_key(&token),
            cookie_hash: None,
            return_url,
            locale,
            created_by: caller.key_id().to_string(),
            created_at: now,
            link_expires_at: now.saturating_add(ttl.link_ttl.min(ttl.session_ttl)),
            expires_at: now.saturating_add(ttl.session_ttl),
            exchanged_at: None,
            revoked_at: None,
        };
        let url = format!("{}/portal/session/{token}", base.trim_end_matches('/'));
        let created = view(&row, Some(url), now);
        let mut tx = self.db.begin().await?;
        refill_store::insert_portal_session(&mut tx, &row).await?;
        // A replay answers without the link: the secret is shown once.
        let kept = view(&row, None, now);
        idempotency::remember(&mut tx, idem, 201, &kept, now).await?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn get_portal_session(&self, caller: &Caller, id: &str) -> Result<PortalSessionView> {
        let row = self.visible_portal_session(caller, id).await?;
        Ok(view(&row, None, self.now()))
    }

    /// Ends a session at once: its cookie opens nothing from the next request on.
    pub async fn revoke_portal_session(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<PortalSessionView> {
        let row = self.visible_portal_session(caller, id).await?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        refill_store::revoke_portal_session(&mut tx, &row.id, now).await?;
        tx.commit().await?;
        let row = PortalSessionRow {
            revoked_at: row.revoked_at.or(Some(now)),
            ..row
        };
        Ok(view(&row, None, now))
    }

    async fn visible_portal_session(&self, caller: &Caller, id: &str) -> Result<PortalSessionRow> {
        let row = refill_store::get_portal_session(&self.db.pool, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("portal session", id))?;
        self.account(caller, &row.account_id)
            .await
            .map_err(|_| ServiceError::not_found("portal session", id))?;
        Ok(row)
    }

    /// Opens the session of a one-time link: the cookie's secret and the session.
    /// A link works once and only within its time.
    pub async fn open_portal_link(&self, token: &str) -> Result<(String, PortalSession)> {
        let now = self.now();
        let row = refill_store::portal_session_by_link(&self.db.pool, &hash_key(token))
            .await?
            .filter(|r| r.revoked_at.is_none())
            .ok_or_else(|| link_refused("portal_link_invalid"))?;
        if row.exchanged_at.is_some() {
            return Err(link_refused("portal_link_used"));
        }
        if now >= row.link_expires_at || now >= row.expires_at {
            return Err(link_refused("portal_link_expired"));
        }
        let secret = new_secret("psc");
        let mut tx = self.db.begin().await?;
        let exchanged =
            refill_store::exchange_portal_link(&mut tx, &row.id, &hash_key(&secret), now).await?;
        tx.commit().await?;
        if !exchanged {
            return Err(link_refused("portal_link_used"));
        }
        Ok((secret, PortalSession::of(row)))
    }

    /// The session a cookie's secret opens, if it is still open.
    pub async fn portal_session(&self, secret: &str) -> Result<Option<PortalSession>> {
        let now = self.now();
        let row = refill_store::portal_session_by_cookie(&self.db.pool, &hash_key(secret)).await?;
        Ok(row
            .filter(|r| r.revoked_at.is_none() && now < r.expires_at)
            .map(PortalSession::of))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locale_is_a_language_tag() {
        assert_eq!(check_locale(None).unwrap(), "en-GB");
        assert_eq!(check_locale(Some("de-DE")).unwrap(), "de-DE");
        assert_eq!(check_locale(Some("fr")).unwrap(), "fr");
        for bad in ["", "EN-gb", "en_GB", "en-GB-x", "e", "<script>"] {
            assert!(check_locale(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_return_url_is_http_and_plain_text() {
        assert!(check_return_url(Some("https://dash.example.test/billing?x=1")).is_ok());
        for bad in [
            "javascript:alert(1)",
            "https://a.test/\"><b",
            "ftp://a",
            "https://a b",
        ] {
            assert!(check_return_url(Some(bad)).is_err(), "{bad}");
        }
    }
}
