//! The emulator's connection loop: its own, over HTTP/1.1, so that a fault
//! can drop a connection instead of answering; bounded, so that no client
//! can hold it.
//!
//! - At most [`EmulatorConfig::max_connections`](super::EmulatorConfig::max_connections)
//!   connections are served at once; more wait in the listen backlog.
//! - A connection that has not sent a request's headers within
//!   [`EmulatorConfig::header_read_timeout`](super::EmulatorConfig::header_read_timeout)
//!   is closed.
//! - A failed accept (out of file descriptors, say) is retried after a
//!   growing pause instead of at once, so the loop never spins.

use axum::Router;
use axum::body::Body;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Marks a response whose connection is to be dropped instead of answered.
#[derive(Debug, Clone, Copy)]
pub(super) struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for DropConnection {}

/// How a server's connections are bounded.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) max_connections: usize,
    pub(super) header_read_timeout: Duration,
}

/// The pause after a failed accept: 5 ms, doubling to 1 s, back to the
/// start after a success.
#[derive(Debug, Default)]
pub(super) struct AcceptBackoff {
    failures: u32,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(5);
    const LONGEST: Duration = Duration::from_secs(1);

    pub(super) fn failed(&mut self) -> Duration {
        let pause = Self::FIRST
            .saturating_mul(1u32 << self.failures.min(16))
            .min(Self::LONGEST);
        self.failures = self.failures.saturating_add(1);
        pause
    }

    pub(super) fn succeeded(&mut self) {
        self.failures = 0;
    }
}

/// Accepts connections until `shutdown`, serving each with `router` over
/// HTTP/1.1 within `limits`.
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    use tower::ServiceExt;
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut backoff = AcceptBackoff::default();
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
            () = shutdown.cancelled() => return,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    backoff.succeeded();
                    stream
                }
                Err(error) => {
                    let pause = backoff.failed();
                    tracing::debug!(target: "runcomfy_emulator", %error, ?pause, "accept failed");
                    tokio::select! {
                        () = tokio::time::sleep(pause) => continue,
                        () = shutdown.cancelled() => return,
                    }
                }
            },
            () = shutdown.cancelled() => return,
        };
        let router = router.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let router = router.clone();
                    async move {
                        let response = router
                            .oneshot(request.map(Body::new))
                            .await
                            .unwrap_or_else(|never| match never {});
                        if response.extensions().get::<DropConnection>().is_some() {
                            // hyper closes the connection without an answer.
                            return Err(DropConnection);
                        }
                        Ok(response)
                    }
                },
            );
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                () = shutdown.cancelled() => {}
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_accepts_back_off_to_a_second() {
        let mut backoff = AcceptBackoff::default();
        let pauses: Vec<Duration> = (0..12).map(|_| backoff.failed()).collect();
        assert_eq!(pauses[0], Duration::from_millis(5));
        assert_eq!(pauses[1], Duration::from_millis(10));
        assert!(pauses.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(pauses[11], Duration::from_secs(1));
        for _ in 0..100 {
            assert!(backoff.failed() <= Duration::from_secs(1));
        }
        backoff.succeeded();
        assert_eq!(backoff.failed(), Duration::from_millis(5));
    }
}
