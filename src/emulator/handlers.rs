//! The queue protocol's and the catalogue's handlers, and the file server.

use super::SharedState;
use super::contract::{
    error_response, query_pairs, requested_model, unknown_request, validation_failed,
};
use super::faults::Fault;
use super::files::file_response;
use super::inject::InjectedFault;
use super::jobs::{self, JobBehaviour, NewJob};
use super::video::Fixture;
use super::{LockOrRecover, Shared};
use crate::ModelDescriptor;
use crate::status::{CancelOutcome, Status};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

/// A submit: the request checked as RunComfy would (model, JSON, schema,
/// media), the job shaped by any scripted job fault, paid from the wallet
/// and queued; RunComfy's answer with its request id and URLs.
pub(super) async fn submit(
    State(shared): SharedState,
    uri: axum::http::Uri,
    fault: Option<axum::Extension<InjectedFault>>,
    body: Bytes,
) -> Response {
    let model = match requested_model(&uri) {
        Ok(model) => model,
        Err(refused) => return refused.into_response(),
    };
    let (input, media) = match accepted_input(model, &body) {
        Ok(accepted) => accepted,
        Err(refused) => return refused.into_response(),
    };
    let behaviour = behaviour_for(model, &input, fault.map(|f| f.0.0));
    let fixture = Fixture::for_aspect_ratio(input.get("aspect_ratio").and_then(Value::as_str));
    let video_seconds = model
        .parsed()
        .field_or_default(&input, "duration")
        .as_ref()
        .and_then(Value::as_f64)
        .unwrap_or(5.0);
    let run_time = shared
        .config
        .run_time_for(model.id)
        .for_video_seconds(video_seconds);
    let id = shared.new_request_id();
    let job = NewJob {
        id: id.clone(),
        model_id: model.id,
        input,
        media,
        behaviour,
        fixture,
    };
    if let Err(refused) = pay_and_queue(&shared, job) {
        return refused.into_response();
    }
    shared.spawn_job(id.clone(), run_time);
    let base = &shared.bases.api;
    axum::Json(json!({
        "request_id": id,
        "status_url": format!("{base}/v1/requests/{id}/status"),
        "result_url": format!("{base}/v1/requests/{id}/result"),
        "cancel_url": format!("{base}/v1/requests/{id}/cancel"),
    }))
    .into_response()
}

/// Why a submit made no job.
enum SubmitRefused {
    /// RunComfy's 422, with its `detail` list.
    Invalid(Vec<Value>),
    /// RunComfy's 402 (code 400002).
    InsufficientBalance { price: f64, left: f64 },
}

impl IntoResponse for SubmitRefused {
    fn into_response(self) -> Response {
        match self {
            Self::Invalid(detail) => validation_failed(Value::Array(detail)),
            Self::InsufficientBalance { price, left } => error_response(
                StatusCode::PAYMENT_REQUIRED,
                Some(400002),
                &format!(
                    "insufficient balance: the job costs ${price:.4}, the balance is ${left:.4}"
                ),
            ),
        }
    }
}

/// The body as JSON that passes the model's schema and rules, and the
/// media it carries inline.
fn accepted_input(
    model: &ModelDescriptor,
    body: &[u8],
) -> Result<(Value, Vec<super::ReceivedMedia>), SubmitRefused> {
    let input: Value = serde_json::from_slice(body).map_err(|e| {
        SubmitRefused::Invalid(vec![json!({"loc": ["body"], "msg": format!("body is not valid JSON: {e}"), "type": "json_invalid"})])
    })?;
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
        return Err(SubmitRefused::Invalid(detail));
    }
    let media = received_media(model, &input).map_err(SubmitRefused::Invalid)?;
    Ok((input, media))
}

/// How the job will behave: as a scripted job fault says, costing the
/// model's price for the request.
fn behaviour_for(model: &ModelDescriptor, input: &Value, fault: Option<Fault>) -> JobBehaviour {
    let mut behaviour = JobBehaviour::default();
    match fault {
        Some(Fault::JobFails { message }) => behaviour.fails_with = Some(message),
        Some(Fault::AlternateSpellings) => behaviour.alternate_spellings = true,
        Some(Fault::UnknownStatus { status }) => behaviour.unknown_status = Some(status),
        _ => {}
    }
    behaviour.cost_usd = model.estimate_cost(input).map(|estimate| estimate.usd);
    behaviour
}

