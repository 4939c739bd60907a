//! The emulator answers with exactly the keys, key order and value formats
//! of RunComfy's recorded answers (the default flavour), or of its docs'
//! examples (the docs flavour): the shapes are read from the corpus in
//! `tests/fixtures/recorded/`, not written here, so the emulator and the
//! recordings can never drift apart silently.

use crate::common;

use common::{Api, fast, one_busy_worker};
use runcomfy::emulator::{Emulator, Flavour};
use serde_json::{Value, json};
use std::path::Path;

/// A value's format: what a client could rely on, not the value itself.
fn format_of(value: &Value) -> Value {
    match value {
        Value::String(s) if is_uuid_v4(s) => json!("uuid-v4"),
        Value::String(s) if is_live_timestamp(s) => json!("timestamp-micros-utc-offset"),
        Value::String(s) if s.starts_with("https://") || s.starts_with("http://") => json!("url"),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => json!("null"),
        Value::Array(items) => Value::Array(items.iter().take(1).map(format_of).collect()),
        Value::Object(_) => json!("object"),
    }
}

/// An answer's shape: its keys in order, each with its value's format;
/// an output's own keys depend on the model, so only the formats of its
/// values count.
fn shape(body: &Value) -> Vec<(String, Value)> {
    body.as_object()
        .expect("an object")
        .iter()
        .map(|(key, value)| {
            let format = match key.as_str() {
                "output" if value.is_object() => {
                    let mut formats: Vec<Value> = value
                        .as_object()
                        .expect("an object")
                        .values()
                        .map(format_of)
                        .collect();
                    formats.dedup();
                    json!({"output values": formats})
                }
                "status" => json!(format!("status {}", value.as_str().unwrap_or("?"))),
                _ => format_of(value),
            };
            (key.clone(), format)
        })
        .collect()
}

fn is_uuid_v4(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| {
            g.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        && groups[2].starts_with('4')
        && groups[3].starts_with(['8', '9', 'a', 'b'])
}

/// `2025-12-14T08:39:21.009655+00:00`.
fn is_live_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 32
        && s.ends_with("+00:00")
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && s[20..26].bytes().all(|c| c.is_ascii_digit())
}

/// The body of a corpus file, the docs' `{request_id}` filled in.
fn recorded(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/recorded")
        .join(name);
    let document: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("in the corpus")).expect("JSON");
    let text = document["body"]
        .to_string()
        .replace("{request_id}", "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9");
    serde_json::from_str(&text).expect("JSON")
}

/// The shape every corpus file with this prefix shares (they must agree).
fn recorded_shape(prefix: &str) -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recorded");
    let mut shapes: Vec<Vec<(String, Value)>> = std::fs::read_dir(dir)
        .expect("the corpus")
        .filter_map(|e| {
            let name = e.expect("entry").file_name().to_string_lossy().into_owned();
            name.starts_with(prefix).then(|| shape(&recorded(&name)))
        })
        .collect();
    assert!(!shapes.is_empty(), "no recording starts with {prefix}");
    shapes.dedup();
    assert_eq!(
        shapes.len(),
        1,
        "the recordings {prefix}* disagree: {shapes:?}"
    );
    shapes.pop().expect("one")
}

async fn emulator(config: runcomfy::emulator::EmulatorConfig) -> (Emulator, Api) {
    let emulator = Emulator::start(config).await.expect("starts");
    let api = Api::new(&emulator);
    (emulator, api)
}

#[tokio::test]
async fn recorded_flavour_answers_submit_and_result_exactly_as_recorded() {
    let (_busy, api) = emulator(one_busy_worker()).await;
    let response = api
        .submit_raw(&json!({"prompt": "a red fox"}))
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    let submitted: Value = response.json().await.expect("JSON");
    assert_eq!(shape(&submitted), recorded_shape("real_submit_"));

    let id = submitted["request_id"].as_str().expect("an id");
    api.reaches(id, "in_progress").await;
    let running = api.result(id).await;
    assert_eq!(shape(&running), recorded_shape("real_result_in_progress_"));

    let (_fast, api) = emulator(fast()).await;
    let id = api.submit(json!({"prompt": "a red fox"})).await;
    let completed = api.finished(&id).await;
    assert_eq!(shape(&completed), recorded_shape("real_result_completed_"));
}

