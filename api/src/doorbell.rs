//! Doorbells: after the api writes a command to a session's stream it tells the session's owner
//! (`wa:inbox:<worker-id>`), so a worker reads only the streams that have something new instead of
//! polling every stream it holds. A send rings inside `enqueue_send.lua`, the step that writes it;
//! the other commands ring with `ring_doorbell.lua` right after theirs is written. Best effort by
//! design: a worker also reads the streams of sessions it has just claimed and sweeps all of its
//! streams every few seconds, so a lost doorbell delays a command but never loses it.

use wa_shared::scripts::RING_DOORBELL;

use crate::state::AppState;

/// Doorbells kept per inbox (approximate); an owner this far behind catches up by its sweep.
pub const INBOX_CAP: u64 = 10_000;
/// TTL given to an inbox that has none yet; the owner's heartbeat keeps a live one alive.
pub const INBOX_TTL_MS: u64 = 60_000;

/// Rings whoever holds the session's lease now (nobody when the session has no owner).
pub async fn ring_owner(state: &AppState, session_id: &str) {
    let rung: redis::RedisResult<String> = RING_DOORBELL
        .key(state.keys.lease(session_id))
        .arg(state.keys.worker_inbox_prefix())
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
