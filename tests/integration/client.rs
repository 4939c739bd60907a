//! The client against the emulator: the happy path, every error class, a
//! fault mix, secrets, downloads.
#![cfg(feature = "emulator")]

use crate::common;

use common::{assert_playable_mp4, download_failure, fast, fetch, one_busy_worker};
use runcomfy::emulator::{Emulator, EmulatorConfig, Endpoint, Fault};
use runcomfy::models::kling::kling_3_0::standard::text_to_video::{
    AspectRatio, Input, TextToVideo,
};
use runcomfy::polling::FixedPolling;
use runcomfy::{
    ApiError, CancelOutcome, Client, DownloadError, DownloadPolicy, Error, HandleError, Job,
    JobTicket, RetryPolicy, Status, WaitOptions,
};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn fast_retry() -> RetryPolicy {
    RetryPolicy::default()
        .max_retries(3)
        .initial_delay(Duration::from_millis(1))
        .max_delay(Duration::from_millis(5))
        .budget(Duration::from_secs(5))
        .jitter(false)
}

fn client_for(emulator: &Emulator) -> Client {
    Client::builder()
        .token(emulator.token())
        .base_url(emulator.base_url())
        .retry(fast_retry())
        .poll_policy(FixedPolling(Duration::from_millis(5)))
        .wait_options(WaitOptions::new().deadline(Duration::from_secs(20)))
        .build()
        .expect("client builds")
}

fn fox() -> Input {
    Input::new("a red fox in the snow")
}

#[tokio::test]
async fn run_then_download_produces_a_playable_mp4() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let client = client_for(&emulator);
    let input = Input {
        aspect_ratio: Some(AspectRatio::Ratio9x16),
        duration: Some(10),
        ..fox()
    };
    let result = client.run(&input).await.expect("the job completes");
    let video = result.output.video.clone().expect("a video URL");
    assert!(video.starts_with(&emulator.files_base_url()));
    assert!(result.created_at.is_some() && result.finished_at.is_some());

    let folder = tempfile::tempdir().expect("temp dir");
    let files = client
        .download_result(&result, folder.path())
        .await
        .expect("downloads");
    assert_eq!(files.len(), 1);
    assert_eq!(
        files[0].file_name().and_then(|n| n.to_str()),
        Some(format!("{}.mp4", result.request_id).as_str())
    );
    let bytes = std::fs::read(&files[0]).expect("the file exists");
    assert_eq!(
        assert_playable_mp4(&bytes),
        (144, 256),
        "portrait, as asked"
    );
    // Nothing but the video in the folder: no temporary file left over.
    assert_eq!(std::fs::read_dir(folder.path()).expect("list").count(), 1);
    #[cfg(unix)]
    {
        // The video gets the permissions any new file gets, not a
        // temporary file's private 0600.
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &std::path::Path| {
            std::fs::metadata(path)
                .expect("metadata")
                .permissions()
                .mode()
                & 0o777
        };
        let ordinary = folder.path().join("ordinary");
        std::fs::write(&ordinary, b"x").expect("writes");
        assert_eq!(mode(&files[0]), mode(&ordinary));
        std::fs::remove_file(&ordinary).expect("removes");
    }

    let counters = emulator.counters();
    assert_eq!(
        counters.file_requests_with_authorization, 0,
        "the token never reaches the file host"
    );
    assert_eq!(counters.requests.submit, 1);
}

#[tokio::test]
async fn invalid_input_is_refused_before_any_request() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let client = client_for(&emulator);
    let error = client
        .submit(&Input {
            duration: Some(99),
            ..fox()
        })
        .await
        .expect_err("invalid");
    assert!(matches!(error, Error::Validation(_)));
    assert!(
        error
            .to_string()
            .contains("duration: must be at most 15 (got 99)"),
        "{error}"
    );
    assert_eq!(emulator.counters().requests.submit, 0);
}

