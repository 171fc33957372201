//! `EncryptedStore`: whatsapp-rust's storage `Backend` on Redis, one set of keys per session, every
//! value sealed with the AES-256-GCM envelope ([`wa_shared::envelope`]) and every write fenced by
//! the session's lease.
//!
//! - **Layout**: see [`layout`]. All keys share the session's `{sid}` hash tag.
//! - **Sealing**: the associated data of each value is its Redis key name and field, so a value
//!   moved to another place, session or deployment does not open.
//! - **Fencing**: the store carries a [`FenceToken`]. Every write is one `fenced_batch_write.lua`
//!   (or another `fenced_*.lua`) call that first checks `Keys::lease(sid)` still equals
//!   `<worker_id>:<epoch>`; otherwise nothing is written and the call fails with
//!   [`AuthStoreError::Fenced`]. Batch writes (`put_sessions_batch`, `put_sender_keys_batch`,
//!   `store_prekeys_batch`, …) are one such call, so they land all together or not at all, and they
//!   return only after Redis has acknowledged them (no write-behind buffer).
//! - **Corruption**: a value that fails authentication is never handed to the client: the read
//!   fails with [`AuthStoreError::AuthStateCorrupt`] and the store remembers it
//!   ([`EncryptedStore::corruption`]) so the runtime can mark the session `failed` /
//!   `auth_state_corrupt` even when whatsapp-rust swallows the error. Nothing else is touched.
//! - **Read-modify-write** steps whose logic needs decrypted values (merging message-secret
//!   deadlines, newer-wins trusted-contact tokens, the LID/PN reverse index) run under a per-store
//!   lock and commit with one fenced write; only the lease holder writes, so that is atomic.
//! - **Wipe**: [`wipe`] deletes the keys listed in the session's registry set
//!   ([`wa_shared::keys::Keys::auth_registry`]), which every fenced write keeps up to date. That is
//!   O(keys of the session) instead of a `SCAN` over the whole keyspace, and it cannot touch
//!   another session's keys by a prefix accident.
//!
//! Connection: a [`redis::aio::ConnectionManager`]. One multiplexed connection carries the
//! requests of every session of a worker (thousands of small, non-blocking commands pipeline well
//! on one socket), clones are cheap handles to it, and it reconnects by itself. A pool would only
//! add connections that sit idle; nothing in the store blocks a connection.

mod app_state;
pub mod codec;
mod device;
pub mod error;
mod expiring;
pub mod fence;
pub mod layout;
mod lid_mapping;
mod msg_secret;
mod protocol;
mod sealed_io;
mod sender_key_devices;
mod signal;
mod tc_token;
mod wipe;

pub use error::{AuthStoreError, Corruption, auth_store_error};
pub use fence::FenceToken;
pub use layout::AuthLayout;
pub use wipe::wipe;

use redis::aio::ConnectionManager;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use wa_shared::envelope::Keyring;
use wa_shared::keys::Keys;

/// whatsapp-rust `Backend` for one session, on Redis, sealed and fenced.
pub struct EncryptedStore {
    conn: ConnectionManager,
    keyring: Arc<Keyring>,
    sid: String,
    lease_key: String,
    layout: AuthLayout,
    fence: FenceToken,
    /// Serialises read-modify-write steps of this session.
    rmw: tokio::sync::Mutex<()>,
    /// Data keys this store has already listed in the session's registry, so later writes to them
    /// skip the `SADD` (a store lives as long as one ownership of the session).
    registered: Mutex<HashSet<String>>,
    corruption: Mutex<Option<Corruption>>,
    fenced: AtomicBool,
}

impl EncryptedStore {
    /// A store for session `sid`, writing under `fence` (the lease value the caller holds).
    pub fn new(
        conn: ConnectionManager,
        keyring: Arc<Keyring>,
        keys: &Keys,
        sid: &str,
        fence: FenceToken,
    ) -> Self {
        Self {
            conn,
            keyring,
            sid: sid.to_string(),
            lease_key: keys.lease(sid),
            layout: AuthLayout::new(keys, sid),
            fence,
            rmw: tokio::sync::Mutex::new(()),
            registered: Mutex::new(HashSet::new()),
            corruption: Mutex::new(None),
            fenced: AtomicBool::new(false),
        }
    }

    pub fn session_id(&self) -> &str {
        &self.sid
    }

    pub fn fence(&self) -> &FenceToken {
        &self.fence
    }

    pub fn layout(&self) -> &AuthLayout {
        &self.layout
    }

    /// The first value that failed authentication, if any. Once set the session must not run.
    pub fn corruption(&self) -> Option<Corruption> {
        self.corruption
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// True once a write was refused because the lease moved on: this owner must stop the client.
    pub fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::Acquire)
    }

    fn registered_keys(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.registered.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record_corruption(&self, corruption: &Corruption) {
        let mut slot = self.corruption.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            tracing::error!(
                session_id = %self.sid,
                key = %corruption.key,
                reason = %corruption.reason,
                "auth state value failed authentication"
            );
            *slot = Some(corruption.clone());
        }
    }

    fn record_fenced(&self) -> AuthStoreError {
        if !self.fenced.swap(true, Ordering::AcqRel) {
            tracing::warn!(session_id = %self.sid, "auth state write refused by the lease fence");
        }
        AuthStoreError::Fenced {
            sid: self.sid.clone(),
        }
    }
}
