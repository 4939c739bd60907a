//! `generate` and `run`: validate, check the cost, submit, follow the job
//! (Ctrl-C cancels it while queued, detaches once it runs), download.

use crate::cli::{Destination, GENERATE_MODEL, Global, RunArgs, SubmitArgs};
use crate::context::{Context, Interrupts};
use crate::cost;
use crate::display::Display;
use crate::exit::{Failure, Kind};
use clap::ArgMatches;
use futures::StreamExt;
use runcomfy::{
    CancelOutcome, CostEstimate, DynamicModel, Error, Job, JobResult, ModelDescriptor, Status,
    WaitEvent, WaitOptions,
};
use serde_json::{Value, json};
use std::path::PathBuf;

/// `runcomfy generate PROMPT`: Kling 3.0 text-to-video.
pub async fn generate(
    global: &Global,
    args: &SubmitArgs,
    matches: &ArgMatches,
) -> Result<(), Failure> {
    let model = ModelDescriptor::find(GENERATE_MODEL).expect("built in");
    let sub = matches
        .subcommand_matches("generate")
        .expect("parsed as generate");
    let body = super::model_body(model, sub, args.input.as_deref()).await?;
    let ctx = Context::new(global, &args.client).await?;
    submit_and_follow(&ctx, model, body, args).await
}

/// `runcomfy run MODEL_ID`: any model of this build.
pub async fn run(global: &Global, args: &RunArgs, matches: &ArgMatches) -> Result<(), Failure> {
    let run = matches.subcommand_matches("run").expect("parsed as run");
    let (model_id, sub) = run
        .subcommand()
        .ok_or_else(|| Failure::usage("name a model: runcomfy run MODEL_ID"))?;
    let model = ModelDescriptor::find(model_id)
        .ok_or_else(|| Failure::usage(format!("no model {model_id} in this build")))?;
    let body = super::model_body(model, sub, args.submit.input.as_deref()).await?;
    let ctx = Context::new(global, &args.submit.client).await?;
    submit_and_follow(&ctx, model, body, &args.submit).await
}

/// Runs `body` on `model` as the flags ask: checked, submitted, then
/// followed to its result and delivered, unless `--no-wait`.
async fn submit_and_follow(
    ctx: &Context,
    model: &'static ModelDescriptor,
    body: Value,
    args: &SubmitArgs,
) -> Result<(), Failure> {
    // Nothing is sent before the input is valid and within the cost cap.
    model
        .validate_input(&body)
        .map_err(|e| Failure::from(Error::from(e)))?;
    let estimate = match args.max_cost {
        Some(cap) => Some(check_cost(ctx, model, &body, cap).await?),
        None => None,
    };

    let mut interrupts = Interrupts::new();
    let display = Display::new(&ctx.out);
    let submitted = submit(ctx, model, &body, &display, &mut interrupts).await;
    let job = match submitted {
        Ok(job) => job,
        Err(error) => {
            display.finish();
            return Err(error.into());
        }
    };
    if interrupts.seen() {
        display.finish();
        return Err(stop_after_interrupt(ctx, &job, None, &args.destination).await);
    }
    if args.no_wait {
        display.finish();
        report_submitted(ctx, model, &job, estimate.as_ref());
        return Ok(());
    }
    let result = follow(ctx, &job, &display, &mut interrupts, args).await?;
    deliver(
        ctx,
        model.id,
        &result,
        &args.destination,
        args.no_download,
        estimate,
    )
    .await
}

