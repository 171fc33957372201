//! The WebSocket wire format: frames are JSON text `{"event": …, "data": {…}}`; events from the
//! fleet also carry `"id"` (their id in the session's event stream).

use serde::Deserialize;
use serde_json::{Value, json};

/// What a client may send.
#[derive(Debug, PartialEq)]
pub enum ClientFrame {
    Auth {
        token: String,
    },
    Subscribe {
        session_id: String,
        last_event_id: Option<String>,
    },
    Unsubscribe {
        session_id: String,
    },
    Ping,
}

#[derive(Deserialize)]
struct RawFrame {
    event: String,
    #[serde(default)]
    data: Value,
}

/// Parses a client frame; the error is a sentence for an `error` frame.
pub fn parse(text: &str) -> Result<ClientFrame, String> {
    let raw: RawFrame = serde_json::from_str(text).map_err(|_| {
        "Frames must be JSON objects like {\"event\":\"subscribe\",\"data\":{…}}.".to_owned()
    })?;
    let field = |name: &str| -> Result<String, String> {
        raw.data
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("data.{name} must be a string."))
    };
    match raw.event.as_str() {
        "auth" => Ok(ClientFrame::Auth {
            token: field("token")?,
        }),
        "subscribe" => Ok(ClientFrame::Subscribe {
            session_id: field("sessionId")?,
            last_event_id: match raw.data.get("lastEventId") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => return Err("data.lastEventId must be a string.".to_owned()),
            },
        }),
        "unsubscribe" => Ok(ClientFrame::Unsubscribe {
            session_id: field("sessionId")?,
        }),
        "ping" => Ok(ClientFrame::Ping),
        other => Err(format!(
            "Unknown event {:?}; expected auth, subscribe, unsubscribe or ping.",
            other.chars().take(32).collect::<String>()
        )),
    }
}

pub fn error(code: &str, message: &str) -> String {
    json!({"event": "error", "data": {"code": code, "message": message}}).to_string()
}

pub fn authenticated(tenant: &str) -> String {
    json!({"event": "authenticated", "data": {"tenant": tenant}}).to_string()
}

pub fn subscribed(
    session_id: &str,
    status: Option<&str>,
    qr_code: Option<&str>,
    qr: Option<&str>,
) -> String {
    let mut data = json!({"sessionId": session_id, "status": status});
    if let Some(code) = qr_code {
        data["qrCode"] = json!(code);
        data["qr"] = json!(qr);
    }
    json!({"event": "subscribed", "data": data}).to_string()
}

pub fn unsubscribed(session_id: &str) -> String {
    json!({"event": "unsubscribed", "data": {"sessionId": session_id}}).to_string()
}

pub fn replay_truncated(session_id: &str, oldest: Option<&str>) -> String {
    json!({"event": "replay_truncated", "data": {"sessionId": session_id, "oldestEventId": oldest,
        "message": "Some events after lastEventId are no longer kept; replaying from the oldest kept."}})
    .to_string()
}

pub fn pong() -> String {
    json!({"event": "pong", "data": {}}).to_string()
}

/// A stream id `ms-seq` as a comparable pair.
pub fn stream_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_client_frames() {
        assert_eq!(
            parse(r#"{"event":"subscribe","data":{"sessionId":"s1","lastEventId":"1-2"}}"#),
            Ok(ClientFrame::Subscribe {
                session_id: "s1".into(),
                last_event_id: Some("1-2".into())
            })
        );
        assert_eq!(
            parse(r#"{"event":"auth","data":{"token":"t"}}"#),
            Ok(ClientFrame::Auth { token: "t".into() })
        );
        assert!(parse("nonsense").is_err());
        assert!(parse(r#"{"event":"subscribe","data":{}}"#).is_err());
        assert!(
            parse(r#"{"event":"subscribe","data":{"sessionId":"s","lastEventId":5}}"#).is_err()
        );
        assert!(parse(r#"{"event":"dance"}"#).is_err());
    }

    #[test]
    fn stream_ids_compare_numerically() {
        assert!(stream_id("10-0") > stream_id("9-5"));
        assert!(stream_id("9-10") > stream_id("9-9"));
        assert_eq!(stream_id("5"), Some((5, 0)));
        assert_eq!(stream_id("x-1"), None);
    }
}
