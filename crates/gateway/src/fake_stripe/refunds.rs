//! Refunds in the fake Stripe (R31): `POST /v1/refunds` (on a PaymentIntent, never
//! more than is left of it), `GET /v1/refunds/{id}`, `GET /v1/refunds?payment_intent=`.
//! A refund of a charge paid with `pm_card_refundFail` or `pm_card_refundPending`
//! stays `pending` until the test settles it (`FakeStripe::settle_refund`); a failed
//! refund no longer counts in the charge's `amount_refunded`, as at Stripe.

use super::*;

/// The cards whose refunds wait for `settle_refund`.
fn refunds_wait(token: &str) -> bool {
    matches!(token, "pm_card_refundFail" | "pm_card_refundPending")
}

impl Fake {
    pub(super) fn create_refund(&mut self, p: &Params) -> Result<Reply, Reply> {
        let id = p.required("payment_intent")?;
        let waits = (self.intents.get(id))
            .and_then(|pi| self.card_of(&pi.payment_method))
            .is_some_and(|c| refunds_wait(c.token));
        let pi = self
            .intents
            .get_mut(id)
            .ok_or_else(|| missing("payment_intent", id))?;
        if pi.status != "succeeded" {
            let msg = format!("PaymentIntent {id} does not have a successful charge to refund.");
            return Err(invalid("charge_not_refundable", &msg));
        }
        let left = pi.amount - pi.amount_refunded;
        let amount = if p.get("amount").is_some() {
            p.positive("amount")?
        } else {
            left
        };
        if left == 0 {
            return Err(invalid(
                "charge_already_refunded",
                "Charge has already been refunded.",
            ));
        }
        if amount > left {
            let msg = format!(
                "Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"
            );
            return Err(invalid("amount_too_large", &msg));
        }
        pi.amount_refunded += amount;
        let status = if waits { "pending" } else { "succeeded" };
        let refund = json!({"id": new_id("re"), "object": "refund", "amount": amount,
            "currency": pi.currency, "payment_intent": pi.id, "charge": pi.charge_id(),
            "status": status, "failure_reason": null, "metadata": p.metadata(),
            "reason": p.get("reason"), "created": now()});
        Ok(ok(self.remember(refund)))
    }

    pub(super) fn get_refund(&self, id: &str) -> Result<Reply, Reply> {
        self.existing("refund", id)
            .map(|_| ok(self.objects[id].clone()))
    }

    /// Newest first, as Stripe lists; of one PaymentIntent when asked.
    pub(super) fn list_refunds(&self, p: &Params) -> Result<Reply, Reply> {
        let data = self.refunds(p.get("payment_intent"));
        Ok(ok(
            json!({"object": "list", "url": "/v1/refunds", "has_more": false, "data": data}),
        ))
    }

    fn refunds(&self, payment_intent: Option<&str>) -> Vec<Value> {
        let mut data: Vec<Value> = (self.objects.values())
            .filter(|o| o["object"] == "refund")
            .filter(|o| payment_intent.is_none_or(|pi| o["payment_intent"] == pi))
            .cloned()
            .collect();
        data.sort_by(|a, b| b["id"].as_str().cmp(&a["id"].as_str()));
        data
    }
}

impl FakeStripe {
    /// R31: a pending refund settles, as succeeded or as failed (the bank could not
    /// return the money: it no longer counts as refunded). Returns the refund, for a
    /// `charge.refund.updated` event; None if it is not pending.
    pub fn settle_refund(&self, refund_id: &str, succeeded: bool) -> Option<Value> {
        let mut fake = self.shared.lock();
        let mut r = (fake.objects.get(refund_id))
            .filter(|o| o["object"] == "refund" && o["status"] == "pending")?
            .clone();
        if succeeded {
            r["status"] = json!("succeeded");
        } else {
            r["status"] = json!("failed");
            r["failure_reason"] = json!("lost_or_stolen_card");
            let amount = r["amount"].as_i64()?;
            let pi = r["payment_intent"].as_str()?.to_string();
            if let Some(pi) = fake.intents.get_mut(&pi) {
                pi.amount_refunded -= amount;
            }
        }
        Some(fake.remember(r))
    }

    /// The refunds of a PaymentIntent, newest first.
    pub fn refunds(&self, payment_intent: &str) -> Vec<Value> {
        self.shared.lock().refunds(Some(payment_intent))
    }
}
