//! One contract, two gateways: each check is written once, over a `Harness`, and run
//! against the sandbox and against Stripe (the real client over the fake Stripe
//! server) by `contract!`. Then Stripe-only fault injection, saved cards, webhooks,
//! and a live test against Stripe's test mode (only with STRIPE_TEST_SECRET_KEY).

use refill_gateway::fake_stripe::{FAKE_WEBHOOK_SECRET, FakeFault, FakeStripe, send_signed};
use refill_gateway::sandbox::{DEFAULT_SETTLE_AFTER, Fault, Sandbox};
use refill_gateway::stripe::{STRIPE_VERSION, Stripe, StripeConfig};
use refill_gateway::stripe_webhook::{
    DEFAULT_TOLERANCE_SECS, StripeEvent, parse_event, verify_signature,
};
use refill_gateway::*;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The Stripe client's timeout here, and how long the fake holds a lost answer.
const TIMEOUT: Duration = Duration::from_secs(2);
const PAST_TIMEOUT: Duration = Duration::from_secs(4);

/// What a contract check needs of a gateway under test.
trait Harness {
    fn gateway(&self) -> &dyn Gateway;
    /// Charges that really took money for this key (succeeded or pending).
    fn real_charges(&self, key: &str) -> usize;
    /// The next charge fails before anything is charged.
    fn outage_before_charge(&self);
    /// The next charge is made, but its answer is lost.
    fn timeout_after_charge(&self);
    /// R31: a pending refund settles (the sandbox: its time passes, and the card
    /// decides the outcome; Stripe: as `ok` says).
    fn settle_refund(&self, refund_id: &str, ok: bool);
}

struct SandboxHarness(Sandbox, Arc<AtomicI64>);

impl Harness for SandboxHarness {
    fn gateway(&self) -> &dyn Gateway {
        &self.0
    }
    fn real_charges(&self, key: &str) -> usize {
        self.0.charges().iter().filter(|(k, _)| k == key).count()
    }
    fn outage_before_charge(&self) {
        self.0.inject(Fault::Outage);
    }
    fn timeout_after_charge(&self) {
        self.0.inject(Fault::TimeoutAfterCharge);
    }
    fn settle_refund(&self, _refund_id: &str, _ok: bool) {
        self.1.fetch_add(DEFAULT_SETTLE_AFTER, Ordering::SeqCst);
    }
}

struct StripeHarness {
    fake: FakeStripe,
    stripe: Stripe,
}

impl Harness for StripeHarness {
    fn gateway(&self) -> &dyn Gateway {
        &self.stripe
    }
    fn real_charges(&self, key: &str) -> usize {
        self.fake.charges_for(key)
    }
    fn outage_before_charge(&self) {
        self.fake.inject(FakeFault::ServerError);
    }
    fn timeout_after_charge(&self) {
        self.fake
            .inject(FakeFault::TimeoutAfterCharge(PAST_TIMEOUT));
    }
    fn settle_refund(&self, refund_id: &str, ok: bool) {
        assert!(self.fake.settle_refund(refund_id, ok).is_some());
    }
}

async fn sandbox() -> SandboxHarness {
    let now = Arc::new(AtomicI64::new(0));
    let n = now.clone();
    let sandbox = Sandbox::in_memory(Arc::new(move || n.load(Ordering::SeqCst)));
    SandboxHarness(sandbox, now)
}

async fn stripe() -> StripeHarness {
    let fake = FakeStripe::start().await;
    let stripe = fake.client(TIMEOUT);
    StripeHarness { fake, stripe }
}

fn req(key: &str, token: &str, amount: i64) -> ChargeRequest {
    ChargeRequest {
        idempotency_key: key.into(),
        payment_method: token.into(),
        customer: None,
        amount,
        currency: "GBP".into(),
        description: "refill top-up".into(),
        metadata: vec![("refill_top_up".into(), key.into())],
        off_session: true,
        authenticated: false,
    }
}

fn refund(key: &str, charge: &Charge, amount: i64) -> RefundRequest {
    RefundRequest {
        idempotency_key: key.into(),
        charge_id: charge.id.clone(),
        amount,
    }
}

