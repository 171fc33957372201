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
use wa_shared::commands::{COMMAND_GROUP, Command};
use wa_shared::events::name;
use wa_shared::records::{MessageStatus, SessionStatus, message_field, session_field as f};
use whatsapp_rust::Jid;
use whatsapp_rust::bot::{Bot, BotHandle};
use whatsapp_rust::client::Client;
use whatsapp_rust::send::SendOptions;
use whatsapp_rust::store::traits::{Backend, DeviceStore};
use whatsapp_rust::transport::TokioWebSocketTransportFactory;
use whatsapp_rust::types::events::Event;
use whatsapp_rust::types::presence::ReceiptType;
use whatsapp_rust::wacore::proto_helpers::MessageBuilderExt;
use whatsapp_rust::waproto::whatsapp as wa;

use super::inbound::incoming_event;
use super::message_ids::{message_id_for, wa_message_id};
use super::{Assignment, Control, Finished, SessionContext, StopKind};
use crate::metrics::WorkerMetrics;
use crate::report::{ReportError, SessionReporter};
use crate::store::EncryptedStore;

/// Longest wait for WhatsApp to accept one outbound message.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client closing after a lost lease may take before its task is aborted.
const LOST_STOP_LIMIT: Duration = Duration::from_secs(2);
/// Commands left pending by a previous owner taken over per call.
const TAKEOVER_BATCH: usize = 500;

/// How the task ended, which decides what happens to the client and the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Close the client gracefully and release the lease (`requeue`: ask another worker to take
    /// the session over at once).
    Release { requeue: bool },
    /// The lease is not ours any more: close the client, write nothing.
    Lost,
    /// The lease is already gone (logout finished): close the client.
    Done,
}

/// One outbound text waiting for a connection.
#[derive(Debug, Clone)]
struct PendingSend {
    entry_id: String,
    message_id: String,
    to: String,
    text: String,
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
        started: Instant::now(),
        linked: false,
    };
    let end = runner.drive(&mut control, deleting).await;
    runner.finish(end).await;
    let _ = ctx.finished.send(Finished { sid, fence });
}

struct Runner {
    ctx: Arc<SessionContext>,
    sid: String,
    reporter: SessionReporter,
    store: Arc<EncryptedStore>,
    bot: Option<BotHandle>,
    client: Option<Arc<Client>>,
    wa_tx: mpsc::UnboundedSender<Arc<Event>>,
    wa_rx: mpsc::UnboundedReceiver<Arc<Event>>,
    connected: Arc<AtomicBool>,
    pending: VecDeque<PendingSend>,
    started: Instant,
    /// The store holds a linked device (no QR needed).
    linked: bool,
}

