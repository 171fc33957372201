//! The task of one owned session: start the client, then react to its events, to commands and to
//! stop requests until the session ends here (handed over, lost, stopped, logged out).
//!
//! Ordering rules this file keeps:
//! - records are updated before events are published (both happen in one fenced script);
//! - a command is acknowledged only after its effect is recorded, so a new owner re-executes what
//!   this one did not finish; a send that finds its record past `queued` is acknowledged without
//!   sending again, and a resend goes out under the same WhatsApp id;
//! - a refused fence ends the task at once without another write.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::AsyncCommands;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use wa_shared::events::name;
use wa_shared::records::{SessionStatus, session_field as f};
use whatsapp_rust::bot::{Bot, BotHandle};
use whatsapp_rust::client::Client;
use whatsapp_rust::store::traits::{Backend, DeviceStore};
use whatsapp_rust::transport::TokioWebSocketTransportFactory;
use whatsapp_rust::types::events::Event;

use super::{Assignment, Control, Finished, SessionContext, StopKind};
use crate::metrics::WorkerMetrics;
use crate::report::{ReportError, SessionReporter};
use crate::store::EncryptedStore;

/// Longest wait for WhatsApp to accept one outbound message.
pub(super) const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client closing after a lost lease may take before its task is aborted.
const LOST_STOP_LIMIT: Duration = Duration::from_secs(2);
/// How long a deleted session's new owner waits for a connection to unlink the device.
const UNLINK_CONNECT_WAIT: Duration = Duration::from_secs(15);
/// Commands left pending by a previous owner taken over per call.
pub(super) const TAKEOVER_BATCH: usize = 500;

/// How the task ended, which decides what happens to the client and the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// Close the client gracefully and release the lease (`requeue`: ask another worker to take
    /// the session over at once).
    Release { requeue: bool },
    /// The lease is not ours any more: close the client, write nothing.
    Lost,
    /// The lease is already gone (logout finished): close the client.
    Done,
}

/// Why a client could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientStartError {
    /// A stored value failed authentication.
    Corrupt,
    /// A write was refused by the lease fence.
    Fenced,
    /// The library refused to build it.
    Build,
}

/// One outbound text waiting for a connection.
#[derive(Debug, Clone)]
pub(super) struct PendingSend {
    pub(super) entry_id: String,
    pub(super) message_id: String,
    pub(super) to: String,
    pub(super) text: String,
}

pub(super) async fn run(
    ctx: Arc<SessionContext>,
    assignment: Assignment,
    mut control: mpsc::UnboundedReceiver<Control>,
    connected: Arc<AtomicBool>,
) {
    let Assignment {
        sid,
        tenant,
        fence,
        deleting,
    } = assignment;
    let store = Arc::new(EncryptedStore::new(
        ctx.conn.clone(),
        ctx.config.keyring.clone(),
        &ctx.keys,
        &sid,
        fence.clone(),
    ));
    let reporter = SessionReporter::new(
        ctx.conn.clone(),
        ctx.keys.clone(),
        &sid,
        &tenant,
        fence.clone(),
    );
    let (wa_tx, wa_rx) = mpsc::unbounded_channel();
    let mut runner = Runner {
        ctx: ctx.clone(),
        sid: sid.clone(),
        reporter,
        store,
        bot: None,
        client: None,
        wa_tx,
        wa_rx,
        connected,
        pending: VecDeque::new(),
        next_send_at: None,
        started: Instant::now(),
        linked: false,
    };
    let end = runner.drive(&mut control, deleting).await;
    runner.finish(end).await;
    let _ = ctx.finished.send(Finished { sid, fence });
}

pub(super) struct Runner {
    pub(super) ctx: Arc<SessionContext>,
    pub(super) sid: String,
    pub(super) reporter: SessionReporter,
    pub(super) store: Arc<EncryptedStore>,
    pub(super) bot: Option<BotHandle>,
    pub(super) client: Option<Arc<Client>>,
    pub(super) wa_tx: mpsc::UnboundedSender<Arc<Event>>,
    pub(super) wa_rx: mpsc::UnboundedReceiver<Arc<Event>>,
    pub(super) connected: Arc<AtomicBool>,
    /// Sends waiting, in order: for a connection, or for their turn under `SEND_INTERVAL_MS`.
    pub(super) pending: VecDeque<PendingSend>,
    /// Earliest time the next send may go out (pacing); `None` when not pacing.
    pub(super) next_send_at: Option<tokio::time::Instant>,
    pub(super) started: Instant,
    /// The store holds a linked device (no QR needed).
    pub(super) linked: bool,
}

/// Resolves when a session's next send may go out (at once when not pacing).
async fn send_turn(next_send_at: Option<tokio::time::Instant>) {
    if let Some(at) = next_send_at {
        tokio::time::sleep_until(at).await;
    }
}

