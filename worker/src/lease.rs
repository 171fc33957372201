//! `SessionLease`: claiming, renewing and releasing session leases, each one atomic Lua step
//! (`claim_session.lua`, `renew_leases.lua`, `release_session.lua`). The lease value
//! `<worker>:<epoch>` is the fence token every write of the owner is checked against.

use std::time::Duration;

use redis::aio::ConnectionManager;
use wa_shared::commands::{CLAIMS_GROUP, COMMAND_GROUP};
use wa_shared::keys::Keys;
use wa_shared::records::now_rfc3339;
use wa_shared::scripts;

use crate::store::FenceToken;

/// What a claim attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The session is ours for this epoch. `deleting` when it was claimed only to be logged out
    /// and wiped (`DELETE /sessions/:id` while nobody owned it).
    Claimed {
        fence: FenceToken,
        tenant: String,
        deleting: bool,
    },
    /// Another worker holds a live lease.
    Owned,
    /// The session no longer wants an owner (stopped).
    Stopped,
    /// The session does not exist.
    Gone,
}

/// Lease operations of one worker.
#[derive(Clone)]
pub struct SessionLease {
    conn: ConnectionManager,
    keys: Keys,
    worker_id: String,
    ttl: Duration,
}

impl SessionLease {
    pub fn new(conn: ConnectionManager, keys: Keys, worker_id: String, ttl: Duration) -> Self {
        Self {
            conn,
            keys,
            worker_id,
            ttl,
        }
    }

    fn ttl_ms(&self) -> u64 {
        self.ttl.as_millis() as u64
    }

    /// Claims `sid` when nobody holds it and it wants an owner.
    pub async fn claim(&self, sid: &str) -> redis::RedisResult<ClaimOutcome> {
        let (outcome, epoch, desired, tenant): (String, String, String, String) =
            scripts::CLAIM_SESSION
                .key(self.keys.session(sid))
                .key(self.keys.lease(sid))
                .key(self.keys.commands(sid))
                .arg(&self.worker_id)
                .arg(self.ttl_ms())
                .arg(now_rfc3339())
                .arg(COMMAND_GROUP)
                .invoke_async(&mut self.conn.clone())
                .await?;
        Ok(match outcome.as_str() {
            "claimed" => ClaimOutcome::Claimed {
                fence: FenceToken::new(&self.worker_id, epoch.parse().unwrap_or(0)),
                tenant,
                deleting: desired == "deleted",
            },
            "owned" => ClaimOutcome::Owned,
            "stopped" => ClaimOutcome::Stopped,
            _ => ClaimOutcome::Gone,
        })
    }

    /// Renews every lease in `held` in one round trip; returns, in order, whether each is still ours.
    pub async fn renew(&self, held: &[(String, FenceToken)]) -> redis::RedisResult<Vec<bool>> {
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = scripts::RENEW_LEASES.prepare_invoke();
        invocation.arg(self.ttl_ms());
        for (sid, fence) in held {
            invocation
                .key(self.keys.lease(sid))
                .arg(fence.lease_value());
        }
        let renewed: Vec<i64> = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(renewed.into_iter().map(|r| r == 1).collect())
    }

    /// Gives `sid` up if the lease is still `fence`; with `requeue`, another worker is asked to take
    /// it over at once. Returns whether the lease was still ours.
    pub async fn release(
        &self,
        sid: &str,
        fence: &FenceToken,
        requeue: bool,
    ) -> redis::RedisResult<bool> {
        let released: i64 = scripts::RELEASE_SESSION
            .key(self.keys.lease(sid))
            .key(self.keys.session(sid))
            .key(self.keys.claims())
            .arg(fence.lease_value())
            .arg(now_rfc3339())
            .arg(if requeue { "1" } else { "0" })
            .arg(sid)
            .arg(CLAIMS_GROUP)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(released == 1)
    }
}
