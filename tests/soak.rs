//! The fault soak: many jobs against the emulator with every fault kind
//! injected at the rates below on every endpoint (the file server too),
//! through the public API and through `runcomfy batch` (killed half way,
//! then rerun). It prints its figures and asserts what must never happen:
//! a submit sent twice, an accepted job the client lost track of, a file
//! under its final name that is partial or corrupt.
//!
//! CI runs a small size. The full size (figures in RELIABILITY.md):
//!
//! ```text
//! RUNCOMFY_SOAK_JOBS=3000 RUNCOMFY_SOAK_LINES=1000 cargo test --release --features cli --test soak -- --nocapture
//! ```
#![cfg(feature = "cli")]

mod common;

use common::standalone::Standalone;
use futures::StreamExt;
use runcomfy::emulator::{Emulator, EmulatorConfig, Endpoint, Fault, FaultScript, JobRecord};
use runcomfy::models::kling::kling_3_0::standard::text_to_video::Input;
use runcomfy::polling::FixedPolling;
use runcomfy::{Client, DownloadPolicy, Error, RetryPolicy, WaitOptions};
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

fn size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Every fault kind, with the share of calls it hits, per endpoint.
fn fault_mix() -> Vec<(Endpoint, f64, Fault)> {
    let transport = |endpoint| {
        vec![
            (
                endpoint,
                0.03,
                Fault::RateLimited {
                    retry_after_secs: 0,
                },
            ),
            (endpoint, 0.02, Fault::HttpError { status: 500 }),
            (endpoint, 0.02, Fault::HttpError { status: 503 }),
            (endpoint, 0.02, Fault::MalformedJson),
            (endpoint, 0.02, Fault::TruncatedBody),
            (endpoint, 0.02, Fault::ConnectionReset),
            (
                endpoint,
                0.02,
                Fault::ErrorIn200 {
                    error_code: 500_001,
                    message: "internal error".into(),
                },
            ),
            (endpoint, 0.02, Fault::Latency { millis: 20 }),
        ]
    };
    let mut mix = Vec::new();
    for endpoint in [
        Endpoint::Submit,
        Endpoint::Status,
        Endpoint::Result,
        Endpoint::Cancel,
    ] {
        mix.extend(transport(endpoint));
    }
    mix.extend([
        (
            Endpoint::Submit,
            0.05,
            Fault::JobFails {
                message: "content policy".into(),
            },
        ),
        (Endpoint::Submit, 0.05, Fault::AlternateSpellings),
        (
            Endpoint::Submit,
            0.03,
            Fault::UnknownStatus {
                status: "warming_up".into(),
            },
        ),
        (Endpoint::File, 0.05, Fault::StopHalfway),
        (Endpoint::File, 0.03, Fault::IgnoreRange),
        (Endpoint::File, 0.02, Fault::HttpError { status: 503 }),
        (Endpoint::File, 0.02, Fault::Latency { millis: 20 }),
    ]);
    mix
}

fn scripts() -> Vec<FaultScript> {
    fault_mix()
        .into_iter()
        .map(|(endpoint, rate, fault)| FaultScript {
            endpoint,
            fault,
            count: None,
            rate: Some(rate),
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Counts the client's retries per operation (its `retrying` events) and
/// its download resumes.
mod retries {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, Layer};
    use tracing_subscriber::registry::LookupSpan;

    #[derive(Clone, Default)]
    pub struct Counter(pub Arc<Mutex<BTreeMap<String, u64>>>);

    struct Operation(String);

    #[derive(Default)]
    struct Fields {
        operation: Option<String>,
        message: Option<String>,
    }

    impl Visit for Fields {
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "operation" {
                self.operation = Some(value.to_string());
            }
        }
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            match field.name() {
                "message" => self.message = Some(format!("{value:?}")),
                "operation" => self.operation = Some(format!("{value:?}")),
                _ => {}
            }
        }
    }

    impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Counter {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            id: &tracing::span::Id,
            ctx: Context<'_, S>,
        ) {
            let mut fields = Fields::default();
            attrs.record(&mut fields);
            if let (Some(operation), Some(span)) = (fields.operation, ctx.span(id)) {
                span.extensions_mut().insert(Operation(operation));
            }
        }

        fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
            let mut fields = Fields::default();
            event.record(&mut fields);
            let key = match fields.message.as_deref() {
                Some("retrying") => ctx
                    .event_span(event)
                    .and_then(|span| {
                        span.scope()
                            .find_map(|s| s.extensions().get::<Operation>().map(|o| o.0.clone()))
                    })
                    .unwrap_or_else(|| "unknown".into()),
                Some("download interrupted; resuming") => "download (resume)".into(),
                _ => return,
            };
            *self.0.lock().expect("lock").entry(key).or_default() += 1;
        }
    }
}

