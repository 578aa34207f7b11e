//! An account after its creation (R4, R5, R22): its name and payer changed, the payer
//! removed (card auto top-up is then disabled at once), and the account closed.

use crate::accounts::{Caller, lock, lock_open};
use crate::api_objects::AccountView;
use crate::auto_top_up::save_settings;
use crate::{Idem, Refill, Result, ServiceError, idempotency};
use refill_domain::accounts::{self as rules, AccountStatus, Closing, Payer};
use refill_domain::auto_top_up::{StateReason, WhyNot, means_gone};
use refill_store::{AccountRow, TopUpRow, Tx};
use serde::{Deserialize, Deserializer};

/// A change of an account, as a JSON merge patch (RFC 7396): a field left out is
/// kept, a field set to `null` is removed; `"payer": null` removes the payer.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountChanges {
    #[serde(default, deserialize_with = "sent")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "sent")]
    pub payer: Option<Option<PayerChanges>>,
}

/// The payer's fields a change sets (`Some(Some(_))`) or removes (`Some(None)`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PayerChanges {
    #[serde(default, deserialize_with = "sent")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "sent")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "sent")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "sent")]
    pub country: Option<Option<String>>,
}

/// A field that was sent, if only as `null` (`Some(None)`), told apart from one left
/// out (`None`, by `default`).
fn sent<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The value a change sets a field to, if it sets one.
fn set_to(field: &Option<Option<String>>) -> Option<&str> {
    field.as_ref().and_then(|v| v.as_deref())
}

/// Applies one field's change.
fn change(field: Option<Option<String>>, value: &mut Option<String>) {
    if let Some(v) = field {
        *value = v;
    }
}

impl AccountChanges {
    /// R4, R5: the checks of an account's creation, on what this change sets. An
    /// account always has a name (`null` is refused as an empty one).
    fn check(&self) -> Result<()> {
        if let Some(name) = &self.name {
            rules::check_name(name.as_deref().unwrap_or(""))?;
        }
        if let Some(Some(p)) = &self.payer {
            let given = Payer {
                name: set_to(&p.name),
                email: set_to(&p.email),
                phone: set_to(&p.phone),
                country: set_to(&p.country),
            };
            rules::check_payer(&given)?;
        }
        Ok(())
    }

    fn apply_to(self, a: &mut AccountRow) {
        if let Some(Some(name)) = self.name {
            a.name = name;
        }
        let p = match self.payer {
            None => return,
            Some(Some(p)) => p,
            // The payer removed: every field of it.
            Some(None) => PayerChanges {
                name: Some(None),
                email: Some(None),
                phone: Some(None),
                country: Some(None),
            },
        };
        change(p.name, &mut a.payer_name);
        change(p.email, &mut a.payer_email);
        change(p.phone, &mut a.payer_phone);
        change(p.country, &mut a.payer_country);
    }
}

