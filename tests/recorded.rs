//! The conformance corpus: every answer RunComfy was recorded giving (and
//! every example of its docs and of its own clients), served byte for
//! byte from a raw loopback server to the client's matching call, must
//! decode to what the answer says: a status, a completion time, outputs, a
//! cost, a failed job's message, a cancel outcome, or the documented error.
//!
//! The test enumerates `tests/fixtures/recorded/`: adding a recording
//! needs no code. Which call a file answers comes from its `method` and
//! `path` (files written by `runcomfy emulator --record`) or else from its
//! name (`*_submit_*`, `*_status_*`, `*_result_*`, `*_cancel_*`,
//! `*_catalog_*`); the expected value comes from the body, by the rules
//! in `expectation` below, which restate RunComfy's documented contract
//! (and its clients' readings) independently of the client's code.
//!
//! The docs' examples name the job `{request_id}`, a template: that
//! placeholder is replaced with a real id before serving; nothing else of
//! a body is touched.

mod common;

use common::raw_server::{RawServer, Reply, json};
use runcomfy::{
    CancelOutcome, Client, DynamicModel, Error, JobTicket, ModelDescriptor, RetryPolicy, Status,
};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The id the docs' `{request_id}` placeholder becomes.
const TEMPLATE_ID: &str = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
const TOKEN: &str = "sk-corpus-token";

/// One recorded answer.
struct Recording {
    file: PathBuf,
    call: Call,
    http_status: u16,
    body: Value,
}

/// The client call a recording answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Submit,
    Status,
    Result,
    Cancel,
    ModelInfo,
    ModelList,
    Categories,
}

impl Call {
    /// From a recorder's `method` and `path`.
    fn from_request(method: &str, path: &str) -> Option<Self> {
        let path = path.split('?').next().unwrap_or_default();
        if let Some(rest) = path.strip_prefix("/v1/requests/") {
            return match (method, rest.rsplit('/').next()) {
                ("GET", Some("status")) => Some(Self::Status),
                ("GET", Some("result")) => Some(Self::Result),
                ("POST", Some("cancel")) => Some(Self::Cancel),
                _ => None,
            };
        }
        match (method, path) {
            ("GET", "/v1/models") => Some(Self::ModelList),
            ("GET", "/v1/models/categories") => Some(Self::Categories),
            ("POST", p) if p.starts_with("/v1/models/") => Some(Self::Submit),
            ("GET", p) if p.starts_with("/v1/models/") => Some(Self::ModelInfo),
            _ => None,
        }
    }

    /// From a file name such as `real_result_completed_b9a9e025.json`.
    fn from_name(name: &str) -> Option<Self> {
        [
            ("_submit_", Self::Submit),
            ("_status_", Self::Status),
            ("_result_", Self::Result),
            ("_cancel_", Self::Cancel),
            ("_catalog_", Self::ModelInfo),
        ]
        .into_iter()
        .find(|(marker, _)| name.contains(marker))
        .map(|(_, call)| call)
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recorded")
}

/// Every recording of the corpus that answers an API call (a recorded file
/// download is checked by its hash, not decoded).
fn corpus() -> Vec<Recording> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("the corpus folder")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|file| {
            let text = std::fs::read_to_string(&file).expect("readable");
            let document: Value = serde_json::from_str(&text).expect("JSON");
            assert!(
                document["source"].is_object(),
                "{}: every recording keeps its source note",
                file.display()
            );
            let name = file.file_name()?.to_str()?.to_string();
            let call = match (document["method"].as_str(), document["path"].as_str()) {
                (Some(method), Some(path)) => Call::from_request(method, path),
                _ => Call::from_name(&name),
            };
            let call = call.unwrap_or_else(|| panic!("{name}: which call does it answer?"));
            let http_status = document["http_status"]
                .as_u64()
                .map_or(200, |s| u16::try_from(s).expect("an HTTP status"));
            let body = document.get("body")?.clone();
            Some(Recording {
                file,
                call,
                http_status,
                body: untemplated(body),
            })
        })
        .collect()
}

