//! The emulator in front of the real API: record a session, replay it,
//! spy (replay what is recorded, forward what is not), and validate
//! whatever passes through.
//!
//! | settings | an API request | a result's file |
//! |---|---|---|
//! | `upstream` | forwarded, checked for drift | fetched from its host |
//! | `upstream` + `record` | forwarded, checked, written to the cassette | fetched, stored once by hash, written |
//! | `replay` | answered from the cassette, or a clear error | served from the cassette |
//! | `replay` + `upstream` + `spy` | from the cassette where it holds one, else forwarded (and recorded with `record`) | likewise |
//!
//! A result's file URLs are rewritten to the emulator's file server
//! (`/files/<hash of the URL>/<its file name>`), the same way when
//! recording and replaying, so that downloads pass through it; the
//! cassette keeps the original URLs. Submits are forwarded once and never
//! again. See [`cassette`] for the format and what is never written.

pub(crate) mod cassette;
pub(crate) mod drift;
pub(crate) mod replay;
pub(crate) mod upstream;

use super::config::FrontConfig;
use super::contract::{error_response, unauthorized, validation_failed};
use super::faults::{Endpoint, classify};
use super::files::file_response;
use super::hashing::sha256_hex;
use super::inject::InjectedFault;
use super::{LockOrRecover, Shared, SharedState};
use crate::ModelDescriptor;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cassette::{Exchange, Recorder, body_hash, kept_headers};
use drift::{AnswerSchemas, Drift};
use replay::{Asked, Replay};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use upstream::{Forwarded, Upstream};

/// The largest request body the emulator forwards (RunComfy's nodes' cap).
const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

/// What the front keeps while it runs.
#[derive(Debug)]
pub(crate) struct Front {
    upstream: Option<Upstream>,
    recorder: Option<Recorder>,
    replay: Option<Replay>,
    strict: bool,
    answers: OnceLock<AnswerSchemas>,
    drift: Mutex<Vec<Drift>>,
    /// Rewritten file path -> the URL the result gave.
    file_urls: Mutex<HashMap<String, String>>,
    /// Request id -> model id, from the submits seen.
    models: Mutex<HashMap<String, String>>,
    pub(crate) counters: FrontCounters,
}

/// What passed through the front.
#[derive(Debug, Default)]
pub(crate) struct FrontCounters {
    pub(crate) forwarded: AtomicU64,
    pub(crate) recorded: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) unmatched: AtomicU64,
    pub(crate) drift: AtomicU64,
    pub(crate) strict_refusals: AtomicU64,
    pub(crate) upstream_failures: AtomicU64,
}

impl Front {
    /// Opens the cassettes and the upstream `config` names.
    ///
    /// # Errors
    ///
    /// Settings that make no mode, an upstream that is not an http(s)
    /// URL, a cassette that cannot be read, a folder that cannot be
    /// written.
    pub(crate) fn open(config: &FrontConfig, time_scale: f64) -> std::io::Result<Self> {
        config
            .check()
            .map_err(|why| std::io::Error::new(std::io::ErrorKind::InvalidInput, why))?;
        let upstream = config.upstream.as_deref().map(Upstream::new).transpose()?;
        let recorder = match (&config.record, &upstream) {
            (Some(dir), Some(upstream)) => Some(Recorder::new(dir, &upstream.base)?),
            _ => None,
        };
        let replay = config
            .replay
            .as_deref()
            .map(cassette::Cassette::load)
            .transpose()?
            .map(|cassette| Replay::new(cassette, time_scale));
        Ok(Self {
            upstream,
            recorder,
            replay,
            strict: config.strict,
            answers: OnceLock::new(),
            drift: Mutex::default(),
            file_urls: Mutex::default(),
            models: Mutex::default(),
            counters: FrontCounters::default(),
        })
    }

    /// Every drift seen so far.
    pub(crate) fn drift(&self) -> Vec<Drift> {
        self.drift.lock_or_recover().clone()
    }

