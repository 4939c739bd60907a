//! The conformance corpus's reader and checker: every recorded answer of
//! a folder, served byte for byte from a raw loopback server to the
//! client's matching call, must decode to what the answer says (see
//! `tests/integration/recorded.rs`). Shared so that a session recorded by the
//! emulator can be checked as it is written.

use super::raw_server::{RawServer, Reply, json, raw};
use futures::StreamExt;
use runcomfy::{
    CancelOutcome, Client, DynamicModel, Error, JobTicket, ModelDescriptor, ModelQuery,
    RetryPolicy, Status,
};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The id the docs' `{request_id}` placeholder becomes.
pub const TEMPLATE_ID: &str = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
const TOKEN: &str = "sk-corpus-token";

/// One recorded answer.
pub struct Recording {
    pub file: PathBuf,
    pub call: Call,
    pub http_status: u16,
    pub body: Value,
    /// A body that is not JSON (a gateway's page), served as is.
    pub body_text: Option<String>,
    /// The model a model-info answer is about.
    pub model_id: Option<String>,
}

/// The client call a recording answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
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
    pub fn from_request(method: &str, path: &str) -> Option<Self> {
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

/// The shared corpus, in the tests' fixtures.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recorded")
}

/// Every recording of `dir` that answers an API call (a recorded file
/// download is checked by its hash, not decoded).
pub fn recordings(dir: &Path) -> Vec<Recording> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
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
            if document.get("body_file").is_some() {
                return None; // a file download: its bytes, not an answer to decode
            }
            let call = match (document["method"].as_str(), document["path"].as_str()) {
                (Some(method), Some(path)) => Call::from_request(method, path),
                _ => Call::from_name(&name),
            };
            let call = call.unwrap_or_else(|| panic!("{name}: which call does it answer?"));
            let http_status = document["http_status"]
                .as_u64()
                .map_or(200, |s| u16::try_from(s).expect("an HTTP status"));
            let body_text = document["body_text"].as_str().map(String::from);
            let body = match (document.get("body"), &body_text) {
                (Some(body), _) => body.clone(),
                (None, Some(_)) => Value::Null,
                (None, None) => return None,
            };
            // The model a model-info answer is about: its recorded path
            // says, else its body does.
            let model_id = document["path"]
                .as_str()
                .and_then(|p| p.strip_prefix("/v1/models/"))
                .or_else(|| body["model_id"].as_str())
                .map(String::from);
            Some(Recording {
                file,
                call,
                http_status,
                body: untemplated(body),
                body_text,
                model_id,
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
pub fn request_id_of(recording: &Recording) -> String {
    recording.body["request_id"]
        .as_str()
        .unwrap_or(TEMPLATE_ID)
        .to_string()
}

/// What the client must make of a recording.
#[derive(Debug, PartialEq)]
pub enum Expected {
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
    Models(Vec<String>),
    Categories(Vec<String>),
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
pub fn expectation(recording: &Recording) -> Expected {
    let body = &recording.body;
    // An error status, or an error code in a 2xx body that is about no
    // job (RunComfy's disguised errors): a refusal.
    let disguised = body.get("error_code").is_some() && body.get("request_id").is_none();
    if recording.http_status >= 300 || disguised {
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
        Call::ModelList => Expected::Models(
            body["models"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| text(&m["model_id"]))
                .collect(),
        ),
        Call::Categories => Expected::Categories(
            body["categories"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| text(c).or_else(|| text(&c["name"])))
                .collect(),
        ),
    }
}

/// What the client made of `recording`, in the same terms.
pub async fn decoded(client: &Client, recording: &Recording) -> Expected {
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
            let model = ModelDescriptor::find(super::MODEL).expect("built in");
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
            let model_id = recording.model_id.clone().expect("a model id");
            match client.model_info(&model_id).await {
                Ok(info) => Expected::Model {
                    model_id: info.model_id,
                    price: info.base_price_usd,
                    unit: info.price_unit,
                },
                Err(error) => refused(error),
            }
        }
        Call::ModelList => {
            // The first page only: the raw server answers every page alike.
            let listed = recording.body["models"].as_array().map_or(0, Vec::len);
            let models: Vec<_> = client
                .models(ModelQuery::new())
                .take(listed)
                .collect()
                .await;
            match models.into_iter().collect::<Result<Vec<_>, _>>() {
                Ok(models) => Expected::Models(models.into_iter().map(|m| m.model_id).collect()),
                Err(error) => refused(error),
            }
        }
        Call::Categories => match client.categories().await {
            Ok(names) => Expected::Categories(names),
            Err(error) => refused(error),
        },
    }
}

/// A raw server that answers every request with the recording's status
/// and body, and the client pointed at it (no retries: one answer each).
pub async fn serve(recording: &Recording) -> (RawServer, Client) {
    let status = recording.http_status;
    let reply: Reply = match &recording.body_text {
        Some(text) => raw(status, "text/html", &[], text.as_bytes()),
        None => json(status, &[], &recording.body.to_string()),
    };
    let server = RawServer::start(move |_| -> Reply { reply.clone() }).await;
    let client = Client::builder()
        .token(TOKEN)
        .base_url(server.base_url())
        .retry(RetryPolicy::none())
        .include_cost(true)
        .build()
        .expect("builds");
    (server, client)
}

/// Checks every recording of `dir`: each decodes to what it says, from
/// one request, the one it answers. Returns how many were checked.
pub async fn check_folder(dir: &Path) -> usize {
    let recordings = recordings(dir);
    for recording in &recordings {
        let name = recording
            .file
            .file_name()
            .expect("a name")
            .to_string_lossy();
        let (server, client) = serve(recording).await;
        let got = decoded(&client, recording).await;
        assert_eq!(got, expectation(recording), "{name}");
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
    recordings.len()
}