/// Charges the wallet and queues the job, under the wallet's lock with the
/// job's creation, so that two submits never spend one dollar; no job
/// when the wallet cannot pay.
fn pay_and_queue(shared: &Shared, job: NewJob) -> Result<(), SubmitRefused> {
    let price = job.behaviour.cost_usd.unwrap_or(0.0);
    let mut wallet = shared.wallet.lock_or_recover();
    if let Some(left) = *wallet
        && left + 1e-9 < price
    {
        shared
            .counters
            .insufficient_balance
            .fetch_add(1, Ordering::Relaxed);
        return Err(SubmitRefused::InsufficientBalance { price, left });
    }
    let duplicate = shared.store.lock_or_recover().insert(job);
    if let Some(left) = wallet.as_mut() {
        *left = (*left - price).max(0.0);
    }
    drop(wallet);
    if duplicate {
        shared
            .counters
            .duplicate_submits
            .fetch_add(1, Ordering::Relaxed);
    }
    shared
        .counters
        .submits_accepted
        .fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// The media a submit carries inline, decoded and checked as RunComfy
/// would fetch them: each media field's value must be an `http(s)` URL or
/// a well-formed base64 `data:` URI of the field's kind within the limits;
/// anything else (a bare file path, say, which the service could never
/// read) is a 422 entry.
fn received_media(
    model: &ModelDescriptor,
    input: &Value,
) -> Result<Vec<super::ReceivedMedia>, Vec<Value>> {
    use crate::media::{MediaLimits, MediaValue, checked_mime, decode_data_uri};
    let limits = MediaLimits::default();
    let mut received = Vec::new();
    let mut problems = Vec::new();
    for field in model.media_fields() {
        for (index, value) in field.values_in(input) {
            let Some(text) = value.as_str() else { continue };
            let mut loc = vec![json!("body"), json!(field.name)];
            loc.extend(index.map(|i| json!(i)));
            let problem = match MediaValue::of(text) {
                MediaValue::Url(_) => continue,
                MediaValue::LocalPath(_) => format!(
                    "{} must be an http(s) URL or a data: URI; RunComfy cannot read a local path",
                    field.name
                ),
                MediaValue::DataUri(uri) => match decode_data_uri(uri) {
                    Ok((mime, bytes)) => match checked_mime(&bytes, field.kind, &limits) {
                        Ok(found) => {
                            received.push(super::ReceivedMedia {
                                field: field.name.clone(),
                                index,
                                declared_type: mime,
                                content_type: found.to_string(),
                                size: bytes.len() as u64,
                                sha256: super::hashing::sha256_hex(&bytes),
                            });
                            continue;
                        }
                        Err(problem) => format!("{}: {problem}", field.name),
                    },
                    Err(problem) => format!("{}: {problem}", field.name),
                },
            };
            problems.push(json!({"loc": loc, "msg": problem, "type": "media"}));
        }
    }
    if problems.is_empty() {
        Ok(received)
    } else {
        Err(problems)
    }
}

/// A model's info as RunComfy's clients see it: the checked-in metadata
/// (`model.json`, without this crate's own `x-` keys), plus the published
/// schemas when asked for (the input schema set with
/// [`EmulatorConfig::serve_input_schema`](super::EmulatorConfig::serve_input_schema)
/// where there is one).
fn model_body(shared: &Shared, model: &ModelDescriptor, with_schemas: bool) -> Value {
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    let mut body = match &model.parsed().info {
        Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    body.retain(|key, _| !key.starts_with("x-"));
    body.insert("model_id".into(), json!(model.id));
    // Every catalogue entry has a kind; a model.json that names none is a
    // model.
    body.entry("kind").or_insert_with(|| json!("model"));
    if with_schemas {
        let input = shared
            .config
            .served_input_schemas
            .get(model.id)
            .cloned()
            .unwrap_or_else(|| parse(model.published_input_schema));
        body.insert("input_schema".into(), input);
        body.insert("output_schema".into(), parse(model.published_output_schema));
    }
    Value::Object(body)
}

pub(super) async fn model_info(State(shared): SharedState, uri: axum::http::Uri) -> Response {
    match requested_model(&uri) {
        Ok(model) => axum::Json(model_body(&shared, model, true)).into_response(),
        Err(refused) => refused.into_response(),
    }
}

/// The catalogue: every model under `schema/`, filtered and paged as
/// RunComfy's clients ask: `search` in the id, name or description,
/// `category`, `kind`, `limit` (default 50; the contract layer takes 1 to
/// 500 and refuses anything else) and `offset`.
pub(super) async fn list_models(State(shared): SharedState, uri: axum::http::Uri) -> Response {
    let query: std::collections::HashMap<String, String> =
        query_pairs(uri.query()).into_iter().collect();
    let number = |name: &str, default: usize| {
        query
            .get(name)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let (limit, offset) = (number("limit", 50), number("offset", 0));
    let search = query.get("search").map(|s| s.to_lowercase());
    let category = query.get("category");
    let kind = query.get("kind");
    let with_schemas = query.get("include_schema").is_some_and(|v| v == "true");
    let matching: Vec<Value> = ModelDescriptor::all()
        .iter()
        .map(|model| model_body(&shared, model, with_schemas))
        .filter(|body| {
            let text = |key: &str| body[key].as_str().unwrap_or_default().to_lowercase();
            search.as_ref().is_none_or(|s| {
                ["model_id", "display_name", "description"]
                    .iter()
                    .any(|key| text(key).contains(s))
            })
        })
        .filter(|body| {
            category.is_none_or(|c| {
                body["categories"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|x| x == c.as_str()))
            })
        })
        .filter(|body| kind.is_none_or(|k| body["kind"] == k.as_str()))
        .collect();
    let total = matching.len();
    let page: Vec<Value> = matching.into_iter().skip(offset).take(limit).collect();
    axum::Json(json!({"models": page, "total": total})).into_response()
}

/// The account's balance, as RunComfy's core API answers it
/// (`GET /prod/v2/balance`); an unlimited wallet reports no amount.
pub(super) async fn balance(State(shared): SharedState) -> Response {
    let left = *shared.wallet.lock_or_recover();
    axum::Json(json!({"balance_usd": left, "currency": "USD"})).into_response()
}

/// The catalogue's categories, each once, in the order models list them.
pub(super) async fn categories() -> Response {
    let mut names: Vec<String> = Vec::new();
    for model in ModelDescriptor::all() {
        for name in model.parsed().info["categories"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(name) = name.as_str().filter(|n| !names.iter().any(|x| x == n)) {
                names.push(name.to_string());
            }
        }
    }
    axum::Json(json!({"categories": names})).into_response()
}

pub(super) async fn status(State(shared): SharedState, Path(id): Path<String>) -> Response {
    let store = shared.store.lock_or_recover();
    match store.get(&id) {
        Some(job) => axum::Json(jobs::status_body(&store, job, &shared.bases.api)).into_response(),
        None => unknown_request(&id),
    }
}

pub(super) async fn result(
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
            let mut body = jobs::result_body(&store, job, shared.config.flavour, &shared.bases);
            if include_cost && job.state.is_terminal() {
                body["model_id"] = json!(job.model_id);
                body["cost"] = json!(job.cost_usd());
            }
            axum::Json(body).into_response()
        }
        None => unknown_request(&id),
    }
}

