//! The HTTP status of the answer a call ended with.
//!
//! The generated client drops the status of a 2xx answer whose body it
//! cannot read (progenitor's `InvalidResponsePayload` keeps only the body
//! and the parse error), yet an error must name the status RunComfy really
//! sent: a `202` with an unusable body is not "HTTP 200". The `exec` hook
//! notes each final answer's status in a task-local cell that
//! [`observing`] opens around one call.

use std::cell::Cell;
use std::future::Future;

tokio::task_local! {
    static ANSWER_STATUS: Cell<Option<u16>>;
}

/// Runs `call` and returns its output with the HTTP status of the answer
/// it ended with (`None` when no answer came).
pub(crate) async fn observing<F: Future>(call: F) -> (F::Output, Option<u16>) {
    ANSWER_STATUS
        .scope(Cell::new(None), async {
            let output = call.await;
            (output, ANSWER_STATUS.with(Cell::get))
        })
        .await
}

/// Notes the status of the answer the current call ends with (nothing
/// outside [`observing`]).
pub(crate) fn note(status: u16) {
    let _ = ANSWER_STATUS.try_with(|cell| cell.set(Some(status)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_last_noted_status_is_returned_and_nothing_leaks_outside() {
        let ((), status) = observing(async {
            note(503);
            note(202);
        })
        .await;
        assert_eq!(status, Some(202));
        let ((), status) = observing(async {}).await;
        assert_eq!(status, None);
        note(200); // outside any call: ignored, no panic
    }
}
