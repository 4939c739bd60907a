//! One large file downloaded through the SDK and by curl from the same
//! loopback server: throughput, and how much the SDK's memory grows.

use crate::overhead::median;
use crate::report::Report;
use runcomfy::Client;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A server that answers every request with `size` bytes of a repeated
/// 1 MiB pattern (no file behind it, so it costs the benchmark no
/// memory).
async fn serve(size: u64) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let pattern: &'static [u8] = Box::leak(
        (0..1 << 20)
            .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect::<Vec<u8>>()
            .into_boxed_slice(),
    );
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let header = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: {size}\r\n\
                     Connection: close\r\n\r\n"
                );
                if socket.write_all(header.as_bytes()).await.is_err() {
                    return;
                }
                let mut left = size;
                while left > 0 {
                    let n = left.min(pattern.len() as u64) as usize;
                    if socket.write_all(&pattern[..n]).await.is_err() {
                        return;
                    }
                    left -= n as u64;
                }
            });
        }
    });
    addr
}

/// This process's resident set and its peak, in bytes.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets the peak resident set to the current one (Linux 4.0+).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

pub async fn run(report: &mut Report, smoke: bool) {
    let (size, rounds): (u64, usize) = if smoke { (8 << 20, 1) } else { (1 << 30, 3) };
    let addr = serve(size).await;
    let url = format!("http://{addr}/video.mp4");
    let folder = tempfile::tempdir().expect("a temporary folder");
    let client = Client::builder()
        .token("sk-benchmark")
        .base_url("http://127.0.0.1:9")
        .build()
        .expect("client");
    let curl = std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_ok();
    let (mut sdk, mut by_curl, mut growth) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let target = folder.path().join(format!("sdk-{round}.mp4"));
        let peak_reset = reset_peak();
        let (before, _) = memory();
        let started = Instant::now();
        client
            .download_output("benchmark", &url, &target)
            .await
            .expect("the SDK downloads");
        sdk.push(size as f64 / started.elapsed().as_secs_f64());
        let (_, peak) = memory();
        if peak_reset {
            growth.push(peak.saturating_sub(before) as f64);
        }
        assert_eq!(std::fs::metadata(&target).expect("written").len(), size);
        std::fs::remove_file(&target).expect("removed");
        if curl {
            let target = folder.path().join(format!("curl-{round}.mp4"));
            let started = Instant::now();
            let status = tokio::process::Command::new("curl")
                .args(["-sS", "--fail", "-o"])
                .arg(&target)
                .arg(&url)
                .status()
                .await
                .expect("curl runs");
            assert!(status.success(), "curl failed");
            by_curl.push(size as f64 / started.elapsed().as_secs_f64());
            std::fs::remove_file(&target).expect("removed");
        }
    }
    let mib = |bytes_per_second: f64| bytes_per_second / 1048576.0;
    let sdk_rate = median(&sdk);
    let growth_mib = (!growth.is_empty()).then(|| median(&growth) / 1048576.0);
    let shown = |g: f64| {
        if g < 1.0 {
            format!("{:.0} KiB", g * 1024.0)
        } else {
            format!("{g:.1} MiB")
        }
    };
    report.section(
        "Download",
        &format!(
            "A {} MiB file from a loopback server, written to a temporary folder, by \
             `Client::download` and by `curl -o`; medians of {rounds} interleaved runs. \
             Memory: growth of this process's peak resident set during the SDK's download \
             (the server's 1 MiB pattern is allocated before).",
            size >> 20
        ),
    );
    let mut rows = vec![vec![
        "runcomfy `Client::download`".to_string(),
        format!("{:.0} MiB/s", mib(sdk_rate)),
        growth_mib.map_or("n/a".into(), shown),
    ]];
    if curl {
        rows.push(vec![
            "curl".into(),
            format!("{:.0} MiB/s", mib(median(&by_curl))),
            "(another process)".into(),
        ]);
    }
    report.table(&["client", "throughput", "peak RSS growth"], &rows);
    if curl {
        let ratio = sdk_rate / median(&by_curl);
        report.target(
            &format!("{} MiB download, SDK / curl throughput", size >> 20),
            &format!(
                "{ratio:.2}x, RSS growth {}",
                growth_mib.map_or("n/a".into(), shown)
            ),
            &format!("curl {:.0} MiB/s", mib(median(&by_curl))),
            ">= 0.9x and <= 32 MiB",
            ratio >= 0.9 && growth_mib.is_none_or(|g| g <= 32.0),
        );
    } else {
        report.text("curl is not installed: no baseline.");
    }
}
