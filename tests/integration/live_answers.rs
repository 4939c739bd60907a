//! Answers as the live API gives them (or might), one loopback server each:
//! the real HTTP status in every error, auxiliary fields that never fail a
//! call, a status value that stays strict.

use crate::common;

use common::raw_server::{RawServer, json};
use runcomfy::{Client, DynamicModel, Error, ModelDescriptor, RetryPolicy, Status};
use serde_json::Value;

const ID: &str = "323b27e1-2de2-41b1-bf6e-a4b4602e1a75";

fn client_for(server: &RawServer) -> Client {
    Client::builder()
        .token("sk-live-answers")
        .base_url(server.base_url())
        .retry(RetryPolicy::none())
        .build()
        .expect("builds")
}

async fn answering(status: u16, body: &'static str) -> RawServer {
    RawServer::start(move |_| json(status, &[], body)).await
}

fn job(client: &Client) -> runcomfy::Job<DynamicModel> {
    client.job::<DynamicModel>(ID).expect("a valid id")
}

#[tokio::test]
async fn an_unusable_202_is_reported_as_http_202_on_every_call() {
    let server = answering(202, "accepted, probably").await;
    let client = client_for(&server);
    let job = job(&client);
    for error in [
        job.status().await.expect_err("unusable"),
        job.result().await.expect_err("unusable"),
        job.cancel().await.expect_err("unusable"),
    ] {
        assert!(
            matches!(&error, Error::InvalidResponse { status: 202, request_id: Some(id), .. } if id == ID),
            "{error:?}"
        );
        assert!(error.to_string().contains("HTTP 202"), "{error}");
    }
    // A submit answered so may still be a paid job: never re-sent, and
    // the message names what really came back.
    let model = ModelDescriptor::find(common::MODEL).expect("built in");
    let error = client
        .submit_json(model, &serde_json::json!({"prompt": "a fox"}))
        .await
        .expect_err("unusable");
    assert!(
        matches!(&error, Error::SubmitOutcomeUnknown { reason, .. } if reason.contains("HTTP 202")),
        "{error:?}"
    );
    assert_eq!(server.requests().len(), 4, "the submit was sent once");
}

#[tokio::test]
async fn an_error_code_in_a_202_keeps_the_status_it_came_with() {
    let server = answering(
        202,
        r#"{"error_code": 400004, "error_message": "bad token"}"#,
    )
    .await;
    let error = job(&client_for(&server))
        .status()
        .await
        .expect_err("refused");
    assert!(
        matches!(&error, Error::Auth(api) if api.status == 202 && api.code == Some(400004)),
        "{error:?}"
    );
}

