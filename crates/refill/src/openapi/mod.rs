//! The OpenAPI 3.1 document, built from the route table (routes) and the schemas of
//! the Rust types each route reads and answers (schemars, docs/decisions). It is
//! served at /v1/openapi.json, rendered at /docs, and checked in as openapi.json; a
//! test fails when they differ and when a route in the table does not answer.

mod constraints;
pub mod html;
mod ids;
mod operation;
mod problem;
mod routes;

pub use operation::Operation;
pub use routes::routes;

use schemars::SchemaGenerator;
use schemars::generate::{Contract, SchemaSettings};
use serde_json::{Map, Value, json};

/// Schemas as `#/components/schemas/{name}`, for reading (requests) or writing
/// (answers): a field left out when empty is required in neither.
fn generator(contract: Contract) -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "#/components/schemas/".into();
            s.meta_schema = None;
            s.contract = contract;
        })
        .into_generator()
}

/// The document, built once.
pub fn served() -> &'static Value {
    static DOCUMENT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(document)
}

/// The reference page of the document, rendered once.
pub fn reference_page() -> &'static str {
    static PAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PAGE.get_or_init(|| html::render(served()))
}

pub fn document() -> Value {
    let (mut requests, mut responses) = (
        generator(Contract::Deserialize),
        generator(Contract::Serialize),
    );
    let mut paths = Map::new();
    for o in routes() {
        let entry = paths.entry(o.path.to_string()).or_insert_with(|| json!({}));
        entry[o.method] = o.to_json(&mut requests, &mut responses);
    }
    let mut schemas = responses.take_definitions(true);
    for (name, mut schema) in requests.take_definitions(true) {
        match schemas.get(&name) {
            Some(answered) if *answered != schema => {
                panic!("schema {name} differs between requests and answers")
            }
            Some(_) => {}
            None => {
                constraints::bound(&mut schema);
                schemas.insert(name, schema);
            }
        }
    }
    schemas.insert("Problem".into(), problem::schema());
    schemas.insert("Currency".into(), constraints::currency());
    schemas.sort_keys();
    for (_, path) in paths.iter_mut() {
        bound_bodies(path);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "refill", "version": env!("CARGO_PKG_VERSION"),
            "description": "Prepaid balances with automatic top-up. Amounts are integers in minor units with an ISO 4217 code; times are RFC 3339 UTC. Events (GET /v1/events and the webhooks) carry the payload of their type in `data`: see the schema Event. The reference: /docs."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    })
}

/// A request schema written inline (not a `$ref`) gets the edge's bounds too.
fn bound_bodies(path: &mut Value) {
    let Some(ops) = path.as_object_mut() else {
        return;
    };
    for op in ops.values_mut() {
        if let Some(schema) = op.pointer_mut("/requestBody/content/application~1json/schema") {
            constraints::bound(schema);
        }
    }
}
