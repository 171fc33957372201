//! Real servers for the autoscaler's integration test, each on free loopback ports in its own
//! temporary directory: etcd + kube-apiserver, redis-server, and `wa-worker autoscale` processes.
//! Everything is stopped (apiserver before etcd) when dropped; logs are printed if the test failed.

use std::fs::{self, File};
use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(20);

/// Polls `check` until it returns true; panics naming `what` after `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn temp_dir(kind: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wa-{kind}-{}", uuid::Uuid::new_v4()));
    fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

fn log_file(dir: &Path, name: &str) -> File {
    File::create(dir.join(name)).expect("create a log file")
}

fn print_log(path: &Path) {
    let text = fs::read_to_string(path).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(60).collect();
    eprintln!("--- last lines of {} ---", path.display());
    for line in tail.into_iter().rev() {
        eprintln!("{line}");
    }
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn require_tool(tool: &str, how: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(found, "`{tool}` is not on PATH: {how}");
}

/// etcd plus a real kube-apiserver (token auth, RBAC) on loopback.
pub struct KubeTestServer {
    dir: PathBuf,
    etcd: Child,
    apiserver: Child,
}

impl KubeTestServer {
    pub async fn start() -> Self {
        let bin = std::env::var("KUBE_APISERVER_BIN").unwrap_or_default();
        assert!(
            !bin.is_empty() && Path::new(&bin).is_file(),
            "KUBE_APISERVER_BIN must name a kube-apiserver binary (got {bin:?}): build it with \
             `export KUBE_APISERVER_BIN=$(scripts/kube-apiserver)` (scripts/test does this)"
        );
        require_tool(
            "etcd",
            "install Debian's etcd-server (scripts/kube-apiserver does)",
        );
        require_tool("openssl", "install openssl (scripts/kube-apiserver does)");
        let dir = temp_dir("kube");
        let run = |args: &[&str]| {
            let ok = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "openssl {args:?} failed");
        };
        run(&["genrsa", "-out", "sa.key", "2048"]);
        run(&["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
        fs::write(
            dir.join("tokens.csv"),
            "test-token,admin,admin-uid,system:masters\n",
        )
        .unwrap();

        let (etcd_port, peer_port, api_port) = (free_port(), free_port(), free_port());
        let etcd = Command::new("etcd")
            .arg("--data-dir")
            .arg(dir.join("etcd"))
            .arg(format!("--listen-client-urls=http://127.0.0.1:{etcd_port}"))
            .arg(format!(
                "--advertise-client-urls=http://127.0.0.1:{etcd_port}"
            ))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"
            ))
            .arg(format!(
                "--initial-cluster=default=http://127.0.0.1:{peer_port}"
            ))
            .arg("--unsafe-no-fsync")
            .stdout(Stdio::null())
            .stderr(log_file(&dir, "etcd.log"))
            .spawn()
            .expect("start etcd");
        let path = |name: &str| dir.join(name).display().to_string();
        let apiserver = Command::new(&bin)
            .arg(format!("--etcd-servers=http://127.0.0.1:{etcd_port}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            .arg(format!("--secure-port={api_port}"))
            .arg(format!("--cert-dir={}", path("certs")))
            .arg(format!("--token-auth-file={}", path("tokens.csv")))
            .arg("--authorization-mode=RBAC")
            .arg("--service-account-issuer=https://kubernetes.default.svc")
            .arg(format!("--service-account-key-file={}", path("sa.pub")))
            .arg(format!(
                "--service-account-signing-key-file={}",
                path("sa.key")
            ))
            .arg("--service-cluster-ip-range=10.0.0.0/24")
            .arg("--disable-admission-plugins=ServiceAccount")
            .stdout(Stdio::null())
            .stderr(log_file(&dir, "kube-apiserver.log"))
            .spawn()
            .expect("start kube-apiserver");
        let server = Self {
            dir,
            etcd,
            apiserver,
        };
        server.write_kubeconfig(api_port);
        server.wait_ready().await;
        server
    }

    fn write_kubeconfig(&self, port: u16) {
        let ca = self.dir.join("certs").join("apiserver.crt");
        let config = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: https://127.0.0.1:{port}\n    certificate-authority: {}\nusers:\n- name: admin\n  user:\n    token: test-token\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: admin\n    namespace: wa-test\ncurrent-context: test\n",
            ca.display()
        );
        fs::write(self.dir.join("kubeconfig"), config).unwrap();
    }

    pub fn kubeconfig_path(&self) -> String {
        self.dir.join("kubeconfig").display().to_string()
    }

    pub async fn client(&self) -> kube::Client {
        let kubeconfig = kube::config::Kubeconfig::read_from(self.kubeconfig_path())
            .expect("read the test kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .expect("kubeconfig to client config");
        kube::Client::try_from(config).expect("kube client")
    }

    /// Ready once the serving certificate exists and the bootstrap `default` namespace is served.
    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        let cert = self.dir.join("certs").join("apiserver.crt");
        loop {
            if cert.is_file() {
                let client = self.client().await;
                let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
                    kube::Api::all(client);
                if namespaces.get("default").await.is_ok() {
                    return;
                }
            }
            if Instant::now() > deadline {
                print_log(&self.dir.join("etcd.log"));
                print_log(&self.dir.join("kube-apiserver.log"));
                panic!("kube-apiserver not ready within 90 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for KubeTestServer {
    fn drop(&mut self) {
        stop(&mut self.apiserver);
        stop(&mut self.etcd);
        if std::thread::panicking() {
            print_log(&self.dir.join("kube-apiserver.log"));
            eprintln!("kept {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A private redis-server without persistence.
pub struct RedisTestServer {
    dir: PathBuf,
    port: u16,
    child: Child,
}

impl RedisTestServer {
    pub fn start() -> Self {
        require_tool(
            "redis-server",
            "install redis-server (apt-get install redis-server)",
        );
        let dir = temp_dir("redis");
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(log_file(&dir, "redis.log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let server = Self { dir, port, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {port}"
            );
            std::thread::sleep(POLL);
        }
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for RedisTestServer {
    fn drop(&mut self) {
        stop(&mut self.child);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A `wa-worker autoscale` process.
pub struct Autoscaler {
    child: Child,
    log: PathBuf,
    dir: PathBuf,
}

impl Autoscaler {
    pub fn spawn(env: &[(&str, String)]) -> Self {
        let dir = temp_dir("autoscaler");
        let log = dir.join("autoscaler.log");
        let child = Command::new(env!("CARGO_BIN_EXE_wa-worker"))
            .arg("autoscale")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("autoscaler log"))
            .spawn()
            .expect("start wa-worker autoscale");
        Self { child, log, dir }
    }

    /// Sends SIGTERM and waits for the exit.
    pub async fn terminate(&mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(sent, "could not signal the autoscaler");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("autoscaler status") {
                return status;
            }
            if Instant::now() > deadline {
                print_log(&self.log);
                panic!("autoscaler did not exit within 10 s of SIGTERM");
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Autoscaler {
    fn drop(&mut self) {
        stop(&mut self.child);
        if std::thread::panicking() {
            print_log(&self.log);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}
