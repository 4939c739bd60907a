//! What goes to stdout and stderr: results for people or one JSON
//! document, notes, logs.

use serde_json::Value;
use std::io::Write;

/// Where a command's words go.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// One JSON document on stdout, nothing else anywhere.
    pub json: bool,
    /// With `json`: one JSON object per line on stdout as things happen,
    /// then the document on one line.
    pub events: bool,
}

impl Output {
    /// How `global` asks for output.
    pub fn for_flags(global: &crate::cli::Global) -> Self {
        Self {
            json: global.json,
            events: global.json && global.events,
        }
    }

    /// An event (with `--events`): `{"type": KIND, ...fields}` as one
    /// line on stdout, at once.
    pub fn event(&self, kind: &str, fields: Value) {
        if !self.events {
            return;
        }
        let mut event = serde_json::Map::new();
        event.insert("type".into(), Value::from(kind));
        if let Value::Object(fields) = fields {
            event.extend(fields);
        }
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{}", Value::Object(event));
        let _ = stdout.flush();
    }

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

    /// The `--json` document (only with `--json`; on one line with
    /// `--events`, so that every line of stdout is one JSON value).
    pub fn document(&self, value: &Value) {
        if self.json {
            let text = if self.events {
                value.to_string()
            } else {
                serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
            };
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{text}");
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
        .with_ansi(colour_on_stderr())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUNCOMFY_LOG")
                .unwrap_or_else(|_| filter.into()),
        )
        .try_init();
}

/// Colour on stderr: only on a terminal, and never with `NO_COLOR` set
/// (to anything but the empty string, as no-color.org says).
pub fn colour_on_stderr() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::IsTerminal::is_terminal(&std::io::stderr())
}
