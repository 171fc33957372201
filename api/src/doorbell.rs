//! Doorbells: after the api writes a command to a session's stream it tells the session's owner
//! (`wa:inbox:<worker-id>`, `ring_doorbell.lua`), so a worker reads only the streams that have
//! something new instead of polling every stream it holds. Best effort by design: a worker also reads
//! the streams of sessions it has just claimed and sweeps all of its streams every few seconds, so
//! a lost doorbell delays a command but never loses it.

use wa_shared::scripts::RING_DOORBELL;

use crate::state::AppState;

/// Doorbells kept per inbox (approximate); an owner this far behind catches up by its sweep.
const INBOX_CAP: u64 = 10_000;
/// TTL given to an inbox that has none yet; the owner's heartbeat keeps a live one alive.
const INBOX_TTL_MS: u64 = 60_000;

/// Rings the owner named by `lease_value` (`<worker-id>:<epoch>`); nothing when there is no owner.
pub async fn ring(state: &AppState, session_id: &str, lease_value: &str) {
    let Some((worker_id, _epoch)) = lease_value.rsplit_once(':') else {
        return;
    };
    let rung: redis::RedisResult<String> = RING_DOORBELL
        .key(state.keys.worker_inbox(worker_id))
        .arg(session_id)
        .arg(INBOX_CAP)
        .arg(INBOX_TTL_MS)
        .invoke_async(&mut state.redis())
        .await;
    if let Err(error) = rung {
        // The command is written; its owner reads it at its next sweep.
        tracing::debug!(%error, session_id, "doorbell not rung");
    }
}

/// Rings whoever holds the session's lease now.
pub async fn ring_owner(state: &AppState, session_id: &str) {
    let lease: redis::RedisResult<Option<String>> = redis::cmd("GET")
        .arg(state.keys.lease(session_id))
        .query_async(&mut state.redis())
        .await;
    if let Ok(Some(lease_value)) = lease {
        ring(state, session_id, &lease_value).await;
    }
}
