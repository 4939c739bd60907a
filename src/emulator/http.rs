//! The emulator's HTTP side: routes, handlers, fault injection and the
//! connection loop (its own, so that a fault can drop a connection).

use super::faults::{Endpoint, Fault, FaultScript};
use super::jobs::{self, CancelOutcome, JobBehaviour, JobState};
use super::video::{self, Fixture};
use super::{LockOrRecover, Shared};
use crate::ModelDescriptor;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

type SharedState = State<Arc<Shared>>;

/// Marks a response whose connection is to be dropped instead of answered.
#[derive(Debug, Clone, Copy)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for DropConnection {}

/// The API: the queue protocol plus `/_emulator/` for faults and counters.
pub(crate) fn api_router(shared: Arc<Shared>) -> Router {
    let queue_api = Router::new()
        .route("/v1/models", get(list_models))
        .route("/v1/models/{*model_id}", post(submit).get(model_info))
        .route("/v1/requests/{request_id}/status", get(status))
        .route("/v1/requests/{request_id}/result", get(result))
        .route("/v1/requests/{request_id}/cancel", post(cancel))
        .route_layer(middleware::from_fn(hold_to_the_contract))
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            require_token,
        ));
    let routes = Router::new()
        .merge(queue_api)
        .route("/_emulator/faults", post(add_fault).delete(clear_faults))
        .route("/_emulator/counters", get(counters));
    with_faults_and_logging(routes, shared)
}

/// The file server, the stand-in for RunComfy's CDN.
pub(crate) fn files_router(shared: Arc<Shared>) -> Router {
    with_faults_and_logging(Router::new().route("/files/{name}", get(file)), shared)
}

/// What both servers share: RunComfy's 404 for unknown paths, fault
/// injection, and a log line per request.
fn with_faults_and_logging(routes: Router<Arc<Shared>>, shared: Arc<Shared>) -> Router {
    routes
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            inject_faults,
        ))
        .layer(middleware::from_fn_with_state(shared.clone(), log_request))
        .with_state(shared)
}

/// Accepts connections until `shutdown`, serving each with `router` over
/// HTTP/1.1.
pub(crate) async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) {
    use tower::ServiceExt;
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            () = shutdown.cancelled() => return,
        };
        let router = router.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let router = router.clone();
                    async move {
                        let response = router
                            .oneshot(request.map(Body::new))
                            .await
                            .unwrap_or_else(|never| match never {});
                        if response.extensions().get::<DropConnection>().is_some() {
                            // hyper closes the connection without an answer.
                            return Err(DropConnection);
                        }
                        Ok(response)
                    }
                },
            );
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                () = shutdown.cancelled() => {}
            }
        });
    }
}

