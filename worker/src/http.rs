//! The worker's own HTTP port (`WORKER_HTTP_PORT`): `/health` (what it holds), `/ready` (Redis
//! answers and the worker takes sessions; a probe that fails while draining or stopping is what
//! Kubernetes expects), `/metrics` (Prometheus text).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::fleet::Fleet;

pub fn router(fleet: Arc<Fleet>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(fleet)
}

async fn health(State(fleet): State<Arc<Fleet>>) -> impl IntoResponse {
    let gauges = fleet.gauges();
    Json(json!({
        "status": "healthy",
        "timestamp": wa_shared::records::now_rfc3339(),
        "workerId": fleet.config.worker_id,
        "sessions": gauges.sessions,
        "connected": gauges.connected,
        "capacity": gauges.capacity,
        "draining": gauges.draining,
    }))
}

async fn ready(State(fleet): State<Arc<Fleet>>) -> impl IntoResponse {
    let ping: redis::RedisResult<String> = redis::cmd("PING")
        .query_async(&mut fleet.conn.clone())
        .await;
    match ping {
        Ok(_) if fleet.is_accepting() => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Ok(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "stopping"})),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "redis_unavailable"})),
        ),
    }
}

async fn metrics(State(fleet): State<Arc<Fleet>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        fleet.metrics.render(&fleet.gauges()),
    )
}