fn decline(c: &Charge) -> Option<(DeclineClass, &str)> {
    match &c.status {
        ChargeStatus::Declined { class, code, .. } => Some((*class, code.as_str())),
        _ => None,
    }
}

fn is_outage<T: std::fmt::Debug>(r: &Result<T, GatewayError>) -> bool {
    matches!(r, Err(GatewayError::Outage(_)))
}

fn is_invalid<T: std::fmt::Debug>(r: &Result<T, GatewayError>) -> bool {
    matches!(r, Err(GatewayError::Invalid(_)))
}

fn is_rejected<T: std::fmt::Debug>(r: &Result<T, GatewayError>) -> bool {
    matches!(r, Err(GatewayError::Rejected(_)))
}

async fn r25_same_key_gives_the_same_charge_once(h: &impl Harness) {
    let g = h.gateway();
    let a = g.charge(&req("k1", "pm_card_visa", 1000)).await.unwrap();
    assert_eq!(
        (&a.status, a.amount, a.currency.as_str()),
        (&ChargeStatus::Succeeded, 1000, "GBP")
    );
    let b = g.charge(&req("k1", "pm_card_visa", 1000)).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(h.real_charges("k1"), 1);
    assert!(is_invalid(&g.charge(&req("k1", "pm_card_visa", 999)).await));
    assert_eq!(h.real_charges("k1"), 1);
    assert_eq!(g.find_charge("k1").await.unwrap(), Some(a.clone()));
    assert_eq!(g.retrieve_charge(&a.id).await.unwrap(), a);
}

async fn check_declines(h: &impl Harness, cases: &[(&str, DeclineClass, Option<&str>)]) {
    let g = h.gateway();
    for (i, (token, class, code)) in cases.iter().enumerate() {
        let key = format!("d{i}");
        let c = g.charge(&req(&key, token, 700)).await.unwrap();
        let (got_class, got_code) = decline(&c).unwrap_or_else(|| panic!("{token}: {c:?}"));
        assert_eq!(got_class, *class, "{token}");
        assert!(
            code.is_none_or(|code| code == got_code),
            "{token}: {got_code}"
        );
        assert!(
            !c.id.is_empty(),
            "{token}: a declined charge still has an id"
        );
        assert_eq!(h.real_charges(&key), 0, "{token}");
        let found = g
            .find_charge(&key)
            .await
            .unwrap()
            .expect("the declined attempt");
        assert_eq!(
            (found.id.as_str(), decline(&found).map(|d| d.0)),
            (c.id.as_str(), Some(*class))
        );
    }
}

async fn r23_soft_declines(h: &impl Harness) {
    let soft = DeclineClass::Soft;
    check_declines(
        h,
        &[
            ("pm_card_chargeDeclined", soft, None),
            (
                "pm_card_chargeDeclinedInsufficientFunds",
                soft,
                Some("insufficient_funds"),
            ),
            (
                "pm_card_chargeDeclinedExpiredCard",
                soft,
                Some("expired_card"),
            ),
        ],
    )
    .await;
}

async fn r23_hard_declines(h: &impl Harness) {
    let hard = DeclineClass::Hard;
    check_declines(
        h,
        &[
            ("pm_card_chargeDeclinedLostCard", hard, Some("lost_card")),
            (
                "pm_card_chargeDeclinedStolenCard",
                hard,
                Some("stolen_card"),
            ),
            ("pm_card_chargeDeclinedFraudulent", hard, Some("fraudulent")),
        ],
    )
    .await;
}

async fn r23_authentication_required(h: &impl Harness) {
    let auth = DeclineClass::AuthenticationRequired;
    check_declines(
        h,
        &[(
            "pm_card_authenticationRequired",
            auth,
            Some("authentication_required"),
        )],
    )
    .await;
}

