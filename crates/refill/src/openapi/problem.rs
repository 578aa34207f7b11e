//! The problem+json answer of every refusal (api::problem): its fields, and the
//! extra fields some refusals add for machines.

use serde_json::{Value, json};

pub fn schema() -> Value {
    let string = json!({"type": "string"});
    json!({
        "type": "object",
        "description": "RFC 9457. Branch on `code` (stable, snake_case); `rule` names the domain rule that refused (R1..R31). Some refusals add fields: `field` (the input refused), the amounts of a refusal in minor units with `currency`, `decline_code` and `top_up_id` (card_declined), `confirm` (authentication_required).",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string", "description": "https://refill.dev/problems/{code}"},
            "title": string,
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string", "description": "for people; amounts in major units"},
            "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$",
                "examples": ["insufficient_balance", "threshold_not_below_balance",
                    "idempotency_key_reused", "version_mismatch", "account_not_found",
                    "invalid_request", "card_declined", "refund_exceeds_balance"]},
            "rule": {"type": "string", "pattern": "^R[0-9]+$"},
            "field": string,
            "currency": string,
            "decline_code": {"type": ["string", "null"]},
            "top_up_id": {"type": ["string", "null"]},
            "confirm": string,
        },
    })
}
