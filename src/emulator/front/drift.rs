//! Drift: where what goes to or comes from the real API differs from what
//! this crate was built from. A forwarded submit is checked against its
//! model's input schema; every answer against the OpenAPI file
//! (`schema/queue-api.openapi.json`, its response schema for the call and
//! the status class); a completed result's `output` against the model's
//! output schema. Each mismatch names a JSON pointer.

use super::super::faults::Endpoint;
use crate::ModelDescriptor;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// One place where an exchange differs from the contract this crate was
/// built from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Drift {
    /// The call, e.g. `GET /v1/requests/{request_id}/status`.
    pub call: String,
    /// What was checked: `request` (a submit's body against the model's
    /// input schema), `answer` (against the OpenAPI file) or `output` (a
    /// result's output against the model's output schema).
    pub checked: &'static str,
    /// Where, as a JSON pointer into the body (`` for the whole body).
    pub pointer: String,
    /// What differs.
    pub message: String,
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}) at {:?}: {}",
            self.call, self.checked, self.pointer, self.message
        )
    }
}

/// The OpenAPI file this crate was built from.
const OPENAPI: &str = include_str!("../../../schema/queue-api.openapi.json");
const OPENAPI_URL: &str = "urn:runcomfy:queue-api";

/// The answer schemas of the OpenAPI file, compiled.
pub(crate) struct AnswerSchemas {
    schemas: boon::Schemas,
    /// (endpoint, `2XX`/`4XX`/`5XX`) -> the declared content: its JSON
    /// schema, or `None` where only other media types are declared.
    declared: HashMap<(Endpoint, String), Declared>,
}

#[derive(Debug, Clone)]
struct Declared {
    json: Option<boon::SchemaIndex>,
    media_types: Vec<String>,
}

impl std::fmt::Debug for AnswerSchemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerSchemas")
            .field("declared", &self.declared.len())
            .finish_non_exhaustive()
    }
}

/// Where each endpoint is in the OpenAPI file.
fn operation(endpoint: Endpoint) -> Option<(&'static str, &'static str)> {
    Some(match endpoint {
        Endpoint::Submit => ("/v1/models/{model_id}", "post"),
        Endpoint::Model => ("/v1/models/{model_id}", "get"),
        Endpoint::ModelList => ("/v1/models", "get"),
        Endpoint::Categories => ("/v1/models/categories", "get"),
        Endpoint::Status => ("/v1/requests/{request_id}/status", "get"),
        Endpoint::Result => ("/v1/requests/{request_id}/result", "get"),
        Endpoint::Cancel => ("/v1/requests/{request_id}/cancel", "post"),
        Endpoint::File => return None,
    })
}

impl AnswerSchemas {
    /// Compiles every answer schema of the built-in OpenAPI file.
    pub(crate) fn new() -> Self {
        let spec: Value = serde_json::from_str(OPENAPI).expect("the OpenAPI file is JSON");
        let mut compiler = boon::Compiler::new();
        compiler.set_default_draft(boon::Draft::V2020_12);
        compiler
            .add_resource(OPENAPI_URL, json_schema_of(&spec))
            .expect("the OpenAPI file loads as a resource");
        let mut schemas = boon::Schemas::new();
        let mut declared = HashMap::new();
        for endpoint in Endpoint::ALL {
            let Some((path, method)) = operation(endpoint) else {
                continue;
            };
            let responses = &spec["paths"][path][method]["responses"];
            let Some(responses) = responses.as_object() else {
                continue;
            };
            for (class, response) in responses {
                let content = response["content"].as_object();
                let media_types = content
                    .map(|c| c.keys().cloned().collect())
                    .unwrap_or_default();
                let json = content.and_then(|c| c.get("application/json")).map(|_| {
                    let pointer = format!(
                        "{OPENAPI_URL}#/paths/{}/{method}/responses/{class}/content/application~1json/schema",
                        path.replace('~', "~0").replace('/', "~1")
                    );
                    compiler
                        .compile(&pointer, &mut schemas)
                        .expect("every answer schema of the OpenAPI file compiles")
                });
                declared.insert((endpoint, class.clone()), Declared { json, media_types });
            }
        }
        Self { schemas, declared }
    }

