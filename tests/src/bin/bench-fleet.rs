//! `bench-fleet`: the worker's numbers against the fake WhatsApp server and a private Redis.
//!
//! 1. **Idle sessions**: `--sessions N` linked devices are provisioned straight into the encrypted
//!    store (as a QR scan would leave them), then one `wa-worker` process claims and connects them
//!    all; each uploads its first batch of pre-keys at that login (`--pre-keys N` sets the worker's
//!    `PRE_KEY_COUNT`). Reports the time to connect, the worker's RSS per session and Redis memory
//!    per session.
//! 2. **Sends** (`--send-rate R --send-seconds S`): open-loop `POST /send-message` through a
//!    `wa-api` process (`SEND_WAIT_MS=0`, so the answer is the accept) to `--contacts` contacts,
//!    over 64 keep-alive connections ([`wa_tests::harness::http_load`]). Reports accept latency
//!    p50/p99, the rate at which WhatsApp (the fake) routed them, and the CPU each process spent
//!    per message.
//! 3. **Failover**: a second worker starts; the first is SIGKILLed; reports the time until every
//!    session is connected on the second.
//!
//! ```text
//! cargo build --release --workspace --bins
//! target/release/bench-fleet --sessions 200 --send-rate 500 --send-seconds 10
//! ```
//! Binaries (`wa-worker`, `wa-api`) are taken from the same target directory as this one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use wa_shared::envelope::Keyring;
use wa_shared::keys::Keys;
use wa_tests::fake::{AdminClient, FakeConfig, FakeWhatsApp, wa_version_string};
use wa_tests::harness::api::user_token;
use wa_tests::harness::bench::{connect_session, percentile, process_cpu, redis_cpu_snapshot};
use wa_tests::harness::http_load::{LoadRequest, run_open_loop};
use wa_tests::harness::processes::{
    ApiProcess, TEST_ENCRYPTION_KEY, WorkerProcess, WorkerSettings,
};
use wa_tests::harness::{RedisServer, wait_until};
use wa_worker::store::{EncryptedStore, FenceToken};
use whatsapp_rust::store::traits::DeviceStore;

const TENANT: &str = "bench";
const PREFIX: &str = "bench:";
/// Keep-alive connections the send load is spread over.
const SEND_CONNECTIONS: usize = 64;

