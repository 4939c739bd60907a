//! The cost of one status call through the SDK against the same call made
//! with bare reqwest, on loopback against the emulator.

use crate::report::Report;
use runcomfy::emulator::{Emulator, EmulatorConfig};
use runcomfy::models::kling::kling_3_0::standard::text_to_video::{Input, TextToVideo};
use runcomfy::{Client, FixedPolling};
use std::time::{Duration, Instant};

/// The status answer, as a hand-written client would read it.
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct BareStatus {
    request_id: String,
    status: String,
    queue_position: Option<u64>,
}

pub async fn run(report: &mut Report, smoke: bool) {
    let (calls, rounds) = if smoke { (50, 3) } else { (2000, 9) };
    let emulator = Emulator::start(EmulatorConfig::default().time_scale(1000.0))
        .await
        .expect("the emulator starts");
    let client = Client::builder()
        .token(emulator.token())
        .base_url(emulator.base_url())
        .poll_policy(FixedPolling(Duration::from_millis(5)))
        .build()
        .expect("client");
    let job = client.submit(&Input::new("a fox")).await.expect("accepted");
    let id = job.request_id().to_string();
    job.wait().await.expect("completes");
    let job = client.job::<TextToVideo>(&id).expect("an id");
    let bare = runcomfy::http_client_builder()
        .expect("TLS")
        .build()
        .expect("client");
    let url = format!("{}/v1/requests/{id}/status", emulator.base_url());
    let token = emulator.token().to_string();

    let sdk_round = || async {
        let started = Instant::now();
        for _ in 0..calls {
            job.status().await.expect("a status");
        }
        started.elapsed().as_secs_f64() / f64::from(calls)
    };
    let bare_round = || async {
        let started = Instant::now();
        for _ in 0..calls {
            let answer: BareStatus = bare
                .get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .expect("sent")
                .error_for_status()
                .expect("200")
                .json()
                .await
                .expect("JSON");
            std::hint::black_box(answer);
        }
        started.elapsed().as_secs_f64() / f64::from(calls)
    };
    // For a profiler: one client only, many calls.
    match std::env::var("FIGURES_PROFILE").as_deref() {
        Ok("sdk") => {
            for _ in 0..20 {
                sdk_round().await;
            }
            return;
        }
        Ok("bare") => {
            for _ in 0..20 {
                bare_round().await;
            }
            return;
        }
        _ => {}
    }
    // Warm both (connections, allocator), then interleave the rounds.
    sdk_round().await;
    bare_round().await;
    let (mut sdk, mut plain) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        if round % 2 == 0 {
            sdk.push(sdk_round().await);
            plain.push(bare_round().await);
        } else {
            plain.push(bare_round().await);
            sdk.push(sdk_round().await);
        }
    }
    let ratios: Vec<f64> = sdk.iter().zip(&plain).map(|(s, p)| s / p).collect();
    let (sdk_us, bare_us) = (median(&sdk) * 1e6, median(&plain) * 1e6);
    let ratio = median(&ratios);
    let (low, high) = (min(&ratios), max(&ratios));
    report.section(
        "Overhead per status call",
        &format!(
            "{calls} sequential `Job::status` calls against the emulator on loopback, against \
             the same GET made with bare reqwest 0.13 (default builder, bearer header, \
             `json()` into a three-field struct); {rounds} interleaved rounds, medians."
        ),
    );
    report.table(
        &["client", "median per call", "ratio (range over rounds)"],
        &[
            vec![
                "bare reqwest".into(),
                format!("{bare_us:.1} µs"),
                "1.00".into(),
            ],
            vec![
                "runcomfy `Job::status`".into(),
                format!("{sdk_us:.1} µs"),
                format!("{ratio:.3} ({low:.3}-{high:.3})"),
            ],
        ],
    );
    report.target(
        "overhead per status call, SDK / bare reqwest",
        &format!("{ratio:.3} ({sdk_us:.1} µs)"),
        &format!("bare reqwest {bare_us:.1} µs"),
        "<= 1.05",
        ratio <= 1.05,
    );
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

pub fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

pub fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}
