//! Session operations behind the REST routes: connect, reconnect, disconnect, delete, status and
//! listing. Each write is one Lua step (`shared/lua/*_session.lua`); the worker fleet acts on what
//! these steps queue (claims and commands).

use std::collections::HashMap;

use redis::AsyncCommands;
use wa_shared::{
    commands::{CLAIMS_GROUP, COMMAND_GROUP},
    errors::ErrorCode,
    ids::{normalize_phone, validate_session_id},
    records::{Desired, SessionRecord, now_rfc3339},
    scripts::{DELETE_SESSION, STOP_SESSION, UPSERT_SESSION},
};

use crate::{
    auth::Caller,
    error::{ApiError, ApiResult},
    state::AppState,
};

/// Longest accepted session name.
pub const MAX_SESSION_NAME: usize = 256;

/// Whether a connect call creates/starts a session or forces a fresh connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectMode {
    Connect,
    Reconnect,
}

/// What a connect call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectOutcome {
    Created,
    Started,
    AlreadyRunning,
    Reconnecting,
}

/// Validated input of connect and reconnect.
#[derive(Debug, Clone)]
pub struct ConnectInput {
    pub session_id: String,
    pub name: String,
    pub phone: String,
}

impl ConnectInput {
    pub fn validate(
        session_id: Option<String>,
        name: Option<String>,
        phone: Option<String>,
    ) -> ApiResult<Self> {
        let session_id = checked_session_id(session_id.as_deref())?;
        let name = name.unwrap_or_default().trim().to_owned();
        if name.chars().count() > MAX_SESSION_NAME || name.chars().any(char::is_control) {
            return Err(ApiError::validation(format!(
                "sessionName must be at most {MAX_SESSION_NAME} characters without control characters."
            )));
        }
        let phone = match phone.as_deref().map(str::trim) {
            None | Some("") => String::new(),
            Some(raw) => normalize_phone(raw).map_err(|e| ApiError::validation(e.to_string()))?,
        };
        Ok(Self {
            session_id,
            name,
            phone,
        })
    }
}

/// Checks a session id given in a body or a path.
pub fn checked_session_id(id: Option<&str>) -> ApiResult<String> {
    let id = id.ok_or_else(|| ApiError::validation("sessionId is required."))?;
    validate_session_id(id).map_err(|e| ApiError::validation(e.to_string()))?;
    Ok(id.to_owned())
}

/// Loads a session the caller may see; 404 for missing, deleted and other tenants' sessions alike.
pub async fn load_visible(
    state: &AppState,
    caller: &Caller,
    session_id: &str,
) -> ApiResult<SessionRecord> {
    let hash: HashMap<String, String> = state
        .redis()
        .hgetall(state.keys.session(session_id))
        .await?;
    match SessionRecord::from_hash(session_id, hash) {
        Some(record) if record.desired != Desired::Deleted && caller.may_access(&record.tenant) => {
            Ok(record)
        }
        _ => Err(ApiError::session_not_found()),
    }
}

/// The tenant a call acts for on an existing session: the caller's own, or for admins the session's.
async fn acting_tenant(state: &AppState, caller: &Caller, session_id: &str) -> ApiResult<String> {
    if !caller.is_admin() {
        return Ok(caller.tenant.clone());
    }
    let mut conn = state.redis();
    let tenant: Option<String> = conn.hget(state.keys.session(session_id), "tenant").await?;
    Ok(tenant.unwrap_or_else(|| caller.tenant.clone()))
}

