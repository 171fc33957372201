//! Reading a session's capped event stream for replay after `lastEventId`, and telling whether
//! trimming removed events the client has not seen.

use redis::{Value, streams::StreamRangeReply};
use wa_shared::events::PublishedEvent;

use super::frames::stream_id;

/// Events after `last_id`, oldest first, and whether some were trimmed away before they could be
/// replayed.
pub struct Replay {
    pub events: Vec<PublishedEvent>,
    pub truncated: bool,
    pub oldest: Option<String>,
}

const PAGE: usize = 500;

pub async fn read_after(
    conn: &mut impl redis::aio::ConnectionLike,
    stream_key: &str,
    session_id: &str,
    last_id: &str,
) -> redis::RedisResult<Replay> {
    let info: Value = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(stream_key)
        .query_async(conn)
        .await
        .unwrap_or(Value::Nil);
    let max_deleted = info_field(&info, "max-deleted-entry-id");
    let truncated = match (
        max_deleted.as_deref().and_then(stream_id),
        stream_id(last_id),
    ) {
        (Some(deleted), Some(last)) => deleted > last,
        _ => false,
    };
    let mut events = Vec::new();
    let mut start = format!("({last_id}");
    loop {
        let page: StreamRangeReply = redis::cmd("XRANGE")
            .arg(stream_key)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(PAGE)
            .query_async(conn)
            .await?;
        let n = page.ids.len();
        for entry in page.ids {
            let event: Option<String> = entry.get("event");
            let data: Option<String> = entry.get("data");
            if let (Some(event), Some(data)) = (event, data) {
                events.push(PublishedEvent {
                    id: entry.id.clone(),
                    session_id: session_id.to_owned(),
                    event,
                    data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                });
            }
            start = format!("({}", entry.id);
        }
        if n < PAGE {
            break;
        }
    }
    let oldest = if truncated {
        let first: StreamRangeReply = redis::cmd("XRANGE")
            .arg(stream_key)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query_async(conn)
            .await?;
        first.ids.first().map(|e| e.id.clone())
    } else {
        None
    };
    Ok(Replay {
        events,
        truncated,
        oldest,
    })
}

/// Finds `name` in an `XINFO STREAM` reply (a map in RESP3, a flat array in RESP2).
fn info_field(info: &Value, name: &str) -> Option<String> {
    let as_string = |v: &Value| match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    match info {
        Value::Array(items) => items
            .chunks(2)
            .find(|kv| kv.len() == 2 && as_string(&kv[0]).as_deref() == Some(name))
            .and_then(|kv| as_string(&kv[1])),
        Value::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| as_string(k).as_deref() == Some(name))
            .and_then(|(_, v)| as_string(v)),
        _ => None,
    }
}
