//! Progress while jobs run, for one job and for a batch: a spinner (a bar
//! per batch) on a terminal, a plain line per change otherwise, nothing
//! with `--json`, and events with `--json --events`.

use crate::output::Output;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use runcomfy::{Progress, Status};
use serde_json::{Value, json};
use std::collections::BTreeMap;
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

/// The batch's live display: a bar over all lines and a line per job on a
/// terminal, a plain line per change otherwise, nothing with `--json`.
pub struct BatchDisplay {
    mode: Mode,
}

enum Mode {
    /// One JSON object per change on stdout (`--events`).
    Events(Output),
    Bars {
        multi: MultiProgress,
        total: ProgressBar,
        lines: std::sync::Mutex<BTreeMap<u64, ProgressBar>>,
    },
    Lines,
    Silent,
}

impl BatchDisplay {
    pub fn new(out: &Output, lines: usize) -> Self {
        let mode = if out.events {
            Mode::Events(*out)
        } else if out.json {
            Mode::Silent
        } else if std::io::stderr().is_terminal() {
            let multi = MultiProgress::new();
            let total = multi.add(
                ProgressBar::new(lines as u64).with_style(
                    ProgressStyle::with_template(
                        "{elapsed:>4} [{bar:30}] {pos}/{len} lines settled",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                ),
            );
            Mode::Bars {
                multi,
                total,
                lines: std::sync::Mutex::new(BTreeMap::new()),
            }
        } else {
            Mode::Lines
        };
        Self { mode }
    }

    pub fn say(&self, number: u64, message: String) {
        match &self.mode {
            Mode::Bars { multi, lines, .. } => {
                let mut lines = lines.lock().unwrap_or_else(|p| p.into_inner());
                let bar = lines.entry(number).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.enable_steady_tick(Duration::from_millis(200));
                    bar
                });
                bar.set_message(format!("line {number}: {message}"));
            }
            Mode::Lines => eprintln!("line {number}: {message}"),
            Mode::Silent | Mode::Events(_) => {}
        }
    }

    /// Where events go, with `--events`.
    pub fn events(&self) -> Option<Output> {
        match &self.mode {
            Mode::Events(out) => Some(*out),
            _ => None,
        }
    }

    /// An event about line `number` (with `--events`).
    pub fn event(&self, number: u64, kind: &str, fields: Value) {
        if let Mode::Events(out) = &self.mode {
            let mut fields = fields;
            fields["line"] = json!(number);
            out.event(kind, fields);
        }
    }

    pub fn line_finished(&self) {
        if let Mode::Bars { total, .. } = &self.mode {
            total.inc(1);
        }
    }

    /// A line already settled before this run.
    pub fn settled(&self) {
        self.line_finished();
    }

    pub fn finish(&self) {
        if let Mode::Bars {
            multi,
            total,
            lines,
        } = &self.mode
        {
            for bar in lines.lock().unwrap_or_else(|p| p.into_inner()).values() {
                bar.finish_and_clear();
            }
            total.finish_and_clear();
            let _ = multi.clear();
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
