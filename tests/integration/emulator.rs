//! The emulator, driven over HTTP as any client would: every behaviour and
//! every fault.
#![cfg(feature = "emulator")]

use crate::common;

use common::{Api, LIMIT, MODEL, assert_playable_mp4, fast, one_busy_worker};
use futures::StreamExt;
use runcomfy::emulator::{Emulator, EmulatorConfig, Endpoint, Fault, RunTime};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn a_missing_or_wrong_token_gets_401_with_runcomfy_error_body() {
    let emulator = Emulator::start(fast().token("secret"))
        .await
        .expect("starts");
    let http = common::http();
    let url = format!("{}/v1/requests/x/status", emulator.base_url());
    for request in [
        http.get(&url),
        http.get(&url).bearer_auth("wrong"),
        http.get(&url).header("Authorization", "secret"),
    ] {
        let response = request.send().await.expect("answers");
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["error_code"], 400004);
        assert!(
            body["error_message"]
                .as_str()
                .expect("message")
                .contains("token")
        );
    }
    // Every endpoint of the queue protocol asks for the token.
    let base = emulator.base_url();
    for request in [
        http.post(format!("{base}/v1/models/{MODEL}"))
            .json(&json!({"prompt": "x"})),
        http.get(format!("{base}/v1/models/{MODEL}")),
        http.get(format!("{base}/v1/requests/x/result")),
        http.post(format!("{base}/v1/requests/x/cancel")),
    ] {
        let response = request.send().await.expect("answers");
        assert_eq!(response.status(), 401, "{}", response.url());
    }
    let counters = emulator.counters();
    assert_eq!(counters.unauthorized, 7);
    assert_eq!(counters.submits_accepted, 0);
}

#[tokio::test]
async fn submit_validates_against_the_schema_and_prose_rules() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let api = Api::new(&emulator);
    let response = api
        .submit_raw(&json!({
            "duration": 99,
            "aspect_ratio": "4:3",
            "multi_prompt": [{"prompt": "a", "duration": 4}, {"prompt": "b", "duration": 5}]
        }))
        .await
        .expect("answers");
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error_code"], 422001);
    let detail = body["detail"].as_array().expect("a detail array");
    let entries: Vec<(String, &str)> = detail
        .iter()
        .map(|d| (d["loc"].to_string(), d["type"].as_str().expect("type")))
        .collect();
    // The schema's violations (in the validator's order), then the prose rule.
    let mut schema_part = entries[..3].to_vec();
    schema_part.sort();
    assert_eq!(
        schema_part,
        [
            (json!(["body", "aspect_ratio"]).to_string(), "enum"),
            (json!(["body", "duration"]).to_string(), "maximum"),
            (json!(["body", "prompt"]).to_string(), "required"),
        ]
    );
    assert_eq!(
        entries[3],
        (
            json!(["body", "multi_prompt"]).to_string(),
            "multi_prompt_duration_mismatch"
        )
    );
    assert!(
        detail[3]["msg"]
            .as_str()
            .expect("msg")
            .contains("add up to 9 s but duration is 99 s")
    );

    let item = api
        .submit_raw(&json!({"prompt": "x", "duration": 5, "multi_prompt": [{"prompt": "a", "duration": 2}, {"prompt": "b", "duration": 3}]}))
        .await
        .expect("answers");
    let body: Value = item.json().await.expect("JSON");
    assert_eq!(
        body["detail"][0]["loc"],
        json!(["body", "multi_prompt", 0, "duration"])
    );

    let not_json = api
        .http
        .post(format!("{}/v1/models/{MODEL}", api.base))
        .bearer_auth(&api.token)
        .body("{not json")
        .send()
        .await
        .expect("answers");
    assert_eq!(not_json.status(), 422);
    assert_eq!(emulator.counters().submits_accepted, 0);
}

