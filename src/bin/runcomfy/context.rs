//! Where a command runs (RunComfy or an emulator started for it), and
//! Ctrl-C.

use crate::cli::{ClientArgs, Global};
use crate::exit::{Failure, Kind};
use crate::output::Output;
use runcomfy::emulator::{Emulator, EmulatorConfig};
use runcomfy::polling::{FixedPolling, LearningPolling, PollPolicy};
use runcomfy::{Client, ClientBuilder};
use std::sync::Arc;

/// Where a command runs, and how it speaks.
pub struct Context {
    pub client: Client,
    pub out: Output,
    /// What a printed resume command needs before `runcomfy` (the base
    /// URL when it is not RunComfy's).
    pub resume_prefix: String,
    /// The learning schedule, where one is used: the batch saves what it
    /// learned.
    pub learning: Option<Arc<LearningPolling>>,
    /// Kept alive while the command runs (`--emulator`).
    _emulator: Option<Emulator>,
}

impl Context {
    /// RunComfy (token from `RUNCOMFY_TOKEN`), or an emulator started here
    /// with `--emulator`.
    pub async fn new(global: &Global, client: &ClientArgs) -> Result<Self, Failure> {
        Self::starting_from(global, client, runcomfy::polling::LearnedTimes::default()).await
    }

    /// As [`new`](Self::new), the learning schedule starting from what an
    /// earlier run learned.
    pub async fn starting_from(
        global: &Global,
        flags: &ClientArgs,
        learned: runcomfy::polling::LearnedTimes,
    ) -> Result<Self, Failure> {
        let out = Output::for_flags(global);
        if flags.emulator {
            // A new seed each run: new request ids, so new file names.
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or_default();
            let config = EmulatorConfig::default()
                .time_scale(flags.emulator_time_scale)
                .seed(seed);
            let emulator = start_emulator(config).await?;
            out.note(format!(
                "using a local emulator at {} (no token, no cost)",
                emulator.base_url()
            ));
            let client = with_polling(
                Client::builder()
                    .token(emulator.token())
                    .base_url(emulator.base_url()),
                flags,
                // Its clock runs fast: the learning schedule expects
                // RunComfy's real run times.
                || Arc::new(runcomfy::polling::BackoffPolling::default()),
            )
            .include_cost(true)
            .build()?;
            return Ok(Self {
                client,
                out,
                resume_prefix: "(the in-process emulator has stopped) ".into(),
                learning: None,
                _emulator: Some(emulator),
            });
        }
        let learning = flags
            .poll_secs
            .is_none()
            .then(|| Arc::new(LearningPolling::with_learned(learned)));
        let shared = learning.clone();
        let client = with_polling(Client::builder().from_env()?, flags, move || {
            shared.map_or_else(
                || Arc::new(LearningPolling::default()) as Arc<dyn PollPolicy>,
                |policy| policy as Arc<dyn PollPolicy>,
            )
        })
        .include_cost(true)
        .build()?;
        let resume_prefix = if client.base_url() == runcomfy::DEFAULT_BASE_URL {
            String::new()
        } else {
            format!("RUNCOMFY_BASE_URL={} ", client.base_url())
        };
        Ok(Self {
            client,
            out,
            resume_prefix,
            learning,
            _emulator: None,
        })
    }
}

/// The polling schedule: `--poll-secs`, else `default`.
pub fn with_polling(
    builder: ClientBuilder,
    flags: &ClientArgs,
    default: impl FnOnce() -> Arc<dyn PollPolicy>,
) -> ClientBuilder {
    match flags.poll_secs {
        Some(every) => builder.poll_policy(FixedPolling(every)),
        None => builder.poll_policy(default()),
    }
}

/// Ctrl-C, listened for from the moment it is created.
pub struct Interrupts {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
    seen: bool,
}

impl Interrupts {
    pub fn new() -> Self {
        Self {
            #[cfg(unix)]
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok(),
            seen: false,
        }
    }

    /// Whether Ctrl-C was pressed.
    pub fn seen(&self) -> bool {
        self.seen
    }

    /// Waits for Ctrl-C.
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        match self.signal.as_mut() {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        self.seen = true;
    }
}

/// Starts an emulator, or says why it could not.
pub async fn start_emulator(config: EmulatorConfig) -> Result<Emulator, Failure> {
    Emulator::start(config)
        .await
        .map_err(|e| Failure::new(Kind::Emulator, format!("cannot start the emulator: {e}")))
}