#[tokio::test]
async fn a_wrong_token_is_an_auth_error() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let client = Client::builder()
        .token("wrong")
        .base_url(emulator.base_url())
        .retry(fast_retry())
        .build()
        .expect("builds");
    let error = client.submit(&fox()).await.expect_err("refused");
    assert!(
        matches!(
            error,
            Error::Auth(ApiError {
                status: 401,
                code: Some(400004),
                ..
            })
        ),
        "{error:?}"
    );
    let job = client.job::<TextToVideo>("some-request").expect("valid id");
    let error = job.status().await.expect_err("refused");
    assert!(matches!(error, Error::Auth(_)));
    assert_eq!(error.request_id(), Some("some-request"));
    assert!(
        !error.to_string().contains("wrong"),
        "the token is not quoted: {error}"
    );
}

#[tokio::test]
async fn unknown_request_ids_are_not_found_and_bad_ids_are_refused() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let client = client_for(&emulator);
    let error = client
        .job::<TextToVideo>("no-such-job")
        .expect("valid")
        .status()
        .await
        .expect_err("unknown");
    assert!(
        matches!(
            error,
            Error::NotFound(ApiError {
                code: Some(404001),
                ..
            })
        ),
        "{error:?}"
    );
    assert_eq!(error.request_id(), Some("no-such-job"));
    for bad in ["..", ".", "a/../b", ""] {
        assert!(
            matches!(
                client.job::<TextToVideo>(bad),
                Err(HandleError::InvalidRequestId { .. })
            ),
            "{bad:?}"
        );
    }
    assert_eq!(emulator.counters().requests.status, 1);
}

#[tokio::test]
async fn insufficient_balance_in_a_200_body() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let client = client_for(&emulator);
    emulator
        .fail_next(
            Endpoint::Submit,
            1,
            Fault::ErrorIn200 {
                error_code: 400002,
                message: "insufficient balance".into(),
            },
        )
        .expect("applies");
    let error = client.submit(&fox()).await.expect_err("no money");
    assert!(matches!(error, Error::InsufficientBalance(_)), "{error:?}");
}

#[tokio::test]
async fn rate_limits_are_retried_then_reported_with_the_retry_hint() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let client = client_for(&emulator);
    // A 429 on submit means "not processed": retried, one job.
    emulator
        .fail_next(
            Endpoint::Submit,
            2,
            Fault::RateLimited {
                retry_after_secs: 0,
            },
        )
        .expect("applies");
    let job = client
        .submit(&fox())
        .await
        .expect("accepted on the third try");
    let counters = emulator.counters();
    assert_eq!(
        (counters.requests.submit, counters.submits_accepted),
        (3, 1)
    );

    // More 429s than retries: the error says so, with the job's id.
    emulator
        .fail_next(
            Endpoint::Status,
            4,
            Fault::RateLimited {
                retry_after_secs: 0,
            },
        )
        .expect("applies");
    let error = job.status().await.expect_err("still limited");
    assert!(
        matches!(error, Error::RateLimited(ApiError { retry_after: Some(d), .. }) if d == Duration::ZERO),
        "{error:?}"
    );
    assert_eq!(error.request_id(), Some(job.request_id()));
    assert!(error.is_transient());
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let client = client_for(&emulator);
    let job = client.submit(&fox()).await.expect("accepted");
    emulator
        .fail_next(Endpoint::Status, 3, Fault::HttpError { status: 503 })
        .expect("applies");
    job.status().await.expect("the fourth try works");
    emulator
        .fail_next(Endpoint::Status, 4, Fault::HttpError { status: 500 })
        .expect("applies");
    let error = job.status().await.expect_err("too many");
    assert!(
        matches!(
            error,
            Error::Server(ApiError {
                status: 500,
                code: Some(500001),
                ..
            })
        ),
        "{error:?}"
    );
    assert_eq!(error.request_id(), Some(job.request_id()));
    emulator
        .fail_next(Endpoint::Result, 4, Fault::HttpError { status: 502 })
        .expect("applies");
    let error = job.result().await.expect_err("too many");
    assert!(
        matches!(error, Error::Server(ApiError { status: 502, .. })),
        "{error:?}"
    );
}

