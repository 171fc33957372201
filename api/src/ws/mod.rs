//! Real-time events over WebSocket, on `ws://host:WS_PORT/` and `ws://host:PORT/ws`.
//! `upgrade` takes the handshake, `connection` runs one socket (auth, subscribe, replay, live),
//! `frames` is the wire format, `replay` reads a session's event stream, and `hub` keeps this pod's
//! sockets and their subscriptions.

pub mod connection;
pub mod frames;
pub mod hub;
pub mod replay;

use axum::{
    extract::{Query, State, WebSocketUpgrade},
    http::HeaderMap,
    response::Response,
};
use serde::Deserialize;

use crate::state::AppState;

#[derive(Deserialize)]
pub struct UpgradeQuery {
    token: Option<String>,
}

/// Accepts the upgrade; authentication happens on the socket so that a failure can be reported as
/// an `error` frame followed by close code 4401.
pub async fn upgrade(
    State(state): State<AppState>,
    Query(query): Query<UpgradeQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let credential = match (header, query.token) {
        (Some(h), _) => Some(connection::Credential::Header(h)),
        (None, Some(t)) => Some(connection::Credential::Token(t)),
        (None, None) => None,
    };
    ws.max_message_size(64 * 1024)
        .on_upgrade(move |socket| connection::run(state, socket, credential))
}
