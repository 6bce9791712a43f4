//! `/openapi.json`: OpenAPI 3.1, built from the route table below, which a test checks against the
//! router so the description cannot drift from what is served.

use serde_json::{Map, Value, json};

/// One documented operation.
#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    /// (name, location, required, description)
    pub parameters: &'static [(&'static str, &'static str, bool, &'static str)],
    pub body: bool,
}

pub const ROUTES: &[RouteDoc] = &[
    RouteDoc {
        method: "get",
        path: "/list_foundation_models",
        summary: "Models this key's team may call (reference API)",
        tag: "reference",
        parameters: &[("x-api-key", "header", true, "API key")],
        body: false,
    },
    RouteDoc {
        method: "post",
        path: "/invoke_model",
        summary: "Invoke a model: text, messages, embeddings, long-poll or SSE streaming (reference API)",
        tag: "reference",
        parameters: &[
            ("model_id", "query", true, "Model to invoke"),
            (
                "model_arn",
                "query",
                false,
                "Bedrock: the ARN of the model or of an inference profile for it",
            ),
            (
                "requestId",
                "query",
                false,
                "Poll a background call started with streaming: true",
            ),
            ("x-api-key", "header", true, "API key"),
            ("team_id", "header", true, "The key's team"),
            (
                "messages_api",
                "header",
                false,
                "true: inputs is a message list",
            ),
            (
                "streaming",
                "header",
                false,
                "true: long polling, or SSE with Accept: text/event-stream",
            ),
            (
                "type",
                "header",
                false,
                "embeddings, embeddings-image (base64 images in inputs) or image; text when absent",
            ),
        ],
        body: true,
    },
    RouteDoc {
        method: "get",
        path: "/v1/models",
        summary: "Models this key's team may call (OpenAI API)",
        tag: "openai",
        parameters: &[],
        body: false,
    },
    RouteDoc {
        method: "post",
        path: "/v1/chat/completions",
        summary: "Chat completion, streamed with stream: true (OpenAI API)",
        tag: "openai",
        parameters: &[],
        body: true,
    },
    RouteDoc {
        method: "post",
        path: "/v1/embeddings",
        summary: "Embeddings (OpenAI API)",
        tag: "openai",
        parameters: &[],
        body: true,
    },
    RouteDoc {
        method: "post",
        path: "/v1/images/generations",
        summary: "Image generation with b64_json answers (OpenAI API)",
        tag: "openai",
        parameters: &[],
        body: true,
    },
    RouteDoc {
        method: "get",
        path: "/admin/v1/tenants",
        summary: "List tenants",
        tag: "admin",
        parameters: &[],
        body: false,
    },
    RouteDoc {
        method: "post",
        path: "/admin/v1/tenants",
        summary: "Create a tenant",
        tag: "admin",
        parameters: &[],
        body: true,
    },
    RouteDoc {
        method: "get",
        path: "/admin/v1/tenants/{team_id}",
        summary: "A tenant and its budget burn",
        tag: "admin",
        parameters: &[("team_id", "path", true, "Team id")],
        body: false,
    },
    RouteDoc {
        method: "patch",
        path: "/admin/v1/tenants/{team_id}",
        summary: "Change a tenant (name, cost center, status, limits, allowed models)",
        tag: "admin",
        parameters: &[("team_id", "path", true, "Team id")],
        body: true,
    },
    RouteDoc {
        method: "delete",
        path: "/admin/v1/tenants/{team_id}",
        summary: "Delete a tenant and its keys",
        tag: "admin",
        parameters: &[("team_id", "path", true, "Team id")],
        body: false,
    },
    RouteDoc {
        method: "get",
        path: "/admin/v1/tenants/{team_id}/keys",
        summary: "A tenant's keys",
        tag: "admin",
        parameters: &[("team_id", "path", true, "Team id")],
        body: false,
    },
    RouteDoc {
        method: "post",
        path: "/admin/v1/tenants/{team_id}/keys",
        summary: "Create a key; the secret is in this answer only",
        tag: "admin",
        parameters: &[("team_id", "path", true, "Team id")],
        body: true,
    },
    RouteDoc {
        method: "post",
        path: "/admin/v1/keys/{key_id}/rotate",
        summary: "New secret, same key id, optional grace for the old one",
        tag: "admin",
        parameters: &[("key_id", "path", true, "Key id")],
        body: true,
    },
    RouteDoc {
        method: "patch",
        path: "/admin/v1/keys/{key_id}",
        summary: "Enable, disable, or set a key's limits",
        tag: "admin",
        parameters: &[("key_id", "path", true, "Key id")],
        body: true,
    },
    RouteDoc {
        method: "delete",
        path: "/admin/v1/keys/{key_id}",
        summary: "Revoke a key",
        tag: "admin",
        parameters: &[("key_id", "path", true, "Key id")],
        body: false,
    },
    RouteDoc {
        method: "get",
        path: "/admin/v1/prices",
        summary: "Every version of every price, newest first per model",
        tag: "admin",
        parameters: &[(
            "search",
            "query",
            false,
            "Only models or regions containing this",
        )],
        body: false,
    },
    RouteDoc {
        method: "post",
        path: "/admin/v1/prices",
        summary: "Add a text model's price, in force from a date (a new version)",
        tag: "admin",
        parameters: &[],
        body: true,
    },
    RouteDoc {
        method: "get",
        path: "/admin/v1/costs",
        summary: "The Costs screen: totals, daily by model, cumulative vs budget, top lists, rows",
        tag: "admin",
        parameters: COST_PARAMETERS,
        body: false,
    },
    RouteDoc {
        method: "get",
        path: "/admin/v1/costs/export",
        summary: "The cost view as a CSV (rows and total) or JSON (the whole view) file",
        tag: "admin",
        parameters: EXPORT_PARAMETERS,
        body: false,
    },
    RouteDoc {
        method: "post",
        path: "/admin/v1/recompute",
        summary: "Price past days again with today's book, as a job (202)",
        tag: "admin",
        parameters: &[],
        body: true,
    },
    RouteDoc {
        method: "get",
        path: "/admin/v1/recompute/{id}",
        summary: "A recompute job's state, progress and result",
        tag: "admin",
        parameters: &[("id", "path", true, "Job id")],
        body: false,
    },
    RouteDoc {
        method: "delete",
        path: "/admin/v1/recompute/{id}",
        summary: "Stop a recompute job after the week it is on",
        tag: "admin",
        parameters: &[("id", "path", true, "Job id")],
        body: false,
    },
    RouteDoc {
        method: "get",
        path: "/admin/v1/models",
        summary: "The models offered, with provider and kind",
        tag: "admin",
        parameters: &[("team_id", "query", false, "Only those this tenant may call")],
        body: false,
    },
    RouteDoc {
        method: "get",
        path: "/admin/v1/usage",
        summary: "Usage and cost for a date range",
        tag: "admin",
        parameters: &[
            ("from", "query", false, "First day, YYYY-MM-DD"),
            ("to", "query", false, "Last day, YYYY-MM-DD"),
            (
                "group_by",
                "query",
                false,
                "Comma-separated: day, tenant, model, key, cost-center",
            ),
            ("team_id", "query", false, "Only this team"),
            ("model", "query", false, "Only this model"),
            (
                "cost_center",
                "query",
                false,
                "Only this cost center (a viewer token: one of its own)",
            ),
            ("top", "query", false, "Only the N most expensive groups"),
        ],
        body: false,
    },
    RouteDoc {
        method: "get",
        path: "/admin/v1/whoami",
        summary: "The calling admin token's role and scope",
        tag: "admin",
        parameters: &[],
        body: false,
    },
    RouteDoc {
        method: "get",
        path: "/admin/v1/audit",
        summary: "The audit log: who changed what, when and from where, newest first",
        tag: "admin",
        parameters: &[
            ("limit", "query", false, "Lines in the page, 1-500 [50]"),
            (
                "before",
                "query",
                false,
                "Only lines older than this id (next_before of the previous page)",
            ),
            (
                "team_id",
                "query",
                false,
                "Only this tenant's lines and its keys'",
            ),
            (
                "action",
                "query",
                false,
                "Only this action (tenant.create), or a family ending in a dot (key.)",
            ),
        ],
        body: false,
    },
    RouteDoc {
        method: "get",
        path: "/admin/v1/server",
        summary: "The server: version, HTTPS, time zone, models, uptime",
        tag: "admin",
        parameters: &[],
        body: false,
    },
    RouteDoc {
        method: "post",
        path: "/admin/v1/playground-keys",
        summary: "A short-lived key of a team for the playground (admin, or a tester of the team)",
        tag: "admin",
        parameters: &[],
        body: true,
    },
    RouteDoc {
        method: "get",
        path: "/healthz",
        summary: "Health",
        tag: "operations",
        parameters: &[],
        body: false,
    },
    RouteDoc {
        method: "get",
        path: "/metrics",
        summary: "Prometheus metrics",
        tag: "operations",
        parameters: &[],
        body: false,
    },
    RouteDoc {
        method: "get",
        path: "/openapi.json",
        summary: "This document",
        tag: "operations",
        parameters: &[],
        body: false,
    },
];

