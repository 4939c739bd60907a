//! Money end to end: the balance, the emulator's wallet, a batch that runs
//! out of money half way and a rerun after a top-up.
#![cfg(feature = "cli")]

use crate::common;

use common::standalone::Standalone;
use common::{Api, MODEL, fast, one_busy_worker};
use runcomfy::emulator::Emulator;
use runcomfy::{Client, Error};
use serde_json::{Value, json};
use sha2::Digest;

/// Kling 3.0, 5 s with sound (the defaults): $0.126 a second.
const JOB_USD: f64 = 0.63;

fn client_for(emulator: &Emulator) -> Client {
    Client::builder()
        .token(emulator.token())
        .base_url(emulator.base_url())
        .build()
        .expect("builds")
}

#[tokio::test]
async fn the_library_reads_the_balance_and_the_wallet_pays_for_each_accepted_job() {
    let emulator = Emulator::start(fast().balance(1.0)).await.expect("starts");
    let client = client_for(&emulator);
    let balance = client.balance().await.expect("a balance");
    assert_eq!(balance.balance_usd, Some(1.0));
    assert_eq!(balance.currency.as_deref(), Some("USD"));
    assert_eq!(
        client.core_api_base(),
        format!("{}/prod/v2", emulator.base_url()),
        "a client pointed at the emulator asks it, never RunComfy"
    );

    let model = runcomfy::ModelDescriptor::find(MODEL).expect("built in");
    let job = client
        .submit_json(model, &json!({"prompt": "a fox"}))
        .await
        .expect("paid for");
    let left = client
        .balance()
        .await
        .expect("a balance")
        .balance_usd
        .expect("an amount");
    assert!((left - (1.0 - JOB_USD)).abs() < 1e-9, "{left}");
    // The second cannot be paid: 402 / 400002, and no job.
    let error = client
        .submit_json(model, &json!({"prompt": "a second fox"}))
        .await
        .expect_err("not enough left");
    assert!(
        matches!(&error, Error::InsufficientBalance(api) if api.status == 402 && api.code == Some(400002)),
        "{error:?}"
    );
    let counters = emulator.counters();
    assert_eq!(counters.submits_accepted, 1);
    assert_eq!(counters.insufficient_balance, 1);
    let result = job.wait().await.expect("completes");
    assert_eq!(result.request_id, job.request_id());

    // An unlimited wallet reports no amount.
    let unlimited = Emulator::start(fast()).await.expect("starts");
    let balance = client_for(&unlimited).balance().await.expect("answers");
    assert_eq!(balance.balance_usd, None);
}

#[tokio::test]
async fn a_job_cancelled_while_queued_is_refunded() {
    let emulator = Emulator::start(one_busy_worker().balance(2.0))
        .await
        .expect("starts");
    let api = Api::new(&emulator);
    let running = api.submit(json!({"prompt": "a"})).await;
    let queued = api.submit(json!({"prompt": "b"})).await;
    api.reaches(&running, "in_progress").await;
    let spent = emulator.balance().expect("a wallet");
    assert!((spent - (2.0 - 2.0 * JOB_USD)).abs() < 1e-9, "{spent}");
    let (code, body) = api.cancel(&queued).await;
    assert_eq!((code, body["outcome"].as_str()), (202, Some("cancelled")));
    let refunded = emulator.balance().expect("a wallet");
    assert!((refunded - (2.0 - JOB_USD)).abs() < 1e-9, "{refunded}");
    // Cancelling again, or a running job, gives nothing back.
    api.cancel(&queued).await;
    api.cancel(&running).await;
    assert_eq!(emulator.balance(), Some(refunded));
}

fn run(emulator: &Standalone, dir: &std::path::Path, args: &[&str]) -> (Option<i32>, Value) {
    let output = emulator
        .cli(dir)
        .arg("--json")
        .args(args)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let document = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {text}\n{}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code(), document)
}

