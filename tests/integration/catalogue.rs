//! The model catalogue, model info and job cost, against the emulator.
#![cfg(feature = "emulator")]

use crate::common;

use common::{Api, MODEL, fast};
use futures::StreamExt;
use runcomfy::emulator::Emulator;
use runcomfy::models::kling::kling_3_0::standard::text_to_video::{Input, TextToVideo};
use runcomfy::polling::FixedPolling;
use runcomfy::{Client, Model, ModelDescriptor, ModelQuery};
use serde_json::{Value, json};
use std::time::Duration;

fn client_for(emulator: &Emulator, include_cost: bool) -> Client {
    Client::builder()
        .token(emulator.token())
        .base_url(emulator.base_url())
        .poll_policy(FixedPolling(Duration::from_millis(5)))
        .include_cost(include_cost)
        .build()
        .expect("builds")
}

#[tokio::test]
async fn model_info_has_the_name_price_and_published_schema() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let info = client_for(&emulator, false)
        .model_info(MODEL)
        .await
        .expect("info");
    assert_eq!(info.model_id, MODEL);
    assert_eq!(
        info.display_name.as_deref(),
        Some("Kling 3.0 Standard Text to Video")
    );
    assert_eq!(info.base_price_usd, Some(0.084));
    assert_eq!(info.price_unit.as_deref(), Some("second"));
    assert!(info.categories.contains(&"video".to_string()));
    let published: Value =
        serde_json::from_str(TextToVideo::DESCRIPTOR.published_input_schema).expect("JSON");
    assert_eq!(info.input_schema, Some(published));
    // The crate knows the same from its checked-in metadata.
    let local = ModelDescriptor::find(MODEL).expect("built in").info();
    assert_eq!(local.base_price_usd, info.base_price_usd);
    assert_eq!(local.display_name, info.display_name);

    let error = client_for(&emulator, false)
        .model_info("acme/no-such-model")
        .await
        .expect_err("unknown");
    assert!(error.to_string().contains("400001"), "{error}");
    let error = client_for(&emulator, false)
        .model_info("../etc")
        .await
        .expect_err("not a model id");
    assert!(
        matches!(error, runcomfy::Error::InvalidModelId(_)),
        "{error}"
    );
}

#[tokio::test]
async fn the_catalogue_streams_page_by_page() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let client = client_for(&emulator, false);
    let all: Vec<_> = client
        .models(ModelQuery::new().page_size(1))
        .collect()
        .await;
    let ids: Vec<String> = all
        .into_iter()
        .map(|m| m.expect("a model").model_id)
        .collect();
    let built_in: Vec<&str> = ModelDescriptor::all().iter().map(|m| m.id).collect();
    assert_eq!(ids, built_in, "every built-in model, once, in order");
    assert_eq!(
        emulator.counters().requests.model_list as usize,
        built_in.len(),
        "one request per page of one"
    );

    let found: Vec<_> = client
        .models(ModelQuery::new().search("KLING").category("video"))
        .collect()
        .await;
    assert_eq!(found.len(), 1);
    let kling = found[0].as_ref().expect("a model");
    assert_eq!(kling.model_id, MODEL);
    assert_eq!(kling.base_price_usd, Some(0.084));
    assert!(kling.input_schema.is_none(), "listings carry no schema");

    let none: Vec<_> = client
        .models(ModelQuery::new().category("audio"))
        .collect()
        .await;
    assert!(none.is_empty());
}

#[tokio::test]
async fn a_listing_that_repeats_its_page_ends_with_an_error() {
    use common::raw_server::{RawServer, json as reply};
    let server = RawServer::start(|_| {
        reply(
            200,
            &[],
            r#"{"models": [{"model_id": "a/b"}, {"model_id": "c/d"}]}"#,
        )
    })
    .await;
    let client = Client::builder()
        .token("t")
        .base_url(server.base_url())
        .build()
        .expect("builds");
    let seen: Vec<_> = client
        .models(ModelQuery::new().page_size(2))
        .collect()
        .await;
    assert_eq!(seen.len(), 3, "two models, then the error");
    assert!(seen[2].is_err());
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn the_cost_comes_with_the_result_when_asked_for() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let input = Input {
        duration: Some(10),
        ..Input::new("a red fox")
    };
    let priced = client_for(&emulator, true)
        .run(&input)
        .await
        .expect("completes");
    // 10 s with sound (on by default) at $0.126 per second.
    let cost = priced.cost.expect("a cost");
    assert!((cost - 1.26).abs() < 1e-9, "{cost}");
    let estimate = TextToVideo::DESCRIPTOR
        .estimate_cost(&serde_json::to_value(&input).expect("JSON"))
        .expect("a listed price");
    assert!((estimate.usd - cost).abs() < 1e-9);

    let unpriced = client_for(&emulator, false)
        .run(&input)
        .await
        .expect("completes");
    assert_eq!(unpriced.cost, None, "not asked for");

    let api = Api::new(&emulator);
    let (_, raw) = api
        .json(
            reqwest::Method::GET,
            &format!(
                "/v1/requests/{}/result?include_cost=true",
                priced.request_id
            ),
        )
        .await;
    assert_eq!(raw["model_id"], MODEL);
    assert_eq!(raw["cost"], json!(cost));
}

#[tokio::test]
async fn the_library_lists_categories_and_filters_by_kind() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let client = client_for(&emulator, false);
    let categories = client.categories().await.expect("categories");
    assert_eq!(categories, ["video", "text-to-video"]);
    let listed = |query: ModelQuery| {
        let client = client.clone();
        async move {
            client
                .models(query)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
                .expect("listed")
        }
    };
    let models = listed(ModelQuery::new().kind("model").page_size(10_000)).await;
    assert!(models.iter().any(|m| m.model_id == MODEL));
    assert!(models.iter().all(|m| m.kind.as_deref() == Some("model")));
    assert!(listed(ModelQuery::new().kind("workflow")).await.is_empty());
    let described = listed(ModelQuery::new().search("SYNCHRONISED")).await;
    assert_eq!(described.len(), 1, "the search reads descriptions");
    assert!(described[0].description.is_some());
}
