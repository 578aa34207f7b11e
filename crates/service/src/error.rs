use refill_domain::DomainError;
use refill_gateway::GatewayError;
use refill_store::StoreError;
use thiserror::Error;

/// Why a use case refused or failed. The HTTP edge maps each to a status and a stable
/// code, once.
#[derive(Debug, Error)]
pub enum ServiceError {
    #[error("{0}")]
    Domain(#[from] DomainError),
    #[error("{what} {id} was not found")]
    NotFound { what: &'static str, id: String },
    #[error("this API key may not act on {0}")]
    Forbidden(String),
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("the settings changed since version {expected}: read them again and retry")]
    VersionMismatch { expected: i64 },
    #[error("the card was declined: {message}")]
    CardDeclined {
        code: String,
        message: String,
        top_up_id: String,
    },
    #[error("the card needs 3-D Secure authentication: confirm it with POST {confirm_path}")]
    AuthenticationRequired {
        top_up_id: String,
        confirm_path: String,
        /// Where the customer completes 3-D Secure on the payment itself (Stripe: the
        /// PaymentIntent's client secret, for Stripe.js).
        client_secret: Option<String>,
    },
    #[error("{0}")]
    Gateway(#[from] GatewayError),
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The same Idempotency-Key was committed by a concurrent request: replay it.
    #[error("a concurrent request with the same idempotency key finished first")]
    IdempotentReplay,
}

impl ServiceError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError::Invalid {
            code,
            message: message.into(),
        }
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError::Conflict {
            code,
            message: message.into(),
        }
    }
    pub fn not_found(what: &'static str, id: &str) -> ServiceError {
        ServiceError::NotFound {
            what,
            id: id.chars().take(64).collect(),
        }
    }
}

impl From<refill_store::sqlx::Error> for ServiceError {
    fn from(e: refill_store::sqlx::Error) -> Self {
        ServiceError::Store(StoreError::Db(e))
    }
}
