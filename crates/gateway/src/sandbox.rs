//! The built-in sandbox card network. It takes Stripe's test payment methods as tokens
//! (`pm_card_visa` succeeds, `pm_card_chargeDeclined` declines, ...), so the docs and
//! habits of payment engineers carry over, and it keeps its own record of charges,
//! keyed by idempotency key, in an append-only file that survives a crash like a real
//! gateway's would. Tests count real charges there, and inject outages.

use crate::*;
use refill_domain::{DAY, Millis};
use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

mod inspect;
mod refunds;

/// How the sandbox treats a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Succeed,
    Decline(DeclineClass, &'static str),
    RequireAuthentication,
    /// Pending at first (R11); settles as succeeded, or as failed.
    Pending {
        settles_ok: bool,
    },
    /// Saving and charging with the customer present work; charges without them
    /// (automatic top-ups) are declined, like Stripe's pm_card_chargeCustomerFail.
    FailsOffSession,
}

struct TestCard {
    token: &'static str,
    brand: &'static str,
    last4: &'static str,
    behaviour: Behaviour,
}

const fn card(
    token: &'static str,
    brand: &'static str,
    last4: &'static str,
    behaviour: Behaviour,
) -> TestCard {
    TestCard {
        token,
        brand,
        last4,
        behaviour,
    }
}

/// Stripe's test payment methods, as the sandbox understands them.
const CARDS: &[TestCard] = &[
    card("pm_card_visa", "visa", "4242", Behaviour::Succeed),
    card(
        "pm_card_mastercard",
        "mastercard",
        "4444",
        Behaviour::Succeed,
    ),
    card("pm_card_amex", "amex", "8431", Behaviour::Succeed),
    card(
        "pm_card_chargeDeclined",
        "visa",
        "0002",
        Behaviour::Decline(DeclineClass::Soft, "card_declined"),
    ),
    card(
        "pm_card_chargeDeclinedInsufficientFunds",
        "visa",
        "9995",
        Behaviour::Decline(DeclineClass::Soft, "insufficient_funds"),
    ),
    card(
        "pm_card_chargeDeclinedExpiredCard",
        "visa",
        "0069",
        Behaviour::Decline(DeclineClass::Soft, "expired_card"),
    ),
    card(
        "pm_card_chargeDeclinedLostCard",
        "visa",
        "9987",
        Behaviour::Decline(DeclineClass::Hard, "lost_card"),
    ),
    card(
        "pm_card_chargeDeclinedStolenCard",
        "visa",
        "9979",
        Behaviour::Decline(DeclineClass::Hard, "stolen_card"),
    ),
    card(
        "pm_card_chargeDeclinedFraudulent",
        "visa",
        "0019",
        Behaviour::Decline(DeclineClass::Hard, "fraudulent"),
    ),
    card(
        "pm_card_authenticationRequired",
        "visa",
        "3184",
        Behaviour::RequireAuthentication,
    ),
    card(
        "pm_card_chargeCustomerFail",
        "visa",
        "0341",
        Behaviour::FailsOffSession,
    ),
    card(
        "pm_card_pending",
        "visa",
        "0077",
        Behaviour::Pending { settles_ok: true },
    ),
    card(
        "pm_card_pendingThenFails",
        "visa",
        "0085",
        Behaviour::Pending { settles_ok: false },
    ),
    // R31: charges succeed; their refunds stay pending (see refunds.rs).
    card("pm_card_refundFail", "visa", "5126", Behaviour::Succeed),
    card("pm_card_refundPending", "visa", "0107", Behaviour::Succeed),
];

fn test_card(token: &str) -> Result<&'static TestCard, GatewayError> {
    CARDS
        .iter()
        .find(|c| c.token == token)
        .ok_or_else(|| GatewayError::Invalid(format!("no such payment method: {token:?} (the sandbox takes Stripe's test tokens, such as pm_card_visa)")))
}

/// A fault to inject into the next gateway calls (tests only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The gateway is down: nothing is charged, the caller sees an outage.
    Outage,
    /// The charge is made, but the answer is lost (a timeout): the caller sees an
    /// outage and must find the charge by its key (R25).
    TimeoutAfterCharge,
}