    /// `text` with every token seen replaced, where recording (a
    /// recording session's logs and answers name no token).
    fn scrub(&self, text: &str) -> String {
        match &self.recorder {
            Some(recorder) => recorder.scrub(text),
            None => text.to_string(),
        }
    }

    fn note_drift(&self, call: &str, checked: &'static str, found: Vec<(String, String)>) {
        if found.is_empty() {
            return;
        }
        let scrub = |text: &str| self.scrub(text);
        let mut drift = self.drift.lock_or_recover();
        for (pointer, message) in found {
            let found = Drift {
                call: scrub(call),
                checked,
                pointer: scrub(&pointer),
                message: scrub(&message),
            };
            tracing::warn!(target: "runcomfy_emulator", drift = %found, "drift");
            self.counters.drift.fetch_add(1, Ordering::Relaxed);
            // Kept for the summary, bounded: the count goes on.
            if drift.len() < 10_000 {
                drift.push(found);
            }
        }
    }
}

/// A request to the API, read in full.
struct Incoming {
    method: axum::http::Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    endpoint: Option<Endpoint>,
}

impl Incoming {
    fn path_and_query(&self) -> String {
        match &self.query {
            Some(query) => format!("{}?{query}", self.path),
            None => self.path.clone(),
        }
    }

    fn bearer(&self) -> Option<&str> {
        self.headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")
    }

    /// The call with its ids generalised, for drift reports:
    /// `GET /v1/requests/{request_id}/status`.
    fn call(&self) -> String {
        let path = match replay::request_id_in(&self.path) {
            Some(id) => self.path.replacen(id, "{request_id}", 1),
            None => self.path.clone(),
        };
        format!("{} {path}", self.method)
    }
}

/// Every API request in front mode.
pub(super) async fn api(State(shared): SharedState, request: Request) -> Response {
    let front = shared
        .front
        .as_ref()
        .expect("front routes only in front mode");
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            "the request body is over 64 MiB",
        );
    };
    let incoming = Incoming {
        endpoint: classify(&parts.method, parts.uri.path()),
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(String::from),
        headers: parts.headers,
        body,
    };
    if let Some(recorder) = &front.recorder
        && let Some(token) = incoming.bearer()
    {
        recorder.saw_token(token);
    }
    if let Some(replay) = &front.replay {
        let hash = body_hash(&incoming.body);
        let asked = Asked {
            method: incoming.method.as_str(),
            path: &incoming.path,
            query: incoming.query.as_deref(),
            body_sha256: hash.as_deref(),
            token_accepted: incoming.bearer() == Some(shared.config.token.as_str()),
        };
        if let Some(exchange) = replay.answer(&asked) {
            front.counters.replayed.fetch_add(1, Ordering::Relaxed);
            note_job_model(front, &incoming, exchange.body.as_ref());
            return replayed(&shared, replay, exchange);
        }
        if front.upstream.is_none() {
            if !asked.token_accepted {
                shared.counters.unauthorized.fetch_add(1, Ordering::Relaxed);
                return unauthorized();
            }
            front.counters.unmatched.fetch_add(1, Ordering::Relaxed);
            let message = format!(
                "replay: no recording for {}; the cassette holds: {}",
                asked.describe(),
                replay.holdings()
            );
            tracing::warn!(target: "runcomfy_emulator", "{message}");
            return error_response(StatusCode::NOT_FOUND, None, &message);
        }
    }
    forward(&shared, front, incoming).await
}

