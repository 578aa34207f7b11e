//! Starting refill: the database (migrated), the gateway, the service, the workers
//! and the HTTP server. `serve`, `demo`, `bench` and the tests all start it this way.

use crate::Settings;
use crate::connections;
use crate::settings::NotifySettings;
use anyhow::Context;
use refill_gateway::Gateway;
use refill_gateway::sandbox::Sandbox;
use refill_service::notifications::Channels;
use refill_service::{Clock, Refill};
use refill_store::Db;
use std::net::SocketAddr;
use std::sync::Arc;

pub struct Running {
    pub addr: SocketAddr,
    pub app: Refill,
    /// The operator key, when this start created it.
    pub new_operator_key: Option<String>,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// Stops the server and the workers.
    pub fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The sandbox record path: beside the SQLite file, or as configured.
pub fn sandbox_record(s: &Settings) -> String {
    if let Some(p) = &s.sandbox_record {
        return p.clone();
    }
    match s.database_url.strip_prefix("sqlite://") {
        Some(path) => format!("{}.sandbox.jsonl", path.split('?').next().unwrap_or(path)),
        None => "refill-sandbox.jsonl".into(),
    }
}

/// The configured gateway.
pub fn gateway(s: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<dyn Gateway>> {
    if s.gateway == "stripe" {
        let key = s
            .stripe_secret_key
            .clone()
            .context("REFILL_GATEWAY=stripe needs REFILL_STRIPE_SECRET_KEY")?;
        let mut config = refill_gateway::stripe::StripeConfig::new(key);
        if let Some(base) = &s.stripe_api_base {
            config.api_base = base.clone();
        }
        if s.stripe_webhook_secret.is_none() {
            eprintln!(
                "refill: REFILL_STRIPE_WEBHOOK_SECRET is not set: Stripe's events are refused \
                 (pending payments still settle by asking Stripe, R11)"
            );
        }
        return Ok(Arc::new(refill_gateway::stripe::Stripe::new(config)?));
    }
    let path = sandbox_record(s);
    let now: Arc<dyn Fn() -> i64 + Send + Sync> = Arc::new(move || clock.now_ms());
    let sandbox = Sandbox::open(std::path::Path::new(&path), now)
        .with_context(|| format!("cannot open the sandbox record {path}"))?
        .with_settle_after(s.sandbox_settle_after);
    Ok(Arc::new(sandbox))
}

/// The notification channels (R26) the settings configure.
pub fn channels(n: &NotifySettings) -> anyhow::Result<Channels> {
    use refill_notify::{EmailChannel, SmsChannel, WebhookChannel};
    let email = match &n.smtp_url {
        Some(url) => Some(
            EmailChannel::from_url(url, &n.smtp_from)
                .with_context(|| format!("REFILL_SMTP_URL {}", redact(url)))?,
        ),
        None => None,
    };
    let sms = match (&n.sms_account_sid, &n.sms_auth_token, &n.sms_from) {
        (Some(sid), Some(token), Some(from)) => {
            Some(SmsChannel::new(&n.sms_base_url, sid, token, from).context("SMS settings")?)
        }
        (None, None, None) => None,
        _ => anyhow::bail!(
            "SMS needs all of REFILL_SMS_ACCOUNT_SID, REFILL_SMS_AUTH_TOKEN and REFILL_SMS_FROM"
        ),
    };
    let timeout = std::time::Duration::from_millis(n.webhook_timeout.max(1_000) as u64);
    Ok(Channels {
        email,
        sms,
        webhook: WebhookChannel::with_timeout(timeout)?,
    })
}

/// Connects, migrates, bootstraps the operator key, and serves on `settings.listen`
/// (port 0 picks a free port). `workers` starts the background engine.
pub async fn start(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    gateway: Option<Arc<dyn Gateway>>,
    workers: bool,
) -> anyhow::Result<Running> {
    let db = Db::connect(&settings.database_url).await.with_context(|| {
        format!(
            "cannot open the database {}",
            redact(&settings.database_url)
        )
    })?;
    db.migrate().await.context("cannot apply the schema")?;
    let gateway = match gateway {
        Some(g) => g,
        None => self::gateway(settings, clock.clone())?,
    };
    let mut config = settings.service.clone();
    if let Some(secret) = &settings.stripe_webhook_secret {
        config.stripe_webhook_secret = Some(refill_service::config::Secret(secret.clone()));
    }
    let app = Refill::new(db, gateway, clock, config).with_channels(channels(&settings.notify)?);
    let new_operator_key = app
        .bootstrap_operator_key(settings.bootstrap_key.as_deref())
        .await?;
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    // The customer page beside the API, outside its JSON-only edge (forms).
    let router = crate::api::router(app.clone(), settings.http.body_timeout())
        .merge(crate::portal::router(app.clone(), &settings.portal));
    let limits = connection_limits(&settings.http);
    let mut tasks = vec![tokio::spawn(connections::serve(listener, router, limits)).abort_handle()];
    if workers {
        tasks.extend(refill_service::workers::spawn_workers(app.clone()));
    }
    Ok(Running {
        addr,
        app,
        new_operator_key,
        tasks,
    })
}

/// The connection limits, with the open-files limit raised for them (one file per
/// connection); a limit below them is said at start.
fn connection_limits(http: &crate::settings::HttpSettings) -> connections::Limits {
    let limits = connections::Limits::from(http);
    let files = connections::raise_fd_limit();
    let wanted = limits.max_connections + limits.health_connections;
    if files > 0 && (files as usize) < wanted + 256 {
        eprintln!(
            "refill: the open-files limit ({files}) is below max_connections + health_connections \
             ({wanted}) and the server's own files: connections past it fail to open"
        );
    }
    limits
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}
