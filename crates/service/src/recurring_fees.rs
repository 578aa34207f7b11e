//! R17, R29: resources with a recurring fee (a dedicated number). The first period's
//! fee is debited at purchase; a periodic job charges each renewal once, whether or
//! not anything is sent, through the same journal and triggering rules as any debit
//! (R6, R18). A renewal the balance cannot cover is retried at each periodic check for
//! a grace period, then the resource is suspended. Buying one turns auto top-up on
//! with the operator's defaults (R17); removing the last one turns that off again,
//! unless the customer has changed the settings since.

use crate::accounts::{Caller, lock, lock_open};
use crate::api_objects::{Page, rfc3339};
use crate::auto_top_up::save_settings;
use crate::journal::balance_state;
use crate::top_up_executor::queue_auto_top_up;
use crate::{Idem, Refill, Result, ServiceError, events, idempotency};
use refill_domain::accounts::{check_currency, check_name, has_payer};
use refill_domain::auto_top_up::crossing_after;
use refill_domain::auto_top_up::{AmountRule, SourceKind, StateReason, check_terms};
use refill_domain::debit::{DebitKind, authorize};
use refill_domain::events::{ResourceRenewalFailed, ResourceSuspended, UnpaidResource};
use refill_domain::ledger;
use refill_domain::recurring::{Period, period_start};
use refill_domain::resources::{
    ResourceStatus, UnpaidRenewal, last_removal_turns_off, purchase_turns_on, renewal_due,
    unpaid_renewal,
};
use refill_store::{AccountRow, AutoTopUpRow, PaymentMethodRow, ResourceFeeRow, ResourceRow, Tx};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewResource {
    /// What the customer holds, in the provider's words: "+44 7700 900123".
    pub name: String,
    /// The fee per period, in the account's currency (minor units).
    pub fee: i64,
    /// When given, must be the account's currency.
    pub currency: Option<String>,
    /// weekly | monthly (default) | yearly
    #[schemars(with = "Option<refill_domain::recurring::Period>")]
    pub period: Option<String>,
    /// R14, R17: the auto top-up terms, needed when this purchase turns auto top-up on.
    pub terms_version: Option<String>,
    /// R14: the customer completed 3-D Secure for the card's verification charge.
    #[schemars(extend("enum" = ["completed", null]))]
    pub three_d_secure: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct ResourceView {
    pub id: String,
    pub object: &'static str,
    pub account_id: String,
    pub name: String,
    pub fee: i64,
    pub currency: String,
    #[schemars(with = "refill_domain::recurring::Period")]
    pub period: String,
    /// active | suspended | removed
    #[schemars(with = "refill_domain::resources::ResourceStatus")]
    pub status: String,
    /// Periods paid so far, the purchase's included.
    pub periods_paid: i64,
    /// When the next fee is due (none once suspended or removed).
    pub next_fee: Option<String>,
    /// The renewal due could not be paid since then (R29: retried, then suspended).
    pub renewal_failing_since: Option<String>,
    /// R29: when the unpaid renewal last asked for an automatic top-up (none while
    /// paid, or with auto top-up not active).
    pub renewal_top_up_requested: Option<String>,
    /// R17: buying it turned auto top-up on.
    pub turned_on_auto_top_up: bool,
    pub created: String,
    pub suspended: Option<String>,
    pub removed: Option<String>,
}

impl From<&ResourceRow> for ResourceView {
    fn from(r: &ResourceRow) -> Self {
        ResourceView {
            id: r.id.clone(),
            object: "resource",
            account_id: r.account_id.clone(),
            name: r.name.clone(),
            fee: r.fee,
            currency: r.currency.clone(),
            period: r.period.clone(),
            status: r.status.as_str().into(),
            periods_paid: r.periods_paid,
            next_fee: r.next_fee_at.map(rfc3339),
            renewal_failing_since: r.shortfall_since.map(rfc3339),
            renewal_top_up_requested: r.renewal_top_up_at.map(rfc3339),
            turned_on_auto_top_up: r.turned_on_auto_top_up,
            created: rfc3339(r.created_at),
            suspended: r.suspended_at.map(rfc3339),
            removed: r.removed_at.map(rfc3339),
        }
    }
}

/// What one run of the renewal job did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenewalReport {
    pub charged: usize,
    pub unpaid: usize,
    pub suspended: usize,
}

