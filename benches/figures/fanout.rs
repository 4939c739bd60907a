//! A thousand concurrent jobs through one client: how many TCP
//! connections they open (counted by a proxy on loopback), how long they
//! take, and how many 429s a rate-limited server answers.

#[allow(dead_code)]
#[path = "../../tests/common/proxy.rs"]
mod proxy;

use crate::overhead::median;
use crate::report::Report;
use proxy::CountingProxy;
use runcomfy::emulator::{Emulator, EmulatorConfig, RunTime};
use runcomfy::models::kling::kling_3_0::standard::text_to_video::Input;
use runcomfy::polling::FixedPolling;
use runcomfy::{Client, ClientBuilder, RetryPolicy};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MODEL: &str = "kling/kling-3.0/standard/text-to-video";
/// Every client polls every job at this interval.
const POLL: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Variant {
    Bare,
    Uncapped,
    Capped,
}

impl Variant {
    fn label(self) -> String {
        match self {
            Variant::Bare => "bare reqwest".into(),
            Variant::Uncapped => "runcomfy, no cap (as before)".into(),
            Variant::Capped => format!(
                "runcomfy, default cap ({} in flight)",
                ClientBuilder::DEFAULT_MAX_CONCURRENT_REQUESTS
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Outcome {
    seconds: f64,
    connections: f64,
    most_open: f64,
    requests: f64,
    rate_limited: f64,
    failed: f64,
}

fn emulator_config(rate_limit: Option<f64>) -> EmulatorConfig {
    let config = EmulatorConfig::default()
        .workers(4096)
        .queue_delay(Duration::ZERO)
        .run_time(RunTime::Fixed(Duration::from_secs(1)))
        .max_connections(8192);
    match rate_limit {
        Some(rate) => config.rate_limit(rate, 100),
        None => config,
    }
}

async fn one_run(variant: Variant, jobs: usize, rate_limit: Option<f64>) -> Outcome {
    let emulator = Emulator::start(emulator_config(rate_limit))
        .await
        .expect("the emulator starts");
    let proxy = CountingProxy::start(emulator.api_addr()).await;
    let base = proxy.base_url();
    let token = emulator.token().to_string();
    let started = Instant::now();
    let failed = match variant {
        Variant::Bare => bare_jobs(&base, &token, jobs).await,
        Variant::Uncapped | Variant::Capped => {
            let mut builder = Client::builder()
                .token(&token)
                .base_url(&base)
                .poll_policy(FixedPolling(POLL))
                .retry(RetryPolicy::default().max_retries(8));
            if variant == Variant::Uncapped {
                builder = builder.max_concurrent_requests(usize::MAX);
            }
            sdk_jobs(Arc::new(builder.build().expect("client")), jobs).await
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let counters = emulator.counters();
    let r = counters.requests;
    Outcome {
        seconds,
        connections: proxy.accepted() as f64,
        most_open: proxy.most_open() as f64,
        requests: (r.submit + r.status + r.result) as f64,
        rate_limited: counters.rate_limited as f64,
        failed: failed as f64,
    }
}

async fn sdk_jobs(client: Arc<Client>, jobs: usize) -> usize {
    let tasks: Vec<_> = (0..jobs)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.run(&Input::new(format!("fox {i}"))).await })
        })
        .collect();
    failures(tasks).await
}

/// What a hand-written client does: submit, poll, fetch the result; no
/// retries.
async fn bare_jobs(base: &str, token: &str, jobs: usize) -> usize {
    let http = runcomfy::http_client_builder()
        .expect("TLS")
        .build()
        .expect("client");
    let tasks: Vec<_> = (0..jobs)
        .map(|i| {
            let (http, base, token) = (http.clone(), base.to_string(), token.to_string());
            tokio::spawn(async move {
                let submitted: serde_json::Value = http
                    .post(format!("{base}/v1/models/{MODEL}"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({ "prompt": format!("fox {i}") }))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                let id = submitted["request_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                loop {
                    tokio::time::sleep(POLL).await;
                    let status: serde_json::Value = http
                        .get(format!("{base}/v1/requests/{id}/status"))
                        .bearer_auth(&token)
                        .send()
                        .await?
                        .error_for_status()?
                        .json()
                        .await?;
                    if status["status"] == "completed" {
                        break;
                    }
                }
                http.get(format!("{base}/v1/requests/{id}/result"))
                    .bearer_auth(&token)
                    .send()
                    .await?
                    .error_for_status()?
                    .json::<serde_json::Value>()
                    .await
            })
        })
        .collect();
    failures(tasks).await
}

fn medians(runs: &[Outcome]) -> Outcome {
    let of = |f: fn(&Outcome) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    Outcome {
        seconds: of(|o| o.seconds),
        connections: of(|o| o.connections),
        most_open: of(|o| o.most_open),
        requests: of(|o| o.requests),
        rate_limited: of(|o| o.rate_limited),
        failed: of(|o| o.failed),
    }
}

pub async fn run(report: &mut Report, smoke: bool) {
    let (jobs, rounds) = if smoke { (40, 1) } else { (1000, 3) };
    let variants = [Variant::Bare, Variant::Uncapped, Variant::Capped];
    let mut free: Vec<Vec<Outcome>> = vec![Vec::new(); variants.len()];
    for _ in 0..rounds {
        for (i, variant) in variants.iter().enumerate() {
            free[i].push(one_run(*variant, jobs, None).await);
        }
    }
    let limited_variants = [Variant::Uncapped, Variant::Capped];
    let rate = 1000.0;
    let mut limited: Vec<Vec<Outcome>> = vec![Vec::new(); limited_variants.len()];
    for _ in 0..rounds {
        for (i, variant) in limited_variants.iter().enumerate() {
            limited[i].push(one_run(*variant, jobs, Some(rate)).await);
        }
    }
    report.section(
        "Fan-out: concurrent jobs through one client",
        &format!(
            "{jobs} jobs started at once through one client (submit, poll every {} ms, \
             result; each job runs 1 s), through a TCP proxy on loopback that counts \
             connections; medians of {rounds} interleaved runs.",
            POLL.as_millis()
        ),
    );
    let row = |label: String, o: &Outcome| {
        vec![
            label,
            format!("{:.0}", o.connections),
            format!("{:.0}", o.most_open),
            format!("{:.2} s", o.seconds),
            format!("{:.0}", o.requests),
            format!("{:.0}", o.rate_limited),
            format!("{:.0}", o.failed),
        ]
    };
    let header = [
        "client",
        "connections opened",
        "most open at once",
        "all jobs done in",
        "API requests",
        "429s",
        "jobs failed",
    ];
    let free: Vec<Outcome> = free.iter().map(|r| medians(r)).collect();
    report.table(
        &header,
        &variants
            .iter()
            .zip(&free)
            .map(|(v, o)| row(v.label(), o))
            .collect::<Vec<_>>(),
    );
    let limited: Vec<Outcome> = limited.iter().map(|r| medians(r)).collect();
    report.text(&format!(
        "Against the emulator limited to {rate:.0} requests/s (bursts of 100; 429 with \
         `Retry-After`, which the client honours, retrying up to 8 times):"
    ));
    report.table(
        &header,
        &limited_variants
            .iter()
            .zip(&limited)
            .map(|(v, o)| row(v.label(), o))
            .collect::<Vec<_>>(),
    );
    let (bare, uncapped, capped) = (free[0], free[1], free[2]);
    report.target(
        &format!("TCP connections for {jobs} concurrent jobs through one client"),
        &format!(
            "{:.0} opened, at most {:.0} at once; done in {:.2} s",
            capped.connections, capped.most_open, capped.seconds
        ),
        &format!(
            "bare reqwest {:.0} opened, {:.2} s; no cap {:.0}, {:.2} s",
            bare.connections, bare.seconds, uncapped.connections, uncapped.seconds
        ),
        "a bounded, reused set (<= the in-flight cap), total time no worse",
        capped.most_open <= ClientBuilder::DEFAULT_MAX_CONCURRENT_REQUESTS as f64 * 1.25
            && capped.seconds <= bare.seconds.max(uncapped.seconds) * 1.05,
    );
    report.text(
        "The cap bounds connections, not the request rate: on loopback 32 requests in \
         flight still outpace 1,000 requests/s, so the 429s are about as many with the cap \
         as without. No job is lost either way: a 429 means the request was not taken, so \
         even a submit is retried after the server's `Retry-After`.",
    );
    report.target(
        &format!("429s for {jobs} concurrent jobs at {rate:.0} requests/s"),
        &format!(
            "{:.0} 429s with the cap, {:.0} jobs failed, {:.2} s",
            limited[1].rate_limited, limited[1].failed, limited[1].seconds
        ),
        &format!(
            "no cap {:.0} 429s, {:.0} jobs failed, {:.2} s",
            limited[0].rate_limited, limited[0].failed, limited[0].seconds
        ),
        "measured; no job lost to a 429",
        limited[1].failed == 0.0,
    );
}

/// How many of `tasks` panicked or returned an error.
async fn failures<T, E>(tasks: Vec<tokio::task::JoinHandle<Result<T, E>>>) -> usize {
    let mut failed = 0;
    for task in tasks {
        if !matches!(task.await, Ok(Ok(_))) {
            failed += 1;
        }
    }
    failed
}