pub(super) async fn cancel(State(shared): SharedState, Path(id): Path<String>) -> Response {
    let mut wallet = shared.wallet.lock_or_recover();
    let mut store = shared.store.lock_or_recover();
    let refund = store
        .get(&id)
        .filter(|job| matches!(job.state, Status::InQueue { .. }))
        .and_then(|job| job.behaviour.cost_usd);
    let Some(outcome) = store.cancel(&id, shared.config.max_retained_jobs) else {
        return unknown_request(&id);
    };
    // A job cancelled while queued costs nothing: its price goes back.
    if let (CancelOutcome::Cancelled, Some(refund), Some(left)) =
        (&outcome, refund, wallet.as_mut())
    {
        *left += refund;
    }
    drop(wallet);
    let status = store.get(&id).map(|job| job.wire_status().to_string());
    let outcome = match outcome {
        CancelOutcome::Cancelled => "cancelled",
        _ => "not_cancellable",
    };
    // The docs: "Successful requests return a 202 Accepted".
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({"request_id": id, "status": status, "outcome": outcome})),
    )
        .into_response()
}

pub(super) async fn file(
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
            Some(job) if job.state == Status::Completed => job.fixture,
            _ => return error_response(StatusCode::NOT_FOUND, None, "no such file"),
        }
    };
    let bytes = Bytes::from_static(fixture.bytes());
    file_response(
        bytes,
        "video/mp4",
        &headers,
        fault.map(|f| f.0.0),
        &shared.counters.bytes_served,
    )
}
