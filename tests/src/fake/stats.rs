//! Counters the fake server exposes on `GET /admin/stats`, so tests can assert on what happened on
//! the wire (handshakes, routed stanzas, duplicate deliveries, overlapping logins).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Live counters, shared by every connection.
#[derive(Default)]
pub struct Counters {
    pub connections: AtomicU64,
    pub handshakes_xx: AtomicU64,
    pub handshakes_ik: AtomicU64,
    pub messages_routed: AtomicU64,
    pub receipts_routed: AtomicU64,
    pub duplicate_deliveries: AtomicU64,
    pub overlapping_connections: AtomicU64,
    pub devices_removed: AtomicU64,
    pub digests_answered: AtomicU64,
}

/// A snapshot as served by the admin API (camelCase JSON).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsSnapshot {
    /// Sockets currently logged in.
    pub connections: u64,
    /// Accounts with at least one linked device.
    pub accounts: u64,
    #[serde(rename = "handshakesXX")]
    pub handshakes_xx: u64,
    #[serde(rename = "handshakesIK")]
    pub handshakes_ik: u64,
    pub messages_routed: u64,
    pub receipts_routed: u64,
    pub duplicate_deliveries: u64,
    pub overlapping_connections: u64,
    /// Companion devices unlinked by their own `remove-companion-device` request (a logout).
    pub devices_removed: u64,
    /// `<digest>` queries answered with the device's bundle (a login checking its keys).
    pub digests_answered: u64,
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self, accounts: u64) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            connections: get(&self.connections),
            accounts,
            handshakes_xx: get(&self.handshakes_xx),
            handshakes_ik: get(&self.handshakes_ik),
            messages_routed: get(&self.messages_routed),
            receipts_routed: get(&self.receipts_routed),
            duplicate_deliveries: get(&self.duplicate_deliveries),
            overlapping_connections: get(&self.overlapping_connections),
            devices_removed: get(&self.devices_removed),
            digests_answered: get(&self.digests_answered),
        }
    }
}
