//! REST routes for messages: `POST /send-message` and `GET /messages/{messageId}`.

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wa_shared::records::MessageStatus;

use crate::{
    auth::Caller,
    error::{ApiResult, ErrorBody, ErrorDetail},
    json::ApiJson,
    messages::{self, SendInput},
    state::AppState,
};

/// Header carrying the client's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendMessageRequest {
    pub session_id: Option<String>,
    /// Recipient: `+E.164`, digits, or a `…@s.whatsapp.net` JID.
    pub phone_number: Option<String>,
    /// Text, up to 65,536 characters.
    pub message: Option<String>,
    /// Idempotency key, as an alternative to the `Idempotency-Key` header.
    pub client_message_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendMessageResponse {
    pub success: bool,
    pub message_id: String,
    /// Present when the answer comes before the worker reported `sent` (202): `queued`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendFailedResponse {
    pub success: bool,
    pub message_id: String,
    pub status: String,
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct StatusChangeView {
    pub status: String,
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageResponse {
    pub message_id: String,
    pub session_id: String,
    pub phone_number: String,
    /// queued | sent | delivered | read | failed
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    pub history: Vec<StatusChangeView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Send a text. 200 once the worker reported it sent, 202 when it is still queued after
/// `SEND_WAIT_MS`; the same idempotency key always answers the same `messageId`.
#[utoipa::path(post, path = "/send-message", tag = "messages", request_body = SendMessageRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Deduplicates retries")),
    security(("bearer" = [])),
    responses((status = 200, body = SendMessageResponse), (status = 202, body = SendMessageResponse),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = SendFailedResponse),
        (status = 429, body = ErrorBody)))]
pub async fn send_message(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SendMessageRequest>,
) -> ApiResult<Response> {
    let header_key = match headers.get(IDEMPOTENCY_HEADER) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| {
                    crate::error::ApiError::validation("Idempotency-Key must be printable ASCII.")
                })?
                .to_owned(),
        ),
    };
    let input = SendInput::validate(
        body.session_id,
        body.phone_number,
        body.message,
        header_key.or(body.client_message_id),
    )?;
    let outcome = messages::send(&state, &caller, input).await?;
    Ok(match outcome.status {
        MessageStatus::Queued => (
            StatusCode::ACCEPTED,
            Json(SendMessageResponse {
                success: true,
                message_id: outcome.message_id,
                status: Some("queued".to_owned()),
                message: "Message accepted and queued for sending".to_owned(),
            }),
        )
            .into_response(),
        MessageStatus::Failed => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(SendFailedResponse {
                success: false,
                message_id: outcome.message_id,
                status: "failed".to_owned(),
                error: ErrorDetail {
                    code: "send_failed".to_owned(),
                    message: outcome
                        .reason
                        .unwrap_or_else(|| "WhatsApp refused the message.".to_owned()),
                },
            }),
        )
            .into_response(),
        _ => Json(SendMessageResponse {
            success: true,
            message_id: outcome.message_id,
            status: None,
            message: "Message sent successfully".to_owned(),
        })
        .into_response(),
    })
}

/// A message's status and its history.
#[utoipa::path(get, path = "/messages/{messageId}", tag = "messages",
    params(("messageId" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = MessageResponse), (status = 404, body = ErrorBody)))]
pub async fn get_message(
    State(state): State<AppState>,
    caller: Caller,
    Path(message_id): Path<String>,
) -> ApiResult<Json<MessageResponse>> {
    let r = messages::get(&state, &caller, &message_id).await?;
    Ok(Json(MessageResponse {
        message_id: r.message_id,
        session_id: r.session_id,
        phone_number: r.to,
        status: r.status.as_str().to_owned(),
        created_at: r.created_at,
        updated_at: r.updated_at,
        history: r
            .history
            .into_iter()
            .map(|h| StatusChangeView {
                status: h.status.as_str().to_owned(),
                at: h.at,
                reason: h.reason,
            })
            .collect(),
        error: r.error,
    }))
}