/// One line of the sandbox's record.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Record {
    key: String,
    charge_id: String,
    token: String,
    amount: i64,
    currency: String,
    /// "succeeded", "pending", "failed", "declined:<class>:<code>", "refund:<charge>"
    outcome: String,
    at: i64,
}

struct Inner {
    by_key: HashMap<String, Record>,
    by_charge: HashMap<String, String>,
    file: Option<File>,
    path: Option<PathBuf>,
    /// How much of the record file has been read: other processes (refill nodes)
    /// append to it too, so it is read again up to its end before each call.
    read_to: u64,
    faults: VecDeque<Fault>,
    /// Refunds still to answer with an outage (`fail_refunds`).
    refund_outages: u32,
    next_id: u64,
}

/// The sandbox's state, held with the record file locked (shared between processes
/// like one card network): unlocked when dropped.
struct Guard<'a>(std::sync::MutexGuard<'a, Inner>);

impl std::ops::Deref for Guard<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl std::ops::DerefMut for Guard<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.0
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if let Some(f) = &self.0.file {
            let _ = f.unlock();
        }
    }
}

/// R11: how long a pending charge stays pending unless configured
/// (`sandbox_settle_after`): like a bank transfer, a few days.
pub const DEFAULT_SETTLE_AFTER: Millis = 3 * DAY;

/// The sandbox gateway. Clone it freely: clones share one record.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Mutex<Inner>>,
    now: Arc<dyn Fn() -> i64 + Send + Sync>,
    /// R11: how long a pending charge stays pending.
    settle_after: Millis,
}

impl Sandbox {
    /// A sandbox whose record lives only in memory.
    pub fn in_memory(now: Arc<dyn Fn() -> i64 + Send + Sync>) -> Sandbox {
        Sandbox::with_file(None, now).expect("no file to open")
    }

    /// A sandbox whose record is kept in `path` (appended, synced per charge) and
    /// read back at start.
    pub fn open(path: &Path, now: Arc<dyn Fn() -> i64 + Send + Sync>) -> std::io::Result<Sandbox> {
        Sandbox::with_file(Some(path.to_path_buf()), now)
    }

    fn with_file(
        path: Option<PathBuf>,
        now: Arc<dyn Fn() -> i64 + Send + Sync>,
    ) -> std::io::Result<Sandbox> {
        let mut inner = Inner {
            by_key: HashMap::new(),
            by_charge: HashMap::new(),
            file: None,
            path: path.clone(),
            read_to: 0,
            faults: VecDeque::new(),
            refund_outages: 0,
            next_id: 0,
        };
        if let Some(path) = path {
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(&path)?;
            f.lock()?;
            // A torn last line (killed mid-write) was never answered: end it, skip it.
            let len = f.metadata()?.len();
            if len > 0 {
                use std::io::{Read, Seek, SeekFrom};
                let mut last = [0u8; 1];
                f.seek(SeekFrom::Start(len - 1))?;
                f.read_exact(&mut last)?;
                if last[0] != b'\n' {
                    f.write_all(b"\n")?;
                }
            }
            f.unlock()?;
            inner.file = Some(f);
            inner.catch_up()?;
        }
        Ok(Sandbox {
            inner: Arc::new(Mutex::new(inner)),
            now,
            settle_after: DEFAULT_SETTLE_AFTER,
        })
    }

    /// Sets how long pending charges stay pending (R11).
    pub fn with_settle_after(mut self, after: Millis) -> Sandbox {
        self.settle_after = after;
        self
    }

    /// Injects faults into the next calls, in order (tests).
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    /// The next `n` refunds fail with an outage, nothing refunded (tests); charges
    /// are not affected.
    pub fn fail_refunds(&self, n: u32) {
        self.lock().refund_outages = n;
    }

    fn lock(&self) -> Guard<'_> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = &inner.file {
            let _ = f.lock();
        }
        let _ = inner.catch_up();
        Guard(inner)
    }

    fn settle(&self, rec: &Record) -> Charge {
        let mut outcome = rec.outcome.as_str();
        if outcome == "pending" && (self.now)() >= rec.at.saturating_add(self.settle_after) {
            let ok = matches!(
                test_card(&rec.token).map(|c| c.behaviour),
                Ok(Behaviour::Pending { settles_ok: true })
            );
            outcome = if ok { "succeeded" } else { "failed" };
        }
        to_charge(rec, outcome)
    }
}

