//! How a session's task turns what its WhatsApp client reports into the gateway's records and
//! events: QR codes, connection up and down, logout, replacement, inbound messages (once each) and
//! receipts of our outbound messages.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::json;
use wa_shared::events::name;
use wa_shared::records::{MessageStatus, session_field as f};
use whatsapp_rust::types::events::Event;
use whatsapp_rust::types::presence::ReceiptType;

use super::inbound::incoming_event;
use super::message_ids::message_id_for;
use super::runner::{End, Runner};
use crate::metrics::WorkerMetrics;

impl Runner {
    pub(super) async fn on_wa_event(&mut self, event: Arc<Event>) -> Option<End> {
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
}
