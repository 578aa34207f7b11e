//! R12-R17, R24: auto top-up settings, changed only by explicit calls, with a version
//! so that concurrent edits are detected (If-Match), never silently overwritten.

mod in_flight;
mod state;
mod view;

pub(crate) use state::save_settings;
pub use view::{AutoTopUpView, InFlight, LastAttempt, StateChange};

use crate::accounts::{Caller, lock};
use crate::{Refill, Result, ServiceError};
use refill_domain::DomainError;
use refill_domain::accounts::has_payer;
use refill_domain::auto_top_up::{
    AmountRule, Means, SettingsContext, SourceKind, State, StateReason, check_terms,
    check_transfer_source_setter, turns_on, validate_settings,
};
use refill_domain::top_up::verification_key;
use refill_gateway::{ChargeRequest, ChargeStatus, DeclineClass};
use refill_store::{AutoTopUpRow, PaymentMethodRow};
use serde::Deserialize;
use view::view;

#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoTopUpRequest {
    pub enabled: bool,
    pub threshold: Option<i64>,
    /// A fixed amount per top-up...
    pub amount: Option<i64>,
    /// ...or up to a target balance (R12); not both.
    pub target_balance: Option<i64>,
    /// "card" (default) or "transfer" (sub-accounts, from the main account).
    #[schemars(with = "Option<refill_domain::auto_top_up::SourceKind>")]
    pub source: Option<String>,
    /// A saved card; default: the primary one.
    pub payment_method: Option<String>,
    /// R14: the version of the terms the customer accepts.
    pub terms_version: Option<String>,
    /// R14: the customer completed 3-D Secure for the verification charge.
    #[schemars(extend("enum" = ["completed", null]))]
    pub three_d_secure: Option<String>,
}

impl Refill {
    pub async fn get_auto_top_up(
        &self,
        caller: &Caller,
        account_id: &str,
    ) -> Result<AutoTopUpView> {
        self.account(caller, account_id).await?;
        self.auto_top_up_view(account_id).await
    }

    async fn auto_top_up_view(&self, account_id: &str) -> Result<AutoTopUpView> {
        let s = refill_store::get_auto_top_up(&self.db.pool, account_id).await?;
        let flight = refill_store::top_up_in_flight(&self.db.pool, account_id).await?;
        let history = refill_store::state_history(&self.db.pool, account_id).await?;
        let unpaid = refill_store::unpaid_renewals(&self.db.pool, account_id).await?;
        Ok(view(account_id, s.as_ref(), flight, unpaid, history))
    }

    /// R12-R16: turns auto top-up on, changes it, or turns it off.
    pub async fn put_auto_top_up(
        &self,
        caller: &Caller,
        account_id: &str,
        req: AutoTopUpRequest,
        if_match: Option<i64>,
    ) -> Result<AutoTopUpView> {
        let account = self.open_account(caller, account_id).await?;
        let current = refill_store::get_auto_top_up(&self.db.pool, account_id).await?;
        check_version(current.as_ref(), if_match)?;
        let mut next = current.unwrap_or_else(|| AutoTopUpRow::new(account_id));
        let was_active = next.state == State::Active;
        let now = self.now();
        if !req.enabled {
            return self.turn_off(&account.id, next, if_match, now).await;
        }
        let threshold = req.threshold.ok_or(DomainError::ThresholdRequired)?;
        let rule = AmountRule::from_request(req.amount, req.target_balance)?;
        let source = SourceKind::from_request(req.source.as_deref())?;
        let by_itself = matches!(caller, Caller::Account { account_id: a, .. } if a == account_id);
        check_transfer_source_setter(source, by_itself)?;
        let pm = self.chosen_card(account_id, &req, source).await?;
        if let Some(pm) = &pm {
            self.ensure_card_ready(pm).await?;
        }
        // R14: a new card or source is turning on with it: terms and verification again.
        let before = was_active.then_some(Means {
            source: next.source,
            card: next.payment_method_id.as_deref(),
        });
        let after = Means {
            source,
            card: pm.as_ref().map(|p| p.id.as_str()),
        };
        let turning_on = turns_on(before, after);
        let terms = check_terms(req.terms_version.as_deref(), &self.config.terms_version);
        if let Err(e @ DomainError::TermsVersionUnknown { .. }) = &terms
            && source == SourceKind::Card
            && turning_on
        {
            return Err(e.clone().into());
        }
        let ctx = SettingsContext {
            currency: refill_domain::Currency::parse(&account.currency)?,
            balance: account.balance,
            is_sub_account: account.parent_id.is_some(),
            has_payment_method: pm.is_some(),
            has_payer: has_payer(account.payer_email.as_deref()),
            terms_accepted: terms.is_ok(),
            turning_on,
        };
        let limits = self.config.limits_in(&account.currency)?;
        validate_settings(threshold, rule, source, ctx, &limits)?;
        if let (Some(pm), true) = (&pm, turning_on) {
            let authenticated = req.three_d_secure.as_deref() == Some("completed");
            self.verify_card(pm, next.version + 1, authenticated)
                .await?;
        }
        (next.threshold, next.source) = (threshold, source);
        next.set_amount_rule(rule);
        next.payment_method_id = pm.map(|p| p.id);
        if turning_on && source == SourceKind::Card {
            (next.terms_version, next.terms_accepted_at) = (req.terms_version.clone(), Some(now));
        }
        self.save_active(next, was_active, if_match, now).await
    }

