//! The autoscaler (`wa-worker autoscale`, the real binary) against a real kube-apiserver backed by
//! etcd and a real redis-server, all on free loopback ports in a temporary directory. The test plays
//! the workers' part by writing their heartbeats, and watches the StatefulSet's `scale` follow the
//! session count: scale-up, drain-then-scale-down, a cancelled drain, and a leadership handoff.
//!
//! Needs `KUBE_APISERVER_BIN` (from `scripts/kube-apiserver`), `etcd`, `redis-server` and `openssl`.

mod autoscale_support;

use std::time::Duration;

use autoscale_support::{Autoscaler, KubeTestServer, RedisTestServer, wait_until};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;

const NAMESPACE: &str = "wa-test";
const STS: &str = "wa-worker";
const PREFIX: &str = "t:";
const WAIT: Duration = Duration::from_secs(30);

/// What the test writes as the workers and reads back as the autoscaler's output.
#[derive(Clone)]
struct Fleet {
    redis: MultiplexedConnection,
    scale: Api<StatefulSet>,
}

impl Fleet {
    async fn set_sessions(&mut self, count: usize) {
        let key = format!("{PREFIX}sessions:running");
        let _: () = self.redis.del(&key).await.unwrap();
        if count > 0 {
            let ids: Vec<String> = (0..count).map(|i| format!("s{i}")).collect();
            let _: () = self.redis.sadd(&key, ids).await.unwrap();
        }
    }

    /// Writes worker `ordinal`'s heartbeat as the worker runtime does.
    async fn heartbeat(&mut self, ordinal: u32, sessions: u64, draining: bool) {
        let id = format!("{STS}-{ordinal}");
        let key = format!("{PREFIX}worker:{id}");
        let _: () = redis::pipe()
            .atomic()
            .hset_multiple(
                &key,
                &[
                    ("sessions", sessions.to_string()),
                    ("capacity", "100".to_string()),
                    ("draining", if draining { "1" } else { "0" }.to_string()),
                ],
            )
            .ignore()
            .pexpire(&key, 60_000)
            .ignore()
            .sadd(format!("{PREFIX}workers"), &id)
            .ignore()
            .query_async(&mut self.redis)
            .await
            .unwrap();
    }

    /// The pod went away: its heartbeat expires.
    async fn gone(&mut self, ordinal: u32) {
        let _: () = self
            .redis
            .del(format!("{PREFIX}worker:{STS}-{ordinal}"))
            .await
            .unwrap();
    }

    async fn drain_marked(&mut self, ordinal: u32) -> bool {
        self.redis
            .exists(format!("{PREFIX}drain:{STS}-{ordinal}"))
            .await
            .unwrap()
    }

    async fn marks(&mut self) -> Vec<u32> {
        let mut marked = Vec::new();
        for ordinal in 0..6 {
            if self.drain_marked(ordinal).await {
                marked.push(ordinal);
            }
        }
        marked
    }

    async fn replicas(&self) -> i32 {
        let scale = self.scale.get_scale(STS).await.unwrap();
        scale.spec.and_then(|s| s.replicas).unwrap_or(0)
    }

    async fn lease_holder(&mut self) -> Option<String> {
        self.redis
            .get(format!("{PREFIX}autoscaler:lease"))
            .await
            .unwrap()
    }

