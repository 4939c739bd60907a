//! The admin routes (`/_emulator/...`): script faults, clear them, read
//! the counters.
//!
//! On a loopback address they need no token; on any other address (a
//! standalone emulator started with `--bind`) they take the same bearer
//! token as the API, since anyone who reaches them can make the emulator
//! misbehave.

use super::LockOrRecover;
use super::SharedState;
use super::contract::{carries_token, error_response, unauthorized};
use super::faults::FaultScript;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Loopback: open. Elsewhere: the API's bearer token.
pub(super) async fn require_token_off_loopback(
    State(shared): SharedState,
    request: Request,
    next: Next,
) -> Response {
    if shared.config.bind.is_loopback() {
        return next.run(request).await;
    }
    if carries_token(&request, &shared.config.token) {
        next.run(request).await
    } else {
        unauthorized()
    }
}

pub(super) async fn add_fault(
    State(shared): SharedState,
    script: Result<axum::Json<FaultScript>, JsonRejection>,
) -> Response {
    let script = match script {
        Ok(axum::Json(script)) => script,
        Err(rejection) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                None,
                &format!("not a fault script: {}", rejection.body_text()),
            );
        }
    };
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

pub(super) async fn jobs(State(shared): SharedState) -> axum::Json<Vec<super::JobRecord>> {
    axum::Json(shared.jobs())
}

/// `POST /_emulator/balance` with `{"balance_usd": USD}` (or `null` for
/// unlimited): sets the wallet, a top-up in a test.
pub(super) async fn set_balance(
    State(shared): SharedState,
    body: Result<axum::Json<serde_json::Value>, JsonRejection>,
) -> Response {
    let amount = match body {
        Ok(axum::Json(body)) => match body.get("balance_usd") {
            Some(serde_json::Value::Null) => Ok(None),
            Some(value) => value
                .as_f64()
                .filter(|usd| usd.is_finite() && *usd >= 0.0)
                .map(Some)
                .ok_or("balance_usd must be a number of US dollars, at least 0, or null"),
            None => Err("send {\"balance_usd\": USD} (null for unlimited)"),
        },
        Err(_) => Err("send {\"balance_usd\": USD} (null for unlimited)"),
    };
    match amount {
        Ok(amount) => {
            *shared.wallet.lock_or_recover() = amount;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(problem) => error_response(StatusCode::BAD_REQUEST, None, problem),
    }
}
