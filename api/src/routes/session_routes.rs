//! REST routes for sessions: `/connect`, `/disconnect`, `/reconnect`, `/session-status/{sessionId}`,
//! `/sessions`, `DELETE /sessions/{sessionId}`. Handlers only translate HTTP to `crate::sessions`.

use axum::{
    Json,
    extract::{Path, Query, State},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use wa_shared::records::SessionRecord;

use crate::{
    auth::Caller,
    error::{ApiResult, ErrorBody},
    json::ApiJson,
    sessions::{self, ConnectInput, ConnectMode, checked_session_id},
    state::AppState,
};

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectRequest {
    /// 1-64 characters of `[A-Za-z0-9_-]`, chosen by the client.
    #[schema(example = "lead-42")]
    pub session_id: Option<String>,
    pub session_name: Option<String>,
    /// The account's number: `+E.164`, digits, or a `…@s.whatsapp.net` JID.
    #[schema(example = "+15550001111")]
    pub phone_number: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DisconnectRequest {
    pub session_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectResponse {
    pub success: bool,
    pub session_id: String,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct SuccessResponse {
    pub success: bool,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionStatusResponse {
    pub session_id: String,
    /// connecting | connected | disconnected | logged_out | failed
    pub status: String,
    pub session_name: String,
    pub phone_number: String,
    pub created_at: String,
    /// PNG data URL of the current pairing QR, while waiting for a scan.
    pub qr_code: Option<String>,
    /// The raw QR string.
    pub qr: Option<String>,
    /// Machine-readable reason of the last failure or disconnection.
    pub last_error: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    pub session_id: String,
    pub status: String,
    pub session_name: String,
    pub phone_number: String,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct SessionListResponse {
    pub sessions: Vec<SessionSummary>,
    pub total: usize,
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// Admins only: list one tenant's sessions.
    pub tenant: Option<String>,
}

fn summary(r: SessionRecord) -> SessionSummary {
    SessionSummary {
        session_id: r.session_id,
        status: r.status.as_str().to_owned(),
        session_name: r.name,
        phone_number: r.phone,
        created_at: r.created_at,
    }
}

async fn connect_or_reconnect(
    state: &AppState,
    caller: &Caller,
    body: ConnectRequest,
    mode: ConnectMode,
) -> ApiResult<Json<ConnectResponse>> {
    let input = ConnectInput::validate(body.session_id, body.session_name, body.phone_number)?;
    sessions::connect(state, caller, &input, mode).await?;
    let message = match mode {
        ConnectMode::Connect => "WhatsApp connection initiated",
        ConnectMode::Reconnect => "WhatsApp reconnection initiated",
    };
    Ok(Json(ConnectResponse {
        success: true,
        session_id: input.session_id,
        message: message.to_owned(),
    }))
}

/// Create a session (or start a stopped one) and begin linking it.
#[utoipa::path(post, path = "/connect", tag = "sessions", request_body = ConnectRequest,
    security(("bearer" = [])),
    responses((status = 200, body = ConnectResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn connect(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ConnectRequest>,
) -> ApiResult<Json<ConnectResponse>> {
    connect_or_reconnect(&state, &caller, body, ConnectMode::Connect).await
}

/// Re-open a session's connection now; a linked device needs no QR.
#[utoipa::path(post, path = "/reconnect", tag = "sessions", request_body = ConnectRequest,
    security(("bearer" = [])),
    responses((status = 200, body = ConnectResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reconnect(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ConnectRequest>,
) -> ApiResult<Json<ConnectResponse>> {
    connect_or_reconnect(&state, &caller, body, ConnectMode::Reconnect).await
}

/// Stop a session's connection and keep its linked device.
#[utoipa::path(post, path = "/disconnect", tag = "sessions", request_body = DisconnectRequest,
    security(("bearer" = [])),
    responses((status = 200, body = SuccessResponse), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn disconnect(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<DisconnectRequest>,
) -> ApiResult<Json<SuccessResponse>> {
    let sid = checked_session_id(body.session_id.as_deref())?;
    sessions::disconnect(&state, &caller, &sid).await?;
    Ok(Json(SuccessResponse {
        success: true,
        message: "Session disconnected successfully".to_owned(),
    }))
}

/// A session's status, with the pairing QR while waiting for a scan.
#[utoipa::path(get, path = "/session-status/{sessionId}", tag = "sessions",
    params(("sessionId" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = SessionStatusResponse), (status = 404, body = ErrorBody)))]
pub async fn session_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(session_id): Path<String>,
) -> ApiResult<Json<SessionStatusResponse>> {
    let sid = checked_session_id(Some(&session_id))?;
    let record = sessions::load_visible(&state, &caller, &sid).await?;
    let qr = record.sealed_qr.as_deref().and_then(|sealed| {
        let keyring = state.keyring.as_deref()?;
        match wa_shared::qr::open(keyring, &state.keys.session(&sid), sealed) {
            Ok(raw) => Some(raw),
            Err(e) => {
                tracing::warn!(session = %sid, error = %e, "stored QR does not open");
                None
            }
        }
    });
    Ok(Json(SessionStatusResponse {
        qr_code: qr.as_deref().and_then(wa_shared::qr::png_data_url),
        qr,
        session_id: record.session_id,
        status: record.status.as_str().to_owned(),
        session_name: record.name,
        phone_number: record.phone,
        created_at: record.created_at,
        last_error: record.last_error,
    }))
}

/// The caller's sessions; admins see all (or one tenant's with `?tenant=`).
#[utoipa::path(get, path = "/sessions", tag = "sessions", params(ListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = SessionListResponse), (status = 401, body = ErrorBody)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<SessionListResponse>> {
    let records = sessions::list(&state, &caller, query.tenant.as_deref()).await?;
    let sessions: Vec<SessionSummary> = records.into_iter().map(summary).collect();
    Ok(Json(SessionListResponse {
        total: sessions.len(),
        sessions,
    }))
}

/// Log the session's device out of WhatsApp and wipe its stored state.
#[utoipa::path(delete, path = "/sessions/{sessionId}", tag = "sessions",
    params(("sessionId" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = SuccessResponse), (status = 404, body = ErrorBody)))]
pub async fn delete_session(
    State(state): State<AppState>,
    caller: Caller,
    Path(session_id): Path<String>,
) -> ApiResult<Json<SuccessResponse>> {
    let sid = checked_session_id(Some(&session_id))?;
    sessions::delete(&state, &caller, &sid).await?;
    Ok(Json(SuccessResponse {
        success: true,
        message: "Session deleted; its device is being logged out".to_owned(),
    }))
}
