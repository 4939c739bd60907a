//! The RunComfy Model API emulator as a standalone server.
//!
//! ```text
//! cargo run --features emulator --bin runcomfy-emulator -- --port 8787
//! ```
//!
//! It prints the URLs it listens on, then logs each request to stderr.
//! Faults are scripted over HTTP: `POST /_emulator/faults` with a JSON
//! `FaultScript`, `DELETE /_emulator/faults`; `GET /_emulator/counters`.

use clap::Parser;
use runcomfy::emulator::{Emulator, EmulatorConfig, RunTime};
use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

/// A local, stateful stand-in for RunComfy's Model API.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// API port (0 picks a free one).
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// File server port, the stand-in for RunComfy's CDN (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    files_port: u16,
    /// Address to listen on. Loopback unless you ask otherwise.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// The bearer token clients must send.
    #[arg(long, env = "RUNCOMFY_EMULATOR_TOKEN", default_value = EmulatorConfig::DEFAULT_TOKEN)]
    token: String,
    /// Jobs that run at once.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Seconds every job waits in the queue (emulated time).
    #[arg(long, default_value_t = 2.0)]
    queue_delay: f64,
    /// Seconds of work per second of requested video (emulated time).
    #[arg(long, default_value_t = 6.0, conflicts_with = "run_time")]
    run_time_per_video_second: f64,
    /// Seconds every job runs, whatever its duration (emulated time).
    #[arg(long)]
    run_time: Option<f64>,
    /// How many times faster than real time emulated time passes.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Seed for request ids and rate-based faults.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Do not log requests.
    #[arg(long)]
    quiet: bool,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "runcomfy_emulator=info".into()),
        )
        .init();
    let seconds = |s: f64| Duration::from_secs_f64(s.max(0.0));
    let run_time = match args.run_time {
        Some(s) => RunTime::Fixed(seconds(s)),
        None => RunTime::PerVideoSecond(seconds(args.run_time_per_video_second)),
    };
    let config = EmulatorConfig::default()
        .port(args.port)
        .files_port(args.files_port)
        .bind(args.bind)
        .token(args.token)
        .workers(args.workers)
        .queue_delay(seconds(args.queue_delay))
        .run_time(run_time)
        .time_scale(args.time_scale)
        .seed(args.seed)
        .log_requests(!args.quiet);
    let emulator = Emulator::start(config).await?;
    let mut stdout = std::io::stdout();
    writeln!(
        stdout,
        "runcomfy-emulator listening on {} (files on {})",
        emulator.base_url(),
        emulator.files_base_url()
    )?;
    stdout.flush()?;
    tokio::signal::ctrl_c().await?;
    emulator.shutdown();
    Ok(())
}