    /// How an answer of `endpoint` with `status` differs from the OpenAPI
    /// file: pointers and messages.
    pub(crate) fn check(
        &self,
        endpoint: Endpoint,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Vec<(String, String)> {
        let class = format!("{}XX", status / 100);
        let Some(declared) = self
            .declared
            .get(&(endpoint, status.to_string()))
            .or_else(|| self.declared.get(&(endpoint, class.clone())))
        else {
            return vec![(
                String::new(),
                format!("HTTP {status} is not a declared answer"),
            )];
        };
        let media = content_type
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if media != "application/json" {
            return if declared.media_types.contains(&media) {
                Vec::new()
            } else {
                vec![(
                    String::new(),
                    format!(
                        "content type {media:?} is not declared for {class} (declared: {})",
                        declared.media_types.join(", ")
                    ),
                )]
            };
        }
        let Some(index) = declared.json else {
            return vec![(String::new(), format!("JSON is not declared for {class}"))];
        };
        let value: Value = match serde_json::from_slice(body) {
            Ok(value) => value,
            Err(e) => return vec![(String::new(), format!("the body is not JSON: {e}"))],
        };
        match self.schemas.validate(&value, index) {
            Ok(()) => Vec::new(),
            Err(error) => leaves(&error),
        }
    }
}

/// How a result's `output` differs from `model`'s output schema.
pub(crate) fn check_output(model: &ModelDescriptor, output: &Value) -> Vec<(String, String)> {
    let Some(compiled) = output_schema(model) else {
        return Vec::new();
    };
    let (schemas, index) = &*compiled;
    match schemas.validate(output, *index) {
        Ok(()) => Vec::new(),
        Err(error) => leaves(&error)
            .into_iter()
            .map(|(pointer, message)| (format!("/output{pointer}"), message))
            .collect(),
    }
}

/// `model`'s output schema, compiled once per process (`None` if it does
/// not compile: nothing to check against).
fn output_schema(model: &ModelDescriptor) -> Option<Arc<(boon::Schemas, boon::SchemaIndex)>> {
    type Cache = Mutex<HashMap<&'static str, Option<Arc<(boon::Schemas, boon::SchemaIndex)>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let compile = || {
        let schema: Value = serde_json::from_str(model.output_schema).ok()?;
        let location = "urn:runcomfy:output-schema";
        let mut compiler = boon::Compiler::new();
        compiler.set_default_draft(boon::Draft::V2020_12);
        compiler.add_resource(location, schema).ok()?;
        let mut schemas = boon::Schemas::new();
        let index = compiler.compile(location, &mut schemas).ok()?;
        Some(Arc::new((schemas, index)))
    };
    CACHE
        .get_or_init(Cache::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(model.output_schema)
        .or_insert_with(compile)
        .clone()
}

/// How a submit's body differs from `model`'s input schema and rules.
pub(crate) fn check_submit(model: &ModelDescriptor, body: &[u8]) -> Vec<(String, String)> {
    let input: Value = match serde_json::from_slice(body) {
        Ok(input) => input,
        Err(e) => return vec![(String::new(), format!("the body is not JSON: {e}"))],
    };
    match model.validate_input(&input) {
        Ok(()) => Vec::new(),
        Err(error) => error
            .violations
            .iter()
            .map(|v| (pointer_of(&v.path), v.to_string()))
            .collect(),
    }
}

/// `multi_prompt[0].duration` as a JSON pointer: `/multi_prompt/0/duration`.
fn pointer_of(path: &str) -> String {
    path.split(['.', '['])
        .filter(|s| !s.is_empty())
        .map(|s| {
            let s = s.trim_end_matches(']');
            format!("/{}", s.replace('~', "~0").replace('/', "~1"))
        })
        .collect()
}

/// The innermost failures of a validation error, each with its pointer.
fn leaves(error: &boon::ValidationError<'_, '_>) -> Vec<(String, String)> {
    if error.causes.is_empty() {
        return vec![(error.instance_location.to_string(), error.kind.to_string())];
    }
    error.causes.iter().flat_map(leaves).collect()
}

/// The OpenAPI 3.0 file read as JSON Schema 2020-12: `nullable: true`
/// becomes a type that also admits null.
fn json_schema_of(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out: serde_json::Map<String, Value> = map
                .iter()
                .filter(|(key, _)| key.as_str() != "nullable")
                .map(|(key, value)| (key.clone(), json_schema_of(value)))
                .collect();
            if map.get("nullable") == Some(&Value::Bool(true))
                && let Some(Value::String(kind)) = map.get("type")
            {
                out.insert("type".into(), serde_json::json!([kind, "null"]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(json_schema_of).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked_against_the_openapi_file() {
        let schemas = AnswerSchemas::new();
        let json = Some("application/json");
        let ok = br#"{"request_id": "a", "status": "in_queue", "queue_position": "3"}"#;
        assert!(schemas.check(Endpoint::Status, 200, json, ok).is_empty());
        let missing = br#"{"request_id": "a"}"#;
        let drift = schemas.check(Endpoint::Status, 200, json, missing);
        assert_eq!(drift.len(), 1, "{drift:?}");
        assert!(drift[0].1.contains("status"), "{drift:?}");
        let wrong = br#"{"request_id": 7, "status": "in_queue"}"#;
        assert_eq!(
            schemas.check(Endpoint::Status, 200, json, wrong)[0].0,
            "/request_id"
        );
        assert!(!schemas.check(Endpoint::Status, 200, json, b"{").is_empty());
        // A gateway's page is declared for 5XX, not for 2XX.
        let html = Some("text/html; charset=utf-8");
        assert!(
            schemas
                .check(Endpoint::Status, 502, html, b"<html>")
                .is_empty()
        );
        assert!(
            !schemas
                .check(Endpoint::Status, 200, html, b"<html>")
                .is_empty()
        );
        // Nullable fields admit null.
        let listed = br#"{"models": null, "total": null}"#;
        assert!(
            schemas
                .check(Endpoint::ModelList, 200, json, listed)
                .is_empty()
        );
    }

    #[test]
    fn submits_and_outputs_are_checked_against_the_models_schemas() {
        let kling =
            ModelDescriptor::find("kling/kling-3.0/standard/text-to-video").expect("built in");
        assert!(check_submit(kling, br#"{"prompt": "a fox"}"#).is_empty());
        let drift = check_submit(kling, br#"{"prompt": "a fox", "duration": 99}"#);
        assert_eq!(drift[0].0, "/duration");
        assert_eq!(
            pointer_of("multi_prompt[0].duration"),
            "/multi_prompt/0/duration"
        );
        assert!(check_output(kling, &serde_json::json!({"video": "https://x/a.mp4"})).is_empty());
        let drift = check_output(kling, &serde_json::json!({"video": 3}));
        assert_eq!(drift[0].0, "/output/video", "{drift:?}");
    }
}
