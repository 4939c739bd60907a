//! The file server's answers: a file whole or the range asked for, and
//! the file faults (a body that stops half way, a `Range` ignored). A leaf:
//! the simulated files and the files passed through a front both use it.

use super::faults::Fault;
use super::video;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A file's bytes as the CDN answers them: whole, or the range asked for
/// (`206`, or `416` for one past the end), with the file faults applied.
pub(super) fn file_response(
    bytes: Bytes,
    content_type: &str,
    headers: &HeaderMap,
    fault: Option<Fault>,
    bytes_served: &AtomicU64,
) -> Response {
    let len = bytes.len() as u64;
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = if fault == Some(Fault::IgnoreRange) {
        None
    } else {
        video::requested_range(range_header, len)
    };
    let (status, body) = match range {
        None => (StatusCode::OK, bytes),
        Some(Ok((start, end))) => (
            StatusCode::PARTIAL_CONTENT,
            bytes.slice(start as usize..=end as usize),
        ),
        Some(Err(())) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).expect("ascii"),
            );
            return response;
        }
    };
    let declared = body.len();
    let sent = if fault == Some(Fault::StopHalfway) {
        body.slice(..declared / 2)
    } else {
        body
    };
    bytes_served.fetch_add(sent.len() as u64, Ordering::Relaxed);
    let mut response = if fault == Some(Fault::StopHalfway) {
        Response::new(truncated_body(sent))
    } else {
        Response::new(Body::from(sent))
    };
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(declared));
    if let Some(Ok((start, end))) = range {
        let value = format!("bytes {start}-{end}/{len}");
        headers.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&value).expect("ascii"),
        );
    }
    response
}

/// A body that sends `bytes` and then fails, so that hyper closes the
/// connection before the declared length arrives.
pub(super) fn truncated_body(bytes: Bytes) -> Body {
    use futures::StreamExt;
    let sent = futures::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
    // Pause before failing so that hyper flushes the headers and the part
    // already sent; a client then sees a body that breaks off, not a
    // connection that never answered.
    let failure = futures::stream::once(async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected truncation",
        ))
    });
    Body::from_stream(sent.chain(failure))
}