/// Sends the submit and waits for its answer even through Ctrl-C: once
/// sent, the job may exist, and only the answer says its id.
async fn submit(
    ctx: &Context,
    model: &'static ModelDescriptor,
    body: &Value,
    display: &Display,
    interrupts: &mut Interrupts,
) -> Result<Job<DynamicModel>, Error> {
    display.say(format!("submitting to {}", model.id));
    let submit = ctx.client.submit_json(model, body);
    tokio::pin!(submit);
    let job = loop {
        tokio::select! {
            submitted = &mut submit => break submitted?,
            () = interrupts.recv(), if !interrupts.seen() => {
                display.say("interrupted: waiting for the submit's answer (the job may exist)".into());
            }
        }
    };
    let id = job.request_id();
    display.say(format!("{id} submitted"));
    ctx.out
        .event("submitted", json!({"request_id": id, "model_id": model.id}));
    Ok(job)
}

/// `--no-wait`: the request id on its own line (or as a JSON document).
fn report_submitted(
    ctx: &Context,
    model: &ModelDescriptor,
    job: &Job<DynamicModel>,
    estimate: Option<&CostEstimate>,
) {
    let id = job.request_id();
    ctx.out.line(id);
    ctx.out.document(&json!({
        "request_id": id,
        "model_id": model.id,
        "status": "submitted",
        "estimate_usd": estimate.map(|e| e.usd),
    }));
}

/// Follows the job to its result, showing its progress; Ctrl-C stops
/// following (see [`stop_after_interrupt`]).
async fn follow(
    ctx: &Context,
    job: &Job<DynamicModel>,
    display: &Display,
    interrupts: &mut Interrupts,
    args: &SubmitArgs,
) -> Result<JobResult<Value>, Failure> {
    let id = job.request_id().to_string();
    let events = job.watch(WaitOptions::new().deadline(args.timeout));
    tokio::pin!(events);
    let mut last: Option<Status> = None;
    let outcome = loop {
        tokio::select! {
            event = events.next() => match event {
                Some(WaitEvent::Progress(progress)) => {
                    display.update(&progress);
                    last = Some(progress.status.clone());
                }
                Some(WaitEvent::Finished(outcome)) => break outcome,
                None => break Err(Error::InvalidResponse {
                    status: 0,
                    message: "the wait ended without an outcome".into(),
                    request_id: Some(id.clone()),
                }),
            },
            () = interrupts.recv(), if !interrupts.seen() => {
                display.finish();
                return Err(stop_after_interrupt(ctx, job, last.as_ref(), &args.destination).await);
            }
        }
    };
    display.finish();
    ctx.out.event(
        "finished",
        json!({"request_id": id, "status": finished_status(&outcome)}),
    );
    outcome.map_err(|error| with_resume_hint(ctx, error, &args.destination))
}

/// How a wait ended, in a word: `completed`, `failed`, `cancelled`,
/// `timed_out`, or `error` (the job's state unknown).
pub fn finished_status<T>(outcome: &Result<T, Error>) -> &'static str {
    match outcome {
        Ok(_) => "completed",
        Err(Error::JobFailed { .. }) => "failed",
        Err(Error::JobCancelled { .. }) => "cancelled",
        Err(Error::TimedOut { .. }) => "timed_out",
        Err(_) => "error",
    }
}

/// Refuses to go on if the estimate is over `cap` (or cannot be made),
/// or the balance cannot pay it.
async fn check_cost(
    ctx: &Context,
    model: &'static ModelDescriptor,
    body: &Value,
    cap: f64,
) -> Result<CostEstimate, Failure> {
    let estimate = cost::Prices::new(ctx)
        .estimate(model, body)
        .await
        .ok_or_else(|| cost::no_price(model.id, None))?;
    ctx.out
        .note(format!("estimated cost: {estimate} (cap ${cap:.4})"));
    cost::check_cap(&estimate.to_string(), estimate.usd, cap)?;
    cost::check_balance(ctx, estimate.usd).await?;
    Ok(estimate)
}

