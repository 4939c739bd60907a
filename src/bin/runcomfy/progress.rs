//! A job's progress while it runs: a spinner with state, queue position
//! and elapsed time on a terminal, a plain line per change otherwise,
//! nothing with `--json`, and events with `--json --events`.

use crate::output::Output;
use indicatif::{ProgressBar, ProgressStyle};
use runcomfy::{Progress, Status};
use serde_json::{Value, json};
use std::io::IsTerminal;
use std::time::Duration;

/// How progress is shown.
#[derive(Clone)]
pub enum Display {
    Bar(ProgressBar),
    Lines,
    Silent,
    /// One JSON object per change on stdout (`--events`).
    Events(Output),
}

impl Display {
    /// The display for this run: events with `--events`, nothing else with
    /// `--json`, a bar on a terminal's stderr, lines elsewhere.
    pub fn new(out: &Output) -> Self {
        if out.events {
            Self::Events(*out)
        } else if out.json {
            Self::Silent
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            Self::Bar(bar)
        } else {
            Self::Lines
        }
    }

    /// Says something about the job, for people.
    pub fn say(&self, message: String) {
        match self {
            Self::Bar(bar) => bar.set_message(message),
            Self::Lines => eprintln!("{message}"),
            Self::Silent | Self::Events(_) => {}
        }
    }

    /// Shows a new status.
    pub fn update(&self, progress: &Progress) {
        let state = describe(&progress.status);
        match self {
            Self::Bar(_) => self.say(format!("{} {state}", progress.request_id)),
            Self::Lines => eprintln!(
                "{} {state} ({:.1} s elapsed)",
                progress.request_id,
                progress.elapsed.as_secs_f64()
            ),
            Self::Events(out) => {
                let (kind, fields) = status_event(&progress.status);
                let mut fields = fields;
                fields["request_id"] = json!(progress.request_id);
                fields["elapsed_s"] = json!(progress.elapsed.as_secs_f64());
                out.event(kind, fields);
            }
            Self::Silent => {}
        }
    }

    /// Clears the spinner.
    pub fn finish(&self) {
        if let Self::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// The event a status is: `queued` (with its position), `running`, or
/// `status` for any other.
pub fn status_event(status: &Status) -> (&'static str, Value) {
    match status {
        Status::InQueue { position } => ("queued", json!({"position": position})),
        Status::InProgress => ("running", json!({})),
        other => ("status", json!({"status": other.as_wire()})),
    }
}

/// A status in a few words.
pub fn describe(status: &Status) -> String {
    match status {
        Status::InQueue { position: Some(0) } => "queued, next to start".into(),
        Status::InQueue { position: Some(n) } => format!("queued, {n} ahead"),
        other => other.to_string(),
    }
}