/// What happened to one job, as the client saw it.
#[derive(Debug)]
enum Outcome {
    Downloaded {
        id: String,
        files: Vec<std::path::PathBuf>,
    },
    FailedAsScripted {
        id: String,
    },
    ErrorAfterSubmit {
        id: String,
        error: String,
    },
    MayHaveBeenAccepted,
    NotAccepted {
        error: String,
    },
}

async fn one_job(client: Client, index: usize, dir: std::path::PathBuf) -> (String, Outcome) {
    let prompt = format!("soak job {index}");
    let job = match client.submit(&Input::new(prompt.clone())).await {
        Ok(job) => job,
        Err(Error::SubmitOutcomeUnknown { .. }) => return (prompt, Outcome::MayHaveBeenAccepted),
        Err(error) => {
            return (
                prompt,
                Outcome::NotAccepted {
                    error: error.to_string(),
                },
            );
        }
    };
    let id = job.request_id().to_string();
    // Every tenth job also asks to be cancelled (a queued one may be).
    if index.is_multiple_of(10) {
        let _ = job.cancel().await;
    }
    let outcome = match job.wait().await {
        Ok(result) => match client.download_result(&result, dir.join(&id)).await {
            Ok(files) => Outcome::Downloaded { id, files },
            Err(error) => Outcome::ErrorAfterSubmit {
                error: error.to_string(),
                id,
            },
        },
        Err(Error::JobFailed { .. }) => Outcome::FailedAsScripted { id },
        Err(error) => {
            assert_eq!(
                error.request_id(),
                Some(id.as_str()),
                "errors after a submit carry its id"
            );
            Outcome::ErrorAfterSubmit {
                id,
                error: error.to_string(),
            }
        }
    };
    (prompt, outcome)
}

/// No part files anywhere below `dir`.
fn assert_no_part_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            assert_no_part_files(&path);
        } else {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                !name.ends_with(".part"),
                "a partial file was left: {}",
                path.display()
            );
        }
    }
}

