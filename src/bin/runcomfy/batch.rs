//! `batch`: one request per line of a JSONL file, resumable, never paying
//! twice.
//!
//! Every line is checked before anything is sent: bodies that are not JSON
//! or not valid for their model are recorded as `invalid`. With
//! `--max-cost`, nothing is sent if the estimate of the lines still to send
//! is over the cap. Then up to `--concurrency` lines run at once: submit
//! (marked `submitting` in the journal first, the request id recorded as
//! soon as it arrives), wait, download to `DIR/<line>.<ext>`, record the
//! cost. Rerunning the same command resumes: waits for what was in flight,
//! downloads what finished, submits what never started, and lists, never
//! re-sends, a line left `submitting` without a request id.

use crate::cli::{BatchArgs, BatchCommand, Global};
use crate::context::{Context, Interrupts};
use crate::exit::{Failure, Kind};
use crate::journal::{Journal, JournalError, Line, LineState};
use crate::output::Output;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use runcomfy::{DynamicModel, Error, Job, ModelDescriptor, WaitOptions};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

impl From<JournalError> for Failure {
    fn from(error: JournalError) -> Self {
        Failure::new(Kind::Journal, format!("batch state: {}", error.0))
    }
}

pub async fn run(global: &Global, args: BatchArgs) -> Result<(), Failure> {
    let out = Output::for_flags(global);
    if let Some(BatchCommand::Status { dir }) = &args.command {
        let journal = Journal::open_existing(dir)?;
        let (_, report) = summarise(&out, &journal.lines()?, false);
        out.document(&report);
        return Ok(());
    }
    let (Some(file), Some(dir)) = (args.file.clone(), args.out_dir.clone()) else {
        return Err(Failure::usage("runcomfy batch FILE.jsonl --out-dir DIR"));
    };
    std::fs::create_dir_all(&dir).map_err(|e| Failure::io(&dir, e))?;
    remove_stale_parts(&dir);
    let journal = Arc::new(Journal::open(&dir)?);
    let input = std::fs::canonicalize(&file).map_err(|e| Failure::io(&file, e))?;
    journal.claim(&input.display().to_string())?;
    let text = std::fs::read_to_string(&file).map_err(|e| Failure::io(&file, e))?;
    let default_model = ModelDescriptor::find(&args.model)
        .ok_or_else(|| Failure::usage(format!("--model: no model {} in this build", args.model)))?;
    for (index, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let line = read_line(raw, default_model);
        journal.add_or_check(
            index as u64 + 1,
            &line.hash,
            &line.model_id,
            &line.body,
            line.state,
            line.error.as_deref(),
        )?;
    }
    let settled = journal.settle_interrupted_submits(args.resubmit_unknown)?;
    for number in &settled {
        out.note(if args.resubmit_unknown {
            format!("line {number}: its submit's answer was lost; sending it again (--resubmit-unknown)")
        } else {
            format!("line {number}: may have been accepted (its submit's answer was lost): check RunComfy before --resubmit-unknown")
        });
    }

    // Polling starts from what earlier runs learned.
    let ctx = Context::starting_from(global, journal.learned()).await?;
    if let Some(cap) = args.max_cost {
        check_cost(&ctx, &journal.lines()?, cap).await?;
    }

    let stop = CancellationToken::new();
    let stopper = stop.clone();
    let listener = tokio::spawn(async move {
        let mut interrupts = Interrupts::new();
        interrupts.recv().await;
        stopper.cancel();
    });
    let progress = Progress::new(&out, journal.lines()?.len());
    let work = Arc::new(Work {
        ctx,
        journal: journal.clone(),
        dir: dir.clone(),
        timeout: args.timeout,
        stop: stop.clone(),
        progress,
        out_of_balance: Default::default(),
        not_sent_for_balance: Default::default(),
    });
    let permits = Arc::new(Semaphore::new(usize::from(args.concurrency)));
    let mut tasks = tokio::task::JoinSet::new();
    // In file order: a line starts when a slot is free, and none starts
    // after Ctrl-C.
    for line in journal.lines()? {
        let downloaded = line.state == LineState::Done && line.files.iter().all(|f| f.is_file());
        if downloaded
            || !matches!(
                line.state,
                LineState::Pending | LineState::Submitted | LineState::Done
            )
        {
            work.progress.settled();
            continue;
        }
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = stop.cancelled() => break,
        };
        let work = work.clone();
        tasks.spawn(async move {
            let _permit = permit;
            work.line(line).await;
        });
    }
    while tasks.join_next().await.is_some() {}
    listener.abort();
    if let Some(learning) = &work.ctx.learning {
        journal.save_learned(&learning.learned())?;
    }
    work.progress.finish();
    let lines = journal.lines()?;
    let interrupted = stop.is_cancelled();
    let (all_done, mut report) = summarise(&out, &lines, interrupted);
    let mut unsent: Vec<u64> = work
        .not_sent_for_balance
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    unsent.sort_unstable();
    // What is left, where RunComfy says.
    let left = work.ctx.client.balance().await.ok();
    if let Some(balance) = &left {
        out.note(format!("balance: {balance}"));
    }
    report["balance_usd"] = json!(left.and_then(|b| b.balance_usd));
    report["not_sent_insufficient_balance"] = json!(unsent);
    if interrupted {
        return Err(Failure::new(
            Kind::Interrupted,
            "interrupted: rerun the same command to resume (nothing is submitted twice)",
        )
        .with_detail(report));
    }
    if all_done {
        out.document(&report);
        return Ok(());
    }
    if !unsent.is_empty() {
        let lines = unsent.iter().map(u64::to_string).collect::<Vec<_>>();
        let message = format!(
            "insufficient balance: {} line(s) not sent ({}); top up and rerun the same command to send exactly those",
            unsent.len(),
            lines.join(", ")
        );
        return Err(Failure::new(Kind::InsufficientBalance, message).with_detail(report));
    }
    let resumable = lines
        .iter()
        .filter(|l| {
            matches!(
                l.state,
                LineState::Pending | LineState::Submitting | LineState::Submitted
            )
        })
        .count();
    let message = if resumable > 0 {
        format!(
            "{resumable} line(s) can go on: rerun the same command to resume (nothing is submitted twice)"
        )
    } else {
        "every line has settled, but not all are done (see above)".to_string()
    };
    Err(Failure::new(Kind::BatchIncomplete, message).with_detail(report))
}

