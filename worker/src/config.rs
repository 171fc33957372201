//! The worker's settings, read from the environment once at start and validated, each error naming
//! the variable. A worker without a usable encryption key refuses to start.

use std::sync::Arc;
use std::time::Duration;

use wa_shared::config::{CommonConfig, ConfigError, optional, parse_or, ranged_or, string_or};
use wa_shared::envelope::Keyring;

/// WhatsApp's own WebSocket endpoint, used when `WA_WS_URL` is unset.
pub const DEFAULT_WA_WS_URL: &str = "wss://web.whatsapp.com/ws/chat";

#[derive(Clone)]
pub struct WorkerConfig {
    pub common: CommonConfig,
    /// This worker's name in leases, heartbeats and consumer groups (`WORKER_ID`, default the host
    /// name).
    pub worker_id: String,
    /// Most sessions this worker holds (`WORKER_CAPACITY`).
    pub capacity: usize,
    /// Lease time to live (`LEASE_TTL_MS`). Leases are renewed every third of it.
    pub lease_ttl: Duration,
    pub bind_addr: String,
    /// `/health`, `/ready`, `/metrics` (`WORKER_HTTP_PORT`).
    pub http_port: u16,
    pub keyring: Arc<Keyring>,
    /// Where clients connect (`WA_WS_URL`).
    pub wa_ws_url: String,
    /// Client version (`WA_VERSION`); when unset the library asks WhatsApp for the current one.
    pub wa_version: Option<(u32, u32, u32)>,
    /// A session never linked is stopped after this long (`PENDING_SESSION_TTL_S`).
    pub pending_session_ttl: Duration,
    /// Connects opened per second when many sessions arrive at once (`CONNECTS_PER_SECOND`).
    pub connects_per_second: u32,
    /// How long a graceful stop waits for all clients before leases are released anyway
    /// (`SHUTDOWN_GRACE_MS`, default 20000, well inside Kubernetes' 30 s).
    pub shutdown_grace: Duration,
    /// Least time between two sends of one session (`SEND_INTERVAL_MS`, default 0: no pacing).
    /// Sends that come faster wait in the session's queue, in order, unacknowledged, so they
    /// survive a change of owner like sends that wait for a connection.
    pub send_interval: Duration,
    /// One-time pre-keys generated and uploaded per batch (`PRE_KEY_COUNT`, default 812 as
    /// WhatsApp Web). They are most of a linked session's Redis memory; a smaller batch saves it,
    /// at the price of uploading again sooner when many new contacts start chats.
    pub pre_key_count: usize,
}

impl std::fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("worker_id", &self.worker_id)
            .field("capacity", &self.capacity)
            .field("lease_ttl", &self.lease_ttl)
            .field("http_port", &self.http_port)
            .field("wa_ws_url", &self.wa_ws_url)
            .field("wa_version", &self.wa_version)
            .field("send_interval", &self.send_interval)
            .field("pre_key_count", &self.pre_key_count)
            .finish_non_exhaustive()
    }
}

impl WorkerConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env()?;
        let worker_id = optional("WORKER_ID")
            .or_else(|| optional("HOSTNAME"))
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_string())
                    .filter(|h| !h.is_empty())
            })
            .unwrap_or_else(|| format!("worker-{}", uuid::Uuid::new_v4().simple()));
        if worker_id.len() > 128
            || !worker_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(ConfigError::new(
                "WORKER_ID",
                "must be 1-128 characters of letters, digits, '-', '_' or '.'",
            ));
        }
        let keyring = Keyring::from_env().map_err(|e| {
            ConfigError::new(
                "SESSION_ENCRYPTION_KEY",
                format!("{e}; generate one with `openssl rand -base64 32`"),
            )
        })?;
        let wa_version = match optional("WA_VERSION") {
            None => None,
            Some(raw) => Some(parse_version(&raw).ok_or_else(|| {
                ConfigError::new(
                    "WA_VERSION",
                    format!("must look like 2.3000.1027934701, got {raw:?}"),
                )
            })?),
        };
        let wa_ws_url = string_or("WA_WS_URL", DEFAULT_WA_WS_URL);
        if !(wa_ws_url.starts_with("ws://") || wa_ws_url.starts_with("wss://")) {
            return Err(ConfigError::new(
                "WA_WS_URL",
                "must start with ws:// or wss://",
            ));
        }
        Ok(Self {
            common,
            worker_id,
            capacity: ranged_or("WORKER_CAPACITY", 1000, 1, 100_000)? as usize,
            lease_ttl: Duration::from_millis(ranged_or("LEASE_TTL_MS", 10_000, 1_500, 600_000)?),
            bind_addr: string_or("BIND_ADDR", "0.0.0.0"),
            http_port: parse_or("WORKER_HTTP_PORT", 3003u16)?,
            keyring: Arc::new(keyring),
            wa_ws_url,
            wa_version,
            pending_session_ttl: Duration::from_secs(ranged_or(
                "PENDING_SESSION_TTL_S",
                600,
                10,
                86_400 * 30,
            )?),
            connects_per_second: ranged_or("CONNECTS_PER_SECOND", 50, 1, 10_000)? as u32,
            shutdown_grace: Duration::from_millis(ranged_or(
                "SHUTDOWN_GRACE_MS",
                20_000,
                100,
                600_000,
            )?),
            send_interval: Duration::from_millis(ranged_or("SEND_INTERVAL_MS", 0, 0, 3_600_000)?),
            pre_key_count: ranged_or("PRE_KEY_COUNT", 812, 5, 65_535)? as usize,
        })
    }

    /// How often leases are renewed: a third of the TTL.
    pub fn renew_interval(&self) -> Duration {
        self.lease_ttl / 3
    }

    /// How long after the last successful renewal a client may keep running: the TTL minus one
    /// renewal interval, so it is stopped before anyone else can claim the session.
    pub fn stop_deadline(&self) -> Duration {
        self.lease_ttl - self.renew_interval()
    }
}

/// Parses `2.3000.1027934701`.
pub fn parse_version(raw: &str) -> Option<(u32, u32, u32)> {
    let mut parts = raw.trim().split('.').map(|p| p.parse::<u32>().ok());
    let version = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_only_in_three_numeric_parts() {
        assert_eq!(
            parse_version("2.3000.1027934701"),
            Some((2, 3000, 1_027_934_701))
        );
        assert_eq!(parse_version("2.3000"), None);
        assert_eq!(parse_version("2.3000.1.4"), None);
        assert_eq!(parse_version("2.x.1"), None);
    }
}