#[tokio::test]
async fn unknown_models_and_request_ids_get_runcomfy_errors() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let api = Api::new(&emulator);
    let response = api
        .http
        .post(format!("{}/v1/models/acme/no-such-model", api.base))
        .bearer_auth(&api.token)
        .json(&json!({"prompt": "x"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.expect("JSON")["error_code"],
        400001
    );
    for (method, path) in [
        (reqwest::Method::GET, "/v1/requests/nope/status"),
        (reqwest::Method::GET, "/v1/requests/nope/result"),
        (reqwest::Method::POST, "/v1/requests/nope/cancel"),
    ] {
        let (code, body) = api.json(method, path).await;
        assert_eq!(
            (code, body["error_code"].clone()),
            (404, json!(404001)),
            "{path}"
        );
    }
}

#[tokio::test]
async fn jobs_queue_run_and_complete_with_a_playable_video() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let api = Api::new(&emulator);
    for (ratio, size) in [
        ("16:9", (256, 144)),
        ("9:16", (144, 256)),
        ("1:1", (192, 192)),
    ] {
        let id = api
            .submit(json!({"prompt": "a fox", "aspect_ratio": ratio}))
            .await;
        let result = api.finished(&id).await;
        assert_eq!(result["status"], "completed");
        assert_eq!(result["request_id"], id.as_str());
        // As the live API was recorded: microseconds and +00:00, the
        // completion time named completed_at, no error key.
        assert!(
            result["created_at"]
                .as_str()
                .expect("created_at")
                .ends_with("+00:00")
        );
        assert!(
            result["completed_at"].as_str().expect("completed_at")
                >= result["created_at"].as_str().expect("created_at")
        );
        assert!(result.get("error").is_none(), "{result}");
        let url = result["output"]["video"].as_str().expect("a video URL");
        assert!(url.starts_with(&emulator.files_base_url()), "{url}");
        assert_ne!(
            emulator.files_base_url(),
            emulator.base_url(),
            "files come from another host"
        );
        let response = common::http().get(url).send().await.expect("download");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "video/mp4");
        let bytes = response.bytes().await.expect("body");
        assert_eq!(assert_playable_mp4(&bytes), size, "{ratio}");
    }
    let counters = emulator.counters();
    assert_eq!(counters.submits_accepted, 3);
    assert_eq!(counters.jobs.completed, 3);
    assert!(counters.bytes_served > 3 * 10_000);
    assert_eq!(counters.file_requests_with_authorization, 0);
}

#[tokio::test]
async fn queued_jobs_report_their_position_and_running_ones_an_instance() {
    let emulator = Emulator::start(one_busy_worker()).await.expect("starts");
    let api = Api::new(&emulator);
    let first = api.submit(json!({"prompt": "a"})).await;
    let running = api.reaches(&first, "in_progress").await;
    assert!(running["instance_id"].is_string());
    assert!(running.get("queue_position").is_none());
    let second = api.submit(json!({"prompt": "b"})).await;
    let third = api.submit(json!({"prompt": "c"})).await;
    let second_status = api.status(&second).await;
    assert_eq!(second_status["status"], "in_queue");
    assert_eq!(second_status["queue_position"], 0);
    assert_eq!(api.status(&third).await["queue_position"], 1);
    assert!(
        second_status["status_url"]
            .as_str()
            .expect("url")
            .ends_with(&format!("/v1/requests/{second}/status"))
    );

    // Result answers the current status while the job is not finished.
    let pending = api.result(&third).await;
    assert_eq!(pending["status"], "in_queue");
    assert!(pending.get("output").is_none());

    // Cancel: queued jobs are cancelled, the running one is not; the docs
    // answer 202 Accepted.
    let (code, cancelled) = api.cancel(&second).await;
    assert_eq!(code, 202);
    assert_eq!(
        (cancelled["outcome"].as_str(), cancelled["status"].as_str()),
        (Some("cancelled"), Some("cancelled"))
    );
    assert_eq!(
        api.status(&third).await["queue_position"],
        0,
        "the queue moved up"
    );
    let (_, again) = api.cancel(&second).await;
    assert_eq!(again["outcome"], "cancelled", "cancel is idempotent");
    let (_, refused) = api.cancel(&first).await;
    assert_eq!(refused["outcome"], "not_cancellable");
    assert_eq!(refused["status"], "in_progress");
    let cancelled_result = api.result(&second).await;
    assert_eq!(cancelled_result["status"], "cancelled");
    assert_eq!(cancelled_result["output"], Value::Null);

    let counters = emulator.counters();
    assert_eq!(
        (
            counters.jobs.in_progress,
            counters.jobs.in_queue,
            counters.jobs.cancelled
        ),
        (1, 1, 1)
    );
    assert_eq!(counters.requests.cancel, 3);
    assert_eq!(counters.requests.submit, 3);
}