#[tokio::test]
async fn malformed_truncated_reset_and_200_errors_are_retried_for_status() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let client = client_for(&emulator);
    let job = client.submit(&fox()).await.expect("accepted");
    for fault in [
        Fault::MalformedJson,
        Fault::TruncatedBody,
        Fault::ConnectionReset,
        Fault::ErrorIn200 {
            error_code: 500001,
            message: "busy".into(),
        },
    ] {
        emulator
            .fail_next(Endpoint::Status, 1, fault.clone())
            .expect("applies");
        job.status()
            .await
            .unwrap_or_else(|e| panic!("{fault:?} was not retried: {e}"));
    }
    emulator
        .fail_next(Endpoint::Status, 4, Fault::ConnectionReset)
        .expect("applies");
    let error = job.status().await.expect_err("too many resets");
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    assert_eq!(error.request_id(), Some(job.request_id()));
}

#[tokio::test]
async fn a_submit_that_may_have_arrived_is_never_sent_again() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let client = client_for(&emulator);
    for fault in [
        Fault::ConnectionReset,
        Fault::TruncatedBody,
        Fault::MalformedJson,
        Fault::HttpError { status: 503 },
        Fault::HttpError { status: 500 },
        Fault::ErrorIn200 {
            error_code: 500001,
            message: "busy".into(),
        },
    ] {
        let before = emulator.counters().requests.submit;
        emulator
            .fail_next(Endpoint::Submit, 1, fault.clone())
            .expect("applies");
        let error = client.submit(&fox()).await.expect_err("answer lost");
        assert!(
            matches!(error, Error::SubmitOutcomeUnknown { .. }),
            "{fault:?}: {error:?}"
        );
        assert!(
            error.to_string().contains("may have been accepted"),
            "{error}"
        );
        assert!(!error.is_transient(), "never to be retried blindly");
        assert_eq!(
            emulator.counters().requests.submit,
            before + 1,
            "{fault:?}: sent once"
        );
    }
    // Reset and truncation happen after the job was accepted: paid for.
    assert_eq!(emulator.counters().submits_accepted, 2);
}

