//! PaymentIntents in the fake Stripe: creating and confirming one with a test card,
//! reading it back, and searching by metadata (how refill finds a charge by its key).

use super::*;

pub(super) struct Intent {
    pub(super) id: String,
    pub(super) amount: i64,
    pub(super) currency: String,
    pub(super) status: &'static str,
    pub(super) customer: Option<String>,
    pub(super) payment_method: String,
    pub(super) description: Option<String>,
    pub(super) metadata: Map<String, Value>,
    /// The Idempotency-Key header it was created with.
    pub(super) request_key: Option<String>,
    /// Money was taken (succeeded or processing at some point).
    pub(super) charged: bool,
    pub(super) last_error: Option<Value>,
    pub(super) amount_refunded: i64,
    pub(super) created: i64,
}

impl Intent {
    pub(super) fn json(&self) -> Value {
        let next_action = (self.status == "requires_action")
            .then(|| json!({"type": "use_stripe_sdk", "use_stripe_sdk": {}}));
        json!({
            "id": self.id, "object": "payment_intent", "amount": self.amount,
            "amount_received": if self.status == "succeeded" { self.amount } else { 0 },
            "currency": self.currency, "status": self.status, "customer": self.customer,
            "payment_method": self.payment_method, "description": self.description,
            "metadata": self.metadata, "last_payment_error": self.last_error,
            "next_action": next_action, "latest_charge": self.charge_id(),
            "capture_method": "automatic", "created": self.created, "livemode": false,
            "client_secret": format!("{}_secret_fake", self.id),
        })
    }

    pub(super) fn charge_id(&self) -> String {
        self.id.replacen("pi_", "ch_", 1)
    }

    pub(super) fn keyed(&self, key: &str) -> bool {
        let meta = self.metadata.get(IDEMPOTENCY_METADATA_KEY);
        self.request_key.as_deref() == Some(key) || meta.and_then(Value::as_str) == Some(key)
    }

    pub(super) fn decline(
        &mut self,
        code: &str,
        decline_code: Option<&str>,
        message: &str,
    ) -> Value {
        let err = json!({"type": "card_error", "code": code, "decline_code": decline_code,
            "message": message, "payment_method": {"id": self.payment_method}});
        self.status = "requires_payment_method";
        self.last_error = Some(err.clone());
        err
    }

    /// Confirms the intent; a card error comes back as Stripe's 402 body.
    fn confirm(&mut self, outcome: Outcome, off_session: bool) -> Option<Value> {
        match outcome {
            Outcome::Succeed | Outcome::AuthOnSetup => self.status = "succeeded",
            Outcome::Processing => self.status = "processing",
            Outcome::AuthRequired if !off_session => self.status = "requires_action",
            Outcome::AuthRequired => {
                let msg = "Your card was declined. This transaction requires authentication.";
                let auth = "authentication_required";
                return Some(self.decline(auth, Some(auth), msg));
            }
            Outcome::Decline(code, dc, msg) => return Some(self.decline(code, dc, msg)),
            Outcome::DeclineAfterAttach => {
                return Some(self.decline("card_declined", Some("generic_decline"), DECLINED));
            }
        }
        self.charged = matches!(self.status, "succeeded" | "processing");
        None
    }
}

impl Fake {
    pub(super) fn create_intent(&mut self, p: &Params, key: Option<&str>) -> Result<Reply, Reply> {
        let amount = p.positive("amount")?;
        let currency = p.required("currency")?.to_lowercase();
        amounts::check(amount, &currency)?;
        let pm = p.required("payment_method")?;
        let card = self
            .card_of(pm)
            .ok_or_else(|| missing("PaymentMethod", pm))?;
        let customer = p.get("customer").map(str::to_string);
        if let Some(owner) = self
            .owner_of(pm)
            .filter(|o| Some(*o) != customer.as_deref())
        {
            let msg = format!("The PaymentMethod {pm} belongs to customer {owner}.");
            let (status, mut body) = invalid("payment_method_unexpected_state", &msg);
            body["error"]["param"] = json!("payment_method");
            return Err((status, body));
        }
        let mut pi = Intent {
            id: new_id("pi"),
            amount,
            currency,
            status: "requires_confirmation",
            customer,
            payment_method: pm.to_string(),
            description: p.get("description").map(str::to_string),
            metadata: p.metadata(),
            request_key: key.map(str::to_string),
            charged: false,
            last_error: None,
            amount_refunded: 0,
            created: now(),
        };
        let card_error = if p.get("confirm") == Some("true") {
            pi.confirm(card.outcome, p.get("off_session") == Some("true"))
        } else {
            None
        };
        let body = pi.json();
        self.intents.insert(pi.id.clone(), pi);
        Ok(match card_error {
            Some(mut err) => {
                err["payment_intent"] = body;
                (StatusCode::PAYMENT_REQUIRED, json!({ "error": err }))
            }
            None => ok(body),
        })
    }

    pub(super) fn get_intent(&self, id: &str) -> Result<Reply, Reply> {
        let pi = self
            .intents
            .get(id)
            .ok_or_else(|| missing("payment_intent", id))?;
        Ok(ok(pi.json()))
    }

    /// Only `metadata['key']:'value'` queries, which is all refill asks.
    pub(super) fn search(&self, p: &Params) -> Result<Reply, Reply> {
        let (k, v) = p
            .get("query")
            .and_then(parse_metadata_query)
            .ok_or_else(|| invalid("parameter_invalid", "unsupported search query"))?;
        let hit = |pi: &&Intent| pi.metadata.get(&k).and_then(Value::as_str) == Some(v.as_str());
        let data: Vec<Value> = self
            .intents
            .values()
            .rev()
            .filter(hit)
            .map(Intent::json)
            .collect();
        Ok(ok(
            json!({"object": "search_result", "url": "/v1/payment_intents/search",
            "has_more": false, "next_page": null, "data": data}),
        ))
    }
}

/// `metadata['k']:'v'`, with `\'` and `\\` escapes in the value.
fn parse_metadata_query(q: &str) -> Option<(String, String)> {
    let rest = q.trim().strip_prefix("metadata['")?;
    let (key, rest) = rest.split_once("']:'")?;
    let quoted = rest.strip_suffix('\'')?;
    let mut value = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        value.extend(if c == '\\' { chars.next() } else { Some(c) });
    }
    Some((key.to_string(), value))
}