    async fn chosen_card(
        &self,
        account_id: &str,
        req: &AutoTopUpRequest,
        source: SourceKind,
    ) -> Result<Option<PaymentMethodRow>> {
        if source == SourceKind::Transfer {
            if req.payment_method.is_some() {
                return Err(DomainError::SourceConflict.into());
            }
            return Ok(None);
        }
        Ok(match &req.payment_method {
            Some(id) => Some(self.payment_method(account_id, id).await?).filter(|p| p.saved),
            None => refill_store::list_payment_methods(&self.db.pool, account_id)
                .await?
                .into_iter()
                .find(|p| p.is_primary),
        })
    }

    /// R14: the one-time verification of a card for automatic payments: a small
    /// charge (with 3-D Secure where the card asks for it), refunded at once.
    pub(crate) async fn verify_card(
        &self,
        pm: &PaymentMethodRow,
        round: i64,
        authenticated: bool,
    ) -> Result<()> {
        let currency = refill_store::get_account(&self.db.pool, &pm.account_id)
            .await?
            .map(|a| a.currency)
            .unwrap_or_default();
        // R14: the same in every currency, at least the gateway's minimum charge.
        let amount = self
            .config
            .verification_charge(refill_domain::Currency::parse(&currency)?);
        if amount == 0 {
            // Verification turned off by the operator: the card is taken as verified.
            return self.mark_verified(&pm.id).await;
        }
        let key = verification_key(&pm.id, round, authenticated);
        let req = ChargeRequest {
            idempotency_key: key.clone(),
            payment_method: pm.gateway_token.clone(),
            customer: self.customer_of_card(&pm.id).await?,
            amount,
            currency,
            description: "refill card verification for automatic top-up".into(),
            metadata: vec![("refill_verification".into(), pm.id.clone())],
            off_session: false,
            authenticated,
        };
        let charge = self.gateway.charge(&req).await?;
        match charge.status {
            // Its refund is owed from now on: recorded with the verification.
            ChargeStatus::Succeeded | ChargeStatus::Pending => {
                self.verified_with_refund_owed(pm, &key, &charge).await
            }
            ChargeStatus::Declined {
                class: DeclineClass::AuthenticationRequired,
                ..
            } => Err(DomainError::VerificationNeedsAuthentication.into()),
            ChargeStatus::Declined { code, message, .. } => Err(ServiceError::CardDeclined {
                code,
                message: format!("the verification charge was declined: {message}"),
                top_up_id: String::new(),
            }),
        }
    }

    async fn mark_verified(&self, pm_id: &str) -> Result<()> {
        let mut tx = self.db.begin().await?;
        refill_store::set_payment_method_verified(&mut tx, pm_id, self.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn save_active(
        &self,
        mut s: AutoTopUpRow,
        was_active: bool,
        if_match: Option<i64>,
        now: i64,
    ) -> Result<AutoTopUpView> {
        let mut tx = self.db.begin().await?;
        lock(&mut tx, self, &s.account_id).await?;
        let fresh = refill_store::get_auto_top_up(&mut *tx, &s.account_id).await?;
        check_version(fresh.as_ref(), if_match.or(Some(s.version)))?;
        let change = (!was_active).then_some(StateReason::TurnedOnByCustomer);
        save_settings(&mut tx, &mut s, change, now).await?;
        let due_now = self
            .after_settings_change(&mut tx, &s.account_id, false, now)
            .await?;
        tx.commit().await?;
        if due_now {
            self.work_ready.notify_waiters();
        }
        self.auto_top_up_view(&s.account_id).await
    }

    /// Turned off by the customer (from active or disabled; off stays as it is).
    async fn turn_off(
        &self,
        account_id: &str,
        mut s: AutoTopUpRow,
        if_match: Option<i64>,
        now: i64,
    ) -> Result<AutoTopUpView> {
        let mut tx = self.db.begin().await?;
        lock(&mut tx, self, account_id).await?;
        let fresh = refill_store::get_auto_top_up(&mut *tx, account_id).await?;
        check_version(fresh.as_ref(), if_match.or(Some(s.version)))?;
        let reason = StateReason::TurnedOffByCustomer;
        if s.state.change(&reason).is_ok() {
            save_settings(&mut tx, &mut s, Some(reason), now).await?;
        }
        self.after_settings_change(&mut tx, account_id, true, now)
            .await?;
        tx.commit().await?;
        self.auto_top_up_view(account_id).await
    }
}

/// R16: an update names the version it read; another is a lost race.
fn check_version(current: Option<&AutoTopUpRow>, if_match: Option<i64>) -> Result<()> {
    let version = current.map_or(0, |s| s.version);
    match if_match {
        Some(v) if v != version => Err(ServiceError::VersionMismatch { expected: v }),
        _ => Ok(()),
    }
}