async fn r25_timeout_after_charge_is_found_by_key(h: &impl Harness) {
    let g = h.gateway();
    h.timeout_after_charge();
    assert!(is_outage(
        &g.charge(&req("lost", "pm_card_visa", 1200)).await
    ));
    let found = g
        .find_charge("lost")
        .await
        .unwrap()
        .expect("the charge was made");
    assert_eq!(
        (&found.status, found.amount),
        (&ChargeStatus::Succeeded, 1200)
    );
    assert_eq!(h.real_charges("lost"), 1);
    let retried = g.charge(&req("lost", "pm_card_visa", 1200)).await.unwrap();
    assert_eq!(retried, found);
    assert_eq!(h.real_charges("lost"), 1);
}

async fn r25_outage_before_charge_finds_nothing(h: &impl Harness) {
    let g = h.gateway();
    h.outage_before_charge();
    assert!(is_outage(
        &g.charge(&req("down", "pm_card_visa", 800)).await
    ));
    assert_eq!(g.find_charge("down").await.unwrap(), None);
    assert_eq!(h.real_charges("down"), 0);
    let retried = g.charge(&req("down", "pm_card_visa", 800)).await.unwrap();
    assert_eq!(retried.status, ChargeStatus::Succeeded);
    assert_eq!(h.real_charges("down"), 1);
}

async fn r31_partial_refunds_never_exceed_the_charge(h: &impl Harness) {
    let g = h.gateway();
    let c = g.charge(&req("paid", "pm_card_visa", 1000)).await.unwrap();
    let r1 = g.refund(&refund("r1", &c, 400)).await.unwrap();
    assert_eq!(
        (r1.amount, r1.status, r1.charge_id.as_str()),
        (400, RefundStatus::Succeeded, c.id.as_str())
    );
    assert_eq!(
        g.refund(&refund("r1", &c, 400)).await.unwrap().id,
        r1.id,
        "a replay"
    );
    assert!(is_invalid(&g.refund(&refund("r2", &c, 601)).await));
    assert_eq!(g.refund(&refund("r3", &c, 600)).await.unwrap().amount, 600);
    assert!(is_invalid(&g.refund(&refund("r4", &c, 1)).await));
}

/// R31: a refund of a `pm_card_refundFail` charge stays pending, counts against the
/// charge meanwhile, then fails and no longer counts; one of `pm_card_refundPending`
/// stays pending, then succeeds. Each refund is listed with the key it was made with.
async fn r31_a_refund_can_stay_pending_then_fail(h: &impl Harness) {
    let g = h.gateway();
    let c = g
        .charge(&req("rf", "pm_card_refundFail", 1000))
        .await
        .unwrap();
    assert_eq!(c.status, ChargeStatus::Succeeded);
    let r = g.refund(&refund("refund:rfd_1", &c, 400)).await.unwrap();
    assert_eq!(
        (r.status, r.idempotency_key.as_deref()),
        (RefundStatus::Pending, Some("refund:rfd_1"))
    );
    let found = g.retrieve_refund(&r.id).await.unwrap();
    assert_eq!((found.status, found.amount), (RefundStatus::Pending, 400));
    assert!(
        is_invalid(&g.refund(&refund("more", &c, 601)).await),
        "a pending refund counts"
    );
    h.settle_refund(&r.id, false);
    assert_eq!(
        g.retrieve_refund(&r.id).await.unwrap().status,
        RefundStatus::Failed
    );
    let again = g.refund(&refund("again", &c, 1000)).await.unwrap();
    assert_eq!(again.amount, 1000, "a failed refund no longer counts");
    let listed = g.list_refunds(&c.id).await.unwrap();
    let seen: Vec<_> = listed
        .iter()
        .map(|x| (x.id.as_str(), x.status, x.idempotency_key.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            (r.id.as_str(), RefundStatus::Failed, Some("refund:rfd_1")),
            (again.id.as_str(), RefundStatus::Pending, Some("again")),
        ]
    );
    let p = g
        .charge(&req("rp", "pm_card_refundPending", 500))
        .await
        .unwrap();
    let slow = g.refund(&refund("slow", &p, 500)).await.unwrap();
    assert_eq!(slow.status, RefundStatus::Pending);
    h.settle_refund(&slow.id, true);
    assert_eq!(
        g.retrieve_refund(&slow.id).await.unwrap().status,
        RefundStatus::Succeeded
    );
    assert!(is_invalid(&g.retrieve_refund("re_nosuchrefund").await));
}

