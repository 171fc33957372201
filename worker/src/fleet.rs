//! `Fleet`: this worker's share of the fleet — the sessions it holds (one [`SessionHandle`] each),
//! the shared Redis connections, and the flags the loops read (accepting, draining). The loops
//! themselves live in their own modules: [`crate::claims`], [`crate::commands`],
//! [`crate::renewal`], [`crate::heartbeat`], [`crate::orphans`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, MultiplexedConnection};
use tokio::sync::mpsc;
use wa_shared::keys::Keys;

use crate::config::WorkerConfig;
use crate::connect_pacer::ConnectPacer;
use crate::lease::{ClaimOutcome, SessionLease};
use crate::metrics::{Gauges, WorkerMetrics};
use crate::session::{Assignment, Control, Finished, SessionContext, SessionHandle, StopKind};
use crate::store::FenceToken;

pub struct Fleet {
    pub config: Arc<WorkerConfig>,
    pub keys: Keys,
    pub conn: ConnectionManager,
    client: redis::Client,
    pub lease: SessionLease,
    pub metrics: Arc<WorkerMetrics>,
    ctx: Arc<SessionContext>,
    sessions: Mutex<HashMap<String, SessionHandle>>,
    /// Bumped whenever a session is added or removed, so readers of the owned set can tell when
    /// theirs is out of date without copying it.
    ownership_generation: AtomicU64,
    /// False once shutdown began: no more claims.
    accepting: AtomicBool,
    /// True while the autoscaler's drain mark for this worker is set.
    draining: AtomicBool,
}

impl Fleet {
    /// Connects to Redis and prepares an empty fleet share; `finished` receives ended sessions.
    pub async fn connect(
        config: WorkerConfig,
    ) -> anyhow::Result<(Arc<Self>, mpsc::UnboundedReceiver<Finished>)> {
        let config = Arc::new(config);
        let client = redis::Client::open(config.common.redis_url.as_str())?;
        let manager_config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_connection_timeout(Some(Duration::from_secs(2)));
        let conn = ConnectionManager::new_with_config(client.clone(), manager_config).await?;
        let keys = Keys::new(config.common.redis_prefix.clone());
        let lease = SessionLease::new(
            conn.clone(),
            keys.clone(),
            config.worker_id.clone(),
            config.lease_ttl,
        );
        let metrics = Arc::new(WorkerMetrics::default());
        let (finished_tx, finished_rx) = mpsc::unbounded_channel();
        let ctx = Arc::new(SessionContext {
            conn: conn.clone(),
            keys: keys.clone(),
            config: config.clone(),
            lease: lease.clone(),
            pacer: ConnectPacer::new(config.connects_per_second),
            metrics: metrics.clone(),
            finished: finished_tx,
        });
        let fleet = Arc::new(Self {
            config,
            keys,
            conn,
            client,
            lease,
            metrics,
            ctx,
            sessions: Mutex::new(HashMap::new()),
            ownership_generation: AtomicU64::new(0),
            accepting: AtomicBool::new(true),
            draining: AtomicBool::new(false),
        });
        Ok((fleet, finished_rx))
    }

    /// A connection of its own for a blocking read, with a response timeout above the block time.
    pub async fn blocking_connection(
        &self,
        timeout: Duration,
    ) -> redis::RedisResult<MultiplexedConnection> {
        let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(timeout));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionHandle>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes whenever the set of owned sessions changes.
    pub fn ownership_generation(&self) -> u64 {
        self.ownership_generation.load(Ordering::Acquire)
    }

    pub fn owned_sessions(&self) -> Vec<String> {
        self.sessions().keys().cloned().collect()
    }

    /// Every held session with the fence it runs under (for renewal).
    pub fn held_leases(&self) -> Vec<(String, FenceToken)> {
        self.sessions()
            .iter()
            .map(|(sid, handle)| (sid.clone(), handle.fence.clone()))
            .collect()
    }

    pub fn held_count(&self) -> usize {
        self.sessions().len()
    }

    pub fn gauges(&self) -> Gauges {
        let sessions = self.sessions();
        Gauges {
            sessions: sessions.len(),
            connected: sessions.values().filter(|h| h.is_connected()).count(),
            capacity: self.config.capacity,
            draining: self.is_draining(),
        }
    }

    pub fn is_accepting(&self) -> bool {
        self.accepting.load(Ordering::Relaxed)
    }

    pub fn stop_accepting(&self) {
        self.accepting.store(false, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn set_draining(&self, draining: bool) {
        self.draining.store(draining, Ordering::Relaxed);
    }

    /// Room for one more session, and willing to take it.
    pub fn has_room(&self) -> bool {
        self.is_accepting() && !self.is_draining() && self.held_count() < self.config.capacity
    }

    /// Hands `control` to the task of `sid`; false when this worker does not run it.
    pub fn deliver(&self, sid: &str, control: Control) -> bool {
        self.sessions()
            .get(sid)
            .map(|handle| handle.send(control))
            .unwrap_or(false)
    }

    /// Tries to claim `sid` and, when it becomes ours, starts its task. Returns whether it did.
    pub async fn try_claim(&self, sid: &str) -> redis::RedisResult<bool> {
        if !self.has_room() || self.sessions().contains_key(sid) {
            return Ok(false);
        }
        let ClaimOutcome::Claimed {
            fence,
            tenant,
            deleting,
        } = self.lease.claim(sid).await?
        else {
            return Ok(false);
        };
        tracing::info!(session_id = %sid, epoch = fence.epoch, deleting, "session claimed");
        WorkerMetrics::add(&self.metrics.claims, 1);
        let handle = SessionHandle::spawn(
            self.ctx.clone(),
            Assignment {
                sid: sid.to_string(),
                tenant,
                fence,
                deleting,
            },
        );
        self.sessions().insert(sid.to_string(), handle);
        self.ownership_generation.fetch_add(1, Ordering::Release);
        Ok(true)
    }

    /// A session task ended: forget it (unless the entry already belongs to a newer claim).
    pub fn forget(&self, finished: &Finished) {
        let mut sessions = self.sessions();
        if sessions
            .get(&finished.sid)
            .is_some_and(|h| h.fence == finished.fence)
        {
            sessions.remove(&finished.sid);
            drop(sessions);
            self.ownership_generation.fetch_add(1, Ordering::Release);
        }
    }

    /// Stops the tasks whose lease (sid and fence) was found lost; a newer claim of the same
    /// session is left alone.
    pub fn stop_lost(&self, lost: &[(String, FenceToken)]) {
        let sessions = self.sessions();
        for (sid, fence) in lost {
            if let Some(handle) = sessions.get(sid).filter(|h| &h.fence == fence) {
                handle.send(Control::Stop(StopKind::LeaseLost));
            }
        }
    }

    /// Asks the tasks of `sids` to stop with `kind`.
    pub fn stop_sessions(&self, sids: &[String], kind: StopKind) {
        let sessions = self.sessions();
        for sid in sids {
            if let Some(handle) = sessions.get(sid) {
                handle.send(Control::Stop(kind));
            }
        }
    }

    /// Stops every session with `kind` and waits (at most `limit`) for their tasks to end.
    pub async fn stop_all(&self, kind: StopKind, limit: Duration) {
        let tasks: Vec<_> = {
            let mut sessions = self.sessions();
            sessions
                .drain()
                .map(|(_, handle)| {
                    handle.send(Control::Stop(kind));
                    handle.task
                })
                .collect()
        };
        let all = futures::future::join_all(tasks);
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::warn!("some sessions did not stop in time; their leases expire on their own");
        }
    }
}
