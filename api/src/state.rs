//! `AppState`: what every handler shares — configuration, Redis (one shared multiplexed connection,
//! and a small pool for long reads), key names, the authenticator, metrics and the event bus.

use std::sync::Arc;

use deadpool_redis::{Connection, Pool};
use redis::aio::ConnectionManager;
use tokio::sync::watch;
use wa_shared::{envelope::Keyring, keys::Keys};

use crate::{
    auth::Authenticator, bus::EventBus, config::ApiConfig, error::ApiError, metrics::Metrics,
};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ApiConfig>,
    /// One multiplexed connection shared by every request: concurrent commands and scripts pipeline
    /// on it, so the number of connections (and the memory they hold) does not grow with the number
    /// of requests in flight, and no command pays a pool's `PING` check.
    pub shared: ConnectionManager,
    /// Connections of their own (`REDIS_POOL_SIZE`) for reads whose replies are long (event replay,
    /// session listings), so they do not hold up the commands queued behind them on `shared`.
    pub pool: Pool,
    pub keys: Keys,
    pub auth: Authenticator,
    pub metrics: Arc<Metrics>,
    pub bus: EventBus,
    /// Opens the sealed pairing QR of session records; `None` when no key is configured.
    pub keyring: Option<Arc<Keyring>>,
    /// Flips to `true` when the process shuts down; sockets close with 1001.
    pub shutdown: watch::Receiver<bool>,
}

impl AppState {
    /// The shared connection (it reconnects by itself; while Redis is unreachable its commands fail,
    /// which answers 503).
    pub fn redis(&self) -> ConnectionManager {
        self.shared.clone()
    }

    /// A pooled connection of its own for a long read, or 503 when Redis cannot be reached.
    pub async fn dedicated_redis(&self) -> Result<Connection, ApiError> {
        Ok(self.pool.get().await?)
    }
}
