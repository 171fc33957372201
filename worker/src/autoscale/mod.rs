//! `wa-worker autoscale`: keeps the worker StatefulSet's replica count in line with the number of
//! running sessions. Every interval the lease holder observes Redis (sessions, worker heartbeats),
//! asks [`decision`] what to do, writes the workers' drain marks and patches the StatefulSet's
//! `scale` subresource. Scale-down happens only past workers that drained to zero sessions.

mod config;
pub mod decision;
mod leader;
pub mod observe;
mod scale;

use std::time::Instant;

use anyhow::Context;
use redis::aio::ConnectionManager;
use wa_shared::keys::Keys;

pub use config::AutoscalerConfig;
use decision::ScaleHistory;
use leader::AutoscalerLease;
use scale::WorkerScale;

/// Runs the autoscaler until SIGTERM or Ctrl-C, then releases its lease and returns.
pub async fn run(config: AutoscalerConfig) -> anyhow::Result<()> {
    let redis = redis::Client::open(config.common.redis_url.as_str())
        .context("REDIS_URL is not a usable Redis address")?;
    let mut conn = ConnectionManager::new(redis)
        .await
        .context("cannot connect to Redis at REDIS_URL")?;
    let kube = kube::Client::try_default()
        .await
        .context("cannot build a Kubernetes client (in-cluster service account or KUBECONFIG)")?;
    let namespace = config
        .namespace
        .clone()
        .unwrap_or_else(|| kube.default_namespace().to_string());
    let scale = WorkerScale::new(kube, &namespace, config.statefulset.clone());
    let keys = Keys::new(config.common.redis_prefix.clone());
    let mut lease = AutoscalerLease::new(keys.clone(), config.holder_id.clone(), config.lease_ttl);
    let mut history = ScaleHistory::default();
    let started = Instant::now();
    tracing::info!(
        statefulset = %config.statefulset,
        namespace = %namespace,
        holder = lease.holder(),
        "autoscaler started"
    );

    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let shutdown = crate::shutdown_signal::wait();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = &mut shutdown => break,
        }
        let step = Step {
            config: &config,
            keys: &keys,
            scale: &scale,
            at_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        if let Err(error) = step.run(&mut conn, &mut lease, &mut history).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "autoscaler step failed; retrying"
            );
        }
    }
    if let Err(error) = lease.release(&mut conn).await {
        tracing::warn!(%error, "could not release the autoscaler lease; it expires on its own");
    }
    tracing::info!("autoscaler stopped");
    Ok(())
}

/// One observe-decide-act round.
struct Step<'a> {
    config: &'a AutoscalerConfig,
    keys: &'a Keys,
    scale: &'a WorkerScale,
    at_ms: u64,
}

impl Step<'_> {
    async fn run(
        &self,
        conn: &mut ConnectionManager,
        lease: &mut AutoscalerLease,
        history: &mut ScaleHistory,
    ) -> anyhow::Result<()> {
        let (held, changed) = lease.hold(conn).await.context("autoscaler lease")?;
        if changed {
            history.reset();
            tracing::info!(
                holder = lease.holder(),
                held,
                "autoscaler leadership changed"
            );
        }
        if !held {
            return Ok(());
        }
        let reading =
            self.scale.read().await.with_context(|| {
                format!("reading the scale of statefulset {}", self.scale.name())
            })?;
        let observation = observe::observe_fleet(
            conn,
            self.keys,
            &self.config.statefulset,
            reading.replicas,
            self.at_ms,
        )
        .await
        .context("reading sessions and heartbeats")?;
        let decision = self.config.policy.decide(history, &observation);
        let upper = reading
            .replicas
            .max(self.config.policy.max_replicas)
            .max(decision.drain.end);
        lease
            .apply_drain_marks(
                conn,
                &self.config.statefulset,
                decision.drain.clone(),
                upper,
                self.config.drain_mark_ttl(),
            )
            .await
            .context("writing drain marks")?;
        if let Some(replicas) = decision.set_replicas {
            self.scale
                .set(replicas, &reading)
                .await
                .with_context(|| format!("setting {replicas} replicas"))?;
            tracing::info!(
                from = reading.replicas,
                to = replicas,
                sessions = observation.running_sessions,
                goal = decision.goal,
                "worker replicas changed"
            );
        } else if !decision.drain.is_empty() {
            tracing::debug!(
                draining = ?decision.drain,
                goal = decision.goal,
                "waiting for draining workers to hand their sessions over"
            );
        }
        Ok(())
    }
}