#[tokio::test]
async fn run_time_follows_the_requested_duration() {
    // 10 emulated minutes per video second at 10,000x: a 3 s video runs
    // 180 ms of real time, a 15 s video 900 ms. Sleeps never end early, so
    // these lower bounds hold however slow the machine is.
    let config = EmulatorConfig::default()
        .queue_delay(Duration::ZERO)
        .run_time(RunTime::PerVideoSecond(Duration::from_secs(600)))
        .time_scale(10_000.0);
    let emulator = Emulator::start(config).await.expect("starts");
    let api = Api::new(&emulator);
    let short = api.submit(json!({"prompt": "a", "duration": 3})).await;
    let long = api.submit(json!({"prompt": "a", "duration": 15})).await;
    let elapsed = |result: Value| {
        let at = |key: &str| {
            let written = result[key].as_str().expect("a timestamp");
            let utc = written.replace("+00:00", "Z");
            humantime::parse_rfc3339(&utc).expect("RFC 3339")
        };
        at("completed_at")
            .duration_since(at("created_at"))
            .expect("finished after created")
    };
    assert!(elapsed(api.finished(&short).await) >= Duration::from_millis(180));
    assert!(elapsed(api.finished(&long).await) >= Duration::from_millis(900));
}

#[tokio::test]
async fn run_time_can_be_set_per_model() {
    let config = fast().model_run_time(MODEL, RunTime::Fixed(Duration::from_secs(100 * 3600)));
    let emulator = Emulator::start(config).await.expect("starts");
    let api = Api::new(&emulator);
    let id = api.submit(json!({"prompt": "a", "duration": 3})).await;
    // A hundred hours of emulated work at 10,000x: 36 s of real time; the job
    // is still running when it is first seen running.
    api.reaches(&id, "in_progress").await;
    assert_eq!(api.status(&id).await["status"], "in_progress");
}

#[tokio::test]
async fn a_two_minute_job_runs_in_milliseconds_at_a_high_time_scale() {
    let config = EmulatorConfig::default()
        .queue_delay(Duration::from_secs(30))
        .run_time(RunTime::Fixed(Duration::from_secs(120)))
        .time_scale(10_000.0);
    let emulator = Emulator::start(config).await.expect("starts");
    let api = Api::new(&emulator);
    let id = api.submit(json!({"prompt": "a"})).await;
    let started = std::time::Instant::now();
    assert_eq!(api.finished(&id).await["status"], "completed");
    // 150 emulated seconds at 10,000x is 15 ms; allow the machine plenty.
    assert!(started.elapsed() < LIMIT);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_request_ids() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let emulator = Emulator::start(fast().seed(42)).await.expect("starts");
        let api = Api::new(&emulator);
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(api.submit(json!({"prompt": "a"})).await);
        }
        runs.push(ids);
    }
    assert_eq!(runs[0], runs[1]);
    let other = Emulator::start(fast().seed(43)).await.expect("starts");
    assert_ne!(
        Api::new(&other).submit(json!({"prompt": "a"})).await,
        runs[0][0]
    );
}

#[tokio::test]
async fn a_model_id_with_encoded_slashes_is_not_the_documented_form() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let api = Api::new(&emulator);
    let encoded = MODEL.replace('/', "%2F");
    for request in [
        api.http
            .post(format!("{}/v1/models/{encoded}", api.base))
            .json(&json!({"prompt": "x"})),
        api.http.get(format!("{}/v1/models/{encoded}", api.base)),
    ] {
        let response = request
            .bearer_auth(&api.token)
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["error_code"], 400001);
        let message = body["error_message"].as_str().expect("a message");
        assert!(
            message.contains("slashes literal") && message.contains("not percent-encoded"),
            "{message}"
        );
    }
    assert_eq!(emulator.counters().submits_accepted, 0);
}

