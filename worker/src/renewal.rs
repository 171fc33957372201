//! Keeps this worker's leases alive: all of them renewed in one round trip every third of the TTL.
//! A lease found taken stops its session at once; when renewals keep failing (Redis unreachable,
//! process paused) every client is stopped once the last success is older than the TTL minus one
//! renewal interval — before any other worker can claim the sessions.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::fleet::Fleet;

pub async fn renew_leases(fleet: Arc<Fleet>, mut stop: watch::Receiver<bool>) {
    let interval = fleet.config.renew_interval();
    let deadline = fleet.config.stop_deadline();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_success = Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let held = fleet.held_leases();
        if held.is_empty() {
            last_success = Instant::now();
            continue;
        }
        let attempt = Instant::now();
        match tokio::time::timeout(interval, fleet.lease.renew(&held)).await {
            Ok(Ok(renewed)) => {
                // A renewal that succeeds proves the lease never expired (an expired lease no longer
                // holds our value), so nobody else can have claimed these sessions meanwhile.
                last_success = attempt;
                let lost: Vec<_> = held
                    .into_iter()
                    .zip(renewed)
                    .filter_map(|(lease, ok)| (!ok).then_some(lease))
                    .collect();
                if !lost.is_empty() {
                    tracing::warn!(count = lost.len(), "leases taken by another owner");
                    fleet.stop_lost(&lost);
                }
            }
            Ok(Err(error)) => tracing::warn!(%error, "lease renewal failed"),
            Err(_) => tracing::warn!("lease renewal timed out"),
        }
        if Instant::now().duration_since(last_success) >= deadline {
            tracing::error!("leases could not be renewed in time; stopping every client");
            fleet.stop_lost(&fleet.held_leases());
        }
    }
}
