//! State shared by every connection and the admin API: accounts, live sessions, pairing, offline
//! queues, counters. Locks are std mutexes held only for map updates, never across an await.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use wacore_binary::Node;

use super::FakeConfig;
use super::contacts::ContactBook;
use super::directory::Directory;
use super::noise_responder::ServerIdentity;
use super::pairing::PairingBook;
use super::stats::{Counters, StatsSnapshot};

/// What a connection's writer task is asked to do.
#[derive(Debug, Clone)]
pub enum Outbound {
    Node(Node),
    /// Close the socket (after whatever was queued before).
    Close,
}

/// A device address: phone number and device id.
pub type DeviceAddr = (String, u16);

/// The logged-in socket of one device.
struct LiveSession {
    conn_id: u64,
    tx: mpsc::UnboundedSender<Outbound>,
}

/// Everything the server shares.
pub struct ServerState {
    pub config: FakeConfig,
    pub identity: ServerIdentity,
    pub directory: Mutex<Directory>,
    pub pairing: Mutex<PairingBook>,
    pub counters: Counters,
    pub contacts: ContactBook,
    sessions: Mutex<HashMap<DeviceAddr, LiveSession>>,
    offline: Mutex<HashMap<DeviceAddr, VecDeque<Node>>>,
    delivered: Mutex<HashSet<(DeviceAddr, String)>>,
    next_conn_id: AtomicU64,
}

impl ServerState {
    pub fn new(config: FakeConfig, ws_url: String) -> Self {
        Self {
            config,
            identity: ServerIdentity::generate(),
            directory: Mutex::new(Directory::default()),
            pairing: Mutex::new(PairingBook::default()),
            counters: Counters::default(),
            contacts: ContactBook::new(ws_url),
            sessions: Mutex::new(HashMap::new()),
            offline: Mutex::new(HashMap::new()),
            delivered: Mutex::new(HashSet::new()),
            next_conn_id: AtomicU64::new(1),
        }
    }

    pub fn new_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Makes `conn_id` the live session of `addr`. An older live socket of the same device is told
    /// `conflict/replaced` and closed, and the overlap is counted.
    pub fn attach_session(
        &self,
        addr: &DeviceAddr,
        conn_id: u64,
        tx: mpsc::UnboundedSender<Outbound>,
    ) {
        let previous = {
            let mut sessions = self.sessions.lock().expect("sessions lock");
            sessions.insert(addr.clone(), LiveSession { conn_id, tx })
        };
        match previous {
            Some(old) => {
                Counters::bump(&self.counters.overlapping_connections);
                let _ = old
                    .tx
                    .send(Outbound::Node(super::stanza::stream_error_replaced()));
                let _ = old.tx.send(Outbound::Close);
            }
            None => Counters::bump(&self.counters.connections),
        }
    }

    /// Removes the live session of `addr` if it is still `conn_id`.
    pub fn detach_session(&self, addr: &DeviceAddr, conn_id: u64) {
        let mut sessions = self.sessions.lock().expect("sessions lock");
        if sessions.get(addr).is_some_and(|s| s.conn_id == conn_id) {
            sessions.remove(addr);
            self.counters.connections.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Queues `items` to the live socket of `addr`; false when the device is not connected.
    pub fn send_to(&self, addr: &DeviceAddr, items: Vec<Outbound>) -> bool {
        let sessions = self.sessions.lock().expect("sessions lock");
        match sessions.get(addr) {
            Some(s) => items.into_iter().all(|item| s.tx.send(item).is_ok()),
            None => false,
        }
    }

    /// Live device ids of `phone`.
    pub fn live_devices(&self, phone: &str) -> Vec<u16> {
        let sessions = self.sessions.lock().expect("sessions lock");
        sessions
            .keys()
            .filter(|(p, _)| p == phone)
            .map(|(_, d)| *d)
            .collect()
    }

    /// Delivers a stanza to a device now, or keeps it for the device's next login.
    pub fn deliver_or_queue(&self, addr: &DeviceAddr, node: Node) {
        let sessions = self.sessions.lock().expect("sessions lock");
        if let Some(s) = sessions.get(addr)
            && s.tx.send(Outbound::Node(node.clone())).is_ok()
        {
            return;
        }
        drop(sessions);
        let linked = self
            .directory
            .lock()
            .expect("directory lock")
            .device(&addr.0, addr.1)
            .is_some();
        if !linked {
            // Nobody will ever log in as this device: nothing to keep.
            return;
        }
        let mut offline = self.offline.lock().expect("offline lock");
        offline.entry(addr.clone()).or_default().push_back(node);
    }

    /// Takes the stanzas kept for a device while it was away.
    pub fn take_offline(&self, addr: &DeviceAddr) -> Vec<Node> {
        let mut offline = self.offline.lock().expect("offline lock");
        offline
            .remove(addr)
            .map(|q| q.into_iter().collect())
            .unwrap_or_default()
    }

    /// Records that message `id` went to `addr`; counts a repeat as a duplicate delivery.
    pub fn record_delivery(&self, addr: &DeviceAddr, id: &str) {
        let fresh = self
            .delivered
            .lock()
            .expect("delivered lock")
            .insert((addr.clone(), id.to_string()));
        if !fresh {
            Counters::bump(&self.counters.duplicate_deliveries);
        }
    }

    /// Closes every logged-in socket (server shutdown).
    pub fn close_all_sockets(&self) {
        let sessions = self.sessions.lock().expect("sessions lock");
        for session in sessions.values() {
            let _ = session.tx.send(Outbound::Close);
        }
    }

    pub fn stats(&self) -> StatsSnapshot {
        let accounts = self
            .directory
            .lock()
            .expect("directory lock")
            .account_count() as u64;
        self.counters.snapshot(accounts)
    }
}
