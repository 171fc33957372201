//! Errors of the encrypted auth store and how they travel through whatsapp-rust's `StoreError`.
//!
//! whatsapp-rust only sees [`StoreError`]; ours ride inside `StoreError::Database` as the boxed
//! source, so the runtime recovers them with [`auth_store_error`]. Since the client may swallow a
//! store error, the store also records corruption and fencing on itself
//! ([`super::EncryptedStore::corruption`], [`super::EncryptedStore::is_fenced`]).

use wa_shared::envelope::OpenError;
use whatsapp_rust::store::error::StoreError;

/// A stored value that did not open: where it is and why. Display names the key, never the field
/// (fields are contact addresses) nor any byte of the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    pub key: String,
    pub field: String,
    pub reason: OpenError,
}

/// What went wrong in the encrypted auth store.
#[derive(Debug, thiserror::Error)]
pub enum AuthStoreError {
    /// The session's lease no longer holds this store's fence token: nothing was written.
    #[error("write refused: the lease of session {sid} is no longer held by this owner")]
    Fenced { sid: String },
    /// A stored value failed authentication (tampered, foreign, or sealed with an unknown key).
    /// The runtime marks the session `failed` with code `auth_state_corrupt`.
    #[error("auth state value in {} failed authentication: {}", .0.key, .0.reason)]
    AuthStateCorrupt(Corruption),
    /// An authentic value that does not decode as the expected record.
    #[error("auth state value in {key} does not decode: {reason}")]
    Codec { key: String, reason: String },
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

impl AuthStoreError {
    /// The error code the runtime records on the session for this error, if it is terminal.
    pub fn session_error_code(&self) -> Option<&'static str> {
        match self {
            Self::AuthStateCorrupt(_) => Some("auth_state_corrupt"),
            _ => None,
        }
    }
}

impl From<AuthStoreError> for StoreError {
    fn from(err: AuthStoreError) -> Self {
        StoreError::Database(Box::new(err))
    }
}

/// Finds our error inside a `StoreError` returned through whatsapp-rust.
pub fn auth_store_error(err: &StoreError) -> Option<&AuthStoreError> {
    let mut layer: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = layer {
        if let Some(ours) = e.downcast_ref::<AuthStoreError>() {
            return Some(ours);
        }
        layer = e.source();
    }
    None
}

pub(crate) type StoreResult<T> = std::result::Result<T, AuthStoreError>;
