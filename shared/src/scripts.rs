//! The Lua scripts of the system, one file per atomic Redis step under `shared/lua/`, each loaded
//! once as a [`redis::Script`] (invoked with EVALSHA, loaded on first NOSCRIPT).

use redis::Script;
use std::sync::LazyLock;

// --- Auth state (the worker's encrypted whatsapp-rust store) ---

/// Applies a batch of set/hset/hdel/del/zadd/zrem for one session while the lease matches.
pub static FENCED_BATCH_WRITE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/fenced_batch_write.lua")));

/// Reads and removes one hash field (and its age-index entry) while the lease matches.
pub static FENCED_TAKE_FIELD: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/fenced_take_field.lua")));

/// Removes hash fields whose age-index score is at or below a cutoff while the lease matches.
pub static FENCED_DELETE_EXPIRED: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/fenced_delete_expired.lua")));

/// Deletes every auth-state key of a session listed in its registry set.
pub static WIPE_AUTH_STATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/wipe_auth_state.lua")));
