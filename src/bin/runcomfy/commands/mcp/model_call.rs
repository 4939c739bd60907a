//! One call of a model's tool: validate, check the money, submit once,
//! wait within the deadline (progress notified where asked), answer.

use super::Server;
use super::budget::Refusal;
use rmcp::RoleServer;
use rmcp::model::{CallToolResult, ProgressNotificationParam};
use rmcp::service::RequestContext;
use runcomfy::media::MediaLimits;
use runcomfy::{DynamicModel, Error, Job, ModelDescriptor, Status, WaitEvent, WaitOptions};
use serde_json::{Value, json};

/// `input` with its local media files read from `--media-dir` and put
/// inline; without that folder, any local path is refused.
fn local_media(
    server: &Server,
    model: &ModelDescriptor,
    mut input: Value,
) -> Result<Value, Box<CallToolResult>> {
    let Some(folder) = &server.media_dir else {
        let paths = model.local_media_paths(&input);
        if paths.is_empty() {
            return Ok(input);
        }
        return Err(Box::new(failure(
            "local_path_refused",
            format!(
                "{} hold a local path; this server reads no files unless started with --media-dir: give an http(s) URL or a data: URI; nothing was sent",
                paths.join(", ")
            ),
            None,
            json!({"fields": paths}),
        )));
    };
    match model.inline_local_media_from(&mut input, folder, &MediaLimits::default()) {
        Ok(()) => Ok(input),
        Err(error) => Err(Box::new(failure(
            "media_refused",
            format!("{error}; nothing was sent"),
            None,
            json!({"field": error.field}),
        ))),
    }
}

/// Runs `model` on `input`, as the tool's description says.
pub async fn run(
    server: &Server,
    model: &'static ModelDescriptor,
    input: Value,
    context: &RequestContext<RoleServer>,
) -> CallToolResult {
    // As the command line does: files inline first, then the request that
    // would be sent is validated.
    let input = match local_media(server, model, input) {
        Ok(input) => input,
        Err(refused) => return *refused,
    };
    if let Err(error) = model.validate_input(&input) {
        let violations: Vec<Value> = error
            .violations
            .iter()
            .map(|v| json!({"field": v.path, "rule": v.rule.code(), "message": v.to_string()}))
            .collect();
        return failure(
            "invalid_input",
            format!("{error}; nothing was sent"),
            None,
            json!({"violations": violations}),
        );
    }
    let estimate = model.estimate_cost(&input).map(|e| e.usd);
    let committed = match server.budget.commit(model.id, estimate) {
        Ok(committed) => committed,
        Err(refusal) => {
            let kind = match refusal {
                Refusal::NoEstimate { .. } => "no_price",
                Refusal::OverPerCall { .. } => "over_max_cost_per_call",
                Refusal::OverBudget { .. } => "over_budget",
            };
            return failure(
                kind,
                refusal.to_string(),
                None,
                json!({"estimate_usd": estimate, "committed_usd": server.budget.committed()}),
            );
        }
    };
    let job = match server.client.submit_json(model, &input).await {
        Ok(job) => job,
        Err(error @ Error::SubmitOutcomeUnknown { .. }) => {
            // May be a paid job: the commitment stays, nothing is re-sent.
            return failure(
                "may_have_been_accepted",
                format!(
                    "{error}. Do not call this tool again for the same input blindly: the job may exist and be paid for; check RunComfy's dashboard first"
                ),
                None,
                json!({"estimate_usd": estimate}),
            );
        }
        Err(error) => {
            server.budget.release(committed);
            return super::error_result(&error);
        }
    };
    follow(server, model, job, estimate, committed, context).await
}

/// Waits for the job within the server's deadline, then answers.
async fn follow(
    server: &Server,
    model: &ModelDescriptor,
    job: Job<DynamicModel>,
    estimate: Option<f64>,
    committed: f64,
    context: &RequestContext<RoleServer>,
) -> CallToolResult {
    use futures::StreamExt;
    let id = job.request_id().to_string();
    let token = context.meta.get_progress_token();
    let events = job.watch(WaitOptions::new().deadline(server.wait));
    futures::pin_mut!(events);
    let mut last = Status::InQueue { position: None };
    let mut step = 0.0;
    let outcome = loop {
        match events.next().await {
            Some(WaitEvent::Progress(progress)) => {
                last = progress.status.clone();
                step += 1.0;
                if let Some(token) = &token {
                    let message = format!("{id}: {}", progress.status);
                    let _ = context
                        .peer
                        .notify_progress(
                            ProgressNotificationParam::new(token.clone(), step)
                                .with_message(message),
                        )
                        .await;
                }
            }
            Some(WaitEvent::Finished(outcome)) => break outcome,
            None => {
                break Err(Error::NotFinished {
                    request_id: id.clone(),
                    status: last.clone(),
                });
            }
        }
    };
    match outcome {
        Ok(result) => {
            if let Some(cost) = result.cost {
                server.budget.settle(committed, cost);
            }
            let files = match &server.download_dir {
                Some(dir) => match server.client.download_result(&result, dir.join(&id)).await {
                    Ok(files) => files,
                    Err(error) => return super::error_result(&error),
                },
                None => Vec::new(),
            };
            super::completed(
                &result,
                json!({"model_id": model.id, "files": files, "estimate_usd": estimate}),
            )
        }
        // The deadline: the job goes on, the agent resumes it.
        Err(Error::TimedOut { last_status, .. }) => super::answer(
            format!(
                "{id} is still {last_status} after the server's wait; it goes on: call job_result with request_id {id} later (do not run the model again)"
            ),
            json!({
                "request_id": id,
                "model_id": model.id,
                "status": last_status.as_wire(),
                "finished": false,
                "estimate_usd": estimate,
            }),
        ),
        Err(error) => super::error_result(&error),
    }
}

/// A tool error: what went wrong, a kind, and the request id where there
/// is one.
pub fn failure(
    kind: &str,
    message: String,
    request_id: Option<&str>,
    detail: Value,
) -> CallToolResult {
    let mut body = json!({"error": kind, "message": message, "request_id": request_id});
    if let (Value::Object(body), Value::Object(detail)) = (&mut body, detail) {
        body.extend(detail);
    }
    let mut result = CallToolResult::structured_error(body);
    result.content = vec![rmcp::model::ContentBlock::text(message)];
    result
}