enum Renewal {
    NotDue,
    Charged,
    Unpaid,
    Suspended,
}

/// The auto top-up card R17 may turn on, and the terms version the customer accepted.
struct AutoTopUpCard {
    pm: PaymentMethodRow,
    terms_version: String,
}

/// Rounds of the renewal job per run, and resources per round: a resource several
/// periods behind (the job did not run for a while) is charged one period per round.
const RENEWAL_ROUNDS: usize = 64;
const RENEWAL_BATCH: i64 = 256;

fn period_of(r: &ResourceRow) -> Period {
    Period::parse(&r.period).unwrap_or(Period::Monthly)
}

/// Bad input is refused before anything is read or written.
fn check_new_resource(req: &NewResource, account: &AccountRow) -> Result<(String, i64, Period)> {
    let name = req.name.trim();
    check_name(name)?;
    let fee = refill_domain::money::positive(req.fee)?;
    check_currency(&account.currency, req.currency.as_deref())?;
    let period = Period::from_request(req.period.as_deref())?;
    Ok((name.to_string(), fee, period))
}

impl Refill {
    /// R29, R17: buys a resource: its first period's fee is debited at once (refused
    /// whole when the balance cannot cover it, R6), and auto top-up is turned on with
    /// the operator's defaults where the account has a saved card and it is not on.
    pub async fn buy_resource(
        &self,
        caller: &Caller,
        account_id: &str,
        req: NewResource,
        idem: Option<&Idem>,
    ) -> Result<ResourceView> {
        let account = self.open_account(caller, account_id).await?;
        let (name, fee, period) = check_new_resource(&req, &account)?;
        // R6 first, so a purchase that cannot be paid verifies no card.
        authorize(balance_state(&account), &[fee])?;
        let card = self.auto_top_up_card(&account, &req).await?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let account = lock_open(&mut tx, self, account_id).await?;
        let mut r = ResourceRow {
            id: refill_store::new_id("res"),
            account_id: account.id.clone(),
            name,
            currency: account.currency.clone(),
            fee,
            period: period.as_str().into(),
            status: ResourceStatus::Active,
            anchor_at: now,
            periods_paid: 0,
            next_fee_at: Some(now),
            shortfall_since: None,
            shortfall_checked_at: None,
            turned_on_auto_top_up: false,
            created_at: now,
            updated_at: now,
            suspended_at: None,
            removed_at: None,
            renewal_top_up_at: None,
        };
        refill_store::insert_resource(&mut tx, &r).await?;
        let (balance, mut queued) = self.charge_period(&mut tx, &account, &mut r, now).await?;
        if let Some(card) = card {
            let (on, q) = self
                .turn_on_for_resource(&mut tx, &account, &r, card, balance, now)
                .await?;
            r.turned_on_auto_top_up = on;
            queued |= q;
        }
        refill_store::update_resource(&mut tx, &r).await?;
        let view = ResourceView::from(&r);
        idempotency::remember(&mut tx, idem, 201, &view, now).await?;
        tx.commit().await?;
        if queued {
            self.work_ready.notify_waiters();
        }
        Ok(view)
    }