impl Refill {
    /// R4, R5, R22: changes an account's name or payer. Without a payer (removed, or
    /// its email removed) card auto top-up cannot pay, and is disabled at once.
    pub async fn update_account(
        &self,
        caller: &Caller,
        id: &str,
        changes: AccountChanges,
        idem: Option<&Idem>,
    ) -> Result<AccountView> {
        self.open_account(caller, id).await?;
        changes.check()?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let mut a = lock_open(&mut tx, self, id).await?;
        changes.apply_to(&mut a);
        refill_store::set_name_and_payer(&mut tx, &a).await?;
        if !rules::has_payer(a.payer_email.as_deref()) {
            self.disable_without_means(&mut tx, &a.id, now).await?;
        }
        let view = AccountView::from(&a);
        idempotency::remember(&mut tx, idem, 200, &view, now).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// R5, R22: active card settings whose payer is gone are disabled, as a removed
    /// card's are (`remove_payment_method`) and as the periodic check would
    /// (`active_settings_without_means`); a transfer source needs no payer.
    async fn disable_without_means(&self, tx: &mut Tx, account_id: &str, now: i64) -> Result<()> {
        let Some(mut s) = refill_store::get_auto_top_up(&mut *tx, account_id).await? else {
            return Ok(());
        };
        let card = match &s.payment_method_id {
            Some(pm) => refill_store::get_payment_method(&mut *tx, pm).await?,
            None => None,
        };
        let card_usable = card.is_some_and(|p| p.card().usable());
        if let Some(reason) = means_gone(s.state, s.source, card_usable, false) {
            save_settings(tx, &mut s, Some(reason), now).await?;
        }
        Ok(())
    }

    /// R4: closes an account for good, once no money or work is pending on it
    /// (`check_closable`). Auto top-up is turned off (what it queued is canceled),
    /// the scheduled recharge deleted and the resources removed (their fees stop);
    /// the ledger and the history are kept. Closing a closed account answers it.
    pub async fn close_account(
        &self,
        caller: &Caller,
        id: &str,
        idem: Option<&Idem>,
    ) -> Result<AccountView> {
        let row = self.account(caller, id).await?;
        self.check_may_close(caller, &row).await?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let mut a = lock(&mut tx, self, id).await?;
        if AccountStatus::of(a.closed_at) == AccountStatus::Open {
            self.close_locked(&mut tx, &a, now).await?;
            (a.closed_at, a.auto_threshold) = (Some(now), None);
        }
        let view = AccountView::from(&a);
        idempotency::remember(&mut tx, idem, 200, &view, now).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Closing needs the right to create the account: the operator closes main
    /// accounts; a sub-account is closed by whoever sees its main account.
    async fn check_may_close(&self, caller: &Caller, a: &AccountRow) -> Result<()> {
        match &a.parent_id {
            Some(parent) => self.account(caller, parent).await.map(|_| ()),
            None if caller.is_operator() => Ok(()),
            None => Err(ServiceError::Forbidden("main accounts".into())),
        }
    }

    /// The closing of `a`, locked in `tx`: checked, then everything that would move
    /// money on it later stopped.
    async fn close_locked(&self, tx: &mut Tx, a: &AccountRow, now: i64) -> Result<()> {
        let unfinished = refill_store::lock_unfinished_top_ups(tx, self.db.dialect, &a.id).await?;
        let mut to_cancel = vec![];
        let mut in_progress = None;
        for t in unfinished {
            match rules::closing_cancels(t.status, t.origin) {
                true => to_cancel.push(t),
                false => in_progress = in_progress.or(Some(t.id)),
            }
        }
        rules::check_closable(&Closing {
            balance: a.balance,
            top_up_in_progress: in_progress.as_deref(),
            open_sub_accounts: refill_store::count_open_sub_accounts(tx, &a.id).await?,
        })?;
        self.turn_off_for_closing(tx, &a.id, &mut to_cancel, now)
            .await?;
        refill_store::delete_schedule(tx, &a.id).await?;
        refill_store::remove_resources_of(tx, &a.id, now).await?;
        refill_store::delete_auto_top_up_by_resource(tx, &a.id).await?;
        refill_store::close_account(tx, &a.id, now).await?;
        Ok(())
    }

    /// R4, R23, R24: auto top-up turned off for the account's closing, with its
    /// reason recorded, and the top-ups it had queued canceled.
    async fn turn_off_for_closing(
        &self,
        tx: &mut Tx,
        account_id: &str,
        queued: &mut [TopUpRow],
        now: i64,
    ) -> Result<()> {
        for t in queued.iter_mut() {
            self.finish_without_charge(tx, t, WhyNot::NotActive, now)
                .await?;
        }
        let Some(mut s) = refill_store::get_auto_top_up(&mut *tx, account_id).await? else {
            return Ok(());
        };
        let reason = StateReason::AccountClosed;
        // Already off: nothing to change.
        if s.state.change(&reason).is_ok() {
            save_settings(tx, &mut s, Some(reason), now).await?;
        }
        Ok(())
    }
}
