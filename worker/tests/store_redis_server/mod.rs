//! A throwaway `redis-server` for one test: free loopback port, its own temp dir, no persistence,
//! killed and cleaned up on drop. Plus the few fixtures the store suites share.

#![allow(dead_code)]

use redis::aio::ConnectionManager;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wa_shared::envelope::Keyring;
use wa_shared::keys::Keys;
use wa_worker::store::{EncryptedStore, FenceToken};

pub struct RedisServer {
    child: Child,
    dir: PathBuf,
    pub port: u16,
}

impl RedisServer {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("wa-store-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        let server = Self { child, dir, port };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let client = redis::Client::open(self.url()).expect("url");
        loop {
            if let Ok(mut conn) = client.get_connection()
                && redis::cmd("PING").query::<String>(&mut conn).is_ok()
            {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not come up");
            std::thread::sleep(Duration::from_millis(5)); // poll interval, bounded by the deadline
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub async fn conn(&self) -> ConnectionManager {
        let client = redis::Client::open(self.url()).expect("url");
        ConnectionManager::new(client).await.expect("connect")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn keys() -> Keys {
    Keys::new("wa:")
}

pub fn keyring(spec: &[(&str, u8)]) -> Arc<Keyring> {
    Arc::new(
        Keyring::from_keys(
            spec.iter()
                .map(|(kid, fill)| (kid.to_string(), [*fill; 32]))
                .collect(),
        )
        .expect("keyring"),
    )
}

/// Sets the session's lease to `worker:epoch`, as a claim would.
pub async fn set_lease(conn: &mut ConnectionManager, sid: &str, fence: &FenceToken) {
    let _: () = redis::AsyncCommands::set(conn, keys().lease(sid), fence.lease_value())
        .await
        .expect("set lease");
}

/// A store for `sid` whose lease is held by `worker-1` at epoch 1.
pub async fn owned_store(
    server: &RedisServer,
    sid: &str,
    ring: Arc<Keyring>,
) -> (EncryptedStore, ConnectionManager) {
    let mut conn = server.conn().await;
    let fence = FenceToken::new("worker-1", 1);
    set_lease(&mut conn, sid, &fence).await;
    let store = EncryptedStore::new(conn.clone(), ring, &keys(), sid, fence);
    (store, conn)
}

/// Every key of the deployment matching `pattern`, sorted.
pub async fn keys_matching(conn: &mut ConnectionManager, pattern: &str) -> Vec<String> {
    let mut out: Vec<String> = redis::cmd("KEYS")
        .arg(pattern)
        .query_async(conn)
        .await
        .expect("KEYS");
    out.sort();
    out
}

/// A dump of every key and value of the deployment (for "nothing changed" assertions).
pub async fn dump_all(conn: &mut ConnectionManager) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for key in keys_matching(conn, "*").await {
        let dump: Vec<u8> = redis::cmd("DUMP")
            .arg(&key)
            .query_async(conn)
            .await
            .expect("DUMP");
        out.push((key, dump));
    }
    out
}
