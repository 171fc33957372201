//! Message secrets (for decrypting replies, reactions, poll votes and edits to our messages):
//! `msg_secret` hash, chat + sender + message id -> sealed `secret ‖ expires_at ‖ message_ts`
//! (32 + 8 + 8 bytes, big-endian), with `msg_secret_exp` indexing rows that have a deadline.

use super::EncryptedStore;
use super::codec;
use super::error::StoreResult;
use super::layout::composite_field;
use std::collections::{HashMap, HashSet};
use whatsapp_rust::async_trait;
use whatsapp_rust::store::error::Result;
use whatsapp_rust::store::traits::{
    MessageSecret, MsgSecretEntry, MsgSecretStore, merge_msg_secret_expiry,
    merge_msg_secret_message_ts,
};

const SECRET_LEN: usize = 32;
const ROW_LEN: usize = SECRET_LEN + 16;

#[derive(Clone, Copy)]
struct SecretRow {
    secret: MessageSecret,
    expires_at: i64,
    message_ts: i64,
}

impl SecretRow {
    fn encode(&self) -> [u8; ROW_LEN] {
        let mut out = [0u8; ROW_LEN];
        out[..SECRET_LEN].copy_from_slice(&self.secret);
        out[SECRET_LEN..SECRET_LEN + 8].copy_from_slice(&self.expires_at.to_be_bytes());
        out[SECRET_LEN + 8..].copy_from_slice(&self.message_ts.to_be_bytes());
        out
    }

    fn decode(key: &str, bytes: &[u8]) -> StoreResult<Self> {
        let row = codec::fixed::<ROW_LEN>(key, bytes)?;
        let int = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&row[at..at + 8]);
            i64::from_be_bytes(b)
        };
        let mut secret = [0u8; SECRET_LEN];
        secret.copy_from_slice(&row[..SECRET_LEN]);
        Ok(Self {
            secret,
            expires_at: int(SECRET_LEN),
            message_ts: int(SECRET_LEN + 8),
        })
    }
}

impl EncryptedStore {
    async fn msg_secret_row(
        &self,
        chat: &str,
        sender: &str,
        msg_id: &str,
    ) -> StoreResult<Option<SecretRow>> {
        let key = self.layout.msg_secret();
        let value = self
            .hget_sealed(&key, &composite_field(&[chat, sender, msg_id]))
            .await?;
        value.map(|v| SecretRow::decode(&key, &v)).transpose()
    }

    async fn merge_msg_secrets(&self, entries: &[MsgSecretEntry]) -> StoreResult<usize> {
        let key = self.layout.msg_secret();
        let index = self.layout.msg_secret_expiry();
        let _guard = self.rmw.lock().await;
        let fields: Vec<Vec<u8>> = entries
            .iter()
            .map(|e| composite_field(&[&*e.chat, &*e.sender, &*e.msg_id]))
            .collect();
        let mut rows: HashMap<&[u8], SecretRow> = HashMap::new();
        for (field, existing) in fields.iter().zip(self.hmget_sealed(&key, &fields).await?) {
            if let Some(bytes) = existing {
                rows.insert(field.as_slice(), SecretRow::decode(&key, &bytes)?);
            }
        }
        // Fields in first-seen order, each written once with its fully merged row.
        let mut order: Vec<&[u8]> = Vec::new();
        let mut seen: HashSet<&[u8]> = HashSet::new();
        for (field, entry) in fields.iter().zip(entries) {
            let merged = match rows.get(field.as_slice()) {
                Some(old) => SecretRow {
                    secret: entry.secret,
                    expires_at: merge_msg_secret_expiry(old.expires_at, entry.expires_at),
                    message_ts: merge_msg_secret_message_ts(old.message_ts, entry.message_ts),
                },
                None => SecretRow {
                    secret: entry.secret,
                    expires_at: entry.expires_at,
                    message_ts: entry.message_ts,
                },
            };
            rows.insert(field.as_slice(), merged);
            if seen.insert(field.as_slice()) {
                order.push(field.as_slice());
            }
        }
        let mut batch = self.batch();
        for field in order {
            let row = rows[field];
            batch.hset(&key, field, &row.encode());
            if row.expires_at == 0 {
                batch.zrem(&index, field);
            } else {
                batch.zadd(&index, field, row.expires_at);
            }
        }
        self.commit(batch).await?;
        Ok(entries.len())
    }
}

#[async_trait]
impl MsgSecretStore for EncryptedStore {
    async fn put_msg_secrets(&self, entries: Vec<MsgSecretEntry>) -> Result<usize> {
        Ok(self.merge_msg_secrets(&entries).await?)
    }

    async fn get_msg_secret(
        &self,
        chat: &str,
        sender: &str,
        msg_id: &str,
    ) -> Result<Option<Vec<u8>>> {
        Ok(self
            .msg_secret_row(chat, sender, msg_id)
            .await?
            .map(|row| row.secret.to_vec()))
    }

    async fn get_msg_secret_with_ts(
        &self,
        chat: &str,
        sender: &str,
        msg_id: &str,
    ) -> Result<Option<(Vec<u8>, i64)>> {
        Ok(self
            .msg_secret_row(chat, sender, msg_id)
            .await?
            .map(|row| (row.secret.to_vec(), row.message_ts)))
    }

    async fn delete_expired_msg_secrets(&self, cutoff_timestamp: i64) -> Result<u32> {
        // Only rows with a deadline are indexed; a deadline at or before the cutoff has passed.
        Ok(self
            .delete_aged(
                &self.layout.msg_secret(),
                &self.layout.msg_secret_expiry(),
                cutoff_timestamp.to_string(),
            )
            .await?)
    }
}
