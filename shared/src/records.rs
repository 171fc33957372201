//! The records kept in Redis about sessions and outbound messages, and their status vocabularies.
//! Field names here are the hash fields; `wa:session:{sid}` and `wa:msg:{sid}:<id>` in the design.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Where a session's connection stands, as reported by its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Connecting,
    Connected,
    Disconnected,
    LoggedOut,
    Failed,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
            Self::LoggedOut => "logged_out",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "connecting" => Self::Connecting,
            "connected" => Self::Connected,
            "disconnected" => Self::Disconnected,
            "logged_out" => Self::LoggedOut,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// What the session's tenant wants: a running connection, a stopped one (device kept), or the
/// session logged out and wiped (`deleted`; the record disappears once a worker has done it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Desired {
    Running,
    Stopped,
    Deleted,
}

impl Desired {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => Self::Running,
            "stopped" => Self::Stopped,
            "deleted" => Self::Deleted,
            _ => return None,
        })
    }
}

/// Where an outbound message stands; ordered by progress (`failed` is terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Queued,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// Hash fields of `wa:session:{sid}`.
pub mod session_field {
    pub const TENANT: &str = "tenant";
    pub const NAME: &str = "name";
    pub const PHONE: &str = "phone";
    pub const STATUS: &str = "status";
    pub const DESIRED: &str = "desired";
    pub const CREATED_AT: &str = "created_at";
    pub const UPDATED_AT: &str = "updated_at";
    pub const OWNER: &str = "owner";
    pub const EPOCH: &str = "epoch";
    pub const LAST_ERROR: &str = "last_error";
    /// The current pairing QR string, sealed with the envelope (absent when not pairing).
    pub const QR: &str = "qr";
    /// The WhatsApp JID the session is linked as, once paired.
    pub const JID: &str = "jid";
}

/// A session as read back from its hash.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub session_id: String,
    pub tenant: String,
    pub name: String,
    pub phone: String,
    pub status: SessionStatus,
    pub desired: Desired,
    pub created_at: String,
    pub updated_at: String,
    pub owner: Option<String>,
    pub epoch: u64,
    pub last_error: Option<String>,
    pub sealed_qr: Option<String>,
    pub jid: Option<String>,
}

impl SessionRecord {
    /// Builds the record from `HGETALL`; `None` when the hash is missing or not a session.
    pub fn from_hash(session_id: &str, mut h: HashMap<String, String>) -> Option<Self> {
        use session_field as f;
        let tenant = h.remove(f::TENANT)?;
        let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
        Some(Self {
            session_id: session_id.to_owned(),
            tenant,
            name: h.remove(f::NAME).unwrap_or_default(),
            phone: h.remove(f::PHONE).unwrap_or_default(),
            status: h
                .get(f::STATUS)
                .and_then(|s| SessionStatus::parse(s))
                .unwrap_or(SessionStatus::Disconnected),
            desired: h
                .get(f::DESIRED)
                .and_then(|s| Desired::parse(s))
                .unwrap_or(Desired::Stopped),
            created_at: h.remove(f::CREATED_AT).unwrap_or_default(),
            updated_at: h.remove(f::UPDATED_AT).unwrap_or_default(),
            owner: non_empty(h.remove(f::OWNER)),
            epoch: h.get(f::EPOCH).and_then(|e| e.parse().ok()).unwrap_or(0),
            last_error: non_empty(h.remove(f::LAST_ERROR)),
            sealed_qr: non_empty(h.remove(f::QR)),
            jid: non_empty(h.remove(f::JID)),
        })
    }
}

/// Hash fields of `wa:msg:{sid}:<id>`.
pub mod message_field {
    pub const SESSION_ID: &str = "session_id";
    pub const TENANT: &str = "tenant";
    pub const TO: &str = "to";
    pub const STATUS: &str = "status";
    pub const CREATED_AT: &str = "created_at";
    pub const UPDATED_AT: &str = "updated_at";
    /// JSON array of [`StatusChange`], oldest first.
    pub const HISTORY: &str = "history";
    pub const ERROR: &str = "error";
    /// The id WhatsApp knows the message by, once sent.
    pub const WA_ID: &str = "wa_id";
}

/// One step of a message's status history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    pub status: MessageStatus,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An outbound message as read back from its hash.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    pub message_id: String,
    pub session_id: String,
    pub tenant: String,
    pub to: String,
    pub status: MessageStatus,
    pub created_at: String,
    pub updated_at: String,
    pub history: Vec<StatusChange>,
    pub error: Option<String>,
    pub wa_id: Option<String>,
}

impl MessageRecord {
    pub fn from_hash(message_id: &str, mut h: HashMap<String, String>) -> Option<Self> {
        use message_field as f;
        let session_id = h.remove(f::SESSION_ID)?;
        Some(Self {
            message_id: message_id.to_owned(),
            session_id,
            tenant: h.remove(f::TENANT).unwrap_or_default(),
            to: h.remove(f::TO).unwrap_or_default(),
            status: h
                .get(f::STATUS)
                .and_then(|s| MessageStatus::parse(s))
                .unwrap_or(MessageStatus::Queued),
            created_at: h.remove(f::CREATED_AT).unwrap_or_default(),
            updated_at: h.remove(f::UPDATED_AT).unwrap_or_default(),
            history: h
                .get(f::HISTORY)
                .and_then(|j| serde_json::from_str(j).ok())
                .unwrap_or_default(),
            error: h.remove(f::ERROR).filter(|s| !s.is_empty()),
            wa_id: h.remove(f::WA_ID).filter(|s| !s.is_empty()),
        })
    }
}

/// Current time as RFC 3339 with milliseconds, UTC: the format of every timestamp we store.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_strings() {
        for s in [
            SessionStatus::Connecting,
            SessionStatus::Connected,
            SessionStatus::Disconnected,
            SessionStatus::LoggedOut,
            SessionStatus::Failed,
        ] {
            assert_eq!(SessionStatus::parse(s.as_str()), Some(s));
        }
        for s in [
            MessageStatus::Queued,
            MessageStatus::Sent,
            MessageStatus::Delivered,
            MessageStatus::Read,
            MessageStatus::Failed,
        ] {
            assert_eq!(MessageStatus::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn a_hash_without_tenant_is_not_a_session() {
        assert!(SessionRecord::from_hash("s", HashMap::new()).is_none());
        let h = HashMap::from([("tenant".to_owned(), "t".to_owned())]);
        let r = SessionRecord::from_hash("s", h).unwrap();
        assert_eq!(r.tenant, "t");
        assert_eq!(r.owner, None);
    }
}
