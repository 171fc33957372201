//! The pod's event bus: one pattern subscription to every tenant channel (`wa:ev:*`), fanned out to
//! this pod's WebSocket clients and to `/send-message` calls waiting for their message to be sent.
//! The subscription is re-established after Redis drops it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use tokio::sync::{oneshot, watch};
use wa_shared::{
    events::{PublishedEvent, name},
    keys::Keys,
    records::MessageStatus,
};

use crate::ws::hub::SocketHub;

/// Handles to the bus; cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    waiters: Arc<Mutex<HashMap<String, Vec<oneshot::Sender<MessageStatus>>>>>,
    pub hub: Arc<SocketHub>,
    /// `true` while the pattern subscription is live.
    subscribed: watch::Receiver<bool>,
    subscribed_tx: Arc<watch::Sender<bool>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> Self {
        let (subscribed_tx, subscribed) = watch::channel(false);
        Self {
            waiters: Arc::default(),
            hub: Arc::new(SocketHub::default()),
            subscribed,
            subscribed_tx: Arc::new(subscribed_tx),
        }
    }

    /// Registers interest in a message's progress; the receiver gets its first status past `queued`.
    /// Dropping the receiver is fine; `forget` removes the entry.
    pub fn wait_for_message(&self, message_id: &str) -> oneshot::Receiver<MessageStatus> {
        let (tx, rx) = oneshot::channel();
        self.lock_waiters()
            .entry(message_id.to_owned())
            .or_default()
            .push(tx);
        rx
    }

    /// Removes waiters of a message whose caller gave up.
    pub fn forget(&self, message_id: &str) {
        let mut waiters = self.lock_waiters();
        if let Some(list) = waiters.get_mut(message_id) {
            list.retain(|tx| !tx.is_closed());
            if list.is_empty() {
                waiters.remove(message_id);
            }
        }
    }

    /// Waits until the pattern subscription is live (used at start and by tests).
    pub async fn wait_subscribed(&self, timeout: Duration) -> bool {
        let mut rx = self.subscribed.clone();
        tokio::time::timeout(timeout, rx.wait_for(|s| *s))
            .await
            .is_ok()
    }

    fn lock_waiters(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Vec<oneshot::Sender<MessageStatus>>>> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Routes one event received on `channel`.
    pub fn dispatch(&self, keys: &Keys, channel: &str, payload: &str) {
        let Some(tenant) = channel
            .strip_prefix(keys.prefix())
            .and_then(|rest| rest.strip_prefix("ev:"))
        else {
            return;
        };
        if self.hub.is_empty() && self.lock_waiters().is_empty() {
            // Nobody on this pod listens: no need to parse it.
            return;
        }
        let event: PublishedEvent = match serde_json::from_str(payload) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, channel, "ignoring an event that does not parse");
                return;
            }
        };
        if event.event == name::MESSAGE_SENT || event.event == name::MESSAGE_STATUS {
            self.wake_waiters(&event);
        }
        self.hub.dispatch(tenant, &event);
    }

    fn wake_waiters(&self, event: &PublishedEvent) {
        let Some(message_id) = event.message_id() else {
            return;
        };
        let status = event
            .data
            .get("status")
            .and_then(|s| s.as_str())
            .and_then(MessageStatus::parse)
            .unwrap_or(MessageStatus::Sent);
        if status == MessageStatus::Queued {
            return;
        }
        if let Some(list) = self.lock_waiters().remove(message_id) {
            for tx in list {
                let _ = tx.send(status);
            }
        }
    }

    /// Runs the subscription until `shutdown` fires, reconnecting with a short backoff.
    pub async fn run(self, client: redis::Client, keys: Keys, mut shutdown: watch::Receiver<bool>) {
        let pattern = keys.all_tenant_channels();
        let mut backoff = Duration::from_millis(100);
        loop {
            if *shutdown.borrow() {
                return;
            }
            match client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.psubscribe(&pattern).await {
                    Ok(()) => {
                        backoff = Duration::from_millis(100);
                        let _ = self.subscribed_tx.send(true);
                        tracing::info!("subscribed to tenant event channels");
                        let mut messages = pubsub.on_message();
                        loop {
                            tokio::select! {
                                _ = shutdown.changed() => return,
                                msg = messages.next() => match msg {
                                    Some(msg) => {
                                        let payload: String = match msg.get_payload() {
                                            Ok(p) => p,
                                            Err(_) => continue,
                                        };
                                        self.dispatch(&keys, msg.get_channel_name(), &payload);
                                    }
                                    None => break,
                                },
                            }
                        }
                        let _ = self.subscribed_tx.send(false);
                        tracing::warn!("event subscription lost; reconnecting");
                    }
                    Err(e) => tracing::warn!(error = %e, "psubscribe failed"),
                },
                Err(e) => tracing::warn!(error = %e, "cannot open the event subscription"),
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}