async fn r11_a_pending_charge_is_pending(h: &impl Harness) {
    let g = h.gateway();
    let c = g
        .charge(&req("slow", "pm_card_pending", 900))
        .await
        .unwrap();
    assert_eq!(c.status, ChargeStatus::Pending);
    assert_eq!(
        g.retrieve_charge(&c.id).await.unwrap().status,
        ChargeStatus::Pending
    );
    assert_eq!(h.real_charges("slow"), 1);
}

async fn r5_cards_are_described(h: &impl Harness) {
    let g = h.gateway();
    let card = g.describe_payment_method("pm_card_visa").await.unwrap();
    assert_eq!((card.brand.as_str(), card.last4.as_str()), ("visa", "4242"));
    assert!(card.exp_year >= 2030 && (1..=12).contains(&card.exp_month));
    assert!(is_invalid(
        &g.describe_payment_method("pm_card_nosuchthing").await
    ));
}

fn payer(key: &str) -> PayerRequest {
    PayerRequest {
        idempotency_key: key.into(),
        account_id: "acct_contract".into(),
        name: Some("Ada".into()),
        email: Some("ada@example.test".into()),
    }
}

/// R5: a payer and a saved card, charged off-session with its customer, removed.
async fn r5_cards_are_saved_for_off_session_charges(h: &impl Harness) {
    let g = h.gateway();
    let customer = g.register_payer(&payer("payer-1")).await.unwrap();
    assert_eq!(
        g.register_payer(&payer("payer-1")).await.unwrap(),
        customer,
        "the same key registers the payer once"
    );
    let saved = g
        .save_payment_method(customer.as_deref(), "pm_card_visa", "save-1")
        .await
        .unwrap();
    assert_eq!(saved.status, SetupStatus::Ready);
    let mut r = req("saved-charge", &saved.token, 1500);
    r.customer = customer.clone();
    assert_eq!(g.charge(&r).await.unwrap().status, ChargeStatus::Succeeded);
    assert_eq!(h.real_charges("saved-charge"), 1);
    assert_eq!(g.remove_payment_method(&saved.token, "rm-1").await, Ok(()));
    assert_eq!(
        g.remove_payment_method(&saved.token, "rm-2").await,
        Ok(()),
        "removing a card the gateway no longer holds is not an error"
    );
    assert!(is_invalid(
        &g.save_payment_method(customer.as_deref(), "pm_card_nosuchthing", "save-2")
            .await
    ));
}

async fn bad_requests_are_invalid(h: &impl Harness) {
    let g = h.gateway();
    // A malformed request is the operator's problem, never a decline (R23).
    assert!(is_rejected(
        &g.charge(&req("zero", "pm_card_visa", 0)).await
    ));
    assert!(is_invalid(
        &g.charge(&req("tok", "pm_card_nosuchthing", 100)).await
    ));
    assert!(is_invalid(&g.retrieve_charge("pi_nosuchcharge").await));
    assert_eq!(h.real_charges("zero") + h.real_charges("tok"), 0);
}

/// R1, R23: an amount Stripe does not take (three-decimal currencies in multiples of
/// 10; at least the minimum charge) is refused as malformed, nothing charged.
async fn r1_amounts_the_gateway_does_not_take_are_rejected(h: &impl Harness) {
    let g = h.gateway();
    let in_currency = |key: &str, amount, currency: &str| ChargeRequest {
        currency: currency.into(),
        ..req(key, "pm_card_visa", amount)
    };
    let before = refill_gateway::rejected_requests();
    assert!(is_rejected(
        &g.charge(&in_currency("bhd", 1_101, "BHD")).await
    ));
    assert!(is_rejected(
        &g.charge(&in_currency("huf", 100, "HUF")).await
    ));
    assert!(refill_gateway::rejected_requests() >= before + 2, "alerted");
    let ok = g
        .charge(&in_currency("bhd-ok", 1_100, "BHD"))
        .await
        .unwrap();
    assert_eq!(ok.status, ChargeStatus::Succeeded);
    assert_eq!(h.real_charges("bhd") + h.real_charges("huf"), 0);
}