fn to_charge(rec: &Record, outcome: &str) -> Charge {
    let status = match outcome {
        "succeeded" => ChargeStatus::Succeeded,
        "pending" => ChargeStatus::Pending,
        "failed" => ChargeStatus::Declined {
            class: DeclineClass::Soft,
            code: "payment_failed".into(),
            message: "the pending payment failed at the bank".into(),
        },
        other => {
            let mut parts = other.splitn(3, ':').skip(1);
            let class = match parts.next() {
                Some("hard") => DeclineClass::Hard,
                Some("authentication_required") => DeclineClass::AuthenticationRequired,
                Some("rejected") => DeclineClass::Rejected,
                _ => DeclineClass::Soft,
            };
            let code = parts.next().unwrap_or("card_declined").to_string();
            ChargeStatus::Declined {
                class,
                message: decline_message(&code),
                code,
            }
        }
    };
    Charge {
        id: rec.charge_id.clone(),
        amount: rec.amount,
        currency: rec.currency.clone(),
        status,
    }
}

fn decline_message(code: &str) -> String {
    match code {
        "insufficient_funds" => "Your card has insufficient funds.",
        "expired_card" => "Your card has expired.",
        "lost_card" | "stolen_card" => "Your card was declined (reported lost or stolen).",
        "fraudulent" => "Your card was declined as fraudulent.",
        "authentication_required" => "Your card requires authentication (3-D Secure).",
        _ => "Your card was declined.",
    }
    .to_string()
}

/// R1: what the sandbox refuses as Stripe would: an amount that is not positive, or
/// one Stripe does not take in its currency (`GatewayRules`).
fn refused_amount(amount: i64, currency: &str) -> Option<String> {
    if amount <= 0 {
        return Some("amount must be positive".into());
    }
    let c = refill_domain::Currency::parse(&currency.to_ascii_uppercase()).ok()?;
    let rules = c.gateway();
    (!rules.accepts(amount)).then(|| {
        format!(
            "{} is not a charge Stripe takes in {c}: at least {}, in multiples of {}",
            refill_domain::Money::new(amount, c),
            refill_domain::Money::new(rules.minimum_charge, c),
            rules.step
        )
    })
}

fn class_name(c: DeclineClass) -> &'static str {
    match c {
        DeclineClass::Soft => "soft",
        DeclineClass::Hard => "hard",
        DeclineClass::AuthenticationRequired => "authentication_required",
        DeclineClass::Rejected => "rejected",
    }
}

impl Inner {
    /// Reads the records other processes appended since the last read.
    fn catch_up(&mut self) -> std::io::Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut f = File::open(path)?;
        f.seek(SeekFrom::Start(self.read_to))?;
        let mut text = String::new();
        f.read_to_string(&mut text)?;
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        for line in text[..complete].lines() {
            if let Ok(rec) = serde_json::from_str::<Record>(line) {
                self.remember(rec);
            }
        }
        self.read_to += complete as u64;
        Ok(())
    }

    fn remember(&mut self, rec: Record) {
        self.next_id += 1;
        self.by_charge
            .insert(rec.charge_id.clone(), rec.key.clone());
        self.by_key.insert(rec.key.clone(), rec);
    }

    /// Writes the record to disk before anyone is answered, as a real gateway does.
    fn record(&mut self, rec: Record) -> Result<(), GatewayError> {
        if let Some(f) = self.file.as_mut() {
            let mut line =
                serde_json::to_string(&rec).map_err(|e| GatewayError::Outage(e.to_string()))?;
            line.push('\n');
            f.write_all(line.as_bytes())
                .and_then(|_| f.sync_data())
                .map_err(|e| GatewayError::Outage(format!("sandbox record: {e}")))?;
        }
        self.remember(rec);
        Ok(())
    }
}

fn outcome_for(card: &TestCard, req: &ChargeRequest) -> String {
    let authenticated = req.authenticated;
    match card.behaviour {
        Behaviour::FailsOffSession if req.off_session => "declined:soft:card_declined".into(),
        Behaviour::FailsOffSession => "succeeded".into(),
        Behaviour::Succeed => "succeeded".into(),
        Behaviour::RequireAuthentication if authenticated => "succeeded".into(),
        Behaviour::RequireAuthentication => {
            "declined:authentication_required:authentication_required".into()
        }
        Behaviour::Decline(class, code) => format!("declined:{}:{code}", class_name(class)),
        Behaviour::Pending { .. } => "pending".into(),
    }
}

