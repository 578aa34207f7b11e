//! Payment methods (R5), the checkout summary (R9) and manual top-ups (R8, R10).

use crate::accounts::Caller;
use crate::api_objects::{PaymentMethodView, TopUpView};
use crate::auto_top_up::save_settings;
use crate::{Idem, Refill, Result, ServiceError, idempotency};
use refill_domain::accounts::{becomes_primary, check_currency, require_card};
use refill_domain::auto_top_up::{State, StateReason};
use refill_domain::checkout::{self, CheckoutSummary};
use refill_domain::top_up::{Origin, Progress, TopUpStatus};
use refill_gateway::GatewayError;
use refill_store::{PaymentMethodRow, TopUpRow};
use serde::Deserialize;

/// R23: the failure code of a charge the gateway refused as malformed.
pub const GATEWAY_REJECTED: &str = "gateway_rejected";

#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPaymentMethod {
    /// The gateway's token for the card (the sandbox takes Stripe's test tokens).
    pub token: String,
    /// Saved for later (default) or used once.
    pub save: Option<bool>,
    /// Make it the primary method (the first saved one is primary anyway).
    pub primary: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTopUp {
    #[schemars(range(min = 1))]
    pub amount: i64,
    pub currency: Option<String>,
    /// A saved payment method id; default: the primary one.
    pub payment_method: Option<String>,
}