/// After Ctrl-C: a queued job is cancelled; a running one goes on, and the
/// user is told how to pick it up again.
async fn stop_after_interrupt(
    ctx: &Context,
    job: &Job<DynamicModel>,
    last: Option<&Status>,
    destination: &Destination,
) -> Failure {
    let id = job.request_id().to_string();
    if matches!(last, None | Some(Status::InQueue { .. })) {
        match job.cancel().await {
            Ok(CancelOutcome::Cancelled) => {
                let message =
                    format!("interrupted: job {id} was cancelled while queued (nothing to pay)");
                return Failure::new(Kind::Cancelled, message).with_request_id(id);
            }
            Ok(CancelOutcome::CancellationRequested) => ctx.out.note(format!(
                "cancellation of job {id} requested, not confirmed yet: \
                 `runcomfy status {id}` tells whether it was cancelled in time"
            )),
            Ok(_) => {}
            Err(error) => ctx.out.note(format!("cancel failed: {error}")),
        }
    }
    let resume = resume_command(ctx, &id, destination);
    let message = format!("interrupted: job {id} goes on; resume with:\n  {resume}");
    Failure::new(Kind::Detached, message)
        .with_request_id(id)
        .with_detail(json!({"resume": resume}))
}

/// The command that picks a job up again: wait for it and download.
pub fn resume_command(ctx: &Context, id: &str, destination: &Destination) -> String {
    let mut command = format!("{}runcomfy download {id}", ctx.resume_prefix);
    if let Some(path) = &destination.output {
        command.push_str(&format!(" -o {}", shell_quote(&path.display().to_string())));
    } else if let Some(dir) = &destination.output_dir {
        command.push_str(&format!(
            " --output-dir {}",
            shell_quote(&dir.display().to_string())
        ));
    }
    command
}

fn shell_quote(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Errors after a submit carry the request id already; a timeout also
/// says how to pick the job up.
fn with_resume_hint(ctx: &Context, error: Error, destination: &Destination) -> Failure {
    let id = error.request_id().map(String::from);
    let timed_out = matches!(error, Error::TimedOut { .. });
    let mut failure = Failure::from(error);
    if let (true, Some(id)) = (timed_out, id) {
        let resume = resume_command(ctx, &id, destination);
        failure
            .message
            .push_str(&format!("; resume with: {resume}"));
        failure = failure.with_detail(json!({"resume": resume}));
    }
    failure
}

/// Prints the result, downloading its files unless asked not to.
pub async fn deliver(
    ctx: &Context,
    model_id: &str,
    result: &JobResult<Value>,
    destination: &Destination,
    no_download: bool,
    estimate: Option<CostEstimate>,
) -> Result<(), Failure> {
    let urls = result.urls();
    let files = if no_download {
        for url in &urls {
            ctx.out.line(url);
        }
        Vec::new()
    } else {
        let files = download(ctx, result, destination).await?;
        for file in &files {
            ctx.out.line(file.display().to_string());
            ctx.out.event(
                "file_saved",
                json!({"request_id": result.request_id, "path": file}),
            );
        }
        files
    };
    if let Some(cost) = result.cost {
        ctx.out.note(format!("cost: ${cost:.4}"));
    }
    ctx.out.document(&json!({
        "request_id": result.request_id,
        "model_id": model_id,
        "status": "completed",
        "output": result.output,
        "urls": urls,
        "files": files,
        "cost_usd": result.cost,
        "estimate_usd": estimate.map(|e| e.usd),
        "created_at": result.created_at,
        "finished_at": result.finished_at,
    }));
    Ok(())
}

/// Downloads a result's files: to `-o PATH` (later files beside it, `-2`,
/// `-3`, ...) or into `--output-dir` (default `.`).
async fn download(
    ctx: &Context,
    result: &JobResult<Value>,
    destination: &Destination,
) -> Result<Vec<PathBuf>, Failure> {
    let Some(path) = &destination.output else {
        let dir = destination
            .output_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("."));
        return Ok(ctx.client.download_result(result, dir).await?);
    };
    Ok(ctx
        .client
        .save_result_files(result, path, runcomfy::ExistingFiles::Refuse)
        .await?)
}
