//! How a session's task executes the api's commands: taking over what a previous owner left
//! pending, sending texts (now, or once connected and its turn has come under `SEND_INTERVAL_MS`;
//! in order; never twice), disconnect, reconnect, logout.
//! Each command is acknowledged only after its effect is recorded.

use std::sync::atomic::Ordering;

use redis::AsyncCommands;
use serde_json::json;
use wa_shared::commands::{COMMAND_GROUP, Command};
use wa_shared::events::name;
use wa_shared::records::{MessageStatus, message_field, session_field as f};
use whatsapp_rust::Jid;
use whatsapp_rust::send::SendOptions;
use whatsapp_rust::wacore::proto_helpers::MessageBuilderExt;
use whatsapp_rust::waproto::whatsapp as wa;

use super::message_ids::wa_message_id;
use super::runner::{End, PendingSend, Runner, SEND_TIMEOUT, TAKEOVER_BATCH};
use crate::metrics::WorkerMetrics;

impl Runner {
    /// Claims the entries a previous owner (or an earlier run of this worker) left unacknowledged.
    pub(super) async fn take_over_pending_commands(
        &mut self,
    ) -> redis::RedisResult<Vec<(String, Command)>> {
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

    pub(super) async fn ack(&self, entry_id: &str) {
        let stream = self.ctx.keys.commands(&self.sid);
        crate::commands::ack(&mut self.ctx.conn.clone(), &stream, entry_id).await;
        WorkerMetrics::add(&self.ctx.metrics.commands, 1);
    }

    /// Executes one command. `fresh`: the entry was read as new (`>`), so no owner can have
    /// executed it before; entries taken over from a previous owner are not fresh.
    pub(super) async fn on_command(
        &mut self,
        entry_id: String,
        command: Command,
        fresh: bool,
    ) -> Option<End> {
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
                self.on_send(job, fresh).await
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
    /// so it survives a change of owner). A send taken over from a previous owner is first checked
    /// against its record: one already past `queued` is acknowledged without sending again.
    async fn on_send(&mut self, job: PendingSend, fresh: bool) -> Option<End> {
        if fresh {
            return self.send_or_keep(job).await;
        }
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
        self.send_or_keep(job).await
    }

    /// Sends now when connected, nothing is waiting before it and its pace allows; otherwise the
    /// send joins the back of the queue.
    async fn send_or_keep(&mut self, job: PendingSend) -> Option<End> {
        if !self.is_connected() || !self.pending.is_empty() || self.must_wait_turn() {
            self.pending.push_back(job);
            return None;
        }
        self.send_now(job).await
    }

    /// Connected, by our record and by the client's own (which notices a dropped socket first).
    pub(super) fn ready_to_send(&self) -> bool {
        self.is_connected() && self.client.as_ref().is_some_and(|c| c.is_connected())
    }

    /// True while `SEND_INTERVAL_MS` has not passed since this session's last send.
    fn must_wait_turn(&self) -> bool {
        self.next_send_at
            .is_some_and(|at| at > tokio::time::Instant::now())
    }

    /// Starts the pause before the next send, when pacing.
    fn pace(&mut self) {
        let interval = self.ctx.config.send_interval;
        if !interval.is_zero() {
            self.next_send_at = Some(tokio::time::Instant::now() + interval);
        }
    }

    pub(super) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    async fn send_now(&mut self, job: PendingSend) -> Option<End> {
        let Some(client) = self.client.clone() else {
            self.pending.push_front(job);
            return None;
        };
        self.pace();
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
                        Some(&job.entry_id),
                        &events,
                    )
                    .await;
                if let Some(end) = self.settle(report) {
                    return Some(end);
                }
                WorkerMetrics::add(&self.ctx.metrics.messages_sent, 1);
                WorkerMetrics::add(&self.ctx.metrics.commands, 1);
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
                Some(&job.entry_id),
                &[(name::MESSAGE_STATUS, data)],
            )
            .await;
        if let Some(end) = self.settle(report) {
            return Some(end);
        }
        WorkerMetrics::add(&self.ctx.metrics.messages_failed, 1);
        WorkerMetrics::add(&self.ctx.metrics.commands, 1);
        None
    }

    /// Sends waiting sends in order while connected and their pace allows.
    pub(super) async fn flush_pending(&mut self) -> Option<End> {
        while self.ready_to_send() && !self.must_wait_turn() {
            let Some(job) = self.pending.pop_front() else {
                break;
            };
            if let Some(end) = self.send_now(job).await {
                return Some(end);
            }
        }
        None
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