#[tokio::test]
async fn requests_outside_the_documented_contract_are_refused() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let api = Api::new(&emulator);
    let id = api.submit(json!({"prompt": "a"})).await;
    let base = &api.base;
    let cases = [
        // A submit body not declared as JSON.
        (
            api.http
                .post(format!("{base}/v1/models/{MODEL}"))
                .header("content-type", "text/plain")
                .body(r#"{"prompt": "x"}"#),
            json!(["header", "content-type"]),
        ),
        // A query parameter no endpoint takes.
        (
            api.http
                .get(format!("{base}/v1/requests/{id}/status?verbose=1")),
            json!(["query", "verbose"]),
        ),
        // A malformed value for one it does take.
        (
            api.http
                .get(format!("{base}/v1/requests/{id}/result?include_cost=yes")),
            json!(["query", "include_cost"]),
        ),
        // A body on a call that takes none.
        (
            api.http
                .post(format!("{base}/v1/requests/{id}/cancel"))
                .json(&json!({"force": true})),
            json!(["body"]),
        ),
        // A field the model's schema does not name.
        (
            api.http
                .post(format!("{base}/v1/models/{MODEL}"))
                .json(&json!({"prompt": "x", "aspectRatio": "9:16"})),
            json!(["body", "aspectRatio"]),
        ),
    ];
    for (request, loc) in cases {
        let response = request
            .bearer_auth(&api.token)
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status(), 422, "{loc}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["error_code"], 422001, "{loc}");
        assert_eq!(body["detail"][0]["loc"], loc, "{body}");
    }
    assert_eq!(emulator.counters().submits_accepted, 1, "only the first");
    assert_eq!(api.status(&id).await["request_id"], id.as_str());
}

#[tokio::test]
async fn huge_multi_prompt_durations_get_a_422_not_a_crash() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let api = Api::new(&emulator);
    let response = api
        .submit_raw(&json!({"prompt": "x", "duration": 10, "multi_prompt": [
            {"prompt": "a", "duration": i64::MAX},
            {"prompt": "b", "duration": i64::MAX},
            {"prompt": "c", "duration": 7}
        ]}))
        .await
        .expect("answers");
    assert_eq!(response.status(), 422);
    // The emulator is still up.
    api.submit(json!({"prompt": "a"})).await;
}

#[tokio::test]
async fn model_info_returns_the_published_schema() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let api = Api::new(&emulator);
    let (code, body) = api
        .json(reqwest::Method::GET, &format!("/v1/models/{MODEL}"))
        .await;
    assert_eq!(code, 200);
    let published: Value = serde_json::from_str(include_str!(
        "../../schema/models/kling/kling-3.0/standard/text-to-video/input.json"
    ))
    .expect("JSON");
    assert_eq!(body["input_schema"], published);
    assert_eq!(
        body["input_schema"]["properties"]["cfg_scale"]["type"], "float",
        "un-normalised"
    );
    assert_eq!(body["output_schema"]["output"]["type"], "object");
    assert_eq!(emulator.counters().requests.model, 1);
}

#[tokio::test]
async fn finished_jobs_expire_beyond_the_retention_limit() {
    let emulator = Emulator::start(fast().max_retained_jobs(2))
        .await
        .expect("starts");
    let api = Api::new(&emulator);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = api.submit(json!({"prompt": "a"})).await;
        api.finished(&id).await;
        ids.push(id);
    }
    let (code, body) = api
        .json(
            reqwest::Method::GET,
            &format!("/v1/requests/{}/result", ids[0]),
        )
        .await;
    assert_eq!((code, body["error_code"].clone()), (404, json!(404001)));
    assert_eq!(api.result(&ids[2]).await["status"], "completed");
}

#[tokio::test]
async fn files_honour_range_requests() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let (url, whole) = Api::new(&emulator).finished_video().await;
    let http = common::http();
    let part = http
        .get(&url)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .expect("get");
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 100-199/{}", whole.len())
    );
    assert_eq!(part.bytes().await.expect("body"), whole[100..200]);
    let beyond = http
        .get(&url)
        .header("Range", format!("bytes={}-", whole.len()))
        .send()
        .await
        .expect("get");
    assert_eq!(beyond.status(), 416);
    let unknown = http
        .get(format!("{}/files/nope.mp4", emulator.files_base_url()))
        .send()
        .await
        .expect("get");
    assert_eq!(unknown.status(), 404);
}

// ---- faults ----

