//! Entry points for the fuzz targets under `fuzz/` (built only by
//! `cargo fuzz`, which sets `--cfg fuzzing`): everything that parses input
//! from outside.

use crate::status::{CancelOutcome, Status};
use crate::wire::decode;
use serde_json::Value;

/// Reads `body` as every answer RunComfy sends, answered with
/// `status`: an error body, a status, a result (with its output's
/// URLs) and a cancel answer.
pub fn decode_answer(status: u16, body: &[u8]) {
    use crate::generated::api::types as wire;
    let error = decode::classify(decode::api_error_from(status, body, None, Some("r")));
    let _ = error.to_string();
    let _ = decode::is_retryable_error_in_200(body);
    if let Ok(answer) = serde_json::from_slice::<wire::StatusResponse>(body) {
        let _ = decode::same_job("r", answer.request_id.as_deref(), status);
        let position = decode::queue_position(answer.queue_position.as_ref());
        let _ = Status::from_wire(&answer.status, position).to_string();
    }
    if let Ok(answer) = serde_json::from_slice::<wire::ResultResponse>(body) {
        if let Some(error) = &answer.error {
            let _ = decode::failure(error);
        }
        let _ = decode::same_model("r", Some("m"), answer.model_id.as_ref(), status);
        let _ = answer.cost.as_ref().and_then(crate::lenient::number);
        if let Some(output) = answer.output {
            let result = crate::JobResult {
                request_id: "r".into(),
                output: Value::Object(output),
                created_at: None,
                finished_at: None,
                cost: None,
            };
            let urls = result.urls();
            let _ = crate::download::distinct_file_names(&urls);
        }
    }
    if let Ok(answer) = serde_json::from_slice::<wire::CancelResponse>(body) {
        let _ = CancelOutcome::from_wire(answer.outcome.as_deref(), answer.status.as_deref());
    }
}

/// Parses a `Retry-After` value; never more than a day.
pub fn retry_after(value: &str) {
    if let Some(wait) = crate::wire::retry_after::parse_retry_after(value) {
        assert!(wait <= crate::wire::retry_after::MAX_RETRY_AFTER);
    }
}

/// Checks `id` as a request id and as a model id; whatever is accepted
/// stays inside its path segment(s) of a URL.
pub fn ids(id: &str) {
    let base = reqwest::Url::parse("https://model-api.runcomfy.net").expect("a URL");
    if let Ok(id) = crate::wire::ids::validate_request_id(id) {
        let url = base
            .join(&format!(
                "/v1/requests/{}/status",
                progenitor_client::encode_path(&id)
            ))
            .expect("a valid id makes a valid URL");
        let segments: Vec<&str> = url.path_segments().expect("segments").collect();
        assert_eq!(segments, ["v1", "requests", id.as_str(), "status"]);
    }
    if let Ok(model) = crate::wire::ids::validate_model_id(id) {
        let path = format!(
            "/v1/models/{}",
            crate::wire::encode_path_keeping_slashes(model)
        );
        let url = base
            .join(&path)
            .expect("a valid model id makes a valid URL");
        assert_eq!(url.path(), path, "nothing is normalised away");
    }
}

/// Names a file after `url` (and after several URLs at once).
pub fn file_names(urls: &[String]) {
    for url in urls {
        if let Ok(url) = reqwest::Url::parse(url) {
            let name = crate::download::file_name_for(&url);
            assert!(!name.is_empty() && name.len() <= 100, "{name:?}");
            assert!(!name.starts_with('.'), "{name:?}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
                "{name:?}"
            );
        }
    }
    let names = crate::download::distinct_file_names(urls);
    let unique: std::collections::HashSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "names collide: {names:?}");
}

/// Validates `input` for every built-in model, and estimates its cost.
pub fn validate(input: &Value) {
    for model in crate::ModelDescriptor::all() {
        if let Err(error) = model.validate_input(input) {
            let _ = error.to_string();
        }
        let _ = model.estimate_cost(input);
    }
}

/// Compiles `schema` as an input schema (closed to unknown fields, as
/// for every model) and validates `input` against it.
pub fn validate_against(schema: &Value, input: &Value) {
    crate::validation::fuzz_schema(schema, input);
}

/// Sends one submit to an in-process emulator (no sockets): `path`
/// after `/v1/models/`, `content_type` and `body` as given. Returns the
/// HTTP status it answered.
#[cfg(feature = "emulator")]
pub fn emulator_submit(path: &str, content_type: &str, body: &[u8]) -> u16 {
    crate::emulator::fuzz_submit(path, content_type, body)
}
