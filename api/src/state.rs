//! `AppState`: what every handler shares — configuration, Redis (a pool, and one shared multiplexed
//! connection for single-command reads), key names, the authenticator, metrics and the event bus.

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
    pub pool: Pool,
    /// One multiplexed connection shared by every request for single-command reads. A pooled
    /// connection is checked with a `PING` round trip each time it is taken; a read that is one
    /// command does not need that, and concurrent reads pipeline on this connection.
    pub reads: ConnectionManager,
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
    /// A pooled Redis connection, or 503 when Redis cannot be reached.
    pub async fn redis(&self) -> Result<Connection, ApiError> {
        Ok(self.pool.get().await?)
    }

    /// The shared connection for a read that is a single command (it reconnects by itself; while
    /// Redis is unreachable its commands fail, which answers 503).
    pub fn reads(&self) -> ConnectionManager {
        self.reads.clone()
    }
}