/// Sends a request upstream (refusing an invalid submit first when
/// strict), records and checks the exchange, and answers with upstream's
/// answer.
async fn forward(shared: &Shared, front: &Front, incoming: Incoming) -> Response {
    let upstream = front
        .upstream
        .as_ref()
        .expect("a front without a cassette has an upstream");
    let call = incoming.call();
    if incoming.endpoint == Some(Endpoint::Submit)
        && let Some(model) = submitted_model(&incoming.path)
    {
        let found = drift::check_submit(model, &incoming.body);
        if front.strict && !found.is_empty() {
            front
                .counters
                .strict_refusals
                .fetch_add(1, Ordering::Relaxed);
            front.note_drift(&call, "request", found.clone());
            let detail: Vec<Value> = found
                .into_iter()
                .map(|(pointer, message)| {
                    json!({"loc": ["body", pointer], "msg": message, "type": "strict"})
                })
                .collect();
            return validation_failed(Value::Array(detail));
        }
        front.note_drift(&call, "request", found);
    }
    let answer = upstream
        .forward(
            &incoming.method,
            &incoming.path_and_query(),
            &incoming.headers,
            incoming.body.clone(),
        )
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => {
            front
                .counters
                .upstream_failures
                .fetch_add(1, Ordering::Relaxed);
            let message = front.scrub(&error.to_string());
            return error_response(StatusCode::BAD_GATEWAY, None, &message);
        }
    };
    front.counters.forwarded.fetch_add(1, Ordering::Relaxed);
    let json_body: Option<Value> = serde_json::from_slice(&answer.body).ok();
    note_job_model(front, &incoming, json_body.as_ref());
    check_answer(front, &incoming, &call, &answer, json_body.as_ref());
    if let Some(recorder) = &front.recorder {
        record_api(front, recorder, &incoming, &answer, json_body.clone());
    }
    respond(
        shared,
        front,
        answer.status,
        &answer.headers,
        json_body,
        &answer.body,
    )
}

/// The built-in model a submit path names, if any.
fn submitted_model(path: &str) -> Option<&'static ModelDescriptor> {
    ModelDescriptor::find(path.strip_prefix("/v1/models/")?)
}

/// Remembers which model a submitted job runs (for checking its output).
fn note_job_model(front: &Front, incoming: &Incoming, answer: Option<&Value>) {
    if incoming.endpoint != Some(Endpoint::Submit) {
        return;
    }
    let model = incoming
        .path
        .strip_prefix("/v1/models/")
        .unwrap_or_default();
    if let Some(id) = answer.and_then(|a| a["request_id"].as_str()) {
        front
            .models
            .lock_or_recover()
            .insert(id.to_string(), model.to_string());
    }
}

/// Checks an upstream answer against the OpenAPI file, and a completed
/// result's output against its model's output schema.
fn check_answer(
    front: &Front,
    incoming: &Incoming,
    call: &str,
    answer: &Forwarded,
    json_body: Option<&Value>,
) {
    let Some(endpoint) = incoming.endpoint else {
        return;
    };
    let content_type = answer
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let found = front.answers.get_or_init(AnswerSchemas::new).check(
        endpoint,
        answer.status,
        content_type,
        &answer.body,
    );
    front.note_drift(call, "answer", found);
    let Some(body) = json_body else { return };
    let completed = matches!(body["status"].as_str(), Some("completed" | "succeeded"));
    if endpoint != Endpoint::Result || !completed || !body["output"].is_object() {
        return;
    }
    let id = replay::request_id_in(&incoming.path).unwrap_or_default();
    let model_id = body["model_id"]
        .as_str()
        .map(String::from)
        .or_else(|| front.models.lock_or_recover().get(id).cloned());
    if let Some(model) = model_id.as_deref().and_then(ModelDescriptor::find) {
        front.note_drift(call, "output", drift::check_output(model, &body["output"]));
    }
}