struct Args {
    sessions: usize,
    contacts: usize,
    send_rate: u64,
    send_seconds: u64,
    connects_per_second: u32,
    lease_ttl_ms: u64,
    /// The worker's `PRE_KEY_COUNT` (its default when not given).
    pre_keys: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        sessions: 200,
        contacts: 20,
        send_rate: 500,
        send_seconds: 10,
        connects_per_second: 200,
        lease_ttl_ms: 10_000,
        pre_keys: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let n = value
            .parse::<u64>()
            .map_err(|_| format!("{flag}: not a number"))?;
        match flag.as_str() {
            "--sessions" => args.sessions = n as usize,
            "--contacts" => args.contacts = n as usize,
            "--send-rate" => args.send_rate = n,
            "--send-seconds" => args.send_seconds = n,
            "--connects-per-second" => args.connects_per_second = n as u32,
            "--lease-ttl-ms" => args.lease_ttl_ms = n,
            "--pre-keys" => args.pre_keys = Some(n as usize),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn redis_used_memory(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(conn)
        .await
        .unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

async fn connected(worker: &WorkerProcess) -> u64 {
    worker
        .health()
        .await
        .and_then(|body| body["connected"].as_u64())
        .unwrap_or(0)
}

/// CPU used so far by each part of a send's path, and Redis's per-command counters.
struct CpuShares {
    worker: Duration,
    api: Duration,
    bench: Duration,
    redis: Duration,
    commands: std::collections::HashMap<String, (u64, u64)>,
}

impl CpuShares {
    async fn read(conn: &mut redis::aio::MultiplexedConnection, worker: u32, api: u32) -> Self {
        let (redis, commands) = redis_cpu_snapshot(conn).await;
        Self {
            worker: process_cpu(worker),
            api: process_cpu(api),
            bench: process_cpu(std::process::id()),
            redis,
            commands,
        }
    }

    /// Prints the CPU each part spent per message between `before` and `self`, and the Redis
    /// commands that took most of Redis's time.
    fn print_per_message(&self, before: &Self, messages: u64, over: Duration) {
        if messages == 0 {
            return;
        }
        let per = |after: Duration, before: Duration| {
            after.saturating_sub(before).as_secs_f64() * 1e6 / messages as f64
        };
        let share = |after: Duration, before: Duration| {
            after.saturating_sub(before).as_secs_f64() / over.as_secs_f64() * 100.0
        };
        println!(
            "  CPU per message (share of one core over the run): wa-worker {:.0} µs ({:.0} %), wa-api {:.0} µs ({:.0} %), redis-server {:.0} µs ({:.0} %), bench process (fake server, its contacts, generator) {:.0} µs ({:.0} %)",
            per(self.worker, before.worker),
            share(self.worker, before.worker),
            per(self.api, before.api),
            share(self.api, before.api),
            per(self.redis, before.redis),
            share(self.redis, before.redis),
            per(self.bench, before.bench),
            share(self.bench, before.bench),
        );
        let mut rows: Vec<(String, u64, u64)> = self
            .commands
            .iter()
            .map(|(name, (calls, usec))| {
                let (c0, u0) = before.commands.get(name).copied().unwrap_or((0, 0));
                (
                    name.clone(),
                    calls.saturating_sub(c0),
                    usec.saturating_sub(u0),
                )
            })
            .filter(|(_, calls, _)| *calls > 0)
            .collect();
        rows.sort_by_key(|row| std::cmp::Reverse(row.2));
        let listed: Vec<String> = rows
            .iter()
            .take(10)
            .map(|(name, calls, usec)| {
                format!(
                    "{name} {:.2} calls {:.1} µs",
                    *calls as f64 / messages as f64,
                    *usec as f64 / messages as f64
                )
            })
            .collect();
        println!("  Redis commands per message: {}", listed.join("; "));
    }
}

fn phone(i: usize) -> String {
    format!("1556{i:07}")
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("bench-fleet: {e}");
            std::process::exit(2);
        }
    };
    let redis = RedisServer::start();
    let fake = FakeWhatsApp::start(FakeConfig::default())
        .await
        .expect("fake server");
    let admin = AdminClient::new(fake.admin_url());
    let keys = Keys::new(PREFIX);
    let mut conn = redis
        .client()
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let settings = WorkerSettings {
        redis_url: redis.url(),
        prefix: PREFIX.to_string(),
        wa_ws_url: fake.ws_url(),
        wa_version: wa_version_string(),
        lease_ttl_ms: args.lease_ttl_ms,
        capacity: args.sessions + 10,
        connects_per_second: args.connects_per_second,
        open_file_limit: None,
        send_interval_ms: 0,
        pre_key_count: args.pre_keys,
    };

    // --- idle sessions ---
    let mut first = WorkerProcess::start("bench-1", &settings).await;
    let rss_empty = rss_kib(first.process.pid());
    let redis_empty = redis_used_memory(&mut conn).await;
    let manager = redis::aio::ConnectionManager::new(redis.client())
        .await
        .expect("redis manager");
    let keyring = Arc::new(
        Keyring::from_lookup(|name| {
            (name == "SESSION_ENCRYPTION_KEY").then(|| TEST_ENCRYPTION_KEY.to_string())
        })
        .expect("keyring"),
    );
    let provision_started = Instant::now();
    for i in 0..args.sessions {
        let sid = format!("s{i}");
        let device = fake
            .provision_device(&phone(i))
            .expect("provisioned device");
        // Write the device as a scan would have left it, under a short-lived lease of our own.
        let fence = FenceToken::new("bench-provisioner", 1);
        let _: () = redis::cmd("SET")
            .arg(keys.lease(&sid))
            .arg(fence.lease_value())
            .arg("PX")
            .arg(60_000)
            .query_async(&mut conn)
            .await
            .expect("provisioning lease");
        let store = EncryptedStore::new(manager.clone(), keyring.clone(), &keys, &sid, fence);
        store.save(&device).await.expect("device saved");
        let _: () = redis::cmd("DEL")
            .arg(keys.lease(&sid))
            .query_async(&mut conn)
            .await
            .expect("lease dropped");
        connect_session(&mut conn, &keys, TENANT, &sid, &phone(i))
            .await
            .expect("session created");
    }
    let sessions = args.sessions as u64;
    wait_until(
        "every session connected",
        Duration::from_secs(600),
        || async { (connected(&first).await >= sessions).then_some(()) },
    )
    .await;
    let connect_time = provision_started.elapsed();
    // Let the post-login background work settle before reading memory.
    let settle_until = Instant::now() + Duration::from_secs(10);
    let mut rss_full = rss_kib(first.process.pid());
    while Instant::now() < settle_until {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss_full = rss_full.max(rss_kib(first.process.pid()));
    }
    let redis_full = redis_used_memory(&mut conn).await;
    let open_files = std::fs::read_dir(format!("/proc/{}/fd", first.process.pid()))
        .map(|dir| dir.count())
        .unwrap_or(0);
    println!(
        "idle sessions: {sessions} linked sessions connected in {connect_time:.1?} (CONNECTS_PER_SECOND={})",
        args.connects_per_second
    );
    println!(
        "  worker RSS: {:.1} MiB empty, {:.1} MiB with {sessions} sessions -> {:.1} KiB per session",
        rss_empty as f64 / 1024.0,
        rss_full as f64 / 1024.0,
        rss_full.saturating_sub(rss_empty) as f64 / sessions as f64
    );
    println!(
        "  worker open file descriptors: {open_files} ({:.2} per session)",
        open_files as f64 / sessions as f64
    );
    println!(
        "  Redis used_memory: {:.1} KiB per session ({} -> {} bytes)",
        redis_full.saturating_sub(redis_empty) as f64 / 1024.0 / sessions as f64,
        redis_empty,
        redis_full
    );

    // --- sends ---
    if args.send_rate > 0 && args.send_seconds > 0 {
        let contacts: Vec<String> = (0..args.contacts).map(|i| format!("1557{i:07}")).collect();
        for c in &contacts {
            admin.create_contact(c).await.expect("contact");
        }
        let api = ApiProcess::start_with(&redis.url(), PREFIX, 0).await;
        let routed_before = fake.stats().messages_routed;
        let token = user_token(TENANT);
        let total = args.send_rate * args.send_seconds;
        let cpu_before = CpuShares::read(&mut conn, first.process.pid(), api.process.pid()).await;
        let (sessions_n, contacts_for_load) = (args.sessions, contacts.clone());
        let started = Instant::now();
        let (results, accepted_in) = run_open_loop(
            api.port,
            SEND_CONNECTIONS,
            &token,
            args.send_rate,
            total,
            move |n| LoadRequest {
                path: "/send-message".to_string(),
                json_body: Some(
                    json!({
                        "sessionId": format!("s{}", n as usize % sessions_n),
                        "phoneNumber": contacts_for_load[n as usize % contacts_for_load.len()],
                        "message": format!("bench {n}"),
                    })
                    .to_string(),
                ),
            },
        )
        .await;
        let errors = results.iter().filter(|r| !r.ok).count();
        let mut latencies: Vec<Duration> =
            results.iter().filter(|r| r.ok).map(|r| r.latency).collect();
        let want = routed_before + latencies.len() as u64;
        let drained = wait_until(
            "every accepted send routed",
            Duration::from_secs(600),
            || async { (fake.stats().messages_routed >= want).then(Instant::now) },
        )
        .await;
        let routed_in = drained.duration_since(started);
        latencies.sort();
        println!(
            "sends: {} accepted ({errors} errors) at {} req/s offered over {:.1?}",
            latencies.len(),
            args.send_rate,
            accepted_in
        );
        if !latencies.is_empty() {
            println!(
                "  accept latency p50 {:.2} ms, p99 {:.2} ms",
                percentile(&latencies, 50.0).as_secs_f64() * 1000.0,
                percentile(&latencies, 99.0).as_secs_f64() * 1000.0
            );
        }
        println!(
            "  all routed by WhatsApp (fake) {:.1?} after the first send: {:.0} messages/s end to end",
            routed_in,
            latencies.len() as f64 / routed_in.as_secs_f64()
        );
        let stats = fake.stats();
        println!(
            "  duplicateDeliveries {}, overlappingConnections {}",
            stats.duplicate_deliveries, stats.overlapping_connections
        );
        let cpu_after = CpuShares::read(&mut conn, first.process.pid(), api.process.pid()).await;
        cpu_after.print_per_message(&cpu_before, latencies.len() as u64, routed_in);
        drop(api);
    }

    // --- failover ---
    let second = WorkerProcess::start("bench-2", &settings).await;
    first.process.kill();
    let killed = Instant::now();
    wait_until(
        "every session connected on the second worker",
        Duration::from_secs(600),
        || async { (connected(&second).await >= sessions).then_some(()) },
    )
    .await;
    println!(
        "failover: {sessions} sessions of a SIGKILLed worker connected on another in {:.1?} (LEASE_TTL_MS={})",
        killed.elapsed(),
        args.lease_ttl_ms
    );
    let stats = fake.stats();
    println!(
        "  duplicateDeliveries {}, overlappingConnections {}",
        stats.duplicate_deliveries, stats.overlapping_connections
    );
}
