//! The gateway's own binaries as real processes for end-to-end suites: `wa-api` and `wa-worker` on
//! free loopback ports, logs in a temporary directory, and the signals the suites need (SIGTERM,
//! SIGKILL, SIGSTOP/SIGCONT). Binaries come from the cargo target directory the test itself was
//! built into (`cargo test --workspace` builds them; a worker built there carries the test build's
//! `danger-skip-cert-chain-verify`, which pairing against the fake server needs).

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::api::{JWT_SECRET, SERVICE_TOKEN};
use super::free_port;

/// The encryption key every test worker uses (base64 of 32 bytes).
pub const TEST_ENCRYPTION_KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

/// Path of a binary of this workspace in the profile directory the running executable was built
/// into (a test runs from `<profile>/deps/`, a bench binary from `<profile>/`).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("executable path");
    let mut dir = exe.parent().expect("executable directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().expect("target profile directory");
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo test --workspace --no-run` (or `cargo build --workspace`)",
        path.display()
    );
    path
}

/// One child process, killed when dropped.
pub struct Process {
    pub name: String,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Process {
    /// Starts `command` with its output going to a log file.
    pub fn spawn(name: &str, mut command: Command) -> Self {
        let log = std::env::temp_dir().join(format!("wa-{name}-{}.log", uuid::Uuid::new_v4()));
        let file = std::fs::File::create(&log).expect("log file");
        let err = file.try_clone().expect("log file handle");
        command.stdout(Stdio::from(file)).stderr(Stdio::from(err));
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Self {
            name: name.to_string(),
            child: Some(child),
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {}", self.name);
    }

    /// SIGKILL, and reap it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn freeze(&self) {
        self.signal("STOP");
    }

    pub fn thaw(&self) {
        self.signal("CONT");
    }

    /// SIGTERM, then waits for the exit (at most `within`).
    pub fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        self.signal("TERM");
        let deadline = Instant::now() + within;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process's output so far (for assertion messages).
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_ref() {
            // A frozen process must be thawed to die cleanly under some kernels' accounting.
            let _ = Command::new("kill")
                .arg("-CONT")
                .arg(child.id().to_string())
                .status();
        }
        self.kill();
    }
}

/// Waits until `url` answers 200.
async fn wait_ready(process: &Process, url: &str, within: Duration) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + within;
    loop {
        if let Ok(response) = http.get(url).send().await
            && response.status().is_success()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} not ready at {url} within {within:?}; output:\n{}",
            process.name,
            process.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `wa-api` process.
pub struct ApiProcess {
    pub process: Process,
    pub port: u16,
    pub ws_port: u16,
}

impl ApiProcess {
    pub async fn start(redis_url: &str, prefix: &str) -> Self {
        Self::start_with(redis_url, prefix, 5000).await
    }

    /// Like [`ApiProcess::start`] with `SEND_WAIT_MS` set to `send_wait_ms`.
    pub async fn start_with(redis_url: &str, prefix: &str, send_wait_ms: u64) -> Self {
        let (port, ws_port) = (free_port(), free_port());
        let mut command = Command::new(workspace_binary("wa-api"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("REDIS_URL", redis_url)
            .env("REDIS_PREFIX", prefix)
            .env("BIND_ADDR", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("WS_PORT", ws_port.to_string())
            .env("JWT_SECRET", JWT_SECRET)
            .env("WHATSAPP_SERVICE_TOKEN", SERVICE_TOKEN)
            .env("SEND_WAIT_MS", send_wait_ms.to_string())
            .env("RATE_LIMIT_REQUESTS", "0")
            .env("RATE_LIMIT_SENDS_PER_SESSION", "0")
            .env("SESSION_ENCRYPTION_KEY", TEST_ENCRYPTION_KEY)
            .env("LOG_LEVEL", "info");
        let process = Process::spawn("wa-api", command);
        let api = Self {
            process,
            port,
            ws_port,
        };
        wait_ready(&api.process, &api.url("/ready"), Duration::from_secs(20)).await;
        api
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }
}

/// How a test worker is configured.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub redis_url: String,
    pub prefix: String,
    pub wa_ws_url: String,
    pub wa_version: String,
    pub lease_ttl_ms: u64,
    pub capacity: usize,
    pub connects_per_second: u32,
    /// Starts the worker under this open-file limit (soft and hard), through `prlimit`.
    pub open_file_limit: Option<u64>,
    /// `SEND_INTERVAL_MS` (0: no pacing).
    pub send_interval_ms: u64,
    /// `PRE_KEY_COUNT`; `None` leaves the worker's default.
    pub pre_key_count: Option<usize>,
}

/// A `wa-worker` process.
pub struct WorkerProcess {
    pub process: Process,
    pub id: String,
    pub http_port: u16,
}

impl WorkerProcess {
    pub async fn start(id: &str, settings: &WorkerSettings) -> Self {
        let http_port = free_port();
        let mut command = match settings.open_file_limit {
            None => Command::new(workspace_binary("wa-worker")),
            Some(limit) => {
                let mut prlimit = Command::new("prlimit");
                prlimit
                    .arg(format!("--nofile={limit}:{limit}"))
                    .arg("--")
                    .arg(workspace_binary("wa-worker"));
                prlimit
            }
        };
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("REDIS_URL", &settings.redis_url)
            .env("REDIS_PREFIX", &settings.prefix)
            .env("BIND_ADDR", "127.0.0.1")
            .env("WORKER_ID", id)
            .env("WORKER_HTTP_PORT", http_port.to_string())
            .env("WORKER_CAPACITY", settings.capacity.to_string())
            .env("LEASE_TTL_MS", settings.lease_ttl_ms.to_string())
            .env("SESSION_ENCRYPTION_KEY", TEST_ENCRYPTION_KEY)
            .env("WA_WS_URL", &settings.wa_ws_url)
            .env("WA_VERSION", &settings.wa_version)
            .env("SHUTDOWN_GRACE_MS", "8000")
            .env(
                "CONNECTS_PER_SECOND",
                settings.connects_per_second.to_string(),
            )
            .env("SEND_INTERVAL_MS", settings.send_interval_ms.to_string())
            .env("LOG_LEVEL", "info");
        if let Some(count) = settings.pre_key_count {
            command.env("PRE_KEY_COUNT", count.to_string());
        }
        let process = Process::spawn(&format!("wa-worker-{id}"), command);
        let worker = Self {
            process,
            id: id.to_string(),
            http_port,
        };
        wait_ready(
            &worker.process,
            &worker.url("/ready"),
            Duration::from_secs(20),
        )
        .await;
        worker
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    /// The worker's `/health` document; `None` while it does not answer.
    pub async fn health(&self) -> Option<serde_json::Value> {
        reqwest::get(self.url("/health"))
            .await
            .ok()?
            .json()
            .await
            .ok()
    }

    /// The worker's `/metrics` text; `None` while it does not answer.
    pub async fn metrics(&self) -> Option<String> {
        reqwest::get(self.url("/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()
    }
}
