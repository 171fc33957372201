//! Rate limits shared by every api pod (fixed windows counted in Redis): requests per tenant, and
//! sends per session.

use std::time::{SystemTime, UNIX_EPOCH};

use wa_shared::scripts::COUNT_REQUEST;

use crate::{error::ApiError, state::AppState};

/// Counts a request of `tenant`; 429 with `Retry-After` once the window's budget is spent.
pub async fn check_tenant(state: &AppState, tenant: &str) -> Result<(), ApiError> {
    let limit = state.config.rate_limit;
    check(state, &format!("tenant:{tenant}"), limit).await
}

/// Counts a send on `session_id`; 429 once the window's budget is spent.
pub async fn check_session_send(state: &AppState, session_id: &str) -> Result<(), ApiError> {
    let limit = state.config.session_send_limit;
    check(state, &format!("send:{session_id}"), limit).await
}

async fn check(state: &AppState, scope: &str, limit: u64) -> Result<(), ApiError> {
    if limit == 0 {
        return Ok(());
    }
    let window_ms = state.config.rate_window.as_millis() as u64;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let key = state.keys.rate(scope, now_ms / window_ms);
    let mut conn = state.redis();
    let (count, ttl_ms): (u64, i64) = COUNT_REQUEST
        .key(key)
        .arg(window_ms)
        .invoke_async(&mut conn)
        .await?;
    if count > limit {
        let secs = (ttl_ms.max(0) as u64).div_ceil(1000);
        return Err(ApiError::rate_limited(secs));
    }
    Ok(())
}