/// Writes an API exchange to the cassette.
fn record_api(
    front: &Front,
    recorder: &Recorder,
    incoming: &Incoming,
    answer: &Forwarded,
    json_body: Option<Value>,
) {
    let text_body = match json_body {
        Some(_) => None,
        None => Some(String::from_utf8_lossy(&answer.body).into_owned()),
    };
    let exchange = Exchange {
        source: recorder.source(format!("{} {}", incoming.method, incoming.path)),
        kind: format!(
            "recorded by runcomfy emulator against {}",
            recorder_upstream(front)
        ),
        method: incoming.method.to_string(),
        path: incoming.path.clone(),
        query: incoming.query.clone(),
        request_body_sha256: body_hash(&incoming.body),
        authorization: if incoming.bearer().is_some() {
            "bearer".into()
        } else {
            "none".into()
        },
        at_ms: recorder.now_ms(),
        http_status: answer.status,
        headers: kept_headers(&answer.headers),
        body: json_body,
        body_text: text_body.filter(|t| !t.is_empty()),
        body_file: None,
        url: None,
    };
    write(front, recorder, &exchange);
}

fn recorder_upstream(front: &Front) -> &str {
    front.upstream.as_ref().map_or("", |u| u.base.as_str())
}

fn write(front: &Front, recorder: &Recorder, exchange: &Exchange) {
    match recorder.write(exchange) {
        Ok(_) => {
            front.counters.recorded.fetch_add(1, Ordering::Relaxed);
        }
        Err(error) => {
            tracing::error!(target: "runcomfy_emulator", %error, "cannot write the recording");
        }
    }
}

/// Answers with a recorded exchange.
fn replayed(shared: &Shared, replay: &Replay, exchange: &Exchange) -> Response {
    let bytes = match exchange.answer_bytes(&replay.cassette.dir) {
        Ok(bytes) => bytes,
        Err(error) => {
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                &format!("replay: cannot read the recorded answer: {error}"),
            );
        }
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &exchange.headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    let front = shared.front.as_ref().expect("front mode");
    respond(
        shared,
        front,
        exchange.http_status,
        &headers,
        exchange.body.clone(),
        &bytes,
    )
}

/// Answers the caller: the status, the headers a client reads, the body
/// (a result's file URLs rewritten to the file server).
fn respond(
    shared: &Shared,
    front: &Front,
    status: u16,
    headers: &HeaderMap,
    json_body: Option<Value>,
    raw: &[u8],
) -> Response {
    let body = match json_body {
        Some(mut body) if body.get("output").is_some_and(Value::is_object) => {
            rewrite_file_urls(front, &mut body["output"], &shared.bases.files);
            Body::from(serde_json::to_vec(&body).unwrap_or_default())
        }
        _ => Body::from(raw.to_vec()),
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    for name in kept_headers(headers).keys() {
        if let Some(value) = headers.get(name.as_str()) {
            response.headers_mut().insert(
                header::HeaderName::from_bytes(name.as_bytes()).expect("a kept header name"),
                value.clone(),
            );
        }
    }
    response
}

/// Points every URL of an output at the emulator's file server:
/// `{files_base}/files/<first 16 hex of the URL's SHA-256>/<file name>`.
fn rewrite_file_urls(front: &Front, value: &mut Value, files_base: &str) {
    match value {
        Value::String(url) if url.starts_with("https://") || url.starts_with("http://") => {
            let path = file_path_for(url);
            front
                .file_urls
                .lock_or_recover()
                .insert(path.clone(), url.clone());
            *url = format!("{files_base}{path}");
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| rewrite_file_urls(front, v, files_base)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|v| rewrite_file_urls(front, v, files_base)),
        _ => {}
    }
}

/// The file server's path for a result URL: stable across record and
/// replay, named as the URL names the file.
pub(crate) fn file_path_for(url: &str) -> String {
    let key = &sha256_hex(url.as_bytes())[..16];
    let name = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.rfind(|s| !s.is_empty()).map(String::from))
        })
        .map(|segment| crate::download::safe_chars(&segment))
        .filter(|name| !name.trim_matches('.').is_empty())
        .unwrap_or_else(|| "file".into());
    format!("/files/{key}/{name}")
}

