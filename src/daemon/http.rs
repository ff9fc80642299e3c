//! The service's own HTTP listener (`[http] listen`): `/healthz` and `/metrics`.
//!
//! Part of `daemon/`; it only reads: the service state the loop publishes and the metrics the
//! cycles add. It stops with the service (the same shutdown token).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::Utc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use super::state::ServiceState;

#[derive(Clone)]
struct Shared {
    state: watch::Receiver<ServiceState>,
    metrics: Arc<Metrics>,
}

/// Serves `/healthz` and `/metrics` on `listener` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: watch::Receiver<ServiceState>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .with_state(Shared { state, metrics });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// 200 with the state while healthy, 503 with the reason otherwise.
async fn healthz(State(shared): State<Shared>) -> impl IntoResponse {
    let state = shared.state.borrow().clone();
    let (status, reason) = match state.health(Utc::now()) {
        Ok(()) => (StatusCode::OK, None),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, Some(why)),
    };
    let body = serde_json::json!({
        "healthy": reason.is_none(),
        "reason": reason,
        "state": state,
    });
    (status, axum::Json(body))
}

async fn metrics_text(State(shared): State<Shared>) -> impl IntoResponse {
    let state = shared.state.borrow().clone();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.encode(&state, Utc::now()),
    )
}
