//! The emulator's routes: the queue protocol, the catalogue, the admin
//! routes and the file server, with the layers every request passes
//! (auth, the contract, fault injection, logging).

use super::Shared;
use super::SharedState;
use super::serve::DropConnection;
use super::{admin, contract, front, handlers, inject};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, post};
use std::sync::Arc;
use std::time::Instant;

/// The API: the queue protocol plus `/_emulator/` for faults and counters.
pub(super) fn api_router(shared: Arc<Shared>) -> Router {
    let queue_api = if shared.front.is_some() {
        // In front of a real API or a cassette: every call goes there
        // (upstream is the judge of the contract and of the token).
        Router::new().route("/v1/{*call}", any(front::api))
    } else {
        simulated_api(shared.clone())
    };
    let admin = Router::new()
        .route(
            "/_emulator/faults",
            post(admin::add_fault).delete(admin::clear_faults),
        )
        .route("/_emulator/counters", get(admin::counters))
        .route("/_emulator/jobs", get(admin::jobs))
        .route("/_emulator/balance", post(admin::set_balance))
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            admin::require_token_off_loopback,
        ));
    let routes = Router::new().merge(queue_api).merge(admin);
    with_faults_and_logging(routes, shared)
}

/// The simulated queue protocol and catalogue, behind the token and the
/// contract.
fn simulated_api(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/models", get(handlers::list_models))
        // Before the model ids: a GET here lists categories, and nothing
        // else is taken here (405), as the OpenAPI file declares it.
        .route(super::faults::CATEGORIES_PATH, get(handlers::categories))
        .route(
            "/v1/models/{*model_id}",
            post(handlers::submit).get(handlers::model_info),
        )
        .route("/v1/requests/{request_id}/status", get(handlers::status))
        .route("/v1/requests/{request_id}/result", get(handlers::result))
        .route("/v1/requests/{request_id}/cancel", post(handlers::cancel))
        // RunComfy's core API, on the same server (the client's default
        // core base for a non-RunComfy Model API base).
        .route("/prod/v2/balance", get(handlers::balance))
        .route_layer(middleware::from_fn(contract::hold_to_the_contract))
        .route_layer(middleware::from_fn_with_state(
            shared,
            contract::require_token,
        ))
}

/// The file server, the stand-in for RunComfy's CDN: the simulated jobs'
/// videos, or (in front of a real API) results' files passed through.
pub(super) fn files_router(shared: Arc<Shared>) -> Router {
    let files = if shared.front.is_some() {
        Router::new().route("/files/{*path}", get(front::file))
    } else {
        Router::new().route("/files/{name}", get(handlers::file))
    };
    with_faults_and_logging(files, shared)
}

/// What both servers share: RunComfy's 404 for unknown paths, fault
/// injection, and a log line per request.
fn with_faults_and_logging(routes: Router<Arc<Shared>>, shared: Arc<Shared>) -> Router {
    routes
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            inject::inject_faults,
        ))
        .layer(middleware::from_fn_with_state(shared.clone(), log_request))
        .with_state(shared)
}

async fn log_request(State(shared): SharedState, request: Request, next: Next) -> Response {
    if !shared.config.log_requests {
        return next.run(request).await;
    }
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let dropped = response.extensions().get::<DropConnection>().is_some();
    tracing::info!(
        target: "runcomfy_emulator",
        %method,
        path,
        status = if dropped { 0 } else { response.status().as_u16() },
        dropped,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

async fn not_found() -> Response {
    contract::error_response(StatusCode::NOT_FOUND, None, "no such endpoint")
}