    /// R17: the card auto top-up would be turned on with, if the purchase turns it on:
    /// not on yet, a saved primary card and a payer (R5). Then R14 applies as to any
    /// turning on: the terms must be accepted in the request and the card is verified.
    async fn auto_top_up_card(
        &self,
        account: &AccountRow,
        req: &NewResource,
    ) -> Result<Option<AutoTopUpCard>> {
        let settings = refill_store::get_auto_top_up(&self.db.pool, &account.id).await?;
        let primary = refill_store::list_payment_methods(&self.db.pool, &account.id)
            .await?
            .into_iter()
            .find(|p| p.is_primary);
        let state = settings.as_ref().map(|s| s.state);
        let payer = has_payer(account.payer_email.as_deref());
        let turns_on = purchase_turns_on(state, primary.is_some(), payer);
        let Some(pm) = primary.filter(|_| turns_on) else {
            return Ok(None);
        };
        check_terms(req.terms_version.as_deref(), &self.config.terms_version)?;
        let terms_version = self.config.terms_version.clone();
        let round = settings.map_or(0, |s| s.version) + 1;
        let authenticated = req.three_d_secure.as_deref() == Some("completed");
        self.verify_card(&pm, round, authenticated).await?;
        Ok(Some(AutoTopUpCard { pm, terms_version }))
    }

    /// R29: charges the period the resource is due for, once, and moves it on to the
    /// next period, in the caller's transaction. Returns the balance after it and
    /// whether it queued a top-up (R18). Refused with nothing written when the
    /// balance cannot cover it (R6).
    pub(crate) async fn charge_period(
        &self,
        tx: &mut Tx,
        account: &AccountRow,
        r: &mut ResourceRow,
        now: i64,
    ) -> Result<(i64, bool)> {
        let period = r.periods_paid;
        let due_at = r.next_fee_at.unwrap_or(now);
        let next = period_start(r.anchor_at, period_of(r), period + 1)?;
        let mut outcome = (account.balance, false);
        // The fees table's key makes a second charge of this period impossible: a
        // period found there is only moved past.
        if !refill_store::resource_fee_charged(tx, &r.id, period).await? {
            // R3, R6, R18, R26, R27: worked out first, so that a renewal the balance
            // cannot cover writes nothing.
            let journal = ledger::debit(&account.id, ledger::EntryKind::RecurringFee, r.fee)?;
            let applied = self.work_out(&journal, &[account])?;
            let fee = ResourceFeeRow {
                resource_id: r.id.clone(),
                period,
                amount: r.fee,
                due_at,
                charged_at: now,
            };
            if refill_store::insert_resource_fee(tx, &fee).await? {
                let reference = format!("{} {}: period {}", r.id, r.name, period + 1);
                let queued = self
                    .write_journal(tx, &applied, &reference, Some(&r.id), now)
                    .await?;
                outcome = (applied.after(&account.id), queued);
            }
        }
        r.periods_paid = period + 1;
        r.next_fee_at = Some(next);
        r.shortfall_since = None;
        r.shortfall_checked_at = None;
        r.renewal_top_up_at = None;
        r.updated_at = now;
        Ok(outcome)
    }

    /// R17, R24: turns auto top-up on with the operator's defaults, records why, and
    /// remembers the settings version it wrote (to tell later whether the customer
    /// changed them). Returns (turned on, top-up queued).
    async fn turn_on_for_resource(
        &self,
        tx: &mut Tx,
        account: &AccountRow,
        r: &ResourceRow,
        card: AutoTopUpCard,
        balance: i64,
        now: i64,
    ) -> Result<(bool, bool)> {
        let current = refill_store::get_auto_top_up(&mut *tx, &account.id).await?;
        // The card and the payer were checked before the card's verification (R17).
        if !purchase_turns_on(current.as_ref().map(|s| s.state), true, true) {
            // Turned on by the customer meanwhile: theirs, untouched (R16).
            return Ok((false, false));
        }
        let defaults = self.config.recurring;
        let mut s = current.unwrap_or_else(|| AutoTopUpRow::new(&account.id));
        s.threshold = defaults.auto_top_up_threshold;
        s.set_amount_rule(AmountRule::Fixed(defaults.auto_top_up_amount));
        (s.source, s.payment_method_id) = (SourceKind::Card, Some(card.pm.id));
        (s.terms_version, s.terms_accepted_at) = (Some(card.terms_version), Some(now));
        let reason = StateReason::TurnedOnByPurchase {
            resource_id: r.id.clone(),
        };
        save_settings(tx, &mut s, Some(reason), now).await?;
        refill_store::put_auto_top_up_by_resource(tx, &account.id, &r.id, s.version, now).await?;
        // R18: the purchase's fee took the balance to or below the threshold just
        // turned on. A crossing by spending only where fees count as spending
        // (`trigger_on`; not by default): then its top-up is due now.
        let counts = self.config.trigger_on.counts(DebitKind::RecurringFee);
        let crossed = crossing_after(false, counts, Some(s.threshold), balance);
        if crossed {
            refill_store::set_crossed_by_spending(tx, &account.id, true).await?;
        }
        let queued =
            crossed && queue_auto_top_up(tx, &account.id, &account.currency, now, now).await?;
        Ok((true, queued))
    }

