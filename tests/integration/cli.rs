//! The `runcomfy` command line, run as a process against the standalone
//! emulator (`runcomfy emulator`, itself a process): outputs, `--json`
//! shapes, every exit code, Ctrl-C, `--max-cost`, the schema workflow.
#![cfg(feature = "cli")]

use crate::common;

use common::standalone::Standalone;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

const MODEL: &str = "kling/kling-3.0/standard/text-to-video";

/// An emulator whose jobs take a few milliseconds.
fn fast_emulator() -> Standalone {
    Standalone::start(&["--time-scale", "10000", "--quiet"])
}

/// `runcomfy ARGS` against `emulator`, in `dir`.
fn runcomfy(emulator: &Standalone, dir: &Path, args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("runcomfy")
        .expect("built")
        .args(args)
        .current_dir(dir)
        .env("RUNCOMFY_BASE_URL", &emulator.base)
        .env("RUNCOMFY_TOKEN", "emulator-token")
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs")
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is one JSON document ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn generate_and_run_print_json_documents_and_save_videos() {
    let emulator = fast_emulator();
    let dir = tempfile::tempdir().expect("temp dir");

    let output = runcomfy(
        &emulator,
        dir.path(),
        &[
            "--json",
            "generate",
            "a red fox",
            "--aspect-ratio",
            "9:16",
            "-o",
            "fox.mp4",
        ],
    );
    assert_eq!(code(&output), Some(0), "{}", stderr(&output));
    assert!(
        output.stderr.is_empty(),
        "--json prints nothing else: {}",
        stderr(&output)
    );
    let doc = json_of(&output);
    assert_eq!(doc["status"], "completed");
    assert_eq!(doc["model_id"], MODEL);
    assert!(doc["request_id"].is_string());
    assert!(doc["cost_usd"].as_f64().is_some(), "{doc}");
    assert_eq!(doc["files"], json!(["fox.mp4"]));
    let bytes = std::fs::read(dir.path().join("fox.mp4")).expect("saved");
    assert_eq!(common::assert_playable_mp4(&bytes), (144, 256));

    // Any model by id, shots readable on the command line, URLs only.
    let output = runcomfy(
        &emulator,
        dir.path(),
        &[
            "--json",
            "run",
            MODEL,
            "--prompt",
            "a bike ride",
            "--shot",
            "4:wide street",
            "--shot",
            "3:close-up",
            "--no-download",
        ],
    );
    assert_eq!(code(&output), Some(0), "{}", stderr(&output));
    let doc = json_of(&output);
    assert_eq!(doc["files"], json!([]));
    assert!(
        doc["urls"][0]
            .as_str()
            .expect("a URL")
            .starts_with("http://")
    );
    // 7 s with sound at $0.126: the duration followed the shots.
    assert!(
        (doc["cost_usd"].as_f64().expect("cost") - 0.882).abs() < 1e-9,
        "{doc}"
    );

    // A body from stdin, flags over it; text output is the file's path.
    let output = assert_cmd::Command::cargo_bin("runcomfy")
        .expect("built")
        .args([
            "run",
            MODEL,
            "--input",
            "-",
            "--duration",
            "3",
            "--output-dir",
            "videos",
        ])
        .current_dir(dir.path())
        .env("RUNCOMFY_BASE_URL", &emulator.base)
        .env("RUNCOMFY_TOKEN", "emulator-token")
        .write_stdin(r#"{"prompt": "from stdin", "duration": 10}"#)
        .output()
        .expect("runs");
    assert_eq!(code(&output), Some(0), "{}", stderr(&output));
    let printed = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(
        printed.starts_with("videos/") && printed.ends_with(".mp4"),
        "{printed}"
    );
    assert!(
        stderr(&output).contains("cost: $0.3780"),
        "3 s, not 10: {}",
        stderr(&output)
    );

    let counters = emulator.counters().await;
    assert_eq!(counters["submits_accepted"], 3);
    assert_eq!(counters["file_requests_with_authorization"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_id_commands_and_the_catalogue() {
    // The second job stays queued.
    let emulator = Standalone::with_one_busy_worker(&["--quiet"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let submit = |prompt: &str| {
        let output = runcomfy(
            &emulator,
            dir.path(),
            &["--json", "generate", prompt, "--no-wait"],
        );
        assert_eq!(code(&output), Some(0), "{}", stderr(&output));
        let doc = json_of(&output);
        assert_eq!(doc["status"], "submitted");
        doc["request_id"].as_str().expect("an id").to_string()
    };
    let running = submit("busy");
    let queued = submit("waiting");

    let doc = json_of(&runcomfy(
        &emulator,
        dir.path(),
        &["--json", "status", &queued],
    ));
    assert_eq!(
        doc,
        json!({"request_id": queued, "status": "in_queue", "queue_position": 0, "terminal": false})
    );
    let text = runcomfy(&emulator, dir.path(), &["status", &queued]);
    assert_eq!(
        String::from_utf8_lossy(&text.stdout).trim(),
        format!("{queued}: queued, next to start")
    );

    let output = runcomfy(&emulator, dir.path(), &["--json", "result", &running]);
    assert_eq!(code(&output), Some(75), "not finished yet");
    assert_eq!(json_of(&output)["error"]["kind"], "not_finished");

    let doc = json_of(&runcomfy(
        &emulator,
        dir.path(),
        &["--json", "cancel", &queued],
    ));
    assert_eq!(doc["outcome"], "cancelled");
    let doc = json_of(&runcomfy(
        &emulator,
        dir.path(),
        &["--json", "cancel", &running],
    ));
    assert_eq!(doc["outcome"], "not_cancellable");

    let output = runcomfy(&emulator, dir.path(), &["--json", "download", &queued]);
    assert_eq!(
        code(&output),
        Some(82),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(json_of(&output)["error"]["request_id"], queued.as_str());

    let output = runcomfy(&emulator, dir.path(), &["--json", "status", "../etc"]);
    assert_eq!(code(&output), Some(64));

    let doc = json_of(&runcomfy(
        &emulator,
        dir.path(),
        &["--json", "models", "list"],
    ));
    let models = doc["models"].as_array().expect("a list");
    assert!(
        models
            .iter()
            .any(|m| m["model_id"] == MODEL && m["base_price_usd"] == 0.084)
    );
    let doc = json_of(&runcomfy(
        &emulator,
        dir.path(),
        &["--json", "models", "get", MODEL],
    ));
    assert_eq!(
        doc["input_schema"]["properties"]["cfg_scale"]["type"],
        "float"
    );
    let text = runcomfy(
        &emulator,
        dir.path(),
        &["models", "list", "--search", "kling"],
    );
    assert!(String::from_utf8_lossy(&text.stdout).contains("$0.084 per second"));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_failure_has_its_exit_code() {
    let emulator = fast_emulator();
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |args: &[&str]| runcomfy(&emulator, dir.path(), args);
    let submit_fault = |fault: Value| json!({"endpoint": "submit", "fault": fault, "count": 1});

    assert_eq!(code(&run(&["generate", "x", "--bogus"])), Some(64), "usage");
    assert_eq!(
        code(&run(&["generate", "x", "--duration", "99"])),
        Some(65),
        "invalid input"
    );
    assert_eq!(
        code(&run(&["generate", "x", "--max-cost", "0.01"])),
        Some(84),
        "over the cap"
    );
    assert_eq!(
        emulator.counters().await["submits_accepted"],
        0,
        "none of those was sent"
    );

    emulator
        .fault(submit_fault(
            json!({"type": "error_in200", "error_code": 400002, "message": "top up"}),
        ))
        .await;
    assert_eq!(
        code(&run(&["generate", "x"])),
        Some(80),
        "insufficient balance"
    );
    emulator
        .fault(submit_fault(
            json!({"type": "job_fails", "message": "content policy"}),
        ))
        .await;
    let failed = run(&["--json", "generate", "x"]);
    assert_eq!(code(&failed), Some(81), "job failed");
    assert_eq!(json_of(&failed)["error"]["kind"], "job_failed");
    emulator
        .fault(submit_fault(json!({"type": "connection_reset"})))
        .await;
    let lost = run(&["generate", "x"]);
    assert_eq!(code(&lost), Some(83), "may have been accepted");
    assert!(
        stderr(&lost).contains("may have been accepted"),
        "{}",
        stderr(&lost)
    );
    assert_eq!(
        code(&run(&["generate", "x", "--timeout", "1ms"])),
        Some(75),
        "timed out"
    );
    // A wait rides out a few transient errors; one status call gives up
    // after its retries (1 try and 4 retries).
    let id = json_of(&run(&["--json", "generate", "x", "--no-wait"]))["request_id"]
        .as_str()
        .expect("an id")
        .to_string();
    emulator
        .fault(json!({"endpoint": "status", "fault": {"type": "http_error", "status": 503}, "count": 5}))
        .await;
    assert_eq!(code(&run(&["status", &id])), Some(69), "server error");
    emulator
        .fault(json!({"endpoint": "status", "fault": {"type": "rate_limited", "retry_after_secs": 0}, "count": 5}))
        .await;
    assert_eq!(code(&run(&["status", &id])), Some(75), "rate limited");

    let counters = emulator.counters().await;
    // The balance refusal did not create a job; the others did, once each.
    assert_eq!(counters["submits_accepted"], 4, "{counters}");
    assert_eq!(counters["requests"]["submit"], 5, "{counters}");

    let wrong_token = assert_cmd::Command::cargo_bin("runcomfy")
        .expect("built")
        .args(["generate", "x"])
        .env("RUNCOMFY_BASE_URL", &emulator.base)
        .env("RUNCOMFY_TOKEN", "wrong")
        .output()
        .expect("runs");
    assert_eq!(code(&wrong_token), Some(77), "auth");
    let no_token = assert_cmd::Command::cargo_bin("runcomfy")
        .expect("built")
        .args(["generate", "x"])
        .env("RUNCOMFY_BASE_URL", &emulator.base)
        .env_remove("RUNCOMFY_TOKEN")
        .output()
        .expect("runs");
    assert_eq!(code(&no_token), Some(77), "no token");
    assert!(stderr(&no_token).contains("RUNCOMFY_TOKEN"));
}

/// Starts `runcomfy ARGS` in the background.
fn spawn(emulator: &Standalone, dir: &Path, args: &[&str]) -> std::process::Child {
    emulator.cli(dir).args(args).spawn().expect("starts")
}

fn interrupt(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Polls the emulator's counters until `check` holds (at most 20 s).
async fn until(emulator: &Standalone, check: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..2000 {
        let counters = emulator.counters().await;
        if check(&counters) {
            return counters;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the emulator never got there: {}",
        emulator.counters().await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_cancels_a_queued_job_and_detaches_a_running_one() {
    let emulator = Standalone::with_one_busy_worker(&["--quiet"]);
    let dir = tempfile::tempdir().expect("temp dir");

    // Running: the only worker takes it.
    let running = spawn(
        &emulator,
        dir.path(),
        &["generate", "runs for an hour", "--output-dir", "v"],
    );
    until(&emulator, |c| c["jobs"]["in_progress"] == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // the CLI has polled once
    interrupt(&running);
    let output = running.wait_with_output().expect("exits");
    let said = stderr(&output);
    assert_eq!(code(&output), Some(130), "{said}");
    assert!(said.contains("goes on; resume with:"), "{said}");
    assert!(
        said.contains(&format!(
            "RUNCOMFY_BASE_URL={} runcomfy download ",
            emulator.base
        )),
        "{said}"
    );
    assert!(said.contains("--output-dir v"), "{said}");

    // Queued behind it: cancelled, nothing to pay.
    let queued = spawn(&emulator, dir.path(), &["generate", "waits"]);
    until(&emulator, |c| c["jobs"]["in_queue"] == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    interrupt(&queued);
    let output = queued.wait_with_output().expect("exits");
    assert_eq!(code(&output), Some(82), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cancelled while queued"),
        "{}",
        stderr(&output)
    );
    let counters = emulator.counters().await;
    assert_eq!(counters["jobs"]["cancelled"], 1);
    assert_eq!(
        counters["jobs"]["in_progress"], 1,
        "the running job goes on"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn schema_pull_and_check_find_drift() {
    let changed = tempfile::tempdir().expect("temp dir");
    let mut schema: Value = serde_json::from_str(include_str!(
        "../../schema/models/kling/kling-3.0/standard/text-to-video/input.json"
    ))
    .expect("JSON");
    schema["properties"]["duration"]["maximum"] = json!(20);
    schema["properties"]["seed"] = json!({"type": "integer", "title": "種子"});
    let changed_file = changed.path().join("input.json");
    std::fs::write(&changed_file, schema.to_string()).expect("write");

    let emulator = fast_emulator();
    let dir = tempfile::tempdir().expect("temp dir");
    let pulled = dir.path().join("models");
    let output = runcomfy(
        &emulator,
        dir.path(),
        &[
            "--json",
            "schema",
            "pull",
            MODEL,
            "--dir",
            pulled.to_str().expect("UTF-8"),
        ],
    );
    assert_eq!(code(&output), Some(0), "{}", stderr(&output));
    let folder = pulled.join(MODEL);
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(folder.join(name)).expect("pulled"))
            .expect("JSON")
    };
    let published: Value = serde_json::from_str(include_str!(
        "../../schema/models/kling/kling-3.0/standard/text-to-video/input.json"
    ))
    .expect("JSON");
    assert_eq!(read("input.json"), published, "exactly as published");
    assert_eq!(read("model.json")["base_price_usd"], 0.084);
    assert!(read("output.json")["output"]["properties"]["video"].is_object());
    let check = runcomfy(
        &emulator,
        dir.path(),
        &["schema", "check", "--dir", pulled.to_str().expect("UTF-8")],
    );
    assert_eq!(
        code(&check),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    // RunComfy changes the schema: check says how, and exits 85.
    let served = format!("{MODEL}={}", changed_file.display());
    let drifted = Standalone::start(&["--quiet", "--serve-schema", &served]);
    let check = runcomfy(
        &drifted,
        dir.path(),
        &[
            "--json",
            "schema",
            "check",
            "--dir",
            pulled.to_str().expect("UTF-8"),
        ],
    );
    assert_eq!(code(&check), Some(85));
    let doc = json_of(&check);
    assert_eq!(doc["error"]["kind"], "schema_drift");
    let drift = doc["error"]["detail"]["models"][0]["drift"]
        .as_array()
        .expect("a drift list");
    let text: Vec<&str> = drift.iter().filter_map(Value::as_str).collect();
    assert!(
        text.contains(&"duration: maximum changed from 15 to 20"),
        "{text:?}"
    );
    assert!(
        text.iter().any(|d| d.starts_with("seed: field added")),
        "{text:?}"
    );

    // Pulling again brings the change, and keeps the crate's own keys.
    let output = runcomfy(
        &drifted,
        dir.path(),
        &[
            "schema",
            "pull",
            MODEL,
            "--dir",
            pulled.to_str().expect("UTF-8"),
        ],
    );
    assert_eq!(code(&output), Some(0), "{}", stderr(&output));
    assert_eq!(read("input.json")["properties"]["duration"]["maximum"], 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_kept_estimate_rules_survive_a_pull() {
    let emulator = fast_emulator();
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join("models").join(MODEL);
    std::fs::create_dir_all(&folder).expect("mkdir");
    std::fs::write(
        folder.join("model.json"),
        r#"{"x-runcomfy-estimate": {"units_from": "duration"}, "base_price_usd": 1}"#,
    )
    .expect("write");
    let output = runcomfy(
        &emulator,
        dir.path(),
        &[
            "schema",
            "pull",
            MODEL,
            "--dir",
            dir.path().join("models").to_str().expect("UTF-8"),
        ],
    );
    assert_eq!(code(&output), Some(0), "{}", stderr(&output));
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("model.json")).expect("read"))
            .expect("JSON");
    assert_eq!(info["base_price_usd"], 0.084, "RunComfy's price");
    assert_eq!(
        info["x-runcomfy-estimate"]["units_from"], "duration",
        "ours, kept"
    );
}
