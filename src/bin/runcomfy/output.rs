//! What goes to stdout and stderr: results for people or one JSON
//! document, notes, logs.

use serde_json::Value;
use std::io::Write;

/// Where a command's words go.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// One JSON document on stdout, nothing else anywhere.
    pub json: bool,
}

impl Output {
    /// A result line for people, on stdout (not with `--json`).
    pub fn line(&self, text: impl AsRef<str>) {
        if !self.json {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{}", text.as_ref());
        }
    }

    /// A note for people, on stderr (not with `--json`).
    pub fn note(&self, text: impl AsRef<str>) {
        if !self.json {
            eprintln!("{}", text.as_ref());
        }
    }

    /// The `--json` document (only with `--json`).
    pub fn document(&self, value: &Value) {
        if self.json {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(
                stdout,
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
            );
        }
    }
}

/// Logs to stderr: none by default or with `--json`; `-v` shows each
/// request of this crate, `-vv` everything at debug level.
pub fn init_tracing(verbose: u8, json: bool) {
    let filter = match (json, verbose) {
        (true, _) | (false, 0) => return,
        (false, 1) => "runcomfy=info,runcomfy_emulator=info",
        (false, _) => "debug",
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUNCOMFY_LOG")
                .unwrap_or_else(|_| filter.into()),
        )
        .try_init();
}
