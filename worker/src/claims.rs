//! Where a worker takes sessions: it reads the claims stream (`wa:claims`, group `workers`) one
//! entry at a time while it has room, lets less-loaded peers go first
//! ([`crate::heartbeat::claim_delay`]), and claims the named session through
//! [`crate::lease::SessionLease`]. Entries are acknowledged whatever the outcome: a claim that
//! lost the race means someone else owns the session.

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use redis::streams::{StreamId, StreamReadOptions, StreamReadReply};
use tokio::sync::watch;
use wa_shared::commands::CLAIMS_GROUP;

use crate::fleet::Fleet;
use crate::heartbeat::{self, FRESH_ENOUGH, PeerView, claim_delay};

const BLOCK: Duration = Duration::from_millis(1000);

/// Reads and executes claims until `stop` turns true.
pub async fn consume_claims(
    fleet: Arc<Fleet>,
    peers: Arc<PeerView>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conn = loop {
        match fleet.blocking_connection(BLOCK * 3).await {
            Ok(conn) => break conn,
            Err(error) => {
                tracing::warn!(%error, "claims reader cannot connect to Redis; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    };
    let stream = fleet.keys.claims();
    let stream_keys = [stream.clone()];
    let worker_id = fleet.config.worker_id.clone();
    let _: redis::RedisResult<()> = conn
        .xgroup_create_mkstream(&stream, CLAIMS_GROUP, "0")
        .await;
    loop {
        if *stop.borrow() {
            return;
        }
        if peers.age().is_none_or(|age| age > FRESH_ENOUGH)
            && let Err(error) = heartbeat::refresh(&fleet, &peers).await
        {
            tracing::debug!(%error, "peer loads could not be refreshed");
        }
        let pause = if fleet.has_room() {
            claim_delay(fleet.held_count(), &peers.snapshot())
        } else {
            // Full or draining: leave the claims to others.
            Duration::from_millis(500)
        };
        if !pause.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => return,
            }
            if !fleet.has_room() {
                continue;
            }
        }
        let options = StreamReadOptions::default()
            .group(CLAIMS_GROUP, &worker_id)
            .count(1)
            .block(BLOCK.as_millis() as usize);
        let read: redis::RedisResult<Option<StreamReadReply>> = tokio::select! {
            read = conn.xread_options(&stream_keys, &[">"], &options) => read,
            _ = stop.changed() => return,
        };
        match read {
            Ok(Some(reply)) => {
                for entry in reply.keys.into_iter().flat_map(|k| k.ids) {
                    execute_claim(&fleet, &mut conn, &stream, &entry).await;
                }
            }
            Ok(None) => {}
            Err(error) => {
                if error.to_string().contains("NOGROUP") {
                    let _: redis::RedisResult<()> = conn
                        .xgroup_create_mkstream(&stream, CLAIMS_GROUP, "0")
                        .await;
                } else {
                    tracing::warn!(%error, "claims read failed");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = stop.changed() => return,
                    }
                }
            }
        }
    }
}

/// Claims the session named by one claims-stream entry, then acknowledges the entry.
pub async fn execute_claim<C: redis::aio::ConnectionLike + Send + Sync>(
    fleet: &Fleet,
    conn: &mut C,
    stream: &str,
    entry: &StreamId,
) {
    if let Some(sid) = entry.get::<String>("session")
        && let Err(error) = fleet.try_claim(&sid).await
    {
        tracing::warn!(session_id = %sid, %error, "claim failed; the orphan scan will retry");
    }
    let acked: redis::RedisResult<i64> = conn.xack(stream, CLAIMS_GROUP, &[&entry.id]).await;
    if let Err(error) = acked {
        tracing::warn!(%error, "claim acknowledgement failed");
    }
}
