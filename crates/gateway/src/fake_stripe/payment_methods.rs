//! Customers, SetupIntents and payment methods in the fake Stripe: saving a card
//! (3-D Secure included), attaching, detaching and listing a customer's cards.

use super::*;

pub(super) struct SavedMethod {
    pub(super) card: &'static TestCard,
    pub(super) customer: Option<String>,
    pub(super) created: i64,
}

fn method_json(id: &str, card: &TestCard, customer: Option<&str>, created: i64) -> Value {
    json!({
        "id": id, "object": "payment_method", "type": "card", "customer": customer,
        "card": {"brand": card.brand, "last4": card.last4, "exp_month": 12, "exp_year": 2034,
                 "funding": "credit", "country": "US"},
        "created": created, "livemode": false,
    })
}

impl Fake {
    pub(super) fn create_customer(&mut self, p: &Params) -> Reply {
        let c = json!({"id": new_id("cus"), "object": "customer", "email": p.get("email"),
            "name": p.get("name"), "created": now(), "livemode": false});
        ok(self.remember(c))
    }

    pub(super) fn create_setup_intent(&mut self, p: &Params) -> Result<Reply, Reply> {
        let customer = p.get("customer").map(str::to_string);
        if let Some(c) = &customer {
            self.existing("customer", c)?;
        }
        let id = new_id("seti");
        let secret = format!("{id}_secret_{}", uuid::Uuid::now_v7().simple());
        let mut si = json!({"id": id, "object": "setup_intent", "client_secret": secret,
            "status": "requires_payment_method", "usage": p.get("usage").unwrap_or("off_session"),
            "customer": customer, "payment_method": null, "last_setup_error": null,
            "next_action": null, "created": now()});
        if let Some(pm) = p.get("payment_method") {
            let card = self
                .card_of(pm)
                .ok_or_else(|| missing("PaymentMethod", pm))?;
            si["status"] = json!("requires_confirmation");
            si["payment_method"] = json!(pm);
            if p.get("confirm") == Some("true") {
                return Ok(self.confirm_setup(si, pm, card));
            }
        }
        Ok(ok(self.remember(si)))
    }

    /// Confirms a SetupIntent with a card: the card is attached to the customer, or
    /// waits for 3-D Secure (attached when `authenticate_setup_intent` completes it),
    /// or is declined with Stripe's 402 card error.
    fn confirm_setup(&mut self, mut si: Value, pm: &str, card: &'static TestCard) -> Reply {
        let customer = si["customer"].as_str().map(str::to_string);
        match card.outcome {
            Outcome::Decline(code, decline_code, message) => {
                let mut err = json!({"type": "card_error", "code": code,
                    "decline_code": decline_code, "message": message});
                si["status"] = json!("requires_payment_method");
                si["last_setup_error"] = err.clone();
                err["setup_intent"] = self.remember(si);
                (StatusCode::PAYMENT_REQUIRED, json!({ "error": err }))
            }
            Outcome::AuthRequired | Outcome::AuthOnSetup => {
                si["payment_method"] = json!(self.save_method(pm, card, None));
                si["status"] = json!("requires_action");
                si["next_action"] = json!({"type": "use_stripe_sdk", "use_stripe_sdk": {}});
                ok(self.remember(si))
            }
            Outcome::Succeed | Outcome::Processing | Outcome::DeclineAfterAttach => {
                si["payment_method"] = json!(self.save_method(pm, card, customer));
                si["status"] = json!("succeeded");
                ok(self.remember(si))
            }
        }
    }

    /// A payment method for the card: a new one for a test token, as Stripe does.
    fn save_method(
        &mut self,
        pm: &str,
        card: &'static TestCard,
        customer: Option<String>,
    ) -> String {
        let id = if test_card(pm).is_some() {
            new_id("pm")
        } else {
            pm.to_string()
        };
        let saved = SavedMethod {
            card,
            customer,
            created: now(),
        };
        self.methods.insert(id.clone(), saved);
        id
    }

    pub(super) fn method(&self, id: &str) -> Option<Value> {
        if let Some(card) = test_card(id) {
            return Some(method_json(id, card, None, 0));
        }
        let m = self.methods.get(id)?;
        Some(method_json(id, m.card, m.customer.as_deref(), m.created))
    }

    pub(super) fn get_method(&self, id: &str) -> Result<Reply, Reply> {
        self.method(id)
            .map(ok)
            .ok_or_else(|| missing("PaymentMethod", id))
    }

    /// Like Stripe, attaching a test token makes a new payment method.
    pub(super) fn attach(&mut self, id: &str, p: &Params) -> Result<Reply, Reply> {
        let customer = p.required("customer")?.to_string();
        self.existing("customer", &customer)?;
        let card = self
            .card_of(id)
            .ok_or_else(|| missing("PaymentMethod", id))?;
        if self.owner_of(id).is_some_and(|o| o != customer) {
            return Err(invalid(
                "payment_method_unexpected_state",
                "This PaymentMethod is already attached to another customer.",
            ));
        }
        let new_id = if test_card(id).is_some() {
            new_id("pm")
        } else {
            id.to_string()
        };
        let saved = SavedMethod {
            card,
            customer: Some(customer),
            created: now(),
        };
        self.methods.insert(new_id.clone(), saved);
        self.get_method(&new_id)
    }

    pub(super) fn detach(&mut self, id: &str) -> Result<Reply, Reply> {
        match self.methods.get_mut(id) {
            Some(m) if m.customer.is_some() => m.customer = None,
            _ => {
                return Err(invalid(
                    "payment_method_unexpected_state",
                    "The payment method you provided is not attached to a customer so detachment is impossible.",
                ));
            }
        }
        self.get_method(id)
    }

    pub(super) fn list_methods(&self, p: &Params) -> Result<Reply, Reply> {
        let customer = p.required("customer")?;
        let data: Vec<Value> = (self.methods.iter().rev())
            .filter(|(_, m)| m.customer.as_deref() == Some(customer))
            .filter_map(|(id, _)| self.method(id))
            .collect();
        Ok(ok(
            json!({"object": "list", "url": "/v1/payment_methods", "has_more": false, "data": data}),
        ))
    }
}
