//! The seed page's own curl commands (submit, status, result, cancel), with
//! only the host changed, against the standalone emulator (`runcomfy
//! emulator`), with real curl.
#![cfg(feature = "cli")]

use crate::common;

use common::seed::{SEED_HOST, curl_arguments, seed_command, seed_curl_commands};
use common::standalone::Standalone;

use serde_json::Value;
use std::process::Command;

/// Runs a seed command with only the host (and the request id placeholder)
/// replaced; returns the JSON it printed.
fn run(command: &str, base: &str, request_id: Option<&str>) -> Value {
    let mut command = command.replace(SEED_HOST, base);
    if let Some(id) = request_id {
        command = command.replace("{request_id}", id);
    }
    let output = Command::new("curl")
        .args(curl_arguments(&command))
        .args(["--silent", "--show-error"])
        .output()
        .expect("curl runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "curl failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[test]
fn the_seed_page_has_the_four_queue_commands() {
    let commands = seed_curl_commands();
    assert_eq!(
        commands.len(),
        5,
        "quickstart submit plus submit, status, result, cancel"
    );
    assert!(commands.iter().all(|c| c.contains(SEED_HOST)));
    let submit = curl_arguments(&commands[1]);
    let body = &submit[submit.iter().position(|a| a == "--data").expect("--data") + 1];
    let body: Value = serde_json::from_str(body).expect("the --data body is JSON");
    let fixture: Value =
        serde_json::from_str(include_str!("../fixtures/kling-3.0-seed-example.json"))
            .expect("JSON");
    assert_eq!(body, fixture);
    assert_eq!(
        curl_arguments(&commands[3]),
        [
            "--request",
            "GET",
            "--url",
            "https://model-api.runcomfy.net/v1/requests/{request_id}/result",
            "--header",
            "Authorization: Bearer <token>"
        ]
    );
}

#[test]
fn seed_commands_work_against_the_standalone_emulator() {
    // One worker, busy for an hour with the first job: the second job stays
    // queued, so cancel has something to cancel.
    let emulator = Standalone::with_one_busy_worker(&["--token", "<token>"]);
    let submit = seed_command("POST", "text-to-video");
    let (status, result, cancel) = (
        seed_command("GET", "/status"),
        seed_command("GET", "/result"),
        seed_command("POST", "/cancel"),
    );

    let first = run(&submit, &emulator.base, None);
    let first_id = first["request_id"]
        .as_str()
        .expect("request id")
        .to_string();
    assert!(
        first["status_url"]
            .as_str()
            .expect("status_url")
            .starts_with(&emulator.base)
    );
    assert!(first["cancel_url"].is_string());
    let running = common_poll(|| {
        let body = run(&status, &emulator.base, Some(&first_id));
        (body["status"] == "in_progress").then_some(body)
    });
    assert_eq!(running["request_id"], first_id.as_str());

    let second = run(&submit, &emulator.base, None);
    let second_id = second["request_id"]
        .as_str()
        .expect("request id")
        .to_string();
    let queued = run(&status, &emulator.base, Some(&second_id));
    assert_eq!(
        (queued["status"].as_str(), queued["queue_position"].as_u64()),
        (Some("in_queue"), Some(0))
    );

    let pending = run(&result, &emulator.base, Some(&first_id));
    assert_eq!(
        pending["status"], "in_progress",
        "result answers the status while running"
    );

    let cancelled = run(&cancel, &emulator.base, Some(&second_id));
    assert_eq!(cancelled["outcome"], "cancelled");
    let refused = run(&cancel, &emulator.base, Some(&first_id));
    assert_eq!(refused["outcome"], "not_cancellable");

    let log = emulator.stop();
    assert!(
        log.contains("path=\"/v1/requests/"),
        "each request is logged:\n{log}"
    );
    assert!(log.contains("/cancel\" status=202"), "{log}");
}

#[test]
fn seed_commands_fetch_a_finished_result_and_its_video() {
    let emulator = Standalone::start(&[
        "--token",
        "<token>",
        "--queue-delay",
        "0",
        "--run-time",
        "0",
        "--quiet",
    ]);
    let submitted = run(&seed_command("POST", "text-to-video"), &emulator.base, None);
    let id = submitted["request_id"]
        .as_str()
        .expect("request id")
        .to_string();
    let result = seed_command("GET", "/result");
    let finished = common_poll(|| {
        let body = run(&result, &emulator.base, Some(&id));
        (body["status"] == "completed").then_some(body)
    });
    let video = finished["output"]["video"].as_str().expect("video URL");
    let download = Command::new("curl")
        .args(["--silent", "--show-error", "--fail", video])
        .output()
        .expect("curl runs");
    assert!(download.status.success());
    assert_eq!(common::assert_playable_mp4(&download.stdout), (256, 144));
}

/// Retries `check` every 10 ms, for at most 10 s.
fn common_poll<T>(mut check: impl FnMut() -> Option<T>) -> T {
    for _ in 0..1000 {
        if let Some(value) = check() {
            return value;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("condition not met within 10 s");
}