#[tokio::test]
async fn latency_delays_the_answer() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let api = Api::new(&emulator);
    let id = api.submit(json!({"prompt": "a"})).await;
    emulator
        .fail_next(Endpoint::Status, 1, Fault::Latency { millis: 200 })
        .expect("applies");
    let started = std::time::Instant::now();
    api.status(&id).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn rate_limiting_answers_429_with_retry_after_and_does_not_accept() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let api = Api::new(&emulator);
    emulator
        .fail_next(
            Endpoint::Submit,
            1,
            Fault::RateLimited {
                retry_after_secs: 7,
            },
        )
        .expect("applies");
    let response = api
        .submit_raw(&json!({"prompt": "a"}))
        .await
        .expect("answers");
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(emulator.counters().submits_accepted, 0);
    api.submit(json!({"prompt": "a"})).await;
    assert_eq!(emulator.counters().submits_accepted, 1);
}

#[tokio::test]
async fn server_errors_answer_500_json_and_gateway_pages() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let api = Api::new(&emulator);
    let id = api.submit(json!({"prompt": "a"})).await;
    for status in [500u16, 502, 503, 504] {
        emulator
            .fail_next(Endpoint::Status, 1, Fault::HttpError { status })
            .expect("applies");
        let response = api
            .call(reqwest::Method::GET, &format!("/v1/requests/{id}/status"))
            .await
            .expect("answers");
        assert_eq!(response.status().as_u16(), status);
        let text = response.text().await.expect("body");
        if status == 500 {
            assert_eq!(
                serde_json::from_str::<Value>(&text).expect("JSON")["error_code"],
                500001
            );
        } else {
            assert!(text.starts_with("<html>"), "{text}");
        }
    }
    api.status(&id).await;
}

#[tokio::test]
async fn malformed_json_and_errors_in_200_bodies() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let api = Api::new(&emulator);
    let id = api.submit(json!({"prompt": "a"})).await;
    emulator
        .fail_next(Endpoint::Result, 1, Fault::MalformedJson)
        .expect("applies");
    let response = api
        .call(reqwest::Method::GET, &format!("/v1/requests/{id}/result"))
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    assert!(serde_json::from_str::<Value>(&response.text().await.expect("body")).is_err());

    emulator
        .fail_next(
            Endpoint::Status,
            1,
            Fault::ErrorIn200 {
                error_code: 500001,
                message: "upstream busy".into(),
            },
        )
        .expect("applies");
    let (code, body) = api
        .json(reqwest::Method::GET, &format!("/v1/requests/{id}/status"))
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        body,
        json!({"error_code": 500001, "error_message": "upstream busy"})
    );
}

#[tokio::test]
async fn a_truncated_body_fails_to_read() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let api = Api::new(&emulator);
    let id = api.submit(json!({"prompt": "a"})).await;
    emulator
        .fail_next(Endpoint::Status, 1, Fault::TruncatedBody)
        .expect("applies");
    let response = api
        .call(reqwest::Method::GET, &format!("/v1/requests/{id}/status"))
        .await
        .expect("headers arrive");
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.is_err(), "the body is cut off");
    api.status(&id).await;
}