    pub async fn list_resources(
        &self,
        caller: &Caller,
        account_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<ResourceView>> {
        self.account(caller, account_id).await?;
        let rows =
            refill_store::list_resources(&self.db.pool, account_id, after, limit + 1).await?;
        Ok(Page::from_rows(rows, limit, |r| ResourceView::from(r)))
    }

    /// R29, R17: removes a resource: its fees stop (the period paid is not refunded).
    /// Removing the account's last one also turns off the auto top-up its purchase
    /// turned on, if the customer has not changed those settings since. Removing a
    /// removed resource answers it again.
    pub async fn remove_resource(
        &self,
        caller: &Caller,
        account_id: &str,
        resource_id: &str,
    ) -> Result<ResourceView> {
        self.account(caller, account_id).await?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        lock(&mut tx, self, account_id).await?;
        let mut r = refill_store::lock_resource(&mut tx, self.db.dialect, resource_id)
            .await?
            .filter(|r| r.account_id == account_id)
            .ok_or_else(|| ServiceError::not_found("resource", resource_id))?;
        if r.status == ResourceStatus::Removed {
            return Ok(ResourceView::from(&r));
        }
        r.status = r.status.remove()?;
        r.removed_at = Some(now);
        r.next_fee_at = None;
        r.updated_at = now;
        refill_store::update_resource(&mut tx, &r).await?;
        if refill_store::count_held_resources(&mut tx, account_id).await? == 0 {
            self.undo_auto_top_up_of_resources(&mut tx, account_id, &r.id, now)
                .await?;
        }
        tx.commit().await?;
        Ok(ResourceView::from(&r))
    }

    /// R17, R16, R24: the last resource is gone: the auto top-up a purchase turned on
    /// is turned off, unless the customer changed the settings since (another version)
    /// or the executor disabled them; either way they are the customer's from now on.
    async fn undo_auto_top_up_of_resources(
        &self,
        tx: &mut Tx,
        account_id: &str,
        resource_id: &str,
        now: i64,
    ) -> Result<()> {
        let Some((_, version)) = refill_store::auto_top_up_by_resource(tx, account_id).await?
        else {
            return Ok(());
        };
        refill_store::delete_auto_top_up_by_resource(tx, account_id).await?;
        let Some(mut s) = refill_store::get_auto_top_up(&mut *tx, account_id).await? else {
            return Ok(());
        };
        if let Some(reason) = last_removal_turns_off(s.state, s.version, version, resource_id) {
            save_settings(tx, &mut s, Some(reason), now).await?;
        }
        Ok(())
    }

    /// The periodic jobs of this module (renewals, R29; scheduled recharges, R30),
    /// run by `periodic_jobs` under its lease, one node at a time.
    pub async fn recurring_jobs(&self) -> Result<()> {
        self.renew_resources().await?;
        self.run_scheduled_recharges().await?;
        Ok(())
    }

    /// R29: charges every renewal due now. Each is its own transaction that locks the
    /// resource, checks it is still due, debits the fee and advances `next_fee_at`
    /// together: running twice, on two nodes, or again after a crash charges a period
    /// once.
    pub async fn renew_resources(&self) -> Result<RenewalReport> {
        let now = self.now();
        let mut report = RenewalReport::default();
        for _ in 0..RENEWAL_ROUNDS {
            let due = refill_store::resources_due(&self.db.pool, now, RENEWAL_BATCH).await?;
            let mut progressed = false;
            for id in &due {
                match self.renew(id, now).await {
                    Ok(Renewal::NotDue) => {}
                    Ok(Renewal::Charged) => report.charged += 1,
                    Ok(Renewal::Unpaid) => report.unpaid += 1,
                    Ok(Renewal::Suspended) => report.suspended += 1,
                    Err(e) => {
                        eprintln!("refill: renewal of {id} failed, retried at the next check: {e}");
                        continue;
                    }
                }
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        Ok(report)
    }

    async fn renew(&self, id: &str, now: i64) -> Result<Renewal> {
        let mut tx = self.db.begin().await?;
        let Some(peek) = refill_store::get_resource(&mut *tx, id).await? else {
            return Ok(Renewal::NotDue);
        };
        // Lock order everywhere: the account, then the resource.
        let account = lock(&mut tx, self, &peek.account_id).await?;
        let Some(mut r) = refill_store::lock_resource(&mut tx, self.db.dialect, id).await? else {
            return Ok(Renewal::NotDue);
        };
        if !renewal_due(r.status, r.next_fee_at, now) {
            return Ok(Renewal::NotDue);
        }
        let outcome = match self.charge_period(&mut tx, &account, &mut r, now).await {
            Ok((_, queued)) => {
                if queued {
                    self.work_ready.notify_waiters();
                }
                Renewal::Charged
            }
            Err(ServiceError::Domain(e)) if e.is_shortfall() => {
                self.unpaid(&mut tx, &account, &mut r, now).await?
            }
            Err(e) => return Err(e),
        };
        refill_store::update_resource(&mut tx, &r).await?;
        tx.commit().await?;
        if r.renewal_top_up_at == Some(now) {
            self.work_ready.notify_waiters();
        }
        Ok(outcome)
    }

    /// R29: a renewal the balance cannot cover: the customer is told once per period
    /// and it is tried again at each check until the grace period ends, asking for
    /// an automatic top-up each time where auto top-up is active; then the resource
    /// is suspended and its fees stop.
    async fn unpaid(
        &self,
        tx: &mut Tx,
        account: &AccountRow,
        r: &mut ResourceRow,
        now: i64,
    ) -> Result<Renewal> {
        let due = r.next_fee_at.unwrap_or(now);
        let unpaid = UnpaidResource {
            resource_id: &r.id,
            name: &r.name,
            fee: r.fee,
            currency: &r.currency,
            balance: account.balance,
            due,
        };
        let grace = self.config.recurring.renewal_grace;
        let outcome = match unpaid_renewal(due, now, grace, r.shortfall_since) {
            UnpaidRenewal::Retry { suspend_at, tell } => {
                if tell {
                    let told = ResourceRenewalFailed::new(&unpaid, suspend_at);
                    events::emit(tx, &r.account_id, told, now).await?;
                    r.shortfall_since = Some(now);
                }
                r.shortfall_checked_at = Some(now);
                self.ask_for_renewal_top_up(tx, account, r, now).await?;
                Renewal::Unpaid
            }
            UnpaidRenewal::Suspend => {
                let told = ResourceSuspended::new(&unpaid);
                events::emit(tx, &r.account_id, told, now).await?;
                r.status = r.status.suspend()?;
                r.suspended_at = Some(now);
                r.next_fee_at = None;
                r.renewal_top_up_at = None;
                Renewal::Suspended
            }
        };
        r.updated_at = now;
        Ok(outcome)
    }
}
