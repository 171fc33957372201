//! Events a session's owner publishes. Each is appended to the session's capped stream
//! (`wa:events:{sid}`, fields `event` and `data`) for replay and published, with the stream id, on the
//! tenant's channel (`wa:ev:<tenant>`) for live delivery — both in one step (`publish_event.lua`), so a
//! socket that replays then goes live sees each event once, in order.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Approximate cap of each session's event stream.
pub const EVENT_STREAM_MAXLEN: usize = 1000;

/// Names of the events, as the `event` field of frames and stream entries.
pub mod name {
    pub const QR_CODE: &str = "qr_code";
    pub const CONNECTION_SUCCESS: &str = "connection_success";
    pub const CONNECTION_LOST: &str = "connection_lost";
    pub const INCOMING_MESSAGE: &str = "incoming_message";
    pub const MESSAGE_SENT: &str = "message_sent";
    pub const MESSAGE_STATUS: &str = "message_status";
    pub const LOGGED_OUT: &str = "logged_out";
    pub const SESSION_FAILED: &str = "session_failed";

    pub const ALL: [&str; 8] = [
        QR_CODE,
        CONNECTION_SUCCESS,
        CONNECTION_LOST,
        INCOMING_MESSAGE,
        MESSAGE_SENT,
        MESSAGE_STATUS,
        LOGGED_OUT,
        SESSION_FAILED,
    ];
}

/// What travels on a tenant channel: the event with its stream id and session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedEvent {
    /// Id of the entry in the session's event stream (`lastEventId` for replay).
    pub id: String,
    pub session_id: String,
    pub event: String,
    pub data: Value,
}

impl PublishedEvent {
    /// The frame sent to WebSocket clients: `{"event","data","id"}`.
    pub fn to_frame(&self) -> Value {
        serde_json::json!({ "event": self.event, "data": self.data, "id": self.id })
    }

    /// The message id an event refers to, for `message_sent` and `message_status`.
    pub fn message_id(&self) -> Option<&str> {
        self.data.get("messageId").and_then(Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_event_parses_from_its_channel_payload() {
        let raw = r#"{"id":"1-0","sessionId":"s","event":"message_sent","data":{"messageId":"m"}}"#;
        let ev: PublishedEvent = serde_json::from_str(raw).unwrap();
        assert_eq!(ev.message_id(), Some("m"));
        assert_eq!(ev.to_frame()["id"], "1-0");
    }
}
