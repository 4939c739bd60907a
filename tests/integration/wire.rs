//! What goes on the wire, checked against the seed page's own requests
//! rather than against our (possibly lenient) emulator.
//!
//! A raw recorder on 127.0.0.1 stores each request as it arrives. The
//! seed's four curl commands (submit, status, result, cancel; host swapped)
//! run against it with real curl, then the SDK makes the equivalent calls;
//! each pair must agree on method, request target (byte for byte), bearer
//! header, content type and JSON body, and the SDK may send no header
//! beyond the plain HTTP ones. The same again for a second, test-only model
//! id with a different number of segments.

use crate::common;

use codegen::dialect;
use common::raw_server::{RawRequest, RawServer, Reply, json};
use common::seed::{SEED_HOST, curl_arguments, seed_command};
use runcomfy::models::kling::kling_3_0::standard::text_to_video::{Input, TextToVideo};
use runcomfy::{Client, ModelDescriptor, RetryPolicy};
use serde_json::Value;

/// The request id the recorder hands out.
const ID: &str = "0d3b1b5e-1f7a-4c39-9f0c-2a6f4b8e9d21";
/// The seed's placeholder token, sent verbatim by curl and by the SDK.
const TOKEN: &str = "<token>";
/// The headers any HTTP client sends; anything else must come from the seed.
const PLAIN_HEADERS: &[&str] = &["host", "user-agent", "accept", "content-length"];

