//! R12-R24: automatic top-up. The settings and their validation (`settings`), the
//! states and their reasons (`state`), whether an attempt may run now and how much it
//! charges (`attempt`), and what a failed charge leads to (`failure`). The engine
//! (the service crate) only carries these decisions out.

mod attempt;
mod failure;
mod settings;
mod state;

pub use attempt::{
    AfterChange, AttemptContext, Cap, CapUsage, Decision, WhyNot, cap_reached, crossing_after,
    decide_attempt, due_at_check, follow_up, in_flight_after_change, window_after_attempt,
};
pub use failure::{
    AfterFailure, Attempts, FailureClass, FailureOutcome, SettingsAfterFailure,
    after_failed_charge, after_failure, disable_reason,
};
pub use settings::{
    AmountRule, Limits, Means, SettingsContext, SourceKind, amount_to_charge, check_amount_rule,
    check_terms, check_transfer_source_setter, check_within_caps, turns_on, validate_settings,
};
pub use state::{State, StateReason, means_gone};

// The calendar lived here first; its paths stay.
pub use crate::time::{
    civil_from_days, days_from_civil, start_of_day, start_of_month, start_of_next_month,
};