/// Temporary files a killed run left behind (a finished download is
/// renamed into place, so these are never whole files).
fn remove_stale_parts(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".runcomfy-") && name.ends_with(".part") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A line of the file, read and checked.
struct ReadLine {
    hash: String,
    model_id: String,
    body: Value,
    state: LineState,
    error: Option<String>,
}

fn read_line(raw: &str, default_model: &'static ModelDescriptor) -> ReadLine {
    let invalid = |model_id: &str, body: Value, error: String| ReadLine {
        hash: hash(model_id, raw),
        model_id: model_id.to_string(),
        body,
        state: LineState::Invalid,
        error: Some(error),
    };
    let value: Value = match serde_json::from_str(raw) {
        Ok(value) => value,
        Err(e) => {
            return invalid(
                default_model.id,
                Value::String(raw.into()),
                format!("not JSON: {e}"),
            );
        }
    };
    let (model, body) = match (&value["model"], value.get("input")) {
        (Value::String(id), Some(input)) if value.as_object().is_some_and(|o| o.len() == 2) => {
            match ModelDescriptor::find(id) {
                Some(model) => (model, input.clone()),
                None => return invalid(id, value.clone(), format!("no model {id} in this build")),
            }
        }
        _ => (default_model, value),
    };
    let text = body.to_string();
    match model.validate_input(&body) {
        Ok(()) => ReadLine {
            hash: hash(model.id, &text),
            model_id: model.id.to_string(),
            body,
            state: LineState::Pending,
            error: None,
        },
        Err(error) => invalid(model.id, body, error.to_string()),
    }
}

