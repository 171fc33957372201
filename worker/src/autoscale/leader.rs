//! The single-active-autoscaler lease in Redis, and the drain marks written under its fence: only
//! the holder of the lease changes replicas or marks, so two autoscaler pods never fight.

use std::ops::Range;
use std::time::Duration;

use redis::aio::ConnectionLike;
use wa_shared::keys::Keys;
use wa_shared::scripts::{
    AUTOSCALER_ACQUIRE_LEASE, AUTOSCALER_APPLY_DRAIN_MARKS, AUTOSCALER_RELEASE_LEASE,
    AUTOSCALER_RENEW_LEASE,
};

/// This autoscaler's claim on the lease.
#[derive(Debug, Clone)]
pub struct AutoscalerLease {
    keys: Keys,
    holder: String,
    ttl_ms: u64,
    held: bool,
}

/// Drain marks lost to another leader: the lease changed hands between renewal and the write.
#[derive(Debug, thiserror::Error)]
#[error("the autoscaler lease is no longer held by this autoscaler")]
pub struct LeaseLost;

impl AutoscalerLease {
    pub fn new(keys: Keys, holder: impl Into<String>, ttl: Duration) -> Self {
        Self {
            keys,
            holder: holder.into(),
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            held: false,
        }
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Renews the lease when held, else tries to take it. Returns whether it is held now, and
    /// whether that changed (gained or lost) since the previous call.
    pub async fn hold<C: ConnectionLike + Send>(
        &mut self,
        conn: &mut C,
    ) -> redis::RedisResult<(bool, bool)> {
        let script = if self.held {
            &*AUTOSCALER_RENEW_LEASE
        } else {
            &*AUTOSCALER_ACQUIRE_LEASE
        };
        let got: i64 = script
            .key(self.keys.autoscaler_lease())
            .arg(&self.holder)
            .arg(self.ttl_ms)
            .invoke_async(conn)
            .await?;
        let now_held = got == 1;
        let changed = now_held != self.held;
        self.held = now_held;
        Ok((now_held, changed))
    }

    /// Marks the workers at `drain` ordinals and clears the marks of every other ordinal below
    /// `upper`, in one step fenced by the lease.
    pub async fn apply_drain_marks<C: ConnectionLike + Send>(
        &mut self,
        conn: &mut C,
        statefulset: &str,
        drain: Range<u32>,
        upper: u32,
        mark_ttl: Duration,
    ) -> anyhow::Result<()> {
        let mut invocation = AUTOSCALER_APPLY_DRAIN_MARKS.key(self.keys.autoscaler_lease());
        let mut marked = 0u32;
        for ordinal in drain.clone() {
            invocation.key(self.keys.drain(&format!("{statefulset}-{ordinal}")));
            marked += 1;
        }
        for ordinal in (0..upper.max(drain.end)).filter(|o| !drain.contains(o)) {
            invocation.key(self.keys.drain(&format!("{statefulset}-{ordinal}")));
        }
        let result: i64 = invocation
            .arg(&self.holder)
            .arg(marked)
            .arg(u64::try_from(mark_ttl.as_millis()).unwrap_or(u64::MAX))
            .invoke_async(conn)
            .await?;
        if result < 0 {
            self.held = false;
            return Err(LeaseLost.into());
        }
        Ok(())
    }

    /// Gives the lease up (at shutdown) so a standby takes over without waiting for the TTL.
    pub async fn release<C: ConnectionLike + Send>(
        &mut self,
        conn: &mut C,
    ) -> redis::RedisResult<()> {
        if self.held {
            let _: i64 = AUTOSCALER_RELEASE_LEASE
                .key(self.keys.autoscaler_lease())
                .arg(&self.holder)
                .invoke_async(conn)
                .await?;
            self.held = false;
        }
        Ok(())
    }
}
