//! Redis key names. Every key the system writes starts with the configured prefix, and every key that
//! belongs to one session carries `{sid}` as a hash tag so a session's keys share a cluster slot.

/// Builds the Redis key names of one deployment (one prefix).
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Hash: tenant, name, phone, status, desired, created/updated, owner, epoch, last error.
    pub fn session(&self, sid: &str) -> String {
        format!("{}session:{{{sid}}}", self.prefix)
    }

    /// Set of every session id (admin listing, health counts).
    pub fn all_sessions(&self) -> String {
        format!("{}sessions", self.prefix)
    }

    /// Set of session ids whose desired state is `running` (autoscaler and orphan scans read it).
    pub fn running_sessions(&self) -> String {
        format!("{}sessions:running", self.prefix)
    }

    /// Set of one tenant's session ids.
    pub fn tenant_sessions(&self, tenant: &str) -> String {
        format!("{}tenant:{tenant}:sessions", self.prefix)
    }

    /// String `<worker-id>:<epoch>` with a PX TTL: the only proof of ownership.
    pub fn lease(&self, sid: &str) -> String {
        format!("{}lease:{{{sid}}}", self.prefix)
    }

    /// Stream (group `workers`): "this session needs an owner".
    pub fn claims(&self) -> String {
        format!("{}claims", self.prefix)
    }

    /// String with a short TTL: set when a worker re-queued this orphan, so the fleet queues one
    /// claim per orphan instead of one per worker.
    pub fn requeue_marker(&self, sid: &str) -> String {
        format!("{}claimq:{{{sid}}}", self.prefix)
    }

    /// Stream (group `owner`): commands for one session.
    pub fn commands(&self, sid: &str) -> String {
        format!("{}cmd:{{{sid}}}", self.prefix)
    }

    /// Stream: doorbells for one worker ("session X has commands").
    pub fn worker_inbox(&self, worker_id: &str) -> String {
        format!("{}{worker_id}", self.worker_inbox_prefix())
    }

    /// What every worker inbox name starts with: scripts that ring the owner named by a lease value
    /// append the worker id to it themselves.
    pub fn worker_inbox_prefix(&self) -> String {
        format!("{}inbox:", self.prefix)
    }

    /// Capped stream: the session's event log, replayed to reconnecting sockets.
    pub fn events(&self, sid: &str) -> String {
        format!("{}events:{{{sid}}}", self.prefix)
    }

    /// Pub/sub channel: live events of one tenant, read by every api pod.
    pub fn tenant_channel(&self, tenant: &str) -> String {
        format!("{}ev:{tenant}", self.prefix)
    }

    /// Pattern matching every tenant channel.
    pub fn all_tenant_channels(&self) -> String {
        format!("{}ev:*", self.prefix)
    }

    /// Prefix of every auth-state key of one session (`<this><kind>` hashes and strings).
    pub fn auth_prefix(&self, sid: &str) -> String {
        format!("{}auth:{{{sid}}}:", self.prefix)
    }

    /// Set listing every auth-state key of one session (the store adds each key it writes), so a
    /// wipe deletes exactly that session's keys without scanning the keyspace.
    pub fn auth_registry(&self, sid: &str) -> String {
        format!("{}registry", self.auth_prefix(sid))
    }

    /// Hash with TTL: one outbound message and its status history.
    pub fn message(&self, sid: &str, message_id: &str) -> String {
        format!("{}msg:{{{sid}}}:{message_id}", self.prefix)
    }

    /// String: message id -> session id, so `GET /messages/:id` finds the record.
    pub fn message_index(&self, message_id: &str) -> String {
        format!("{}msgidx:{message_id}", self.prefix)
    }

    /// String with TTL: idempotency key -> message id.
    pub fn idempotency(&self, sid: &str, key: &str) -> String {
        format!("{}idem:{{{sid}}}:{key}", self.prefix)
    }

    /// Set with TTL: inbound WhatsApp message ids already published (deduplication).
    pub fn inbound_seen(&self, sid: &str) -> String {
        format!("{}seen:{{{sid}}}", self.prefix)
    }

    /// Hash with TTL: a worker's heartbeat (sessions held, capacity, draining).
    pub fn worker(&self, worker_id: &str) -> String {
        format!("{}worker:{worker_id}", self.prefix)
    }

    /// Set of worker ids that have sent a heartbeat (entries expire with their hash).
    pub fn workers(&self) -> String {
        format!("{}workers", self.prefix)
    }

    /// String: present while the autoscaler wants this worker drained.
    pub fn drain(&self, worker_id: &str) -> String {
        format!("{}drain:{worker_id}", self.prefix)
    }

    /// String with TTL: the lease of the single active autoscaler.
    pub fn autoscaler_lease(&self) -> String {
        format!("{}autoscaler:lease", self.prefix)
    }

    /// Sorted set: per-tenant request counters for rate limiting (one key per tenant and window).
    pub fn rate(&self, scope: &str, window: u64) -> String {
        format!("{}rate:{scope}:{window}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_keys_share_a_hash_tag() {
        let k = Keys::new("wa:");
        assert_eq!(k.session("abc"), "wa:session:{abc}");
        assert_eq!(k.lease("abc"), "wa:lease:{abc}");
        assert_eq!(k.commands("abc"), "wa:cmd:{abc}");
        assert!(k.auth_prefix("abc").starts_with("wa:auth:{abc}:"));
    }

    #[test]
    fn every_key_starts_with_the_prefix() {
        let k = Keys::new("t1:");
        for key in [
            k.claims(),
            k.all_sessions(),
            k.tenant_channel("x"),
            k.worker("w"),
            k.message("s", "m"),
            k.idempotency("s", "i"),
        ] {
            assert!(key.starts_with("t1:"), "{key}");
        }
    }
}