/// The body with the docs' `{request_id}` placeholder filled in.
fn untemplated(body: Value) -> Value {
    let text = body.to_string().replace("{request_id}", TEMPLATE_ID);
    serde_json::from_str(&text).expect("still JSON")
}

/// The request id a recording is about (what the client asks for).
fn request_id_of(recording: &Recording) -> String {
    recording.body["request_id"]
        .as_str()
        .unwrap_or(TEMPLATE_ID)
        .to_string()
}

/// What the client must make of a recording.
#[derive(Debug, PartialEq)]
enum Expected {
    Submitted {
        request_id: String,
        status_url: Option<String>,
    },
    Status(Status),
    Finished {
        output: Value,
        created_at: Option<String>,
        finished_at: Option<String>,
        cost: Option<f64>,
        urls: Vec<String>,
    },
    NotFinished(Status),
    Failed {
        code: Option<String>,
        message: String,
    },
    Cancelled,
    Cancel(CancelOutcome),
    Model {
        model_id: String,
        price: Option<f64>,
        unit: Option<String>,
    },
    Refused {
        status: u16,
        code: Option<u64>,
    },
}

/// The documented reading of a status string (RunComfy's docs, plus the
/// spellings its own clients treat alike).
fn status_named(name: &str, position: Option<u64>) -> Status {
    match name {
        "in_queue" | "pending" | "waiting" => Status::InQueue { position },
        "in_progress" | "starting" | "processing" => Status::InProgress,
        "completed" | "succeeded" => Status::Completed,
        "cancelled" | "canceled" => Status::Cancelled,
        "failed" => Status::Failed,
        other => panic!("the corpus has a status no rule reads: {other}"),
    }
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(String::from)
}

fn http_urls(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s)
            if (s.starts_with("https://") || s.starts_with("http://")) && !out.contains(s) =>
        {
            out.push(s.clone());
        }
        Value::Array(items) => items.iter().for_each(|v| http_urls(v, out)),
        Value::Object(map) => map.values().for_each(|v| http_urls(v, out)),
        _ => {}
    }
}

/// What `recording` means, read from its body.
fn expectation(recording: &Recording) -> Expected {
    let body = &recording.body;
    if recording.http_status >= 300 {
        return Expected::Refused {
            status: recording.http_status,
            code: body["error_code"].as_u64(),
        };
    }
    match recording.call {
        Call::Submit => Expected::Submitted {
            request_id: request_id_of(recording),
            status_url: text(&body["status_url"]),
        },
        Call::Status => Expected::Status(status_named(
            body["status"]
                .as_str()
                .expect("a status answer has a status"),
            body["queue_position"].as_u64(),
        )),
        Call::Result => {
            let status = match body["status"].as_str() {
                Some(name) => status_named(name, None),
                None => Status::Completed,
            };
            match status {
                Status::Completed => {
                    let mut urls = Vec::new();
                    http_urls(&body["output"], &mut urls);
                    // The live API says completed_at, the docs finished_at.
                    let finished = body
                        .get("completed_at")
                        .filter(|v| !v.is_null())
                        .or_else(|| body.get("finished_at"));
                    Expected::Finished {
                        output: body["output"].clone(),
                        created_at: text(&body["created_at"]),
                        finished_at: finished.and_then(text),
                        cost: body["cost"].as_f64(),
                        urls,
                    }
                }
                // A failed job's error: a bare string, or {code, message}.
                Status::Failed => match &body["error"] {
                    Value::String(message) => Expected::Failed {
                        code: None,
                        message: message.clone(),
                    },
                    error => Expected::Failed {
                        code: text(&error["code"]),
                        message: text(&error["message"]).expect("a failure's message"),
                    },
                },
                Status::Cancelled => Expected::Cancelled,
                other => Expected::NotFinished(other),
            }
        }
        // The docs: cancelled or not_cancellable; RunComfy's clients also
        // cancellation_requested, which a status of cancelled confirms.
        Call::Cancel => {
            Expected::Cancel(match (body["outcome"].as_str(), body["status"].as_str()) {
                (Some("cancelled"), _) => CancelOutcome::Cancelled,
                (Some("not_cancellable"), _) => CancelOutcome::NotCancellable,
                (_, Some("cancelled")) => CancelOutcome::Cancelled,
                (Some("cancellation_requested"), _) => CancelOutcome::CancellationRequested,
                other => panic!("the corpus has a cancel answer no rule reads: {other:?}"),
            })
        }
        Call::ModelInfo => Expected::Model {
            model_id: text(&body["model_id"]).expect("a model id"),
            price: body["base_price_usd"].as_f64(),
            unit: text(&body["price_unit"]),
        },
        Call::ModelList | Call::Categories => {
            panic!("no rule reads a recorded {:?} yet", recording.call)
        }
    }
}