#[tokio::test]
async fn a_submit_that_never_connected_is_a_plain_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let client = Client::builder()
        .token("t")
        .base_url(closed)
        .retry(fast_retry())
        .build()
        .expect("builds");
    let error = client.submit(&fox()).await.expect_err("refused");
    assert!(
        matches!(
            error,
            Error::Transport {
                request_id: None,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_failed_job_surfaces_runcomfys_error_text() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let client = client_for(&emulator);
    emulator
        .fail_next(
            Endpoint::Submit,
            1,
            Fault::JobFails {
                message: "content policy violation".into(),
            },
        )
        .expect("applies");
    let job = client.submit(&fox()).await.expect("accepted");
    let error = job.wait().await.expect_err("fails");
    match &error {
        Error::JobFailed {
            request_id,
            code,
            message,
            error,
        } => {
            assert_eq!(request_id, job.request_id());
            // RunComfy's message, not the JSON of its error object.
            assert_eq!(message, "content policy violation");
            assert_eq!(code.as_deref(), Some("generation_failed"));
            assert_eq!(
                error["message"], "content policy violation",
                "the raw value"
            );
        }
        other => panic!("expected JobFailed, got {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        format!(
            "job {} failed (generation_failed): content policy violation",
            job.request_id()
        )
    );
}

/// Waits on `job` until `deadline`, expecting a timeout; returns whether
/// the job was cancelled.
async fn time_out(job: &Job<TextToVideo>, deadline_ms: u64, cancel_on_deadline: bool) -> bool {
    let options = WaitOptions::new()
        .deadline(Duration::from_millis(deadline_ms))
        .cancel_on_deadline(cancel_on_deadline);
    match job.wait_with(options).await {
        Err(error @ Error::TimedOut { cancelled, .. }) => {
            assert_eq!(error.request_id(), Some(job.request_id()));
            cancelled
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn waiting_times_out_without_cancelling_unless_asked() {
    let emulator = Emulator::start(one_busy_worker()).await.expect("starts");
    let client = client_for(&emulator);
    let running = client.submit(&fox()).await.expect("accepted");
    assert!(!time_out(&running, 200, false).await, "an hour-long job");
    assert_eq!(emulator.counters().requests.cancel, 0);

    let queued = client.submit(&fox()).await.expect("accepted");
    assert!(time_out(&queued, 100, true).await, "stuck in the queue");
    assert_eq!(queued.status().await.expect("status"), Status::Cancelled);

    // A running job cannot be cancelled: the timeout says it goes on.
    assert!(!time_out(&running, 100, true).await);
    assert_eq!(emulator.counters().requests.cancel, 2);
    assert_eq!(running.status().await.expect("status"), Status::InProgress);
}

#[tokio::test]
async fn cancel_reports_cancelled_and_not_cancellable() {
    let emulator = Emulator::start(one_busy_worker()).await.expect("starts");
    let client = client_for(&emulator);
    let running = client.submit(&fox()).await.expect("accepted");
    let queued = client.submit(&fox()).await.expect("accepted");
    common::eventually(Duration::from_secs(10), || async {
        (running.status().await.ok()? == Status::InProgress).then_some(())
    })
    .await;
    assert_eq!(
        queued.status().await.expect("status"),
        Status::InQueue { position: Some(0) }
    );
    assert_eq!(
        queued.cancel().await.expect("cancel"),
        CancelOutcome::Cancelled
    );
    assert_eq!(
        running.cancel().await.expect("cancel"),
        CancelOutcome::NotCancellable
    );
    assert!(matches!(
        queued.result().await,
        Err(Error::JobCancelled { .. })
    ));
    assert!(
        matches!(
            running.result().await,
            Err(Error::NotFinished {
                status: Status::InProgress,
                ..
            })
        ),
        "a running job has no result yet"
    );
    assert!(matches!(
        queued.wait().await,
        Err(Error::JobCancelled { .. })
    ));
}

#[tokio::test]
async fn alternate_spellings_and_unknown_statuses_do_not_break_a_wait() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let client = client_for(&emulator);
    emulator
        .fail_next(Endpoint::Submit, 1, Fault::AlternateSpellings)
        .expect("applies");
    let job = client.submit(&fox()).await.expect("accepted");
    job.wait().await.expect("'succeeded' is completed");

    let slow = Emulator::start(
        EmulatorConfig::default()
            .time_scale(100.0)
            .queue_delay(Duration::ZERO),
    )
    .await
    .expect("starts");
    let client = client_for(&slow);
    slow.fail_next(
        Endpoint::Submit,
        1,
        Fault::UnknownStatus {
            status: "warming_up".into(),
        },
    )
    .expect("applies");
    let job = client
        .submit(&Input {
            duration: Some(3),
            ..fox()
        })
        .await
        .expect("accepted");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();
    let options = WaitOptions::new()
        .on_progress(move |p| recorder.lock().expect("lock").push(p.status.clone()));
    job.wait_with(options).await.expect("completes");
    let seen = seen.lock().expect("lock");
    assert!(
        seen.contains(&Status::Unknown {
            value: "warming_up".into()
        }),
        "{seen:?}"
    );
    assert_eq!(seen.last(), Some(&Status::Completed));
}

#[tokio::test]
async fn a_job_survives_a_restart_through_its_ticket_or_request_id() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let saved = {
        let client = client_for(&emulator);
        let job = client.submit(&fox()).await.expect("accepted");
        serde_json::to_string(&job).expect("a job serialises")
    };
    // A new process: a new client, the saved ticket.
    let client = client_for(&emulator);
    let ticket: JobTicket = serde_json::from_str(&saved).expect("a ticket deserialises");
    let job: Job<TextToVideo> = client.resume(ticket.clone()).expect("resumes");
    assert!(job.wait().await.expect("completes").output.video.is_some());
    let by_id = client
        .job::<TextToVideo>(&ticket.request_id)
        .expect("valid id");
    assert!(by_id.result().await.expect("result").output.video.is_some());
}

#[tokio::test]
async fn under_a_fault_mix_no_submit_is_sent_twice_and_no_accepted_id_is_lost() {
    const SUBMITS: usize = 40;
    let emulator = Emulator::start(fast().seed(3)).await.expect("starts");
    let client = client_for(&emulator);
    let submit_faults = [
        Fault::ConnectionReset,
        Fault::TruncatedBody,
        Fault::MalformedJson,
        Fault::HttpError { status: 503 },
    ];
    for fault in submit_faults {
        emulator
            .fail_at_rate(Endpoint::Submit, 0.08, fault)
            .expect("applies");
    }
    for endpoint in [Endpoint::Status, Endpoint::Result] {
        for fault in [
            Fault::ConnectionReset,
            Fault::TruncatedBody,
            Fault::MalformedJson,
            Fault::HttpError { status: 502 },
            Fault::RateLimited {
                retry_after_secs: 0,
            },
            Fault::ErrorIn200 {
                error_code: 500001,
                message: "busy".into(),
            },
        ] {
            emulator
                .fail_at_rate(endpoint, 0.04, fault)
                .expect("applies");
        }
    }

    let mut accepted = Vec::new();
    let mut outcome_unknown = 0;
    for _ in 0..SUBMITS {
        match client.submit(&fox()).await {
            Ok(job) => accepted.push(job),
            Err(Error::SubmitOutcomeUnknown { .. }) => outcome_unknown += 1,
            Err(other) => panic!("unexpected submit error: {other:?}"),
        }
    }
    let counters = emulator.counters();
    assert_eq!(
        counters.requests.submit, SUBMITS as u64,
        "every submit sent exactly once"
    );
    assert!(outcome_unknown > 0, "the mix exercised lost answers");
    assert!(accepted.len() as u64 <= counters.submits_accepted);
    assert!(
        counters.submits_accepted - accepted.len() as u64 <= outcome_unknown,
        "every accepted job the client does not know of was reported as 'may have been accepted'"
    );

    let ids: HashSet<&str> = accepted.iter().map(|j| j.request_id()).collect();
    assert_eq!(ids.len(), accepted.len());
    for job in &accepted {
        match job.wait().await {
            Ok(result) => assert_eq!(result.request_id, job.request_id()),
            Err(error) => assert_eq!(error.request_id(), Some(job.request_id()), "{error}"),
        }
    }
}

// ---- downloads ----

async fn finished_video(client: &Client) -> (String, Vec<u8>) {
    let result = client.run(&fox()).await.expect("completes");
    let url = result.output.video.expect("a video");
    let bytes = fetch(&url).await;
    (url, bytes)
}

#[tokio::test]
async fn a_download_cut_off_half_way_resumes_with_range() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let client = client_for(&emulator);
    let (url, whole) = finished_video(&client).await;
    let served_before = emulator.counters().bytes_served;
    emulator
        .fail_next(Endpoint::File, 1, Fault::StopHalfway)
        .expect("applies");
    let folder = tempfile::tempdir().expect("temp dir");
    let path = client
        .download_output("req", &url, &folder.path().join("fox.mp4"))
        .await
        .expect("resumes");
    assert_eq!(std::fs::read(&path).expect("file"), whole);
    let served = emulator.counters().bytes_served - served_before;
    assert_eq!(
        served,
        whole.len() as u64,
        "half, then the other half: nothing sent twice"
    );
}

#[tokio::test]
async fn a_download_whose_server_ignores_range_starts_over() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let client = client_for(&emulator);
    let (url, whole) = finished_video(&client).await;
    emulator
        .fail_next(Endpoint::File, 1, Fault::StopHalfway)
        .expect("applies");
    emulator
        .fail_next(Endpoint::File, 1, Fault::IgnoreRange)
        .expect("applies");
    let folder = tempfile::tempdir().expect("temp dir");
    let path = client
        .download_output("req", &url, folder.path())
        .await
        .expect("starts over");
    let bytes = std::fs::read(&path).expect("file");
    assert_eq!(bytes, whole, "not the first half twice");
    assert_playable_mp4(&bytes);
}

#[tokio::test]
async fn oversize_downloads_are_refused_and_leave_nothing() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let client = client_for(&emulator);
    let (url, _) = finished_video(&client).await;
    let small = Client::builder()
        .token(emulator.token())
        .base_url(emulator.base_url())
        .download_policy(DownloadPolicy::default().max_bytes(1000))
        .build()
        .expect("builds");
    let folder = tempfile::tempdir().expect("temp dir");
    let error = small
        .download_output("req", &url, folder.path())
        .await
        .expect_err("too big");
    assert!(
        matches!(
            download_failure(&error),
            DownloadError::TooLarge { limit: 1000, .. }
        ),
        "{error:?}"
    );
    assert_eq!(
        std::fs::read_dir(folder.path()).expect("list").count(),
        0,
        "no partial file"
    );
}

