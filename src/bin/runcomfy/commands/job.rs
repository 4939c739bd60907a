//! The commands about one job: `status`, `result`, `cancel`, `download`.

use crate::cli::{DownloadArgs, Global, RequestArgs};
use crate::context::Context;
use crate::display::{Display, describe};
use crate::exit::Failure;
use runcomfy::{DynamicModel, WaitOptions};
use serde_json::json;

/// `runcomfy status ID`.
pub async fn status(global: &Global, args: &RequestArgs) -> Result<(), Failure> {
    let ctx = Context::new(global, &args.client).await?;
    let job = ctx.client.job::<DynamicModel>(&args.request_id)?;
    let status = job.status().await?;
    ctx.out
        .line(format!("{}: {}", args.request_id, describe(&status)));
    let position = match &status {
        runcomfy::Status::InQueue { position } => *position,
        _ => None,
    };
    ctx.out.document(&json!({
        "request_id": args.request_id,
        "status": status.as_wire(),
        "queue_position": position,
        "terminal": status.is_terminal(),
    }));
    Ok(())
}

/// `runcomfy result ID`.
pub async fn result(global: &Global, args: &RequestArgs) -> Result<(), Failure> {
    let ctx = Context::new(global, &args.client).await?;
    let job = ctx.client.job::<DynamicModel>(&args.request_id)?;
    let result = job.result().await?;
    ctx.out
        .line(serde_json::to_string_pretty(&result.output).unwrap_or_default());
    if let Some(cost) = result.cost {
        ctx.out.note(format!("cost: ${cost:.4}"));
    }
    ctx.out.document(&json!({
        "request_id": result.request_id,
        "status": "completed",
        "output": result.output,
        "urls": result.urls(),
        "cost_usd": result.cost,
        "created_at": result.created_at,
        "finished_at": result.finished_at,
    }));
    Ok(())
}

/// `runcomfy cancel ID`.
pub async fn cancel(global: &Global, args: &RequestArgs) -> Result<(), Failure> {
    let ctx = Context::new(global, &args.client).await?;
    let job = ctx.client.job::<DynamicModel>(&args.request_id)?;
    let outcome = job.cancel().await?;
    ctx.out.line(format!("{}: {outcome}", args.request_id));
    ctx.out.document(&json!({
        "request_id": args.request_id,
        "outcome": outcome,
    }));
    Ok(())
}

/// `runcomfy download ID`: waits for the job if needed, then saves its
/// files.
pub async fn download(global: &Global, args: &DownloadArgs) -> Result<(), Failure> {
    let ctx = Context::new(global, &args.client).await?;
    let job = ctx.client.job::<DynamicModel>(&args.request_id)?;
    let result = if args.no_wait {
        job.result().await?
    } else {
        let display = Display::new(&ctx.out);
        let shown = display.clone();
        let options = WaitOptions::new()
            .deadline(args.timeout)
            .on_progress(move |p| shown.update(p));
        let outcome = job.wait_with(options).await;
        display.finish();
        ctx.out.event(
            "finished",
            json!({"request_id": job.request_id(), "status": super::run::finished_status(&outcome)}),
        );
        outcome?
    };
    super::run::deliver(
        &ctx,
        job.model_id().unwrap_or("unknown"),
        &result,
        &args.destination,
        false,
        None,
    )
    .await
}