impl Runner {
    async fn drive(
        &mut self,
        control: &mut mpsc::UnboundedReceiver<Control>,
        deleting: bool,
    ) -> End {
        if deleting {
            self.connect_to_unlink().await;
            return self.log_out("deleted").await;
        }
        match self.take_over_pending_commands().await {
            Ok(leftovers) => {
                for (entry_id, command) in leftovers {
                    if let Some(end) = self.on_command(entry_id, command, false).await {
                        return end;
                    }
                }
            }
            Err(error) => {
                tracing::warn!(session_id = %self.sid, %error, "cannot take over pending commands")
            }
        }
        self.ctx.pacer.wait_turn().await;
        if let Some(end) = self.start_client().await {
            return end;
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let flush_due = self.ready_to_send() && !self.pending.is_empty();
            let send_turn = send_turn(self.next_send_at);
            let step = tokio::select! {
                Some(event) = self.wa_rx.recv() => self.on_wa_event(event).await,
                message = control.recv() => match message {
                    None => Some(End::Release { requeue: true }),
                    Some(Control::Stop(StopKind::Handover)) => Some(End::Release { requeue: true }),
                    Some(Control::Stop(StopKind::LeaseLost)) => Some(End::Lost),
                    Some(Control::Command { entry_id, command }) => self.on_command(entry_id, command, true).await,
                },
                _ = send_turn, if flush_due => self.flush_pending().await,
                _ = tick.tick() => self.on_tick().await,
            };
            if let Some(end) = step {
                return end;
            }
        }
    }

