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

mod journal;
mod lines;
mod summary;
mod work;

use crate::cli::{BatchArgs, BatchCommand, Global};
use crate::context::{Context, Interrupts};
use crate::cost;
use crate::display::BatchDisplay;
use crate::exit::{Failure, Kind};
use crate::output::Output;
use journal::{Journal, JournalError, Line, LineState};
use lines::{read_line, remove_stale_parts};
use runcomfy::ModelDescriptor;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use summary::summarise;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use work::Work;

impl From<JournalError> for Failure {
    fn from(error: JournalError) -> Self {
        Failure::new(Kind::Journal, format!("batch state: {}", error.0))
    }
}

/// `runcomfy batch FILE --out-dir DIR` (or `batch status DIR`): record the
/// lines, check the cost, run what can go on, and say how it ended.
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
    let journal = open_journal(&file, &dir)?;
    record_lines(&journal, &file, &args.model)?;
    settle_interrupted_submits(&out, &journal, args.resubmit_unknown)?;
    // Polling starts from what earlier runs learned.
    let ctx = Context::starting_from(global, &args.client, journal.learned()).await?;
    if let Some(cap) = args.max_cost {
        check_cost(&ctx, &journal.lines()?, cap).await?;
    }
    let stop = CancellationToken::new();
    let work = Arc::new(Work {
        progress: BatchDisplay::new(&out, journal.lines()?.len()),
        ctx,
        journal: journal.clone(),
        dir,
        timeout: args.timeout,
        stop: stop.clone(),
        out_of_balance: Default::default(),
        not_sent_for_balance: Default::default(),
    });
    run_lines(&work, &journal, usize::from(args.concurrency), &stop).await?;
    outcome(&out, &work, &journal, stop.is_cancelled()).await
}

/// The batch's folder and journal, claimed for this file (a batch folder
/// holds one file's lines).
fn open_journal(file: &PathBuf, dir: &PathBuf) -> Result<Arc<Journal>, Failure> {
    std::fs::create_dir_all(dir).map_err(|e| Failure::io(dir, e))?;
    remove_stale_parts(dir);
    let journal = Arc::new(Journal::open(dir)?);
    let input = std::fs::canonicalize(file).map_err(|e| Failure::io(file, e))?;
    journal.claim(&input.display().to_string())?;
    Ok(journal)
}

/// Every line of the file in the journal, checked (a line whose body
/// changed since the first run stops the batch).
fn record_lines(journal: &Journal, file: &PathBuf, model: &str) -> Result<(), Failure> {
    let text = std::fs::read_to_string(file).map_err(|e| Failure::io(file, e))?;
    let default_model = ModelDescriptor::find(model)
        .ok_or_else(|| Failure::usage(format!("--model: no model {model} in this build")))?;
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
    Ok(())
}

/// Lines a killed run left `submitting`: never sent again unless asked.
fn settle_interrupted_submits(
    out: &Output,
    journal: &Journal,
    resubmit_unknown: bool,
) -> Result<(), Failure> {
    for number in journal.settle_interrupted_submits(resubmit_unknown)? {
        out.note(if resubmit_unknown {
            format!("line {number}: its submit's answer was lost; sending it again (--resubmit-unknown)")
        } else {
            format!("line {number}: may have been accepted (its submit's answer was lost): check RunComfy before --resubmit-unknown")
        });
    }
    Ok(())
}

/// Refuses the batch if the lines still to send cost more than `cap`.
async fn check_cost(ctx: &Context, lines: &[Line], cap: f64) -> Result<(), Failure> {
    let mut prices = cost::Prices::new(ctx);
    let mut total = 0.0;
    for line in lines.iter().filter(|l| l.state == LineState::Pending) {
        let model =
            ModelDescriptor::find(&line.model_id).expect("pending lines have a known model");
        let estimate = prices
            .estimate(model, &line.body)
            .await
            .ok_or_else(|| cost::no_price(model.id, Some(line.number)))?;
        total += estimate.usd;
    }
    ctx.out.note(format!(
        "estimated cost of the lines to submit: ${total:.4} (cap ${cap:.4})"
    ));
    cost::check_cap(&format!("${total:.4}"), total, cap)
}

/// Runs every line that can go on, in file order, up to `concurrency` at
/// once; none starts after Ctrl-C, and those running stay resumable.
async fn run_lines(
    work: &Arc<Work>,
    journal: &Journal,
    concurrency: usize,
    stop: &CancellationToken,
) -> Result<(), Failure> {
    let stopper = stop.clone();
    let listener = tokio::spawn(async move {
        let mut interrupts = Interrupts::new();
        interrupts.recv().await;
        stopper.cancel();
    });
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for line in journal.lines()? {
        if !goes_on(&line) {
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
    Ok(())
}

/// Whether a line has anything left to do this run: not yet sent, in
/// flight, or done with a file missing.
fn goes_on(line: &Line) -> bool {
    let downloaded = line.state == LineState::Done && line.files.iter().all(|f| f.is_file());
    !downloaded
        && matches!(
            line.state,
            LineState::Pending | LineState::Submitted | LineState::Done
        )
}

/// How the batch ended: the summary, and the failure that names what a
/// rerun would do.
async fn outcome(
    out: &Output,
    work: &Work,
    journal: &Journal,
    interrupted: bool,
) -> Result<(), Failure> {
    let lines = journal.lines()?;
    let (all_done, mut report) = summarise(out, &lines, interrupted);
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
    Err(not_done(&lines, &unsent, report))
}

/// The failure of a batch with lines not done: the balance's, else what a
/// rerun can do.
fn not_done(lines: &[Line], unsent: &[u64], report: Value) -> Failure {
    if !unsent.is_empty() {
        let numbers = unsent.iter().map(u64::to_string).collect::<Vec<_>>();
        let message = format!(
            "insufficient balance: {} line(s) not sent ({}); top up and rerun the same command to send exactly those",
            unsent.len(),
            numbers.join(", ")
        );
        return Failure::new(Kind::InsufficientBalance, message).with_detail(report);
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
    Failure::new(Kind::BatchIncomplete, message).with_detail(report)
}