#[tokio::test]
async fn odd_queue_positions_never_fail_a_status_call() {
    let cases: [(&'static str, Option<u64>); 7] = [
        (r#"{"status": "in_queue", "queue_position": "3"}"#, Some(3)),
        (r#"{"status": "in_queue", "queue_position": 2.0}"#, Some(2)),
        (r#"{"status": "in_queue", "queue_position": 2.7}"#, Some(2)),
        (r#"{"status": "in_queue", "queue_position": -1}"#, None),
        (r#"{"status": "in_queue", "queue_position": null}"#, None),
        (
            r#"{"status": "in_queue", "queue_position": {"ahead": 3}}"#,
            None,
        ),
        (r#"{"status": "in_queue"}"#, None),
    ];
    for (body, position) in cases {
        let server = answering(200, body).await;
        let status = job(&client_for(&server)).status().await;
        assert_eq!(status.expect(body), Status::InQueue { position }, "{body}");
    }
}

#[tokio::test]
async fn unknown_keys_and_odd_auxiliary_fields_never_fail_a_call() {
    let server = answering(
        200,
        r#"{"request_id": "323b27e1-2de2-41b1-bf6e-a4b4602e1a75", "status": "in_progress",
            "instance_id": 7, "status_url": 12, "result_url": null, "eta": {"s": 3}}"#,
    )
    .await;
    assert_eq!(
        job(&client_for(&server)).status().await.expect("read"),
        Status::InProgress
    );

    // A result that echoes the request's input, with numbers where text
    // was expected.
    let server = answering(
        200,
        r#"{"request_id": "323b27e1-2de2-41b1-bf6e-a4b4602e1a75", "status": "completed",
            "input": {"prompt": "a fox", "duration": 5}, "model_id": 42,
            "created_at": 1765701515, "completed_at": "2025-12-14T08:39:21.009655+00:00",
            "output": {"video": "https://playgrounds-storage-public.runcomfy.net/a.mp4"},
            "cost": "0.42", "queue_position": "n/a"}"#,
    )
    .await;
    let result = job(&client_for(&server)).result().await.expect("read");
    assert_eq!(result.created_at.as_deref(), Some("1765701515"));
    assert_eq!(
        result.finished_at.as_deref(),
        Some("2025-12-14T08:39:21.009655+00:00")
    );
    assert_eq!(result.cost, Some(0.42));
    assert_eq!(
        result.output["video"],
        Value::from("https://playgrounds-storage-public.runcomfy.net/a.mp4")
    );

    // A submit answer whose URLs are not strings still gives the job.
    let server = answering(
        200,
        r#"{"request_id": "323b27e1-2de2-41b1-bf6e-a4b4602e1a75", "status_url": 1, "cancel_url": null, "extra": true}"#,
    )
    .await;
    let model = ModelDescriptor::find(common::MODEL).expect("built in");
    let submitted = client_for(&server)
        .submit_json(model, &serde_json::json!({"prompt": "a fox"}))
        .await
        .expect("accepted");
    assert_eq!(submitted.request_id(), ID);
    assert_eq!(submitted.ticket().status_url, None);
}

#[tokio::test]
async fn the_status_value_itself_stays_strict() {
    for body in [
        r#"{"status": 3}"#,
        r#"{"status": null}"#,
        r#"{"queue_position": 3}"#,
    ] {
        let server = answering(200, body).await;
        let error = job(&client_for(&server)).status().await.expect_err(body);
        assert!(
            matches!(&error, Error::InvalidResponse { status: 200, .. }),
            "{body}: {error:?}"
        );
    }
}

#[tokio::test]
async fn both_completion_time_names_are_read_and_completed_at_wins() {
    for (body, expected) in [
        (
            r#"{"status": "succeeded", "output": {}, "finished_at": "2025-01-01T00:00:00Z"}"#,
            Some("2025-01-01T00:00:00Z"),
        ),
        (
            r#"{"status": "completed", "output": {}, "completed_at": "2025-12-14T08:39:21.009655+00:00", "finished_at": "x"}"#,
            Some("2025-12-14T08:39:21.009655+00:00"),
        ),
        (
            r#"{"status": "completed", "output": {}, "completed_at": null, "finished_at": null}"#,
            None,
        ),
    ] {
        let server = answering(200, body).await;
        let result = job(&client_for(&server)).result().await.expect(body);
        assert_eq!(result.finished_at.as_deref(), expected, "{body}");
    }
}

#[tokio::test]
async fn an_error_disguised_as_a_200_is_a_refusal_even_where_every_field_is_optional() {
    let server = answering(
        200,
        r#"{"error_code": 400004, "error_message": "bad token"}"#,
    )
    .await;
    let client = client_for(&server);
    let error = client
        .model_info(common::MODEL)
        .await
        .expect_err("a refusal, not an empty model");
    assert!(
        matches!(&error, Error::Auth(api) if api.status == 200 && api.code == Some(400004)),
        "{error:?}"
    );
    let error = job(&client).cancel().await.expect_err("a refusal");
    assert!(
        matches!(&error, Error::Auth(api) if api.request_id.as_deref() == Some(ID)),
        "{error:?}"
    );
}