#[async_trait]
impl Gateway for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn describe_payment_method(&self, token: &str) -> Result<CardDetails, GatewayError> {
        let c = test_card(token)?;
        Ok(CardDetails {
            brand: c.brand.into(),
            last4: c.last4.into(),
            exp_month: 12,
            exp_year: 2034,
        })
    }

    async fn charge(&self, req: &ChargeRequest) -> Result<Charge, GatewayError> {
        if let Some(why) = refused_amount(req.amount, &req.currency) {
            return Err(note_rejected(&format!(
                "sandbox: charge {}: {why}",
                req.idempotency_key
            )));
        }
        let card = test_card(&req.payment_method)?;
        let mut inner = self.lock();
        let fault = inner.faults.pop_front();
        if fault == Some(Fault::Outage) {
            return Err(GatewayError::Outage(
                "sandbox: injected outage (nothing was charged)".into(),
            ));
        }
        if let Some(rec) = inner.by_key.get(&req.idempotency_key) {
            if rec.amount != req.amount || rec.token != req.payment_method {
                return Err(GatewayError::Invalid(
                    "idempotency key reused with other parameters".into(),
                ));
            }
            let rec = rec.clone();
            drop(inner);
            return Ok(self.settle(&rec));
        }
        let rec = Record {
            key: req.idempotency_key.clone(),
            charge_id: format!("ch_sbx_{}", uuid::Uuid::now_v7().simple()),
            token: req.payment_method.clone(),
            amount: req.amount,
            currency: req.currency.clone(),
            outcome: outcome_for(card, req),
            at: (self.now)(),
        };
        inner.record(rec.clone())?;
        drop(inner);
        if fault == Some(Fault::TimeoutAfterCharge) {
            return Err(GatewayError::Outage(
                "sandbox: injected timeout (the charge was made)".into(),
            ));
        }
        Ok(self.settle(&rec))
    }

    async fn find_charge(&self, idempotency_key: &str) -> Result<Option<Charge>, GatewayError> {
        let rec = self.lock().by_key.get(idempotency_key).cloned();
        Ok(rec.map(|r| self.settle(&r)))
    }

    async fn retrieve_charge(&self, charge_id: &str) -> Result<Charge, GatewayError> {
        let inner = self.lock();
        let rec = inner
            .by_charge
            .get(charge_id)
            .and_then(|k| inner.by_key.get(k))
            .cloned()
            .ok_or_else(|| GatewayError::Invalid(format!("no such charge: {charge_id}")))?;
        drop(inner);
        Ok(self.settle(&rec))
    }

    /// The sandbox has no customers: a card is its token.
    async fn register_payer(&self, _req: &PayerRequest) -> Result<Option<String>, GatewayError> {
        Ok(None)
    }

    /// Saving needs nothing more than a known token: 3-D Secure is asked at charge time
    /// (R14's verification charge), as before.
    async fn save_payment_method(
        &self,
        _customer: Option<&str>,
        token: &str,
        _idempotency_key: &str,
    ) -> Result<SavedCard, GatewayError> {
        test_card(token)?;
        Ok(SavedCard {
            token: token.into(),
            setup_id: None,
            status: SetupStatus::Ready,
        })
    }

    async fn retrieve_setup(&self, setup_id: &str) -> Result<SavedCard, GatewayError> {
        Err(GatewayError::Invalid(format!(
            "the sandbox has no card setups: {setup_id}"
        )))
    }

    async fn remove_payment_method(&self, _token: &str, _key: &str) -> Result<(), GatewayError> {
        Ok(())
    }

    async fn refund(&self, req: &RefundRequest) -> Result<Refund, GatewayError> {
        self.make_refund(req)
    }

    async fn retrieve_refund(&self, refund_id: &str) -> Result<Refund, GatewayError> {
        self.find_refund(refund_id)
    }

    async fn list_refunds(&self, charge_id: &str) -> Result<Vec<Refund>, GatewayError> {
        Ok(self.refunds_of(charge_id))
    }
}

#[cfg(test)]
mod tests;
