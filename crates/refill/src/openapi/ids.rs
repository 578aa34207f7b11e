//! The ids in paths: each kind of object has its prefix and a UUIDv7 in hex
//! (`refill_store::new_id`), so a client can tell them apart and a fuzzer makes ids
//! of the right shape.

use serde_json::{Value, json};

/// The prefix of the objects a path parameter names.
fn prefix(path: &str, name: &str) -> Option<&'static str> {
    let collection = path.trim_start_matches("/v1/").split('/').next()?;
    Some(match (collection, name) {
        (_, "pm") => "pm",
        (_, "resource_id") => "res",
        ("accounts", "id") => "acct",
        ("keys", "id") => "key",
        ("top-ups", "id") => "top",
        ("refunds", "id") => "rfd",
        ("events", "id") => "evt",
        ("webhook-endpoints", "id") => "we",
        ("portal-sessions", "id") => "ps",
        _ => return None,
    })
}

/// The schema of a path parameter.
pub fn path_parameter(path: &str, name: &str) -> Value {
    match prefix(path, name) {
        Some(p) => json!({"type": "string", "pattern": format!("^{p}_[0-9a-f]{{32}}$"),
            "example": format!("{p}_0192f5a3c1d27e4b9a8f6e5d4c3b2a10")}),
        None => json!({"type": "string", "maxLength": crate::api::URL_PART_MAX}),
    }
}
