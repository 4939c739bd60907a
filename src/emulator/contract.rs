//! What RunComfy would refuse, and how it says so: bearer auth, requests
//! outside the documented contract, model ids not in the documented form,
//! and RunComfy's error bodies.

use super::SharedState;
use super::faults::Endpoint;
use super::faults::classify;
use crate::ModelDescriptor;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

/// RunComfy's bearer auth, on every queue-protocol route: anything but the
/// configured token gets 401 with code 400004.
pub(super) async fn require_token(
    State(shared): SharedState,
    request: Request,
    next: Next,
) -> Response {
    if carries_token(&request, &shared.config.token) {
        next.run(request).await
    } else {
        shared.counters.unauthorized.fetch_add(1, Ordering::Relaxed);
        unauthorized()
    }
}

/// Refuses requests outside the documented contract, so that a client
/// that strays from it fails here and not only against RunComfy:
/// query parameters an endpoint does not take (or malformed values), a
/// submit whose body is not declared `Content-Type: application/json`,
/// and a body on a call that takes none (status, result, cancel, model
/// info, listing). Each answers 422 with code 422001 and a `detail` entry
/// naming the header, query parameter or body.
pub(super) async fn hold_to_the_contract(request: Request, next: Next) -> Response {
    let Some(endpoint) = classify(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let mut problems = Vec::new();
    for (name, value) in query_pairs(request.uri().query()) {
        if !allowed_query(endpoint).contains(&name.as_str()) {
            problems.push(detail(
                json!(["query", name]),
                &format!("{name:?} is not a query parameter of this endpoint"),
                "extra_forbidden",
            ));
        } else if let Err(problem) = check_query_value(&name, &value) {
            problems.push(detail(json!(["query", name]), &problem, "query_value"));
        }
    }
    let headers = request.headers();
    let has_body = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() != "0")
        || headers.contains_key(header::TRANSFER_ENCODING);
    if endpoint == Endpoint::Submit {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            problems.push(detail(
                json!(["header", "content-type"]),
                "a submit's body must be sent with Content-Type: application/json",
                "content_type",
            ));
        }
    } else if has_body {
        problems.push(detail(
            json!(["body"]),
            "this endpoint takes no request body",
            "extra_forbidden",
        ));
    }
    if problems.is_empty() {
        next.run(request).await
    } else {
        validation_failed(Value::Array(problems))
    }
}

/// The query parameters each endpoint takes: the documented requests have
/// none; RunComfy's own clients add these.
fn allowed_query(endpoint: Endpoint) -> &'static [&'static str] {
    match endpoint {
        Endpoint::Result => &["include_cost"],
        Endpoint::ModelList => &[
            "search",
            "category",
            "kind",
            "include_schema",
            "limit",
            "offset",
        ],
        _ => &[],
    }
}

/// The decoded `name=value` pairs of a query string.
pub(super) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The largest catalogue page (RunComfy's CLI allows up to 500).
const MAX_LIMIT: u32 = 500;

fn check_query_value(name: &str, value: &str) -> Result<(), String> {
    match name {
        "include_cost" | "include_schema" if !matches!(value, "true" | "false") => {
            Err(format!("{name} must be true or false"))
        }
        "limit"
            if !value
                .parse::<u32>()
                .is_ok_and(|n| (1..=MAX_LIMIT).contains(&n)) =>
        {
            Err(format!(
                "limit must be a whole number from 1 to {MAX_LIMIT}"
            ))
        }
        "offset" if value.parse::<u32>().is_err() => Err("offset must be a whole number".into()),

        _ => Ok(()),
    }
}

/// One entry of a 422 answer's `detail`.
fn detail(loc: Value, message: &str, kind: &str) -> Value {
    json!({"loc": loc, "msg": message, "type": kind})
}

/// The model a `/v1/models/...` request names, or why RunComfy would
/// answer 400001. The id must arrive as documented: slashes literal,
/// nothing percent-encoded.
pub(super) fn requested_model(
    uri: &axum::http::Uri,
) -> Result<&'static ModelDescriptor, InvalidModelId> {
    let raw = uri.path().strip_prefix("/v1/models/").unwrap_or_default();
    if raw.contains('%') {
        return Err(InvalidModelId {
            raw: raw.to_string(),
            why: "the model id goes into the path as-is, its slashes literal \
                  (/v1/models/kling/kling-3.0/standard/text-to-video), not percent-encoded",
        });
    }
    ModelDescriptor::find(raw).ok_or_else(|| InvalidModelId {
        raw: raw.to_string(),
        why: "no such model",
    })
}

/// RunComfy's answer to a model id it does not take: 400 with code 400001.
pub(super) struct InvalidModelId {
    raw: String,
    why: &'static str,
}

impl IntoResponse for InvalidModelId {
    fn into_response(self) -> Response {
        error_response(
            StatusCode::BAD_REQUEST,
            Some(400001),
            &format!("invalid model id {:?}: {}", self.raw, self.why),
        )
    }
}

/// RunComfy's error body: `{"error_code": .., "error_message": ..}`.
pub(super) fn error_response(status: StatusCode, code: Option<u64>, message: &str) -> Response {
    let mut body = json!({"error_message": message});
    if let Some(code) = code {
        body["error_code"] = json!(code);
    }
    (status, axum::Json(body)).into_response()
}

/// True if `request` carries `Bearer <token>`.
pub(super) fn carries_token(request: &Request, token: &str) -> bool {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        == Some(token)
}

pub(super) fn unauthorized() -> Response {
    error_response(
        StatusCode::UNAUTHORIZED,
        Some(400004),
        "invalid or missing API token: send Authorization: Bearer <token>",
    )
}

pub(super) fn unknown_request(id: &str) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        Some(404001),
        &format!("request {id} does not exist, was deleted or has expired"),
    )
}

pub(super) fn validation_failed(detail: Value) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({
            "error_code": 422001,
            "error_message": "validation error",
            "detail": detail,
        })),
    )
        .into_response()
}
