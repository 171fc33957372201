//! An in-process `wa-api` on free loopback ports against a private Redis, with tokens for a few
//! tenants — for suites that exercise the REST and WebSocket surface over real HTTP.

use std::{sync::Arc, time::Duration};

use wa_api::{config::ApiConfig, server::RunningApi, token::mint};
use wa_shared::{
    claims::Role,
    config::{CommonConfig, LogFormat, LogLevel},
    envelope::Keyring,
    keys::Keys,
};

use super::RedisServer;

pub const JWT_SECRET: &str = "test-jwt-secret-0123456789abcdef";
pub const SERVICE_TOKEN: &str = "test-service-token-0123456789";

/// The configuration tests start from: everything on loopback, ports picked by the OS.
pub fn test_config(redis_url: &str, prefix: &str) -> ApiConfig {
    ApiConfig {
        common: CommonConfig {
            redis_url: redis_url.to_owned(),
            redis_prefix: prefix.to_owned(),
            log_level: LogLevel::Warn,
            log_format: LogFormat::Pretty,
        },
        bind_addr: [127, 0, 0, 1].into(),
        port: 0,
        ws_port: 0,
        jwt_secret: Some(JWT_SECRET.to_owned()),
        jwt_public_keys: Vec::new(),
        service_token: Some(SERVICE_TOKEN.to_owned()),
        send_wait: Duration::from_millis(300),
        message_ttl: Duration::from_secs(3600),
        rate_limit: 0,
        rate_window: Duration::from_secs(60),
        session_send_limit: 0,
        ws_auth_timeout: Duration::from_millis(1500),
        ws_idle_timeout: Duration::from_secs(60),
        ws_send_buffer: 1024,
        redis_pool_size: 16,
    }
}

/// A fixed test keyring (the api opens sealed QR codes with it).
pub fn test_keyring() -> Arc<Keyring> {
    Arc::new(Keyring::from_keys(vec![("t1".to_owned(), [42u8; 32])]).expect("keyring"))
}

pub struct TestApi {
    pub redis: RedisServer,
    pub api: Option<RunningApi>,
    pub base: String,
    pub ws_base: String,
    pub keys: Keys,
    pub http: reqwest::Client,
    pub keyring: Arc<Keyring>,
}

impl TestApi {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with a configuration adjusted by `tune`.
    pub async fn start_with(tune: impl FnOnce(&mut ApiConfig)) -> Self {
        let redis = RedisServer::start();
        let prefix = "t:";
        let mut config = test_config(&redis.url(), prefix);
        tune(&mut config);
        let keyring = test_keyring();
        let api = wa_api::server::start_with(config, Some(keyring.clone()))
            .await
            .expect("api starts");
        Self {
            base: format!("http://{}", api.http_addr),
            ws_base: format!("ws://{}", api.ws_addr),
            api: Some(api),
            redis,
            keys: Keys::new(prefix),
            http: reqwest::Client::new(),
            keyring,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        self.redis
            .client()
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection")
    }

    pub async fn stop(&mut self) {
        if let Some(api) = self.api.take() {
            api.shutdown().await;
        }
    }
}

/// A user token of `tenant`, valid for an hour.
pub fn user_token(tenant: &str) -> String {
    mint(JWT_SECRET, tenant, Role::User, 3600)
}

/// An admin token of `tenant`.
pub fn admin_token(tenant: &str) -> String {
    mint(JWT_SECRET, tenant, Role::Admin, 3600)
}