macro_rules! contract {
    ($($check:ident),* $(,)?) => {
        mod contract_sandbox {
            $(#[tokio::test] async fn $check() { super::$check(&super::sandbox().await).await; })*
        }
        mod contract_stripe {
            $(#[tokio::test] async fn $check() { super::$check(&super::stripe().await).await; })*
        }
    };
}

contract!(
    r25_same_key_gives_the_same_charge_once,
    r23_soft_declines,
    r23_hard_declines,
    r23_authentication_required,
    r25_timeout_after_charge_is_found_by_key,
    r25_outage_before_charge_finds_nothing,
    r31_partial_refunds_never_exceed_the_charge,
    r31_a_refund_can_stay_pending_then_fail,
    r11_a_pending_charge_is_pending,
    r5_cards_are_described,
    r5_cards_are_saved_for_off_session_charges,
    bad_requests_are_invalid,
    r1_amounts_the_gateway_does_not_take_are_rejected,
);

// ---- Stripe only: faults on the wire ----

async fn outage_on(fault: FakeFault) {
    let h = stripe().await;
    h.fake.inject(fault);
    let started = Instant::now();
    assert!(
        is_outage(&h.stripe.charge(&req("f", "pm_card_visa", 500)).await),
        "{fault:?}"
    );
    assert!(
        started.elapsed() < PAST_TIMEOUT,
        "{fault:?}: the client timeout cut it short"
    );
    assert_eq!(h.fake.charges_for("f"), 0, "{fault:?}: nothing was charged");
    assert_eq!(h.stripe.find_charge("f").await.unwrap(), None);
}

#[tokio::test]
async fn stripe_500_is_an_outage() {
    outage_on(FakeFault::ServerError).await;
}

#[tokio::test]
async fn stripe_429_is_an_outage() {
    outage_on(FakeFault::RateLimited).await;
}

#[tokio::test]
async fn stripe_slow_answer_is_an_outage() {
    outage_on(FakeFault::Slow(PAST_TIMEOUT)).await;
}

#[tokio::test]
async fn stripe_unreachable_is_an_outage() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut config = StripeConfig::new("sk_test_x");
    config.api_base = format!("http://{addr}");
    config.timeout = TIMEOUT;
    let s = Stripe::new(config).unwrap();
    assert!(is_outage(&s.charge(&req("u", "pm_card_visa", 500)).await));
}

#[tokio::test]
async fn stripe_wrong_key_is_an_outage_not_a_decline() {
    let h = stripe().await;
    let mut config = h.fake.config(TIMEOUT);
    config.secret_key = "sk_test_revoked".into();
    let s = Stripe::new(config).unwrap();
    assert!(is_outage(&s.charge(&req("w", "pm_card_visa", 500)).await));
    assert!(h.fake.requests().iter().all(|r| !r.authorized));
    assert_eq!(h.fake.charges_for("w"), 0);
}

#[tokio::test]
async fn stripe_retries_after_a_lost_answer_never_make_a_second_payment_intent() {
    let h = stripe().await;
    h.fake.inject(FakeFault::TimeoutAfterCharge(PAST_TIMEOUT));
    let r = req("again", "pm_card_visa", 1500);
    assert!(is_outage(&h.stripe.charge(&r).await));
    let first = h.stripe.charge(&r).await.unwrap();
    for _ in 0..3 {
        assert_eq!(h.stripe.charge(&r).await.unwrap(), first);
    }
    let posts = h
        .fake
        .requests()
        .into_iter()
        .filter(|q| q.path == "/v1/payment_intents");
    assert_eq!(posts.count(), 5);
    assert_eq!(h.fake.charges(), vec![("again".to_string(), 1500)]);
}

#[tokio::test]
async fn stripe_requests_carry_version_key_and_idempotency_key() {
    let h = stripe().await;
    let c = h
        .stripe
        .charge(&req("hdr", "pm_card_visa", 500))
        .await
        .unwrap();
    h.stripe
        .refund(&refund("hdr-refund", &c, 100))
        .await
        .unwrap();
    h.stripe
        .describe_payment_method("pm_card_visa")
        .await
        .unwrap();
    h.stripe.find_charge("hdr").await.unwrap();
    let log = h.fake.requests();
    assert_eq!(log.len(), 4);
    for r in &log {
        assert!(r.authorized, "{r:?}");
        assert_eq!(r.stripe_version.as_deref(), Some(STRIPE_VERSION));
        assert_eq!(r.method == "POST", r.idempotency_key.is_some(), "{r:?}");
    }
    assert_eq!(log[0].idempotency_key.as_deref(), Some("hdr"));
    assert_eq!(log[1].idempotency_key.as_deref(), Some("hdr-refund"));
}

#[tokio::test]
async fn stripe_r11_a_processing_payment_settles_later() {
    let h = stripe().await;
    let ok = h
        .stripe
        .charge(&req("p1", "pm_card_pending", 100))
        .await
        .unwrap();
    let bad = h
        .stripe
        .charge(&req("p2", "pm_card_pending", 100))
        .await
        .unwrap();
    h.fake.settle(&ok.id, true).unwrap();
    h.fake.settle(&bad.id, false).unwrap();
    assert_eq!(
        h.stripe.retrieve_charge(&ok.id).await.unwrap().status,
        ChargeStatus::Succeeded
    );
    let failed = h.stripe.retrieve_charge(&bad.id).await.unwrap();
    assert_eq!(decline(&failed).map(|d| d.0), Some(DeclineClass::Soft));
}

#[tokio::test]
async fn stripe_r5_customers_setup_intents_and_saved_cards() {
    let h = stripe().await;
    let s = &h.stripe;
    let cus = s
        .create_customer("ada@example.com", "Ada", "cus-1")
        .await
        .unwrap();
    assert_eq!(
        s.create_customer("ada@example.com", "Ada", "cus-1")
            .await
            .unwrap(),
        cus
    );
    let si = s.create_setup_intent(&cus.id, "si-1").await.unwrap();
    assert_eq!(si.status, "requires_payment_method");
    assert!(si.client_secret.is_some());
    let from_si = h.fake.confirm_setup_intent(&si.id, "pm_card_visa").unwrap();
    let attached = s
        .attach_payment_method("pm_card_visa", &cus.id, "att-1")
        .await
        .unwrap();
    assert_ne!(
        attached.id, "pm_card_visa",
        "attaching a test token makes a new method"
    );
    assert_eq!(attached.customer.as_deref(), Some(cus.id.as_str()));
    assert_eq!(s.list_payment_methods(&cus.id).await.unwrap().len(), 2);
    let mut r = req("saved", &from_si, 2500);
    r.customer = Some(cus.id.clone());
    assert_eq!(s.charge(&r).await.unwrap().status, ChargeStatus::Succeeded);
    assert!(is_invalid(
        &s.charge(&req("not-theirs", &from_si, 2500)).await
    ));
    let detached = s
        .detach_payment_method(&attached.id, "det-1")
        .await
        .unwrap();
    assert_eq!(detached.customer, None);
    assert!(is_invalid(
        &s.detach_payment_method(&attached.id, "det-2").await
    ));
    let left = s.list_payment_methods(&cus.id).await.unwrap();
    assert_eq!(
        left.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        vec![from_si.as_str()]
    );
    assert_eq!(left[0].card.as_ref().unwrap().last4, "4242");
}

/// R14: a card whose bank asks for 3-D Secure when it is set up is saved in a
/// `requires_action` state with the secret the browser needs; once the customer
/// completes it, the setup succeeds and off-session charges go through.
#[tokio::test]
async fn stripe_r14_a_setup_that_needs_3d_secure_waits_for_the_customer() {
    let h = stripe().await;
    let g = &h.stripe;
    let customer = g.register_payer(&payer("p-3ds")).await.unwrap();
    assert!(customer.as_deref().is_some_and(|c| c.starts_with("cus_")));
    let token = "pm_card_authenticationRequiredOnSetup";
    let saved = g
        .save_payment_method(customer.as_deref(), token, "s-3ds")
        .await
        .unwrap();
    let setup = saved.setup_id.clone().expect("a SetupIntent");
    assert!(matches!(&saved.status,
        SetupStatus::RequiresAction { client_secret } if client_secret.starts_with(&setup)));
    assert_ne!(saved.token, token, "a new PaymentMethod for the test token");
    assert_eq!(g.retrieve_setup(&setup).await.unwrap(), saved);
    assert!(
        g.list_payment_methods(customer.as_deref().unwrap())
            .await
            .unwrap()
            .is_empty(),
        "attached only once 3-D Secure is done"
    );
    let si = h.fake.authenticate_setup_intent(&setup).unwrap();
    assert_eq!(si["status"], "succeeded");
    let done = g.retrieve_setup(&setup).await.unwrap();
    assert_eq!(
        (done.status, &done.token),
        (SetupStatus::Ready, &saved.token)
    );
    let mut r = req("after-3ds", &saved.token, 2000);
    r.customer = customer.clone();
    assert_eq!(g.charge(&r).await.unwrap().status, ChargeStatus::Succeeded);
    let declined = g
        .save_payment_method(customer.as_deref(), "pm_card_chargeDeclined", "s-bad")
        .await
        .unwrap();
    assert!(matches!(&declined.status,
        SetupStatus::Declined { code, .. } if code == "generic_decline"));
    assert!(is_invalid(
        &g.save_payment_method(None, "pm_card_visa", "s-none").await
    ));
    let requests = h.fake.requests();
    let setups = requests.iter().filter(|r| r.path == "/v1/setup_intents");
    assert!(setups.clone().count() >= 2);
    assert!(setups.into_iter().all(|r| r.idempotency_key.is_some()));
}

// ---- Webhooks from the fake, received by a small server here ----

use axum::http::{HeaderMap, StatusCode};

fn receive_one(sink: &Mutex<Vec<StripeEvent>>, headers: &HeaderMap, body: &[u8]) -> StatusCode {
    let sig = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let now = i64::try_from(now.as_secs()).unwrap();
    let tolerance = DEFAULT_TOLERANCE_SECS;
    if verify_signature(body, sig.unwrap_or(""), FAKE_WEBHOOK_SECRET, now, tolerance).is_err() {
        return StatusCode::BAD_REQUEST;
    }
    sink.lock().unwrap().push(parse_event(body).unwrap());
    StatusCode::OK
}

async fn webhook_receiver() -> (String, Arc<Mutex<Vec<StripeEvent>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let receive = move |headers: HeaderMap, body: axum::body::Bytes| {
        let sink = sink.clone();
        async move { receive_one(&sink, &headers, &body) }
    };
    let app = axum::Router::new().route("/webhook", axum::routing::post(receive));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (url, got)
}

#[tokio::test]
async fn fake_stripe_webhooks_arrive_signed_twice_and_out_of_order() {
    let h = stripe().await;
    let (url, got) = webhook_receiver().await;
    let c = h
        .stripe
        .charge(&req("wh", "pm_card_pending", 300))
        .await
        .unwrap();
    let processing = FakeStripe::event("payment_intent.processing", h.fake.object(&c.id).unwrap());
    let settled = h.fake.settle(&c.id, true).unwrap();
    let succeeded = FakeStripe::event("payment_intent.succeeded", settled);
    for e in [&succeeded, &succeeded, &processing] {
        assert_eq!(h.fake.send_event(&url, e).await, Ok(200));
    }
    assert_eq!(send_signed(&url, "whsec_wrong", &succeeded).await, Ok(400));
    let got = got.lock().unwrap().clone();
    let types: Vec<&str> = got.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "payment_intent.succeeded",
            "payment_intent.succeeded",
            "payment_intent.processing"
        ]
    );
    assert_eq!(
        got[0].id, got[1].id,
        "a duplicate delivery: the caller dedupes by event id"
    );
    assert!(
        got.iter()
            .all(|e| e.payment_intent_id() == Some(c.id.as_str()))
    );
    assert_eq!(got[0].idempotency_key(), Some("wh"));
    // Out of order: the object's current state, not the last event, is the truth.
    assert_eq!(
        h.stripe.retrieve_charge(&c.id).await.unwrap().status,
        ChargeStatus::Succeeded
    );
}

