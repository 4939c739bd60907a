//! The conformance corpus: every answer RunComfy was recorded giving (and
//! every example of its docs and of its own clients), served byte for
//! byte from a raw loopback server to the client's matching call, must
//! decode to what the answer says: a status, a completion time, outputs, a
//! cost, a failed job's message, a cancel outcome, or the documented error.
//!
//! The test enumerates `tests/fixtures/recorded/`: adding a recording
//! needs no code. Which call a file answers comes from its `method` and
//! `path` (files written by `runcomfy emulator --record`) or else from its
//! name (`*_submit_*`, `*_status_*`, `*_result_*`, `*_cancel_*`,
//! `*_catalog_*`); the expected value comes from the body, by the rules
//! in `common/corpus.rs`'s `expectation`, which restate RunComfy's
//! documented contract (and its clients' readings) independently of the
//! client's code.
//!
//! The docs' examples name the job `{request_id}`, a template: that
//! placeholder is replaced with a real id before serving; nothing else of
//! a body is touched.

use crate::common;

use common::corpus::{
    Expected, Recording, TEMPLATE_ID, check_folder, corpus_dir, expectation, recordings,
    request_id_of, serve,
};
use runcomfy::{CancelOutcome, DynamicModel, Error, JobTicket, Status};

fn corpus() -> Vec<Recording> {
    recordings(&corpus_dir())
}

#[tokio::test]
async fn every_recorded_answer_decodes_to_what_it_says() {
    let checked = check_folder(&corpus_dir()).await;
    assert!(checked >= 26, "the corpus holds the shared recordings");
}

#[tokio::test]
async fn the_corpus_covers_every_shape_the_client_must_read() {
    let expectations: Vec<Expected> = corpus().iter().map(expectation).collect();
    let has = |wanted: fn(&Expected) -> bool| expectations.iter().any(wanted);
    assert!(has(|e| matches!(e, Expected::Submitted { .. })));
    assert!(has(|e| matches!(
        e,
        Expected::Status(Status::InQueue { position: Some(3) })
    )));
    assert!(has(|e| matches!(
        e,
        Expected::NotFinished(Status::InProgress)
    )));
    assert!(has(|e| matches!(
        e,
        Expected::Finished {
            finished_at: Some(_),
            cost: None,
            ..
        }
    )));
    assert!(has(|e| matches!(
        e,
        Expected::Finished { cost: Some(_), .. }
    )));
    assert!(has(|e| matches!(e, Expected::Failed { code: None, .. })));
    for outcome in [CancelOutcome::Cancelled, CancelOutcome::NotCancellable] {
        assert!(expectations.contains(&Expected::Cancel(outcome)));
    }
    assert!(has(|e| matches!(e, Expected::Model { price: Some(_), .. })));
}

/// The recorded completed result, served as recorded.
fn recorded_completed() -> Recording {
    corpus()
        .into_iter()
        .find(|r| r.file.ends_with("real_result_completed_be89f715.json"))
        .expect("in the corpus")
}

#[tokio::test]
async fn a_recorded_completion_time_is_read_from_completed_at() {
    let recording = recorded_completed();
    let (_server, client) = serve(&recording).await;
    let job = client
        .job::<DynamicModel>(&request_id_of(&recording))
        .expect("valid id");
    let result = job.result().await.expect("completed");
    assert_eq!(
        result.finished_at.as_deref(),
        Some("2025-12-14T08:39:21.009655+00:00")
    );
    assert_eq!(
        result.created_at.as_deref(),
        Some("2025-12-14T08:38:35.556806+00:00")
    );
    let urls = result.urls();
    assert_eq!(urls.len(), 1);
    assert!(
        urls[0].contains("Q%3D/"),
        "percent-encoded segments kept as sent: {}",
        urls[0]
    );
}

#[tokio::test]
async fn a_result_for_another_model_than_the_handles_is_refused() {
    let recording = corpus()
        .into_iter()
        .find(|r| {
            r.file
                .ends_with("pn_result_completed_images_with_model_id.json")
        })
        .expect("in the corpus");
    let (_server, client) = serve(&recording).await;
    let ticket = JobTicket {
        request_id: TEMPLATE_ID.into(),
        model_id: Some(common::MODEL.into()),
        status_url: None,
        result_url: None,
        cancel_url: None,
        work: None,
    };
    let job = client.resume::<DynamicModel>(ticket).expect("valid");
    let error = job.result().await.expect_err("another model's output");
    assert!(
        matches!(&error, Error::InvalidResponse { status: 200, request_id: Some(id), .. } if id == TEMPLATE_ID),
        "{error:?}"
    );
    assert!(error.to_string().contains("nano-banana"), "{error}");
}
