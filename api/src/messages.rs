//! Outbound messages: accept a send (validate, rate-limit, write the record and the command in one
//! step, honour idempotency keys), wait for the owner to report it sent, and read a message back.

use std::{collections::HashMap, time::Duration};

use redis::AsyncCommands;
use wa_shared::{
    commands::Command,
    ids::normalize_phone,
    records::{MessageRecord, MessageStatus, StatusChange, message_field, now_rfc3339},
    scripts::ENQUEUE_SEND,
};

use crate::{
    auth::Caller,
    error::{ApiError, ApiResult},
    sessions::checked_session_id,
    state::AppState,
};
use wa_shared::errors::ErrorCode;

/// Longest accepted message text, in characters.
pub const MAX_TEXT_CHARS: usize = 65_536;
/// Longest accepted idempotency key.
pub const MAX_IDEMPOTENCY_KEY: usize = 128;

/// A validated send request.
#[derive(Debug, Clone)]
pub struct SendInput {
    pub session_id: String,
    pub to: String,
    pub text: String,
    pub idempotency_key: Option<String>,
}

impl SendInput {
    pub fn validate(
        session_id: Option<String>,
        phone: Option<String>,
        text: Option<String>,
        idempotency_key: Option<String>,
    ) -> ApiResult<Self> {
        let session_id = checked_session_id(session_id.as_deref())?;
        let phone = phone.ok_or_else(|| ApiError::validation("phoneNumber is required."))?;
        let to = normalize_phone(&phone).map_err(|e| ApiError::validation(e.to_string()))?;
        let text = text.ok_or_else(|| ApiError::validation("message is required."))?;
        if text.trim().is_empty() {
            return Err(ApiError::validation("message must not be empty."));
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(ApiError::validation(format!(
                "message must be at most {MAX_TEXT_CHARS} characters."
            )));
        }
        let idempotency_key = match idempotency_key {
            None => None,
            Some(key) => {
                let ok = !key.is_empty()
                    && key.len() <= MAX_IDEMPOTENCY_KEY
                    && key.bytes().all(|b| b.is_ascii_graphic());
                if !ok {
                    return Err(ApiError::validation(format!(
                        "The idempotency key must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters."
                    )));
                }
                Some(key)
            }
        };
        Ok(Self {
            session_id,
            to,
            text,
            idempotency_key,
        })
    }
}

/// Where a send stands when the call answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOutcome {
    pub message_id: String,
    pub status: MessageStatus,
    /// Failure reason when `status` is `failed`.
    pub reason: Option<String>,
}

