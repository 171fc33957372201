//! Removing a session's auth state (`DELETE /sessions/:id`, a WhatsApp logout).

use redis::aio::ConnectionLike;
use wa_shared::keys::Keys;
use wa_shared::scripts;

/// Deletes every auth-state key of session `sid` (the keys its registry set lists, and the
/// registry) in one atomic step. Keys of other sessions are never named, so never touched.
/// Returns the number of keys deleted.
pub async fn wipe<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &Keys,
    sid: &str,
) -> redis::RedisResult<u64> {
    scripts::WIPE_AUTH_STATE
        .key(keys.auth_registry(sid))
        .invoke_async(conn)
        .await
}
