//! The api's configuration, read from the environment (and `.env`) and validated at start.

use std::{net::IpAddr, path::PathBuf, time::Duration};

use wa_shared::config::{self, CommonConfig, ConfigError};

#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub common: CommonConfig,
    pub bind_addr: IpAddr,
    /// REST and `/ws`.
    pub port: u16,
    /// The separate WebSocket port of the original service.
    pub ws_port: u16,
    /// HS256 secret; at least one of this and `jwt_public_keys` must be set.
    pub jwt_secret: Option<String>,
    /// PEM files (RS256 or ES256 public keys).
    pub jwt_public_keys: Vec<PathBuf>,
    /// Static admin credential of the original service.
    pub service_token: Option<String>,
    /// How long `/send-message` waits for the worker to report `sent`.
    pub send_wait: Duration,
    /// Lifetime of message records and idempotency keys.
    pub message_ttl: Duration,
    /// Requests per tenant per `rate_window` (0 disables the limit).
    pub rate_limit: u64,
    pub rate_window: Duration,
    /// Sends per session per `rate_window` (0 disables the limit).
    pub session_send_limit: u64,
    /// Seconds a WebSocket client has to authenticate with a first frame.
    pub ws_auth_timeout: Duration,
    /// Idle sockets (no frame, no pong) are closed after this.
    pub ws_idle_timeout: Duration,
    /// Frames queued for one socket before it is closed as too slow.
    pub ws_send_buffer: usize,
    /// Connections of the pool for long reads (event replay, session listings); every other
    /// command shares one multiplexed connection.
    pub redis_pool_size: usize,
}

impl ApiConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env()?;
        let bind_addr = config::parse_or("BIND_ADDR", IpAddr::from([0, 0, 0, 0]))?;
        let port = config::ranged_or("PORT", 3001, 0, 65535)? as u16;
        let ws_port = config::ranged_or("WS_PORT", 3002, 0, 65535)? as u16;
        let jwt_secret = config::optional("JWT_SECRET");
        if let Some(secret) = &jwt_secret
            && secret.len() < 16
        {
            return Err(ConfigError::new(
                "JWT_SECRET",
                "must be at least 16 characters",
            ));
        }
        let jwt_public_keys: Vec<PathBuf> = config::optional("JWT_PUBLIC_KEYS")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default();
        let service_token = config::optional("WHATSAPP_SERVICE_TOKEN");
        if let Some(token) = &service_token
            && token.len() < 16
        {
            return Err(ConfigError::new(
                "WHATSAPP_SERVICE_TOKEN",
                "must be at least 16 characters",
            ));
        }
        if jwt_secret.is_none() && jwt_public_keys.is_empty() && service_token.is_none() {
            return Err(ConfigError::new(
                "JWT_SECRET",
                "set JWT_SECRET, JWT_PUBLIC_KEYS or WHATSAPP_SERVICE_TOKEN so that callers can authenticate",
            ));
        }
        Ok(Self {
            common,
            bind_addr,
            port,
            ws_port,
            jwt_secret,
            jwt_public_keys,
            service_token,
            send_wait: Duration::from_millis(config::ranged_or(
                "SEND_WAIT_MS",
                10_000,
                0,
                120_000,
            )?),
            message_ttl: Duration::from_secs(config::ranged_or(
                "MESSAGE_TTL_S",
                7 * 24 * 3600,
                60,
                365 * 24 * 3600,
            )?),
            rate_limit: config::ranged_or("RATE_LIMIT_REQUESTS", 6000, 0, 100_000_000)?,
            rate_window: Duration::from_secs(config::ranged_or(
                "RATE_LIMIT_WINDOW_S",
                60,
                1,
                3600,
            )?),
            session_send_limit: config::ranged_or(
                "RATE_LIMIT_SENDS_PER_SESSION",
                600,
                0,
                100_000_000,
            )?,
            ws_auth_timeout: Duration::from_millis(config::ranged_or(
                "WS_AUTH_TIMEOUT_MS",
                5000,
                100,
                60_000,
            )?),
            ws_idle_timeout: Duration::from_millis(config::ranged_or(
                "WS_IDLE_TIMEOUT_MS",
                60_000,
                1000,
                3_600_000,
            )?),
            ws_send_buffer: config::ranged_or("WS_SEND_BUFFER", 1024, 1, 1_000_000)? as usize,
            redis_pool_size: config::ranged_or("REDIS_POOL_SIZE", 16, 1, 1024)? as usize,
        })
    }
}