/// What the client made of `recording`, in the same terms.
async fn decoded(client: &Client, recording: &Recording) -> Expected {
    let id = request_id_of(recording);
    // A handle that knows the model the answer names, if it names one (a
    // result for another model is refused; see below).
    let ticket = JobTicket {
        request_id: id.clone(),
        model_id: text(&recording.body["model_id"]),
        status_url: None,
        result_url: None,
        cancel_url: None,
        work: None,
    };
    let job = client
        .resume::<DynamicModel>(ticket)
        .expect("a valid request id");
    let refused = |error: Error| match error.api_error() {
        Some(api) => Expected::Refused {
            status: api.status,
            code: api.code,
        },
        None => panic!("{}: unexpected error {error:?}", recording.file.display()),
    };
    match recording.call {
        Call::Submit => {
            let model = ModelDescriptor::find(common::MODEL).expect("built in");
            let input = serde_json::json!({"prompt": "a red fox"});
            match client.submit_json(model, &input).await {
                Ok(job) => Expected::Submitted {
                    request_id: job.request_id().to_string(),
                    status_url: job.ticket().status_url.clone(),
                },
                Err(error) => refused(error),
            }
        }
        Call::Status => match job.status().await {
            Ok(status) => Expected::Status(status),
            Err(error) => refused(error),
        },
        Call::Result => match job.result().await {
            Ok(result) => Expected::Finished {
                urls: result.urls(),
                output: result.output,
                created_at: result.created_at,
                finished_at: result.finished_at,
                cost: result.cost,
            },
            Err(Error::NotFinished { status, .. }) => Expected::NotFinished(status),
            Err(Error::JobFailed { code, message, .. }) => Expected::Failed { code, message },
            Err(Error::JobCancelled { .. }) => Expected::Cancelled,
            Err(error) => refused(error),
        },
        Call::Cancel => match job.cancel().await {
            Ok(outcome) => Expected::Cancel(outcome),
            Err(error) => refused(error),
        },
        Call::ModelInfo => {
            let model_id = text(&recording.body["model_id"]).expect("a model id");
            match client.model_info(&model_id).await {
                Ok(info) => Expected::Model {
                    model_id: info.model_id,
                    price: info.base_price_usd,
                    unit: info.price_unit,
                },
                Err(error) => refused(error),
            }
        }
        Call::ModelList | Call::Categories => unreachable!("refused by expectation()"),
    }
}

/// A raw server that answers every request with the recording's status
/// and body, and the client pointed at it (no retries: one answer each).
async fn serve(recording: &Recording) -> (RawServer, Client) {
    let (status, body) = (recording.http_status, recording.body.to_string());
    let server = RawServer::start(move |_| -> Reply { json(status, &[], &body) }).await;
    let client = Client::builder()
        .token(TOKEN)
        .base_url(server.base_url())
        .retry(RetryPolicy::none())
        .include_cost(true)
        .build()
        .expect("builds");
    (server, client)
}

