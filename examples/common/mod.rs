//! Shared by the examples: a client for the local emulator (the default)
//! or, with `--live`, for RunComfy itself (token from `RUNCOMFY_TOKEN`).

use runcomfy::Client;
use runcomfy::emulator::{Emulator, EmulatorConfig};

/// A client, and the emulator it talks to unless live.
pub struct Target {
    pub client: Client,
    /// Kept alive for as long as the client needs it.
    pub _emulator: Option<Emulator>,
}

/// Connects to RunComfy when `live`, else to a fresh local emulator that
/// runs 20 times faster than real time (a 5 s Kling video takes ~2 s).
pub async fn connect(
    live: bool,
    emulator: EmulatorConfig,
) -> Result<Target, Box<dyn std::error::Error>> {
    if live {
        return Ok(Target {
            client: Client::from_env()?,
            _emulator: None,
        });
    }
    let emulator = Emulator::start(emulator).await?;
    eprintln!(
        "using the local emulator at {} (pass --live to use RunComfy)",
        emulator.base_url()
    );
    let client = Client::builder()
        .token(emulator.token())
        .base_url(emulator.base_url())
        // Its clock runs 20 times fast: the default schedule expects
        // RunComfy's real run times.
        .poll_policy(runcomfy::polling::BackoffPolling::default())
        .build()?;
    Ok(Target {
        client,
        _emulator: Some(emulator),
    })
}

/// The emulator's settings for the examples: 20 times real speed, and a
/// seed from the clock so that each run gets new request ids (and so new
/// file names).
pub fn quick_emulator() -> EmulatorConfig {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    EmulatorConfig::default().time_scale(20.0).seed(seed)
}

/// Runs an example's body, printing an error as a sentence, not a struct.
pub fn report(outcome: Result<(), Box<dyn std::error::Error>>) -> std::process::ExitCode {
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