/// The identity of a line: its model and body, hashed.
fn hash(model_id: &str, body: &str) -> String {
    let digest = Sha256::new()
        .chain_update(model_id.as_bytes())
        .chain_update(b"\n")
        .chain_update(body.as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Refuses the batch if the lines still to send cost more than `cap`.
async fn check_cost(ctx: &Context, lines: &[Line], cap: f64) -> Result<(), Failure> {
    let mut total = 0.0;
    let mut models: BTreeMap<String, Option<f64>> = BTreeMap::new();
    for line in lines.iter().filter(|l| l.state == LineState::Pending) {
        let model =
            ModelDescriptor::find(&line.model_id).expect("pending lines have a known model");
        let live = match models.get(model.id) {
            Some(price) => *price,
            None => {
                let price = ctx
                    .client
                    .model_info(model.id)
                    .await
                    .ok()
                    .and_then(|i| i.base_price_usd);
                models.insert(model.id.to_string(), price);
                price
            }
        };
        let estimate = match live {
            Some(price) => model.estimate_cost_at(&line.body, price),
            None => model.estimate_cost(&line.body),
        };
        let Some(estimate) = estimate else {
            return Err(Failure::new(
                Kind::NoPrice,
                format!(
                    "line {}: {} lists no price, so --max-cost cannot be checked; nothing was submitted",
                    line.number, model.id
                ),
            ));
        };
        total += estimate.usd;
    }
    ctx.out.note(format!(
        "estimated cost of the lines to submit: ${total:.4} (cap ${cap:.4})"
    ));
    if total > cap {
        return Err(Failure::new(
            Kind::OverMaxCost,
            format!(
                "the estimated cost ${total:.4} is over --max-cost ${cap:.4}; nothing was submitted"
            ),
        )
        .with_detail(json!({"estimate_usd": total, "max_cost_usd": cap})));
    }
    Ok(())
}

/// What every line's task shares.
struct Work {
    ctx: Context,
    journal: Arc<Journal>,
    dir: PathBuf,
    timeout: Duration,
    stop: CancellationToken,
    progress: Progress,
    /// Set once RunComfy says the balance cannot pay: no new line is
    /// submitted after that (those in flight go on).
    out_of_balance: std::sync::atomic::AtomicBool,
    /// Lines not sent (or refused unaccepted) for the balance, this run.
    not_sent_for_balance: std::sync::Mutex<Vec<u64>>,
}

/// What a line left unsent for the balance records as its error.
const NOT_SENT_FOR_BALANCE: &str = "not sent: insufficient balance (top up and rerun to send it)";

impl Work {
    /// Takes one line as far as it goes: submit, wait, download.
    async fn line(&self, line: Line) {
        let number = line.number;
        let outcome = match line.state {
            LineState::Pending => self.submit(&line).await,
            LineState::Submitted | LineState::Done => match &line.request_id {
                Some(id) => match self.ctx.client.job::<DynamicModel>(id) {
                    Ok(job) => self.follow(number, job).await,
                    Err(e) => self.record(number, LineState::Failed, Some(&e.to_string())),
                },
                None => self.record(number, LineState::Unknown, Some("no request id recorded")),
            },
            _ => Ok(()),
        };
        if let Err(error) = outcome {
            self.progress
                .say(number, format!("cannot record its state: {}", error.0));
        }
    }

    fn record(
        &self,
        number: u64,
        state: LineState,
        error: Option<&str>,
    ) -> Result<(), JournalError> {
        self.journal.mark(number, state, error)?;
        self.progress.say(
            number,
            match error {
                Some(error) => format!("{}: {error}", state.as_str()),
                None => state.as_str().to_string(),
            },
        );
        if state != LineState::Submitted && state != LineState::Pending {
            self.progress.line_finished();
        }
        self.progress.event(
            number,
            "line_done",
            json!({"state": state.as_str(), "error": error}),
        );
        Ok(())
    }

    async fn submit(&self, line: &Line) -> Result<(), JournalError> {
        let model =
            ModelDescriptor::find(&line.model_id).expect("pending lines have a known model");
        // Local files in media fields are read now (the journal keeps the
        // paths, not megabytes of base64); a file that cannot go is an
        // invalid line, never sent.
        if self
            .out_of_balance
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return self.not_sent_for_balance(line.number);
        }
        let mut body = line.body.clone();
        if let Err(error) =
            model.inline_local_media(&mut body, &runcomfy::media::MediaLimits::default())
        {
            return self.record(line.number, LineState::Invalid, Some(&error.to_string()));
        }
        // Committed before the submit goes out: a crash from here on
        // leaves a line that is never sent again on its own.
        self.journal.mark_submitting(line.number)?;
        self.progress.say(line.number, "submitting".into());
        // Never cancelled half way: its answer must be recorded.
        match self.ctx.client.submit_json(model, &body).await {
            Ok(job) => {
                self.journal.mark_submitted(line.number, job.request_id())?;
                self.progress
                    .say(line.number, format!("submitted {}", job.request_id()));
                self.progress.event(
                    line.number,
                    "submitted",
                    json!({"request_id": job.request_id(), "model_id": model.id}),
                );
                self.follow(line.number, job).await
            }
            Err(error @ Error::SubmitOutcomeUnknown { .. }) => {
                self.record(line.number, LineState::Unknown, Some(&error.to_string()))
            }
            Err(error @ (Error::Validation(_) | Error::Refused(_))) => {
                self.record(line.number, LineState::Failed, Some(&error.to_string()))
            }
            // Refused, not accepted: nothing paid. No new line goes out
            // after this one; a rerun after a top-up sends exactly these.
            Err(Error::InsufficientBalance(_)) => {
                self.out_of_balance
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                self.not_sent_for_balance(line.number)
            }
            // Refused unprocessed (auth, balance, rate, a connection that
            // never opened): nothing was accepted, a rerun may send it.
            Err(error) => {
                let message = format!("not accepted: {error}");
                self.journal
                    .mark(line.number, LineState::Pending, Some(&message))?;
                self.progress.event(
                    line.number,
                    "line_done",
                    json!({"state": LineState::Pending.as_str(), "error": message}),
                );
                self.progress.say(line.number, message);
                self.progress.line_finished();
                Ok(())
            }
        }
    }

    /// Leaves a line pending, marked as not sent for the balance.
    fn not_sent_for_balance(&self, number: u64) -> Result<(), JournalError> {
        self.journal
            .mark(number, LineState::Pending, Some(NOT_SENT_FOR_BALANCE))?;
        self.not_sent_for_balance
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(number);
        self.progress.say(number, NOT_SENT_FOR_BALANCE.into());
        self.progress.event(
            number,
            "line_done",
            json!({"state": LineState::Pending.as_str(), "error": NOT_SENT_FOR_BALANCE}),
        );
        self.progress.line_finished();
        Ok(())
    }

    async fn follow(&self, number: u64, job: Job<DynamicModel>) -> Result<(), JournalError> {
        let mut options = WaitOptions::new().deadline(self.timeout);
        if let Mode::Events(out) = &self.progress.mode {
            let out = *out;
            options = options.on_progress(move |progress| {
                // The end is the `finished` event's.
                if progress.status.is_terminal() {
                    return;
                }
                let (kind, mut fields) = crate::progress::status_event(&progress.status);
                fields["request_id"] = json!(progress.request_id);
                fields["line"] = json!(number);
                out.event(kind, fields);
            });
        }
        let outcome = tokio::select! {
            outcome = job.wait_with(options) => outcome,
            // Interrupted: the job goes on and stays resumable.
            () = self.stop.cancelled() => return Ok(()),
        };
        self.progress.event(
            number,
            "finished",
            json!({"request_id": job.request_id(), "status": crate::submit::finished_status(&outcome)}),
        );
        let result = match outcome {
            Ok(result) => result,
            Err(error @ Error::JobFailed { .. }) | Err(error @ Error::NotFound(_)) => {
                return self.record(number, LineState::Failed, Some(&error.to_string()));
            }
            Err(error @ Error::JobCancelled { .. }) => {
                return self.record(number, LineState::Cancelled, Some(&error.to_string()));
            }
            Err(error) => {
                // Still resumable: it keeps its request id.
                return self.record(number, LineState::Submitted, Some(&error.to_string()));
            }
        };
        match self.download(number, &result).await {
            Ok(files) => {
                self.journal.mark_done(number, result.cost, &files)?;
                for file in &files {
                    self.progress.event(
                        number,
                        "file_saved",
                        json!({"request_id": result.request_id, "path": file}),
                    );
                }
                self.progress.event(
                    number,
                    "line_done",
                    json!({"request_id": result.request_id, "state": "done", "files": files, "cost_usd": result.cost}),
                );
                // Now and then, what polling learned, so a killed run
                // still leaves most of it.
                if number.is_multiple_of(16)
                    && let Some(learning) = &self.ctx.learning
                {
                    self.journal.save_learned(&learning.learned())?;
                }
                self.progress.say(
                    number,
                    format!(
                        "done: {}",
                        files
                            .iter()
                            .map(|f| f.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                self.progress.line_finished();
                Ok(())
            }
            Err(error) => self.record(
                number,
                LineState::Submitted,
                Some(&format!("download: {error}")),
            ),
        }
    }

    /// Downloads a line's files as `<line>.<ext>`, `<line>-2.<ext>`, ...; a
    /// file already in place (renamed there whole by a run that stopped
    /// before recording it) counts as downloaded.
    async fn download(
        &self,
        number: u64,
        result: &runcomfy::JobResult<Value>,
    ) -> Result<Vec<PathBuf>, Error> {
        self.ctx
            .client
            .save_result_files(
                result,
                self.dir.join(format!("{number:04}")),
                runcomfy::ExistingFiles::Keep,
            )
            .await
    }
}

/// The batch's live display: a bar over all lines and a line per job on a
/// terminal, a plain line per change otherwise, nothing with `--json`.
struct Progress {
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

impl Progress {
    fn new(out: &Output, lines: usize) -> Self {
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

    fn say(&self, number: u64, message: String) {
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

    /// An event about line `number` (with `--events`).
    fn event(&self, number: u64, kind: &str, fields: Value) {
        if let Mode::Events(out) = &self.mode {
            let mut fields = fields;
            fields["line"] = json!(number);
            out.event(kind, fields);
        }
    }

    fn line_finished(&self) {
        if let Mode::Bars { total, .. } = &self.mode {
            total.inc(1);
        }
    }

    /// A line already settled before this run.
    fn settled(&self) {
        self.line_finished();
    }

    fn finish(&self) {
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

/// Prints the batch's table for people; returns whether every line is
/// done, and the report `--json` prints.
fn summarise(out: &Output, lines: &[Line], interrupted: bool) -> (bool, Value) {
    let mut counts: BTreeMap<LineState, usize> = BTreeMap::new();
    for line in lines {
        *counts.entry(line.state).or_default() += 1;
    }
    let cost: f64 = lines.iter().filter_map(|l| l.cost).sum();
    let unknown: Vec<u64> = lines
        .iter()
        .filter(|l| l.state == LineState::Unknown)
        .map(|l| l.number)
        .collect();
    if !out.json {
        eprintln!("{:<12}{:>7}", "state", "lines");
        for state in LineState::ALL {
            if let Some(n) = counts.get(&state) {
                eprintln!("{:<12}{n:>7}", state.as_str());
            }
        }
        eprintln!("{:<12}{:>7}", "total", lines.len());
        eprintln!("{:<12}{:>7}", "spent", format!("${cost:.4}"));
        for line in lines
            .iter()
            .filter(|l| matches!(l.state, LineState::Failed | LineState::Invalid))
        {
            eprintln!(
                "line {} {}: {}",
                line.number,
                line.state.as_str(),
                line.error.as_deref().unwrap_or("")
            );
        }
        if !unknown.is_empty() {
            eprintln!(
                "may have been accepted: lines {}: check RunComfy before --resubmit-unknown",
                unknown
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let report = json!({
        "lines": lines.len(),
        "states": counts.iter().map(|(s, n)| (s.as_str(), n)).collect::<BTreeMap<_, _>>(),
        "cost_usd": cost,
        "may_have_been_accepted": unknown,
        "interrupted": interrupted,
        "details": lines.iter().map(|l| json!({
            "line": l.number,
            "model_id": l.model_id,
            "state": l.state.as_str(),
            "request_id": l.request_id,
            "error": l.error,
            "cost_usd": l.cost,
            "files": l.files,
        })).collect::<Vec<_>>(),
    });
    (lines.iter().all(|l| l.state == LineState::Done), report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_bare_or_with_their_model() {
        let kling = ModelDescriptor::find(crate::cli::GENERATE_MODEL).expect("built in");
        let bare = read_line(r#"{"prompt": "a fox"}"#, kling);
        assert_eq!(
            (bare.state, bare.model_id.as_str()),
            (LineState::Pending, kling.id)
        );
        let wrapped = read_line(
            &format!(
                r#"{{"model": "{}", "input": {{"prompt": "a fox"}}}}"#,
                kling.id
            ),
            kling,
        );
        assert_eq!(wrapped.body, json!({"prompt": "a fox"}));
        assert_eq!(
            wrapped.hash, bare.hash,
            "the same request, the same identity"
        );
        let invalid = read_line(r#"{"prompt": "a fox", "duration": 99}"#, kling);
        assert_eq!(invalid.state, LineState::Invalid);
        assert!(invalid.error.expect("why").contains("duration"));
        assert_eq!(read_line("{not json", kling).state, LineState::Invalid);
        assert_eq!(
            read_line(r#"{"model": "acme/nothing", "input": {}}"#, kling).state,
            LineState::Invalid
        );
    }
}