    async fn finish(&mut self, end: End) {
        self.connected.store(false, Ordering::Relaxed);
        match end {
            End::Lost => {
                WorkerMetrics::add(&self.ctx.metrics.leases_lost, 1);
                tracing::warn!(session_id = %self.sid, "lease lost: closing the client without further writes");
                self.stop_client(LOST_STOP_LIMIT).await;
            }
            End::Done => self.stop_client(LOST_STOP_LIMIT).await,
            End::Release { requeue } => {
                self.stop_client(self.ctx.config.shutdown_grace).await;
                match self
                    .ctx
                    .lease
                    .release(&self.sid, self.reporter.fence(), requeue)
                    .await
                {
                    Ok(true) => WorkerMetrics::add(&self.ctx.metrics.releases, 1),
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(session_id = %self.sid, %error, "lease release failed; it expires on its own")
                    }
                }
            }
        }
    }

    /// Builds and starts the client on the session's store. `Some` when the session cannot run.
    async fn start_client(&mut self) -> Option<End> {
        match self.build_client().await {
            Ok(()) => {}
            Err(ClientStartError::Fenced) => return Some(End::Lost),
            Err(ClientStartError::Corrupt) => {
                return self
                    .fail(
                        "auth_state_corrupt",
                        "A stored auth state value failed authentication.",
                    )
                    .await;
            }
            Err(ClientStartError::Build) => {
                return self
                    .fail(
                        "client_start_failed",
                        "The WhatsApp client could not start.",
                    )
                    .await;
            }
        }
        let status = SessionStatus::Connecting.as_str();
        self.report_session(&[(f::STATUS, status), (f::LAST_ERROR, "")], None)
            .await
    }

    /// A session deleted while no worker ran it still has a linked device at WhatsApp: connect
    /// once, so that the logout that follows can unlink it there. Gives up after
    /// [`UNLINK_CONNECT_WAIT`] or on any trouble; the auth state is wiped either way.
    async fn connect_to_unlink(&mut self) {
        match DeviceStore::load(&*self.store).await {
            Ok(Some(device)) if device.pn.is_some() => {}
            // Never linked (nothing to unlink), or unreadable (nothing to connect with).
            _ => return,
        }
        self.ctx.pacer.wait_turn().await;
        if self.build_client().await.is_err() {
            return;
        }
        let deadline = Instant::now() + UNLINK_CONNECT_WAIT;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.wa_rx.recv()).await {
            match &*event {
                Event::Connected(_) => return,
                Event::LoggedOut(_) | Event::StreamReplaced(_) | Event::ClientOutdated(_) => {
                    return;
                }
                _ => {}
            }
        }
        tracing::info!(session_id = %self.sid, "deleted session did not connect in time; wiping it without unlinking at WhatsApp");
    }

    /// Builds the client on the session's store and spawns it.
    async fn build_client(&mut self) -> Result<(), ClientStartError> {
        let tx = self.wa_tx.clone();
        let config = &self.ctx.config;
        let backend: Arc<dyn Backend> = self.store.clone();
        let mut builder = Bot::builder()
            .with_backend_arc(backend)
            .with_transport_factory(
                TokioWebSocketTransportFactory::new().with_url(&config.wa_ws_url),
            )
            .skip_history_sync()
            .with_wanted_pre_key_count(config.pre_key_count)
            .on_event(move |event: Arc<Event>, _client: Arc<Client>| {
                let _ = tx.send(event);
                async {}
            });
        if let Some(version) = config.wa_version {
            builder = builder.with_version(version);
        }
        if let Some(name) = self.fallback_push_name().await {
            builder = builder.with_push_name(name);
        }
        let built = builder.build().await;
        if self.store.corruption().is_some() {
            return Err(ClientStartError::Corrupt);
        }
        if self.store.is_fenced() {
            return Err(ClientStartError::Fenced);
        }
        let bot = built.map_err(|error| {
            tracing::error!(session_id = %self.sid, error = %error, "client could not be built");
            ClientStartError::Build
        })?;
        let handle = bot.spawn();
        let client = handle.client();
        self.linked = client.pn().is_some();
        self.client = Some(client);
        self.bot = Some(handle);
        Ok(())
    }

    /// The display name to give a device that has none yet. Without one the client re-runs its
    /// initial app-state bootstrap, with a 10 s key-share wait, on every connect; a phone normally
    /// syncs the account's name, but until it has, the session's name stands in.
    async fn fallback_push_name(&self) -> Option<String> {
        match DeviceStore::load(&*self.store).await {
            Ok(Some(device)) if !device.push_name.is_empty() => return None,
            Ok(_) => {}
            // Corruption is recorded by the store and handled after the build.
            Err(_) => return None,
        }
        let name: Option<String> = self
            .ctx
            .conn
            .clone()
            .hget(self.ctx.keys.session(&self.sid), f::NAME)
            .await
            .ok()
            .flatten();
        Some(
            name.filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| self.sid.clone()),
        )
    }

    /// Closes the client: a graceful disconnect within `limit`, then the task is aborted.
    async fn stop_client(&mut self, limit: Duration) {
        let Some(mut bot) = self.bot.take() else {
            return;
        };
        if let Some(client) = self.client.take() {
            let _ = tokio::time::timeout(limit, client.disconnect()).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), &mut bot).await;
        bot.abort();
    }

    async fn on_tick(&mut self) -> Option<End> {
        if self.store.is_fenced() {
            return Some(End::Lost);
        }
        if self.store.corruption().is_some() {
            return self
                .fail(
                    "auth_state_corrupt",
                    "A stored auth state value failed authentication.",
                )
                .await;
        }
        if !self.linked && self.started.elapsed() > self.ctx.config.pending_session_ttl {
            return self.stop_with("pending_timeout").await;
        }
        None
    }

    /// Logs the session out: closes the client (telling WhatsApp when connected), wipes the auth
    /// state and records the logout, all fenced.
    pub(super) async fn log_out(&mut self, reason: &str) -> End {
        if let Some(client) = self.client.clone()
            && reason != "logged_out"
        {
            let _ = tokio::time::timeout(Duration::from_secs(10), client.logout()).await;
        }
        self.stop_client(LOST_STOP_LIMIT).await;
        self.connected.store(false, Ordering::Relaxed);
        match self.reporter.finish_logout(reason).await {
            Ok(_) => End::Done,
            Err(ReportError::Fenced) => End::Lost,
            Err(error) => {
                tracing::warn!(session_id = %self.sid, %error, "logout could not be recorded; another owner will retry");
                End::Release { requeue: true }
            }
        }
    }

    /// Stops the session for good (QR timeout, never linked, replaced): `desired = stopped`, so
    /// nobody reconnects it until its tenant asks.
    pub(super) async fn stop_with(&mut self, reason: &str) -> Option<End> {
        let data = json!({"sessionId": self.sid, "status": "disconnected", "reason": reason});
        let fields = [
            (f::STATUS, "disconnected"),
            (f::DESIRED, "stopped"),
            (f::LAST_ERROR, reason),
            (f::QR, ""),
        ];
        if let Some(end) = self
            .report_session(&fields, Some((name::CONNECTION_LOST, data)))
            .await
        {
            return Some(end);
        }
        Some(End::Release { requeue: false })
    }

    /// Marks the session failed with `code` and stops it without a reconnect.
    pub(super) async fn fail(&mut self, code: &str, message: &str) -> Option<End> {
        tracing::error!(session_id = %self.sid, code, "session failed");
        let data =
            json!({"sessionId": self.sid, "status": "failed", "code": code, "reason": message});
        let fields = [
            (f::STATUS, "failed"),
            (f::DESIRED, "stopped"),
            (f::LAST_ERROR, code),
            (f::QR, ""),
        ];
        if let Some(end) = self
            .report_session(&fields, Some((name::SESSION_FAILED, data)))
            .await
        {
            return Some(end);
        }
        Some(End::Release { requeue: false })
    }

    pub(super) async fn report_session(
        &self,
        fields: &[(&str, &str)],
        event: Option<(&str, Value)>,
    ) -> Option<End> {
        let report = self.reporter.session(fields, event).await;
        self.settle(report)
    }

    /// Turns a report's error into how the task goes on: a refused fence ends it; a Redis error is
    /// logged (the lease watchdog stops the client if Redis stays away).
    pub(super) fn settle<T>(&self, report: Result<T, ReportError>) -> Option<End> {
        match report {
            Ok(_) => None,
            Err(ReportError::Fenced) => Some(End::Lost),
            Err(ReportError::Redis(error)) => {
                tracing::warn!(session_id = %self.sid, %error, "report to Redis failed");
                None
            }
        }
    }
}
