//! Contacts: accounts whose only device is a real `whatsapp-rust` client run inside the server.
//! The server provisions the device (keys, ADV identity) instead of a QR scan, so the contact logs
//! in straight away; Signal, prekeys and receipts are then genuine on both ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Mutex as AsyncMutex;
use wacore::proto_helpers::MessageExt as _;
use whatsapp_rust::Jid;
use whatsapp_rust::client::Client;
use whatsapp_rust::types::events::Event;

use super::provisioning::{self, ProvisionError};
use super::real_client::{EventTap, RealClient};
use super::server_state::ServerState;

/// One message a contact received.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct InboxEntry {
    pub from: String,
    pub id: String,
    pub text: String,
    pub timestamp: i64,
}

/// A running contact.
pub struct Contact {
    client: Arc<Client>,
    inbox: Arc<Mutex<Vec<InboxEntry>>>,
    running: RealClient,
}

/// Errors of contact operations, mapped to HTTP statuses by the admin API.
#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    #[error("no contact {0}")]
    Unknown(String),
    #[error("{0} is a linked account, not a contact")]
    NotAContact(String),
    #[error("contact failed: {0}")]
    Failed(String),
}

/// All contacts of the server.
pub struct ContactBook {
    ws_url: String,
    contacts: AsyncMutex<HashMap<String, Arc<Contact>>>,
    /// Serialises creations so two requests for one number make one contact.
    creation: AsyncMutex<()>,
}

const CONTACT_LOGIN_DEADLINE: Duration = Duration::from_secs(30);

impl ContactBook {
    pub fn new(ws_url: String) -> Self {
        Self {
            ws_url,
            contacts: AsyncMutex::new(HashMap::new()),
            creation: AsyncMutex::new(()),
        }
    }

    async fn get(&self, phone: &str) -> Result<Arc<Contact>, ContactError> {
        self.contacts
            .lock()
            .await
            .get(phone)
            .cloned()
            .ok_or_else(|| ContactError::Unknown(phone.to_string()))
    }

    /// Stops every contact client.
    pub async fn stop_all(&self) {
        let contacts: Vec<Arc<Contact>> =
            self.contacts.lock().await.drain().map(|(_, c)| c).collect();
        for contact in contacts {
            contact.running.abort();
        }
    }
}

/// Creates the contact `phone` (idempotent); returns once its client is connected.
pub async fn create(state: &Arc<ServerState>, phone: &str) -> Result<bool, ContactError> {
    let _creating = state.contacts.creation.lock().await;
    if state.contacts.contacts.lock().await.contains_key(phone) {
        return Ok(false);
    }
    let device = provisioning::provision_device(state, phone, true).map_err(|e| match e {
        ProvisionError::NotAContact(p) => ContactError::NotAContact(p),
        ProvisionError::Signing(msg) => ContactError::Failed(msg),
    })?;
    let backend = RealClient::memory_backend();
    backend
        .save(&device)
        .await
        .map_err(|e| ContactError::Failed(e.to_string()))?;

    let inbox: Arc<Mutex<Vec<InboxEntry>>> = Arc::default();
    let tap_inbox = inbox.clone();
    let tap: EventTap = Arc::new(move |event: &Event, _client: &Arc<Client>| {
        if let Event::Messages(batch) = event {
            let mut inbox = tap_inbox.lock().expect("inbox lock");
            for item in batch.messages.iter() {
                let Some(text) = item.message.text_content() else {
                    continue;
                };
                inbox.push(InboxEntry {
                    from: item.info.source.sender.user.to_string(),
                    id: item.info.id.to_string(),
                    text: text.to_string(),
                    timestamp: item.info.timestamp.timestamp(),
                });
            }
        }
    });
    let mut running = RealClient::start_with_tap(&state.contacts.ws_url, backend, Some(tap))
        .await
        .map_err(|e| ContactError::Failed(e.to_string()))?;
    let client = running.client();
    client.set_force_active_delivery_receipts(true);
    running
        .connected(CONTACT_LOGIN_DEADLINE)
        .await
        .map_err(|e| ContactError::Failed(e.to_string()))?;
    state.contacts.contacts.lock().await.insert(
        phone.to_string(),
        Arc::new(Contact {
            client,
            inbox,
            running,
        }),
    );
    Ok(true)
}

/// The contact sends `text` to the account `to`; returns the message id.
pub async fn send_text(
    state: &ServerState,
    phone: &str,
    to: &str,
    text: &str,
) -> Result<String, ContactError> {
    let contact = state.contacts.get(phone).await?;
    let sent = contact
        .client
        .send_text(Jid::pn(to), text)
        .await
        .map_err(|e| ContactError::Failed(e.to_string()))?;
    Ok(sent.message_id)
}

/// What the contact has received so far.
pub async fn inbox(state: &ServerState, phone: &str) -> Result<Vec<InboxEntry>, ContactError> {
    let contact = state.contacts.get(phone).await?;
    let entries = contact.inbox.lock().expect("inbox lock").clone();
    Ok(entries)
}

/// The contact marks messages from `from` as read (sends read receipts).
pub async fn mark_read(
    state: &ServerState,
    phone: &str,
    from: &str,
    message_ids: &[String],
) -> Result<(), ContactError> {
    let contact = state.contacts.get(phone).await?;
    let ids: Vec<&str> = message_ids.iter().map(String::as_str).collect();
    contact
        .client
        .mark_as_read(&Jid::pn(from), None, &ids)
        .await
        .map_err(|e| ContactError::Failed(e.to_string()))
}
