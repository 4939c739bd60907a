//! Resume a job after a restart: save its ticket, rebuild the handle from
//! it (or from the request id alone), wait.
//!
//! ```text
//! cargo run --features emulator --example resume
//! ```

mod common;

use runcomfy::models::kling::kling_3_0::standard::text_to_video::{Input, TextToVideo};
use runcomfy::{Job, JobTicket};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::report(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let live = std::env::args().any(|a| a == "--live");
    let target = common::connect(live, common::quick_emulator()).await?;

    // Process 1: submit and save the ticket (say, to a database or a file).
    let saved = {
        let job = target
            .client
            .submit(&Input::new("a lighthouse in a storm"))
            .await?;
        serde_json::to_string(&job)?
    };
    println!("saved ticket: {saved}");

    // Process 2: a fresh handle from the ticket...
    let ticket: JobTicket = serde_json::from_str(&saved)?;
    let job: Job<TextToVideo> = target.client.resume(ticket.clone())?;
    // ...or from the request id alone.
    let same_job = target.client.job::<TextToVideo>(&ticket.request_id)?;
    println!("status: {}", same_job.status().await?);

    let result = job.wait().await?;
    println!("video: {}", result.output.video.unwrap_or_default());
    Ok(())
}
