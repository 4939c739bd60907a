//! A prompt in, a playable MP4 out: the main job.
//!
//! ```text
//! cargo run --features emulator --example generate -- "a red fox running through fresh snow"
//! cargo run --features emulator --example generate -- --live --aspect-ratio 9:16 "..."   # real RunComfy, paid
//! ```

mod common;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use runcomfy::models::kling::kling_3_0::standard::text_to_video::{AspectRatio, Input};
use runcomfy::{Status, WaitOptions};
use std::path::PathBuf;
use std::time::Duration;

/// Generate a video with Kling 3.0 text-to-video.
#[derive(Debug, Parser)]
struct Args {
    /// What the video shows.
    #[arg(
        default_value = "A red fox trots through fresh snow at dawn, cinematic, shallow depth of field"
    )]
    prompt: String,
    /// Folder to save the video in.
    #[arg(long, default_value = "output")]
    out: PathBuf,
    /// 16:9, 9:16 or 1:1.
    #[arg(long)]
    aspect_ratio: Option<AspectRatio>,
    /// Seconds of video, 3 to 15.
    #[arg(long)]
    duration: Option<i64>,
    /// No generated sound.
    #[arg(long)]
    no_sound: bool,
    /// Use RunComfy itself (RUNCOMFY_TOKEN; a paid job) instead of the local emulator.
    #[arg(long)]
    live: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::report(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let target = common::connect(args.live, common::quick_emulator()).await?;
    let input = Input {
        aspect_ratio: args.aspect_ratio,
        duration: args.duration,
        sound: args.no_sound.then_some(false),
        ..Input::new(args.prompt)
    };

    // Invalid input is refused here, before anything is sent or paid for.
    let job = target.client.submit(&input).await?;
    let spinner = ProgressBar::new_spinner()
        .with_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}")?);
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner.set_message(format!("submitted {}", job.request_id()));
    let bar = spinner.clone();
    let options = WaitOptions::new().on_progress(move |p| {
        bar.set_message(match &p.status {
            Status::InQueue { position: Some(n) } => format!("queued, {n} ahead"),
            other => other.to_string(),
        })
    });
    let result = job.wait_with(options).await;
    spinner.finish_and_clear();
    let result =
        result.map_err(|e| format!("{e} (resume with request id {})", job.request_id()))?;

    std::fs::create_dir_all(&args.out)?;
    for path in target.client.download_result(&result, &args.out).await? {
        let size = std::fs::metadata(&path)?.len();
        println!("{} ({size} bytes)", path.display());
    }
    Ok(())
}
