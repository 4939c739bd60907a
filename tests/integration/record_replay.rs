//! The emulator in front of a real API: record a session (here the "real"
//! API is another emulator), replay it with no upstream, spy, and report
//! drift. Run as users run it: `runcomfy emulator --upstream ... --record
//! DIR`, then `--replay DIR`, with the `runcomfy` command line as the
//! client; and from Rust with `EmulatorConfig`.
#![cfg(feature = "cli")]

use crate::common;

use common::standalone::Standalone;
use common::{MODEL, fast};
use runcomfy::emulator::{Emulator, EmulatorConfig, Endpoint, Fault};
use runcomfy::polling::FixedPolling;
use runcomfy::{Client, DynamicModel, Error, ModelDescriptor};
use serde_json::{Value, json};
use sha2::Digest;
use std::path::Path;
use std::time::Duration;

/// A port free now (bound and released), for an emulator that must come
/// back on the same address.
fn free_port() -> String {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
        .to_string()
}

/// What one CLI command did: its exit code and stdout.
#[derive(Debug, PartialEq)]
struct Ran {
    code: Option<i32>,
    stdout: String,
}

fn runcomfy(base: &str, token: &str, dir: &Path, args: &[&str]) -> Ran {
    let output = assert_cmd::Command::cargo_bin("runcomfy")
        .expect("built")
        .args(args)
        .current_dir(dir)
        .env("RUNCOMFY_BASE_URL", base)
        .env("RUNCOMFY_TOKEN", token)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs");
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
    }
}