#[tokio::test]
async fn existing_files_are_not_overwritten_unless_asked() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let client = client_for(&emulator);
    let (url, whole) = finished_video(&client).await;
    let folder = tempfile::tempdir().expect("temp dir");
    let target = folder.path().join("mine.mp4");
    std::fs::write(&target, b"precious").expect("write");
    let error = client
        .download_output("req", &url, &target)
        .await
        .expect_err("exists");
    assert!(
        matches!(
            download_failure(&error),
            DownloadError::AlreadyExists { .. }
        ),
        "{error:?}"
    );
    assert_eq!(std::fs::read(&target).expect("file"), b"precious");
    assert_eq!(
        std::fs::read_dir(folder.path()).expect("list").count(),
        1,
        "no temporary file left"
    );

    let overwriting = Client::builder()
        .token(emulator.token())
        .base_url(emulator.base_url())
        .download_policy(DownloadPolicy::default().overwrite(true))
        .build()
        .expect("builds");
    overwriting
        .download_output("req", &url, &target)
        .await
        .expect("replaces");
    assert_eq!(std::fs::read(&target).expect("file"), whole);
}

#[tokio::test]
async fn downloads_go_only_to_allowed_hosts() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let client = client_for(&emulator);
    let folder = tempfile::tempdir().expect("temp dir");
    for url in [
        "https://example.com/x.mp4",
        "http://cdn.runcomfy.net/x.mp4",
        "file:///etc/passwd",
    ] {
        let error = client
            .download_output("req", url, folder.path())
            .await
            .expect_err("refused");
        assert!(
            matches!(
                download_failure(&error),
                DownloadError::HostNotAllowed { .. }
            ),
            "{url}: {error:?}"
        );
    }
    let no_loopback = Client::builder()
        .token("t")
        .download_policy(DownloadPolicy::default().allow_loopback(false))
        .build()
        .expect("builds");
    let (url, _) = finished_video(&client).await;
    let error = no_loopback
        .download_output("req", &url, folder.path())
        .await
        .expect_err("loopback off");
    assert!(matches!(
        download_failure(&error),
        DownloadError::HostNotAllowed { .. }
    ));
}

