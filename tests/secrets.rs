//! The API token never appears in `Debug` output, errors, traces at any
//! level for any target (this crate's, hyper's, reqwest's, `log` records
//! included), or panic messages, and never reaches the file host. Alone in
//! its test binary: tracing caches per call site whether anyone listens, so
//! a subscriber installed by one of many concurrent tests can miss events.
#![cfg(feature = "emulator")]

use runcomfy::emulator::{Emulator, EmulatorConfig, Endpoint, Fault};
use runcomfy::models::kling::kling_3_0::standard::text_to_video::{Input, TextToVideo};
use runcomfy::polling::FixedPolling;
use runcomfy::{Client, RetryPolicy};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn the_token_never_appears_in_debug_or_traces() {
    use tracing_subscriber::layer::SubscriberExt;
    const TOKEN: &str = "sk-trace-me-not-0123456789";
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL),
    );
    // Every level, every target, and `log` records too.
    tracing_subscriber::util::SubscriberInitExt::try_init(subscriber)
        .expect("the only subscriber in this binary");
    let panics = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = panics.clone();
    std::panic::set_hook(Box::new(move |info| {
        seen.lock().expect("lock").push(info.to_string());
    }));

    let emulator = Emulator::start(EmulatorConfig::default().time_scale(10_000.0).token(TOKEN))
        .await
        .expect("starts");
    let client = Client::builder()
        .token(TOKEN)
        .base_url(emulator.base_url())
        .retry(
            RetryPolicy::default()
                .initial_delay(Duration::from_millis(1))
                .jitter(false),
        )
        .poll_policy(FixedPolling(Duration::from_millis(5)))
        .build()
        .expect("builds");
    let result = client
        .run(&Input::new("a red fox"))
        .await
        .expect("completes");
    let folder = tempfile::tempdir().expect("temp dir");
    client
        .download_result(&result, folder.path())
        .await
        .expect("downloads");
    emulator
        .fail_next(Endpoint::Status, 5, Fault::HttpError { status: 503 })
        .expect("applies");
    let error = client
        .job::<TextToVideo>(&result.request_id)
        .expect("id")
        .status()
        .await
        .expect_err("503s");

    // A server that refuses the token: the error says so, not what it was.
    let echo = Emulator::start(EmulatorConfig::default().token("the-right-one"))
        .await
        .expect("starts");
    let refused = Client::builder()
        .token(TOKEN)
        .base_url(echo.base_url())
        .build()
        .expect("builds")
        .run(&Input::new("x"))
        .await
        .expect_err("refused");

    let traces = String::from_utf8(capture.0.lock().expect("lock").clone()).expect("UTF-8");
    assert!(
        traces.contains("TRACE") || traces.contains("DEBUG"),
        "all levels are captured"
    );
    assert!(
        traces.contains(&result.request_id),
        "spans carry the request id"
    );
    assert!(traces.contains("runcomfy.http"), "{traces}");
    let panics = panics.lock().expect("lock").join("\n");
    for text in [
        traces,
        format!("{client:?}"),
        format!("{error:?}"),
        error.to_string(),
        format!("{refused:?}"),
        refused.to_string(),
        panics,
    ] {
        assert!(!text.contains(TOKEN), "the token leaked into: {text}");
    }
    assert_eq!(emulator.counters().file_requests_with_authorization, 0);
}
