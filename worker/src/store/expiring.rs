//! Short-lived buffers that age out: sent-message payloads kept for retry receipts (`sent_msg`)
//! and decrypted inbound messages awaiting the durability hook (`pending_in`). Each hash has a
//! sorted set of field -> stored-at seconds, so the keepalive sweeps delete old rows inside Redis
//! (`fenced_delete_expired.lua`) without opening any value.

use super::EncryptedStore;
use super::error::StoreResult;
use super::layout::composite_field;
use std::time::{SystemTime, UNIX_EPOCH};
use wa_shared::scripts;
use whatsapp_rust::store::traits::{PendingInboundKey, PendingInboundRow};

pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl EncryptedStore {
    pub(crate) async fn put_sent_message(
        &self,
        chat: &str,
        message_id: &str,
        payload: &[u8],
    ) -> StoreResult<()> {
        let field = composite_field(&[chat, message_id]);
        let mut batch = self.batch();
        batch.hset(&self.layout.sent_message(), &field, payload);
        batch.zadd(&self.layout.sent_message_age(), &field, now_secs());
        self.commit(batch).await
    }

    /// Reads and removes a sent message in one fenced step (a retry consumes it once).
    pub(crate) async fn take_sent(
        &self,
        chat: &str,
        message_id: &str,
    ) -> StoreResult<Option<Vec<u8>>> {
        let key = self.layout.sent_message();
        let field = composite_field(&[chat, message_id]);
        let (applied, sealed): (i64, Option<Vec<u8>>) = scripts::FENCED_TAKE_FIELD
            .key(self.lease_key())
            .key(&key)
            .key(self.layout.sent_message_age())
            .arg(self.fence.lease_value())
            .arg(field.as_slice())
            .invoke_async(&mut self.conn())
            .await?;
        if applied != 1 {
            return Err(self.record_fenced());
        }
        sealed
            .map(|s| self.open_value(&key, &field, &s))
            .transpose()
    }

    /// Deletes rows of `hash` whose age-index score is at or below `max_score` (ZRANGEBYSCORE
    /// syntax). Returns how many went.
    pub(crate) async fn delete_aged(
        &self,
        hash: &str,
        index: &str,
        max_score: String,
    ) -> StoreResult<u32> {
        let removed: i64 = scripts::FENCED_DELETE_EXPIRED
            .key(self.lease_key())
            .key(hash)
            .key(index)
            .arg(self.fence.lease_value())
            .arg(max_score)
            .invoke_async(&mut self.conn())
            .await?;
        if removed < 0 {
            return Err(self.record_fenced());
        }
        Ok(u32::try_from(removed).unwrap_or(u32::MAX))
    }

    pub(crate) async fn put_pending_inbound(
        &self,
        rows: &[PendingInboundRow<'_>],
    ) -> StoreResult<()> {
        let hash = self.layout.pending_inbound();
        let index = self.layout.pending_inbound_age();
        let now = now_secs();
        let mut batch = self.batch();
        for row in rows {
            let field = composite_field(&[row.chat, row.sender, row.id]);
            batch.hset(&hash, &field, row.message);
            batch.zadd(&index, &field, now);
        }
        self.commit(batch).await
    }

    pub(crate) async fn pending_inbound(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
    ) -> StoreResult<Option<Vec<u8>>> {
        self.hget_sealed(
            &self.layout.pending_inbound(),
            &composite_field(&[chat, sender, id]),
        )
        .await
    }

    pub(crate) async fn remove_pending_inbound(
        &self,
        keys: &[PendingInboundKey<'_>],
    ) -> StoreResult<()> {
        let hash = self.layout.pending_inbound();
        let index = self.layout.pending_inbound_age();
        let mut batch = self.batch();
        for key in keys {
            let field = composite_field(&[key.chat, key.sender, key.id]);
            batch.hdel(&hash, &field);
            batch.zrem(&index, &field);
        }
        self.commit(batch).await
    }
}
