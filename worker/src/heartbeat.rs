//! The worker's heartbeat (`wa:worker:<id>`: sessions, capacity, draining; listed in `wa:workers`;
//! it also keeps the doorbell inbox `wa:inbox:<id>` alive) and what it reads back each beat: its own
//! drain mark, and the load of the other workers so the least-loaded take new sessions first
//! ([`claim_delay`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use tokio::sync::watch;

use crate::fleet::Fleet;
use crate::session::StopKind;

/// How often the heartbeat is written.
pub const BEAT: Duration = Duration::from_secs(1);
/// Extra delay a worker waits before reading a claim per session it holds above the least-loaded
/// peer with room, capped at [`MAX_CLAIM_DELAY`].
const DELAY_PER_SESSION: Duration = Duration::from_millis(100);
const MAX_CLAIM_DELAY: Duration = Duration::from_millis(1500);

/// Another worker's last heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerLoad {
    pub worker_id: String,
    pub sessions: usize,
    pub capacity: usize,
    pub draining: bool,
}

/// A claim decision made on a view older than this refreshes it first (one round trip), so a
/// burst of new sessions is spread on current loads rather than on last second's.
pub const FRESH_ENOUGH: Duration = Duration::from_millis(100);

/// The peers seen at the last beat, and when.
#[derive(Default)]
pub struct PeerView(Mutex<Option<(Instant, Vec<PeerLoad>)>>);

impl PeerView {
    pub fn snapshot(&self) -> Vec<PeerLoad> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(_, peers)| peers.clone())
            .unwrap_or_default()
    }

    /// How old the view is (`None` before the first beat).
    pub fn age(&self) -> Option<Duration> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(at, _)| at.elapsed())
    }

    fn replace(&self, peers: Vec<PeerLoad>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), peers));
    }
}

/// How long a worker holding `mine` sessions waits before taking a claim, given its peers: zero
/// when no peer with room holds fewer, else a delay growing with the difference, so the
/// least-loaded worker usually reads the claim first.
pub fn claim_delay(mine: usize, peers: &[PeerLoad]) -> Duration {
    let least = peers
        .iter()
        .filter(|p| !p.draining && p.sessions < p.capacity)
        .map(|p| p.sessions)
        .min();
    match least {
        Some(least) if least < mine => {
            (DELAY_PER_SESSION * (mine - least) as u32).min(MAX_CLAIM_DELAY)
        }
        _ => Duration::ZERO,
    }
}

/// Writes the heartbeat every [`BEAT`], follows the drain mark, hands sessions over while draining.
pub async fn beat(fleet: Arc<Fleet>, peers: Arc<PeerView>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(BEAT);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if let Err(error) = refresh(&fleet, &peers).await {
            tracing::warn!(%error, "heartbeat failed");
        }
        if fleet.is_draining() {
            // Hand over at the connect rate, so the receiving workers are not flooded.
            let batch = fleet.config.connects_per_second as usize;
            let mut sids = fleet.owned_sessions();
            sids.truncate(batch.max(1));
            if !sids.is_empty() {
                tracing::info!(count = sids.len(), "draining: handing sessions over");
                fleet.stop_sessions(&sids, StopKind::Handover);
            }
        }
    }
}

/// Writes this worker's heartbeat and reads everyone else's into `peers` (one round trip for the
/// write and the reads, plus one for the member list and drain mark).
pub async fn refresh(fleet: &Fleet, peers: &PeerView) -> redis::RedisResult<()> {
    let keys = &fleet.keys;
    let id = &fleet.config.worker_id;
    let mut conn = fleet.conn.clone();
    let ttl_ms = (fleet.config.lease_ttl * 3).as_millis() as i64;
    let (drain_mark, members): (bool, Vec<String>) = redis::pipe()
        .exists(keys.drain(id))
        .smembers(keys.workers())
        .query_async(&mut conn)
        .await?;
    if drain_mark != fleet.is_draining() {
        tracing::info!(draining = drain_mark, "drain mark changed");
        fleet.set_draining(drain_mark);
    }
    let held = fleet.held_count();
    let mut pipe = redis::pipe();
    pipe.hset_multiple(
        keys.worker(id),
        &[
            ("sessions", held.to_string()),
            ("capacity", fleet.config.capacity.to_string()),
            ("draining", if drain_mark { "1" } else { "0" }.to_string()),
            ("updated_at", wa_shared::records::now_rfc3339()),
        ],
    )
    .ignore()
    .pexpire(keys.worker(id), ttl_ms)
    .ignore()
    // The doorbell inbox lives as long as the heartbeat (the api gives a new inbox a TTL too).
    .pexpire(keys.worker_inbox(id), ttl_ms)
    .ignore()
    .sadd(keys.workers(), id)
    .ignore();
    let others: Vec<&String> = members.iter().filter(|m| *m != id).collect();
    for other in &others {
        pipe.hgetall(keys.worker(other));
    }
    let beats: Vec<HashMap<String, String>> = pipe.query_async(&mut conn).await?;
    let mut seen = Vec::new();
    for (other, fields) in others.into_iter().zip(beats) {
        if fields.is_empty() {
            // Its heartbeat expired: the worker is gone.
            let _: redis::RedisResult<i64> = conn.srem(keys.workers(), other).await;
            continue;
        }
        let number = |name: &str| fields.get(name).and_then(|v| v.parse::<usize>().ok());
        seen.push(PeerLoad {
            worker_id: other.clone(),
            sessions: number("sessions").unwrap_or(usize::MAX),
            capacity: number("capacity").unwrap_or(0),
            draining: fields.get("draining").map(String::as_str) == Some("1"),
        });
    }
    peers.replace(seen);
    Ok(())
}

/// Removes this worker's heartbeat and doorbell inbox (at shutdown).
pub async fn withdraw(fleet: &Fleet) {
    let id = &fleet.config.worker_id;
    let result: redis::RedisResult<()> = redis::pipe()
        .del(fleet.keys.worker(id))
        .ignore()
        .del(fleet.keys.worker_inbox(id))
        .ignore()
        .srem(fleet.keys.workers(), id)
        .ignore()
        .query_async(&mut fleet.conn.clone())
        .await;
    if let Err(error) = result {
        tracing::warn!(%error, "could not withdraw the heartbeat; it expires on its own");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(sessions: usize, capacity: usize, draining: bool) -> PeerLoad {
        PeerLoad {
            worker_id: "p".into(),
            sessions,
            capacity,
            draining,
        }
    }

    #[test]
    fn the_least_loaded_worker_claims_without_delay() {
        assert_eq!(claim_delay(3, &[peer(5, 10, false)]), Duration::ZERO);
        assert_eq!(claim_delay(3, &[]), Duration::ZERO);
        assert_eq!(
            claim_delay(5, &[peer(3, 10, false)]),
            Duration::from_millis(200)
        );
        assert_eq!(claim_delay(500, &[peer(0, 10, false)]), MAX_CLAIM_DELAY);
    }

    #[test]
    fn full_or_draining_peers_do_not_count() {
        assert_eq!(claim_delay(5, &[peer(1, 1, false)]), Duration::ZERO);
        assert_eq!(claim_delay(5, &[peer(0, 10, true)]), Duration::ZERO);
    }
}