#[tokio::test(flavor = "multi_thread")]
async fn balance_is_shown_as_text_and_json() {
    let emulator = Standalone::start(&["--balance", "12.34", "--quiet"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, document) = run(&emulator, dir.path(), &["balance"]);
    assert_eq!(code, Some(0));
    assert_eq!(document, json!({"balance_usd": 12.34, "currency": "USD"}));
    let text = emulator
        .cli(dir.path())
        .arg("balance")
        .output()
        .expect("runs");
    assert_eq!(String::from_utf8_lossy(&text.stdout).trim(), "12.3400 USD");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_capped_run_checks_the_balance_before_sending() {
    let emulator = Standalone::start(&["--balance", "0.5", "--time-scale", "10000", "--quiet"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, document) = run(
        &emulator,
        dir.path(),
        &["generate", "a fox", "--max-cost", "5", "--no-wait"],
    );
    assert_eq!(code, Some(80), "{document}");
    let message = document["error"]["message"].as_str().expect("a message");
    assert!(
        message.contains("below the estimated cost $0.6300"),
        "{message}"
    );
    assert_eq!(
        emulator.counters().await["requests"]["submit"],
        0,
        "nothing sent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_that_runs_out_of_money_stops_and_a_rerun_sends_exactly_the_rest() {
    const LINES: u64 = 5;
    // Enough for 3 jobs of $0.63, not 4.
    let emulator = Standalone::start(&["--balance", "2.0", "--time-scale", "10000", "--quiet"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let prompts: String = (1..=LINES)
        .map(|n| format!("{{\"prompt\": \"fox number {n}\"}}\n"))
        .collect();
    std::fs::write(dir.path().join("prompts.jsonl"), prompts).expect("write");
    let batch = [
        "batch",
        "--poll-secs",
        "0.02",
        "prompts.jsonl",
        "--out-dir",
        "out",
        "--concurrency",
        "2",
    ];

    let (code, document) = run(&emulator, dir.path(), &batch);
    assert_eq!(code, Some(80), "{document}");
    let detail = &document["error"]["detail"];
    assert_eq!(detail["states"]["done"], 3, "{document}");
    // Which two lines go unsent depends on which of two concurrent submits
    // reaches the wallet first (line 4's can overtake line 3's): any two,
    // as long as they are exactly the lines still pending.
    let pending: Vec<Value> = detail["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter(|line| line["state"] == "pending")
        .map(|line| line["line"].clone())
        .collect();
    assert_eq!(pending.len(), 2, "{document}");
    assert_eq!(
        detail["not_sent_insufficient_balance"],
        Value::Array(pending),
        "{document}"
    );
    let left = detail["balance_usd"].as_f64().expect("the balance");
    assert!((left - (2.0 - 3.0 * JOB_USD)).abs() < 1e-9, "{left}");
    let counters = emulator.counters().await;
    assert_eq!(counters["submits_accepted"], 3);

    // Top up through the admin call, rerun the same command.
    let topped = common::http()
        .post(format!("{}/_emulator/balance", emulator.base))
        .json(&json!({"balance_usd": 10.0}))
        .send()
        .await
        .expect("answers");
    assert_eq!(topped.status(), 204);
    let (code, document) = run(&emulator, dir.path(), &batch);
    assert_eq!(code, Some(0), "{document}");
    assert_eq!(document["states"]["done"], LINES, "{document}");
    assert_eq!(document["not_sent_insufficient_balance"], json!([]));
    let counters = emulator.counters().await;
    assert_eq!(
        counters["submits_accepted"], LINES,
        "no line accepted twice"
    );
    assert_eq!(counters["duplicate_submits"], 0);

    // Every file whole: its hash is the one the emulator served for it.
    let jobs: Vec<Value> = emulator.jobs().await;
    for line in document["details"].as_array().expect("details") {
        let id = line["request_id"].as_str().expect("an id");
        let job = jobs
            .iter()
            .find(|j| j["request_id"] == id)
            .expect("its job");
        let file = dir.path().join(line["files"][0].as_str().expect("a file"));
        let bytes = std::fs::read(&file).expect("downloaded");
        let sha: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(job["file_sha256"], sha.as_str(), "{}", file.display());
    }
}
