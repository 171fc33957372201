//! `SocketHub`: this pod's registry of WebSocket clients and what each subscribed to. The bus calls
//! `dispatch` for every event; the hub queues the frame on each interested socket without blocking.
//! A socket whose queue is full is flagged as too slow; its task then closes it with 1013.
//!
//! Subscriptions are indexed by session id and, for `*`, by tenant, so an event costs a lookup and
//! the sockets that want it, however many sockets the tenant has open.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
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

type Sockets = HashMap<u64, Arc<SocketEntry>>;

/// Which sockets want which events: by session id, and the `*` subscribers by tenant.
#[derive(Default)]
struct SubscriptionIndex {
    by_session: HashMap<String, Sockets>,
    all_of_tenant: HashMap<String, Sockets>,
}

fn index_insert(map: &mut HashMap<String, Sockets>, key: &str, entry: &Arc<SocketEntry>) {
    map.entry(key.to_owned())
        .or_default()
        .insert(entry.id, entry.clone());
}

fn index_remove(map: &mut HashMap<String, Sockets>, key: &str, id: u64) {
    if let Some(sockets) = map.get_mut(key) {
        sockets.remove(&id);
        if sockets.is_empty() {
            map.remove(key);
        }
    }
}

/// One registered socket.
pub struct SocketEntry {
    id: u64,
    pub tenant: String,
    subscriptions: Mutex<Subscriptions>,
    index: Arc<RwLock<SubscriptionIndex>>,
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

    /// Subscribes to one session, or with `None` to every session of the socket's tenant.
    pub fn subscribe(self: &Arc<Self>, session_id: Option<&str>) {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        match session_id {
            None => {
                subs.all = true;
                index_insert(&mut index.all_of_tenant, &self.tenant, self);
            }
            Some(sid) => {
                subs.sessions.insert(sid.to_owned());
                index_insert(&mut index.by_session, sid, self);
            }
        }
    }

    pub fn unsubscribe(&self, session_id: Option<&str>) {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        match session_id {
            None => {
                subs.all = false;
                index_remove(&mut index.all_of_tenant, &self.tenant, self.id);
            }
            Some(sid) => {
                subs.sessions.remove(sid);
                index_remove(&mut index.by_session, sid, self.id);
            }
        }
    }

    /// Drops every subscription of this socket from the index.
    fn unsubscribe_all(&self) {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        if subs.all {
            index_remove(&mut index.all_of_tenant, &self.tenant, self.id);
        }
        for sid in subs.sessions.drain() {
            index_remove(&mut index.by_session, &sid, self.id);
        }
        subs.all = false;
    }
}

#[derive(Default)]
pub struct SocketHub {
    next_id: AtomicU64,
    /// Sockets flagged as too slow since start.
    slow: AtomicU64,
    /// Sockets registered now.
    registered: AtomicUsize,
    index: Arc<RwLock<SubscriptionIndex>>,
}

/// Removes the socket and its subscriptions from the hub when dropped.
pub struct Registration {
    hub: Arc<SocketHub>,
    pub entry: Arc<SocketEntry>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.entry.unsubscribe_all();
        self.hub.registered.fetch_sub(1, Ordering::Relaxed);
    }
}

impl SocketHub {
    /// Registers a socket; events for it arrive on the returned receiver (bounded by `capacity`).
    pub fn register(
        self: &Arc<Self>,
        tenant: &str,
        capacity: usize,
    ) -> (Registration, mpsc::Receiver<Delivery>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let entry = Arc::new(SocketEntry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            tenant: tenant.to_owned(),
            subscriptions: Mutex::default(),
            index: self.index.clone(),
            tx,
            overflowed: AtomicBool::new(false),
            overflow: Notify::new(),
        });
        self.registered.fetch_add(1, Ordering::Relaxed);
        let registration = Registration {
            hub: self.clone(),
            entry,
        };
        (registration, rx)
    }

    /// Number of registered sockets.
    pub fn len(&self) -> usize {
        self.registered.load(Ordering::Relaxed)
    }

    /// Sockets flagged as too slow since start.
    pub fn slow_total(&self) -> u64 {
        self.slow.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues `event` (of `tenant`) on every socket that subscribed to it, once per socket.
    pub fn dispatch(&self, tenant: &str, event: &PublishedEvent) {
        let delivery = Delivery {
            tenant: Arc::from(tenant),
            event: Arc::new(event.clone()),
        };
        let deliver = |entry: &Arc<SocketEntry>| {
            if entry.overflowed() {
                return;
            }
            if entry.tx.try_send(delivery.clone()).is_err()
                && !entry.overflowed.swap(true, Ordering::AcqRel)
            {
                self.slow.fetch_add(1, Ordering::Relaxed);
                entry.overflow.notify_one();
            }
        };
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        let by_session = index.by_session.get(&event.session_id);
        if let Some(sockets) = by_session {
            sockets.values().for_each(deliver);
        }
        if let Some(sockets) = index.all_of_tenant.get(tenant) {
            sockets
                .values()
                .filter(|entry| by_session.is_none_or(|s| !s.contains_key(&entry.id)))
                .for_each(deliver);
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
        let (a, mut rx_a) = hub.register("t1", 8);
        let (b, mut rx_b) = hub.register("t2", 8);
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
        let (a, _rx) = hub.register("t1", 2);
        a.entry.subscribe(None);
        for i in 0..3 {
            hub.dispatch("t1", &event("s", &format!("{i}-0")));
        }
        assert!(a.entry.overflowed());
        assert_eq!(hub.slow_total(), 1);
    }

    #[test]
    fn a_socket_on_star_and_a_session_gets_each_event_once() {
        let hub = Arc::new(SocketHub::default());
        let (a, mut rx) = hub.register("t1", 8);
        a.entry.subscribe(None);
        a.entry.subscribe(Some("s1"));
        hub.dispatch("t1", &event("s1", "1-0"));
        hub.dispatch("t1", &event("s2", "2-0"));
        assert_eq!(rx.try_recv().unwrap().event.id, "1-0");
        assert_eq!(rx.try_recv().unwrap().event.id, "2-0");
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn unsubscribing_and_dropping_leave_nothing_in_the_index() {
        let hub = Arc::new(SocketHub::default());
        let (a, mut rx_a) = hub.register("t1", 8);
        let (b, _rx_b) = hub.register("t1", 8);
        a.entry.subscribe(Some("s1"));
        b.entry.subscribe(None);
        b.entry.subscribe(Some("s2"));
        a.entry.unsubscribe(Some("s1"));
        hub.dispatch("t1", &event("s1", "1-0"));
        assert!(rx_a.try_recv().is_err());
        drop(b);
        let index = hub.index.read().unwrap();
        assert!(index.by_session.is_empty() && index.all_of_tenant.is_empty());
        drop(index);
        assert_eq!(hub.len(), 1);
    }

    #[test]
    fn an_admin_socket_sees_another_tenants_session_it_subscribed_to() {
        let hub = Arc::new(SocketHub::default());
        let (admin, mut rx) = hub.register("ops", 8);
        admin.entry.subscribe(Some("s1"));
        admin.entry.subscribe(None);
        hub.dispatch("t1", &event("s1", "1-0"));
        hub.dispatch("t1", &event("s2", "2-0"));
        assert_eq!(rx.try_recv().unwrap().event.id, "1-0");
        assert!(rx.try_recv().is_err(), "'*' of ops does not cover t1");
    }
}