#[tokio::test]
async fn each_file_of_a_result_is_downloaded_once_under_its_own_name() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let client = client_for(&emulator);
    let mut result = client.run(&fox()).await.expect("completes");
    let video = result.output.video.clone().expect("a video URL");
    // The same URL as `video` and in `videos`, and a second URL that ends
    // in the same file name.
    let twin = format!("{video}?copy=2");
    result.output.videos = vec![video.clone(), twin];

    let folder = tempfile::tempdir().expect("temp dir");
    let destination = folder.path().join("not-yet-there");
    let files = client
        .download_result(&result, &destination)
        .await
        .expect("downloads");
    let names: Vec<_> = files
        .iter()
        .map(|f| f.file_name().and_then(|n| n.to_str()).expect("a name"))
        .collect();
    let id = &result.request_id;
    assert_eq!(names, [format!("{id}.mp4"), format!("{id}-2.mp4")]);
    for file in &files {
        assert_playable_mp4(&std::fs::read(file).expect("the file exists"));
    }
    assert_eq!(
        emulator.counters().requests.file,
        2,
        "each URL fetched once"
    );
}

#[tokio::test]
async fn the_token_is_not_sent_through_an_api_redirect() {
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::routing::get;
    // A host that records whether anyone sent it a token.
    let leaked = Arc::new(Mutex::new(Vec::<String>::new()));
    let recorder = leaked.clone();
    let thief = axum::Router::new().route(
        "/{*path}",
        get(move |headers: HeaderMap| {
            let recorder = recorder.clone();
            async move {
                if let Some(value) = headers.get(header::AUTHORIZATION) {
                    recorder
                        .lock()
                        .expect("lock")
                        .push(value.to_str().unwrap_or_default().to_string());
                }
                StatusCode::OK
            }
        }),
    );
    let thief_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let thief_url = format!("http://{}", thief_listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(thief_listener, thief).await });

    // An "API" that redirects every call to it.
    let target = thief_url.clone();
    let api = axum::Router::new().route(
        "/{*path}",
        get(move || {
            let target = target.clone();
            async move {
                (
                    StatusCode::FOUND,
                    [(header::LOCATION, format!("{target}/steal"))],
                )
            }
        }),
    );
    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api_url = format!("http://{}", api_listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(api_listener, api).await });

    let client = Client::builder()
        .token("sk-do-not-leak")
        .base_url(api_url)
        .retry(fast_retry())
        .build()
        .expect("builds");
    let error = client
        .job::<TextToVideo>("abc")
        .expect("id")
        .status()
        .await
        .expect_err("a redirect is not followed");
    assert!(
        matches!(error, Error::Refused(ApiError { status: 302, .. })),
        "{error:?}"
    );
    assert!(
        leaked.lock().expect("lock").is_empty(),
        "the token reached another host"
    );
}

