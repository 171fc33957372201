//! A real `whatsapp-rust` client pointed at the fake server: in-memory store, pinned version, no
//! history sync, and an event stream that tests (and the server's own contacts) wait on with a
//! deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use whatsapp_rust::bot::{Bot, BotHandle};
use whatsapp_rust::client::Client;
use whatsapp_rust::store::traits::Backend;
use whatsapp_rust::transport::TokioWebSocketTransportFactory;
use whatsapp_rust::types::events::Event;

use super::WA_VERSION;

/// A running client plus the events it emitted, in order.
pub struct RealClient {
    handle: BotHandle,
    client: Arc<Client>,
    events: mpsc::UnboundedReceiver<Arc<Event>>,
    backend: Arc<dyn Backend>,
}

/// Extra per-event work (the contact inbox hooks in here).
pub type EventTap = Arc<dyn Fn(&Event, &Arc<Client>) + Send + Sync>;

impl RealClient {
    /// Starts a client on `backend` against `ws_url` (`ws://…/ws/chat`).
    pub async fn start(ws_url: &str, backend: Arc<dyn Backend>) -> anyhow::Result<Self> {
        Self::start_with_tap(ws_url, backend, None).await
    }

    /// Like [`RealClient::start`], with a callback run on every event before it is queued.
    pub async fn start_with_tap(
        ws_url: &str,
        backend: Arc<dyn Backend>,
        tap: Option<EventTap>,
    ) -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let bot = Bot::builder()
            .with_backend_arc(backend.clone())
            .with_transport_factory(TokioWebSocketTransportFactory::new().with_url(ws_url))
            .with_version(WA_VERSION)
            .skip_history_sync()
            .on_event(move |event: Arc<Event>, client: Arc<Client>| {
                if let Some(tap) = &tap {
                    tap(&event, &client);
                }
                let _ = tx.send(event);
                async {}
            })
            .build()
            .await?;
        let handle = bot.spawn();
        let client = handle.client();
        Ok(Self {
            handle,
            client,
            events: rx,
            backend,
        })
    }

    /// A fresh in-memory store.
    pub fn memory_backend() -> Arc<dyn Backend> {
        Arc::new(wacore::store::InMemoryBackend::new())
    }

    pub fn client(&self) -> Arc<Client> {
        self.client.clone()
    }

    /// The store this client runs on (hand it to a new client to "restart" it).
    pub fn backend(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }

    /// Waits until `pick` accepts an event, skipping the others; fails after `within`.
    pub async fn wait_for<T>(
        &mut self,
        within: Duration,
        what: &str,
        mut pick: impl FnMut(&Event) -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(event)) => {
                    if let Some(found) = pick(&event) {
                        return Ok(found);
                    }
                }
                Ok(None) => anyhow::bail!("client stopped while waiting for {what}"),
                Err(_) => anyhow::bail!("no {what} within {within:?}"),
            }
        }
    }

    /// Waits for the next QR code string.
    pub async fn next_qr(&mut self, within: Duration) -> anyhow::Result<String> {
        self.wait_for(within, "PairingQrCode", |e| match e {
            Event::PairingQrCode(qr) => Some(qr.code.clone()),
            _ => None,
        })
        .await
    }

    /// Waits for `Connected`.
    pub async fn connected(&mut self, within: Duration) -> anyhow::Result<()> {
        self.wait_for(within, "Connected", |e| {
            matches!(e, Event::Connected(_)).then_some(())
        })
        .await
    }

    /// Stops the client, flushing its store.
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }

    /// Stops the client without flushing (as if the process died).
    pub fn abort(&self) {
        self.handle.abort();
    }
}