impl Refill {
    /// R5: saves a tokenised card (refill never sees card numbers).
    pub async fn add_payment_method(
        &self,
        caller: &Caller,
        account_id: &str,
        req: NewPaymentMethod,
        idem: Option<&Idem>,
    ) -> Result<PaymentMethodView> {
        let account = self.open_account(caller, account_id).await?;
        if req.token.is_empty() || req.token.len() > 200 {
            return Err(ServiceError::invalid(
                "invalid_token",
                "token must be a payment method token from the gateway",
            ));
        }
        let card = self
            .gateway
            .describe_payment_method(&req.token)
            .await
            .map_err(|e| match e {
                GatewayError::Invalid(m) => ServiceError::invalid("invalid_payment_method", m),
                other => ServiceError::Gateway(other),
            })?;
        let saved = req.save.unwrap_or(true);
        let id = refill_store::new_id("pm");
        // A card kept for later is saved at the gateway too (Stripe: a SetupIntent
        // for off-session use, on the payer's customer); one used once is not.
        let at_gateway = match saved {
            true => Some(
                self.save_card_at_gateway(&account, &req.token, &id, idem)
                    .await?,
            ),
            false => None,
        };
        let token = at_gateway
            .as_ref()
            .map(|g| g.saved.token.clone())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| req.token.clone());
        let setup = at_gateway
            .as_ref()
            .and_then(|g| g.setup_row(&id, self.now()));
        let mut tx = self.db.begin().await?;
        let existing = refill_store::list_payment_methods(&mut *tx, account_id).await?;
        let primary = becomes_primary(saved, existing.is_empty(), req.primary.unwrap_or(false));
        let row = PaymentMethodRow {
            id,
            account_id: account_id.into(),
            gateway_token: token,
            brand: card.brand,
            last4: card.last4,
            exp_month: card.exp_month as i64,
            exp_year: card.exp_year as i64,
            saved,
            is_primary: false,
            // A setup that succeeded at once was checked by the bank (R14).
            verified_at: setup
                .as_ref()
                .filter(|s| s.status == crate::saved_cards::READY && s.setup_id.is_some())
                .map(|_| self.now()),
            removed_at: None,
            created_at: self.now(),
        };
        refill_store::insert_payment_method(&mut tx, &row).await?;
        if let Some(setup) = &setup {
            refill_store::insert_card_setup(&mut tx, setup).await?;
        }
        if primary {
            refill_store::set_primary_payment_method(&mut tx, account_id, &row.id).await?;
        }
        let view = PaymentMethodView::from(&PaymentMethodRow {
            is_primary: primary,
            ..row
        })
        .with_setup(setup.as_ref());
        idempotency::remember(&mut tx, idem, 201, &view, self.now()).await?;
        tx.commit().await?;
        Ok(view)
    }

    pub async fn payment_methods(
        &self,
        caller: &Caller,
        account_id: &str,
    ) -> Result<Vec<PaymentMethodView>> {
        self.account(caller, account_id).await?;
        let rows = refill_store::list_payment_methods(&self.db.pool, account_id).await?;
        let mut views = Vec::with_capacity(rows.len());
        for r in &rows {
            views.push(self.payment_method_view(r).await?);
        }
        Ok(views)
    }

    /// A payment method of this account, not removed.
    pub async fn payment_method(&self, account_id: &str, pm_id: &str) -> Result<PaymentMethodRow> {
        refill_store::get_payment_method(&self.db.pool, pm_id)
            .await?
            .filter(|p| p.account_id == account_id && p.card().usable())
            .ok_or_else(|| ServiceError::not_found("payment method", pm_id))
    }

    /// R5: removes a saved card. Auto top-up that used it is disabled by the periodic
    /// check (R22), or at once here.
    pub async fn remove_payment_method(
        &self,
        caller: &Caller,
        account_id: &str,
        pm_id: &str,
    ) -> Result<PaymentMethodView> {
        self.account(caller, account_id).await?;
        let pm = self.payment_method(account_id, pm_id).await?;
        self.remove_card_at_gateway(&pm).await?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        refill_store::remove_payment_method(&mut tx, pm_id, now).await?;
        if let Some(mut s) = refill_store::get_auto_top_up(&mut *tx, account_id).await?
            && s.state == State::Active
            && s.payment_method_id.as_deref() == Some(pm_id)
        {
            let reason = Some(StateReason::PaymentMethodRemoved);
            save_settings(&mut tx, &mut s, reason, now).await?;
        }
        tx.commit().await?;
        Ok(PaymentMethodView::from(&PaymentMethodRow {
            removed_at: Some(now),
            is_primary: false,
            ..pm
        }))
    }

    /// R5: makes a saved card the account's primary one (the one top-ups use by
    /// default).
    pub async fn make_primary_payment_method(
        &self,
        caller: &Caller,
        account_id: &str,
        pm_id: &str,
    ) -> Result<PaymentMethodView> {
        self.open_account(caller, account_id).await?;
        let pm = self.payment_method(account_id, pm_id).await?;
        if !pm.saved {
            return Err(refill_domain::DomainError::PaymentMethodNotSaved.into());
        }
        let mut tx = self.db.begin().await?;
        refill_store::set_primary_payment_method(&mut tx, account_id, pm_id).await?;
        tx.commit().await?;
        self.payment_method_view(&PaymentMethodRow {
            is_primary: true,
            ..pm
        })
        .await
    }

    /// R9: what a top-up of `amount` would cost: amount, tax by the payer's country, total.
    pub async fn checkout(
        &self,
        caller: &Caller,
        account_id: &str,
        amount: i64,
    ) -> Result<CheckoutSummary> {
        let account = self.account(caller, account_id).await?;
        let currency = refill_domain::Currency::parse(&account.currency)?;
        let amount = checkout::check_minimum(amount, self.config.minimum_top_up(currency))?;
        let mut conn = self.db.pool.acquire().await?;
        let rate = self.tax_rate(&mut conn, &account).await?;
        Ok(checkout::summary(amount, rate, currency)?)
    }

    /// R9: the tax rate of an account's top-ups, by its payer's country; a
    /// sub-account without a payer of its own is taxed by its main account's payer.
    pub(crate) async fn tax_rate(
        &self,
        conn: &mut refill_store::Tx,
        account: &refill_store::AccountRow,
    ) -> Result<u32> {
        let main = match &account.parent_id {
            Some(id) => refill_store::get_account(&mut *conn, id).await?,
            None => None,
        };
        let main_country = main.as_ref().and_then(|m| m.payer_country.as_deref());
        let country = checkout::tax_country(account.payer_country.as_deref(), main_country);
        Ok(self.config.tax.rate_bps(country))
    }

    /// R7: the price of planned usage `(quantity, unit price)` lines, the balance it
    /// would leave and the top-up it needs first (at least the minimum).
    pub async fn estimate(
        &self,
        caller: &Caller,
        account_id: &str,
        lines: &[(i64, i64)],
    ) -> Result<(refill_store::AccountRow, checkout::Estimate)> {
        let account = self.account(caller, account_id).await?;
        let currency = refill_domain::Currency::parse(&account.currency)?;
        let minimum = self.config.minimum_top_up(currency).amount;
        let est = checkout::estimate(lines, account.balance, account.credit_limit, minimum)?;
        Ok((account, est))
    }

    /// R8, R10: a manual top-up, charged at once. A replay with the same
    /// Idempotency-Key finds the same top-up and never charges again.
    pub async fn top_up(
        &self,
        caller: &Caller,
        account_id: &str,
        req: NewTopUp,
        idem: Option<&Idem>,
    ) -> Result<TopUpView> {
        let account = self.open_account(caller, account_id).await?;
        check_currency(&account.currency, req.currency.as_deref())?;
        if let Some(i) = idem
            && let Some(existing) =
                refill_store::top_up_by_request_key(&self.db.pool, &i.request_key()).await?
        {
            // A replay: the same top-up, answered as it was (receipt or refusal).
            let same = existing.account_id == account_id
                && existing.amount == req.amount
                && req
                    .payment_method
                    .as_ref()
                    .is_none_or(|p| existing.payment_method_id.as_ref() == Some(p));
            if !same {
                return Err(ServiceError::conflict(
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with another request",
                ));
            }
            if existing.status == TopUpStatus::Charging
                && existing.lease_until.is_some_and(|t| t > self.now())
            {
                return Err(ServiceError::conflict(
                    "idempotency_key_in_use",
                    "a request with this Idempotency-Key is still being processed; retry shortly",
                ));
            }
            return self.answer_top_up(existing, None).await;
        }
        let summary = self.checkout(caller, account_id, req.amount).await?;
        let pm = match &req.payment_method {
            Some(id) => self.payment_method(account_id, id).await?,
            None => require_card(
                refill_store::list_payment_methods(&self.db.pool, account_id)
                    .await?
                    .into_iter()
                    .find(|p| p.is_primary),
            )?,
        };
        self.ensure_card_ready(&pm).await?;
        let t = self
            .open_manual_top_up(&account, &pm, summary, idem)
            .await?;
        self.charge_and_record(t.clone(), pm).await?;
        let done = refill_store::get_top_up(&self.db.pool, &t.id)
            .await?
            .unwrap_or(t);
        self.answer_top_up(done, idem).await
    }

    /// The recovery point of a manual top-up: committed before the gateway is called.
    async fn open_manual_top_up(
        &self,
        account: &refill_store::AccountRow,
        pm: &PaymentMethodRow,
        s: CheckoutSummary,
        idem: Option<&Idem>,
    ) -> Result<TopUpRow> {
        let now = self.now();
        let id = refill_store::new_id("top");
        let progress = Progress::charging_now();
        let t = TopUpRow {
            payment_method_id: Some(pm.id.clone()),
            amount: s.amount,
            tax: s.tax,
            total: s.total,
            attempt: 1,
            lease_until: Some(now + self.config.lease),
            request_key: idem.map(Idem::request_key),
            ..TopUpRow::new(
                id,
                &account.id,
                &account.currency,
                Origin::Manual,
                progress,
                now,
            )
        };
        let mut tx = self.db.begin().await?;
        // R4: under the lock closing takes: a top-up never starts on a closed account.
        crate::accounts::lock_open(&mut tx, self, &account.id).await?;
        if !refill_store::insert_top_up(&mut tx, &t).await? {
            return Err(ServiceError::IdempotentReplay);
        }
        tx.commit().await?;
        Ok(t)
    }

    /// Turns the recorded outcome into the answer: the receipt, or a clear error.
    async fn answer_top_up(&self, t: TopUpRow, idem: Option<&Idem>) -> Result<TopUpView> {
        match t.status {
            // R23: refused as malformed: not the card's doing, nor the customer's.
            TopUpStatus::Failed if t.failure_code.as_deref() == Some(GATEWAY_REJECTED) => {
                Err(ServiceError::Gateway(GatewayError::Rejected(
                    t.failure_message.clone().unwrap_or_default(),
                )))
            }
            TopUpStatus::Failed => Err(ServiceError::CardDeclined {
                code: t.failure_code.clone().unwrap_or_default(),
                message: t.failure_message.clone().unwrap_or_default(),
                top_up_id: t.id.clone(),
            }),
            TopUpStatus::RequiresAction => Err(self.authentication_required(&t).await),
            TopUpStatus::Charging => Err(ServiceError::Gateway(GatewayError::Outage(format!(
                "the payment gateway did not answer; top-up {} will be resolved automatically, retry with the same Idempotency-Key to see its outcome",
                t.id
            )))),
            _ => {
                let view = self.top_up_view(&t).await?;
                if let Some(i) = idem {
                    let mut tx = self.db.begin().await?;
                    let _ = idempotency::remember(&mut tx, Some(i), 201, &view, self.now()).await;
                    tx.commit().await?;
                }
                Ok(view)
            }
        }
    }

    pub async fn top_up_view(&self, t: &TopUpRow) -> Result<TopUpView> {
        let pm = refill_store::payment_method_named(&self.db.pool, t.payment_method_id.as_deref())
            .await?;
        Ok(TopUpView::new(t, pm.as_ref()))
    }

    /// R10: a top-up's receipt.
    pub async fn get_top_up(&self, caller: &Caller, id: &str) -> Result<TopUpView> {
        let t = refill_store::get_top_up(&self.db.pool, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("top-up", id))?;
        self.account(caller, &t.account_id)
            .await
            .map_err(|_| ServiceError::not_found("top-up", id))?;
        self.top_up_view(&t).await
    }

    pub async fn list_top_ups(
        &self,
        caller: &Caller,
        account_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<crate::api_objects::Page<TopUpView>> {
        self.account(caller, account_id).await?;
        let rows = refill_store::list_top_ups(&self.db.pool, account_id, after, limit + 1).await?;
        let mut views = Vec::with_capacity(rows.len());
        for r in &rows {
            views.push(self.top_up_view(r).await?);
        }
        Ok(crate::api_objects::Page::from_rows(
            views,
            limit,
            Clone::clone,
        ))
    }

    /// R23: the customer completed 3-D Secure for a top-up that asked for it; it is
    /// charged again, authenticated.
    pub async fn confirm_top_up(&self, caller: &Caller, id: &str) -> Result<TopUpView> {
        let seen = refill_store::get_top_up(&self.db.pool, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("top-up", id))?;
        self.account(caller, &seen.account_id)
            .await
            .map_err(|_| ServiceError::not_found("top-up", id))?;
        if self.gateway.authenticates_in_place()
            && let Some(payment) = seen.gateway_charge_id.clone()
        {
            return self.confirm_in_place(&seen, &payment).await;
        }
        seen.status.confirm()?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        crate::accounts::lock(&mut tx, self, &seen.account_id).await?;
        let Some(mut t) = refill_store::lock_top_up(&mut tx, self.db.dialect, id).await? else {
            return Err(ServiceError::not_found("top-up", id));
        };
        // Moved again under the lock: a concurrent confirm or a webhook may have moved
        // it on, and it must not go back to the queue.
        t.set_progress(t.progress().confirm(now)?);
        t.authenticated = true;
        t.updated_at = now;
        refill_store::update_top_up(&mut tx, &t).await?;
        tx.commit().await?;
        self.run_until_idle().await?;
        let t = refill_store::get_top_up(&self.db.pool, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("top-up", id))?;
        self.top_up_view(&t).await
    }
}