pub async fn connect(
    state: &AppState,
    caller: &Caller,
    input: &ConnectInput,
    mode: ConnectMode,
) -> ApiResult<ConnectOutcome> {
    let tenant = acting_tenant(state, caller, &input.session_id).await?;
    let keys = &state.keys;
    let sid = &input.session_id;
    let mut conn = state.redis();
    let (outcome, _status): (String, String) = UPSERT_SESSION
        .key(keys.session(sid))
        .key(keys.tenant_sessions(&tenant))
        .key(keys.all_sessions())
        .key(keys.running_sessions())
        .key(keys.claims())
        .key(keys.lease(sid))
        .key(keys.commands(sid))
        .arg(sid)
        .arg(&tenant)
        .arg(&input.name)
        .arg(&input.phone)
        .arg(now_rfc3339())
        .arg(match mode {
            ConnectMode::Connect => "connect",
            ConnectMode::Reconnect => "reconnect",
        })
        .arg(CLAIMS_GROUP)
        .arg(COMMAND_GROUP)
        .invoke_async(&mut conn)
        .await?;
    let outcome = match outcome.as_str() {
        "created" => ConnectOutcome::Created,
        "started" => ConnectOutcome::Started,
        "running" => ConnectOutcome::AlreadyRunning,
        "reconnecting" => ConnectOutcome::Reconnecting,
        "foreign" => {
            return Err(ApiError::conflict(
                ErrorCode::ValidationFailed,
                "This sessionId is not available; choose another.",
            ));
        }
        "deleting" => {
            return Err(ApiError::conflict(
                ErrorCode::SessionLoggedOut,
                "This session is being deleted; try again in a moment or choose another sessionId.",
            ));
        }
        other => {
            tracing::error!(outcome = other, "unexpected upsert_session outcome");
            return Err(ApiError::internal());
        }
    };
    match outcome {
        ConnectOutcome::Reconnecting | ConnectOutcome::Started => {
            state.metrics.record_command("reconnect");
            crate::doorbell::ring_owner(state, sid).await;
        }
        ConnectOutcome::Created => state.metrics.record_command("claim"),
        ConnectOutcome::AlreadyRunning => {}
    }
    Ok(outcome)
}

pub async fn disconnect(state: &AppState, caller: &Caller, session_id: &str) -> ApiResult<()> {
    let tenant = acting_tenant(state, caller, session_id).await?;
    let keys = &state.keys;
    let mut conn = state.redis();
    let outcome: String = STOP_SESSION
        .key(keys.session(session_id))
        .key(keys.running_sessions())
        .key(keys.lease(session_id))
        .key(keys.commands(session_id))
        .arg(session_id)
        .arg(&tenant)
        .arg(now_rfc3339())
        .invoke_async(&mut conn)
        .await?;
    if outcome == "not_found" {
        return Err(ApiError::session_not_found());
    }
    state.metrics.record_command("disconnect");
    crate::doorbell::ring_owner(state, session_id).await;
    Ok(())
}

pub async fn delete(state: &AppState, caller: &Caller, session_id: &str) -> ApiResult<()> {
    let tenant = acting_tenant(state, caller, session_id).await?;
    let keys = &state.keys;
    let mut conn = state.redis();
    let outcome: String = DELETE_SESSION
        .key(keys.session(session_id))
        .key(keys.tenant_sessions(&tenant))
        .key(keys.all_sessions())
        .key(keys.running_sessions())
        .key(keys.lease(session_id))
        .key(keys.commands(session_id))
        .key(keys.claims())
        .arg(session_id)
        .arg(&tenant)
        .arg(now_rfc3339())
        .arg(CLAIMS_GROUP)
        .invoke_async(&mut conn)
        .await?;
    if outcome == "not_found" {
        return Err(ApiError::session_not_found());
    }
    state.metrics.record_command("logout");
    crate::doorbell::ring_owner(state, session_id).await;
    Ok(())
}

/// The caller's sessions (admins: all, or one tenant's with `tenant_filter`), oldest first.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    tenant_filter: Option<&str>,
) -> ApiResult<Vec<SessionRecord>> {
    let set = match (caller.is_admin(), tenant_filter) {
        (true, Some(tenant)) => state.keys.tenant_sessions(tenant),
        (true, None) => state.keys.all_sessions(),
        (false, _) => state.keys.tenant_sessions(&caller.tenant),
    };
    let mut conn = state.dedicated_redis().await?;
    let ids: Vec<String> = conn.smembers(set).await?;
    let mut records = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(256) {
        let mut pipe = redis::pipe();
        for id in chunk {
            pipe.hgetall(state.keys.session(id));
        }
        let hashes: Vec<HashMap<String, String>> = pipe.query_async(&mut conn).await?;
        records.extend(
            chunk
                .iter()
                .zip(hashes)
                .filter_map(|(id, h)| SessionRecord::from_hash(id, h))
                .filter(|r| r.desired != Desired::Deleted && caller.may_access(&r.tenant)),
        );
    }
    records.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then_with(|| a.session_id.cmp(&b.session_id))
    });
    Ok(records)
}
