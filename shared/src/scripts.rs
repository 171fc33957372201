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

// --- events, written by a session's owner ---
lua_script!(PUBLISH_EVENT, "publish_event.lua");

// --- autoscaler: the single-active-autoscaler lease and the workers' drain marks ---
lua_script!(AUTOSCALER_ACQUIRE_LEASE, "autoscaler_acquire_lease.lua");
lua_script!(AUTOSCALER_RENEW_LEASE, "autoscaler_renew_lease.lua");
lua_script!(AUTOSCALER_RELEASE_LEASE, "autoscaler_release_lease.lua");
lua_script!(
    AUTOSCALER_APPLY_DRAIN_MARKS,
    "autoscaler_apply_drain_marks.lua"
);
