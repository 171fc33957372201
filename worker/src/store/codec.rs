//! How structured records (device, sync keys, hash states, mappings …) become bytes before they are
//! sealed: JSON through serde. JSON is self-describing, so a record written by an older
//! whatsapp-rust still loads after an upgrade adds fields (`#[serde(default)]`); raw byte records
//! (Signal sessions, pre-keys, sender keys) skip this and are sealed as they come.

use super::error::{AuthStoreError, StoreResult};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub fn encode<T: Serialize>(key: &str, value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| AuthStoreError::Codec {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

pub fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|e| AuthStoreError::Codec {
        key: key.to_string(),
        reason: format!("{} at column {}", category(&e), e.column()),
    })
}

/// What kind of JSON error this is, without the error's text (which may quote the value).
fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "i/o error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected shape",
        serde_json::error::Category::Eof => "truncated record",
    }
}

/// A value that must be exactly `N` bytes long.
pub fn fixed<const N: usize>(key: &str, bytes: &[u8]) -> StoreResult<[u8; N]> {
    <[u8; N]>::try_from(bytes).map_err(|_| AuthStoreError::Codec {
        key: key.to_string(),
        reason: format!("expected {N} bytes, found {}", bytes.len()),
    })
}
