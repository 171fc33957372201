//! Operational routes: `/health` (liveness, no auth, counts only), `/ready` (Redis reachable),
//! `/metrics` (Prometheus text) and `/openapi.json`.

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use redis::AsyncCommands;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    error::{ApiError, ErrorBody},
    state::AppState,
};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthResponse {
    /// Always `healthy` while the process serves requests.
    pub status: String,
    pub timestamp: String,
    /// Sessions known to the fleet; `null` while Redis is unreachable.
    pub sessions: Option<u64>,
    /// WebSocket clients connected to this pod.
    pub websocket_clients: usize,
}

#[derive(Serialize, ToSchema)]
pub struct ReadyResponse {
    pub status: String,
}

/// Liveness: answers while the process runs, whatever Redis does.
#[utoipa::path(get, path = "/health", tag = "system",
    responses((status = 200, body = HealthResponse)))]
pub async fn health(State(state): State<AppState>) -> Json<HealthResponse> {
    let sessions = async {
        let mut conn = state.redis();
        conn.scard::<_, u64>(state.keys.all_sessions()).await.ok()
    };
    let sessions = tokio::time::timeout(std::time::Duration::from_millis(500), sessions)
        .await
        .ok()
        .flatten();
    Json(HealthResponse {
        status: "healthy".to_owned(),
        timestamp: wa_shared::records::now_rfc3339(),
        sessions,
        websocket_clients: state.bus.hub.len(),
    })
}

/// Readiness: 200 when Redis answers, else 503.
#[utoipa::path(get, path = "/ready", tag = "system",
    responses((status = 200, body = ReadyResponse), (status = 503, body = ErrorBody)))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<ReadyResponse>, ApiError> {
    let ping = async {
        let mut conn = state.redis();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .ok()
    };
    match tokio::time::timeout(std::time::Duration::from_secs(1), ping).await {
        Ok(Some(_)) => Ok(Json(ReadyResponse {
            status: "ready".to_owned(),
        })),
        _ => Err(ApiError::redis_unavailable()),
    }
}

/// Prometheus metrics of this pod.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state
            .metrics
            .render(state.bus.hub.len(), state.bus.hub.slow_total()),
    )
}