/// The OpenAPI 3.1 document.
const COST_PARAMETERS: &[(&str, &str, bool, &str)] = &[
    (
        "preset",
        "query",
        false,
        "this_month (default), last_month, last_30_days, last_90_days or custom",
    ),
    (
        "from",
        "query",
        false,
        "First day of a custom range, YYYY-MM-DD",
    ),
    (
        "to",
        "query",
        false,
        "Last day of a custom range, YYYY-MM-DD",
    ),
    (
        "cost_center",
        "query",
        false,
        "Only this cost center (a viewer token: one of its own)",
    ),
    ("team_id", "query", false, "Only this tenant"),
    (
        "model_id",
        "query",
        false,
        "With team_id: one model of the tenant, rows per key",
    ),
    ("by_cost_center", "query", false, "Rows per cost center"),
    ("by_label", "query", false, "Rows per caller label"),
];

const EXPORT_PARAMETERS: &[(&str, &str, bool, &str)] = &[
    ("format", "query", false, "csv (default) or json"),
    (
        "preset",
        "query",
        false,
        "As for /admin/v1/costs, with all its parameters",
    ),
];

pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let parameters: Vec<Value> = route
            .parameters
            .iter()
            .map(|(name, location, required, description)| {
                json!({ "name": name, "in": location, "required": required, "description": description, "schema": { "type": "string" } })
            })
            .collect();
        let mut operation = json!({
            "summary": route.summary,
            "tags": [route.tag],
            "parameters": parameters,
            "responses": {
                "200": { "description": "Success" },
                "400": { "description": "Bad input; the message names the field", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
                "403": { "description": "Missing, invalid or disabled key; model not allowed; team_id not the key's" },
                "404": { "description": "Unknown model or resource" },
                "413": { "description": "Body too large" },
                "429": { "description": "Too Many Requests (rate) or Limit Exceeded (quota, budget), with Retry-After" },
                "502": { "description": "The upstream failed" },
                "504": { "description": "The upstream timed out" },
            },
        });
        if route.body
            && let Some(object) = operation.as_object_mut()
        {
            object.insert("requestBody".to_owned(), json!({ "required": true, "content": { "application/json": { "schema": { "type": "object" } } } }));
        }
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        if let Some(object) = entry.as_object_mut() {
            object.insert(route.method.to_owned(), operation);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Tollgate gateway", "version": env!("CARGO_PKG_VERSION") },
        "paths": paths,
        "components": {
            "schemas": { "Error": { "type": "object", "properties": { "message": { "type": "string" } } } },
            "securitySchemes": {
                "api_key": { "type": "apiKey", "name": "x-api-key", "in": "header" },
                "bearer": { "type": "http", "scheme": "bearer" },
            },
        },
    })
}
