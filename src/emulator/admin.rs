//! The admin routes (`/_emulator/...`): script faults, clear them, read
//! the counters.

use super::LockOrRecover;
use super::SharedState;
use super::contract::error_response;
use super::faults::FaultScript;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub(super) async fn add_fault(
    State(shared): SharedState,
    axum::Json(script): axum::Json<FaultScript>,
) -> Response {
    match shared.faults.lock_or_recover().add(script) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(StatusCode::BAD_REQUEST, None, &e.to_string()),
    }
}

pub(super) async fn clear_faults(State(shared): SharedState) -> StatusCode {
    shared.faults.lock_or_recover().clear();
    StatusCode::NO_CONTENT
}

pub(super) async fn counters(State(shared): SharedState) -> axum::Json<super::Counters> {
    axum::Json(shared.counters())
}