// ---- Live: Stripe's test mode, only with a test key ----

#[tokio::test]
async fn live_stripe_test_mode() {
    let Ok(key) = std::env::var("STRIPE_TEST_SECRET_KEY") else {
        eprintln!("live_stripe_test_mode skipped: STRIPE_TEST_SECRET_KEY is not set");
        return;
    };
    assert!(
        key.starts_with("sk_test_") || key.starts_with("rk_test_"),
        "test-mode keys only"
    );
    let s = Stripe::new(StripeConfig::new(key)).unwrap();
    let run = uuid::Uuid::now_v7().simple().to_string();
    let k = |what: &str| format!("refill-live-{run}-{what}");
    assert_eq!(
        s.describe_payment_method("pm_card_visa")
            .await
            .unwrap()
            .last4,
        "4242"
    );
    let cus = s
        .create_customer("live-test@example.com", "refill live test", &k("cus"))
        .await
        .unwrap();
    s.create_setup_intent(&cus.id, &k("si")).await.unwrap();
    let pm = s
        .attach_payment_method("pm_card_visa", &cus.id, &k("attach"))
        .await
        .unwrap();
    let mut r = req(&k("charge"), &pm.id, 1500);
    (r.customer, r.currency) = (Some(cus.id.clone()), "USD".into());
    let a = s.charge(&r).await.unwrap();
    assert_eq!(a.status, ChargeStatus::Succeeded);
    assert_eq!(s.charge(&r).await.unwrap(), a, "an idempotent replay");
    for (token, class) in [
        ("pm_card_chargeDeclinedLostCard", DeclineClass::Hard),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            DeclineClass::Soft,
        ),
        (
            "pm_card_authenticationRequired",
            DeclineClass::AuthenticationRequired,
        ),
    ] {
        let mut d = req(&k(token), token, 1500);
        (d.off_session, d.currency) = (false, "USD".into());
        let c = s.charge(&d).await.unwrap();
        assert_eq!(decline(&c).map(|d| d.0), Some(class), "{token}: {c:?}");
    }
    assert_eq!(
        s.refund(&refund(&k("refund"), &a, 500))
            .await
            .unwrap()
            .amount,
        500
    );
    assert!(is_invalid(
        &s.refund(&refund(&k("refund-2"), &a, 1001)).await
    ));
    // Search is eventually consistent: give it up to a minute.
    let mut found = None;
    for _ in 0..30 {
        found = s.find_charge(&r.idempotency_key).await.unwrap();
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert_eq!(found.map(|c| c.id), Some(a.id));
    s.detach_payment_method(&pm.id, &k("detach")).await.unwrap();
    // Through the Gateway trait, as refill saves cards: a customer, a SetupIntent.
    let mut p = payer(&k("payer"));
    p.email = Some("live-test@example.com".into());
    let customer = s.register_payer(&p).await.unwrap();
    let saved = s
        .save_payment_method(customer.as_deref(), "pm_card_visa", &k("setup"))
        .await
        .unwrap();
    assert_eq!(saved.status, SetupStatus::Ready, "{saved:?}");
    let mut off = req(&k("off-session"), &saved.token, 1500);
    (off.customer, off.currency) = (customer.clone(), "USD".into());
    assert_eq!(
        s.charge(&off).await.unwrap().status,
        ChargeStatus::Succeeded
    );
    let three = s
        .save_payment_method(
            customer.as_deref(),
            "pm_card_authenticationRequiredOnSetup",
            &k("setup-3ds"),
        )
        .await
        .unwrap();
    assert!(
        matches!(three.status, SetupStatus::RequiresAction { .. }),
        "{three:?}"
    );
    let setup = three.setup_id.clone().unwrap();
    assert_eq!(s.retrieve_setup(&setup).await.unwrap(), three);
    assert_eq!(
        s.remove_payment_method(&saved.token, &k("rm")).await,
        Ok(())
    );
}
