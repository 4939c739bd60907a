//! 1,000 concurrent jobs through the emulator at a high time scale: no
//! errors, bounded memory. Alone in its test binary so that the resident
//! memory it measures is its own.
#![cfg(feature = "emulator")]

mod common;

use common::{eventually, resident_bytes};
use futures::StreamExt;
use runcomfy::emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};
use std::time::Duration;

const MODEL: &str = "kling/kling-3.0/standard/text-to-video";

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn submit(&self, body: Value) -> String {
        let response = self
            .http
            .post(format!("{}/v1/models/{MODEL}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("submit answers");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("JSON");
        body["request_id"]
            .as_str()
            .expect("a request id")
            .to_string()
    }

    async fn finished(&self, id: &str) -> Value {
        eventually(Duration::from_secs(30), || async {
            let body: Value = self
                .http
                .get(format!("{}/v1/requests/{id}/result", self.base))
                .bearer_auth(&self.token)
                .send()
                .await
                .expect("result answers")
                .json()
                .await
                .expect("JSON");
            let done = !matches!(body["status"].as_str(), Some("in_queue" | "in_progress"));
            done.then_some(body)
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_jobs_complete_without_errors_in_bounded_memory() {
    const JOBS: usize = 1000;
    let config = EmulatorConfig::default().workers(100).time_scale(20_000.0);
    let emulator = Emulator::start(config).await.expect("starts");
    let api = Api {
        http: reqwest::Client::new(),
        base: emulator.base_url(),
        token: emulator.token().to_string(),
    };
    let before = resident_bytes();
    let started = std::time::Instant::now();

    let ids: Vec<String> = futures::stream::iter(0..JOBS)
        .map(|i| api.submit(json!({"prompt": format!("job {i}"), "duration": 3 + (i % 13) as i64})))
        .buffer_unordered(100)
        .collect()
        .await;
    assert_eq!(ids.len(), JOBS);
    let finished: Vec<Value> = futures::stream::iter(ids.iter())
        .map(|id| api.finished(id))
        .buffer_unordered(100)
        .collect()
        .await;
    assert!(finished.iter().all(|r| r["status"] == "completed"));

    let counters = emulator.counters();
    assert_eq!(counters.submits_accepted, JOBS as u64);
    assert_eq!(counters.jobs.completed, JOBS as u64);
    if let (Some(before), Some(after)) = (before, resident_bytes()) {
        let grown = after.saturating_sub(before);
        // A figure for the record (`--nocapture`), not a timed assertion.
        eprintln!(
            "{JOBS} jobs in {:.2?}; resident memory grew by {:.1} MiB",
            started.elapsed(),
            grown as f64 / (1024.0 * 1024.0)
        );
        assert!(
            grown < 64 * 1024 * 1024,
            "memory grew by {grown} bytes for {JOBS} jobs"
        );
    }
}
