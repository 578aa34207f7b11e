//! The auto top-up engine (R11-R27) with the simulated clock.

mod changes;
mod failures;
mod limits;
mod settings;
mod triggers;
mod verification;
mod waits;
mod window;

use crate::support::TestApp;

/// Charges made for automatic top-ups: the sandbox's own record, less the
/// verification and manual charges.
fn auto_charges(app: &TestApp) -> usize {
    let charges = app.sandbox.charges();
    let manual = app.manual_top_ups.lock().unwrap().clone();
    charges
        .iter()
        .filter(|(k, _)| k.starts_with("top_") && !manual.iter().any(|m| k.starts_with(m.as_str())))
        .count()
}
