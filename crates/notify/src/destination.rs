//! Where a webhook goes: its host resolved once per connection, the addresses checked,
//! and the connection made to those same addresses.
//!
//! The check is a reqwest [`Resolve`]: reqwest asks it for a host's addresses and
//! connects only to what it returns, so no second lookup can answer differently (DNS
//! rebinding). Pinning with `ClientBuilder::resolve_to_addrs` would need a client per
//! delivery (its TLS setup each time) for the same guarantee. A URL that gives an IP
//! address is connected to without any lookup: that address is checked before sending.

use crate::DeliveryError;
use crate::address::why_not_public;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};

/// Which addresses an endpoint may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Public unicast only: endpoints registered by accounts, which must not reach
    /// into the provider's own network.
    Public,
    /// Any address, loopback and private included: endpoints the operator registered
    /// (its own systems), and local receivers in tests.
    Any,
}

/// Why a webhook destination is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error("webhook: bad URL: {0}")]
    BadUrl(String),
    #[error("webhook: cannot resolve {host}: {reason}")]
    Unresolvable { host: String, reason: String },
    #[error(
        "webhook: {host} has the address {address}, which is not public: {why}; an endpoint registered by an account must have public addresses only"
    )]
    NotPublic {
        host: String,
        address: IpAddr,
        why: String,
    },
}

/// Resolution can fail for a while (a DNS outage); a private address needs the
/// endpoint's owner to change it.
impl From<DestinationError> for DeliveryError {
    fn from(e: DestinationError) -> Self {
        match e {
            DestinationError::Unresolvable { .. } => DeliveryError::retryable(e.to_string()),
            _ => DeliveryError::permanent(e.to_string()),
        }
    }
}

impl Reach {
    /// Refuses `ips` unless every one is allowed: one private answer among public ones
    /// is enough for a connection to go there.
    fn allows(self, host: &str, ips: &[IpAddr]) -> Result<(), DestinationError> {
        if self == Reach::Any {
            return Ok(());
        }
        for &address in ips {
            if let Some(why) = why_not_public(address) {
                return Err(DestinationError::NotPublic {
                    host: host.to_string(),
                    address,
                    why,
                });
            }
        }
        Ok(())
    }
}

/// Where host names are looked up: the system's resolver, or a test's table.
#[derive(Debug, Clone, Default)]
pub(crate) enum Lookup {
    #[default]
    System,
    #[cfg(feature = "test-support")]
    Fake(crate::testing::FakeDns),
}

impl Lookup {
    /// The host's addresses; none at all counts as unresolvable.
    async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, DestinationError> {
        let found = match self {
            Lookup::System => tokio::net::lookup_host((host, 0))
                .await
                .map(|addrs| addrs.map(|a| a.ip()).collect::<Vec<_>>())
                .map_err(|e| e.to_string()),
            #[cfg(feature = "test-support")]
            Lookup::Fake(dns) => dns.lookup(host),
        };
        match found {
            Ok(ips) if !ips.is_empty() => Ok(ips),
            Ok(_) => Err(unresolvable(host, "no addresses")),
            Err(reason) => Err(unresolvable(host, &reason)),
        }
    }
}

fn unresolvable(host: &str, reason: &str) -> DestinationError {
    DestinationError::Unresolvable {
        host: host.to_string(),
        reason: reason.to_string(),
    }
}

/// reqwest's resolver: one lookup per connection, refused unless `reach` allows every
/// address found. Port 0 tells reqwest to use the URL's port.
#[derive(Debug, Clone)]
pub(crate) struct Resolver {
    pub(crate) lookup: Lookup,
    pub(crate) reach: Reach,
}

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (this, host) = (self.clone(), name.as_str().to_string());
        Box::pin(async move {
            let ips = this.lookup.ips(&host).await?;
            this.reach.allows(&host, &ips)?;
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The address a URL's host gives literally (`http://10.0.0.1/`, `http://[::1]/`), which
/// is connected to without a lookup. The URL parser has already normalised the other
/// spellings of an IPv4 address (`2130706433`, `0x7f.1`) to this form.
fn literal(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Checks a URL's literal address before a delivery, the one case the resolver never
/// sees. A URL that does not parse is left to reqwest to refuse.
pub(crate) fn check_literal(url: &str, reach: Reach) -> Result<(), DestinationError> {
    let parsed = reqwest::Url::parse(url).ok();
    match parsed.as_ref().and_then(|u| u.host_str()) {
        Some(host) => match literal(host) {
            Some(ip) => reach.allows(host, &[ip]),
            None => Ok(()),
        },
        None => Ok(()),
    }
}

/// Checks where `url` leads as a delivery would: a literal address as given, a name by
/// resolving it. For registering an endpoint: a name that does not resolve is refused.
pub(crate) async fn check(
    url: &str,
    reach: Reach,
    lookup: &Lookup,
) -> Result<(), DestinationError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| DestinationError::BadUrl(e.to_string()))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| DestinationError::BadUrl("the URL has no host".into()))?;
    let ips = match literal(host) {
        Some(ip) => vec![ip],
        None => lookup.ips(host).await?,
    };
    reach.allows(host, &ips)
}

/// The refusal behind a failed request, when the resolver refused the connection.
pub(crate) fn refusal_in(e: &reqwest::Error) -> Option<DestinationError> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(refused) = err.downcast_ref::<DestinationError>() {
            return Some(refused.clone());
        }
        cur = err.source();
    }
    None
}
