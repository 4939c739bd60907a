//! The token never appears in anything the command line prints (text,
//! `--json`, `-v`/`-vv` logs at every level for every target), in the
//! emulator's log, or in a batch's database; and it never reaches the file
//! host.
#![cfg(feature = "cli")]

use crate::common;

use common::raw_server::{RawServer, json};
use common::standalone::Standalone;
use std::path::Path;

const TOKEN: &str = "sk-cli-secret-9f8e7d6c5b4a";

fn run(base: &str, dir: &Path, args: &[&str]) -> (String, Option<i32>) {
    let output = assert_cmd::Command::cargo_bin("runcomfy")
        .expect("built")
        .args(args)
        .current_dir(dir)
        .env("RUNCOMFY_BASE_URL", base)
        .env("RUNCOMFY_TOKEN", TOKEN)
        .env("RUNCOMFY_LOG", "trace")
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (text, output.status.code())
}

/// Every byte of every file below `dir`.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("list").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(all_bytes(&path));
        } else {
            out.extend(std::fs::read(&path).unwrap_or_default());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_stays_out_of_output_logs_and_the_batch_database() {
    let emulator = Standalone::start(&["--token", TOKEN, "--time-scale", "10000"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let base = emulator.base.clone();
    let mut printed = Vec::new();
    let mut check = |args: &[&str]| {
        let (text, code) = run(&base, dir.path(), args);
        printed.push((args.join(" "), code, text));
    };
    check(&["-vv", "generate", "a fox", "--output-dir", "v"]);
    check(&["--json", "generate", "a fox", "--no-download"]);
    check(&["-v", "models", "list"]);
    check(&["-vv", "generate", "x", "--duration", "99"]);
    std::fs::write(
        dir.path().join("prompts.jsonl"),
        "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n",
    )
    .expect("write");
    check(&["-vv", "batch", "prompts.jsonl", "--out-dir", "batch"]);
    check(&["--json", "batch", "status", "batch"]);

    // A server that echoes the Authorization header back in its errors.
    let echo = RawServer::start(|request| {
        let echoed = request
            .header("authorization")
            .unwrap_or_default()
            .to_string();
        json(
            401,
            &[],
            &serde_json::json!({"error_code": 400004, "error_message": format!("bad: {echoed}")})
                .to_string(),
        )
    })
    .await;
    let (text, code) = run(&echo.base_url(), dir.path(), &["-vv", "generate", "a fox"]);
    assert_eq!(code, Some(77));
    assert!(
        text.contains("Bearer [REDACTED]"),
        "the echo is scrubbed, not hidden: {text}"
    );
    printed.push(("against an echoing server".into(), code, text));
    let (text, code) = run(&echo.base_url(), dir.path(), &["--json", "status", "abc"]);
    printed.push(("--json against an echoing server".into(), code, text));

    for (args, code, text) in &printed {
        assert!(
            !text.contains(TOKEN),
            "`runcomfy {args}` (exit {code:?}) printed the token:\n{text}"
        );
    }
    assert!(
        printed[0].2.contains("DEBUG") || printed[0].2.contains("TRACE"),
        "-vv logs"
    );
    let database = all_bytes(&dir.path().join("batch"));
    assert!(!database.is_empty());
    assert!(
        !String::from_utf8_lossy(&database).contains(TOKEN),
        "the batch's files hold the token"
    );
    let counters = emulator.counters().await;
    assert_eq!(
        counters["file_requests_with_authorization"], 0,
        "{counters}"
    );
    let log = emulator.stop();
    assert!(log.contains("path="), "the emulator logged its requests");
    assert!(!log.contains(TOKEN), "the emulator's log holds the token");
}