#[tokio::test]
async fn many_concurrent_calls_share_the_clients_capped_connections() {
    use common::proxy::CountingProxy;
    let emulator = Emulator::start(fast()).await.expect("starts");
    let proxy = CountingProxy::start(emulator.api_addr()).await;
    let cap = 4;
    let client = Client::builder()
        .token(emulator.token())
        .base_url(proxy.base_url())
        .retry(fast_retry())
        .max_concurrent_requests(cap)
        .build()
        .expect("client builds");
    let id = client
        .submit(&fox())
        .await
        .expect("accepted")
        .request_id()
        .to_string();
    let job = client.job::<TextToVideo>(&id).expect("a valid id");
    // Each status answer comes late, so that without the cap all 64 calls
    // would be on the wire at once, each on its own connection.
    let calls = 64;
    emulator
        .fail_next(Endpoint::Status, calls, Fault::Latency { millis: 20 })
        .expect("a latency fault");
    let statuses = futures::future::join_all((0..calls).map(|_| job.status())).await;
    assert!(statuses.iter().all(Result::is_ok), "{statuses:?}");
    // At most `cap` requests were on the wire at once; a connection on its
    // way back to the pool may be passed over for a new one, so allow
    // twice that, far below one per call.
    let most = proxy.most_open();
    assert!(most <= 2 * cap as u64, "{most} connections open at once");
    assert!(
        proxy.accepted() <= 2 * cap as u64,
        "{} connections",
        proxy.accepted()
    );
    assert_eq!(emulator.counters().requests.status, calls);
}
