//! The checks the edge makes on every request body (api::text), written into the
//! request schemas from the same tables: each string's longest length by its field's
//! name and no control character, each amount at most MAX_AMOUNT (R1), a currency
//! one of those refill knows (R1).

use crate::api::{AMOUNT_FIELDS, field_text_max};
use refill_domain::money::MAX_AMOUNT;
use serde_json::{Value, json};

/// Text without a control character (what `char::is_control` refuses).
pub const NO_CONTROL: &str = "^[^\\x00-\\x1f\\x7f-\\x9f]*$";

/// Bounds every property of every object schema in `schema`, by the property's name.
pub fn bound(schema: &mut Value) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        for (name, prop) in props.iter_mut() {
            bound_field(name, prop);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(items)) = map.get_mut(key) {
            items.iter_mut().for_each(bound);
        }
    }
}

/// A field's value: a string, an amount, an array of them (the array's name bounds
/// its items), or an object.
fn bound_field(name: &str, v: &mut Value) {
    let types = kinds(v);
    let nullable = types.iter().any(|t| t == "null");
    if name == "currency" && types.iter().any(|t| t == "string") {
        *v = or_null(json!({"$ref": "#/components/schemas/Currency"}), nullable);
        return;
    }
    if nullable && let Some(Value::Array(values)) = v.get("enum") {
        // A nullable enum as "one of these, or null": what client generators read.
        let values: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
        let description = v.get("description").cloned();
        *v = or_null(json!({"type": "string", "enum": values}), true);
        if let Some(d) = description {
            v["description"] = d;
        }
        return;
    }
    let Some(map) = v.as_object_mut() else {
        return;
    };
    if types.iter().any(|t| t == "string") && !map.contains_key("enum") {
        map.entry("maxLength")
            .or_insert(json!(field_text_max(name)));
        map.entry("pattern").or_insert(json!(NO_CONTROL));
    }
    if types.iter().any(|t| t == "integer") && AMOUNT_FIELDS.contains(&name) {
        map.entry("maximum").or_insert(json!(MAX_AMOUNT));
    }
    if let Some(items) = map.get_mut("items") {
        bound_field(name, items);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(items)) = map.get_mut(key) {
            items.iter_mut().for_each(|i| bound_field(name, i));
        }
    }
    bound(v);
}

fn or_null(schema: Value, nullable: bool) -> Value {
    match nullable {
        true => json!({"anyOf": [schema, {"type": "null"}]}),
        false => schema,
    }
}

/// R1: the currencies refill knows, as ISO 4217 codes.
pub fn currency() -> Value {
    let codes: Vec<&str> = refill_domain::currency::codes().collect();
    json!({"type": "string", "enum": codes, "description": "R1: the ISO 4217 code of a currency refill knows"})
}

/// The JSON types a schema allows (`"type": "string"` or `["string", "null"]`).
fn kinds(v: &Value) -> Vec<String> {
    match v.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}
