//! Every atomic Redis step of the system, each a Lua script in `shared/lua/` named after the step,
//! loaded once per process (`EVALSHA`, falling back to `EVAL` after a Redis restart).

use std::sync::LazyLock;

use redis::Script;

macro_rules! lua_script {
    ($name:ident, $file:literal) => {
        pub static $name: LazyLock<Script> =
            LazyLock::new(|| Script::new(include_str!(concat!("../lua/", $file))));
    };
}

// --- sessions and messages, written by the api ---
lua_script!(UPSERT_SESSION, "upsert_session.lua");
lua_script!(STOP_SESSION, "stop_session.lua");
lua_script!(DELETE_SESSION, "delete_session.lua");
lua_script!(ENQUEUE_SEND, "enqueue_send.lua");
lua_script!(COUNT_REQUEST, "count_request.lua");
lua_script!(RING_DOORBELL, "ring_doorbell.lua");

// --- events, written by a session's owner ---
lua_script!(PUBLISH_EVENT, "publish_event.lua");

// --- ownership and reports of a session's owner (the worker) ---
lua_script!(CLAIM_SESSION, "claim_session.lua");
lua_script!(RENEW_LEASES, "renew_leases.lua");
lua_script!(RELEASE_SESSION, "release_session.lua");
lua_script!(REQUEUE_ORPHANS, "requeue_orphans.lua");
lua_script!(RECORD_SESSION_EVENT, "record_session_event.lua");
lua_script!(RECORD_MESSAGE_STATUS, "record_message_status.lua");
lua_script!(RECORD_INCOMING_MESSAGE, "record_incoming_message.lua");
lua_script!(FINISH_LOGOUT, "finish_logout.lua");

// --- autoscaler: the single-active-autoscaler lease and the workers' drain marks ---
lua_script!(AUTOSCALER_ACQUIRE_LEASE, "autoscaler_acquire_lease.lua");
lua_script!(AUTOSCALER_RENEW_LEASE, "autoscaler_renew_lease.lua");
lua_script!(AUTOSCALER_RELEASE_LEASE, "autoscaler_release_lease.lua");
lua_script!(
    AUTOSCALER_APPLY_DRAIN_MARKS,
    "autoscaler_apply_drain_marks.lua"
);

// --- auth state, written by a session's owner (the worker's encrypted whatsapp-rust store) ---
// Apply a batch of set/hset/hdel/del/zadd/zrem for one session while the lease matches.
lua_script!(FENCED_BATCH_WRITE, "fenced_batch_write.lua");
// Read and remove one hash field (and its age-index entry) while the lease matches.
lua_script!(FENCED_TAKE_FIELD, "fenced_take_field.lua");
// Remove hash fields whose age-index score is at or below a cutoff while the lease matches.
lua_script!(FENCED_DELETE_EXPIRED, "fenced_delete_expired.lua");
// Delete every auth-state key of a session listed in its registry set (api DELETE, logout).
lua_script!(WIPE_AUTH_STATE, "wipe_auth_state.lua");
