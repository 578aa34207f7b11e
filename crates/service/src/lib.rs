//! refill's use cases and workers. The HTTP API, the CLI and the tests all call these
//! functions; each one runs its changes, and the events they cause, in one
//! transaction (R28), and takes its time from the injected `Clock`.

pub mod account_changes;
pub mod account_reads;
pub mod accounts;
pub mod api_keys;
pub mod api_objects;
pub mod authentication;
pub mod auto_top_up;
pub mod caches;
pub mod clock;
pub mod config;
pub mod debit_pipeline;
pub mod delivery;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod journal;
pub mod notifications;
pub mod pending_credit;
pub mod periodic;
pub mod portal_sessions;
pub mod recurring_fees;
pub mod refunds;
pub mod renewal_top_ups;
pub mod saved_cards;
pub mod scheduled_recharge;
pub mod stripe_webhooks;
pub mod top_up_executor;
pub mod top_ups;
pub mod verification_refunds;
pub mod workers;

pub use clock::{Clock, SimClock, SystemClock};
pub use config::Config;
pub use error::ServiceError;
pub use idempotency::Idem;

use refill_gateway::Gateway;
use refill_store::Db;
use std::sync::Arc;
use tokio::sync::Notify;

pub type Result<T> = std::result::Result<T, ServiceError>;

/// Everything a use case needs: the database, the gateway, the clock, the settings,
/// and the debit pipeline.
#[derive(Clone)]
pub struct Refill {
    pub db: Db,
    pub gateway: Arc<dyn Gateway>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    pub debit_pipeline: debit_pipeline::DebitPipeline,
    /// Woken when a top-up is queued, so it runs at once rather than at the next poll.
    pub work_ready: Arc<Notify>,
    /// This node's name in leases.
    pub node_id: String,
    /// Where notifications go (R26): email and SMS once configured, webhooks always.
    pub channels: Arc<notifications::Channels>,
    /// This node's delivery counts, for /metrics.
    pub counters: Arc<delivery::DeliveryCounters>,
    /// Keys and account trees known to the debit path, so that a debit needs no
    /// database read before the pipeline.
    pub caches: Arc<caches::Caches>,
}

impl Refill {
    /// Connects the pieces and starts the debit pipeline (not the background workers:
    /// see `workers::spawn_workers`).
    pub fn new(db: Db, gateway: Arc<dyn Gateway>, clock: Arc<dyn Clock>, config: Config) -> Refill {
        let config = Arc::new(config);
        let work_ready = Arc::new(Notify::new());
        let debit_pipeline = debit_pipeline::DebitPipeline::start(
            db.clone(),
            clock.clone(),
            config.clone(),
            work_ready.clone(),
        );
        Refill {
            db,
            gateway,
            clock,
            config,
            debit_pipeline,
            work_ready,
            node_id: refill_store::new_id("node"),
            channels: Arc::new(notifications::Channels::default()),
            counters: Arc::default(),
            caches: Arc::default(),
        }
    }

    /// The same service sending notifications through `channels`.
    pub fn with_channels(mut self, channels: notifications::Channels) -> Refill {
        self.channels = Arc::new(channels);
        self
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }
}