    /// Waits until the autoscaler has refreshed a drain mark `rounds` times: proof that it ran that
    /// many steps on the current state (each step re-sets the marks it keeps with a full TTL).
    async fn autoscaler_rounds_on_mark(&mut self, ordinal: u32, rounds: usize) {
        let key = format!("{PREFIX}drain:{STS}-{ordinal}");
        let deadline = std::time::Instant::now() + WAIT;
        let mut seen = 0;
        let mut last: i64 = self.redis.pttl(&key).await.unwrap();
        while seen < rounds {
            assert!(
                std::time::Instant::now() < deadline,
                "the autoscaler did not refresh {key} {rounds} times"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
            let now: i64 = self.redis.pttl(&key).await.unwrap();
            assert!(now > 0, "drain mark {key} vanished (pttl {now})");
            if now > last {
                seen += 1;
            }
            last = now;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_follow_sessions_and_scale_down_only_after_drain() {
    let kube = KubeTestServer::start().await;
    let redis_server = RedisTestServer::start();
    let client = kube.client().await;

    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": NAMESPACE}})).unwrap(),
        )
        .await
        .expect("create namespace");
    let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), NAMESPACE);
    statefulsets
        .create(&PostParams::default(), &worker_statefulset())
        .await
        .expect("create the worker statefulset");

    let redis_client = redis::Client::open(redis_server.url()).unwrap();
    let mut fleet = Fleet {
        redis: redis_client
            .get_multiplexed_async_connection()
            .await
            .unwrap(),
        scale: statefulsets.clone(),
    };
    fleet.set_sessions(5).await;
    fleet.heartbeat(0, 5, false).await;

    let env = |id: &str| {
        vec![
            ("REDIS_URL", redis_server.url()),
            ("REDIS_PREFIX", PREFIX.to_string()),
            ("KUBECONFIG", kube.kubeconfig_path()),
            ("AUTOSCALER_ID", id.to_string()),
            ("AUTOSCALER_STATEFULSET", STS.to_string()),
            ("AUTOSCALER_TARGET_SESSIONS_PER_WORKER", "10".to_string()),
            ("AUTOSCALER_MIN_REPLICAS", "1".to_string()),
            ("AUTOSCALER_MAX_REPLICAS", "5".to_string()),
            ("AUTOSCALER_HEADROOM_PERCENT", "0".to_string()),
            ("AUTOSCALER_SCALE_DOWN_COOLDOWN_MS", "1500".to_string()),
            ("AUTOSCALER_INTERVAL_MS", "100".to_string()),
            ("AUTOSCALER_LEASE_TTL_MS", "1000".to_string()),
            ("LOG_FORMAT", "pretty".to_string()),
            ("LOG_LEVEL", "info".to_string()),
        ]
    };
    let mut first = Autoscaler::spawn(&env("autoscaler-a"));
    wait_until(WAIT, "autoscaler-a to take the lease", || {
        let mut redis = fleet.redis.clone();
        async move {
            let holder: Option<String> = redis
                .get(format!("{PREFIX}autoscaler:lease"))
                .await
                .unwrap();
            holder.as_deref() == Some("autoscaler-a")
        }
    })
    .await;
    let mut standby = Autoscaler::spawn(&env("autoscaler-b"));

    // Scale-up: 35 sessions at 10 per worker -> 4 replicas, immediately.
    fleet.set_sessions(35).await;
    wait_replicas(&fleet, 4).await;
    for ordinal in 0..4 {
        fleet.heartbeat(ordinal, 9, false).await;
    }

    // Load falls to 15 sessions -> 2 workers. After the cooldown, ordinals 2 and 3 are marked;
    // replicas stay at 4 while they hold sessions.
    fleet.set_sessions(15).await;
    wait_until(WAIT, "drain marks on ordinals 2 and 3", || {
        let mut f = fleet.clone();
        async move { f.marks().await == vec![2, 3] }
    })
    .await;
    fleet.autoscaler_rounds_on_mark(3, 3).await;
    assert_eq!(
        fleet.replicas().await,
        4,
        "no scale-down while workers hold sessions"
    );

    // The workers acknowledge; ordinal 3 hands everything over, ordinal 2 still holds some.
    fleet.heartbeat(2, 3, true).await;
    fleet.heartbeat(3, 0, true).await;
    wait_replicas(&fleet, 3).await;
    fleet.gone(3).await;
    fleet.autoscaler_rounds_on_mark(2, 3).await;
    assert_eq!(fleet.replicas().await, 3, "ordinal 2 still holds sessions");

    // Ordinal 2 empties: replicas drop to 2 and every drain mark is cleared.
    fleet.heartbeat(2, 0, true).await;
    wait_replicas(&fleet, 2).await;
    fleet.gone(2).await;
    wait_until(WAIT, "drain marks cleared", || {
        let mut f = fleet.clone();
        async move { f.marks().await.is_empty() }
    })
    .await;

    // A drain that load cancels: 5 sessions -> ordinal 1 marked; back to 15 -> mark cleared, no change.
    fleet.set_sessions(5).await;
    wait_until(WAIT, "drain mark on ordinal 1", || {
        let mut f = fleet.clone();
        async move { f.marks().await == vec![1] }
    })
    .await;
    fleet.set_sessions(15).await;
    wait_until(WAIT, "the cancelled drain's mark cleared", || {
        let mut f = fleet.clone();
        async move { f.marks().await.is_empty() }
    })
    .await;
    assert_eq!(fleet.replicas().await, 2);

    // Only one autoscaler is active: the standby never held the lease. On SIGTERM the leader
    // releases it and the standby takes over and scales.
    assert_eq!(fleet.lease_holder().await.as_deref(), Some("autoscaler-a"));
    let status = first.terminate().await;
    assert!(
        status.success(),
        "autoscaler-a exits cleanly on SIGTERM: {status}"
    );
    wait_until(WAIT, "autoscaler-b to take the lease", || {
        let mut redis = fleet.redis.clone();
        async move {
            let holder: Option<String> = redis
                .get(format!("{PREFIX}autoscaler:lease"))
                .await
                .unwrap();
            holder.as_deref() == Some("autoscaler-b")
        }
    })
    .await;
    fleet.set_sessions(80).await;
    wait_replicas(&fleet, 5).await; // capped at AUTOSCALER_MAX_REPLICAS
    let status = standby.terminate().await;
    assert!(status.success(), "autoscaler-b exits cleanly: {status}");
}

async fn wait_replicas(fleet: &Fleet, want: i32) {
    let scale = fleet.scale.clone();
    wait_until(WAIT, &format!("{want} replicas"), || {
        let scale = scale.clone();
        async move {
            let got = scale.get_scale(STS).await.unwrap();
            got.spec.and_then(|s| s.replicas) == Some(want)
        }
    })
    .await;
}

fn worker_statefulset() -> StatefulSet {
    serde_json::from_value(serde_json::json!({
        "metadata": { "name": STS },
        "spec": {
            "replicas": 1,
            "serviceName": STS,
            "selector": { "matchLabels": { "app": STS } },
            "template": {
                "metadata": { "labels": { "app": STS } },
                "spec": { "containers": [{ "name": "worker", "image": "wa-worker:test" }] }
            }
        }
    }))
    .expect("statefulset object")
}
