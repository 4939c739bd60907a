//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod corpus;
pub mod proxy;
pub mod raw_server;
pub mod seed;
#[cfg(feature = "cli")]
pub mod standalone;

use runcomfy::emulator::{Emulator, EmulatorConfig, RunTime};
use serde_json::{Value, json};
use std::time::Duration;

/// The model every test submits to.
pub const MODEL: &str = "kling/kling-3.0/standard/text-to-video";
/// How long a test waits for the emulator to reach a state.
pub const LIMIT: Duration = Duration::from_secs(10);

/// The download failure inside `error`; any other error fails the test,
/// shown whole.
pub fn download_failure(error: &runcomfy::Error) -> &runcomfy::DownloadError {
    match error {
        runcomfy::Error::Download { source, .. } => source,
        other => panic!("not a download error: {other:?}"),
    }
}

/// The body of a URL, in full.
pub async fn fetch(url: &str) -> Vec<u8> {
    http()
        .get(url)
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body")
        .to_vec()
}

/// Checks that `bytes` is an MP4 a player can open: an H.264 video track
/// with frames and a duration. Returns the frame size.
pub fn assert_playable_mp4(bytes: &[u8]) -> (u16, u16) {
    let reader = mp4::Mp4Reader::read_header(std::io::Cursor::new(bytes), bytes.len() as u64)
        .expect("an MP4 header");
    assert!(
        reader.duration() > Duration::ZERO,
        "the movie has a duration"
    );
    let (id, track) = reader
        .tracks()
        .iter()
        .find(|(_, t)| matches!(t.track_type(), Ok(mp4::TrackType::Video)))
        .map(|(id, t)| (*id, t))
        .expect("a video track");
    assert!(
        matches!(track.media_type(), Ok(mp4::MediaType::H264)),
        "H.264 video"
    );
    assert!(track.sample_count() > 0, "the video track has frames");
    let size = (track.width(), track.height());
    let mut reader = reader;
    let first = reader
        .read_sample(id, 1)
        .expect("readable")
        .expect("a first frame");
    assert!(!first.bytes.is_empty(), "the first frame has data");
    size
}

/// Polls `check` (every 5 ms, at most `limit`) until it returns `Some`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// This process's resident memory in bytes (Linux), for bounded-memory
/// checks.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A raw HTTP client for one emulator.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub fn new(emulator: &Emulator) -> Self {
        Self {
            http: http(),
            base: emulator.base_url(),
            token: emulator.token().to_string(),
        }
    }

    pub async fn submit_raw(&self, body: &Value) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(format!("{}/v1/models/{MODEL}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
    }

    pub async fn submit(&self, body: Value) -> String {
        let response = self.submit_raw(&body).await.expect("submit answers");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("JSON");
        body["request_id"]
            .as_str()
            .expect("a request id")
            .to_string()
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::Result<reqwest::Response> {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
    }

    pub async fn json(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        let response = self.call(method, path).await.expect("answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON"))
    }

    pub async fn status(&self, id: &str) -> Value {
        let (code, body) = self
            .json(reqwest::Method::GET, &format!("/v1/requests/{id}/status"))
            .await;
        assert_eq!(code, 200, "{body}");
        body
    }

    pub async fn result(&self, id: &str) -> Value {
        let (code, body) = self
            .json(reqwest::Method::GET, &format!("/v1/requests/{id}/result"))
            .await;
        assert_eq!(code, 200, "{body}");
        body
    }

    pub async fn cancel(&self, id: &str) -> (u16, Value) {
        self.json(reqwest::Method::POST, &format!("/v1/requests/{id}/cancel"))
            .await
    }

    /// Polls result until the job is finished (at most [`LIMIT`]).
    pub async fn finished(&self, id: &str) -> Value {
        self.finished_within(id, LIMIT).await
    }

    /// Polls result until the job is finished, at most `limit`.
    pub async fn finished_within(&self, id: &str, limit: Duration) -> Value {
        eventually(limit, || async {
            let body = self.result(id).await;
            let status = body["status"].as_str().unwrap_or_default().to_string();
            let in_flight = ["in_queue", "in_progress", "pending", "processing"];
            (!in_flight.contains(&status.as_str())).then_some(body)
        })
        .await
    }

    /// Submits a job, waits for it and fetches its video: (URL, bytes).
    pub async fn finished_video(&self) -> (String, Vec<u8>) {
        let id = self.submit(json!({"prompt": "a"})).await;
        let url = self.finished(&id).await["output"]["video"]
            .as_str()
            .expect("a video URL")
            .to_string();
        (url.clone(), fetch(&url).await)
    }

    /// Polls status until it reports `wanted`.
    pub async fn reaches(&self, id: &str, wanted: &str) -> Value {
        eventually(LIMIT, || async {
            let body = self.status(id).await;
            (body["status"] == wanted).then_some(body)
        })
        .await
    }
}

/// 10,000 times real time: a two-minute job takes 12 ms.
pub fn fast() -> EmulatorConfig {
    EmulatorConfig::default().time_scale(10_000.0)
}

/// One worker busy for an hour: the first job runs, later ones queue.
pub fn one_busy_worker() -> EmulatorConfig {
    EmulatorConfig::default()
        .workers(1)
        .queue_delay(Duration::ZERO)
        .run_time(RunTime::Fixed(Duration::from_secs(3600)))
}

/// An HTTP client for tests, with the crate's TLS setup (reqwest is built
/// without a default crypto provider).
pub fn http() -> reqwest::Client {
    runcomfy::http_client_builder()
        .expect("TLS sets up")
        .build()
        .expect("an HTTP client")
}
