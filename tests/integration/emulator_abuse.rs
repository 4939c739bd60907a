//! The emulator under abuse: it is also a standalone server users run, so
//! no client may exhaust it. Every case is bounded in count and time.
#![cfg(feature = "emulator")]

use crate::common;

use common::fast;
use runcomfy::emulator::{Emulator, EmulatorConfig, FaultScript};
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn fault_scripts_beyond_their_bounds_are_refused_with_400() {
    let emulator = Emulator::start(fast()).await.expect("starts");
    let http = common::http();
    let url = format!("{}/_emulator/faults", emulator.base_url());
    for script in [
        json!({"endpoint": "status", "fault": {"type": "malformed_json"}, "count": 1_000_000_000_000u64}),
        json!({"endpoint": "status", "fault": {"type": "malformed_json"}, "count": u64::MAX}),
        json!({"endpoint": "status", "fault": {"type": "malformed_json"}, "count": 1e30}),
        json!({"endpoint": "status", "fault": {"type": "malformed_json"}, "rate": 7.0}),
        json!({"endpoint": "status", "fault": {"type": "latency", "millis": u64::MAX}, "count": 1}),
        json!({"endpoint": "status", "fault": {"type": "http_error", "status": 70000}, "count": 1}),
        json!({"endpoint": "submit", "fault": {"type": "job_fails", "message": "x".repeat(10_000)}, "count": 1}),
        json!({"endpoint": "nowhere", "fault": {"type": "malformed_json"}}),
    ] {
        let response = http.post(&url).json(&script).send().await.expect("answers");
        assert_eq!(response.status(), 400, "{script}");
        let body: serde_json::Value = response.json().await.expect("RunComfy's error shape");
        assert!(body["error_message"].is_string(), "{body}");
    }
    let most = json!({"endpoint": "status", "fault": {"type": "malformed_json"}, "count": FaultScript::MAX_COUNT});
    assert_eq!(
        http.post(&url)
            .json(&most)
            .send()
            .await
            .expect("answers")
            .status(),
        204
    );
    // Still serving, and the scripted fault applies.
    let api = common::Api::new(&emulator);
    let id = api.submit(json!({"prompt": "a"})).await;
    let response = api
        .call(reqwest::Method::GET, &format!("/v1/requests/{id}/status"))
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    assert!(
        response.json::<serde_json::Value>().await.is_err(),
        "malformed, as scripted"
    );
}

#[tokio::test]
async fn connections_that_never_finish_their_headers_are_closed_and_capped() {
    const STALLED: usize = 64;
    let emulator = Emulator::start(
        fast()
            .max_connections(16)
            .header_read_timeout(Duration::from_millis(300)),
    )
    .await
    .expect("starts");
    let mut stalled = Vec::new();
    for _ in 0..STALLED {
        let mut stream = tokio::net::TcpStream::connect(emulator.api_addr())
            .await
            .expect("connects");
        stream
            .write_all(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("half a request");
        stalled.push(stream);
    }
    // A well-behaved client gets through once the stalled ones time out.
    let api = common::Api::new(&emulator);
    let answered = tokio::time::timeout(
        Duration::from_secs(20),
        api.json(reqwest::Method::GET, "/v1/models"),
    )
    .await
    .expect("answered within the bound");
    assert_eq!(answered.0, 200);
    // Every stalled connection was closed by the server.
    for mut stream in stalled {
        let mut buffer = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buffer))
            .await
            .expect("closed within the bound");
        // Closed, possibly after a 408 answer.
        if let Ok(n) = read
            && n > 0
        {
            assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 408"));
        }
    }
}

#[tokio::test]
async fn admin_routes_need_the_token_off_loopback() {
    let local = Emulator::start(fast()).await.expect("starts");
    let open = common::http()
        .get(format!("{}/_emulator/counters", local.base_url()))
        .send()
        .await
        .expect("answers");
    assert_eq!(open.status(), 200, "loopback: no token needed");

    // Listening on every address: the admin routes ask for the token.
    let exposed = Emulator::start(
        EmulatorConfig::default()
            .time_scale(10_000.0)
            .bind(std::net::Ipv4Addr::UNSPECIFIED.into())
            .token("admin-secret"),
    )
    .await
    .expect("starts");
    let http = common::http();
    let counters = format!("{}/_emulator/counters", exposed.base_url());
    let faults = format!("{}/_emulator/faults", exposed.base_url());
    assert_eq!(
        http.get(&counters).send().await.expect("answers").status(),
        401
    );
    let script = json!({"endpoint": "status", "fault": {"type": "malformed_json"}});
    assert_eq!(
        http.post(&faults)
            .json(&script)
            .send()
            .await
            .expect("answers")
            .status(),
        401
    );
    assert_eq!(
        http.delete(&faults).send().await.expect("answers").status(),
        401
    );
    let with_token = http
        .get(&counters)
        .bearer_auth("admin-secret")
        .send()
        .await
        .expect("answers");
    assert_eq!(with_token.status(), 200);
}

/// CPU time (user + system) of a process so far, from `/proc`.
#[cfg(all(feature = "cli", target_os = "linux"))]
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

#[cfg(all(feature = "cli", target_os = "linux"))]
#[tokio::test(flavor = "multi_thread")]
async fn out_of_file_descriptors_the_accept_loop_backs_off_and_recovers() {
    use common::standalone::Standalone;
    // The standalone emulator with room for few connections (killed on
    // drop, so a failed assertion leaves no process behind).
    let runcomfy = env!("CARGO_BIN_EXE_runcomfy");
    let mut command = std::process::Command::new("bash");
    command.args([
        "-c",
        &format!("ulimit -n 64 && exec {runcomfy} emulator --port 0 --quiet"),
    ]);
    let emulator = Standalone::spawn(command);
    let base = emulator.base.clone();
    let address = base.trim_start_matches("http://").to_string();
    // More connections than it has descriptors for.
    let mut held = Vec::new();
    for _ in 0..120 {
        let connect = tokio::net::TcpStream::connect(&address);
        match tokio::time::timeout(Duration::from_millis(200), connect).await {
            Ok(Ok(stream)) => held.push(stream),
            // The listen backlog is full too: enough.
            _ => break,
        }
    }
    assert!(
        held.len() > 64,
        "more connections than descriptors: {}",
        held.len()
    );
    let before = cpu_seconds(emulator.pid()).expect("cpu time");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let spent = cpu_seconds(emulator.pid()).expect("cpu time") - before;
    println!("CPU while out of descriptors: {spent:.2} s in 1 s");
    assert!(
        spent < 0.5,
        "the accept loop backs off instead of spinning: {spent} s"
    );
    drop(held);
    // Descriptors free again: it serves.
    let mut served = false;
    for _ in 0..100 {
        if let Ok(response) = common::http()
            .get(format!("{base}/_emulator/counters"))
            .send()
            .await
            && response.status() == 200
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "it recovers once descriptors are free");
}
