//! Sessions that want an owner but have none — their worker died without releasing them, or their
//! claim was lost — are found here and queued again (`requeue_orphans.lua`), and claim entries a
//! dead worker read but never acknowledged are taken over. Every live worker runs this once per
//! lease TTL; a short marker per session keeps the fleet from queueing one orphan many times.

use std::sync::Arc;

use redis::AsyncCommands;
use tokio::sync::watch;
use wa_shared::commands::CLAIMS_GROUP;
use wa_shared::scripts;

use crate::claims::execute_claim;
use crate::fleet::Fleet;
use crate::metrics::WorkerMetrics;

/// Sessions checked per script call.
const CHUNK: usize = 200;

pub async fn scan_orphans(fleet: Arc<Fleet>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(fleet.config.lease_ttl);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if !fleet.is_accepting() {
            continue;
        }
        match requeue_orphans(&fleet).await {
            Ok(0) => {}
            Ok(queued) => {
                tracing::info!(queued, "orphaned sessions queued for an owner");
                WorkerMetrics::add(&fleet.metrics.orphans_requeued, queued);
            }
            Err(error) => tracing::warn!(%error, "orphan scan failed"),
        }
        if fleet.has_room()
            && let Err(error) = take_over_stale_claims(&fleet).await
        {
            tracing::warn!(%error, "stale claims could not be taken over");
        }
    }
}

/// Queues a claim for every running session without a lease. Returns how many were queued.
pub async fn requeue_orphans(fleet: &Fleet) -> redis::RedisResult<u64> {
    let mut conn = fleet.conn.clone();
    let running: Vec<String> = conn.smembers(fleet.keys.running_sessions()).await?;
    let marker_ttl = fleet.config.lease_ttl.as_millis() as u64;
    let mut queued = 0;
    for chunk in running.chunks(CHUNK) {
        let mut invocation = scripts::REQUEUE_ORPHANS.prepare_invoke();
        invocation
            .key(fleet.keys.claims())
            .arg(CLAIMS_GROUP)
            .arg(marker_ttl);
        for sid in chunk {
            invocation
                .key(fleet.keys.session(sid))
                .key(fleet.keys.lease(sid))
                .key(fleet.keys.requeue_marker(sid))
                .arg(sid);
        }
        let n: u64 = invocation.invoke_async(&mut conn).await?;
        queued += n;
    }
    Ok(queued)
}

/// Claims entries another consumer read more than two TTLs ago without acknowledging, and
/// executes them.
async fn take_over_stale_claims(fleet: &Fleet) -> redis::RedisResult<()> {
    let mut conn = fleet.conn.clone();
    let stream = fleet.keys.claims();
    let min_idle = (fleet.config.lease_ttl * 2).as_millis() as u64;
    let reply: redis::streams::StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
        .arg(&stream)
        .arg(CLAIMS_GROUP)
        .arg(&fleet.config.worker_id)
        .arg(min_idle)
        .arg("0-0")
        .arg("COUNT")
        .arg(50)
        .query_async(&mut conn)
        .await?;
    for entry in &reply.claimed {
        execute_claim(fleet, &mut conn, &stream, entry).await;
    }
    Ok(())
}