#[test]
fn the_public_api_and_the_batch_under_every_fault() {
    let counter = retries::Counter::default();
    {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(counter.clone());
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber here");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(through_the_api(size("RUNCOMFY_SOAK_JOBS", 300), &counter));
    runtime.block_on(through_the_batch(size("RUNCOMFY_SOAK_LINES", 120)));
}

async fn through_the_api(jobs: usize, counter: &retries::Counter) {
    let started = Instant::now();
    let emulator = Emulator::start(
        EmulatorConfig::default()
            .time_scale(10_000.0)
            .workers(32)
            .seed(11)
            .max_retained_jobs(1_000_000),
    )
    .await
    .expect("starts");
    for script in scripts() {
        emulator.inject(script).expect("a valid script");
    }
    let client = Client::builder()
        .token(emulator.token())
        .base_url(emulator.base_url())
        .retry(
            RetryPolicy::default()
                .max_retries(6)
                .initial_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(20))
                .budget(Duration::from_secs(10)),
        )
        .poll_policy(FixedPolling(Duration::from_millis(5)))
        .wait_options(
            WaitOptions::new()
                .deadline(Duration::from_secs(120))
                .max_consecutive_errors(30),
        )
        .download_policy(DownloadPolicy::default().max_resumes(8))
        .build()
        .expect("builds");
    let dir = tempfile::tempdir().expect("temp dir");
    let outcomes: Vec<(String, Outcome)> = futures::stream::iter(0..jobs)
        .map(|i| one_job(client.clone(), i, dir.path().to_path_buf()))
        .buffer_unordered(64)
        .collect()
        .await;

    // What the emulator accepted, by prompt (each prompt is sent once).
    let accepted: Vec<JobRecord> = emulator.jobs();
    let by_prompt: HashMap<String, &JobRecord> = accepted
        .iter()
        .map(|job| {
            (
                job.input["prompt"].as_str().unwrap_or_default().to_string(),
                job,
            )
        })
        .collect();
    let by_id: HashMap<&str, &JobRecord> = accepted
        .iter()
        .map(|job| (job.request_id.as_str(), job))
        .collect();
    let counters = emulator.counters();
    assert_eq!(counters.duplicate_submits, 0, "a submit was sent twice");
    assert_eq!(
        by_prompt.len(),
        accepted.len(),
        "a prompt was accepted twice"
    );

    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut lost, mut corrupt, mut files_checked) = (0, 0, 0);
    for (prompt, outcome) in &outcomes {
        let kind = match outcome {
            Outcome::Downloaded { id, files } => {
                let job = by_id
                    .get(id.as_str())
                    .expect("the client's id is the emulator's");
                assert_eq!(job.status, "completed");
                for file in files {
                    let bytes = std::fs::read(file).expect("saved");
                    files_checked += 1;
                    if Some(bytes.len() as u64) != job.file_size
                        || Some(sha256(&bytes)) != job.file_sha256
                    {
                        corrupt += 1;
                    }
                }
                "completed and downloaded"
            }
            Outcome::FailedAsScripted { id } => {
                assert_eq!(
                    by_id.get(id.as_str()).map(|j| j.status.as_str()),
                    Some("failed")
                );
                "failed as scripted"
            }
            Outcome::ErrorAfterSubmit { id, error } => {
                assert!(by_id.contains_key(id.as_str()), "{id}: {error}");
                "error after submit (id kept)"
            }
            Outcome::MayHaveBeenAccepted => "reported as may have been accepted",
            Outcome::NotAccepted { error } => {
                if by_prompt.contains_key(prompt) {
                    // Accepted, yet the client said it was not: lost.
                    eprintln!("lost: {prompt}: {error}");
                    lost += 1;
                }
                "not accepted (refused before any job)"
            }
        };
        *tally.entry(kind).or_default() += 1;
    }
    // Every accepted job is one the client holds or reported.
    let reported: usize = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::MayHaveBeenAccepted))
        .count();
    let held = outcomes.len()
        - reported
        - tally
            .get("not accepted (refused before any job)")
            .unwrap_or(&0);
    assert!(
        accepted.len() <= held + reported,
        "the emulator accepted jobs nobody knows of"
    );
    assert_no_part_files(dir.path());

    println!(
        "\n== fault soak through the public API: {jobs} jobs, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for (kind, n) in &tally {
        println!("{kind:<40}{n:>7}");
    }
    println!("{:<40}{:>7}", "accepted by the emulator", accepted.len());
    println!(
        "{:<40}{:>7}",
        "submits sent twice", counters.duplicate_submits
    );
    println!("{:<40}{lost:>7}", "request ids lost");
    println!(
        "{:<40}{files_checked:>7}",
        "files checked (size and SHA-256)"
    );
    println!("{:<40}{corrupt:>7}", "files partial or corrupt");
    for (_, outcome) in &outcomes {
        if let Outcome::ErrorAfterSubmit { id, error } = outcome {
            println!("  error after submit, {id}: {error}");
        }
    }
    println!(
        "faults injected per endpoint: {}",
        json!(counters.faults_injected)
    );
    println!("requests per endpoint: {}", json!(counters.requests));
    println!(
        "client retries per operation: {}",
        json!(*counter.0.lock().expect("lock"))
    );
    assert_eq!(lost, 0, "request ids lost");
    assert_eq!(
        corrupt, 0,
        "files partial or corrupt under their final name"
    );
    assert!(
        tally.get("completed and downloaded").copied().unwrap_or(0) > jobs / 2,
        "most jobs make it through the faults: {tally:?}"
    );
}

