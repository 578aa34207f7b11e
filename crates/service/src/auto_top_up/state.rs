//! R16, R24: the one writer of auto top-up settings and of their state.

use crate::{Result, events};
use refill_domain::auto_top_up::{State, StateReason, WhyNot};
use refill_domain::events::AutoTopUpDisabled;
use refill_store::{AutoTopUpRow, Tx};

/// R16, R24: saves auto top-up settings; the one writer of their state. With
/// `change`, the state changes for that reason first: the domain checks the change
/// (`State::change`: a wrong one is refused and nothing is written), the change is
/// recorded in the history with its time and reason, and told when it disables them
/// (`auto_top_up.disabled`). Every save is a new version (R16), and keeps the
/// account's copy of the threshold (`accounts.auto_threshold`, which the debit path
/// and the periodic check read) set while active, cleared otherwise.
pub(crate) async fn save_settings(
    tx: &mut Tx,
    s: &mut AutoTopUpRow,
    change: Option<StateReason>,
    now: i64,
) -> Result<()> {
    if let Some(reason) = change {
        s.state = s.state.change(&reason)?;
        s.state_changed_at = now;
        s.next_attempt_at = None;
        match s.state {
            State::Active => (s.consecutive_failures, s.why_not) = (0, None),
            // What it waited for before (a retry, the customer) is over: not active.
            State::Disabled | State::Off => s.why_not = Some(WhyNot::NotActive),
        }
        refill_store::record_state_change(tx, &s.account_id, s.state, &reason, now).await?;
        if s.state == State::Disabled {
            let told = AutoTopUpDisabled::new(s.consecutive_failures, &reason);
            events::emit(tx, &s.account_id, told, now).await?;
        }
        s.state_reason = Some(reason);
    }
    s.version += 1;
    s.updated_at = now;
    refill_store::put_auto_top_up(tx, s).await?;
    let threshold = (s.state == State::Active).then_some(s.threshold);
    refill_store::set_auto_threshold(tx, &s.account_id, threshold).await?;
    Ok(())
}
