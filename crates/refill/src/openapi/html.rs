//! The API reference at /docs: the OpenAPI document rendered as one HTML page on the
//! server. No script and nothing from another origin: its only other request is
//! /docs/style.css.

use serde_json::{Map, Value};
use std::fmt::Write;

pub const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:70rem;margin:0 auto;padding:1rem 2rem;color:#222}\
code,.path{font-family:ui-monospace,monospace}h2{border-bottom:1px solid #ccc;margin-top:2.5rem}\
h3{margin:2rem 0 .3rem}.method{display:inline-block;min-width:4.5rem;font-weight:bold;text-transform:uppercase}\
table{border-collapse:collapse;width:100%;margin:.4rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}\
th{background:#f4f4f4}.muted{color:#666}nav li{list-style:none}";

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page.
pub fn render(doc: &Value) -> String {
    let mut out = String::new();
    let title = esc(doc["info"]["title"].as_str().unwrap_or("API"));
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} API reference</title>\
         <link rel=\"stylesheet\" href=\"/docs/style.css\"></head><body><h1>{title} API reference</h1>\
         <p>{}</p><p>The machine-readable document: <a href=\"/v1/openapi.json\">/v1/openapi.json</a> (OpenAPI {}).</p>",
        esc(doc["info"]["description"].as_str().unwrap_or("")),
        esc(doc["openapi"].as_str().unwrap_or("")),
    );
    let operations = operations(doc);
    out.push_str("<h2 id=\"operations\">Operations</h2><nav><ul>");
    for (method, path, op) in &operations {
        let _ = write!(
            out,
            "<li><a href=\"#{}\"><span class=\"method\">{}</span> <span class=\"path\">{}</span></a> <span class=\"muted\">{}</span></li>",
            esc(op["operationId"].as_str().unwrap_or("")),
            esc(method),
            esc(path),
            esc(op["summary"].as_str().unwrap_or("")),
        );
    }
    out.push_str("</ul></nav>");
    for (method, path, op) in &operations {
        operation(&mut out, method, path, op);
    }
    out.push_str("<h2 id=\"schemas\">Schemas</h2>");
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            component(&mut out, name, schema);
        }
    }
    out.push_str("</body></html>");
    out
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            all.push((method.clone(), path.clone(), op));
        }
    }
    all
}

fn operation(out: &mut String, method: &str, path: &str, op: &Value) {
    let _ = write!(
        out,
        "<h3 id=\"{}\"><span class=\"method\">{}</span> <span class=\"path\">{}</span></h3><p>{}</p><p class=\"muted\">{}</p>",
        esc(op["operationId"].as_str().unwrap_or("")),
        esc(method),
        esc(path),
        esc(op["summary"].as_str().unwrap_or("")),
        esc(op["description"].as_str().unwrap_or("")),
    );
    if op["security"].as_array().is_some_and(|s| s.is_empty()) {
        out.push_str("<p>No API key.</p>");
    }
    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        out.push_str("<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th><th>what</th></tr>");
        for p in params {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(p["name"].as_str().unwrap_or("")),
                esc(p["in"].as_str().unwrap_or("")),
                if p["required"] == true { "yes" } else { "no" },
                type_of(&p["schema"]),
                esc(p["description"].as_str().unwrap_or("")),
            );
        }
        out.push_str("</table>");
    }
    let body = &op["requestBody"];
    if let Some(schema) = body.pointer("/content/application~1json/schema") {
        let optional = if body["required"] == true {
            ""
        } else {
            " (may be left out)"
        };
        let _ = write!(out, "<p>Body{optional}: {}</p>", type_of(schema));
    }
    out.push_str("<table><tr><th>status</th><th>answer</th></tr>");
    for (status, r) in op["responses"].as_object().into_iter().flatten() {
        let content = r["content"].as_object().and_then(|c| c.iter().next());
        let answer = match content {
            Some((media, c)) => format!(
                "{} <span class=\"muted\">{}</span>",
                type_of(&c["schema"]),
                esc(media)
            ),
            None => esc(r["description"].as_str().unwrap_or("")),
        };
        let _ = write!(out, "<tr><td>{}</td><td>{answer}</td></tr>", esc(status));
    }
    out.push_str("</table>");
}

fn component(out: &mut String, name: &str, schema: &Value) {
    let _ = write!(out, "<h3 id=\"schema-{0}\">{0}</h3>", esc(name));
    if let Some(d) = schema["description"].as_str() {
        let _ = write!(out, "<p>{}</p>", esc(d));
    }
    let Some(props) = schema["properties"].as_object() else {
        let _ = write!(out, "<p>{}</p>", type_of(schema));
        return;
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str("<table><tr><th>field</th><th>schema</th><th>required</th><th>what</th></tr>");
    for (field, p) in props {
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(field),
            type_of(p),
            if required.contains(&field.as_str()) {
                "yes"
            } else {
                "no"
            },
            esc(p["description"].as_str().unwrap_or("")),
        );
    }
    out.push_str("</table>");
    if schema["additionalProperties"] == false {
        out.push_str("<p class=\"muted\">No other field is taken.</p>");
    }
}

/// A schema in a few words, with links to the named schemas it uses.
fn type_of(s: &Value) -> String {
    if let Some(r) = s["$ref"].as_str() {
        let name = esc(r.rsplit('/').next().unwrap_or(r));
        return format!("<a href=\"#schema-{name}\">{name}</a>");
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(items) = s[key].as_array() {
            let each: Vec<String> = items.iter().map(type_of).collect();
            return each.join(" or ");
        }
    }
    if let Some(c) = s.get("const") {
        return format!("<code>{}</code>", esc(&c.to_string()));
    }
    let mut words = match &s["type"] {
        Value::String(t) if t == "array" => format!("array of {}", type_of(&s["items"])),
        Value::String(t) => esc(t),
        Value::Array(ts) => esc(&ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or ")),
        _ => "any".into(),
    };
    if let Some(values) = s["enum"].as_array() {
        let values: Vec<String> = values
            .iter()
            .map(|v| format!("<code>{}</code>", esc(&v.to_string())))
            .collect();
        let _ = write!(words, ": one of {}", values.join(", "));
    }
    words.push_str(&constraints(s.as_object()));
    words
}

fn constraints(s: Option<&Map<String, Value>>) -> String {
    let Some(s) = s else { return String::new() };
    let named = [
        ("minimum", "min"),
        ("maximum", "max"),
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
        ("pattern", "pattern"),
        ("default", "default"),
    ];
    let parts: Vec<String> = named
        .iter()
        .filter_map(|(key, word)| {
            s.get(*key)
                .map(|v| format!("{word} <code>{}</code>", esc(&v.to_string())))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" <span class=\"muted\">({})</span>", parts.join(", "))
    }
}
