//! R12-R17, R24: auto top-up settings, changed only by explicit calls, with a version
//! so that concurrent edits are detected (If-Match), never silently overwritten.

use crate::accounts::{Caller, lock};
use crate::api_objects::rfc3339;
use crate::{Refill, Result, ServiceError};
use refill_domain::auto_top_up::{
    AmountRule, SettingsContext, SourceKind, State, validate_settings,
};
use refill_gateway::{ChargeRequest, ChargeStatus, DeclineClass, RefundRequest};
use refill_store::{AutoTopUpRow, PaymentMethodRow};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AutoTopUpRequest {
    pub enabled: bool,
    pub threshold: Option<i64>,
    /// A fixed amount per top-up...
    pub amount: Option<i64>,
    /// ...or up to a target balance (R12); not both.
    pub target_balance: Option<i64>,
    /// "card" (default) or "transfer" (sub-accounts, from the main account).
    pub source: Option<String>,
    /// A saved card; default: the primary one.
    pub payment_method: Option<String>,
    /// R14: the version of the terms the customer accepts.
    pub terms_version: Option<String>,
    /// R14: the customer completed 3-D Secure for the verification charge.
    pub three_d_secure: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LastAttempt {
    pub top_up_id: Option<String>,
    pub at: String,
    pub outcome: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InFlight {
    pub top_up_id: String,
    pub status: String,
    pub not_before: Option<String>,
    pub waiting_for: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AutoTopUpView {
    pub object: &'static str,
    pub account_id: String,
    /// active | off | disabled (R24)
    pub state: String,
    pub state_reason: Option<String>,
    pub state_changed: Option<String>,
    pub threshold: Option<i64>,
    pub amount: Option<i64>,
    pub target_balance: Option<i64>,
    pub source: Option<String>,
    pub payment_method: Option<String>,
    pub terms_version: Option<String>,
    pub terms_accepted: Option<String>,
    pub consecutive_failures: i64,
    pub last_attempt: Option<LastAttempt>,
    pub next_attempt: Option<String>,
    /// Why a top-up did not run (R24): minimum_interval, daily_cap_reached, ...
    pub why_not: Option<String>,
    pub in_flight: Option<InFlight>,
    pub history: Vec<StateChange>,
    pub version: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StateChange {
    pub state: String,
    pub reason: String,
    pub at: String,
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
        Ok(view(account_id, s.as_ref(), flight, history))
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
        let mut next = current.clone().unwrap_or_else(|| AutoTopUpRow {
            account_id: account_id.into(),
            state: "off".into(),
            ..Default::default()
        });
        let was_active = current.as_ref().is_some_and(|s| s.state == "active");
        let now = self.now();
        if !req.enabled {
            return self
                .turn_off(&account.id, next, was_active, if_match, now)
                .await;
        }
        let (threshold, rule, source) = parse_request(&req)?;
        if source == SourceKind::Transfer
            && matches!(caller, Caller::Account { account_id: a, .. } if a == account_id)
        {
            return Err(ServiceError::Forbidden(
                "a transfer source: it is set up by the main account (R15)".into(),
            ));
        }
        let pm = self.chosen_card(account_id, &req, source).await?;
        if let Some(pm) = &pm {
            self.ensure_card_ready(pm).await?;
        }
        let ctx = SettingsContext {
            currency: refill_domain::Currency::parse(&account.currency)?,
            balance: account.balance,
            is_sub_account: account.parent_id.is_some(),
            has_payment_method: pm.is_some(),
            has_payer: account
                .payer_email
                .as_deref()
                .is_some_and(|e| !e.is_empty()),
            terms_accepted: req.terms_version.as_deref()
                == Some(self.config.terms_version.as_str()),
            turning_on: !was_active,
        };
        if source == SourceKind::Card
            && !was_active
            && req.terms_version.is_some()
            && !ctx.terms_accepted
        {
            return Err(ServiceError::invalid(
                "terms_version_unknown",
                format!(
                    "the current terms are version {}",
                    self.config.terms_version
                ),
            ));
        }
        let limits = self.config.limits_in(&account.currency)?;
        validate_settings(threshold, rule, source, ctx, &limits)?;
        if let (Some(pm), true) = (&pm, !was_active) {
            self.verify_card(
                pm,
                next.version + 1,
                req.three_d_secure.as_deref() == Some("completed"),
            )
            .await?;
        }
        (next.threshold, next.source) = (threshold, source.as_str().into());
        (next.amount_mode, next.amount) = match rule {
            AmountRule::Fixed(a) => ("fixed".into(), a),
            AmountRule::UpToTarget(t) => ("target".into(), t),
        };
        next.payment_method_id = pm.map(|p| p.id);
        if !was_active && source == SourceKind::Card {
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
                return Err(ServiceError::invalid(
                    "source_conflict",
                    "a transfer source takes no payment method: never both (R12)",
                ));
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
        // The charge after 3-D Secure is a new request: under the first one's key the
        // gateway would answer the first outcome (authentication required) again.
        let stage = if authenticated { "_3ds" } else { "" };
        let key = format!("verify_{}_{round}{stage}", pm.id);
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
            ChargeStatus::Succeeded | ChargeStatus::Pending => {
                let refund = RefundRequest {
                    idempotency_key: format!("{key}_refund"),
                    charge_id: charge.id,
                    amount: charge.amount,
                };
                self.gateway.refund(&refund).await?;
                self.mark_verified(&pm.id).await
            }
            ChargeStatus::Declined {
                class: DeclineClass::AuthenticationRequired,
                ..
            } => Err(ServiceError::invalid(
                "authentication_required",
                "the card needs 3-D Secure: complete it, then repeat this request with \"three_d_secure\": \"completed\" (R14)",
            )),
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
        if !was_active {
            s.state = State::Active.as_str().into();
            s.state_reason = Some("turned on by the customer".into());
            s.state_changed_at = now;
            s.consecutive_failures = 0;
            s.why_not = None;
            refill_store::record_state_change(
                &mut tx,
                &s.account_id,
                "active",
                "turned on by the customer",
                now,
            )
            .await?;
        }
        s.version += 1;
        s.updated_at = now;
        refill_store::put_auto_top_up(&mut tx, &s).await?;
        refill_store::set_auto_threshold(&mut tx, &s.account_id, Some(s.threshold)).await?;
        tx.commit().await?;
        self.auto_top_up_view(&s.account_id).await
    }

    async fn turn_off(
        &self,
        account_id: &str,
        mut s: AutoTopUpRow,
        was_active: bool,
        if_match: Option<i64>,
        now: i64,
    ) -> Result<AutoTopUpView> {
        let mut tx = self.db.begin().await?;
        lock(&mut tx, self, account_id).await?;
        let fresh = refill_store::get_auto_top_up(&mut *tx, account_id).await?;
        check_version(fresh.as_ref(), if_match.or(Some(s.version)))?;
        if was_active || s.state == "disabled" {
            s.state = State::Off.as_str().into();
            s.state_reason = Some("turned off by the customer".into());
            s.state_changed_at = now;
            s.next_attempt_at = None;
            s.version += 1;
            s.updated_at = now;
            refill_store::put_auto_top_up(&mut tx, &s).await?;
            refill_store::set_auto_threshold(&mut tx, account_id, None).await?;
            refill_store::record_state_change(
                &mut tx,
                account_id,
                "off",
                "turned off by the customer",
                now,
            )
            .await?;
        }
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

fn parse_request(req: &AutoTopUpRequest) -> Result<(i64, AmountRule, SourceKind)> {
    let threshold = req.threshold.ok_or_else(|| {
        ServiceError::invalid(
            "threshold_required",
            "threshold is required to turn auto top-up on",
        )
    })?;
    let rule = match (req.amount, req.target_balance) {
        (Some(a), None) => AmountRule::Fixed(refill_domain::money::positive(a)?),
        (None, Some(t)) => AmountRule::UpToTarget(refill_domain::money::positive(t)?),
        _ => {
            return Err(ServiceError::invalid(
                "amount_required",
                "give exactly one of amount (fixed) or target_balance (R12)",
            ));
        }
    };
    let source = match req.source.as_deref().unwrap_or("card") {
        "card" => SourceKind::Card,
        "transfer" => SourceKind::Transfer,
        other => {
            return Err(ServiceError::invalid(
                "invalid_source",
                format!("source {other:?} is not card or transfer"),
            ));
        }
    };
    Ok((threshold, rule, source))
}

fn view(
    account_id: &str,
    s: Option<&AutoTopUpRow>,
    flight: Option<refill_store::TopUpRow>,
    history: Vec<(String, String, i64)>,
) -> AutoTopUpView {
    let target = s.is_some_and(|s| s.amount_mode == "target");
    AutoTopUpView {
        object: "auto_top_up",
        account_id: account_id.into(),
        state: s.map_or("off".into(), |s| s.state.clone()),
        state_reason: s.and_then(|s| s.state_reason.clone()),
        state_changed: s.map(|s| rfc3339(s.state_changed_at)),
        threshold: s.map(|s| s.threshold),
        amount: s.filter(|_| !target).map(|s| s.amount),
        target_balance: s.filter(|_| target).map(|s| s.amount),
        source: s.map(|s| s.source.clone()),
        payment_method: s.and_then(|s| s.payment_method_id.clone()),
        terms_version: s.and_then(|s| s.terms_version.clone()),
        terms_accepted: s.and_then(|s| s.terms_accepted_at).map(rfc3339),
        consecutive_failures: s.map_or(0, |s| s.consecutive_failures),
        last_attempt: s.and_then(|s| {
            s.last_attempt_at.map(|at| LastAttempt {
                top_up_id: s.last_attempt_top_up_id.clone(),
                at: rfc3339(at),
                outcome: s.last_attempt_outcome.clone(),
            })
        }),
        next_attempt: s.and_then(|s| s.next_attempt_at).map(rfc3339),
        why_not: s.and_then(|s| s.why_not.clone()),
        in_flight: flight.map(|t| InFlight {
            top_up_id: t.id,
            status: t.status,
            not_before: t.not_before.map(rfc3339),
            waiting_for: t.why_waiting,
        }),
        history: history
            .into_iter()
            .map(|(state, reason, at)| StateChange {
                state,
                reason,
                at: rfc3339(at),
            })
            .collect(),
        version: s.map_or(0, |s| s.version),
    }
}
