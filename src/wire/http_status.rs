//! What the answer a call ended with said beyond its parsed body: its HTTP
//! status, and an error RunComfy disguised as a 2xx answer.
//!
//! The generated client drops the status of a 2xx answer whose body it
//! cannot read (progenitor's `InvalidResponsePayload` keeps only the body
//! and the parse error), yet an error must name the status RunComfy really
//! sent: a `202` with an unusable body is not "HTTP 200". And a 2xx body
//! such as `{"error_code": 400004, "error_message": ...}` parses as a model
//! info whose every field is optional, yet it is a refusal. The retry loop
//! notes both of the final answer in a task-local cell that [`observing`]
//! opens around one call.

use crate::error::ApiError;
use std::cell::RefCell;
use std::future::Future;

/// What was noted of a call's final answer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observed {
    /// Its HTTP status (`None` when no answer came).
    pub(crate) status: Option<u16>,
    /// The error a 2xx body carried in disguise, if it did.
    pub(crate) disguised_error: Option<ApiError>,
}

tokio::task_local! {
    static OBSERVED: RefCell<Observed>;
}

/// Runs `call` and returns its output with what was noted of the answer it
/// ended with.
pub(crate) async fn observing<F: Future>(call: F) -> (F::Output, Observed) {
    OBSERVED
        .scope(RefCell::new(Observed::default()), async {
            let output = call.await;
            (output, OBSERVED.with(|cell| cell.take()))
        })
        .await
}

/// Notes the answer the current call ends with (nothing outside
/// [`observing`]).
pub(crate) fn note(status: u16, disguised_error: Option<ApiError>) {
    let _ = OBSERVED.try_with(|cell| {
        *cell.borrow_mut() = Observed {
            status: Some(status),
            disguised_error,
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_last_noted_answer_is_returned_and_nothing_leaks_outside() {
        let ((), seen) = observing(async {
            note(503, None);
            note(202, None);
        })
        .await;
        assert_eq!(seen.status, Some(202));
        assert!(seen.disguised_error.is_none());
        let ((), seen) = observing(async {}).await;
        assert_eq!(seen.status, None);
        note(200, None); // outside any call: ignored, no panic
    }
}
