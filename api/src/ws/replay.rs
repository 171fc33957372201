//! Reading a session's capped event stream for replay after `lastEventId`, and telling whether
//! trimming removed events the client has not seen.

use redis::streams::StreamRangeReply;
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
    // Trimming removes the oldest entries; when the oldest kept one is newer than what the client
    // saw last, entries in between may have been trimmed (Redis does not record trimmed ids), so
    // the client is told. A client whose last event was exactly the newest trimmed one is told too.
    let first: StreamRangeReply = redis::cmd("XRANGE")
        .arg(stream_key)
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    let oldest = first.ids.first().map(|e| e.id.clone());
    let truncated = match (oldest.as_deref().and_then(stream_id), stream_id(last_id)) {
        (Some(oldest), Some(last)) => oldest > last,
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
    Ok(Replay {
        events,
        truncated,
        oldest: if truncated { oldest } else { None },
    })
}