fn classify(method: &Method, path: &str) -> Option<Endpoint> {
    if path.starts_with("/files/") {
        return Some(Endpoint::File);
    }
    if let Some(rest) = path.strip_prefix("/v1/requests/") {
        return match (method, rest.rsplit('/').next()) {
            (&Method::GET, Some("status")) => Some(Endpoint::Status),
            (&Method::GET, Some("result")) => Some(Endpoint::Result),
            (&Method::POST, Some("cancel")) => Some(Endpoint::Cancel),
            _ => None,
        };
    }
    if path.starts_with("/v1/models/") {
        return match *method {
            Method::POST => Some(Endpoint::Submit),
            Method::GET => Some(Endpoint::Model),
            _ => None,
        };
    }
    if path == "/v1/models" && method == Method::GET {
        return Some(Endpoint::ModelList);
    }
    None
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

/// Refuses requests outside the documented contract, so that a client
/// that strays from it fails here and not only against RunComfy:
/// query parameters an endpoint does not take (or malformed values), a
/// submit whose body is not declared `Content-Type: application/json`,
/// and a body on a call that takes none (status, result, cancel, model
/// info, listing). Each answers 422 with code 422001 and a `detail` entry
/// naming the header, query parameter or body.
async fn hold_to_the_contract(request: Request, next: Next) -> Response {
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

/// The decoded `name=value` pairs of a query string.
fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn check_query_value(name: &str, value: &str) -> Result<(), String> {
    match name {
        "include_cost" | "include_schema" if !matches!(value, "true" | "false") => {
            Err(format!("{name} must be true or false"))
        }
        "limit" | "offset" if value.parse::<u32>().is_err() => {
            Err(format!("{name} must be a whole number"))
        }
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
fn requested_model(uri: &axum::http::Uri) -> Result<&'static ModelDescriptor, InvalidModelId> {
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
struct InvalidModelId {
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

/// The fault a request gets, if any, for handlers that act on it.
#[derive(Debug, Clone)]
struct InjectedFault(Fault);

async fn inject_faults(State(shared): SharedState, mut request: Request, next: Next) -> Response {
    let Some(endpoint) = classify(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    shared.counters.requests[endpoint as usize].fetch_add(1, Ordering::Relaxed);
    let fault = {
        let mut rng = shared.rng.lock_or_recover();
        shared.faults.lock_or_recover().take(endpoint, &mut rng)
    };
    let Some(fault) = fault else {
        return next.run(request).await;
    };
    match fault {
        Fault::Latency { millis } => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            next.run(request).await
        }
        Fault::RateLimited { retry_after_secs } => {
            let mut response = error_response(
                StatusCode::TOO_MANY_REQUESTS,
                None,
                "rate limit exceeded, retry later",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            response
        }
        Fault::HttpError { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if status == StatusCode::INTERNAL_SERVER_ERROR {
                error_response(
                    status,
                    Some(500001),
                    "internal error, retry with exponential backoff",
                )
            } else {
                // Gateways in front of an API answer with their own pages.
                let page = format!("<html><body><h1>{status}</h1></body></html>");
                (status, [(header::CONTENT_TYPE, "text/html")], page).into_response()
            }
        }
        Fault::MalformedJson => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"request_id\": \"",
        )
            .into_response(),
        Fault::TruncatedBody => {
            let response = next.run(request).await;
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let half = bytes.slice(..bytes.len() / 2);
            let mut response = Response::from_parts(parts, truncated_body(half));
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            response
        }
        Fault::ConnectionReset => {
            if endpoint == Endpoint::Submit {
                // The job is accepted and paid for; only the answer is lost.
                let _ = next.run(request).await;
            }
            let mut response = Response::new(Body::empty());
            response.extensions_mut().insert(DropConnection);
            response
        }
        Fault::ErrorIn200 {
            error_code,
            message,
        } => (
            StatusCode::OK,
            axum::Json(json!({"error_code": error_code, "error_message": message})),
        )
            .into_response(),
        other => {
            request.extensions_mut().insert(InjectedFault(other));
            next.run(request).await
        }
    }
}

/// A body that sends `bytes` and then fails, so that hyper closes the
/// connection before the declared length arrives.
fn truncated_body(bytes: Bytes) -> Body {
    use futures::StreamExt;
    let sent = futures::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
    // Pause before failing so that hyper flushes the headers and the part
    // already sent; a client then sees a body that breaks off, not a
    // connection that never answered.
    let failure = futures::stream::once(async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected truncation",
        ))
    });
    Body::from_stream(sent.chain(failure))
}

async fn log_request(State(shared): SharedState, request: Request, next: Next) -> Response {
    if !shared.config.log_requests {
        return next.run(request).await;
    }
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let dropped = response.extensions().get::<DropConnection>().is_some();
    tracing::info!(
        target: "runcomfy_emulator",
        %method,
        path,
        status = if dropped { 0 } else { response.status().as_u16() },
        dropped,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// RunComfy's error body: `{"error_code": .., "error_message": ..}`.
fn error_response(status: StatusCode, code: Option<u64>, message: &str) -> Response {
    let mut body = json!({"error_message": message});
    if let Some(code) = code {
        body["error_code"] = json!(code);
    }
    (status, axum::Json(body)).into_response()
}

fn unauthorized() -> Response {
    error_response(
        StatusCode::UNAUTHORIZED,
        Some(400004),
        "invalid or missing API token: send Authorization: Bearer <token>",
    )
}

fn unknown_request(id: &str) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        Some(404001),
        &format!("request {id} does not exist, was deleted or has expired"),
    )
}

/// RunComfy's bearer auth, on every queue-protocol route: anything but the
/// configured token gets 401 with code 400004.
async fn require_token(State(shared): SharedState, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if presented == Some(shared.config.token.as_str()) {
        next.run(request).await
    } else {
        shared.counters.unauthorized.fetch_add(1, Ordering::Relaxed);
        unauthorized()
    }
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, None, "no such endpoint")
}

async fn submit(
    State(shared): SharedState,
    uri: axum::http::Uri,
    fault: Option<axum::Extension<InjectedFault>>,
    body: Bytes,
) -> Response {
    let model = match requested_model(&uri) {
        Ok(model) => model,
        Err(refused) => return refused.into_response(),
    };
    let model_id = model.id;
    let input: Value = match serde_json::from_slice(&body) {
        Ok(input) => input,
        Err(e) => {
            let detail = json!([{"loc": ["body"], "msg": format!("body is not valid JSON: {e}"), "type": "json_invalid"}]);
            return validation_failed(detail);
        }
    };
    if let Err(error) = model.validate_input(&input) {
        let detail: Vec<Value> = error
            .violations
            .iter()
            .map(|v| {
                let mut loc = vec![json!("body")];
                loc.extend(v.path.split(['.', '[']).filter(|s| !s.is_empty()).map(|s| {
                    s.trim_end_matches(']')
                        .parse::<u64>()
                        .map_or_else(|_| json!(s), |i| json!(i))
                }));
                json!({"loc": loc, "msg": v.to_string(), "type": v.rule.code(), "input": v.value})
            })
            .collect();
        return validation_failed(Value::Array(detail));
    }

    let mut behaviour = JobBehaviour::default();
    match fault.map(|f| f.0.0) {
        Some(Fault::JobFails { message }) => behaviour.fails_with = Some(message),
        Some(Fault::AlternateSpellings) => behaviour.alternate_spellings = true,
        Some(Fault::UnknownStatus { status }) => behaviour.unknown_status = Some(status),
        _ => {}
    }
    behaviour.cost_usd = model.estimate_cost(&input).map(|estimate| estimate.usd);
    let fixture = Fixture::for_aspect_ratio(input.get("aspect_ratio").and_then(Value::as_str));
    let video_seconds = input
        .get("duration")
        .and_then(Value::as_f64)
        .or_else(|| default_duration(model))
        .unwrap_or(5.0);
    let run_time = shared
        .config
        .run_time_for(model_id)
        .for_video_seconds(video_seconds);
    let id = shared.new_request_id();
    shared
        .store
        .lock_or_recover()
        .insert(id.clone(), model_id, behaviour, fixture);
    shared
        .counters
        .submits_accepted
        .fetch_add(1, Ordering::Relaxed);
    shared.spawn_job(id.clone(), run_time);

    let base = &shared.api_base;
    axum::Json(json!({
        "request_id": id,
        "status_url": format!("{base}/v1/requests/{id}/status"),
        "result_url": format!("{base}/v1/requests/{id}/result"),
        "cancel_url": format!("{base}/v1/requests/{id}/cancel"),
    }))
    .into_response()
}

fn default_duration(model: &ModelDescriptor) -> Option<f64> {
    let schema: Value = serde_json::from_str(model.input_schema).ok()?;
    schema["properties"]["duration"]["default"].as_f64()
}

fn validation_failed(detail: Value) -> Response {
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

/// A model's info as RunComfy's clients see it: the checked-in metadata
/// (`model.json`, without this crate's own `x-` keys), plus the published
/// schemas when asked for.
fn model_body(model: &ModelDescriptor, with_schemas: bool) -> Value {
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    let mut body = match parse(model.published_info) {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    body.retain(|key, _| !key.starts_with("x-"));
    body.insert("model_id".into(), json!(model.id));
    if with_schemas {
        body.insert("input_schema".into(), parse(model.published_input_schema));
        body.insert("output_schema".into(), parse(model.published_output_schema));
    }
    Value::Object(body)
}

async fn model_info(uri: axum::http::Uri) -> Response {
    match requested_model(&uri) {
        Ok(model) => axum::Json(model_body(model, true)).into_response(),
        Err(refused) => refused.into_response(),
    }
}

/// The catalogue: every model under `schema/`, filtered and paged as
/// RunComfy's clients ask (`search` in the id or name, `category`,
/// `limit` (default 50, at most 100), `offset`).
async fn list_models(uri: axum::http::Uri) -> Response {
    let query: std::collections::HashMap<String, String> =
        query_pairs(uri.query()).into_iter().collect();
    let number = |name: &str, default: usize| {
        query
            .get(name)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let (limit, offset) = (number("limit", 50).min(100), number("offset", 0));
    let search = query.get("search").map(|s| s.to_lowercase());
    let category = query.get("category");
    let with_schemas = query.get("include_schema").is_some_and(|v| v == "true");
    let matching: Vec<Value> = ModelDescriptor::all()
        .iter()
        .map(|model| model_body(model, with_schemas))
        .filter(|body| {
            let text = |key: &str| body[key].as_str().unwrap_or_default().to_lowercase();
            search
                .as_ref()
                .is_none_or(|s| text("model_id").contains(s) || text("display_name").contains(s))
        })
        .filter(|body| {
            category.is_none_or(|c| {
                body["categories"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|x| x == c.as_str()))
            })
        })
        .collect();
    let total = matching.len();
    let page: Vec<Value> = matching.into_iter().skip(offset).take(limit).collect();
    axum::Json(json!({"models": page, "total": total})).into_response()
}

async fn status(State(shared): SharedState, Path(id): Path<String>) -> Response {
    let store = shared.store.lock_or_recover();
    match store.get(&id) {
        Some(job) => axum::Json(jobs::status_body(&store, job, &shared.api_base)).into_response(),
        None => unknown_request(&id),
    }
}

async fn result(
    State(shared): SharedState,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Response {
    let include_cost = query_pairs(uri.query())
        .iter()
        .any(|(name, value)| name == "include_cost" && value == "true");
    let store = shared.store.lock_or_recover();
    match store.get(&id) {
        Some(job) => {
            let mut body = jobs::result_body(&store, job, &shared.api_base, &shared.files_base);
            if include_cost && job.state.is_terminal() {
                body["model_id"] = json!(job.model_id);
                body["cost"] = json!(job.cost_usd());
            }
            axum::Json(body).into_response()
        }
        None => unknown_request(&id),
    }
}

async fn cancel(State(shared): SharedState, Path(id): Path<String>) -> Response {
    let mut store = shared.store.lock_or_recover();
    let Some(outcome) = store.cancel(&id, shared.config.max_retained_jobs) else {
        return unknown_request(&id);
    };
    let status = store.get(&id).map(|job| job.wire_status().to_string());
    let outcome = match outcome {
        CancelOutcome::Cancelled => "cancelled",
        CancelOutcome::NotCancellable => "not_cancellable",
    };
    axum::Json(json!({"request_id": id, "status": status, "outcome": outcome})).into_response()
}

async fn file(
    State(shared): SharedState,
    Path(name): Path<String>,
    headers: HeaderMap,
    fault: Option<axum::Extension<InjectedFault>>,
) -> Response {
    if headers.contains_key(header::AUTHORIZATION) {
        shared
            .counters
            .file_requests_with_authorization
            .fetch_add(1, Ordering::Relaxed);
    }
    let fixture = {
        let store = shared.store.lock_or_recover();
        let job = name.strip_suffix(".mp4").and_then(|id| store.get(id));
        match job {
            Some(job) if job.state == JobState::Completed => job.fixture,
            _ => return error_response(StatusCode::NOT_FOUND, None, "no such file"),
        }
    };
    let fault = fault.map(|f| f.0.0);
    let bytes = Bytes::from_static(fixture.bytes());
    let len = bytes.len() as u64;
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = if fault == Some(Fault::IgnoreRange) {
        None
    } else {
        video::requested_range(range_header, len)
    };
    let (status, body) = match range {
        None => (StatusCode::OK, bytes),
        Some(Ok((start, end))) => (
            StatusCode::PARTIAL_CONTENT,
            bytes.slice(start as usize..=end as usize),
        ),
        Some(Err(())) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).expect("ascii"),
            );
            return response;
        }
    };
    let declared = body.len();
    let sent = if fault == Some(Fault::StopHalfway) {
        body.slice(..declared / 2)
    } else {
        body
    };
    shared
        .counters
        .bytes_served
        .fetch_add(sent.len() as u64, Ordering::Relaxed);
    let mut response = if fault == Some(Fault::StopHalfway) {
        Response::new(truncated_body(sent))
    } else {
        Response::new(Body::from(sent))
    };
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(declared));
    if let Some(Ok((start, end))) = range {
        let value = format!("bytes {start}-{end}/{len}");
        headers.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&value).expect("ascii"),
        );
    }
    response
}

async fn add_fault(
    State(shared): SharedState,
    axum::Json(script): axum::Json<FaultScript>,
) -> Response {
    match shared.faults.lock_or_recover().add(script) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(StatusCode::BAD_REQUEST, None, &e.to_string()),
    }
}

async fn clear_faults(State(shared): SharedState) -> StatusCode {
    shared.faults.lock_or_recover().clear();
    StatusCode::NO_CONTENT
}

async fn counters(State(shared): SharedState) -> axum::Json<super::Counters> {
    axum::Json(shared.counters())
}
