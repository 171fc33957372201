//! Commands the api writes to a session's command stream (`wa:cmd:{sid}`, group `owner`) and the
//! session's owner executes. Each stream entry has a `kind` field (for people reading the stream)
//! and a `cmd` field holding the command as JSON. Delivery is at least once: executing a command twice
//! must have the effect of executing it once (sends are keyed by their message id).

use serde::{Deserialize, Serialize};

/// Consumer group of every session command stream.
pub const COMMAND_GROUP: &str = "owner";
/// Consumer group of the claims stream.
pub const CLAIMS_GROUP: &str = "workers";
/// Stream field holding the command JSON.
pub const COMMAND_FIELD: &str = "cmd";
/// Stream field naming the command kind.
pub const KIND_FIELD: &str = "kind";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Send a text. `message_id` is ours (the api's); it is never sent twice.
    Send {
        message_id: String,
        /// Recipient phone number, digits only.
        to: String,
        text: String,
        /// When the api accepted it (RFC 3339).
        accepted_at: String,
    },
    /// Close the connection, keep the linked device and the lease released (`desired = stopped`).
    Disconnect,
    /// Drop and re-open the connection now (no QR when the device is linked).
    Reconnect,
    /// Log the device out of WhatsApp and wipe the session's auth state and records.
    Logout,
}

impl Command {
    pub fn kind(&self) -> &'static str {
        match self {
            Command::Send { .. } => "send",
            Command::Disconnect => "disconnect",
            Command::Reconnect => "reconnect",
            Command::Logout => "logout",
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("commands serialise")
    }

    pub fn from_json(s: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_as_json() {
        let c = Command::Send {
            message_id: "m1".into(),
            to: "15550001111".into(),
            text: "hi \"there\"".into(),
            accepted_at: "2026-01-01T00:00:00.000Z".into(),
        };
        let json = c.to_json();
        assert!(json.contains("\"type\":\"send\""));
        assert_eq!(Command::from_json(&json).unwrap(), c);
        assert_eq!(
            Command::from_json("{\"type\":\"logout\"}").unwrap(),
            Command::Logout
        );
    }
}
