//! A whole gateway for end-to-end suites: a private Redis, the fake WhatsApp server (in process),
//! `wa-api` and `wa-worker` processes, and the steps a tenant takes (connect and scan, send,
//! watch events), each waiting on its condition with a deadline.

use std::time::Duration;

use serde_json::{Value, json};

use super::api::user_token;
use super::processes::{ApiProcess, WorkerProcess, WorkerSettings};
use super::ws_client::WsClient;
use super::{RedisServer, wait_until};
use crate::fake::{AdminClient, FakeConfig, FakeHandle, FakeWhatsApp, wa_version_string};

/// Pairing waits for the client's app-state key-share grace (~10 s) before `Connected`.
pub const PAIRING: Duration = Duration::from_secs(60);
pub const STEP: Duration = Duration::from_secs(30);
pub const TENANT: &str = "tenant-e2e";

pub struct Gateway {
    pub redis: RedisServer,
    pub fake: FakeHandle,
    pub admin: AdminClient,
    pub prefix: String,
    pub http: reqwest::Client,
    pub token: String,
}

impl Gateway {
    pub async fn start() -> Self {
        Self::start_with(FakeConfig::default()).await
    }

    /// Like [`Gateway::start`], with the fake server configured by `fake`.
    pub async fn start_with(fake: FakeConfig) -> Self {
        let redis = RedisServer::start();
        let fake = FakeWhatsApp::start(fake)
            .await
            .expect("fake WhatsApp starts");
        let admin = AdminClient::new(fake.admin_url());
        Self {
            redis,
            admin,
            fake,
            prefix: format!("e2e{}:", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            http: reqwest::Client::new(),
            token: user_token(TENANT),
        }
    }

    pub fn worker_settings(&self, lease_ttl_ms: u64) -> WorkerSettings {
        WorkerSettings {
            redis_url: self.redis.url(),
            prefix: self.prefix.clone(),
            wa_ws_url: self.fake.ws_url(),
            wa_version: wa_version_string(),
            lease_ttl_ms,
            capacity: 1000,
            connects_per_second: 50,
            open_file_limit: None,
            send_interval_ms: 0,
            pre_key_count: None,
        }
    }

    pub async fn api(&self) -> ApiProcess {
        ApiProcess::start(&self.redis.url(), &self.prefix).await
    }

    pub async fn worker(&self, id: &str, lease_ttl_ms: u64) -> WorkerProcess {
        WorkerProcess::start(id, &self.worker_settings(lease_ttl_ms)).await
    }

    /// POST `path` on `api` with the tenant's token; returns (status, body).
    pub async fn post(&self, api: &ApiProcess, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(api.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("request reaches the api");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, api: &ApiProcess, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(api.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request reaches the api");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A WebSocket on `api` subscribed to every session of the tenant.
    pub async fn watch_all(&self, api: &ApiProcess) -> WsClient {
        let mut ws = WsClient::connect(&api.ws_url(), Some(&self.token)).await;
        ws.send_json(json!({"event": "subscribe", "data": {"sessionId": "*"}}))
            .await;
        ws.next_event("subscribed", STEP).await;
        ws
    }

    /// The next event `name` of session `sid` on `ws`.
    pub async fn next_session_event(
        ws: &mut WsClient,
        name: &str,
        sid: &str,
        within: Duration,
    ) -> Value {
        let until = tokio::time::Instant::now() + within;
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            let frame = ws.next_event(name, left).await;
            if frame["data"]["sessionId"] == sid {
                return frame;
            }
        }
    }

    /// `POST /connect` for session `sid` (named after itself) as `phone`; asserts it is accepted.
    pub async fn connect(&self, api: &ApiProcess, sid: &str, phone: &str) {
        let (status, body) = self
            .post(
                api,
                "/connect",
                json!({"sessionId": sid, "sessionName": sid, "phoneNumber": phone}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Connects session `sid`, scans its first QR as `phone`, waits for `connection_success`.
    pub async fn link(&self, api: &ApiProcess, ws: &mut WsClient, sid: &str, phone: &str) {
        self.connect(api, sid, phone).await;
        let qr = Self::next_session_event(ws, "qr_code", sid, STEP).await;
        let raw = qr["data"]["qr"].as_str().expect("raw QR in qr_code");
        assert!(
            qr["data"]["qrCode"]
                .as_str()
                .is_some_and(|u| u.starts_with("data:image/png;base64,")),
            "qr_code carries a PNG data URL"
        );
        self.admin
            .scan(raw, phone)
            .await
            .expect("the fake phone scans");
        Self::next_session_event(ws, "connection_success", sid, PAIRING).await;
    }

    /// Links many sessions at once: connects them all, scans each QR as it appears, waits until all
    /// are connected. `sessions` are (session id, phone) pairs.
    pub async fn link_many(
        &self,
        api: &ApiProcess,
        ws: &mut WsClient,
        sessions: &[(String, String)],
    ) {
        for (sid, phone) in sessions {
            self.connect(api, sid, phone).await;
        }
        let mut scanned = std::collections::HashSet::new();
        let mut connected = std::collections::HashSet::new();
        let until = tokio::time::Instant::now() + PAIRING * 2;
        while connected.len() < sessions.len() {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            let frame = ws.next_json(left).await;
            let Some(sid) = frame["data"]["sessionId"].as_str().map(str::to_string) else {
                continue;
            };
            let Some((_, phone)) = sessions.iter().find(|(s, _)| *s == sid) else {
                continue;
            };
            match frame["event"].as_str() {
                Some("qr_code") if !scanned.contains(&sid) => {
                    let raw = frame["data"]["qr"].as_str().expect("raw QR");
                    self.admin
                        .scan(raw, phone)
                        .await
                        .expect("the fake phone scans");
                    scanned.insert(sid);
                }
                Some("connection_success") => {
                    connected.insert(sid);
                }
                _ => {}
            }
        }
    }

    /// Key names under this gateway's prefix.
    pub fn keys(&self) -> wa_shared::keys::Keys {
        wa_shared::keys::Keys::new(self.prefix.clone())
    }

    /// A connection of the test's own to the gateway's Redis.
    pub async fn redis_conn(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        self.redis.client().get_multiplexed_async_connection().await
    }

    /// The worker that owns `sid` according to its session record.
    pub async fn owner(&self, sid: &str) -> Option<String> {
        let mut conn = self.redis_conn().await.ok()?;
        let owner: Option<String> =
            redis::AsyncCommands::hget(&mut conn, self.keys().session(sid), "owner")
                .await
                .ok()?;
        owner.filter(|o| !o.is_empty())
    }

    /// Waits until no worker owns `sid`.
    pub async fn wait_released(&self, sid: &str, within: Duration) {
        wait_until("the lease released", within, || async {
            self.owner(sid).await.is_none().then_some(())
        })
        .await;
    }

    /// The session's status as `GET /session-status` reports it.
    pub async fn status(&self, api: &ApiProcess, sid: &str) -> String {
        let (_, body) = self.get(api, &format!("/session-status/{sid}")).await;
        body["status"].as_str().unwrap_or_default().to_string()
    }

    /// Waits until `GET /session-status` reports `want`.
    pub async fn wait_status(&self, api: &ApiProcess, sid: &str, want: &str, within: Duration) {
        wait_until(&format!("session {sid} {want}"), within, || async {
            (self.status(api, sid).await == want).then_some(())
        })
        .await;
    }

    /// Waits until the message's record reaches `want`.
    pub async fn wait_message(
        &self,
        api: &ApiProcess,
        id: &str,
        want: &str,
        within: Duration,
    ) -> Value {
        wait_until(&format!("message {id} {want}"), within, || async {
            let (status, body) = self.get(api, &format!("/messages/{id}")).await;
            (status == 200 && body["status"] == want).then_some(body)
        })
        .await
    }
}
