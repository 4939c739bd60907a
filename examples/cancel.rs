//! Cancel a queued job; a running one cannot be cancelled.
//!
//! ```text
//! cargo run --features emulator --example cancel
//! ```

mod common;

use runcomfy::emulator::RunTime;
use runcomfy::models::kling::kling_3_0::standard::text_to_video::Input;
use runcomfy::{CancelOutcome, Status};
use std::time::Duration;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::report(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let live = std::env::args().any(|a| a == "--live");
    // One worker, busy for a long time: the second job has to queue.
    let config = common::quick_emulator()
        .workers(1)
        .queue_delay(Duration::ZERO)
        .run_time(RunTime::Fixed(Duration::from_secs(600)));
    let target = common::connect(live, config).await?;

    let first = target.client.submit(&Input::new("a slow sunrise")).await?;
    let second = target.client.submit(&Input::new("a fast sunset")).await?;
    while first.status().await? != Status::InProgress {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("second job: {}", second.status().await?);

    match second.cancel().await? {
        CancelOutcome::Cancelled => println!("second job cancelled: nothing to pay"),
        other => println!("second job: {other:?}"),
    }
    match first.cancel().await? {
        CancelOutcome::NotCancellable => println!("first job is running and cannot be cancelled"),
        other => println!("first job: {other:?}"),
    }
    Ok(())
}
