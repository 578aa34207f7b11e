//! Refunds at Stripe (R31): `POST /v1/refunds` on the PaymentIntent with the amount, an
//! `Idempotency-Key`, and the key again in the refund's metadata, so that refill
//! recognises its own refunds among those made in Stripe's dashboard; and the reads
//! that follow a pending refund to its end.

use super::*;

/// Stripe's refund statuses, as refill follows them.
fn refund_status(s: &str) -> RefundStatus {
    match s {
        "succeeded" => RefundStatus::Succeeded,
        "failed" | "canceled" => RefundStatus::Failed,
        // pending, requires_action: the bank has not returned the money yet (R31).
        _ => RefundStatus::Pending,
    }
}

/// Maps a Refund object (from a response, a list or a webhook) to a refill refund.
pub fn refund_from_object(v: &Value) -> Result<Refund, GatewayError> {
    let id = v["id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| GatewayError::Outage("stripe: unreadable Refund".into()))?;
    let charge = id_of(&v["payment_intent"]).or_else(|| id_of(&v["charge"]));
    Ok(Refund {
        id: id.to_string(),
        charge_id: charge.unwrap_or_default().to_string(),
        amount: v["amount"].as_i64().unwrap_or_default(),
        status: refund_status(v["status"].as_str().unwrap_or_default()),
        idempotency_key: v["metadata"][IDEMPOTENCY_METADATA_KEY]
            .as_str()
            .map(str::to_string),
    })
}

fn refund_form(req: &RefundRequest) -> Result<Vec<(String, String)>, GatewayError> {
    Ok(vec![
        (
            "payment_intent".to_string(),
            path_id(&req.charge_id)?.to_string(),
        ),
        ("amount".to_string(), req.amount.to_string()),
        (
            format!("metadata[{IDEMPOTENCY_METADATA_KEY}]"),
            req.idempotency_key.clone(),
        ),
    ])
}

impl Stripe {
    pub(super) async fn create_refund(&self, req: &RefundRequest) -> Result<Refund, GatewayError> {
        let form = refund_form(req)?;
        let v = self
            .post("/v1/refunds", &form, &req.idempotency_key)
            .await?;
        let mut refund = refund_from_object(&v)?;
        refund
            .idempotency_key
            .get_or_insert(req.idempotency_key.clone());
        Ok(refund)
    }

    pub(super) async fn get_refund(&self, refund_id: &str) -> Result<Refund, GatewayError> {
        let path = format!("/v1/refunds/{}", path_id(refund_id)?);
        refund_from_object(&self.get(&path, &[]).await?)
    }

    /// The PaymentIntent's refunds (the first 100: more than any top-up is refunded in).
    pub(super) async fn refunds_of(&self, charge_id: &str) -> Result<Vec<Refund>, GatewayError> {
        let q = [("payment_intent", path_id(charge_id)?), ("limit", "100")];
        let v = self.get("/v1/refunds", &q).await?;
        let data = v["data"]
            .as_array()
            .ok_or_else(|| GatewayError::Outage("stripe: refund list without data".into()))?;
        // Stripe lists newest first.
        data.iter().rev().map(refund_from_object).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn r31_a_refund_object_names_its_payment_and_key() {
        let v = json!({"id": "re_1", "object": "refund", "amount": 400, "status": "pending",
            "payment_intent": "pi_1", "charge": "ch_1",
            "metadata": {"idempotency_key": "refund:rfd_1"}});
        let r = refund_from_object(&v).unwrap();
        assert_eq!(
            (r.id.as_str(), r.charge_id.as_str(), r.amount, r.status),
            ("re_1", "pi_1", 400, RefundStatus::Pending)
        );
        assert_eq!(r.idempotency_key.as_deref(), Some("refund:rfd_1"));
        let failed = json!({"id": "re_2", "status": "failed", "charge": {"id": "ch_2"}});
        let r = refund_from_object(&failed).unwrap();
        assert_eq!(
            (r.status, r.charge_id.as_str()),
            (RefundStatus::Failed, "ch_2")
        );
        assert_eq!(r.idempotency_key, None, "made in the dashboard");
        assert!(refund_from_object(&json!({})).is_err());
        let req = RefundRequest {
            idempotency_key: "refund:rfd_1".into(),
            charge_id: "pi_1".into(),
            amount: 400,
        };
        let f = refund_form(&req).unwrap();
        assert!(f.contains(&("metadata[idempotency_key]".into(), "refund:rfd_1".into())));
        let bad = RefundRequest {
            charge_id: "../v1/charges".into(),
            ..req
        };
        assert!(refund_form(&bad).is_err());
    }
}
