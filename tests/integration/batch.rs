//! `runcomfy batch`, run as a process against the standalone emulator:
//! killed with SIGKILL half way, interrupted with SIGINT, caught between a
//! submit and its answer, held by `--max-cost`. The emulator's counters
//! say whether anything was submitted twice.
#![cfg(feature = "cli")]

use crate::common;

use common::standalone::Standalone;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Output};
use std::time::Duration;

/// `lines` Kling requests, one per line, each a different prompt.
fn write_batch(dir: &Path, lines: usize) -> std::path::PathBuf {
    let file = dir.join("prompts.jsonl");
    let body: String = (1..=lines)
        .map(|i| {
            format!(
                "{}\n",
                json!({"prompt": format!("prompt number {i}"), "duration": 3})
            )
        })
        .collect();
    std::fs::write(&file, body).expect("write");
    file
}

fn batch(emulator: &Standalone, dir: &Path, extra: &[&str]) -> Child {
    emulator
        .cli(dir)
        .args(["batch", "prompts.jsonl", "--out-dir", "out"])
        .args(extra)
        .spawn()
        .expect("starts")
}

fn finish(child: Child) -> Output {
    child.wait_with_output().expect("exits")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Polls the batch's journal until `check` holds (at most 600 looks),
/// failing at once, with the batch's own words, if it ends before.
async fn until(
    emulator: &Standalone,
    dir: &Path,
    running: &mut Child,
    check: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..600 {
        let report = emulator.batch_status(dir, "out");
        if check(&report) {
            return report;
        }
        if let Some(exit) = running.try_wait().expect("the batch can be waited on") {
            let mut said = String::new();
            if let Some(mut err) = running.stderr.take() {
                std::io::Read::read_to_string(&mut err, &mut said).expect("stderr readable");
            }
            panic!("the batch ended ({exit}) before it got there: {report}\n{said}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the batch never got there: {}",
        emulator.batch_status(dir, "out")
    );
}

fn count(report: &Value, state: &str) -> u64 {
    report["states"][state].as_u64().unwrap_or(0)
}

fn assert_every_video_arrived(dir: &Path, lines: usize) {
    for line in 1..=lines {
        let bytes = std::fs::read(dir.join("out").join(format!("{line:04}.mp4")))
            .unwrap_or_else(|e| panic!("line {line}'s video: {e}"));
        common::assert_playable_mp4(&bytes);
    }
}

/// Jobs that take about a second each, two at a time.
fn slow_emulator() -> Standalone {
    Standalone::start(&[
        "--workers",
        "2",
        "--queue-delay",
        "0",
        "--run-time",
        "20",
        "--time-scale",
        "20",
        "--quiet",
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_killed_half_way_resumes_and_submits_nothing_twice() {
    const LINES: usize = 8;
    let emulator = slow_emulator();
    let dir = tempfile::tempdir().expect("temp dir");
    write_batch(dir.path(), LINES);

    let mut first = batch(&emulator, dir.path(), &["--concurrency", "4"]);
    until(&emulator, dir.path(), &mut first, |r| {
        count(r, "submitted") >= 2
    })
    .await;
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    let accepted_before = emulator.counters().await["submits_accepted"]
        .as_u64()
        .expect("a count");
    assert!(
        accepted_before >= 2 && accepted_before < LINES as u64,
        "{accepted_before}"
    );

    let second = finish(batch(&emulator, dir.path(), &["--concurrency", "4"]));
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let counters = emulator.counters().await;
    assert_eq!(
        counters["submits_accepted"], LINES,
        "each line once: {counters}"
    );
    assert_eq!(
        counters["requests"]["submit"], LINES,
        "no submit re-sent: {counters}"
    );
    assert_every_video_arrived(dir.path(), LINES);
    let report = emulator.batch_status(dir.path(), "out");
    assert_eq!(count(&report, "done"), LINES as u64, "{report}");
    assert!(report["cost_usd"].as_f64().expect("cost") > 0.0);
    // What polling learned is kept for the next run: the run times of the
    // jobs waited for, under their model.
    let journal =
        rusqlite::Connection::open(dir.path().join("out").join("batch.sqlite")).expect("journal");
    let learned: String = journal
        .query_row("SELECT times FROM learned WHERE id = 1", [], |row| {
            row.get(0)
        })
        .expect("learned times saved");
    let learned: runcomfy::polling::LearnedTimes = serde_json::from_str(&learned).expect("serde");
    assert!(
        learned.jobs_of("kling/kling-3.0/standard/text-to-video") >= 1,
        "{learned:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_line_caught_between_submit_and_answer_is_reported_not_resent() {
    let emulator = Standalone::start(&["--time-scale", "10000", "--quiet"]);
    let dir = tempfile::tempdir().expect("temp dir");
    write_batch(dir.path(), 2);
    // The first submit is processed at once but answered only after 3 s.
    emulator
        .fault(
            json!({"endpoint": "submit", "fault": {"type": "latency", "millis": 3000}, "count": 1}),
        )
        .await;
    let mut first = batch(&emulator, dir.path(), &["--concurrency", "1"]);
    until(&emulator, dir.path(), &mut first, |r| {
        count(r, "submitting") == 1
    })
    .await;
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");

    let second = finish(batch(&emulator, dir.path(), &[]));
    let said = stderr(&second);
    assert_eq!(second.status.code(), Some(86), "not all done: {said}");
    assert!(
        said.contains("line 1: may have been accepted") && said.contains("--resubmit-unknown"),
        "{said}"
    );
    let report = emulator.batch_status(dir.path(), "out");
    assert_eq!(
        (count(&report, "unknown"), count(&report, "done")),
        (1, 1),
        "{report}"
    );
    assert_eq!(report["may_have_been_accepted"], json!([1]));
    let counters = emulator.counters().await;
    assert_eq!(
        counters["requests"]["submit"], 2,
        "line 1 was not sent again: {counters}"
    );
    assert_eq!(
        counters["submits_accepted"], 2,
        "line 1's first submit made a job: {counters}"
    );

    // Asked to, it sends line 1 again: the user checked RunComfy.
    let third = finish(batch(&emulator, dir.path(), &["--resubmit-unknown"]));
    assert_eq!(third.status.code(), Some(0), "{}", stderr(&third));
    assert_eq!(emulator.counters().await["requests"]["submit"], 3);
    assert_every_video_arrived(dir.path(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_a_batch_that_resumes_where_it_stopped() {
    const LINES: usize = 6;
    let emulator = slow_emulator();
    let dir = tempfile::tempdir().expect("temp dir");
    write_batch(dir.path(), LINES);
    let mut first = batch(&emulator, dir.path(), &["--concurrency", "2"]);
    until(&emulator, dir.path(), &mut first, |r| {
        count(r, "submitted") >= 1
    })
    .await;
    let signal = std::process::Command::new("kill")
        .args(["-INT", &first.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(signal.success());
    let first = finish(first);
    assert_eq!(first.status.code(), Some(130), "{}", stderr(&first));
    assert!(
        stderr(&first).contains("rerun the same command"),
        "{}",
        stderr(&first)
    );

    let second = finish(batch(&emulator, dir.path(), &["--concurrency", "3"]));
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let counters = emulator.counters().await;
    assert_eq!(counters["requests"]["submit"], LINES, "{counters}");
    assert_every_video_arrived(dir.path(), LINES);
}

#[tokio::test(flavor = "multi_thread")]
async fn max_cost_refuses_the_batch_before_any_submit() {
    let emulator = Standalone::start(&["--time-scale", "10000", "--quiet"]);
    let dir = tempfile::tempdir().expect("temp dir");
    write_batch(dir.path(), 5); // 5 x 3 s x $0.126 = $1.89
    let refused = finish(batch(&emulator, dir.path(), &["--max-cost", "1.50"]));
    assert_eq!(refused.status.code(), Some(84), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("$1.8900"), "{}", stderr(&refused));
    let counters = emulator.counters().await;
    assert_eq!(counters["requests"]["submit"], 0, "{counters}");
    let report = emulator.batch_status(dir.path(), "out");
    assert_eq!(count(&report, "pending"), 5, "{report}");

    let within = finish(batch(&emulator, dir.path(), &["--max-cost", "2"]));
    assert_eq!(within.status.code(), Some(0), "{}", stderr(&within));
    assert_eq!(emulator.counters().await["submits_accepted"], 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_lines_are_never_sent_and_a_changed_file_is_refused() {
    let emulator = Standalone::start(&["--time-scale", "10000", "--quiet"]);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("prompts.jsonl"),
        "{\"prompt\": \"fine\"}\n{\"prompt\": \"too long\", \"duration\": 99}\nnot json\n\n{\"model\": \"kling/kling-3.0/standard/text-to-video\", \"input\": {\"prompt\": \"wrapped\"}}\n",
    )
    .expect("write");
    let output = finish(batch(&emulator, dir.path(), &[]));
    assert_eq!(output.status.code(), Some(86), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(
        said.contains("line 2 invalid") && said.contains("duration: must be at most 15"),
        "{said}"
    );
    assert!(said.contains("line 3 invalid: not JSON"), "{said}");
    assert_eq!(emulator.counters().await["submits_accepted"], 2);
    assert!(dir.path().join("out/0005.mp4").is_file());

    std::fs::write(
        dir.path().join("prompts.jsonl"),
        "{\"prompt\": \"changed\"}\n",
    )
    .expect("write");
    let output = finish(batch(&emulator, dir.path(), &[]));
    assert_ne!(output.status.code(), Some(0));
    assert!(
        stderr(&output).contains("line 1 changed"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        emulator.counters().await["submits_accepted"],
        2,
        "nothing sent"
    );
}
