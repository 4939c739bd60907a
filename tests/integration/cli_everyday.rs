//! Everyday use of the command line: shell completion (static scripts and
//! the dynamic engine behind them), and `--events` for scripts.
#![cfg(feature = "cli")]

use crate::common;

use common::standalone::Standalone;
use serde_json::Value;
use std::time::Duration;

/// Fails with the command's stderr unless it exited 0.
fn assert_succeeded(output: &std::process::Output) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn runcomfy() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::cargo_bin("runcomfy").expect("built");
    command.timeout(Duration::from_secs(60));
    command
}

#[test]
fn every_shells_completion_script_is_generated() {
    for (shell, marker) in [
        (
            "bash",
            "complete -o nospace -o bashdefault -o nosort -F _clap_complete_runcomfy runcomfy",
        ),
        ("zsh", "#compdef runcomfy"),
        (
            "fish",
            "complete --keep-order --exclusive --command runcomfy",
        ),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "set edit:completion:arg-completer[runcomfy]"),
    ] {
        let output = runcomfy()
            .args(["completions", shell])
            .output()
            .expect("runs");
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(script.contains(marker), "{shell}:\n{script}");
        assert!(script.contains("COMPLETE"), "{shell} calls back: {script}");
    }
    let output = runcomfy()
        .args(["completions", "tcsh"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(64));
}

/// What the dynamic engine offers for `words` (the last one being
/// completed), asked as fish asks.
fn completions(words: &[&str]) -> Vec<String> {
    let output = runcomfy()
        .env("COMPLETE", "fish")
        .arg("--")
        .arg("runcomfy")
        .args(words)
        .output()
        .expect("runs");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.split('\t').next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn model_ids_and_choices_complete_dynamically() {
    assert_eq!(
        completions(&["run", "kl"]),
        ["kling/kling-3.0/standard/text-to-video"]
    );
    assert_eq!(
        completions(&["models", "get", "kling/kling-3.0/st"]),
        ["kling/kling-3.0/standard/text-to-video"]
    );
    assert_eq!(
        completions(&[
            "run",
            "kling/kling-3.0/standard/text-to-video",
            "--aspect-ratio",
            "9"
        ]),
        ["9:16"]
    );
    assert_eq!(
        completions(&["generate", "a fox", "--shot-type", ""]),
        ["intelligent", "customize"]
    );
    // Bash's protocol too: the same engine.
    let output = runcomfy()
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", "2")
        .env("_CLAP_COMPLETE_COMP_TYPE", "9")
        .env("_CLAP_COMPLETE_SPACE", "true")
        .args(["--", "runcomfy", "run", "kling/"])
        .output()
        .expect("runs");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "kling/kling-3.0/standard/text-to-video"
    );
}

/// Every line of `stdout` as JSON: events, then the document.
fn json_lines(stdout: &[u8]) -> Vec<Value> {
    let text = String::from_utf8_lossy(stdout);
    assert!(!text.contains('\u{1b}'), "no escape codes: {text:?}");
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect()
}

fn kinds(lines: &[Value]) -> Vec<&str> {
    lines.iter().filter_map(|l| l["type"].as_str()).collect()
}

#[test]
fn events_stream_a_run_line_by_line_then_the_document() {
    let emulator = Standalone::start(&["--time-scale", "1000", "--queue-delay", "200", "--quiet"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let output = emulator
        .cli(dir.path())
        .env("NO_COLOR", "1")
        .args(["--json", "--events"])
        .args([
            "run",
            "--poll-secs",
            "0.02",
            common::MODEL,
            "--prompt",
            "a red fox",
            "-o",
            "fox.mp4",
        ])
        .output()
        .expect("runs");
    assert_succeeded(&output);
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = json_lines(&output.stdout);
    let kinds = kinds(&lines);
    assert_eq!(kinds.first(), Some(&"submitted"), "{kinds:?}");
    for kind in ["queued", "running", "finished", "file_saved"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let id = lines[0]["request_id"].as_str().expect("an id");
    for line in &lines[..lines.len() - 1] {
        assert_eq!(line["request_id"], id, "{line}");
    }
    let queued = lines
        .iter()
        .find(|l| l["type"] == "queued")
        .expect("queued");
    assert!(queued["position"].is_u64(), "{queued}");
    let document = lines.last().expect("the document");
    assert!(document.get("type").is_none(), "{document}");
    assert_eq!(document["files"][0], "fox.mp4");
}

#[test]
fn events_stream_a_batch_line_by_line() {
    let emulator = Standalone::start(&["--time-scale", "10000", "--quiet"]);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("prompts.jsonl"),
        "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n",
    )
    .expect("write");
    let output = emulator
        .cli(dir.path())
        .args(["--json", "--events"])
        .args([
            "batch",
            "prompts.jsonl",
            "--out-dir",
            "out",
            "--poll-secs",
            "0.02",
        ])
        .output()
        .expect("runs");
    assert_succeeded(&output);
    let lines = json_lines(&output.stdout);
    for line in [1, 2] {
        let of_line: Vec<&str> = lines
            .iter()
            .filter(|l| l["line"] == line)
            .filter_map(|l| l["type"].as_str())
            .collect();
        assert_eq!(
            of_line.first(),
            Some(&"submitted"),
            "line {line}: {of_line:?}"
        );
        assert_eq!(
            of_line.last(),
            Some(&"line_done"),
            "line {line}: {of_line:?}"
        );
        assert!(of_line.contains(&"file_saved"), "line {line}: {of_line:?}");
    }
    assert!(lines.last().expect("the document").get("type").is_none());
}

#[test]
fn events_need_json() {
    let output = runcomfy()
        .args(["--events", "status", "x"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(64));
}
