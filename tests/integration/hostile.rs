//! Hostile servers: answers no well-behaved RunComfy would give, each from
//! a loopback server written for it. None may panic or hang the client,
//! leak the token, or hand back another job's output as ours.
//!
//! Timing: where the client's own timers matter, limits are short (a few
//! hundred milliseconds) instead of the defaults; nothing here waits on a
//! default timeout. Extreme settings (`Duration::MAX` deadlines, huge or
//! NaN backoff factors) are tried on a paused clock in `src/polling.rs`'s
//! tests, where no socket is involved.

use crate::common;

use common::download_failure;
use common::raw_server::{RawRequest, RawServer, Reply, json, raw};
use runcomfy::models::kling::kling_3_0::standard::text_to_video::{Input, TextToVideo};
use runcomfy::{ApiError, Client, DownloadError, DownloadPolicy, Error, RetryPolicy, WaitOptions};
use std::time::Duration;

const ID: &str = "11111111-2222-3333-4444-555555555555";
const TOKEN: &str = "sk-hostile-test-token-0123456789";

fn fast_retry() -> RetryPolicy {
    RetryPolicy::default()
        .max_retries(3)
        .initial_delay(Duration::from_millis(1))
        .max_delay(Duration::from_millis(5))
        .budget(Duration::from_secs(2))
        .jitter(false)
}

fn client_for(server: &RawServer) -> Client {
    builder_for(server).build().expect("builds")
}

fn builder_for(server: &RawServer) -> runcomfy::ClientBuilder {
    Client::builder()
        .token(TOKEN)
        .base_url(server.base_url())
        .retry(fast_retry())
}

fn fox() -> Input {
    Input::new("a red fox")
}

/// An answer that asks for the longest wait a `u64` can say.
fn retry_after_forever(_: &RawRequest) -> Reply {
    json(
        429,
        &[("retry-after", "18446744073709551615")],
        r#"{"error_message": "slow down"}"#,
    )
}

#[tokio::test]
async fn an_endless_retry_after_on_submit_is_a_rate_limit_not_a_panic() {
    let server = RawServer::start(retry_after_forever).await;
    let error = client_for(&server)
        .submit(&fox())
        .await
        .expect_err("rate limited");
    assert!(
        matches!(error, Error::RateLimited(ApiError { retry_after: Some(wait), .. }) if wait <= Duration::from_secs(86_400)),
        "{error:?}"
    );
    assert_eq!(
        server.requests().len(),
        1,
        "a wait beyond the budget is not waited"
    );
}

#[tokio::test]
async fn an_endless_retry_after_on_status_is_a_rate_limit_not_a_panic() {
    let server = RawServer::start(retry_after_forever).await;
    let job = client_for(&server)
        .job::<TextToVideo>(ID)
        .expect("valid id");
    let error = job.status().await.expect_err("rate limited");
    assert!(matches!(error, Error::RateLimited(_)), "{error:?}");
}

#[tokio::test]
async fn an_endless_retry_after_during_a_wait_ends_at_the_deadline() {
    let server = RawServer::start(retry_after_forever).await;
    let job = client_for(&server)
        .job::<TextToVideo>(ID)
        .expect("valid id");
    let started = std::time::Instant::now();
    let error = job
        .wait_with(WaitOptions::new().deadline(Duration::from_millis(300)))
        .await
        .expect_err("times out");
    assert!(matches!(error, Error::TimedOut { .. }), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the deadline"
    );
}

