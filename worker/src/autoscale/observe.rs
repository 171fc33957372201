//! Reads what the autoscaler decides on from Redis: the number of sessions that should run and the
//! heartbeats of the StatefulSet's workers.

use std::collections::HashMap;

use redis::aio::ConnectionLike;
use wa_shared::keys::Keys;

use super::decision::{Observation, WorkerReport};

/// Takes one observation of the fleet. `current_replicas` comes from the StatefulSet's scale.
pub async fn observe_fleet<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &Keys,
    statefulset: &str,
    current_replicas: u32,
    at_ms: u64,
) -> redis::RedisResult<Observation> {
    let (running_sessions, worker_ids): (u64, Vec<String>) = redis::pipe()
        .scard(keys.running_sessions())
        .smembers(keys.workers())
        .query_async(conn)
        .await?;
    let ours: Vec<(u32, String)> = worker_ids
        .into_iter()
        .filter_map(|id| worker_ordinal(statefulset, &id).map(|ordinal| (ordinal, id)))
        .collect();
    let mut pipe = redis::pipe();
    for (_, id) in &ours {
        pipe.hgetall(keys.worker(id));
    }
    let beats: Vec<HashMap<String, String>> = if ours.is_empty() {
        Vec::new()
    } else {
        pipe.query_async(conn).await?
    };
    let workers = ours
        .iter()
        .zip(beats)
        // An empty hash is a heartbeat that expired: that worker is gone.
        .filter(|(_, fields)| !fields.is_empty())
        .map(|((ordinal, id), fields)| parse_heartbeat(*ordinal, id, &fields))
        .collect();
    Ok(Observation {
        at_ms,
        running_sessions,
        current_replicas,
        workers,
    })
}

/// The ordinal of a StatefulSet pod name `<statefulset>-<ordinal>`, or `None` for other ids.
pub fn worker_ordinal(statefulset: &str, worker_id: &str) -> Option<u32> {
    let digits = worker_id.strip_prefix(statefulset)?.strip_prefix('-')?;
    let ordinal: u32 = digits.parse().ok()?;
    (ordinal.to_string() == digits).then_some(ordinal)
}

/// Reads a heartbeat hash. A malformed one is treated as a busy, non-draining worker, so it is never
/// removed on the strength of data it did not write.
fn parse_heartbeat(ordinal: u32, id: &str, fields: &HashMap<String, String>) -> WorkerReport {
    let sessions = fields.get("sessions").and_then(|s| s.parse::<u64>().ok());
    let draining = fields.get("draining").map(String::as_str);
    if sessions.is_none() || !matches!(draining, None | Some("0") | Some("1")) {
        tracing::warn!(
            worker = id,
            "malformed worker heartbeat; treating it as busy"
        );
    }
    WorkerReport {
        ordinal,
        sessions: sessions.unwrap_or(u64::MAX),
        draining: sessions.is_some() && draining == Some("1"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_come_from_statefulset_pod_names() {
        assert_eq!(worker_ordinal("wa-worker", "wa-worker-0"), Some(0));
        assert_eq!(worker_ordinal("wa-worker", "wa-worker-12"), Some(12));
        assert_eq!(worker_ordinal("wa-worker", "wa-worker-012"), None);
        assert_eq!(worker_ordinal("wa-worker", "wa-worker-x"), None);
        assert_eq!(worker_ordinal("wa-worker", "wa-worker"), None);
        assert_eq!(worker_ordinal("wa-worker", "other-1"), None);
        assert_eq!(worker_ordinal("wa-worker", "wa-workers-1"), None);
        assert_eq!(worker_ordinal("wa-worker", "wa-worker--1"), None);
    }

    #[test]
    fn heartbeats_parse_and_malformed_ones_count_as_busy() {
        let beat = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let ok = parse_heartbeat(2, "w-2", &beat(&[("sessions", "0"), ("draining", "1")]));
        assert_eq!((ok.ordinal, ok.sessions, ok.draining), (2, 0, true));
        let bad = parse_heartbeat(1, "w-1", &beat(&[("sessions", "lots"), ("draining", "1")]));
        assert_eq!((bad.sessions, bad.draining), (u64::MAX, false));
        let missing = parse_heartbeat(1, "w-1", &beat(&[("capacity", "10")]));
        assert_eq!(missing.sessions, u64::MAX);
    }
}
