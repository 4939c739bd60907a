//! Fault injection: the middleware that makes a scripted request
//! misbehave before (or instead of) its handler.

use super::LockOrRecover;
use super::SharedState;
use super::config::RateLimit;
use super::contract::error_response;
use super::faults::classify;
use super::faults::{Endpoint, Fault};
use super::files::truncated_body;
use super::serve::DropConnection;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The fault a request gets, if any, for handlers that act on it.
#[derive(Debug, Clone)]
pub(super) struct InjectedFault(pub(super) Fault);

/// The configured rate limit's token bucket (no limit: always a token).
#[derive(Debug)]
pub(super) struct Bucket {
    limit: Option<RateLimit>,
    tokens: f64,
    refilled: std::time::Instant,
}

impl Bucket {
    pub(super) fn new(limit: Option<RateLimit>) -> Self {
        Self {
            tokens: limit.map_or(0.0, |l| l.burst),
            limit,
            refilled: std::time::Instant::now(),
        }
    }

    /// Takes a token; without one, how long until there is one.
    fn take(&mut self) -> Option<Duration> {
        let limit = self.limit?;
        let now = std::time::Instant::now();
        let refill = now.duration_since(self.refilled).as_secs_f64() * limit.per_second;
        self.tokens = (self.tokens + refill).min(limit.burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64(
                ((1.0 - self.tokens) / limit.per_second).min(86_400.0),
            ))
        }
    }
}

fn too_many_requests(retry_after_secs: u64) -> Response {
    let mut response = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        None,
        "rate limit exceeded, retry later",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

pub(super) async fn inject_faults(
    State(shared): SharedState,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(endpoint) = classify(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    shared.counters.requests[endpoint as usize].fetch_add(1, Ordering::Relaxed);
    let wait = (endpoint != Endpoint::File)
        .then(|| shared.bucket.lock_or_recover().take())
        .flatten();
    if let Some(wait) = wait {
        shared.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
        return too_many_requests(wait.as_secs_f64().ceil().max(1.0) as u64);
    }
    let fault = {
        let mut rng = shared.rng.lock_or_recover();
        shared.faults.lock_or_recover().take(endpoint, &mut rng)
    };
    let Some(fault) = fault else {
        return next.run(request).await;
    };
    shared.counters.faults_injected[endpoint as usize].fetch_add(1, Ordering::Relaxed);
    match fault {
        Fault::Latency { millis } => {
            // Processed at once, answered late: a submit's job exists even
            // if the client gives up waiting for the answer.
            let response = next.run(request).await;
            tokio::time::sleep(Duration::from_millis(millis)).await;
            response
        }
        Fault::RateLimited { retry_after_secs } => too_many_requests(retry_after_secs),
        Fault::HttpError { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if status == StatusCode::INTERNAL_SERVER_ERROR {
                error_response(
                    status,
                    Some(500001),
                    "internal error, retry with exponential backoff",
                )
            } else {
                // Gateways in front of an API answer with their own pages.
                let page = format!("<html><body><h1>{status}</h1></body></html>");
                (status, [(header::CONTENT_TYPE, "text/html")], page).into_response()
            }
        }
        Fault::MalformedJson => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"request_id\": \"",
        )
            .into_response(),
        Fault::TruncatedBody => {
            let response = next.run(request).await;
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let half = bytes.slice(..bytes.len() / 2);
            let mut response = Response::from_parts(parts, truncated_body(half));
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            response
        }
        Fault::ConnectionReset => {
            if endpoint == Endpoint::Submit {
                // The job is accepted and paid for; only the answer is lost.
                let _ = next.run(request).await;
            }
            let mut response = Response::new(Body::empty());
            response.extensions_mut().insert(DropConnection);
            response
        }
        Fault::ErrorIn200 {
            error_code,
            message,
        } => (
            StatusCode::OK,
            axum::Json(json!({"error_code": error_code, "error_message": message})),
        )
            .into_response(),
        other => {
            request.extensions_mut().insert(InjectedFault(other));
            next.run(request).await
        }
    }
}