#[tokio::test]
async fn every_recorded_answer_decodes_to_what_it_says() {
    let corpus = corpus();
    assert!(corpus.len() >= 26, "the corpus holds the shared recordings");
    for recording in &corpus {
        let name = recording
            .file
            .file_name()
            .expect("a name")
            .to_string_lossy();
        let (server, client) = serve(recording).await;
        let got = decoded(&client, recording).await;
        assert_eq!(got, expectation(recording), "{name}");
        // One request, the one this recording answers.
        let requests = server.requests();
        assert_eq!(requests.len(), 1, "{name}: {requests:?}");
        let target = &requests[0].target;
        let path = target.split('?').next().unwrap_or_default();
        assert_eq!(
            Call::from_request(&requests[0].method, path),
            Some(recording.call),
            "{name}: the client sent {} {target}",
            requests[0].method
        );
    }
}

#[tokio::test]
async fn the_corpus_covers_every_shape_the_client_must_read() {
    let expectations: Vec<Expected> = corpus().iter().map(expectation).collect();
    let has = |wanted: fn(&Expected) -> bool| expectations.iter().any(wanted);
    assert!(has(|e| matches!(e, Expected::Submitted { .. })));
    assert!(has(|e| matches!(
        e,
        Expected::Status(Status::InQueue { position: Some(3) })
    )));
    assert!(has(|e| matches!(
        e,
        Expected::NotFinished(Status::InProgress)
    )));
    assert!(has(|e| matches!(
        e,
        Expected::Finished {
            finished_at: Some(_),
            cost: None,
            ..
        }
    )));
    assert!(has(|e| matches!(
        e,
        Expected::Finished { cost: Some(_), .. }
    )));
    assert!(has(|e| matches!(e, Expected::Failed { code: None, .. })));
    for outcome in [CancelOutcome::Cancelled, CancelOutcome::NotCancellable] {
        assert!(expectations.contains(&Expected::Cancel(outcome)));
    }
    assert!(has(|e| matches!(e, Expected::Model { price: Some(_), .. })));
}

/// The recorded completed result, served as recorded.
fn recorded_completed() -> Recording {
    corpus()
        .into_iter()
        .find(|r| r.file.ends_with("real_result_completed_be89f715.json"))
        .expect("in the corpus")
}

#[tokio::test]
async fn a_recorded_completion_time_is_read_from_completed_at() {
    let recording = recorded_completed();
    let (_server, client) = serve(&recording).await;
    let job = client
        .job::<DynamicModel>(&request_id_of(&recording))
        .expect("valid id");
    let result = job.result().await.expect("completed");
    assert_eq!(
        result.finished_at.as_deref(),
        Some("2025-12-14T08:39:21.009655+00:00")
    );
    assert_eq!(
        result.created_at.as_deref(),
        Some("2025-12-14T08:38:35.556806+00:00")
    );
    let urls = result.urls();
    assert_eq!(urls.len(), 1);
    assert!(
        urls[0].contains("Q%3D/"),
        "percent-encoded segments kept as sent: {}",
        urls[0]
    );
}

#[tokio::test]
async fn a_result_for_another_model_than_the_handles_is_refused() {
    let recording = corpus()
        .into_iter()
        .find(|r| {
            r.file
                .ends_with("pn_result_completed_images_with_model_id.json")
        })
        .expect("in the corpus");
    let (_server, client) = serve(&recording).await;
    let ticket = JobTicket {
        request_id: TEMPLATE_ID.into(),
        model_id: Some(common::MODEL.into()),
        status_url: None,
        result_url: None,
        cancel_url: None,
        work: None,
    };
    let job = client.resume::<DynamicModel>(ticket).expect("valid");
    let error = job.result().await.expect_err("another model's output");
    assert!(
        matches!(&error, Error::InvalidResponse { status: 200, request_id: Some(id), .. } if id == TEMPLATE_ID),
        "{error:?}"
    );
    assert!(error.to_string().contains("nano-banana"), "{error}");
}
