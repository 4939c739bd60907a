//! 1,000 concurrent jobs through the emulator at a high time scale: no
//! errors, bounded memory. Alone in its test binary so that the resident
//! memory it measures is its own.
#![cfg(feature = "emulator")]

mod common;

use common::{Api, resident_bytes};
use futures::StreamExt;
use runcomfy::emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_jobs_complete_without_errors_in_bounded_memory() {
    const JOBS: usize = 1000;
    let config = EmulatorConfig::default().workers(100).time_scale(20_000.0);
    let emulator = Emulator::start(config).await.expect("starts");
    let api = Api::new(&emulator);
    let before = resident_bytes();
    let started = std::time::Instant::now();

    let ids: Vec<String> = futures::stream::iter(0..JOBS)
        .map(|i| api.submit(json!({"prompt": format!("job {i}"), "duration": 3 + (i % 13) as i64})))
        .buffer_unordered(100)
        .collect()
        .await;
    assert_eq!(ids.len(), JOBS);
    let finished: Vec<Value> = futures::stream::iter(ids.iter())
        .map(|id| api.finished_within(id, Duration::from_secs(30)))
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