#[tokio::test]
async fn a_connection_reset_on_submit_loses_the_answer_but_not_the_job() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let api = Api::new(&emulator);
    emulator
        .fail_next(Endpoint::Submit, 1, Fault::ConnectionReset)
        .expect("applies");
    let error = api
        .submit_raw(&json!({"prompt": "a"}))
        .await
        .expect_err("no answer");
    assert!(!error.is_status());
    let counters = emulator.counters();
    assert_eq!(
        (counters.requests.submit, counters.submits_accepted),
        (1, 1),
        "accepted, paid, answer lost"
    );

    let id = api.submit(json!({"prompt": "a"})).await;
    emulator
        .fail_next(Endpoint::Status, 1, Fault::ConnectionReset)
        .expect("applies");
    assert!(
        api.call(reqwest::Method::GET, &format!("/v1/requests/{id}/status"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_job_can_be_made_to_fail_with_an_error() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let api = Api::new(&emulator);
    emulator
        .fail_next(
            Endpoint::Submit,
            1,
            Fault::JobFails {
                message: "content policy violation".into(),
            },
        )
        .expect("applies");
    let id = api.submit(json!({"prompt": "a"})).await;
    let result = api.finished(&id).await;
    assert_eq!(result["status"], "failed");
    assert_eq!(
        result["error"],
        json!({"code": "generation_failed", "message": "content policy violation"}),
        "RunComfy's clients see {{code, message}}"
    );
    assert_eq!(result["output"], Value::Null);
    assert_eq!(api.status(&id).await["status"], "failed");
    assert_eq!(emulator.counters().jobs.failed, 1);
}

#[tokio::test]
async fn alternate_spellings_pending_succeeded_and_canceled() {
    let emulator = Emulator::start(one_busy_worker()).await.expect("starts");
    let api = Api::new(&emulator);
    api.submit(json!({"prompt": "busy"})).await;
    emulator
        .fail_next(Endpoint::Submit, 1, Fault::AlternateSpellings)
        .expect("applies");
    let queued = api.submit(json!({"prompt": "a"})).await;
    assert_eq!(api.status(&queued).await["status"], "pending");
    let (_, cancel) = api.cancel(&queued).await;
    assert_eq!(cancel["status"], "canceled");
    assert_eq!(api.status(&queued).await["status"], "canceled");

    let fast = Emulator::start(fast()).await.expect("starts");
    let api = Api::new(&fast);
    fast.fail_next(Endpoint::Submit, 1, Fault::AlternateSpellings)
        .expect("applies");
    let id = api.submit(json!({"prompt": "a"})).await;
    assert_eq!(api.finished(&id).await["status"], "succeeded");
}

#[tokio::test]
async fn an_unknown_status_value_while_running() {
    let emulator = Emulator::start(one_busy_worker()).await.expect("starts");
    let api = Api::new(&emulator);
    emulator
        .fail_next(
            Endpoint::Submit,
            1,
            Fault::UnknownStatus {
                status: "warming_up".into(),
            },
        )
        .expect("applies");
    let id = api.submit(json!({"prompt": "a"})).await;
    api.reaches(&id, "warming_up").await;
}

#[tokio::test]
async fn downloads_can_stop_half_way_or_ignore_range() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let (url, whole) = Api::new(&emulator).finished_video().await;

    emulator
        .fail_next(Endpoint::File, 1, Fault::StopHalfway)
        .expect("applies");
    let response = common::http()
        .get(&url)
        .send()
        .await
        .expect("headers arrive");
    assert_eq!(response.content_length(), Some(whole.len() as u64));
    let mut stream = response.bytes_stream();
    let mut received = 0;
    let mut failed = false;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => received += bytes.len(),
            Err(_) => failed = true,
        }
    }
    assert!(failed, "the download breaks off");
    assert_eq!(received, whole.len() / 2);

    emulator
        .fail_next(Endpoint::File, 1, Fault::IgnoreRange)
        .expect("applies");
    let response = common::http()
        .get(&url)
        .header("Range", "bytes=100-")
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 200, "Range ignored");
    assert_eq!(response.bytes().await.expect("body"), whole);
}

#[tokio::test]
async fn rate_based_faults_are_seeded_and_cleared() {
    let count_failures = |seed| async move {
        let emulator = Emulator::start(fast().seed(seed)).await.expect("starts");
        let api = Api::new(&emulator);
        let id = api.submit(json!({"prompt": "a"})).await;
        emulator
            .fail_at_rate(Endpoint::Status, 0.5, Fault::HttpError { status: 503 })
            .expect("applies");
        let mut pattern = Vec::new();
        for _ in 0..40 {
            let response = api
                .call(reqwest::Method::GET, &format!("/v1/requests/{id}/status"))
                .await
                .expect("answers");
            pattern.push(response.status() == 503);
        }
        emulator.clear_faults();
        api.status(&id).await;
        pattern
    };
    let first = count_failures(9).await;
    assert_eq!(first, count_failures(9).await, "same seed, same faults");
    let failures = first.iter().filter(|f| **f).count();
    assert!((8..=32).contains(&failures), "{failures} of 40");
}

