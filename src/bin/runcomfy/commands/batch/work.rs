//! One line's work: submit (marked in the journal first), wait, save its
//! files, record the outcome; no new line once the balance runs out.

use super::journal::{Journal, JournalError, Line, LineState};
use crate::context::Context;
use crate::display::BatchDisplay;
use runcomfy::{DynamicModel, Error, Job, ModelDescriptor, WaitOptions};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What every line's task shares.
pub struct Work {
    pub ctx: Context,
    pub journal: Arc<Journal>,
    pub dir: PathBuf,
    pub timeout: Duration,
    pub stop: CancellationToken,
    pub progress: BatchDisplay,
    /// Set once RunComfy says the balance cannot pay: no new line is
    /// submitted after that (those in flight go on).
    pub out_of_balance: std::sync::atomic::AtomicBool,
    /// Lines not sent (or refused unaccepted) for the balance, this run.
    pub not_sent_for_balance: std::sync::Mutex<Vec<u64>>,
}

/// What a line left unsent for the balance records as its error.
pub const NOT_SENT_FOR_BALANCE: &str =
    "not sent: insufficient balance (top up and rerun to send it)";

impl Work {
    /// Takes one line as far as it goes: submit, wait, download.
    pub async fn line(&self, line: Line) {
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
        if let Some(out) = self.progress.events() {
            options = options.on_progress(move |progress| {
                // The end is the `finished` event's.
                if progress.status.is_terminal() {
                    return;
                }
                let (kind, mut fields) = crate::display::status_event(&progress.status);
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
            json!({"request_id": job.request_id(), "status": super::super::run::finished_status(&outcome)}),
        );
        let result = match outcome {
            Ok(result) => result,
            Err(error) => {
                return self.record(number, state_after(&error), Some(&error.to_string()));
            }
        };
        match self.download(number, &result).await {
            Ok(files) => self.done(number, &result, &files),
            Err(error) => self.record(
                number,
                LineState::Submitted,
                Some(&format!("download: {error}")),
            ),
        }
    }

    /// A line whose files all arrived: journaled, reported, and now and
    /// then what polling learned saved (so a killed run still leaves most
    /// of it).
    fn done(
        &self,
        number: u64,
        result: &runcomfy::JobResult<Value>,
        files: &[PathBuf],
    ) -> Result<(), JournalError> {
        self.journal.mark_done(number, result.cost, files)?;
        for file in files {
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
        if number.is_multiple_of(16)
            && let Some(learning) = &self.ctx.learning
        {
            self.journal.save_learned(&learning.learned())?;
        }
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        self.progress
            .say(number, format!("done: {}", names.join(", ")));
        self.progress.line_finished();
        Ok(())
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

/// The state a line is left in when waiting for its job failed:
///
/// | error | state |
/// |---|---|
/// | the job failed, or RunComfy knows no such job | failed |
/// | the job was cancelled | cancelled |
/// | anything else (a deadline, the network) | submitted: still resumable, it keeps its request id |
fn state_after(error: &Error) -> LineState {
    match error {
        Error::JobFailed { .. } | Error::NotFound(_) => LineState::Failed,
        Error::JobCancelled { .. } => LineState::Cancelled,
        _ => LineState::Submitted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_stays_resumable_unless_its_job_ended() {
        let failed = Error::JobFailed {
            request_id: "r".into(),
            code: None,
            message: "boom".into(),
            error: Box::new(serde_json::Value::Null),
        };
        let cancelled = Error::JobCancelled {
            request_id: "r".into(),
        };
        let late = Error::NotFinished {
            request_id: "r".into(),
            status: runcomfy::Status::InProgress,
        };
        assert_eq!(state_after(&failed), LineState::Failed);
        assert_eq!(state_after(&cancelled), LineState::Cancelled);
        assert_eq!(state_after(&late), LineState::Submitted);
    }
}
