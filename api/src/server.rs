//! Starting and stopping the api: build the state from the configuration, bind both listeners,
//! run the event bus, and shut down gracefully on SIGTERM/SIGINT (or a caller's signal).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::{net::TcpListener, sync::watch};
use wa_shared::{envelope::Keyring, keys::Keys};

use crate::{
    auth::Authenticator, bus::EventBus, config::ApiConfig, metrics::Metrics, routes,
    state::AppState,
};

/// A running api: its bound addresses and a way to stop it.
pub struct RunningApi {
    pub http_addr: SocketAddr,
    pub ws_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningApi {
    /// Stops accepting, closes sockets with 1001 and waits for in-flight requests.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// Waits until the server stops on its own (never, unless a listener fails).
    pub async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }

    pub fn stopper(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }
}

/// Builds the state and binds `PORT` and `WS_PORT`.
pub async fn start(config: ApiConfig) -> anyhow::Result<RunningApi> {
    let keyring = match Keyring::from_env() {
        Ok(k) => Some(Arc::new(k)),
        Err(wa_shared::envelope::KeyringError::Missing) => {
            tracing::warn!(
                "no SESSION_ENCRYPTION_KEY(S): pairing QR codes will not be shown by /session-status"
            );
            None
        }
        Err(e) => return Err(e).context("invalid encryption key configuration"),
    };
    start_with(config, keyring).await
}

/// Like [`start`] with an explicit keyring (tests).
pub async fn start_with(
    config: ApiConfig,
    keyring: Option<Arc<Keyring>>,
) -> anyhow::Result<RunningApi> {
    let auth = Authenticator::new(
        config.jwt_secret.as_deref(),
        &config.jwt_public_keys,
        config.service_token.as_deref(),
    )?;
    let mut pool_config = deadpool_redis::Config::from_url(config.common.redis_url.clone());
    let mut pool_settings = deadpool_redis::PoolConfig::new(config.redis_pool_size);
    pool_settings.timeouts.wait = Some(Duration::from_secs(2));
    pool_settings.timeouts.create = Some(Duration::from_secs(2));
    pool_settings.timeouts.recycle = Some(Duration::from_secs(2));
    pool_config.pool = Some(pool_settings);
    let pool = pool_config
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .context("REDIS_URL: cannot build the connection pool")?;
    let client = redis::Client::open(config.common.redis_url.as_str())
        .context("REDIS_URL is not a valid Redis URL")?;
    // One attempt per reconnect: while Redis is down a command fails at once (503) instead of
    // waiting through retries; the next command tries again.
    let shared = ConnectionManager::new_lazy_with_config(
        client.clone(),
        ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2))),
    )
    .context("REDIS_URL: cannot set up the shared connection")?;
    let keys = Keys::new(config.common.redis_prefix.clone());
    let (stop, stop_rx) = watch::channel(false);
    let bus = EventBus::new();
    let state = AppState {
        config: Arc::new(config.clone()),
        shared,
        pool,
        keys: keys.clone(),
        auth,
        metrics: Arc::new(Metrics::default()),
        bus: bus.clone(),
        keyring,
        shutdown: stop_rx.clone(),
    };
    let http = TcpListener::bind((config.bind_addr, config.port))
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}:{} (PORT)",
                config.bind_addr, config.port
            )
        })?;
    let ws = TcpListener::bind((config.bind_addr, config.ws_port))
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}:{} (WS_PORT)",
                config.bind_addr, config.ws_port
            )
        })?;
    let http_addr = http.local_addr()?;
    let ws_addr = ws.local_addr()?;
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(bus.clone().run(client, keys, stop_rx.clone())));
    for (listener, app) in [
        (http, routes::router(state.clone())),
        (ws, routes::ws_router(state.clone())),
    ] {
        let mut stop_rx = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "listener failed");
            }
        }));
    }
    // Give the subscription a moment so that the first sends can be confirmed; not required.
    let _ = bus.wait_subscribed(Duration::from_secs(2)).await;
    tracing::info!(%http_addr, %ws_addr, "api listening");
    Ok(RunningApi {
        http_addr,
        ws_addr,
        stop,
        tasks,
    })
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
