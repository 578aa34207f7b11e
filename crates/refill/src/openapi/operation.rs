//! One operation of the document: its method and path, the types of its body and
//! its answer, the query parameters its handler reads, and the headers it takes.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Value, json};

type SchemaOf = fn(&mut SchemaGenerator) -> Schema;

fn schema_of<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// A query parameter: its name, what it does, and its schema.
pub struct QueryParameter {
    pub name: &'static str,
    pub description: &'static str,
    schema: SchemaOf,
    values: &'static [&'static str],
}

pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub status: u16,
    pub rules: &'static str,
    pub summary: &'static str,
    request: Option<(SchemaOf, bool)>,
    response: Option<SchemaOf>,
    pub query: Vec<QueryParameter>,
    idempotent: bool,
    webhook: bool,
    etag: bool,
    if_match: bool,
}

/// An operation answering `status`, with no body either way until said otherwise.
pub fn op(
    method: &'static str,
    path: &'static str,
    status: u16,
    rules: &'static str,
    summary: &'static str,
) -> Operation {
    Operation {
        method,
        path,
        status,
        rules,
        summary,
        request: None,
        response: None,
        query: Vec::new(),
        idempotent: false,
        webhook: false,
        etag: false,
        if_match: false,
    }
}

fn string(_: &mut SchemaGenerator) -> Schema {
    schemars::json_schema!({"type": "string", "maxLength": crate::api::URL_PART_MAX})
}

fn limit(_: &mut SchemaGenerator) -> Schema {
    schemars::json_schema!({"type": "integer", "minimum": 1, "maximum": 500, "default": 50})
}

impl Operation {
    /// The body, a JSON object read into `T`.
    pub fn body<T: JsonSchema>(mut self) -> Self {
        self.request = Some((schema_of::<T>, true));
        self
    }
    /// A body that may be left out (an empty body is `T`'s defaults).
    pub fn optional_body<T: JsonSchema>(mut self) -> Self {
        self.request = Some((schema_of::<T>, false));
        self
    }
    pub fn answers<T: JsonSchema>(mut self) -> Self {
        self.response = Some(schema_of::<T>);
        self
    }
    /// Takes an `Idempotency-Key`.
    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }
    /// Called by Stripe with its signature, not with an API key.
    pub fn webhook(mut self) -> Self {
        self.webhook = true;
        self
    }
    /// Answers the settings' version as an `ETag`.
    pub fn etag(mut self) -> Self {
        self.etag = true;
        self
    }
    pub fn if_match(mut self) -> Self {
        self.if_match = true;
        self
    }
    /// A list read a page at a time: `limit` and `starting_after`.
    pub fn paged(self) -> Self {
        let mut o = self.query(
            "starting_after",
            "The id of the last item of the previous page",
        );
        o.query.insert(
            0,
            QueryParameter {
                name: "limit",
                description: "Items per page",
                schema: limit,
                values: &[],
            },
        );
        o
    }
    pub fn query(mut self, name: &'static str, description: &'static str) -> Self {
        self.query.push(QueryParameter {
            name,
            description,
            schema: string,
            values: &[],
        });
        self
    }
    pub fn query_enum<T: JsonSchema>(
        mut self,
        name: &'static str,
        description: &'static str,
    ) -> Self {
        self.query.push(QueryParameter {
            name,
            description,
            schema: schema_of::<T>,
            values: &[],
        });
        self
    }
    pub fn query_values(
        mut self,
        name: &'static str,
        description: &'static str,
        values: &'static [&'static str],
    ) -> Self {
        self.query.push(QueryParameter {
            name,
            description,
            schema: string,
            values,
        });
        self
    }

    /// The path parameters, in order.
    pub fn path_parameters(&self) -> impl Iterator<Item = &str> {
        self.path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
    }

    /// The operation object; request schemas from `requests`, answers from `responses`.
    pub fn to_json(
        &self,
        requests: &mut SchemaGenerator,
        responses: &mut SchemaGenerator,
    ) -> Value {
        let mut params: Vec<Value> = self
            .path_parameters()
            .map(|name| {
                json!({"name": name, "in": "path", "required": true,
                    "schema": super::ids::path_parameter(self.path, name)})
            })
            .collect();
        for q in &self.query {
            let mut schema = (q.schema)(requests).to_value();
            if !q.values.is_empty() {
                schema["enum"] = json!(q.values);
            }
            params.push(json!({"name": q.name, "in": "query", "required": false,
                "description": q.description, "schema": schema}));
        }
        params.extend(self.headers());
        let mut o = json!({
            "operationId": operation_id(self.method, self.path),
            "summary": self.summary,
            "description": format!("Domain rules: {}", self.rules),
            "security": if self.webhook { json!([]) } else { json!([{"bearer": []}]) },
            "parameters": params,
            "responses": {
                self.status.to_string(): self.success(responses),
                "default": {"description": "a problem: the request was refused, nothing changed",
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
            },
        });
        if let Some((schema, required)) = self.request {
            o["requestBody"] = json!({"required": required,
                "content": {"application/json": {"schema": schema(requests).to_value()}}});
        }
        o
    }

    fn success(&self, responses: &mut SchemaGenerator) -> Value {
        let Some(schema) = self.response else {
            return json!({"description": "done; no body"});
        };
        let mut r = json!({"description": "success",
            "content": {"application/json": {"schema": schema(responses).to_value()}}});
        if self.etag {
            r["headers"] = json!({"ETag": {"description": "the settings' version, for If-Match (R16)",
                "schema": {"type": "string"}}});
        }
        r
    }

    fn headers(&self) -> Vec<Value> {
        let visible = json!({"type": "string", "minLength": 1, "maxLength": 255,
            "pattern": super::constraints::NO_CONTROL});
        let header = |name: &str, required: bool, description: &str| {
            json!({"name": name, "in": "header", "required": required,
                "description": description, "schema": visible})
        };
        let mut h = Vec::new();
        if self.webhook {
            h.push(header(
                "Stripe-Signature",
                true,
                "Stripe's signature of the body",
            ));
        }
        if self.idempotent {
            h.push(header(
                "Idempotency-Key",
                false,
                "A replay with the same key and body answers the stored response",
            ));
        }
        if self.if_match {
            h.push(header(
                "If-Match",
                false,
                "The ETag of the settings read (R16: 412 on a lost race)",
            ));
        }
        h
    }
}

/// `post /v1/accounts/{id}/debits/batch` -> `post_accounts_id_debits_batch`.
fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<String> = path
        .trim_start_matches("/v1")
        .split(['/', '-', '{', '}'])
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    format!("{method}_{}", words.join("_"))
}
