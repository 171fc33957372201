//! The admin HTTP API (JSON): the fake phone's QR scan, contacts (create, send, inbox, read),
//! kicks, and stats. Bad input gets a 4xx with `{"error": "..."}`.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::contacts::{self, ContactError};
use super::pairing::{self, ScanError};
use super::server_state::{Outbound, ServerState};
use super::stanza;

/// An error answer.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

fn body<T>(payload: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    payload
        .map(|Json(v)| v)
        .map_err(|e| bad(format!("invalid JSON body: {}", e.body_text())))
}

/// Checks a phone number: 5 to 20 digits, no `+`.
fn phone(raw: &str, field: &str) -> Result<String, ApiError> {
    let ok = (5..=20).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(raw.to_string())
    } else {
        Err(bad(format!(
            "{field} must be 5 to 20 digits (no +), got {raw:?}"
        )))
    }
}

impl From<ContactError> for ApiError {
    fn from(e: ContactError) -> Self {
        let status = match e {
            ContactError::Unknown(_) => StatusCode::NOT_FOUND,
            ContactError::NotAContact(_) => StatusCode::CONFLICT,
            ContactError::Failed(_) => StatusCode::BAD_GATEWAY,
        };
        ApiError(status, e.to_string())
    }
}

/// The admin router.
pub fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/admin/scan", post(scan))
        .route("/admin/contacts", post(create_contact))
        .route("/admin/contacts/{phone}/send", post(contact_send))
        .route("/admin/contacts/{phone}/inbox", get(contact_inbox))
        .route("/admin/contacts/{phone}/read", post(contact_read))
        .route("/admin/accounts/{phone}/kick", post(kick))
        .route("/admin/stats", get(stats))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such admin route".into()) })
        .with_state(state)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanBody {
    qr: String,
    phone: String,
}

async fn scan(
    State(state): State<Arc<ServerState>>,
    payload: Result<Json<ScanBody>, JsonRejection>,
) -> ApiResult {
    let req = body(payload)?;
    let phone = phone(&req.phone, "phone")?;
    match pairing::scan(&state, &req.qr, &phone).await {
        Ok(jid) => Ok(Json(json!({ "jid": jid })).into_response()),
        Err(e) => {
            let status = match e {
                ScanError::BadRequest(_) => StatusCode::BAD_REQUEST,
                ScanError::UnknownRef => StatusCode::NOT_FOUND,
                ScanError::Expired => StatusCode::GONE,
                ScanError::NotConfirmed(_) => StatusCode::BAD_GATEWAY,
            };
            Err(ApiError(status, e.to_string()))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactBody {
    phone: String,
}

async fn create_contact(
    State(state): State<Arc<ServerState>>,
    payload: Result<Json<ContactBody>, JsonRejection>,
) -> ApiResult {
    let req = body(payload)?;
    let phone = phone(&req.phone, "phone")?;
    let created = contacts::create(&state, &phone).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({ "phone": phone, "created": created }))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    to: String,
    text: String,
}

async fn contact_send(
    State(state): State<Arc<ServerState>>,
    Path(contact): Path<String>,
    payload: Result<Json<SendBody>, JsonRejection>,
) -> ApiResult {
    let contact = phone(&contact, "contact phone")?;
    let req = body(payload)?;
    let to = phone(&req.to, "to")?;
    if req.text.is_empty() {
        return Err(bad("text must not be empty"));
    }
    let id = contacts::send_text(&state, &contact, &to, &req.text).await?;
    Ok(Json(json!({ "messageId": id })).into_response())
}

async fn contact_inbox(
    State(state): State<Arc<ServerState>>,
    Path(contact): Path<String>,
) -> ApiResult {
    let contact = phone(&contact, "contact phone")?;
    let entries = contacts::inbox(&state, &contact).await?;
    Ok(Json(entries).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReadBody {
    from: String,
    message_ids: Vec<String>,
}

async fn contact_read(
    State(state): State<Arc<ServerState>>,
    Path(contact): Path<String>,
    payload: Result<Json<ReadBody>, JsonRejection>,
) -> ApiResult {
    let contact = phone(&contact, "contact phone")?;
    let req = body(payload)?;
    let from = phone(&req.from, "from")?;
    if req.message_ids.is_empty() || req.message_ids.iter().any(String::is_empty) {
        return Err(bad("messageIds must be a non-empty list of message ids"));
    }
    contacts::mark_read(&state, &contact, &from, &req.message_ids).await?;
    Ok(Json(json!({ "read": req.message_ids.len() })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KickBody {
    reason: String,
}

async fn kick(
    State(state): State<Arc<ServerState>>,
    Path(account): Path<String>,
    payload: Result<Json<KickBody>, JsonRejection>,
) -> ApiResult {
    let account = phone(&account, "account phone")?;
    let req = body(payload)?;
    let items = match req.reason.as_str() {
        "restart" => vec![
            Outbound::Node(stanza::stream_error_code("515")),
            Outbound::Close,
        ],
        "replaced" => vec![
            Outbound::Node(stanza::stream_error_replaced()),
            Outbound::Close,
        ],
        "logged_out" => vec![
            Outbound::Node(stanza::stream_error_code("401")),
            Outbound::Close,
        ],
        "drop" => vec![Outbound::Close],
        other => {
            return Err(bad(format!(
                "reason must be restart, replaced, logged_out or drop, got {other:?}"
            )));
        }
    };
    let devices = state.live_devices(&account);
    if devices.is_empty() {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("account {account} has no connected device"),
        ));
    }
    if req.reason == "logged_out" {
        // The phone unlinked the devices: they cannot log in again.
        if let Some(acc) = state
            .directory
            .lock()
            .expect("directory lock")
            .get_mut(&account)
        {
            acc.devices.retain(|id, _| !devices.contains(id));
        }
    }
    for device in &devices {
        state.send_to(&(account.clone(), *device), items.clone());
    }
    Ok(Json(json!({ "kicked": devices.len() })).into_response())
}

async fn stats(State(state): State<Arc<ServerState>>) -> Json<super::stats::StatsSnapshot> {
    Json(state.stats())
}