fn sha256_of(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("the file was written");
    sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const TOKEN: &str = "emulator-token";

/// The session both runs go through: a generate that downloads, a job
/// cancelled while queued, a submit refused with 422, a status asked with
/// a wrong token. Returns each command's result.
fn session(base: &str, dir: &Path, before_refusal: impl FnOnce()) -> Vec<Ran> {
    let mut ran = Vec::new();
    ran.push(runcomfy(
        base,
        TOKEN,
        dir,
        &[
            "--json",
            "generate",
            "--poll-secs",
            "0.05",
            "a red fox",
            "-o",
            "fox.mp4",
        ],
    ));
    let first: Value = serde_json::from_str(&ran[0].stdout).expect("a JSON document");
    let first_id = first["request_id"].as_str().expect("an id").to_string();
    ran.push(runcomfy(
        base,
        TOKEN,
        dir,
        &["--json", "generate", "a fox to cancel", "--no-wait"],
    ));
    let queued: Value = serde_json::from_str(&ran[1].stdout).expect("a JSON document");
    let queued_id = queued["request_id"].as_str().expect("an id").to_string();
    ran.push(runcomfy(
        base,
        TOKEN,
        dir,
        &["--json", "cancel", &queued_id],
    ));
    before_refusal();
    ran.push(runcomfy(
        base,
        TOKEN,
        dir,
        &["--json", "generate", "a refused fox", "--no-wait"],
    ));
    ran.push(runcomfy(
        base,
        "sk-wrong-token",
        dir,
        &["--json", "status", &first_id],
    ));
    ran
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recorded_session_replays_with_the_same_outputs_codes_and_files() {
    // The "real" API: jobs wait 1.5 s in the queue (time to cancel one),
    // then run for 30 ms.
    let upstream = Standalone::start(&["--time-scale", "1000", "--queue-delay", "1500", "--quiet"]);
    let cassette = tempfile::tempdir().expect("temp dir");
    let (port, files_port) = (free_port(), free_port());
    let dir = cassette.path().to_str().expect("UTF-8");
    let recorder = Standalone::start(&[
        "--port",
        &port,
        "--files-port",
        &files_port,
        "--upstream",
        &upstream.base,
        "--record",
        dir,
        "--quiet",
    ]);
    let first_dir = tempfile::tempdir().expect("temp dir");
    let recorded = session(&recorder.base, first_dir.path(), || {
        futures::executor::block_on(upstream.fault(json!({
            "endpoint": "submit", "fault": {"type": "http_error", "status": 422}, "count": 1
        })));
    });
    let codes: Vec<Option<i32>> = recorded.iter().map(|r| r.code).collect();
    assert_eq!(
        codes,
        [Some(0), Some(0), Some(0), Some(65), Some(77)],
        "{recorded:#?}"
    );
    let cancelled: Value = serde_json::from_str(&recorded[2].stdout).expect("JSON");
    assert_eq!(cancelled["outcome"], "cancelled", "{cancelled}");
    let (summary, _) = recorder.interrupt();
    assert!(summary.contains("stopped: "), "{summary}");
    assert!(summary.contains(" recorded"), "{summary}");
    drop(upstream);

    // Every exchange is a file in the corpus's format; the video once.
    let files: Vec<String> = std::fs::read_dir(cassette.path())
        .expect("the cassette")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    for call in ["_submit_", "_status_", "_result_", "_cancel_", "_file_"] {
        assert!(files.iter().any(|f| f.contains(call)), "{call}: {files:?}");
    }
    let stored: Vec<_> = std::fs::read_dir(cassette.path().join("files"))
        .expect("files")
        .collect();
    assert_eq!(stored.len(), 1, "the video, stored once");
    // The session drops straight into the conformance corpus.
    let checked = common::corpus::check_folder(cassette.path()).await;
    assert!(checked >= 8, "{checked} exchanges checked");

    // No upstream now: the cassette answers.
    let replayer = Standalone::start(&[
        "--port",
        &port,
        "--files-port",
        &files_port,
        "--replay",
        dir,
        "--time-scale",
        "100",
        "--quiet",
    ]);
    let second_dir = tempfile::tempdir().expect("temp dir");
    let replayed = session(&replayer.base, second_dir.path(), || {});
    assert_eq!(replayed, recorded);
    assert_eq!(
        sha256_of(&second_dir.path().join("fox.mp4")),
        sha256_of(&first_dir.path().join("fox.mp4"))
    );
    let counters = replayer.counters().await;
    assert_eq!(counters["front"]["unmatched"], 0, "{counters}");
    assert_eq!(counters["front"]["forwarded"], 0, "{counters}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_token_is_written_even_when_upstream_echoes_it() {
    let token = "sk-live-planted-0123456789abcdef";
    let upstream = Standalone::start(&["--time-scale", "10000", "--quiet", "--token", token]);
    // The token planted in answers: a failed job's message, an error in a
    // 200 answer.
    upstream
        .fault(json!({"endpoint": "submit", "fault": {"type": "job_fails", "message": format!("upstream echoed Bearer {token}")}, "count": 1}))
        .await;
    upstream
        .fault(json!({"endpoint": "model", "fault": {"type": "error_in200", "error_code": 400004, "message": format!("bad token {token}")}, "count": 1}))
        .await;
    let cassette = tempfile::tempdir().expect("temp dir");
    let recorder = Standalone::start(&[
        "--upstream",
        &upstream.base,
        "--record",
        cassette.path().to_str().expect("UTF-8"),
        "--quiet",
    ]);
    let dir = tempfile::tempdir().expect("temp dir");
    let failed = runcomfy(
        &recorder.base,
        token,
        dir.path(),
        &["--json", "generate", "--poll-secs", "0.05", "a fox"],
    );
    assert_eq!(failed.code, Some(81), "{failed:?}");
    let info = runcomfy(
        &recorder.base,
        token,
        dir.path(),
        &["--json", "models", "get", MODEL],
    );
    assert_eq!(info.code, Some(77), "{info:?}");
    drop(recorder);

    let forms = [
        token.to_string(),
        token.replace('-', "%2D"),
        serde_json::to_string(token).expect("JSON")[1..token.len() + 1].to_string(),
    ];
    let mut scanned = 0;
    let mut redacted = 0;
    for entry in walk(cassette.path()) {
        let bytes = std::fs::read(&entry).expect("readable");
        let text = String::from_utf8_lossy(&bytes);
        for form in &forms {
            assert!(
                !text.contains(form.as_str()),
                "{} holds the token",
                entry.display()
            );
        }
        assert!(
            !text.to_lowercase().contains("bearer sk"),
            "{}",
            entry.display()
        );
        scanned += 1;
        redacted += text.matches("[REDACTED]").count();
    }
    assert!(scanned >= 4, "{scanned} files");
    assert!(redacted >= 2, "the planted tokens were there, and scrubbed");
    common::corpus::check_folder(cassette.path()).await;
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn client_for(base: &str, token: &str) -> Client {
    Client::builder()
        .token(token)
        .base_url(base)
        .poll_policy(FixedPolling(Duration::from_millis(5)))
        .retry(runcomfy::RetryPolicy::none())
        .build()
        .expect("builds")
}

fn kling() -> &'static ModelDescriptor {
    ModelDescriptor::find(MODEL).expect("built in")
}

#[tokio::test]
async fn spy_forwards_what_the_cassette_lacks_and_replay_alone_says_so() {
    let upstream = Emulator::start(fast()).await.expect("starts");
    let cassette = tempfile::tempdir().expect("temp dir");
    let recorder = Emulator::start(
        EmulatorConfig::default()
            .upstream(upstream.base_url())
            .record(cassette.path()),
    )
    .await
    .expect("starts");
    let recorded = client_for(&recorder.base_url(), upstream.token())
        .submit_json(kling(), &json!({"prompt": "a recorded fox"}))
        .await
        .expect("accepted")
        .wait()
        .await
        .expect("completes");
    drop(recorder);

    // Replay alone: the recorded job replays; another request gets a clear
    // error naming what was asked and what the cassette holds.
    let replayer = Emulator::start(EmulatorConfig::default().replay(cassette.path()))
        .await
        .expect("starts");
    let client = client_for(&replayer.base_url(), replayer.token());
    let again = client
        .submit_json(kling(), &json!({"prompt": "a recorded fox"}))
        .await
        .expect("replayed")
        .wait()
        .await
        .expect("replayed");
    assert_eq!(again.request_id, recorded.request_id);
    let error = client
        .submit_json(kling(), &json!({"prompt": "a fox never recorded"}))
        .await
        .expect_err("not in the cassette");
    let message = error.to_string();
    assert!(
        message.contains("no recording for POST /v1/models/kling"),
        "{message}"
    );
    assert!(
        message.contains("the cassette holds: POST /v1/models/kling"),
        "{message}"
    );
    assert_eq!(replayer.counters().front.unmatched, 1);
    assert_eq!(
        upstream.counters().submits_accepted,
        1,
        "nothing reached upstream"
    );

    // Spy: the same cassette, and an upstream for what it lacks.
    let spy = Emulator::start(
        EmulatorConfig::default()
            .replay(cassette.path())
            .upstream(upstream.base_url())
            .spy(true),
    )
    .await
    .expect("starts");
    let client = client_for(&spy.base_url(), upstream.token());
    let replayed = client
        .submit_json(kling(), &json!({"prompt": "a recorded fox"}))
        .await
        .expect("replayed");
    assert_eq!(replayed.request_id(), recorded.request_id);
    let forwarded = client
        .submit_json(kling(), &json!({"prompt": "a fox never recorded"}))
        .await
        .expect("forwarded")
        .wait()
        .await
        .expect("completes upstream");
    assert_ne!(forwarded.request_id, recorded.request_id);
    assert_eq!(upstream.counters().submits_accepted, 2);
    let front = spy.counters().front;
    assert!(front.replayed >= 1 && front.forwarded >= 3, "{front:?}");
    assert_eq!(front.unmatched, 0);
}

#[tokio::test]
async fn drift_is_reported_and_strict_sends_nothing_invalid() {
    let upstream = Emulator::start(fast()).await.expect("starts");
    let front = Emulator::start(
        EmulatorConfig::default()
            .upstream(upstream.base_url())
            .strict(true),
    )
    .await
    .expect("starts");
    let client = client_for(&front.base_url(), upstream.token());
    let job = client
        .submit_json(kling(), &json!({"prompt": "a fox"}))
        .await
        .expect("accepted");
    // Off-spec answers from upstream: a status without a status, a result
    // whose output breaks the model's output schema.
    upstream
        .fail_next(
            Endpoint::Status,
            1,
            Fault::ErrorIn200 {
                error_code: 500001,
                message: "hiccup".into(),
            },
        )
        .expect("scripted");
    let _ = job.status().await;
    let drift = front.drift();
    assert!(
        drift
            .iter()
            .any(|d| d.call == "GET /v1/requests/{request_id}/status"
                && d.checked == "answer"
                && d.pointer.is_empty()
                && d.message.contains("status")),
        "{drift:#?}"
    );
    assert_eq!(front.counters().front.drift, drift.len() as u64);

    // --strict: an invalid submit (sent raw; the client would refuse it
    // itself) is answered 422 and never reaches upstream.
    let before = upstream.counters().requests.submit;
    let response = common::http()
        .post(format!("{}/v1/models/{MODEL}", front.base_url()))
        .bearer_auth(upstream.token())
        .json(&json!({"prompt": "a fox", "duration": 99}))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error_code"], 422001);
    assert_eq!(upstream.counters().requests.submit, before, "nothing sent");
    assert_eq!(front.counters().front.strict_refusals, 1);
    assert!(
        front
            .drift()
            .iter()
            .any(|d| d.checked == "request" && d.pointer == "/duration")
    );
    // The job itself is fine through the front.
    let job = client
        .job::<DynamicModel>(job.request_id())
        .expect("valid id");
    let result = job.wait().await;
    assert!(
        !matches!(result, Err(Error::SubmitOutcomeUnknown { .. })),
        "{result:?}"
    );
}