/// Answers like RunComfy would, so that every SDK call completes.
fn answer(request: &RawRequest) -> Reply {
    let target = request.target.split('?').next().unwrap_or_default();
    if target.ends_with("/status") {
        json(
            200,
            &[],
            &format!(r#"{{"request_id": "{ID}", "status": "in_queue", "queue_position": 0}}"#),
        )
    } else if target.ends_with("/result") {
        json(
            200,
            &[],
            &format!(
                r#"{{"request_id": "{ID}", "status": "completed", "output": {{"video": "https://cdn.runcomfy.net/x.mp4"}}}}"#
            ),
        )
    } else if target.ends_with("/cancel") {
        json(
            200,
            &[],
            &format!(r#"{{"request_id": "{ID}", "status": "cancelled", "outcome": "cancelled"}}"#),
        )
    } else if request.method == "POST" {
        json(200, &[], &format!(r#"{{"request_id": "{ID}"}}"#))
    } else {
        json(200, &[], r#"{"model_id": "acme/flux-edit/v1"}"#)
    }
}

fn client(server: &RawServer) -> Client {
    Client::builder()
        .token(TOKEN)
        .base_url(server.base_url())
        .retry(RetryPolicy::none())
        .build()
        .expect("client builds")
}

/// Runs a curl command (host swapped to the recorder) and returns what the
/// recorder received.
async fn curl(server: &RawServer, command: &str) -> RawRequest {
    let command = command
        .replace(SEED_HOST, &server.base_url())
        .replace("{request_id}", ID);
    let before = server.requests().len();
    let output = tokio::process::Command::new("curl")
        .args(curl_arguments(&command))
        .args(["--silent", "--show-error"])
        .output()
        .await
        .expect("curl runs");
    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let requests = server.requests();
    assert_eq!(requests.len(), before + 1, "curl sent one request");
    requests[before].clone()
}

/// The request the SDK's last call sent.
fn last(server: &RawServer) -> RawRequest {
    server.requests().pop().expect("the SDK sent a request")
}

/// The two requests agree wherever the seed's request says something.
fn assert_same_request(what: &str, seed: &RawRequest, sdk: &RawRequest) {
    assert_eq!(sdk.method, seed.method, "{what}: method");
    assert_eq!(
        sdk.target, seed.target,
        "{what}: request target, byte for byte"
    );
    assert_eq!(
        sdk.header("authorization"),
        seed.header("authorization"),
        "{what}: bearer header"
    );
    assert_eq!(
        seed.header("authorization"),
        Some("Bearer <token>"),
        "{what}: the seed's bearer header"
    );
    assert_eq!(
        sdk.header("content-type"),
        seed.header("content-type"),
        "{what}: content type"
    );
    if seed.body.is_empty() {
        assert!(sdk.body.is_empty(), "{what}: no body, as in the seed");
    } else {
        assert_eq!(
            seed.header("content-type"),
            Some("application/json"),
            "{what}: a body goes as JSON"
        );
        let parse = |body: &[u8]| serde_json::from_slice::<Value>(body).expect("a JSON body");
        assert_eq!(parse(&sdk.body), parse(&seed.body), "{what}: JSON body");
    }
    let seed_headers = seed.header_names();
    for name in sdk.header_names() {
        assert!(
            seed_headers.contains(&name) || PLAIN_HEADERS.contains(&name.as_str()),
            "{what}: the SDK sends a header the seed does not: {name}"
        );
    }
}

#[test]
fn the_seed_fixture_is_the_shared_seed_page() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/seed/000_1eb6ea4dd294a75f.txt");
    if let Ok(page) = std::fs::read_to_string(&shared) {
        let fixture = include_str!("../fixtures/seed-page.txt");
        assert!(
            fixture.ends_with(&page) || fixture == page,
            "tests/fixtures/seed-page.txt no longer matches ../shared/seed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_sends_what_the_seed_curl_commands_send() {
    let server = RawServer::start(answer).await;
    let client = client(&server);

    let seed = curl(&server, &seed_command("POST", "text-to-video")).await;
    assert_eq!(
        seed.target, "/v1/models/kling/kling-3.0/standard/text-to-video",
        "the seed's model id keeps its slashes"
    );
    let example: Input =
        serde_json::from_str(include_str!("../fixtures/kling-3.0-seed-example.json"))
            .expect("JSON");
    let job = client.submit(&example).await.expect("submits");
    assert_same_request("submit", &seed, &last(&server));
    assert_eq!(job.request_id(), ID);

    let seed = curl(&server, &seed_command("GET", "/status")).await;
    job.status().await.expect("status");
    assert_same_request("status", &seed, &last(&server));

    let seed = curl(&server, &seed_command("GET", "/result")).await;
    job.result().await.expect("result");
    assert_same_request("result", &seed, &last(&server));

    let seed = curl(&server, &seed_command("POST", "/cancel")).await;
    job.cancel().await.expect("cancel");
    assert_same_request("cancel", &seed, &last(&server));
}

/// `acme/flux-edit/v1`, a test-only model of three segments (Kling's id has
/// four), described at run time from its fixture schemas.
fn second_model() -> &'static ModelDescriptor {
    let folder = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/extra-models/acme/flux-edit/v1"
    );
    let read = |file: &str| -> &'static str {
        let text = std::fs::read_to_string(format!("{folder}/{file}")).expect("fixture");
        Box::leak(text.into_boxed_str())
    };
    let published_input = read("input.json");
    let normalised = dialect::normalise(
        &serde_json::from_str(published_input).expect("JSON"),
        dialect::SchemaRole::Input,
    )
    .expect("normalises");
    let input_schema: &'static str = Box::leak(normalised.to_string().into_boxed_str());
    Box::leak(Box::new(ModelDescriptor {
        id: "acme/flux-edit/v1",
        input_schema,
        output_schema: "{}",
        published_input_schema: published_input,
        published_output_schema: read("output.json"),
        published_info: read("model.json"),
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_id_of_another_length_keeps_its_slashes_too() {
    let server = RawServer::start(answer).await;
    let client = client(&server);
    let model = second_model();
    let body = serde_json::json!({
        "prompt": "make it blue",
        "image_uri": "https://example.com/a.png"
    });

    // The seed's submit command, with only the model id and body swapped.
    let submit = seed_command("POST", "text-to-video");
    let data_at = submit.find("--data '").expect("a --data body") + "--data '".len();
    let submit = format!(
        "{}{}'\n",
        &submit[..data_at].replace("kling/kling-3.0/standard/text-to-video", model.id),
        body
    );
    let seed = curl(&server, &submit).await;
    assert_eq!(seed.target, "/v1/models/acme/flux-edit/v1");
    client
        .submit_json(model, &body)
        .await
        .expect("valid for the model, submitted");
    assert_same_request("submit (acme/flux-edit/v1)", &seed, &last(&server));

    // Model info: the seed's GET shape on the model's path.
    let info = seed_command("GET", "/status").replace(
        "/v1/requests/{request_id}/status",
        "/v1/models/acme/flux-edit/v1",
    );
    let seed = curl(&server, &info).await;
    client.model_info(model.id).await.expect("model info");
    assert_same_request("model info (acme/flux-edit/v1)", &seed, &last(&server));
    let kling = seed_command("GET", "/status").replace(
        "/v1/requests/{request_id}/status",
        "/v1/models/kling/kling-3.0/standard/text-to-video",
    );
    let seed = curl(&server, &kling).await;
    client
        .model_info("kling/kling-3.0/standard/text-to-video")
        .await
        .expect("model info");
    assert_same_request("model info (kling)", &seed, &last(&server));
}

#[tokio::test]
async fn asking_for_the_cost_adds_only_the_cost_parameter() {
    let server = RawServer::start(answer).await;
    let client = Client::builder()
        .token(TOKEN)
        .base_url(server.base_url())
        .include_cost(true)
        .build()
        .expect("builds");
    client
        .job::<TextToVideo>(ID)
        .expect("a valid id")
        .result()
        .await
        .expect("result");
    assert_eq!(
        last(&server).target,
        format!("/v1/requests/{ID}/result?include_cost=true")
    );
}
