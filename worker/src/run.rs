//! The worker process from start to exit: connect, start the loops (claims, commands, lease
//! renewal, heartbeat, orphan scan, HTTP), then on SIGTERM or Ctrl-C shut down gracefully: stop
//! taking sessions, hand every session over (client flushed and closed, lease released, claim
//! queued so another worker connects it at once) while leases keep being renewed, withdraw the
//! heartbeat, exit.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;

use crate::config::WorkerConfig;
use crate::fleet::Fleet;
use crate::heartbeat::{self, PeerView};
use crate::session::StopKind;
use crate::{claims, commands, http, orphans, renewal};

pub async fn run(mut config: WorkerConfig) -> anyhow::Result<()> {
    config.capacity = crate::fd_limit::fit_capacity(config.capacity);
    let addr = format!("{}:{}", config.bind_addr, config.http_port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding the worker HTTP port {addr}"))?;
    let (fleet, mut finished) = Fleet::connect(config)
        .await
        .context("connecting to Redis")?;
    tracing::info!(
        worker_id = %fleet.config.worker_id,
        capacity = fleet.config.capacity,
        http = %listener.local_addr()?,
        "worker started"
    );
    let peers = Arc::new(PeerView::default());
    let (stop_intake, intake_stopped) = watch::channel(false);
    let (stop_upkeep, upkeep_stopped) = watch::channel(false);

    let forget = {
        let fleet = fleet.clone();
        tokio::spawn(async move {
            while let Some(ended) = finished.recv().await {
                fleet.forget(&ended);
            }
        })
    };
    let loops = vec![
        tokio::spawn(claims::consume_claims(
            fleet.clone(),
            peers.clone(),
            intake_stopped.clone(),
        )),
        tokio::spawn(commands::poll_commands(
            fleet.clone(),
            intake_stopped.clone(),
        )),
        tokio::spawn(orphans::scan_orphans(fleet.clone(), intake_stopped.clone())),
        tokio::spawn(heartbeat::beat(
            fleet.clone(),
            peers,
            upkeep_stopped.clone(),
        )),
        tokio::spawn(renewal::renew_leases(fleet.clone(), upkeep_stopped.clone())),
    ];
    let server = {
        let router = http::router(fleet.clone());
        let mut stopped = upkeep_stopped.clone();
        tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                let _ = stopped.changed().await;
            });
            if let Err(error) = serve.await {
                tracing::error!(%error, "worker HTTP server failed");
            }
        })
    };

    crate::shutdown_signal::wait().await;
    let began = std::time::Instant::now();
    tracing::info!(
        sessions = fleet.held_count(),
        "shutting down: handing sessions over"
    );
    fleet.stop_accepting();
    let _ = stop_intake.send(true);
    fleet
        .stop_all(
            StopKind::Handover,
            fleet.config.shutdown_grace + Duration::from_secs(3),
        )
        .await;
    let _ = stop_upkeep.send(true);
    heartbeat::withdraw(&fleet).await;
    for task in loops {
        let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), server).await;
    forget.abort();
    tracing::info!(
        elapsed_ms = began.elapsed().as_millis() as u64,
        "worker stopped"
    );
    Ok(())
}
