//! A fake WhatsApp server that real `whatsapp-rust` clients pair with (QR), log in to (Noise
//! XX/IK), message through and get kicked by. Start it in a test with [`FakeWhatsApp::start`], or
//! as the `fake-whatsapp` binary.

pub mod admin_client;
pub mod admin_http;
pub mod adv_identity;
pub mod chat_socket;
pub mod contacts;
pub mod directory;
pub mod iq_answers;
pub mod noise_responder;
pub mod pairing;
pub mod provisioning;
pub mod real_client;
pub mod routing;
pub mod server_state;
pub mod stanza;
pub mod stats;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use admin_client::AdminClient;
pub use real_client::RealClient;
pub use server_state::ServerState;
pub use stats::StatsSnapshot;

/// The client version (primary, secondary, tertiary) clients should pin with
/// `BotBuilder::with_version` so they never fetch one from the internet.
pub const WA_VERSION: (u32, u32, u32) = (2, 3000, 1_027_868_167);

/// [`WA_VERSION`] as the dotted string `2.3000.1027868167`.
pub fn wa_version_string() -> String {
    let (a, b, c) = WA_VERSION;
    format!("{a}.{b}.{c}")
}

/// How to run the fake server.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// WebSocket listen address (`/ws/chat`); port 0 picks a free one.
    pub listen: SocketAddr,
    /// Admin HTTP listen address; port 0 picks a free one.
    pub admin: SocketAddr,
    /// Lifetime of the first QR ref offered to a connection (the client shows it 60 s).
    pub qr_first_ref_ttl: Duration,
    /// Lifetime added for each later ref (the client shows each 20 s).
    pub qr_next_ref_ttl: Duration,
    /// How many QR refs a `<pair-device>` offers (WhatsApp offers 6); once the client has shown
    /// them all it reports them exhausted.
    pub qr_refs: u32,
}

impl Default for FakeConfig {
    fn default() -> Self {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            listen: loopback,
            admin: loopback,
            qr_first_ref_ttl: Duration::from_secs(60),
            qr_next_ref_ttl: Duration::from_secs(20),
            qr_refs: 6,
        }
    }
}

/// Entry point.
pub struct FakeWhatsApp;

/// A running fake server.
pub struct FakeHandle {
    listen: SocketAddr,
    admin: SocketAddr,
    state: Arc<ServerState>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl FakeWhatsApp {
    /// Binds both listeners and serves in background tasks.
    pub async fn start(config: FakeConfig) -> anyhow::Result<FakeHandle> {
        let chat_listener = TcpListener::bind(config.listen).await?;
        let admin_listener = TcpListener::bind(config.admin).await?;
        let listen = chat_listener.local_addr()?;
        let admin = admin_listener.local_addr()?;
        let state = Arc::new(ServerState::new(config, format!("ws://{listen}/ws/chat")));
        let (stop, stop_rx) = watch::channel(false);

        let chat_app = Router::new()
            .route("/ws/chat", get(upgrade))
            .with_state(state.clone());
        let admin_app = admin_http::router(state.clone());
        let tasks = vec![
            tokio::spawn(serve_until(chat_listener, chat_app, stop_rx.clone())),
            tokio::spawn(serve_until(admin_listener, admin_app, stop_rx)),
        ];
        Ok(FakeHandle {
            listen,
            admin,
            state,
            stop,
            tasks,
        })
    }
}

async fn serve_until(listener: TcpListener, app: Router, mut stop: watch::Receiver<bool>) {
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::warn!(error = %e, "fake server listener stopped");
    }
}

async fn upgrade(State(state): State<Arc<ServerState>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(1 << 24)
        .on_upgrade(move |socket| chat_socket::serve(state, socket))
}

impl FakeHandle {
    /// `ws://127.0.0.1:P/ws/chat`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws/chat", self.listen)
    }

    /// `http://127.0.0.1:P2` (routes live under `/admin/…`).
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin)
    }

    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// Links a new device to `phone` without a QR (see [`provisioning`]); save the returned
    /// record into a client's backend and the client logs in directly.
    pub fn provision_device(
        &self,
        phone: &str,
    ) -> Result<wacore::store::Device, provisioning::ProvisionError> {
        provisioning::provision_device(&self.state, phone, false)
    }

    /// The counters of `GET /admin/stats`.
    pub fn stats(&self) -> StatsSnapshot {
        self.state.stats()
    }

    /// Stops listening and stops the contact clients. Open sockets are closed by the clients'
    /// side noticing the listener is gone.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.state.close_all_sockets();
        self.state.contacts.stop_all().await;
        for task in self.tasks {
            task.abort();
            let _ = task.await;
        }
    }
}

/// Splits `phone[:device]@s.whatsapp.net` into its number and device (0 when absent).
pub fn jid_parts(jid: &str) -> Option<(String, u16)> {
    let (user, server) = jid.split_once('@')?;
    if server != stanza::SERVER {
        return None;
    }
    let (user, device) = match user.split_once(':') {
        Some((u, d)) => (u, d.parse().ok()?),
        None => (user, 0),
    };
    let user = user.split_once('.').map_or(user, |(u, _)| u);
    if user.is_empty() || !user.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((user.to_string(), device))
}