async fn through_the_batch(lines: usize) {
    let started = Instant::now();
    let emulator = Standalone::start(&[
        "--time-scale",
        "20",
        "--queue-delay",
        "0",
        "--run-time",
        "4",
        "--workers",
        "16",
        "--seed",
        "5",
        "--quiet",
    ]);
    for script in scripts() {
        emulator
            .fault(serde_json::to_value(&script).expect("JSON"))
            .await;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let body: String = (0..lines)
        .map(|i| {
            format!(
                "{}\n",
                json!({"prompt": format!("soak line {i}"), "duration": 3})
            )
        })
        .collect();
    std::fs::write(dir.path().join("prompts.jsonl"), body).expect("write");
    let batch = [
        "batch",
        "prompts.jsonl",
        "--out-dir",
        "out",
        "--concurrency",
        "16",
        "--timeout",
        "2m",
    ];

    // The first run is killed once a quarter of the lines have an id.
    let mut first = emulator
        .cli(dir.path())
        .args(batch)
        .spawn()
        .expect("starts");
    for _ in 0..1200 {
        let report = emulator.batch_status(dir.path(), "out");
        let with_id = report["details"]
            .as_array()
            .map(|d| d.iter().filter(|l| l["request_id"].is_string()).count())
            .unwrap_or(0);
        if with_id * 4 >= lines {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    let after_crash = emulator.batch_status(dir.path(), "out");
    // Then rerun until nothing can go on (each rerun resumes).
    let mut runs = 1;
    for _ in 0..6 {
        let output = emulator.cli(dir.path()).args(batch).output().expect("runs");
        runs += 1;
        if output.status.code() == Some(0) {
            break;
        }
        let report = emulator.batch_status(dir.path(), "out");
        let resumable = ["pending", "submitting", "submitted"]
            .iter()
            .map(|s| report["states"][*s].as_u64().unwrap_or(0))
            .sum::<u64>();
        if resumable == 0 {
            break;
        }
    }
    let report = emulator.batch_status(dir.path(), "out");
    let jobs: Vec<Value> = emulator.jobs().await;
    let counters = emulator.counters().await;
    let by_id: HashMap<&str, &Value> = jobs
        .iter()
        .map(|j| (j["request_id"].as_str().unwrap_or_default(), j))
        .collect();
    let mut accepted_per_prompt: HashMap<&str, usize> = HashMap::new();
    for job in &jobs {
        *accepted_per_prompt
            .entry(job["input"]["prompt"].as_str().unwrap_or_default())
            .or_default() += 1;
    }
    let details = report["details"].as_array().expect("details");
    let (mut corrupt, mut lost, mut checked) = (0, 0, 0);
    for line in details {
        let state = line["state"].as_str().unwrap_or_default();
        match (state, line["request_id"].as_str()) {
            ("done", Some(id)) => {
                let job = by_id.get(id).expect("a done line's job is the emulator's");
                for file in line["files"].as_array().into_iter().flatten() {
                    let bytes = std::fs::read(dir.path().join(file.as_str().unwrap_or_default()))
                        .expect("the file");
                    checked += 1;
                    if Some(bytes.len() as u64) != job["file_size"].as_u64()
                        || Some(sha256(&bytes).as_str()) != job["file_sha256"].as_str()
                    {
                        corrupt += 1;
                    }
                }
            }
            ("pending", None) => {
                // Never accepted: the emulator must not hold its prompt.
                let number = line["line"].as_u64().unwrap_or(0) - 1;
                if accepted_per_prompt.contains_key(format!("soak line {number}").as_str()) {
                    lost += 1;
                }
            }
            _ => {}
        }
    }
    assert_no_part_files(&dir.path().join("out"));
    println!(
        "\n== fault soak through `runcomfy batch`: {lines} lines, {runs} runs (the first killed), {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("lines per state after the crash: {}", after_crash["states"]);
    println!("lines per state at the end:      {}", report["states"]);
    println!("{:<40}{:>7}", "accepted by the emulator", jobs.len());
    println!(
        "{:<40}{:>7}",
        "submits sent twice", counters["duplicate_submits"]
    );
    println!("{:<40}{lost:>7}", "lines lost (accepted, marked pending)");
    println!("{:<40}{checked:>7}", "files checked (size and SHA-256)");
    println!("{:<40}{corrupt:>7}", "files partial or corrupt");
    println!(
        "faults injected per endpoint: {}",
        counters["faults_injected"]
    );
    assert_eq!(
        counters["duplicate_submits"], 0,
        "a line was submitted twice"
    );
    assert!(
        accepted_per_prompt.values().all(|n| *n == 1),
        "a line was accepted twice"
    );
    assert_eq!(lost, 0);
    assert_eq!(corrupt, 0);
    assert_eq!(
        report["lines"].as_u64(),
        Some(lines as u64),
        "every line is accounted for"
    );
}