#[tokio::test]
async fn faults_are_scriptable_over_http() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let api = Api::new(&emulator);
    let http = common::http();
    let script =
        json!({"endpoint": "status", "fault": {"type": "http_error", "status": 503}, "count": 1});
    let added = http
        .post(format!("{}/_emulator/faults", api.base))
        .json(&script)
        .send()
        .await
        .expect("answers");
    assert_eq!(added.status(), 204);
    let id = api.submit(json!({"prompt": "a"})).await;
    let faulted = api
        .call(reqwest::Method::GET, &format!("/v1/requests/{id}/status"))
        .await
        .expect("answers");
    assert_eq!(faulted.status(), 503);
    api.status(&id).await;

    let misplaced = json!({"endpoint": "status", "fault": {"type": "ignore_range"}, "count": 1});
    let refused = http
        .post(format!("{}/_emulator/faults", api.base))
        .json(&misplaced)
        .send()
        .await
        .expect("answers");
    assert_eq!(refused.status(), 400);

    let counters: Value = http
        .get(format!("{}/_emulator/counters", api.base))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(counters["requests"]["status"], 2);
    assert_eq!(counters["submits_accepted"], 1);
    let cleared = http
        .delete(format!("{}/_emulator/faults", api.base))
        .send()
        .await
        .expect("answers");
    assert_eq!(cleared.status(), 204);
}

#[tokio::test]
async fn a_rate_limit_answers_429_with_retry_after_beyond_its_burst() {
    let emulator = Emulator::start(fast().rate_limit(0.5, 3))
        .await
        .expect("starts");
    let api = Api::new(&emulator);
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..5 {
        let response = api
            .call(
                reqwest::Method::GET,
                "/v1/requests/00000000-0000-4000-8000-000000000000/status",
            )
            .await
            .expect("answered");
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
        }
    }
    // A burst of 3, then one token per 2 s: the 4th and 5th calls wait.
    assert!(statuses[..3].iter().all(|s| *s != 429), "{statuses:?}");
    assert_eq!(&statuses[3..], &[429, 429]);
    assert_eq!(retry_after.as_deref(), Some("2"));
    assert_eq!(emulator.counters().rate_limited, 2);
}

#[tokio::test]
async fn results_can_advertise_files_under_a_runcomfy_host_mapped_to_loopback() {
    // A free port for the file server, known before it starts.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let host = "files.emulator.runcomfy.net";
    let config = fast()
        .files_port(port)
        .advertise_files_base(format!("http://{host}:{port}/"));
    let emulator = Emulator::start(config).await.expect("starts");
    let api = Api::new(&emulator);
    let id = api.submit(json!({"prompt": "a fox"})).await;
    let url = api.finished(&id).await["output"]["video"]
        .as_str()
        .expect("a video URL")
        .to_string();
    assert_eq!(url, format!("http://{host}:{port}/files/{id}.mp4"));
    // What an /etc/hosts line does for a client that trusts only
    // RunComfy's hosts: the name resolves to loopback.
    let http = runcomfy::http_client_builder()
        .expect("TLS")
        .resolve(host, emulator.files_addr())
        .build()
        .expect("a client");
    let bytes = http
        .get(&url)
        .send()
        .await
        .expect("the file server answers")
        .bytes()
        .await
        .expect("body");
    assert_playable_mp4(&bytes);
}

#[tokio::test]
async fn the_catalogue_takes_kind_limits_and_lists_categories() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let api = Api::new(&emulator);
    let (code, page) = api
        .json(reqwest::Method::GET, "/v1/models?limit=500&kind=model")
        .await;
    assert_eq!(code, 200, "{page}");
    assert!(
        page["models"]
            .as_array()
            .expect("models")
            .iter()
            .all(|m| m["kind"] == "model"),
        "{page}"
    );
    // A kind no entry has is a filter like any other: nothing matches.
    let (code, page) = api
        .json(reqwest::Method::GET, "/v1/models?kind=plugin")
        .await;
    assert_eq!((code, page["total"].as_u64()), (200, Some(0)), "{page}");
    for bad in ["limit=0", "limit=501", "limit=-1", "limit=x"] {
        let (code, body) = api
            .json(reqwest::Method::GET, &format!("/v1/models?{bad}"))
            .await;
        assert_eq!(code, 422, "{bad}: {body}");
        assert_eq!(body["error_code"], 422001);
    }
    let (code, body) = api
        .json(reqwest::Method::GET, "/v1/models/categories")
        .await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body["categories"]
            .as_array()
            .expect("a list")
            .contains(&json!("video"))
    );
    // Only GET is declared there (a POST is 405, not a submit).
    let response = api
        .http
        .post(format!("{}/v1/models/categories", api.base))
        .bearer_auth(&api.token)
        .json(&json!({"prompt": "x"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 405);
    assert_eq!(emulator.counters().requests.categories, 1);
}
