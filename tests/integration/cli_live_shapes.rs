//! The command line as a user of RunComfy's own CLI docs runs it: the base
//! URL as `RUNCOMFY_MODEL_API_BASE=…/v1`, results with the live API's
//! `completed_at`, the catalogue's kinds and categories, a cancel that
//! was only requested.
#![cfg(feature = "cli")]

use crate::common;

use common::raw_server::{RawServer, json};
use common::standalone::Standalone;
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

/// `runcomfy --json ARGS` with the API base in `RUNCOMFY_MODEL_API_BASE`
/// (and not in `RUNCOMFY_BASE_URL`), in `dir`.
fn runcomfy_with_cli_base(base: &str, dir: &Path, args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("runcomfy")
        .expect("built")
        .arg("--json")
        .args(args)
        .current_dir(dir)
        .env_remove("RUNCOMFY_BASE_URL")
        .env("RUNCOMFY_MODEL_API_BASE", base)
        .env("RUNCOMFY_TOKEN", "emulator-token")
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs")
}

fn document(output: &Output) -> Value {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON document")
}

#[tokio::test(flavor = "multi_thread")]
async fn models_list_and_status_work_with_the_base_runcomfys_cli_docs_set() {
    let emulator = Standalone::with_one_busy_worker(&["--quiet"]);
    let dir = tempfile::tempdir().expect("temp dir");
    for base in [
        format!("{}/v1", emulator.base),
        format!("{}/v1/", emulator.base),
    ] {
        let listed = document(&runcomfy_with_cli_base(
            &base,
            dir.path(),
            &["models", "list"],
        ));
        let models = listed["models"].as_array().expect("models");
        assert!(
            models
                .iter()
                .any(|m| m["model_id"] == common::MODEL && m["kind"] == "model"),
            "{listed}"
        );
        let submitted = document(&runcomfy_with_cli_base(
            &base,
            dir.path(),
            &["generate", "a red fox", "--no-wait"],
        ));
        let id = submitted["request_id"].as_str().expect("an id");
        let status = document(&runcomfy_with_cli_base(&base, dir.path(), &["status", id]));
        assert_eq!(status["request_id"], id);
        assert!(status["status"].is_string(), "{status}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn models_kinds_and_categories_are_listed() {
    let emulator = Standalone::start(&["--quiet"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let categories = document(&runcomfy_with_cli_base(
        &emulator.base,
        dir.path(),
        &["models", "categories"],
    ));
    assert!(
        categories["categories"]
            .as_array()
            .expect("a list")
            .contains(&Value::from("video")),
        "{categories}"
    );
    let workflows = document(&runcomfy_with_cli_base(
        &emulator.base,
        dir.path(),
        &["models", "list", "--kind", "workflow"],
    ));
    assert_eq!(workflows["models"], Value::Array(vec![]));
    let found = document(&runcomfy_with_cli_base(
        &emulator.base,
        dir.path(),
        &["models", "list", "--search", "synchronised sound"],
    ));
    assert_eq!(
        found["models"][0]["model_id"],
        common::MODEL,
        "search looks in descriptions: {found}"
    );
}

/// A raw server that answers every request with this recording's body.
async fn serving(recording: &str) -> RawServer {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/recorded")
        .join(recording);
    let document: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("in the corpus")).expect("JSON");
    let status = document["http_status"].as_u64().unwrap_or(200) as u16;
    let body = document["body"].to_string();
    RawServer::start(move |_| json(status, &[], &body)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn result_json_shows_the_recorded_completion_time() {
    let server = serving("real_result_completed_be89f715.json").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let result = document(&runcomfy_with_cli_base(
        &format!("{}/v1", server.base_url()),
        dir.path(),
        &["result", "be89f715-c630-44a3-8b4a-4584454549bd"],
    ));
    assert_eq!(result["finished_at"], "2025-12-14T08:39:21.009655+00:00");
    assert_eq!(result["created_at"], "2025-12-14T08:38:35.556806+00:00");
    let target = &server.requests()[0].target;
    assert!(
        target.starts_with("/v1/requests/be89f715-c630-44a3-8b4a-4584454549bd/result"),
        "the /v1 of the base is not doubled: {target}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_requested_cancel_is_reported_as_requested_not_raw() {
    let server = serving("pn_cancel_cancellation_requested.json").await;
    let dir = tempfile::tempdir().expect("temp dir");
    // RunComfy's own mock says status: cancelled beside the outcome: that
    // confirms it.
    let cancelled = document(&runcomfy_with_cli_base(
        &server.base_url(),
        dir.path(),
        &["cancel", "be89f715-c630-44a3-8b4a-4584454549bd"],
    ));
    assert_eq!(cancelled["outcome"], "cancelled");

    let body = r#"{"outcome": "cancellation_requested"}"#;
    let server = RawServer::start(move |_| json(202, &[], body)).await;
    let output = assert_cmd::Command::cargo_bin("runcomfy")
        .expect("built")
        .args(["cancel", "be89f715-c630-44a3-8b4a-4584454549bd"])
        .current_dir(dir.path())
        .env("RUNCOMFY_BASE_URL", server.base_url())
        .env("RUNCOMFY_TOKEN", "sk-not-in-any-answer")
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("cancellation requested"), "{text}");
    assert!(!text.contains("cancellation_requested"), "{text}");
}
