//! `SocketHub`: this pod's registry of WebSocket clients and what each subscribed to. The bus calls
//! `dispatch` for every event; the hub queues the frame on each interested socket without blocking.
//! A socket whose queue is full is flagged as too slow; its task then closes it with 1013.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use tokio::sync::{Notify, mpsc};
use wa_shared::events::PublishedEvent;

/// An event queued for a socket, with the tenant whose channel it came from.
#[derive(Clone)]
pub struct Delivery {
    pub tenant: Arc<str>,
    pub event: Arc<PublishedEvent>,
}

/// One registered socket.
pub struct SocketEntry {
    pub tenant: String,
    pub admin: bool,
    subscriptions: Mutex<Subscriptions>,
    tx: mpsc::Sender<Delivery>,
    overflowed: AtomicBool,
    pub overflow: Notify,
}

#[derive(Default)]
struct Subscriptions {
    /// Every session of the socket's tenant, current and future.
    all: bool,
    sessions: HashSet<String>,
}

impl SocketEntry {
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
    }

    /// Resolves once the socket has been flagged as too slow.
    pub async fn wait_overflow(&self) {
        while !self.overflowed() {
            self.overflow.notified().await;
        }
    }

    pub fn wants(&self, tenant: &str, session_id: &str) -> bool {
        let subs = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        (subs.all && tenant == self.tenant) || subs.sessions.contains(session_id)
    }

    pub fn subscribe(&self, session_id: Option<&str>) {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        match session_id {
            None => subs.all = true,
            Some(sid) => {
                subs.sessions.insert(sid.to_owned());
            }
        }
    }

    pub fn unsubscribe(&self, session_id: Option<&str>) {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        match session_id {
            None => subs.all = false,
            Some(sid) => {
                subs.sessions.remove(sid);
            }
        }
    }
}

#[derive(Default)]
pub struct SocketHub {
    next_id: AtomicU64,
    /// Sockets flagged as too slow since start.
    slow: AtomicU64,
    /// Sockets by tenant; admins are also listed under `admins` since they may watch any tenant.
    by_tenant: RwLock<HashMap<String, HashMap<u64, Arc<SocketEntry>>>>,
    admins: RwLock<HashMap<u64, Arc<SocketEntry>>>,
}

/// Removes the socket from the hub when dropped.
pub struct Registration {
    hub: Arc<SocketHub>,
    pub id: u64,
    pub entry: Arc<SocketEntry>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.remove(self.id, &self.entry);
    }
}

impl SocketHub {
    /// Registers a socket; events for it arrive on the returned receiver (bounded by `capacity`).
    pub fn register(
        self: &Arc<Self>,
        tenant: &str,
        admin: bool,
        capacity: usize,
    ) -> (Registration, mpsc::Receiver<Delivery>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let entry = Arc::new(SocketEntry {
            tenant: tenant.to_owned(),
            admin,
            subscriptions: Mutex::default(),
            tx,
            overflowed: AtomicBool::new(false),
            overflow: Notify::new(),
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.by_tenant
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(tenant.to_owned())
            .or_default()
            .insert(id, entry.clone());
        if admin {
            self.admins
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, entry.clone());
        }
        let registration = Registration {
            hub: self.clone(),
            id,
            entry,
        };
        (registration, rx)
    }

    fn remove(&self, id: u64, entry: &SocketEntry) {
        let mut by_tenant = self.by_tenant.write().unwrap_or_else(|e| e.into_inner());
        if let Some(sockets) = by_tenant.get_mut(&entry.tenant) {
            sockets.remove(&id);
            if sockets.is_empty() {
                by_tenant.remove(&entry.tenant);
            }
        }
        drop(by_tenant);
        if entry.admin {
            self.admins
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
        }
    }

    /// Number of registered sockets.
    pub fn len(&self) -> usize {
        self.by_tenant
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(HashMap::len)
            .sum()
    }

    /// Sockets flagged as too slow since start.
    pub fn slow_total(&self) -> u64 {
        self.slow.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues `event` (of `tenant`) on every socket that subscribed to it.
    pub fn dispatch(&self, tenant: &str, event: &PublishedEvent) {
        let delivery = Delivery {
            tenant: Arc::from(tenant),
            event: Arc::new(event.clone()),
        };
        let deliver = |entry: &Arc<SocketEntry>| {
            if entry.overflowed() || !entry.wants(tenant, &delivery.event.session_id) {
                return;
            }
            if entry.tx.try_send(delivery.clone()).is_err()
                && !entry.overflowed.swap(true, Ordering::AcqRel)
            {
                self.slow.fetch_add(1, Ordering::Relaxed);
                entry.overflow.notify_one();
            }
        };
        if let Some(sockets) = self
            .by_tenant
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant)
        {
            sockets.values().for_each(deliver);
        }
        for entry in self
            .admins
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            if entry.tenant != tenant {
                deliver(entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(sid: &str, id: &str) -> PublishedEvent {
        PublishedEvent {
            id: id.into(),
            session_id: sid.into(),
            event: "qr_code".into(),
            data: serde_json::json!({}),
        }
    }

    #[test]
    fn only_subscribed_sockets_of_the_tenant_get_events() {
        let hub = Arc::new(SocketHub::default());
        let (a, mut rx_a) = hub.register("t1", false, 8);
        let (b, mut rx_b) = hub.register("t2", false, 8);
        a.entry.subscribe(Some("s1"));
        b.entry.subscribe(None);
        hub.dispatch("t1", &event("s1", "1-0"));
        hub.dispatch("t1", &event("s2", "2-0"));
        assert_eq!(rx_a.try_recv().unwrap().event.id, "1-0");
        assert!(rx_a.try_recv().is_err());
        assert!(
            rx_b.try_recv().is_err(),
            "another tenant's '*' must not see t1"
        );
        assert_eq!(hub.len(), 2);
        drop(a);
        assert_eq!(hub.len(), 1);
    }

    #[test]
    fn a_full_queue_flags_the_socket_instead_of_growing() {
        let hub = Arc::new(SocketHub::default());
        let (a, _rx) = hub.register("t1", false, 2);
        a.entry.subscribe(None);
        for i in 0..3 {
            hub.dispatch("t1", &event("s", &format!("{i}-0")));
        }
        assert!(a.entry.overflowed());
        assert_eq!(hub.slow_total(), 1);
    }
}