impl Runner {
    async fn drive(
        &mut self,
        control: &mut mpsc::UnboundedReceiver<Control>,
        deleting: bool,
    ) -> End {
        if deleting {
            return self.log_out("deleted").await;
        }
        match self.take_over_pending_commands().await {
            Ok(leftovers) => {
                for (entry_id, command) in leftovers {
                    if let Some(end) = self.on_command(entry_id, command).await {
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
            let step = tokio::select! {
                Some(event) = self.wa_rx.recv() => self.on_wa_event(event).await,
                message = control.recv() => match message {
                    None => Some(End::Release { requeue: true }),
                    Some(Control::Stop(StopKind::Handover)) => Some(End::Release { requeue: true }),
                    Some(Control::Stop(StopKind::LeaseLost)) => Some(End::Lost),
                    Some(Control::Command { entry_id, command }) => self.on_command(entry_id, command).await,
                },
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
        let tx = self.wa_tx.clone();
        let config = &self.ctx.config;
        let backend: Arc<dyn Backend> = self.store.clone();
        let mut builder = Bot::builder()
            .with_backend_arc(backend)
            .with_transport_factory(
                TokioWebSocketTransportFactory::new().with_url(&config.wa_ws_url),
            )
            .skip_history_sync()
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
            return self
                .fail(
                    "auth_state_corrupt",
                    "A stored auth state value failed authentication.",
                )
                .await;
        }
        if self.store.is_fenced() {
            return Some(End::Lost);
        }
        let bot = match built {
            Ok(bot) => bot,
            Err(error) => {
                tracing::error!(session_id = %self.sid, error = %error, "client could not be built");
                return self
                    .fail(
                        "client_start_failed",
                        "The WhatsApp client could not start.",
                    )
                    .await;
            }
        };
        let handle = bot.spawn();
        let client = handle.client();
        self.linked = client.pn().is_some();
        self.client = Some(client);
        self.bot = Some(handle);
        let status = SessionStatus::Connecting.as_str();
        self.report_session(&[(f::STATUS, status), (f::LAST_ERROR, "")], None)
            .await
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

    /// Claims the entries a previous owner (or an earlier run of this worker) left unacknowledged.
    async fn take_over_pending_commands(&mut self) -> redis::RedisResult<Vec<(String, Command)>> {
        let stream = self.ctx.keys.commands(&self.sid);
        let mut conn = self.ctx.conn.clone();
        let mut taken = Vec::new();
        let mut cursor = "0-0".to_string();
        loop {
            let reply: redis::streams::StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
                .arg(&stream)
                .arg(COMMAND_GROUP)
                .arg(&self.ctx.config.worker_id)
                .arg(0)
                .arg(&cursor)
                .arg("COUNT")
                .arg(TAKEOVER_BATCH)
                .query_async(&mut conn)
                .await?;
            for entry in reply.claimed {
                match crate::commands::parse_entry(&entry) {
                    Some(command) => taken.push((entry.id.clone(), command)),
                    None => crate::commands::ack(&mut conn, &stream, &entry.id).await,
                }
            }
            if reply.next_stream_id == "0-0" {
                break;
            }
            cursor = reply.next_stream_id;
        }
        Ok(taken)
    }

    async fn ack(&self, entry_id: &str) {
        let stream = self.ctx.keys.commands(&self.sid);
        crate::commands::ack(&mut self.ctx.conn.clone(), &stream, entry_id).await;
        WorkerMetrics::add(&self.ctx.metrics.commands, 1);
    }

    async fn on_command(&mut self, entry_id: String, command: Command) -> Option<End> {
        match command {
            Command::Send {
                message_id,
                to,
                text,
                ..
            } => {
                let job = PendingSend {
                    entry_id,
                    message_id,
                    to,
                    text,
                };
                self.on_send(job).await
            }
            Command::Disconnect => {
                self.ack(&entry_id).await;
                let data = json!({"sessionId": self.sid, "status": "disconnected", "reason": "disconnect_requested"});
                let fields = [(f::STATUS, "disconnected"), (f::QR, "")];
                if let Some(end) = self
                    .report_session(&fields, Some((name::CONNECTION_LOST, data)))
                    .await
                {
                    return Some(end);
                }
                Some(End::Release { requeue: false })
            }
            Command::Reconnect => {
                self.ack(&entry_id).await;
                if let Some(client) = &self.client {
                    client.reconnect_immediately().await;
                }
                None
            }
            Command::Logout => {
                let end = self.log_out("logout_requested").await;
                self.ack(&entry_id).await;
                Some(end)
            }
        }
    }

    /// Sends now when connected, else keeps the send for the next connection (unacknowledged,
    /// so it survives a change of owner).
    async fn on_send(&mut self, job: PendingSend) -> Option<End> {
        let key = self.ctx.keys.message(&self.sid, &job.message_id);
        let status: Option<String> = match self
            .ctx
            .conn
            .clone()
            .hget(&key, message_field::STATUS)
            .await
        {
            Ok(status) => status,
            Err(error) => {
                tracing::warn!(session_id = %self.sid, message_id = %job.message_id, %error, "cannot read the message record; keeping the send");
                self.pending.push_back(job);
                return None;
            }
        };
        if status.as_deref() != Some(MessageStatus::Queued.as_str()) {
            // Already sent (or failed, or expired): executing the command again must not resend.
            self.ack(&job.entry_id).await;
            return None;
        }
        if !self.is_connected() {
            self.pending.push_back(job);
            return None;
        }
        self.send_now(job).await
    }

    fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    async fn send_now(&mut self, job: PendingSend) -> Option<End> {
        let Some(client) = self.client.clone() else {
            self.pending.push_front(job);
            return None;
        };
        let wa_id = wa_message_id(&job.message_id);
        let message = wa::Message::text(job.text.clone());
        let options = SendOptions::default().with_message_id(wa_id.clone());
        let sent = tokio::time::timeout(
            SEND_TIMEOUT,
            client.send_message_with_options(Jid::pn(job.to.as_str()), message, options),
        )
        .await;
        let reason = match sent {
            Ok(Ok(_)) => {
                let sent = json!({"sessionId": self.sid, "messageId": job.message_id, "to": job.to, "status": "sent", "waMessageId": wa_id});
                let status =
                    json!({"sessionId": self.sid, "messageId": job.message_id, "status": "sent"});
                let events = [(name::MESSAGE_SENT, sent), (name::MESSAGE_STATUS, status)];
                let report = self
                    .reporter
                    .message_status(
                        &job.message_id,
                        MessageStatus::Sent,
                        None,
                        Some(&wa_id),
                        &events,
                    )
                    .await;
                if let Some(end) = self.settle(report) {
                    return Some(end);
                }
                WorkerMetrics::add(&self.ctx.metrics.messages_sent, 1);
                self.ack(&job.entry_id).await;
                return None;
            }
            Ok(Err(_)) | Err(_) if !client.is_connected() => {
                // The connection dropped under the send: try again on the next one, same id.
                self.pending.push_front(job);
                return None;
            }
            Ok(Err(error)) => send_failure_reason(&error.to_string()),
            Err(_) => "send_timeout".to_string(),
        };
        tracing::info!(session_id = %self.sid, message_id = %job.message_id, %reason, "send failed");
        let data = json!({"sessionId": self.sid, "messageId": job.message_id, "status": "failed", "reason": reason});
        let report = self
            .reporter
            .message_status(
                &job.message_id,
                MessageStatus::Failed,
                Some(&reason),
                None,
                &[(name::MESSAGE_STATUS, data)],
            )
            .await;
        if let Some(end) = self.settle(report) {
            return Some(end);
        }
        WorkerMetrics::add(&self.ctx.metrics.messages_failed, 1);
        self.ack(&job.entry_id).await;
        None
    }

    async fn flush_pending(&mut self) -> Option<End> {
        while self.is_connected() {
            let Some(job) = self.pending.pop_front() else {
                break;
            };
            if let Some(end) = self.send_now(job).await {
                return Some(end);
            }
        }
        None
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

    async fn on_wa_event(&mut self, event: Arc<Event>) -> Option<End> {
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
        match &*event {
            Event::PairingQrCode(qr) => self.on_qr(&qr.code).await,
            Event::Connected(_) => self.on_connected().await,
            Event::Disconnected(_) => {
                if !self.connected.swap(false, Ordering::Relaxed) {
                    return None;
                }
                let data = json!({"sessionId": self.sid, "status": "disconnected", "reason": "connection_dropped"});
                self.report_session(
                    &[(f::STATUS, "disconnected")],
                    Some((name::CONNECTION_LOST, data)),
                )
                .await
            }
            Event::LoggedOut(_) => Some(self.log_out("logged_out").await),
            Event::StreamReplaced(_) => {
                tracing::warn!(session_id = %self.sid, "connection replaced by another login: stopping without reconnecting");
                self.stop_with("replaced").await
            }
            Event::PairingQrCodesExhausted(_) => self.stop_with("qr_timeout").await,
            Event::ClientOutdated(_) => {
                self.fail("client_outdated", "WhatsApp refused this client version.")
                    .await
            }
            Event::TemporaryBan(_) => {
                self.fail("temporary_ban", "WhatsApp temporarily banned this account.")
                    .await
            }
            Event::Messages(batch) => {
                for item in batch.messages.iter() {
                    let Some((wa_id, data)) = incoming_event(&self.sid, item) else {
                        continue;
                    };
                    match self.reporter.incoming(&wa_id, &data).await {
                        Ok(true) => WorkerMetrics::add(&self.ctx.metrics.messages_received, 1),
                        Ok(false) => {}
                        Err(error) => {
                            if let Some(end) = self.settle::<()>(Err(error)) {
                                return Some(end);
                            }
                        }
                    }
                }
                None
            }
            Event::Receipt(receipt) => {
                let status = match receipt.r#type {
                    ReceiptType::Delivered => MessageStatus::Delivered,
                    ReceiptType::Read | ReceiptType::Played => MessageStatus::Read,
                    _ => return None,
                };
                for wa_id in &receipt.message_ids {
                    let Some(message_id) = message_id_for(wa_id.as_str()) else {
                        continue;
                    };
                    let data = json!({"sessionId": self.sid, "messageId": message_id, "status": status.as_str()});
                    let report = self
                        .reporter
                        .message_status(
                            &message_id,
                            status,
                            None,
                            None,
                            &[(name::MESSAGE_STATUS, data)],
                        )
                        .await;
                    if let Some(end) = self.settle(report) {
                        return Some(end);
                    }
                }
                None
            }
            _ => None,
        }
    }

    async fn on_qr(&mut self, raw: &str) -> Option<End> {
        let Some(png) = wa_shared::qr::png_data_url(raw) else {
            tracing::warn!(session_id = %self.sid, "pairing QR could not be rendered");
            return None;
        };
        let sealed = wa_shared::qr::seal(
            &self.ctx.config.keyring,
            &self.ctx.keys.session(&self.sid),
            raw,
        );
        let data = json!({"sessionId": self.sid, "qrCode": png, "qr": raw, "status": "connecting"});
        let fields = [(f::STATUS, "connecting"), (f::QR, sealed.as_str())];
        self.report_session(&fields, Some((name::QR_CODE, data)))
            .await
    }

    async fn on_connected(&mut self) -> Option<End> {
        self.connected.store(true, Ordering::Relaxed);
        self.linked = true;
        let jid = self.client.as_ref().and_then(|c| c.pn());
        let jid_text = jid.as_ref().map(ToString::to_string).unwrap_or_default();
        let phone = jid.as_ref().map(|j| j.user.to_string()).unwrap_or_default();
        let data = json!({"sessionId": self.sid, "status": "connected", "phoneNumber": phone, "jid": jid_text});
        let fields = [
            (f::STATUS, "connected"),
            (f::QR, ""),
            (f::LAST_ERROR, ""),
            (f::JID, jid_text.as_str()),
        ];
        if let Some(end) = self
            .report_session(&fields, Some((name::CONNECTION_SUCCESS, data)))
            .await
        {
            return Some(end);
        }
        self.flush_pending().await
    }

    /// Logs the session out: closes the client (telling WhatsApp when connected), wipes the auth
    /// state and records the logout, all fenced.
    async fn log_out(&mut self, reason: &str) -> End {
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
    async fn stop_with(&mut self, reason: &str) -> Option<End> {
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
    async fn fail(&mut self, code: &str, message: &str) -> Option<End> {
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

    async fn report_session(
        &self,
        fields: &[(&str, &str)],
        event: Option<(&str, Value)>,
    ) -> Option<End> {
        let report = self.reporter.session(fields, event).await;
        self.settle(report)
    }

    /// Turns a report's error into how the task goes on: a refused fence ends it; a Redis error is
    /// logged (the lease watchdog stops the client if Redis stays away).
    fn settle<T>(&self, report: Result<T, ReportError>) -> Option<End> {
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

/// The reason recorded for a send WhatsApp refused, as a short machine-readable phrase.
fn send_failure_reason(error: &str) -> String {
    let lower = error.to_ascii_lowercase();
    if lower.contains("no devices")
        || lower.contains("not on whatsapp")
        || lower.contains("no device")
    {
        "recipient_not_on_whatsapp".to_string()
    } else {
        format!(
            "send_error: {}",
            error.chars().take(200).collect::<String>()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::send_failure_reason;

    #[test]
    fn a_number_without_devices_reads_as_not_on_whatsapp() {
        assert_eq!(
            send_failure_reason("Failed to send: no devices found for 155"),
            "recipient_not_on_whatsapp"
        );
        assert!(send_failure_reason("boom").starts_with("send_error: "));
    }
}
