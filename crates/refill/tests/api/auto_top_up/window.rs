//! R20's interval window after a gateway outage: it runs from the charge actually
//! sent, so an attempt re-sent after the outage starts it again.

use super::auto_charges;
use crate::support::*;
use refill_domain::{HOUR, MINUTE};
use refill_gateway::sandbox::Fault;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r20_r21_an_attempt_resent_after_an_outage_starts_the_window_again() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 5_000).await;
        app.turn_on_auto_top_up(&id, 1_000, 1_000).await;
        // The gateway is down when the crossing's top-up is sent.
        app.sandbox.inject(Fault::Outage);
        app.spend(&id, 5_000).await;
        app.engine().await;
        assert_eq!(auto_charges(&app), 0);
        assert_eq!(app.auto_top_up(&id).await["why_not"], "gateway_unavailable");
        // Back after two hours, longer than the 30-minute window: the attempt is sent
        // again with its key and succeeds; the balance (1,000) is still at the
        // threshold, so R21's follow-up is due a whole window after this charge.
        app.clock.advance(2 * HOUR);
        app.engine().await;
        assert_eq!(auto_charges(&app), 1, "the follow-up waits for the window");
        assert_eq!(app.balance(&id).await, 1_000);
        let s = app.auto_top_up(&id).await;
        assert_eq!(s["next_attempt"], "2026-11-21T14:30:00.000Z", "{s}");
        app.clock.advance(29 * MINUTE);
        app.engine().await;
        assert_eq!(auto_charges(&app), 1, "still inside the window");
        app.clock.advance(MINUTE + 1);
        app.engine().await;
        assert_eq!(auto_charges(&app), 2, "the follow-up once the window ended");
        assert_eq!(app.balance(&id).await, 2_000);
        app.assert_ledger_ok().await;
    }
}