pub async fn send(state: &AppState, caller: &Caller, input: SendInput) -> ApiResult<SendOutcome> {
    crate::rate_limit::check_session_send(state, &input.session_id).await?;
    let keys = &state.keys;
    let sid = &input.session_id;
    let tenant = if caller.is_admin() {
        let mut conn = state.redis();
        let t: Option<String> = conn.hget(keys.session(sid), "tenant").await?;
        t.ok_or_else(ApiError::session_not_found)?
    } else {
        caller.tenant.clone()
    };
    let message_id = uuid::Uuid::now_v7().to_string();
    let now = now_rfc3339();
    let command = Command::Send {
        message_id: message_id.clone(),
        to: input.to.clone(),
        text: input.text,
        accepted_at: now.clone(),
    };
    let history = serde_json::to_string(&[StatusChange {
        status: MessageStatus::Queued,
        at: now.clone(),
        reason: None,
    }])
    .map_err(|_| ApiError::internal())?;
    let idem_key = input.idempotency_key.as_deref().unwrap_or("-");
    let mut conn = state.redis();
    let (outcome, message_id): (String, String) = ENQUEUE_SEND
        .key(keys.session(sid))
        .key(keys.idempotency(sid, idem_key))
        .key(keys.message(sid, &message_id))
        .key(keys.message_index(&message_id))
        .key(keys.commands(sid))
        .key(keys.lease(sid))
        .arg(&tenant)
        .arg(&message_id)
        .arg(&input.to)
        .arg(&now)
        .arg(command.to_json())
        .arg(state.config.message_ttl.as_secs())
        .arg(if input.idempotency_key.is_some() {
            "1"
        } else {
            "0"
        })
        .arg(sid)
        .arg(history)
        .arg(keys.worker_inbox_prefix())
        .arg(crate::doorbell::INBOX_CAP)
        .arg(crate::doorbell::INBOX_TTL_MS)
        .invoke_async(&mut conn)
        .await?;
    match outcome.as_str() {
        "queued" => {
            state.metrics.record_command("send");
            if state.config.send_wait.is_zero() {
                // Answer at once: the command was written in this very step, so the message is
                // `queued`, no need to read it back.
                return Ok(SendOutcome {
                    message_id,
                    status: MessageStatus::Queued,
                    reason: None,
                });
            }
        }
        "duplicate" => {}
        "not_found" => return Err(ApiError::session_not_found()),
        "logged_out" => {
            return Err(ApiError::conflict(
                ErrorCode::SessionLoggedOut,
                "The session is logged out; link it again with /connect before sending.",
            ));
        }
        "stopped" => {
            return Err(ApiError::conflict(
                ErrorCode::SessionNotRunning,
                "The session is disconnected; call /reconnect before sending.",
            ));
        }
        other => {
            tracing::error!(outcome = other, "unexpected enqueue_send outcome");
            return Err(ApiError::internal());
        }
    }
    wait_until_sent(state, sid, &message_id, state.config.send_wait).await
}

/// Waits up to `wait` for the message to leave `queued`. Registers interest before reading the
/// record, so a status reported in between is seen either way.
async fn wait_until_sent(
    state: &AppState,
    session_id: &str,
    message_id: &str,
    wait: Duration,
) -> ApiResult<SendOutcome> {
    let rx = state.bus.wait_for_message(message_id);
    let current = read_status(state, session_id, message_id).await?;
    let (status, reason) = match current {
        (MessageStatus::Queued, _) if !wait.is_zero() => match tokio::time::timeout(wait, rx).await
        {
            Ok(Ok(MessageStatus::Failed)) => read_status(state, session_id, message_id).await?,
            Ok(Ok(status)) => (status, None),
            _ => {
                state.bus.forget(message_id);
                read_status(state, session_id, message_id).await?
            }
        },
        other => {
            // The receiver goes first: `forget` drops only waiters whose receiver is gone.
            drop(rx);
            state.bus.forget(message_id);
            other
        }
    };
    Ok(SendOutcome {
        message_id: message_id.to_owned(),
        status,
        reason,
    })
}

async fn read_status(
    state: &AppState,
    session_id: &str,
    message_id: &str,
) -> ApiResult<(MessageStatus, Option<String>)> {
    let mut conn = state.redis();
    let (status, error): (Option<String>, Option<String>) = redis::cmd("HMGET")
        .arg(state.keys.message(session_id, message_id))
        .arg(message_field::STATUS)
        .arg(message_field::ERROR)
        .query_async(&mut conn)
        .await?;
    let status = status
        .as_deref()
        .and_then(MessageStatus::parse)
        .unwrap_or(MessageStatus::Queued);
    Ok((status, error.filter(|e| !e.is_empty())))
}

/// Reads a message the caller may see.
pub async fn get(state: &AppState, caller: &Caller, message_id: &str) -> ApiResult<MessageRecord> {
    if message_id.is_empty()
        || message_id.len() > 64
        || !message_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(ApiError::message_not_found());
    }
    let mut conn = state.redis();
    let session_id: Option<String> = conn.get(state.keys.message_index(message_id)).await?;
    let Some(session_id) = session_id else {
        return Err(ApiError::message_not_found());
    };
    let hash: HashMap<String, String> = conn
        .hgetall(state.keys.message(&session_id, message_id))
        .await?;
    match MessageRecord::from_hash(message_id, hash) {
        Some(record) if caller.may_access(&record.tenant) => Ok(record),
        _ => Err(ApiError::message_not_found()),
    }
}
