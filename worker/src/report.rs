//! `SessionReporter`: everything a session's owner tells the rest of the system — session status,
//! message progress, inbound messages, logout — each one fenced Lua step that updates the record
//! and then appends the event to the session's stream and publishes it on the tenant's channel
//! (`record_session_event.lua`, `record_message_status.lua`, `record_incoming_message.lua`,
//! `finish_logout.lua`). A refused fence means this worker no longer owns the session.

use redis::aio::ConnectionManager;
use serde_json::Value;
use wa_shared::commands::COMMAND_GROUP;
use wa_shared::events::EVENT_STREAM_MAXLEN;
use wa_shared::keys::Keys;
use wa_shared::records::{MessageStatus, now_rfc3339};
use wa_shared::scripts;

use crate::store::FenceToken;

/// How long inbound WhatsApp message ids are remembered for deduplication.
const INBOUND_SEEN_WINDOW_MS: u64 = 7 * 24 * 3600 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The lease is no longer ours: nothing was written.
    #[error("the session's lease is held by another owner")]
    Fenced,
    #[error("redis: {0}")]
    Redis(redis::RedisError),
}

impl From<redis::RedisError> for ReportError {
    fn from(err: redis::RedisError) -> Self {
        if err.to_string().contains("fenced") {
            ReportError::Fenced
        } else {
            ReportError::Redis(err)
        }
    }
}

/// Whether a message-status report changed the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusReport {
    Applied,
    /// The record already was at or past this status: nothing written, no event.
    Stale,
    /// The record expired.
    Missing,
}

/// Reports of one session under one fence token.
#[derive(Clone)]
pub struct SessionReporter {
    conn: ConnectionManager,
    keys: Keys,
    sid: String,
    channel: String,
    fence: FenceToken,
}

impl SessionReporter {
    pub fn new(
        conn: ConnectionManager,
        keys: Keys,
        sid: &str,
        tenant: &str,
        fence: FenceToken,
    ) -> Self {
        Self {
            channel: keys.tenant_channel(tenant),
            conn,
            keys,
            sid: sid.to_string(),
            fence,
        }
    }

    pub fn session_id(&self) -> &str {
        &self.sid
    }

    pub fn fence(&self) -> &FenceToken {
        &self.fence
    }

    /// Updates session hash fields (`updated_at` is added) and, with `event`, records and publishes it.
    pub async fn session(
        &self,
        fields: &[(&str, &str)],
        event: Option<(&str, Value)>,
    ) -> Result<(), ReportError> {
        let (name, data) = match &event {
            Some((name, data)) => (*name, data.to_string()),
            None => ("", String::new()),
        };
        let now = now_rfc3339();
        let mut invocation = scripts::RECORD_SESSION_EVENT.prepare_invoke();
        invocation
            .key(self.keys.lease(&self.sid))
            .key(self.keys.session(&self.sid))
            .key(self.keys.events(&self.sid))
            .key(self.keys.running_sessions())
            .arg(self.fence.lease_value())
            .arg(&self.channel)
            .arg(&self.sid)
            .arg(name)
            .arg(data)
            .arg(EVENT_STREAM_MAXLEN);
        for (field, value) in fields {
            invocation.arg(*field).arg(*value);
        }
        invocation.arg("updated_at").arg(now);
        let _: String = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// Advances message `message_id` to `status` and publishes `events` (name, data) if it moved;
    /// with `settles`, acknowledges that command entry in the same step.
    pub async fn message_status(
        &self,
        message_id: &str,
        status: MessageStatus,
        reason: Option<&str>,
        wa_id: Option<&str>,
        settles: Option<&str>,
        events: &[(&str, Value)],
    ) -> Result<StatusReport, ReportError> {
        let mut invocation = scripts::RECORD_MESSAGE_STATUS.prepare_invoke();
        invocation
            .key(self.keys.lease(&self.sid))
            .key(self.keys.message(&self.sid, message_id))
            .key(self.keys.events(&self.sid))
            .key(self.keys.commands(&self.sid))
            .arg(self.fence.lease_value())
            .arg(&self.channel)
            .arg(&self.sid)
            .arg(status.as_str())
            .arg(now_rfc3339())
            .arg(reason.unwrap_or(""))
            .arg(wa_id.unwrap_or(""))
            .arg(EVENT_STREAM_MAXLEN)
            .arg(settles.unwrap_or(""))
            .arg(COMMAND_GROUP);
        for (name, data) in events {
            invocation.arg(*name).arg(data.to_string());
        }
        let outcome: String = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(match outcome.as_str() {
            "applied" => StatusReport::Applied,
            "stale" => StatusReport::Stale,
            _ => StatusReport::Missing,
        })
    }

    /// Publishes an inbound message unless its WhatsApp id was already published. Returns whether
    /// it was new.
    pub async fn incoming(&self, wa_id: &str, data: &Value) -> Result<bool, ReportError> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let id: String = scripts::RECORD_INCOMING_MESSAGE
            .key(self.keys.lease(&self.sid))
            .key(self.keys.inbound_seen(&self.sid))
            .key(self.keys.events(&self.sid))
            .arg(self.fence.lease_value())
            .arg(&self.channel)
            .arg(&self.sid)
            .arg(data.to_string())
            .arg(EVENT_STREAM_MAXLEN)
            .arg(wa_id)
            .arg(now_ms)
            .arg(INBOUND_SEEN_WINDOW_MS)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(!id.is_empty())
    }

    /// After the client stopped: wipes the auth state, publishes `logged_out`, removes the session when it was
    /// deleted or keeps it `logged_out`/stopped, and drops the lease. Returns true when removed.
    pub async fn finish_logout(&self, reason: &str) -> Result<bool, ReportError> {
        let data = serde_json::json!({
            "sessionId": self.sid,
            "status": "logged_out",
            "reason": reason,
        });
        let outcome: String = scripts::FINISH_LOGOUT
            .key(self.keys.lease(&self.sid))
            .key(self.keys.session(&self.sid))
            .key(self.keys.events(&self.sid))
            .key(self.keys.running_sessions())
            .key(self.keys.commands(&self.sid))
            .key(self.keys.auth_registry(&self.sid))
            .arg(self.fence.lease_value())
            .arg(&self.channel)
            .arg(&self.sid)
            .arg(data.to_string())
            .arg(EVENT_STREAM_MAXLEN)
            .arg(now_rfc3339())
            .arg(reason)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(outcome == "removed")
    }
}