#[tokio::test]
async fn an_answer_about_another_job_is_refused() {
    let server = RawServer::start(|request| {
        let other = "99999999-0000-0000-0000-000000000000";
        if request.target.ends_with("/status") {
            json(
                200,
                &[],
                &format!(r#"{{"request_id": "{other}", "status": "completed"}}"#),
            )
        } else {
            json(
                200,
                &[],
                &format!(
                    r#"{{"request_id": "{other}", "status": "completed", "output": {{"video": "https://cdn.runcomfy.net/theirs.mp4"}}}}"#
                ),
            )
        }
    })
    .await;
    let job = client_for(&server)
        .job::<TextToVideo>(ID)
        .expect("valid id");
    for error in [
        job.status().await.expect_err("not ours"),
        job.result().await.map(|_| ()).expect_err("not ours"),
    ] {
        let text = error.to_string();
        assert!(matches!(error, Error::InvalidResponse { .. }), "{error:?}");
        assert!(
            text.contains(ID) && text.contains("99999999-0000"),
            "names both ids: {text}"
        );
    }
}

#[tokio::test]
async fn a_submit_answered_with_an_unusable_id_may_have_been_accepted() {
    for id in ["../../x".to_string(), "a".repeat(100_000)] {
        let body = serde_json::json!({ "request_id": id }).to_string();
        let server = RawServer::start(move |_| json(200, &[], &body)).await;
        let error = client_for(&server)
            .submit(&fox())
            .await
            .expect_err("unusable id");
        let text = error.to_string();
        assert!(
            matches!(error, Error::SubmitOutcomeUnknown { .. }),
            "{error:?}"
        );
        assert!(text.contains("may have been accepted"), "{text}");
        assert!(
            text.len() < 1_000,
            "a bounded excerpt: {} bytes",
            text.len()
        );
        assert_eq!(server.requests().len(), 1, "never re-sent");
    }
}

#[tokio::test]
async fn an_error_body_that_echoes_the_token_does_not_leak_it() {
    let server = RawServer::start(|request| {
        let echoed = request.header("authorization").unwrap_or_default();
        json(
            401,
            &[],
            &serde_json::json!({
                "error_code": 400004,
                "error_message": format!("bad token: {echoed}"),
                "detail": {"headers": {"Authorization": echoed}}
            })
            .to_string(),
        )
    })
    .await;
    let client = client_for(&server);
    let errors = [
        client
            .submit(&fox())
            .await
            .map(|_| ())
            .expect_err("refused"),
        client
            .job::<TextToVideo>(ID)
            .expect("valid id")
            .status()
            .await
            .map(|_| ())
            .expect_err("refused"),
    ];
    for error in errors {
        assert!(matches!(error, Error::Auth(_)), "{error:?}");
        let (display, debug) = (error.to_string(), format!("{error:?}"));
        assert!(
            display.contains("Bearer [REDACTED]"),
            "still says what was echoed: {display}"
        );
        assert!(!display.contains(TOKEN), "{display}");
        assert!(!debug.contains(TOKEN), "{debug}");
    }
}

/// A client whose downloads give up quickly.
fn quick_downloads(server: &RawServer, policy: DownloadPolicy) -> Client {
    builder_for(server)
        .download_policy(policy)
        .build()
        .expect("builds")
}

fn trickle(_: &RawRequest) -> Reply {
    Reply::Trickle {
        head: b"HTTP/1.1 200 OK\r\ncontent-type: video/mp4\r\ncontent-length: 1000\r\nconnection: close\r\n\r\n".to_vec(),
        body: vec![0; 1000],
        every: Duration::from_millis(50),
    }
}

#[tokio::test]
async fn a_trickling_download_trips_the_low_speed_limit() {
    let server = RawServer::start(trickle).await;
    let client = quick_downloads(
        &server,
        DownloadPolicy::default().low_speed_limit(1024, Duration::from_millis(300)),
    );
    let folder = tempfile::tempdir().expect("temp dir");
    let started = std::time::Instant::now();
    let error = client
        .download_output(
            ID,
            &format!("{}/video.mp4", server.base_url()),
            folder.path(),
        )
        .await
        .expect_err("too slow");
    assert!(
        matches!(download_failure(&error), DownloadError::TooSlow { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("low_speed_limit"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        std::fs::read_dir(folder.path()).expect("list").count(),
        0,
        "nothing left behind"
    );
}

#[tokio::test]
async fn a_download_deadline_stops_a_transfer_that_never_ends() {
    let server = RawServer::start(trickle).await;
    let client = quick_downloads(
        &server,
        DownloadPolicy::default()
            .low_speed_limit(0, Duration::ZERO)
            .deadline(Duration::from_millis(300)),
    );
    let folder = tempfile::tempdir().expect("temp dir");
    let error = client
        .download_output(
            ID,
            &format!("{}/video.mp4", server.base_url()),
            folder.path(),
        )
        .await
        .expect_err("past its deadline");
    assert!(
        matches!(
            download_failure(&error),
            DownloadError::DeadlineExceeded { .. }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("DownloadPolicy::deadline"),
        "{error}"
    );
}

#[tokio::test]
async fn a_redirect_to_a_host_not_allowed_is_refused_at_once() {
    let server = RawServer::start(|_| {
        raw(
            302,
            "text/plain",
            &[("location", "https://evil.example.com/steal.mp4")],
            b"",
        )
    })
    .await;
    let client = client_for(&server);
    let folder = tempfile::tempdir().expect("temp dir");
    let error = client
        .download_output(
            ID,
            &format!("{}/video.mp4", server.base_url()),
            folder.path(),
        )
        .await
        .expect_err("refused");
    assert!(
        matches!(
            download_failure(&error),
            DownloadError::HostNotAllowed { url } if url.contains("evil.example.com")
        ),
        "{error:?}"
    );
    assert_eq!(server.requests().len(), 1, "not retried");
}

#[tokio::test]
async fn userinfo_in_a_download_url_is_never_sent() {
    let server = RawServer::start(|_| raw(200, "video/mp4", &[], b"not really a video")).await;
    let client = client_for(&server);
    let folder = tempfile::tempdir().expect("temp dir");
    let url = server.base_url().replace("http://", "http://user:hunter2@") + "/v.mp4";
    client
        .download_output(ID, &url, folder.path())
        .await
        .expect("downloads");
    let request = &server.requests()[0];
    assert_eq!(request.header("authorization"), None, "{request:?}");
}

#[tokio::test]
async fn a_folder_or_symlink_with_the_outputs_name_is_never_written_through() {
    let server = RawServer::start(|request| {
        if request.target.ends_with("/result") {
            json(
                200,
                &[],
                &format!(
                    r#"{{"request_id": "{ID}", "status": "completed", "output": {{"video": "http://127.0.0.1:1/files/clip.mp4"}}}}"#
                ),
            )
        } else {
            raw(200, "video/mp4", &[], b"bytes")
        }
    })
    .await;
    let client = client_for(&server);
    let mut result = client
        .job::<TextToVideo>(ID)
        .expect("valid id")
        .result()
        .await
        .expect("a finished result");
    result.output.video = Some(format!("{}/files/clip.mp4", server.base_url()));

    let destination = tempfile::tempdir().expect("temp dir");
    let elsewhere = tempfile::tempdir().expect("temp dir");
    // A folder named like the output.
    std::fs::create_dir(destination.path().join("clip.mp4")).expect("mkdir");
    let error = client
        .download_result(&result, destination.path())
        .await
        .expect_err("refused");
    assert!(
        matches!(
            download_failure(&error),
            DownloadError::AlreadyExists { .. }
        ),
        "{error:?}"
    );
    assert_eq!(
        std::fs::read_dir(destination.path().join("clip.mp4"))
            .expect("list")
            .count(),
        0
    );
    #[cfg(unix)]
    {
        // A symlink to a folder elsewhere, named like the output.
        std::fs::remove_dir(destination.path().join("clip.mp4")).expect("rmdir");
        std::os::unix::fs::symlink(elsewhere.path(), destination.path().join("clip.mp4"))
            .expect("symlink");
        let error = client
            .download_result(&result, destination.path())
            .await
            .expect_err("refused");
        assert!(
            matches!(
                download_failure(&error),
                DownloadError::AlreadyExists { .. }
            ),
            "{error:?}"
        );
        assert_eq!(
            std::fs::read_dir(elsewhere.path()).expect("list").count(),
            0,
            "nothing written outside the destination"
        );
    }
}

#[tokio::test]
async fn a_cdn_that_fails_for_a_while_is_retried() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = calls.clone();
    let server = RawServer::start(move |_| {
        if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
            raw(
                503,
                "text/html",
                &[("retry-after", "0")],
                b"<html>busy</html>",
            )
        } else {
            raw(200, "video/mp4", &[], b"the whole video")
        }
    })
    .await;
    let client = client_for(&server);
    let folder = tempfile::tempdir().expect("temp dir");
    let path = client
        .download_output(ID, &format!("{}/v.mp4", server.base_url()), folder.path())
        .await
        .expect("the third try works");
    assert_eq!(std::fs::read(path).expect("saved"), b"the whole video");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_download_server_that_never_gets_it_right_is_given_up_on() {
    // Every answer breaks off half way, and every resume gets the wrong part.
    let server = RawServer::start(|request| {
        if request.header("range").is_some() {
            raw(
                206,
                "video/mp4",
                &[("content-range", "bytes 0-9/100")],
                b"0123456789",
            )
        } else {
            Reply::Bytes(
                b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\nconnection: close\r\n\r\n0123456789"
                    .to_vec(),
            )
        }
    })
    .await;
    let client = quick_downloads(&server, DownloadPolicy::default().max_resumes(3));
    let folder = tempfile::tempdir().expect("temp dir");
    let error = client
        .download_output(ID, &format!("{}/v.mp4", server.base_url()), folder.path())
        .await
        .expect_err("gives up");
    assert!(
        matches!(
            download_failure(&error),
            DownloadError::Interrupted { attempts: 4, .. }
        ),
        "{error:?}"
    );
    assert_eq!(server.requests().len(), 4, "bounded tries");
    assert_eq!(std::fs::read_dir(folder.path()).expect("list").count(), 0);
}