/// A result's file, in front mode: from the cassette, or fetched from its
/// host (and recorded).
pub(super) async fn file(
    State(shared): SharedState,
    uri: axum::http::Uri,
    headers: HeaderMap,
    fault: Option<axum::Extension<InjectedFault>>,
) -> Response {
    let front = shared
        .front
        .as_ref()
        .expect("front routes only in front mode");
    if headers.contains_key(header::AUTHORIZATION) {
        shared
            .counters
            .file_requests_with_authorization
            .fetch_add(1, Ordering::Relaxed);
    }
    let fault = fault.map(|f| f.0.0);
    let path = uri.path().to_string();
    if let Some(replay) = &front.replay
        && let Some(replayed) = replayed_file(&shared, replay, &path, &headers, fault.clone())
    {
        return replayed;
    }
    let url = front.file_urls.lock_or_recover().get(&path).cloned();
    let (Some(upstream), Some(url)) = (&front.upstream, url) else {
        if front.replay.is_some() {
            front.counters.unmatched.fetch_add(1, Ordering::Relaxed);
        }
        return error_response(StatusCode::NOT_FOUND, None, "no such file");
    };
    let fetched = match upstream.fetch_file(&url).await {
        Ok(fetched) => fetched,
        Err(error) => {
            front
                .counters
                .upstream_failures
                .fetch_add(1, Ordering::Relaxed);
            return error_response(StatusCode::BAD_GATEWAY, None, &error.to_string());
        }
    };
    front.counters.forwarded.fetch_add(1, Ordering::Relaxed);
    if let Some(recorder) = &front.recorder {
        record_file(front, recorder, &path, &url, &fetched);
    }
    if fetched.status != 200 {
        return respond_status(fetched.status, fetched.body);
    }
    let content_type = fetched
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    file_response(
        fetched.body,
        &content_type,
        &headers,
        fault,
        &shared.counters.bytes_served,
    )
}

/// A result's file as the cassette recorded it, if it holds it (files
/// need no token: every recorded download may answer).
fn replayed_file(
    shared: &Shared,
    replay: &Replay,
    path: &str,
    headers: &HeaderMap,
    fault: Option<super::faults::Fault>,
) -> Option<Response> {
    let asked = Asked {
        method: "GET",
        path,
        query: None,
        body_sha256: None,
        token_accepted: true,
    };
    let exchange = replay.answer(&asked)?;
    let front = shared.front.as_ref().expect("front mode");
    front.counters.replayed.fetch_add(1, Ordering::Relaxed);
    let bytes = match exchange.answer_bytes(&replay.cassette.dir) {
        Ok(bytes) => Bytes::from(bytes),
        Err(error) => {
            return Some(error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                &format!("replay: the recorded file is missing: {error}"),
            ));
        }
    };
    if exchange.http_status != 200 {
        return Some(respond_status(exchange.http_status, bytes));
    }
    let content_type = exchange
        .headers
        .get("content-type")
        .map_or("application/octet-stream", String::as_str);
    Some(file_response(
        bytes,
        content_type,
        headers,
        fault,
        &shared.counters.bytes_served,
    ))
}

fn respond_status(status: u16, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    response.into_response()
}

/// Writes a file download to the cassette, its bytes stored once.
fn record_file(front: &Front, recorder: &Recorder, path: &str, url: &str, fetched: &Forwarded) {
    let stored = match recorder.store_file(&fetched.body) {
        Ok(stored) => stored,
        Err(error) => {
            tracing::error!(target: "runcomfy_emulator", %error, "cannot store the file");
            return;
        }
    };
    let exchange = Exchange {
        source: recorder.source(format!("GET {path} (a result's file)")),
        kind: format!(
            "file downloaded through runcomfy emulator from {}",
            host_of(url)
        ),
        method: "GET".into(),
        path: path.to_string(),
        query: None,
        request_body_sha256: None,
        authorization: "none".into(),
        at_ms: recorder.now_ms(),
        http_status: fetched.status,
        headers: kept_headers(&fetched.headers),
        body: None,
        body_text: None,
        body_file: Some(stored),
        url: Some(url.to_string()),
    };
    write(front, recorder, &exchange);
}

fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(String::from))
        .unwrap_or_default()
}