#[tokio::test]
async fn docs_flavour_answers_as_the_docs_examples_do() {
    let (_busy, api) = emulator(one_busy_worker().flavour(Flavour::Docs)).await;
    let response = api
        .submit_raw(&json!({"prompt": "a red fox"}))
        .await
        .expect("answers");
    let submitted: Value = response.json().await.expect("JSON");
    assert_eq!(
        shape(&submitted),
        shape(&recorded("docs_submit_response.json"))
    );
    let running_id = submitted["request_id"].as_str().expect("an id").to_string();
    let queued_id = api.submit(json!({"prompt": "a second fox"})).await;
    // While a job is not finished, the docs' result answers its status.
    api.reaches(&running_id, "in_progress").await;
    let queued = api.result(&queued_id).await;
    assert_eq!(
        shape(&queued),
        shape(&recorded("docs_status_in_queue.json"))
    );
    // The docs' cancel: 202, {request_id, status, outcome}.
    let (code, cancelled) = api.cancel(&queued_id).await;
    assert_eq!(code, 202);
    let docs_cancel = recorded("docs_cancel_202.json");
    let keys = |v: &Value| {
        v.as_object()
            .expect("object")
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&cancelled), keys(&docs_cancel));

    // A completed result: the docs' example keys (succeeded, output), then
    // the other documented fields, in the documented order.
    let (_fast, api) = emulator(fast().flavour(Flavour::Docs)).await;
    let id = api.submit(json!({"prompt": "a red fox"})).await;
    let completed = api.finished(&id).await;
    let example = shape(&recorded("docs_result_succeeded.json"));
    let got = shape(&completed);
    assert_eq!(&got[..2], &example[..2], "{completed}");
    // Kling's output is one video URL; the docs' example has more kinds of
    // output, all URLs.
    assert_eq!(got[2].0, "output");
    let formats = |shape: &Value| shape["output values"].as_array().expect("formats").clone();
    for format in formats(&got[2].1) {
        assert!(formats(&example[2].1).contains(&format), "{format}");
    }
    let documented = ["created_at", "finished_at", "error"];
    assert_eq!(
        got[3..].iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        documented
    );
    assert_eq!(completed["error"], Value::Null);
    assert!(is_live_timestamp(
        completed["finished_at"].as_str().expect("a time")
    ));
}

#[tokio::test]
async fn recorded_flavour_cancels_with_202_and_the_documented_keys() {
    let (_busy, api) = emulator(one_busy_worker()).await;
    let running = api.submit(json!({"prompt": "a"})).await;
    let queued = api.submit(json!({"prompt": "b"})).await;
    api.reaches(&running, "in_progress").await;
    let (code, body) = api.cancel(&queued).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["outcome"], "cancelled");
    let (code, body) = api.cancel(&running).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["outcome"], "not_cancellable");
    // A cancelled job's result: the recorded keys, no null ones.
    let result = api.result(&queued).await;
    assert!(
        result
            .as_object()
            .expect("object")
            .values()
            .all(|v| !v.is_null()),
        "{result}"
    );
}

#[tokio::test]
async fn the_format_checks_tell_recorded_values_from_others() {
    assert!(is_uuid_v4("323b27e1-2de2-41b1-bf6e-a4b4602e1a75"));
    assert!(!is_uuid_v4("323b27e1-2de2-11b1-bf6e-a4b4602e1a75"));
    assert!(!is_uuid_v4("323b27e1-2de2-41b1-7f6e-a4b4602e1a75"));
    assert!(is_live_timestamp("2025-12-14T08:39:21.009655+00:00"));
    assert!(!is_live_timestamp("2025-12-14T08:39:21.009Z"));
    assert!(!is_live_timestamp("2025-12-14T08:39:21.009655Z"));
}
